"""Edge endpoints of several columns (composite keys), read from JSONB, and row
filters: registration, capture, build and replay agree, verify() finds nothing."""

import io

import networkx as nx
import psycopg
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


P1, P2, P3 = ("aaaaaaaa-0000-0000-0000-00000000000%d" % i for i in (1, 2, 3))


@pytest.fixture(scope="module")
def jsonrefs(db):
    with connect(db) as c:
        c.execute("""
            CREATE TABLE j_entities (workspace_id uuid, id uuid, properties jsonb, PRIMARY KEY (workspace_id, id));
            CREATE TABLE j_items (id int PRIMARY KEY, doc jsonb);
        """)
        c.execute(f"""INSERT INTO j_entities VALUES
            ('{W1}', '{P1}', '{{"projectId": "{P2}", "assignees": ["{P2}", "{P3.upper()}", "nope", 7, null]}}'),
            ('{W1}', '{P2}', '{{"projectId": {{"x": 1}}, "assignees": "{P3}"}}'),
            ('{W1}', '{P3}', '{{}}'),
            ('{W2}', '{P1}', '{{"projectId": "{P1}"}}'),
            ('{W2}', '{P2}', NULL)""")
        c.execute("""INSERT INTO j_items VALUES (1, '{"next": 2, "also": ["3", " 1", 2.5, "x"]}'), (2, '{"next": "1"}'),
                                                (3, '{"next": 99999999999}')""")
        c.execute("""
            SELECT graph.add_table('j_entities');
            SELECT graph.add_table('j_items');
            SELECT graph.add_edge('j_entities', NULL, 'j_entities', from_columns => '{workspace_id,properties}',
                                  json_path => '{projectId}');
            SELECT graph.add_edge('j_entities', NULL, 'j_entities', from_columns => '{workspace_id,properties}',
                                  json_path => '{assignees}');
            SELECT graph.add_edge('j_items', 'doc', 'j_items', json_path => '{next}');
            SELECT graph.add_edge('j_items', 'doc', 'j_items', json_path => '{also}', label => 'also');
            SELECT graph.build();
        """)
    return db


def k(w, e):
    return "(%s,%s)" % (w, e)


def test_json_references_build(jsonrefs):
    with connect(jsonrefs) as c:
        assert out_edges(c, "j_entities", k(W1, P1)) == sorted([
            ("j_entities", k(W1, P2), "projectId"), ("j_entities", k(W1, P2), "assignees"),
            ("j_entities", k(W1, P3), "assignees")])
        assert out_edges(c, "j_entities", k(W1, P2)) == [("j_entities", k(W1, P3), "assignees")]
        assert out_edges(c, "j_entities", k(W2, P1)) == [("j_entities", k(W2, P1), "projectId")]
        assert out_edges(c, "j_items", "1") == [("j_items", "1", "also"), ("j_items", "2", "next"),
                                                ("j_items", "3", "also")]
        assert out_edges(c, "j_items", "3") == []
        assert verify(c) == []


def test_json_references_replay_and_log_only_reference_changes(jsonrefs):
    with connect(jsonrefs) as c:
        count = "SELECT count(*) FROM graph._sync_log WHERE table_oid = 'j_entities'::regclass"
        before = c.execute(count).fetchone()[0]
        c.execute("UPDATE j_entities SET properties = properties || '{\"title\": \"t\"}' WHERE id = %s", (P1,))
        assert c.execute(count).fetchone()[0] == before  # no referenced value changed: nothing logged
        c.execute("UPDATE j_entities SET properties = properties || jsonb_build_object('projectId', %s::text)"
                  " WHERE workspace_id = %s AND id = %s", (P3, W1, P1))
        c.execute("UPDATE j_entities SET properties = jsonb_build_object('assignees', jsonb_build_array(%s::text))"
                  " WHERE workspace_id = %s AND id = %s", (P1, W2, P2))
        c.execute("UPDATE j_entities SET workspace_id = %s WHERE workspace_id = %s AND id = %s", (W2, W1, P3))
        c.execute("UPDATE j_items SET doc = '{\"next\": [3, 3]}' WHERE id = 2")
        c.execute("DELETE FROM j_items WHERE id = 1")
        apply(c)
        # (W1, P3) moved to W2: references to it in W1 lead nowhere now.
        assert out_edges(c, "j_entities", k(W1, P1)) == [("j_entities", k(W1, P2), "assignees")]
        assert out_edges(c, "j_entities", k(W1, P2)) == []
        assert out_edges(c, "j_entities", k(W2, P2)) == [("j_entities", k(W2, P1), "assignees")]
        assert out_edges(c, "j_entities", k(W2, P3)) == []
        assert out_edges(c, "j_items", "2") == [("j_items", "3", "next"), ("j_items", "3", "next")]
        rebuilt_equal(c)


