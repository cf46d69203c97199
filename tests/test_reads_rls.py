"""Row-level security of the source tables in every read: a per-workspace policy
isolates tenants in traverse, traverse_search, paths, components, search and the
exports as it does in SQL -- a node whose row the caller cannot see is neither
returned, entered (no path passes through it) nor counted. The policies run as
the caller: a superuser, a BYPASSRLS role and the table's owner see everything;
a policy on a setting follows the setting from one read to the next in the same
backend; a table without row-level security is unaffected.

Real roles, each reading through its own connection."""

import pytest

import rls_helpers
from conftest import apply, connect
from rls_helpers import by_role, node_keys, row_security_disabled, with_schema

WS1, WS2, BYPASS = "gs_rls_ws1", "gs_rls_ws2", "gs_rls_bypass"

# Items and people belong to workspaces; tags (no row-level security) are shared.
# ws 1: items 1 -> 2 -> 3 and 4 (reached from 1 only through item 20 of ws 2),
#       person 1 (owns 1, 3); ws 2: items 11 -> 12, 20 -> 4, person 2 (owns 11, 20).
# Item 1 -> tag 1 <- item 11: the one shared node between the two workspaces.
SCHEMA = f"""
DROP SCHEMA IF EXISTS rl CASCADE;
CREATE SCHEMA rl;
CREATE TABLE rl.people (ws int NOT NULL, id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rl.tags (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rl.items (
    ws int NOT NULL, id int PRIMARY KEY, name text NOT NULL, next_id int REFERENCES rl.items,
    owner_id int REFERENCES rl.people, tag_id int REFERENCES rl.tags
);
CREATE TABLE rl.links (id serial PRIMARY KEY, src int NOT NULL, dst int NOT NULL, weight float8 NOT NULL);
INSERT INTO rl.people VALUES (1, 1, 'ann'), (2, 2, 'bob');
INSERT INTO rl.tags VALUES (1, 'shared tag'), (2, 'lonely tag');
INSERT INTO rl.items VALUES
    (1, 4, 'item four', NULL, NULL, NULL), (1, 3, 'item three', NULL, 1, NULL),
    (1, 2, 'item two', 3, NULL, NULL), (2, 20, 'item twenty', 4, 2, NULL),
    (1, 1, 'item one', 2, 1, 1), (2, 12, 'item twelve', NULL, NULL, NULL),
    (2, 11, 'item eleven', 12, 2, 1);
INSERT INTO rl.links (src, dst, weight) VALUES (1, 20, 1), (1, 2, 5), (2, 3, 5), (11, 1, 1);
SELECT graph.add_table('rl.people', columns => '{{name}}');
SELECT graph.add_table('rl.tags', columns => '{{name}}');
SELECT graph.add_table('rl.items', columns => '{{name}}');
SELECT graph.add_edge('rl.items', 'next_id', 'rl.items', label => 'next');
SELECT graph.add_edge('rl.items', 'owner_id', 'rl.people', label => 'owner');
SELECT graph.add_edge('rl.items', 'tag_id', 'rl.tags', label => 'tagged');
SELECT graph.add_edge('rl.items', 'src', 'rl.items', to_column => 'dst', via_table => 'rl.links',
                      weight_column => 'weight', label => 'link');
SELECT graph.build();
DROP ROLE IF EXISTS {WS1}; DROP ROLE IF EXISTS {WS2}; DROP ROLE IF EXISTS {BYPASS};
CREATE ROLE {WS1}; CREATE ROLE {WS2}; CREATE ROLE {BYPASS} BYPASSRLS;
GRANT USAGE ON SCHEMA rl TO {WS1}, {WS2}, {BYPASS};
GRANT SELECT ON ALL TABLES IN SCHEMA rl TO {WS1}, {WS2}, {BYPASS};
ALTER TABLE rl.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE rl.people ENABLE ROW LEVEL SECURITY;
-- items: by role; people: by a setting each session makes
CREATE POLICY by_role ON rl.items FOR SELECT
    USING (ws = {by_role({WS1: 1, WS2: 2})});
CREATE POLICY by_setting ON rl.people FOR SELECT USING (ws::text = current_setting('app.ws', true));
"""

