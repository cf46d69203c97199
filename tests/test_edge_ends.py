"""Edge endpoints of several columns (composite keys), read from JSONB, and row
filters: registration, capture, build and replay agree, verify() finds nothing."""

import io

import networkx as nx
import pytest

from conftest import apply, connect, verify

W1, W2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def out_edges(c, table, key):
    """(table, id, label) of each edge out of node (table, key), sorted: the
    edges GraphML gives from a depth-1 traversal."""
    text = c.execute("SELECT graph.export_graphml(seed_table => %s::regclass, seed_id => %s, max_depth => 1)",
                     (table, key)).fetchone()[0]
    g = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)
    seed = next(n for n, d in g.nodes(data=True) if d["depth"] == 0)
    return sorted((g.nodes[v]["table"].removeprefix("public."), g.nodes[v]["key"], d["label"])
                  for u, v, d in g.edges(data=True) if u == seed)


def rebuilt_equal(c):
    """verify() is empty after replay, and again after a rebuild (build and replay agree)."""
    assert verify(c) == []
    c.execute("SELECT graph.build()")
    assert verify(c) == []


@pytest.fixture(scope="module")
def composite(db):
    with connect(db) as c:
        c.execute("""
            CREATE TABLE ws_projects (workspace_id int, id int, name text, PRIMARY KEY (workspace_id, id));
            CREATE TABLE ws_tasks (workspace_id int, id int, project_id bigint, PRIMARY KEY (workspace_id, id));
            CREATE TABLE ws_links (workspace_id int, id int, a int, b numeric, PRIMARY KEY (id));
            INSERT INTO ws_projects VALUES (1, 1, 'p11'), (1, 2, 'p12'), (2, 1, 'p21');
            INSERT INTO ws_tasks VALUES (1, 10, 1), (2, 10, 1), (1, 11, NULL);
            INSERT INTO ws_links VALUES (1, 1, 10, 2), (2, 2, 10, 1);
            SELECT graph.add_table('ws_projects', columns => '{name}');
            SELECT graph.add_table('ws_tasks');
            SELECT graph.add_edge('ws_tasks', NULL, 'ws_projects', from_columns => '{workspace_id,project_id}',
                                  label => 'in');
            SELECT graph.add_edge('ws_tasks', NULL, 'ws_projects', via_table => 'ws_links',
                                  from_columns => '{workspace_id,a}', to_columns => '{workspace_id,b}',
                                  label => 'link');
            SELECT graph.build();
        """)
    return db


def test_composite_foreign_key_and_join_table_edges_build(composite):
    with connect(composite) as c:
        assert out_edges(c, "ws_tasks", "(1,10)") == [("ws_projects", "(1,1)", "in"), ("ws_projects", "(1,2)", "link")]
        assert out_edges(c, "ws_tasks", "(2,10)") == [("ws_projects", "(2,1)", "in"), ("ws_projects", "(2,1)", "link")]
        assert out_edges(c, "ws_tasks", "(1,11)") == []
        assert verify(c) == []


def test_composite_edges_replay(composite):
    with connect(composite) as c:
        c.execute("UPDATE ws_tasks SET project_id = 2 WHERE workspace_id = 1 AND id = 10")
        c.execute("UPDATE ws_tasks SET project_id = 1 WHERE id = 11")
        c.execute("UPDATE ws_tasks SET workspace_id = 2 WHERE workspace_id = 1 AND id = 11")
        c.execute("INSERT INTO ws_links VALUES (1, 3, 10, 1.0)")
        c.execute("UPDATE ws_links SET workspace_id = 2, a = 10 WHERE id = 1")
        c.execute("DELETE FROM ws_links WHERE id = 2")
        c.execute("INSERT INTO ws_tasks VALUES (2, 12, 1)")
        # An update of nothing a reference is made of logs nothing.
        before = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        c.execute("UPDATE ws_links SET id = id WHERE id = 3")
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == before
        apply(c)
        assert out_edges(c, "ws_tasks", "(1,10)") == [("ws_projects", "(1,1)", "link"), ("ws_projects", "(1,2)", "in")]
        assert out_edges(c, "ws_tasks", "(2,11)") == [("ws_projects", "(2,1)", "in")]
        assert out_edges(c, "ws_tasks", "(2,10)") == [("ws_projects", "(2,1)", "in")]
        rebuilt_equal(c)