@pytest.fixture(scope="module")
def filtered(db):
    with connect(db) as c:
        c.execute("""
            CREATE TYPE f_kind AS ENUM ('plain', 'archived');
            CREATE TABLE f_nodes (id int PRIMARY KEY, deleted_at timestamptz, kind f_kind DEFAULT 'plain');
            CREATE TABLE f_rel (id int PRIMARY KEY, a int, b int, deleted_at timestamptz);
            INSERT INTO f_nodes VALUES (1, NULL, 'plain'), (2, NULL, 'plain'), (3, now(), 'plain'),
                                       (4, NULL, 'archived');
            INSERT INTO f_rel VALUES (1, 1, 2, NULL), (2, 2, 1, now()), (3, 1, 4, NULL);
            SELECT graph.add_table('f_nodes', row_filter => 'deleted_at IS NULL AND kind <> ''archived''');
            SELECT graph.add_edge('f_nodes', 'a', 'f_nodes', to_column => 'b', via_table => 'f_rel',
                                  row_filter => 'deleted_at IS NULL', label => 'rel');
            SELECT graph.build();
        """)
    return db


NODE_FILTER = "SELECT row_filter, row_filter_columns FROM graph._node_tables WHERE table_oid = 'f_nodes'::regclass"
EDGE_FILTER = "SELECT row_filter, row_filter_columns FROM graph._edge_sources WHERE via_table = 'f_rel'::regclass"


def nodes(c):
    return sorted(r[0] for r in c.execute(
        "SELECT pk FROM graph._nodes WHERE alive AND table_oid = 'f_nodes'::regclass"))


def test_row_filters_build(filtered):
    with connect(filtered) as c:
        assert c.execute(NODE_FILTER).fetchone() == (
            "((deleted_at IS NULL) AND (kind <> 'archived'::public.f_kind))", ["deleted_at", "kind"])
        assert nodes(c) == ["1", "2"]
        assert out_edges(c, "f_nodes", "1") == [("f_nodes", "2", "rel")]
        assert out_edges(c, "f_nodes", "2") == []
        assert verify(c) == []


def test_rows_moving_in_and_out_of_filters_replay(filtered):
    with connect(filtered) as c:
        c.execute("UPDATE f_nodes SET deleted_at = now() WHERE id = 2")          # node out
        c.execute("UPDATE f_nodes SET deleted_at = NULL WHERE id = 3")           # node in
        c.execute("UPDATE f_nodes SET kind = 'plain' WHERE id = 4")              # node in (enum)
        c.execute("UPDATE f_rel SET deleted_at = NULL WHERE id = 2")             # edge restored
        c.execute("UPDATE f_rel SET deleted_at = now() WHERE id = 1")            # edge soft-deleted
        c.execute("INSERT INTO f_rel VALUES (4, 3, 1, NULL), (5, 1, 3, now())")
        before = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        c.execute("UPDATE f_rel SET deleted_at = deleted_at + interval '1 day' WHERE id = 5")  # still out
        c.execute("UPDATE f_nodes SET deleted_at = deleted_at + interval '1 day' WHERE id = 2")
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == before
        apply(c)
        assert nodes(c) == ["1", "3", "4"]
        assert out_edges(c, "f_nodes", "1") == [("f_nodes", "4", "rel")]
        assert out_edges(c, "f_nodes", "3") == [("f_nodes", "1", "rel")]
        rebuilt_equal(c)