VISIBLE = {
    WS1: {("rl.items", "1"), ("rl.items", "2"), ("rl.items", "3"), ("rl.items", "4"), ("rl.people", "1"),
          ("rl.tags", "1"), ("rl.tags", "2")},
    WS2: {("rl.items", "11"), ("rl.items", "12"), ("rl.items", "20"), ("rl.people", "2"),
          ("rl.tags", "1"), ("rl.tags", "2")},
}
EVERYTHING = VISIBLE[WS1] | VISIBLE[WS2]
WORKSPACE = {WS1: "1", WS2: "2"}


@pytest.fixture(scope="module")
def rls_db(db):
    return with_schema(db, SCHEMA)


def reader(dsn, role):
    """A connection of ``role`` with its workspace's app.ws (the people policy's setting)."""
    return rls_helpers.reader(dsn, role, {"app.ws": WORKSPACE[role]} if role in WORKSPACE else None)


def everything_read(c):
    """The nodes each read returns, by read."""
    out = {}
    out["components"] = node_keys(c.execute("SELECT node_table, node_id FROM graph.connected_components()"))
    out["stats"] = c.execute("SELECT sum(size) FROM graph.component_stats()").fetchone()[0]
    for seed in ("1", "11", "20", "4"):
        out[f"traverse {seed}"] = node_keys(c.execute(
            "SELECT node_table, node_id FROM graph.traverse('rl.items', %s, direction => 'any', max_depth => 10)",
            (seed,)))
        out[f"component_of {seed}"] = node_keys(c.execute(
            "SELECT node_table, node_id FROM graph.component_of('rl.items', %s)", (seed,)))
    out["component_of tag"] = node_keys(c.execute(
        "SELECT node_table, node_id FROM graph.component_of('rl.tags', '1')"))
    out["many seeds"] = node_keys(c.execute(
        "SELECT node_table, node_id FROM graph.traverse(seed_tables => '{rl.items,rl.items,rl.tags}',"
        " seed_ids => '{1,11,1}', direction => 'any')"))
    out["search"] = node_keys(c.execute("SELECT node_table, node_id FROM graph.search('name', 'item',"
                                       " mode => 'prefix')"))
    out["traverse_search"] = node_keys(c.execute(
        "SELECT node_table, node_id FROM graph.traverse_search('name', 'item', mode => 'prefix',"
        " direction => 'any')"))
    out["path 1-4"] = [tuple(r) for r in c.execute(
        "SELECT node_table::text, node_id FROM graph.shortest_path('rl.items', '1', 'rl.items', '4',"
        " direction => 'any')")]
    out["weighted 1-4"] = [tuple(r) for r in c.execute(
        "SELECT node_table::text, node_id, total_cost FROM graph.weighted_shortest_path('rl.items', '1',"
        " 'rl.items', '4', direction => 'out')")]
    out["path 11-2"] = [tuple(r) for r in c.execute(
        "SELECT node_table::text, node_id FROM graph.shortest_path('rl.items', '11', 'rl.items', '2',"
        " direction => 'any')")]
    graphml = c.execute("SELECT graph.export_graphml('rl.tags', '1', direction => 'any', max_depth => 10,"
                        " label_property => 'name')").fetchone()[0]
    out["graphml"] = {(t, k) for t, k in EXPORTED.findall(graphml)}
    dot = c.execute("SELECT graph.export_dot('rl.tags', '1', direction => 'any', max_depth => 10,"
                    " label_property => 'name')").fetchone()[0]
    out["dot"] = {name for name in ("item one", "item eleven") if name in dot}
    return out


class _Exported:
    """(table, key) of the nodes of a GraphML export."""

    @staticmethod
    def findall(text):
        import re
        return re.findall(r'<node id="([^:"]+):([^"]+)"', text)


EXPORTED = _Exported()