def test_renaming_and_dropping_a_filter_column(filtered):
    with connect(filtered) as c:
        c.execute("ALTER TABLE f_rel RENAME COLUMN deleted_at TO removed_at")
        assert c.execute(EDGE_FILTER).fetchone() == (
            "(removed_at IS NULL)", ["removed_at"])
        c.execute("UPDATE f_rel SET removed_at = NULL WHERE id = 1")
        c.execute("UPDATE f_nodes SET deleted_at = NULL WHERE id = 2")
        c.execute("INSERT INTO f_rel VALUES (6, 4, 3, now())")
        apply(c)
        assert out_edges(c, "f_nodes", "1") == [("f_nodes", "2", "rel"), ("f_nodes", "4", "rel")]
        assert verify(c) == []
        # Dropping it leaves a filter no row passes (never one that lets hidden rows in).
        c.execute("ALTER TABLE f_nodes DROP COLUMN deleted_at")
        c.execute("INSERT INTO f_nodes VALUES (5)")
        assert c.execute(NODE_FILTER).fetchone() == ("false", [])
        c.execute("SELECT graph.build()")
        assert nodes(c) == []
        assert verify(c) == []


def test_a_filter_that_raises_never_fails_the_write_and_replay_shows_the_error(db):
    with connect(db) as c:
        c.execute("CREATE TABLE f_raise (id int PRIMARY KEY, v text)")
        c.execute("SELECT graph.add_table('f_raise', row_filter => 'v::int > 0')")
        c.execute("INSERT INTO f_raise VALUES (1, '5'), (2, '-1')")
        c.execute("SELECT graph.build()")
        c.execute("INSERT INTO f_raise VALUES (3, 'x'), (4, '6')")  # 'x' is no integer: the write still succeeds
        # Both rows of the statement are logged with the error; replay records it on both
        # and goes on, under the default policy too: no apply of them can succeed.
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE new_row::text LIKE '%%invalid input%%'"
                         ).fetchone()[0] == 2
        result = apply(c)
        assert (result["failed"], result["stopped"]) == (2, None)
        errors = [r[0] for r in c.execute("SELECT error_message FROM graph._sync_log WHERE error_message IS NOT NULL")]
        assert errors and all('invalid input syntax for type integer: "x"' in e for e in errors)
        assert c.execute("SELECT failed_sync_rows FROM graph.sync_health()").fetchone()[0] == 2
        c.execute("UPDATE f_raise SET v = '7' WHERE id = 3")
        c.execute("SELECT graph.build()")  # the sources read fine again: the rebuild clears the failed rows
        assert nodes_of(c, "f_raise") == ["1", "3", "4"]
        assert verify(c) == []


def nodes_of(c, table):
    return sorted(r[0] for r in c.execute(
        "SELECT pk FROM graph._nodes WHERE alive AND table_oid = %s::regclass", (table,)))


def test_a_read_only_read_folds_pending_json_references(jsonrefs):
    """Reads that fold pending rows in memory read the same row images as replay."""
    with connect(jsonrefs) as c, connect(jsonrefs) as w:
        w.execute("INSERT INTO j_items VALUES (7, '{\"next\": 2}'), (8, '{\"also\": [\"7\", \"7\", \"x\"]}')")
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            folded = (out_edges(c, "j_items", "7"), out_edges(c, "j_items", "8"))
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 2  # nothing applied
        assert folded == ([("j_items", "2", "next")], [("j_items", "7", "also"), ("j_items", "7", "also")])
        apply(w)
        assert (out_edges(c, "j_items", "7"), out_edges(c, "j_items", "8")) == folded
        assert verify(c) == []


FILTER_OWNER = "gs_keys_owner"