def test_two_workspaces_see_disjoint_graphs_through_every_read(rls_db):
    seen = {}
    for role in (WS1, WS2):
        with reader(rls_db, role) as c:
            r = seen[role] = everything_read(c)
        visible = VISIBLE[role]
        assert r["components"] == visible, role
        assert r["stats"] == len(visible), role  # invisible nodes are not counted
        for key, nodes in r.items():
            if isinstance(nodes, set) and key != "dot":
                assert nodes <= visible, (role, key, nodes - visible)
        with_tag = visible - {("rl.tags", "2"), ("rl.items", "4")}  # 4: reached through 20 only
        assert r["component_of tag"] == r["graphml"] == with_tag, role
        assert r["search"] == {n for n in visible if n[0] == "rl.items"}, role
    ws1, ws2 = seen[WS1], seen[WS2]
    shared = {("rl.tags", "1"), ("rl.tags", "2")}
    assert (ws1["components"] - shared).isdisjoint(ws2["components"] - shared)
    # ws 1 reaches item 4 only through item 20 of ws 2: no path, and 4 is in a component of its own
    assert ws1["path 1-4"] == [] and ws1["weighted 1-4"] == []
    assert ws1["component_of 4"] == {("rl.items", "4")}
    assert ws1["traverse 11"] == ws1["traverse 20"] == set()  # seeds it cannot see are not entered
    assert ws1["traverse 1"] == VISIBLE[WS1] - {("rl.items", "4"), ("rl.tags", "2")}
    assert ws1["dot"] == {"item one"} and ws2["dot"] == {"item eleven"}
    # ws 2 sees 11 and 20 but not 1 (the only way from 11 to 2)
    assert ws2["path 11-2"] == [] and ws2["traverse 4"] == set()
    assert ws2["traverse 20"] == {("rl.items", "20"), ("rl.people", "2"), ("rl.items", "11"), ("rl.items", "12"),
                                  ("rl.tags", "1")}


@pytest.mark.parametrize("role", [None, BYPASS, "owner"])
def test_a_superuser_a_bypassrls_role_and_the_owner_see_everything(rls_db, role):
    with connect(rls_db) as admin:
        if role == "owner":
            admin.execute("DROP ROLE IF EXISTS gs_rls_owner; CREATE ROLE gs_rls_owner")
            admin.execute("GRANT USAGE ON SCHEMA rl TO gs_rls_owner")
            admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA rl TO gs_rls_owner")
            admin.execute("ALTER TABLE rl.items OWNER TO gs_rls_owner")
            admin.execute("ALTER TABLE rl.people OWNER TO gs_rls_owner")
        try:
            with reader(rls_db, "gs_rls_owner" if role == "owner" else role) as c:
                r = everything_read(c)
        finally:
            if role == "owner":
                admin.execute("ALTER TABLE rl.items OWNER TO postgres")
                admin.execute("ALTER TABLE rl.people OWNER TO postgres")
                admin.execute("DROP OWNED BY gs_rls_owner; DROP ROLE gs_rls_owner")
    assert r["components"] == EVERYTHING and r["stats"] == len(EVERYTHING)
    assert [n for n in r["path 1-4"]] == [("rl.items", "1"), ("rl.items", "20"), ("rl.items", "4")]
    assert r["weighted 1-4"][-1][2] == 2.0  # 1 -link-> 20 -next-> 4
    assert r["traverse 11"] == EVERYTHING - {("rl.tags", "2")}


def test_a_policy_on_a_setting_follows_the_setting_read_by_read(rls_db):
    with reader(rls_db, WS1) as c:
        def people():
            return {n for n in node_keys(c.execute("SELECT node_table, node_id FROM graph.connected_components()"))
                    if n[0] == "rl.people"}
        assert people() == {("rl.people", "1")}
        c.execute("SET app.ws = '2'")
        assert people() == {("rl.people", "2")}  # the same graph version, the same backend: asked again
        assert c.execute("SELECT count(*) FROM graph.component_stats()").fetchone()[0] > 0
        c.execute("SET app.ws = '3'")
        assert people() == set()
        c.execute("RESET app.ws")
        assert people() == set()