def test_a_filter_column_retyped_to_an_owners_type_runs_none_of_its_code(db):
    """The owner of a filtered table retypes the filter's column to a type of its own
    whose implicit cast to text would record who runs it: neither capture (with and
    without the schema-change follower) nor a build ever calls it."""
    with connect(db) as c:
        c.execute(f"DROP ROLE IF EXISTS {FILTER_OWNER}")
        c.execute(f"CREATE ROLE {FILTER_OWNER} LOGIN")
        c.execute(f"CREATE SCHEMA fown AUTHORIZATION {FILTER_OWNER}")
        c.execute("CREATE TABLE public.fspy (who name)")
        c.execute("GRANT INSERT, SELECT ON public.fspy TO PUBLIC")
    owner_dsn = psycopg.conninfo.make_conninfo(db, user=FILTER_OWNER)
    with connect(owner_dsn) as o:
        o.execute("""
            CREATE TABLE fown.t (id int PRIMARY KEY, k text);
            INSERT INTO fown.t VALUES (1, 'a'), (2, 'x');
            CREATE TYPE fown.evil AS (v text);
            CREATE FUNCTION fown.evil_text(fown.evil) RETURNS text LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.fspy VALUES (current_user); RETURN $1.v; END $$;
            CREATE CAST (fown.evil AS text) WITH FUNCTION fown.evil_text(fown.evil) AS IMPLICIT;
        """)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('fown.t', row_filter => 'k <> ''x''')")
        c.execute("SELECT graph.build()")
        assert nodes_of(c, "fown.t") == ["1"]
        c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
    try:
        with connect(owner_dsn) as o:  # capture generated for text meets the owner's type
            o.execute("ALTER TABLE fown.t ALTER COLUMN k TYPE fown.evil USING ROW(k)::fown.evil")
            o.execute("INSERT INTO fown.t VALUES (3, ROW('b'))")
            o.execute("UPDATE fown.t SET k = ROW('c') WHERE id = 1")
    finally:
        with connect(db) as c:
            c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
    with connect(owner_dsn) as o:  # followed: capture generated again, the filter no longer checks
        o.execute("ALTER TABLE fown.t ADD COLUMN z int")
        o.execute("INSERT INTO fown.t VALUES (4, ROW('d'))")
    with connect(db) as c:
        assert c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'fown.t'::regclass"
                         ).fetchone() == ("(k <> 'x'::text)",)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="no longer checks"):
            c.execute("SELECT graph.build()")
        assert c.execute("SELECT count(*) FROM public.fspy").fetchone()[0] == 0
        c.execute("DROP SCHEMA fown CASCADE")
        c.execute("DROP TABLE public.fspy")
        c.execute(f"DROP ROLE {FILTER_OWNER}")


def test_edge_sources_of_several_columns_or_json_are_removed_by_the_names_they_were_added_with(db):
    remove = "SELECT graph.remove_edge('r_nodes', NULL, 'r_nodes', "
    with connect(db) as c:
        c.execute("""
            CREATE TABLE r_nodes (ws int, id int, doc jsonb, PRIMARY KEY (ws, id));
            CREATE TABLE r_links (id int PRIMARY KEY, ws int, a int, b int);
            SELECT graph.add_table('r_nodes');
            SELECT graph.add_edge('r_nodes', NULL, 'r_nodes', from_columns => '{ws,doc}', json_path => '{p}');
            SELECT graph.add_edge('r_nodes', NULL, 'r_nodes', from_columns => '{ws,doc}', json_path => '{q}');
            SELECT graph.add_edge('r_nodes', NULL, 'r_nodes', via_table => 'r_links', from_columns => '{ws,a}',
                                  to_columns => '{ws,b}');
            SELECT graph.add_edge('r_nodes', NULL, 'r_nodes', via_table => 'r_links', from_columns => '{ws,a}',
                                  to_columns => '{ws,a}', label => 'loop');
        """)
        count = "SELECT count(*) FROM graph._edge_sources WHERE from_table = 'r_nodes'::regclass"
        with pytest.raises(psycopg.errors.UndefinedObject):  # without json_path: not how either was added
            c.execute(remove + "from_columns => '{ws,doc}')")
        with pytest.raises(psycopg.errors.AmbiguousFunction):  # both join sources start at (ws, a)
            c.execute(remove + "via_table => 'r_links', from_columns => '{ws,a}')")
        assert c.execute(count).fetchone()[0] == 4
        c.execute(remove + "from_columns => '{ws,doc}', json_path => '{p}')")
        c.execute(remove + "via_table => 'r_links', from_columns => '{ws,a}', to_columns => '{ws,a}')")
        assert c.execute(count).fetchone()[0] == 2
        with pytest.raises(psycopg.errors.UndefinedObject):
            c.execute(remove + "from_columns => '{ws,doc}', json_path => '{p}')")
        c.execute(remove + "from_columns => '{ws,doc}', json_path => '{q}')")
        c.execute(remove + "via_table => 'r_links', from_columns => '{ws,a}')")  # the one left
        assert c.execute(count).fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'r_links'::regclass").fetchone()[0] == 0