def test_rows_moving_between_workspaces_and_pending_rows(rls_db):
    """A row moved to the other workspace leaves one graph and enters the other at
    once (its policy reads the source row), whether the graph has applied the move,
    folds it in memory (a read-only transaction) or has not seen it (freshness off);
    a new row pending in the log of a table whose row-level security applies to the
    reader is never folded (graph._pending_rows): a read-only read shows the table as
    last applied, and the row once applied, to the workspace that sees it only."""
    with connect(rls_db) as w, reader(rls_db, WS1) as one, reader(rls_db, WS2) as two:
        w.execute("INSERT INTO rl.items VALUES (2, 30, 'item thirty', 12, NULL, 1)")
        w.execute("UPDATE rl.items SET ws = 2 WHERE id = 3")
        for c in (one, two):
            c.execute("BEGIN READ ONLY")
        try:
            one_sees = node_keys(one.execute("SELECT node_table, node_id FROM graph.connected_components()"))
            two_sees = node_keys(two.execute("SELECT node_table, node_id FROM graph.connected_components()"))
        finally:
            for c in (one, two):
                c.execute("ROLLBACK")
        assert ("rl.items", "30") not in two_sees and ("rl.items", "30") not in one_sees
        assert ("rl.items", "3") in two_sees and ("rl.items", "3") not in one_sees
        one.execute("SET graph.query_freshness = 'off'")
        assert ("rl.items", "3") not in node_keys(one.execute(
            "SELECT node_table, node_id FROM graph.connected_components()"))
        one.execute("RESET graph.query_freshness")
        apply(w)
        assert ("rl.items", "30") in node_keys(two.execute(
            "SELECT node_table, node_id FROM graph.traverse('rl.items', '12', direction => 'in')"))
        w.execute("UPDATE rl.items SET ws = 1 WHERE id = 3")
        w.execute("DELETE FROM rl.items WHERE id = 30")
        apply(w)


def test_a_table_without_row_level_security_is_unaffected(rls_db):
    with row_security_disabled(rls_db, "rl.items"), reader(rls_db, WS1) as c:
        r = everything_read(c)
    items = {n for n in EVERYTHING if n[0] == "rl.items"}
    assert r["components"] == items | {("rl.people", "1"), ("rl.tags", "1"), ("rl.tags", "2")}
    assert r["path 1-4"] == [("rl.items", "1"), ("rl.items", "20"), ("rl.items", "4")]


def test_a_role_that_row_level_security_would_filter_but_turns_it_off_gets_the_sql_error(rls_db):
    with reader(rls_db, WS1) as c:
        rls_helpers.assert_row_security_off_is_refused(c, "SELECT * FROM graph.connected_components()", "rl.items")


def test_graph_nodes_shows_a_reader_only_the_nodes_of_rows_it_can_see(rls_db):
    # A direct SELECT on graph._nodes (public: the reads read it as the caller) shows
    # the keys, tenants and properties only of rows the source's policy shows the
    # reader, as the reads do; an admin sees every node.
    for role in (WS1, WS2):
        with reader(rls_db, role) as c:
            rows = c.execute("SELECT n.table_oid::regclass::text, n.pk, n.properties ->> 'name'"
                             " FROM graph._nodes AS n WHERE n.alive").fetchall()
            assert {(t, pk) for t, pk, _ in rows} == VISIBLE[role], role
            # by key, as an attacker would ask
            hidden = {("rl.items", "1"), ("rl.items", "20")} - VISIBLE[role]
            for table, pk in hidden:
                assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = %s::regclass AND pk = %s",
                                 (table, pk)).fetchone()[0] == 0, (role, pk)
            # the setting the people policy reads, changed in the session: followed statement by statement
            c.execute("SELECT set_config('app.ws', %s, false)", (WORKSPACE[WS2 if role == WS1 else WS1],))
            people = {r[0] for r in c.execute(
                "SELECT pk FROM graph._nodes WHERE table_oid = 'rl.people'::regclass")}
            assert people == {"2" if role == WS1 else "1"}, role
    with connect(rls_db) as admin:
        admin.execute("SET ROLE graph_admin")
        assert {(str(t), pk) for t, pk in admin.execute(
            "SELECT table_oid::regclass::text, pk FROM graph._nodes WHERE alive")} == EVERYTHING
