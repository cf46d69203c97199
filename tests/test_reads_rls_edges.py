"""Row-level security of the tables that CARRY edges, in every read: a join
table's per-workspace policy decides which of its edges a role walks, as the
node tables' policies decide which nodes it enters (test_reads_rls.py). An edge
whose carrying row the caller cannot see is not followed, not counted in a
component, not exported, and lends neither its weight nor its label to a path
or a traversal -- also when another row the caller can see carries an edge
between the same two nodes. A foreign-key or JSONB-reference edge is carried by
a row of a node table: its node is the edge's from end, so hiding the row hides
the edge in every direction ('in' and 'any' too).

Real roles, each reading through its own connection."""

import psycopg
import pytest

import rls_helpers
from conftest import ROOT, apply, as_role, connect
from rls_helpers import by_role, node_keys, notices, reader, row_security_disabled, with_schema

WS1, WS2, ADMIN_RLS = "gs_rje_ws1", "gs_rje_ws2", "gs_rje_admin"

# items (no row-level security): shared by both workspaces. relations (a join
# table) and notes (a node table carrying foreign-key and JSONB-reference edges)
# belong to workspaces:
#   ws 1: 1 -a-> 2 -rel-> 3; note 1 -> item 5
#   ws 2: 1 -secret(0.5)-> 2 (same ends as ws 1's, another weight and label),
#         1 -> 4 -> 3, 5 -> 6; note 2 -> item 5 and, by its JSON document, items 5 and 6
SCHEMA = f"""
DROP SCHEMA IF EXISTS rj CASCADE;
CREATE SCHEMA rj;
CREATE TABLE rj.items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rj.relations (
    id serial PRIMARY KEY, ws int NOT NULL, src int NOT NULL, dst int NOT NULL,
    weight float8 NOT NULL, kind text
);
CREATE TABLE rj.notes (ws int NOT NULL, id int PRIMARY KEY, item_id int REFERENCES rj.items, doc jsonb);
INSERT INTO rj.items SELECT i, 'item ' || i FROM generate_series(1, 6) AS i;
INSERT INTO rj.relations (ws, src, dst, weight, kind) VALUES
    (1, 1, 2, 1, 'a'), (1, 2, 3, 1, NULL),
    (2, 1, 2, 0.5, 'secret'), (2, 1, 4, 1, NULL), (2, 4, 3, 1, NULL), (2, 5, 6, 1, NULL);
INSERT INTO rj.notes VALUES (1, 1, 5, NULL), (2, 2, 5, '{{"items": [5, 6]}}');
SELECT graph.add_table('rj.items', columns => '{{name}}');
SELECT graph.add_table('rj.notes');
SELECT graph.add_edge('rj.items', 'src', 'rj.items', to_column => 'dst', via_table => 'rj.relations',
                      weight_column => 'weight', label_column => 'kind', label => 'rel');
SELECT graph.add_edge('rj.notes', 'item_id', 'rj.items', label => 'about');
SELECT graph.add_edge('rj.notes', NULL, 'rj.items', from_columns => '{{doc}}', json_path => '{{items}}',
                      label => 'mentions');
SELECT graph.build();
DROP ROLE IF EXISTS {WS1}; DROP ROLE IF EXISTS {WS2}; DROP ROLE IF EXISTS {ADMIN_RLS};
CREATE ROLE {WS1}; CREATE ROLE {WS2}; CREATE ROLE {ADMIN_RLS} IN ROLE graph_admin;
GRANT USAGE ON SCHEMA rj TO {WS1}, {WS2}, {ADMIN_RLS};
GRANT SELECT ON ALL TABLES IN SCHEMA rj TO {WS1}, {WS2}, {ADMIN_RLS};
ALTER TABLE rj.relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE rj.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_role ON rj.relations FOR SELECT
    USING (ws = {by_role({WS1: 1, WS2: 2, ADMIN_RLS: 1})});
CREATE POLICY by_role ON rj.notes FOR SELECT
    USING (ws = {by_role({WS1: 1, WS2: 2, ADMIN_RLS: 1})});
"""

ITEMS = "rj.items"


@pytest.fixture(scope="module")
def rj_db(db):
    return with_schema(db, SCHEMA)


def items(rows):
    return {r[1] for r in rows if str(r[0]) == ITEMS}


def everything_read(c):
    out = {}
    out["out 1"] = items(c.execute(
        "SELECT node_table, node_id FROM graph.traverse('rj.items', '1', max_depth => 10)"))
    out["labels out 1"] = {(r[0], r[1]) for r in c.execute(
        "SELECT node_id, edge_label FROM graph.traverse('rj.items', '1', max_depth => 1) WHERE depth = 1")}
    out["in 3"] = items(c.execute(
        "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', direction => 'in', max_depth => 10)"))
    out["any 5"] = node_keys(c.execute(
        "SELECT node_table, node_id FROM graph.traverse('rj.items', '5', direction => 'any', max_depth => 10)"))
    out["dfs any 5"] = node_keys(c.execute(
        "SELECT node_table, node_id FROM graph.traverse('rj.items', '5', direction => 'any', max_depth => 10,"
        " strategy => 'dfs')"))
    out["hydrated out 1"] = items(c.execute(
        "SELECT node_table, node_id FROM graph.traverse('rj.items', '1', max_depth => 10, hydrate => true)"))
    out["path 1-3"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.shortest_path('rj.items', '1', 'rj.items', '3')")]
    out["path 3-1 in"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.shortest_path('rj.items', '3', 'rj.items', '1', direction => 'in')")]
    out["path 5-6 any"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.shortest_path('rj.items', '5', 'rj.items', '6', direction => 'any')")]
    out["weighted 1-2"] = [(r[0], r[1], r[2]) for r in c.execute(
        "SELECT node_id, edge_label, cost FROM graph.weighted_shortest_path('rj.items', '1', 'rj.items', '2')")]
    out["weighted 1-3"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.weighted_shortest_path('rj.items', '1', 'rj.items', '3')")]
    comps = {}
    for t, k, comp in c.execute("SELECT node_table::text, node_id, component FROM graph.connected_components()"):
        comps.setdefault(comp, set()).add((t, k))
    out["components"] = sorted(sorted(s) for s in comps.values())
    out["stats"] = sorted(r[0] for r in c.execute("SELECT size FROM graph.component_stats()"))
    out["component_of 4"] = node_keys(c.execute("SELECT node_table, node_id FROM graph.component_of('rj.items', '4')"))
    out["component_of 5"] = node_keys(c.execute("SELECT node_table, node_id FROM graph.component_of('rj.items', '5')"))
    out["traverse_search"] = items(c.execute(
        "SELECT node_table, node_id FROM graph.traverse_search('name', 'item 1', direction => 'out',"
        " max_depth => 10)"))
    graphml = c.execute("SELECT graph.export_graphml('rj.items', '1', direction => 'any', max_depth => 10)"
                        ).fetchone()[0]
    out["graphml edges"] = graphml.count("<edge ")
    out["graphml secret"] = "secret" in graphml
    dot = c.execute("SELECT graph.export_dot('rj.items', '1', direction => 'any', max_depth => 10)").fetchone()[0]
    out["dot secret"] = "secret" in dot
    mermaid = c.execute("SELECT graph.export_mermaid('rj.items', '1', direction => 'any', max_depth => 10)"
                        ).fetchone()[0]
    out["mermaid secret"] = "secret" in mermaid
    return out


def _n(*ids):
    return sorted((ITEMS, str(i)) for i in ids)


def test_two_workspaces_walk_disjoint_edge_sets_through_every_read(rj_db):
    seen = {}
    for role in (WS1, WS2):
        with reader(rj_db, role) as c:
            seen[role] = everything_read(c)
    one, two = seen[WS1], seen[WS2]
    # traversals in each direction, both strategies, hydrated
    assert one["out 1"] == one["hydrated out 1"] == one["traverse_search"] == {"1", "2", "3"}
    assert two["out 1"] == two["hydrated out 1"] == two["traverse_search"] == {"1", "2", "3", "4"}
    assert one["labels out 1"] == {("2", "a")}  # not ws 2's 'secret' edge between the same ends
    assert two["labels out 1"] == {("2", "secret"), ("4", "rel")}
    assert one["in 3"] == {"3", "2", "1"} and two["in 3"] == {"3", "4", "1"}
    # 5 and 6 are linked by ws 2's relation and ws 2's note only: ws 1 sees neither
    assert one["any 5"] == one["dfs any 5"] == {(ITEMS, "5"), ("rj.notes", "1")}
    assert two["any 5"] == two["dfs any 5"] == {(ITEMS, "5"), (ITEMS, "6"), ("rj.notes", "2")}
    # paths
    assert one["path 1-3"] == ["1", "2", "3"] and two["path 1-3"] == ["1", "4", "3"]
    assert one["path 3-1 in"] == ["3", "2", "1"] and two["path 3-1 in"] == ["3", "4", "1"]
    assert one["path 5-6 any"] == [] and two["path 5-6 any"] == ["5", "6"]
    assert one["weighted 1-2"] == [("1", None, 0.0), ("2", "a", 1.0)]  # not the hidden 0.5 edge
    assert two["weighted 1-2"] == [("1", None, 0.0), ("2", "secret", 0.5)]
    assert one["weighted 1-3"] == ["1", "2", "3"] and two["weighted 1-3"] == ["1", "4", "3"]
    # components count only the edges the role walks
    assert one["components"] == sorted([_n(1, 2, 3), _n(4), sorted([(ITEMS, "5"), ("rj.notes", "1")]), _n(6)])
    assert two["components"] == sorted([_n(1, 2, 3, 4), sorted([(ITEMS, "5"), (ITEMS, "6"), ("rj.notes", "2")])])
    assert one["stats"] == [1, 1, 2, 3] and two["stats"] == [3, 4]
    assert one["component_of 4"] == {(ITEMS, "4")}
    assert one["component_of 5"] == {(ITEMS, "5"), ("rj.notes", "1")}
    assert two["component_of 4"] == set(_n(1, 2, 3, 4))
    # exports: ws 1 exports 1 -> 2 -> 3 (two edges), ws 2 1 -> 2, 1 -> 4 -> 3 (three)
    assert one["graphml edges"] == 2 and two["graphml edges"] == 3
    assert not (one["graphml secret"] or one["dot secret"] or one["mermaid secret"])
    assert two["graphml secret"] and two["dot secret"] and two["mermaid secret"]


def test_a_superuser_walks_every_edge(rj_db):
    with reader(rj_db, None) as c:
        r = everything_read(c)
    assert r["out 1"] == {"1", "2", "3", "4"}
    assert ("4", "rel") in r["labels out 1"] and {n for n, _ in r["labels out 1"]} == {"2", "4"}
    assert r["path 5-6 any"] == ["5", "6"]
    assert r["weighted 1-2"][-1][2] == 0.5
    assert r["stats"] == [4, 4] and r["graphml edges"] == 5


def test_a_role_without_select_on_a_join_table_with_row_level_security_walks_none_of_its_edges(rj_db):
    # (Without row-level security on it: the test after this one.)
    with connect(rj_db) as admin:
        admin.execute(f"REVOKE SELECT ON rj.relations FROM {WS1}")
        try:
            with reader(rj_db, WS1) as c:
                r = everything_read(c)
        finally:
            admin.execute(f"GRANT SELECT ON rj.relations TO {WS1}")
    assert r["out 1"] == {"1"} and r["in 3"] == {"3"} and r["path 1-3"] == []
    assert r["stats"] == [1, 1, 1, 1, 1, 2] and r["graphml edges"] == 0


def test_a_role_without_select_on_a_join_table_without_row_level_security_walks_none_of_its_edges(rj_db):
    """A join table's rows are the edges it carries: a role that may not SELECT the
    table, row-level security or not, would learn none of them through a read. Its
    rows pending in the log would not be folded in either."""
    with connect(rj_db) as admin:
        admin.execute("ALTER TABLE rj.relations DISABLE ROW LEVEL SECURITY")
        admin.execute(f"REVOKE SELECT ON rj.relations FROM {WS1}")
        admin.execute("INSERT INTO rj.relations (ws, src, dst, weight) VALUES (1, 3, 6, 1)")  # pending
        try:
            with reader(rj_db, WS1) as c:
                r = everything_read(c)
                c.execute("BEGIN READ ONLY")
                folded = items(c.execute(
                    "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)"))
                c.execute("ROLLBACK")
            with reader(rj_db, WS2) as c:  # may SELECT it: every edge, now that no policy hides any
                other = everything_read(c)
        finally:
            admin.execute("DELETE FROM rj.relations WHERE src = 3 AND dst = 6")
            apply(admin)
            admin.execute(f"GRANT SELECT ON rj.relations TO {WS1}")
            admin.execute("ALTER TABLE rj.relations ENABLE ROW LEVEL SECURITY")
    assert r["out 1"] == {"1"} and r["in 3"] == {"3"} and r["path 1-3"] == []
    assert r["weighted 1-2"] == [] and r["labels out 1"] == set() and folded == {"3"}
    assert r["stats"] == [1, 1, 1, 1, 1, 2] and r["graphml edges"] == 0
    assert not (r["graphml secret"] or r["dot secret"] or r["mermaid secret"])
    assert other["out 1"] == {"1", "2", "3", "4", "6"} and other["graphml secret"]


HIDES = ROOT / "sql" / "migrations" / "466-join-select-hides-edges.sql"


def test_the_upgrade_names_the_join_tables_whose_edges_some_reader_now_loses(rj_db):
    """An upgrade to this release hides the edges of a join table without row-level
    security from the roles that may read its end tables but not it (they walked them
    before): migration 466 names such a table in a NOTICE, with how many roles and
    which, and names no table with row-level security (hidden before as well) nor a role
    that may SELECT it. It changes nothing."""
    with connect(rj_db) as admin:
        said = notices(admin)
        admin.execute(HIDES.read_text())  # what an upgrade runs, as the installer
        assert [x for x in said if "rj." in x] == []  # relations has row-level security; WS1, WS2 may SELECT it
        admin.execute("ALTER TABLE rj.relations DISABLE ROW LEVEL SECURITY")
        try:
            admin.execute(HIDES.read_text())
            assert [x for x in said if "rj." in x] == []
            admin.execute(f"REVOKE SELECT ON rj.relations FROM {WS1}, {ADMIN_RLS}")  # (an admin reads every edge)
            admin.execute(HIDES.read_text())
            named = [x for x in said if "rj." in x]
            assert len(named) == 1 and named[0].startswith("NOTICE: graphsync: "), named
            assert "join table rj.relations " in named[0] and f"1 role(s) may read one of its end tables but not it" \
                f" ({WS1})" in named[0], named
        finally:
            admin.execute(f"GRANT SELECT ON rj.relations TO {WS1}, {ADMIN_RLS}")
            admin.execute("ALTER TABLE rj.relations ENABLE ROW LEVEL SECURITY")


def test_edges_follow_rows_moving_between_workspaces_applied_or_pending(rj_db):
    """A relation moved to the other workspace leaves one role's graph and enters
    the other's at once, whether the graph has applied the move or not (its
    policy reads the row as it is); a new relation pending in the log is walked
    only by the workspace that sees it, once applied: a read-only transaction of a
    role under the join table's policy cannot fold it (graph._pending_rows returns
    no row of such a table to such a role) and reads the table as last applied,
    with a WARNING (test_pending_rows.py)."""
    with connect(rj_db) as w, reader(rj_db, WS1) as one, reader(rj_db, WS2) as two:
        warnings = notices(two)
        w.execute("UPDATE rj.relations SET ws = 1 WHERE src = 5 AND dst = 6")
        w.execute("INSERT INTO rj.relations (ws, src, dst, weight) VALUES (2, 3, 6, 1)")
        try:
            for c in (one, two):
                c.execute("BEGIN READ ONLY")
            try:
                one_out = items(one.execute(
                    "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)"))
                two_out = items(two.execute(
                    "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)"))
                one_56 = [r[0] for r in one.execute(
                    "SELECT node_id FROM graph.shortest_path('rj.items', '5', 'rj.items', '6')")]
                two_56 = [r[0] for r in two.execute(
                    "SELECT node_id FROM graph.shortest_path('rj.items', '5', 'rj.items', '6')")]
            finally:
                for c in (one, two):
                    c.execute("ROLLBACK")
            assert one_out == {"3"} and two_out == {"3"}  # the pending relation is left out, with a WARNING
            assert any(x.startswith("WARNING") for x in warnings), warnings
            assert one_56 == ["5", "6"] and two_56 == []
            one.execute("SET graph.query_freshness = 'off'")  # the graph has not applied the move
            assert [r[0] for r in one.execute(
                "SELECT node_id FROM graph.shortest_path('rj.items', '5', 'rj.items', '6')")] == ["5", "6"]
            one.execute("RESET graph.query_freshness")
            apply(w)
            assert items(two.execute(
                "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)")) == {"3", "6"}
            assert items(one.execute(
                "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)")) == {"3"}
        finally:
            w.execute("UPDATE rj.relations SET ws = 2 WHERE src = 5 AND dst = 6")
            w.execute("DELETE FROM rj.relations WHERE src = 3 AND dst = 6")
            apply(w)


def test_a_table_without_row_level_security_keeps_every_edge(rj_db):
    with row_security_disabled(rj_db, "rj.relations"), reader(rj_db, WS1) as c:
        r = everything_read(c)
    assert r["out 1"] == {"1", "2", "3", "4"} and r["path 5-6 any"] == ["5", "6"]
    assert ("4", "rel") in r["labels out 1"]


def test_the_source_reading_and_integrity_functions_reveal_no_hidden_row(rj_db):
    """graph._source_edges/_source_nodes (what build and verify read the sources
    through), verify, dangling_references and duplicate_edges are admin only; an
    admin a join table's policy applies to is refused (42501), never shown a
    filtered or an unfiltered answer; _source_edges runs its query as the caller,
    so its policy applies as in SQL."""
    query = "SELECT 1, 0::oid, src::text, 0::oid, dst::text, weight, kind FROM rj.relations"
    with reader(rj_db, WS1) as c:
        for sql in ("SELECT * FROM graph._source_edges(%s)", "SELECT * FROM graph._source_nodes(%s)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql, ("SELECT 0::oid, id::text, NULL::text, NULL::jsonb FROM rj.notes"
                                if "nodes" in sql else query,))
            c.rollback()
        for sql in ("SELECT * FROM graph.verify()", "SELECT * FROM graph.dangling_references()",
                    "SELECT * FROM graph.duplicate_edges()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)
            c.rollback()
    with reader(rj_db, ADMIN_RLS) as c:
        assert {r[2] for r in c.execute("SELECT * FROM graph._source_edges(%s)", (query,))} == {"1", "2"}
        # verify() checks per table: each table a policy applies to is named as not checked
        # (42501), and nothing of it is compared, so no row of it shows, filtered or not
        rows = c.execute("SELECT difference, table_name, id, detail FROM graph.verify()").fetchall()
        assert {r[:3] for r in rows} == {("check_failed", "rj.relations", None), ("check_failed", "rj.notes", None)}
        assert all(r[3]["sqlstate"] == "42501" and "row-level security" in r[3]["message"] for r in rows), rows
        c.rollback()
        for sql in ("SELECT * FROM graph.dangling_references()", "SELECT * FROM graph.duplicate_edges()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                c.execute(sql)
            c.rollback()


def test_a_composite_key_join_table_with_a_row_filter(rj_db):
    """The modelling example's relations (composite ends, a soft-delete filter)
    under a per-workspace policy: each role walks the relations it can see."""
    with connect(rj_db) as admin:
        admin.execute(f"""
            DROP SCHEMA IF EXISTS rk CASCADE;
            CREATE SCHEMA rk;
            CREATE TABLE rk.entities (ws int, id int, name text, PRIMARY KEY (ws, id));
            CREATE TABLE rk.relations (id serial PRIMARY KEY, ws int NOT NULL, owner text NOT NULL,
                                       src int NOT NULL, dst int NOT NULL, deleted_at timestamptz);
            INSERT INTO rk.entities SELECT 1, i, 'e' || i FROM generate_series(1, 4) AS i;
            INSERT INTO rk.relations (ws, owner, src, dst, deleted_at) VALUES
                (1, '{WS1}', 1, 2, NULL), (1, '{WS2}', 2, 3, NULL), (1, '{WS2}', 1, 4, now());
            SELECT graph.add_table('rk.entities');
            SELECT graph.add_edge('rk.entities', NULL, 'rk.entities', via_table => 'rk.relations',
                                  from_columns => '{{ws,src}}', to_columns => '{{ws,dst}}',
                                  row_filter => 'deleted_at IS NULL', label => 'rel');
            SELECT graph.build();
            GRANT USAGE ON SCHEMA rk TO {WS1}, {WS2};
            GRANT SELECT ON ALL TABLES IN SCHEMA rk TO {WS1}, {WS2};
            ALTER TABLE rk.relations ENABLE ROW LEVEL SECURITY;
            CREATE POLICY own ON rk.relations FOR SELECT USING (owner = current_user);
        """)
    walked = {}
    for role in (WS1, WS2):
        with reader(rj_db, role) as c:
            walked[role] = {r[0] for r in c.execute(
                "SELECT node_id FROM graph.traverse('rk.entities', '(1,1)', direction => 'any', max_depth => 5)")}
            walked[role, "of 2"] = {r[0] for r in c.execute(
                "SELECT node_id FROM graph.component_of('rk.entities', '(1,2)')")}
    assert walked[WS1] == {"(1,1)", "(1,2)"}
    assert walked[WS2] == {"(1,1)"}  # 1 -> 4 is soft-deleted: no edge for anyone
    assert walked[WS1, "of 2"] == {"(1,1)", "(1,2)"} and walked[WS2, "of 2"] == {"(1,2)", "(1,3)"}


def test_a_pending_relation_to_a_pending_node_is_walked_by_its_workspace_only(rj_db):
    """A read by a role under the join table's policy applies the pending rows
    first (it may not fold rows of such a table: test_pending_rows.py), and then
    walks the new relation only where the policy shows it."""
    with connect(rj_db) as w, reader(rj_db, WS1) as one, reader(rj_db, WS2) as two:
        w.execute("INSERT INTO rj.items VALUES (7, 'item 7')")
        w.execute("INSERT INTO rj.relations (ws, src, dst, weight) VALUES (1, 3, 7, 1)")
        try:
            seen = {role: items(c.execute(
                "SELECT node_table, node_id FROM graph.traverse('rj.items', '3', max_depth => 10)"))
                for role, c in ((WS1, one), (WS2, two))}
            assert seen[WS1] == {"3", "7"} and seen[WS2] == {"3"}
        finally:
            w.execute("DELETE FROM rj.relations WHERE dst = 7")
            w.execute("DELETE FROM rj.items WHERE id = 7")
            apply(w)


def test_a_role_the_join_tables_policy_would_filter_but_turns_it_off_gets_the_sql_error(rj_db):
    with reader(rj_db, WS1) as c:
        rls_helpers.assert_row_security_off_is_refused(c, "SELECT * FROM graph.traverse('rj.items', '1')",
                                                       "rj.relations")


def test_a_visible_row_failing_the_row_filter_keeps_no_hidden_rows_edge(rj_db):
    """Issue 10: the join-row check applies the edge source's row_filter. WS1 sees only
    its own soft-deleted link 1 -> 2; WS2's live link 1 -> 2 (same weight, same label)
    is what the graph holds. Counting WS1's soft-deleted row as carrying the edge would
    let WS1 walk the hidden row's edge. Also in a READ ONLY transaction (as on a hot
    standby: the read makes no temporary table to check the filter)."""
    with connect(rj_db) as admin:
        admin.execute(f"""
            DROP SCHEMA IF EXISTS rf CASCADE;
            CREATE SCHEMA rf;
            CREATE TABLE rf.items (id int PRIMARY KEY);
            CREATE TABLE rf.links (id serial PRIMARY KEY, ws int NOT NULL, src int NOT NULL, dst int NOT NULL,
                                   deleted_at timestamptz, status text NOT NULL DEFAULT 'live');
            INSERT INTO rf.items SELECT generate_series(1, 4);
            INSERT INTO rf.links (ws, src, dst, deleted_at, status) VALUES
                (1, 1, 2, now(), 'live'), (2, 1, 2, NULL, 'live'), (1, 2, 3, NULL, 'live'),
                (1, 3, 4, NULL, 'gone'), (2, 3, 4, NULL, 'live');
            SELECT graph.add_table('rf.items');
            SELECT graph.add_edge('rf.items', 'src', 'rf.items', to_column => 'dst', via_table => 'rf.links',
                                  row_filter => 'deleted_at IS NULL AND status <> ''gone''', label => 'link');
            SELECT graph.build();
            GRANT USAGE ON SCHEMA rf TO {WS1}, {WS2};
            GRANT SELECT ON ALL TABLES IN SCHEMA rf TO {WS1}, {WS2};
            ALTER TABLE rf.links ENABLE ROW LEVEL SECURITY;
            CREATE POLICY by_role ON rf.links FOR SELECT
                USING (ws = {by_role({WS1: 1, WS2: 2})});
        """)
    walked = {}
    for role in (WS1, WS2):
        for mode in ("", " READ ONLY"):
            with reader(rj_db, role) as c:
                c.execute("BEGIN" + mode)
                walked[role, mode] = {
                    "from 1": {r[0] for r in c.execute(
                        "SELECT node_id FROM graph.traverse('rf.items', '1', direction => 'any', max_depth => 5)")},
                    "from 3": {r[0] for r in c.execute(
                        "SELECT node_id FROM graph.traverse('rf.items', '3', max_depth => 5)")},
                    "path": [r[0] for r in c.execute(
                        "SELECT node_id FROM graph.shortest_path('rf.items', '1', 'rf.items', '2')")],
                    "component of 1": {r[1] for r in c.execute(
                        "SELECT node_table, node_id FROM graph.component_of('rf.items', '1')")},
                }
                c.execute("ROLLBACK")
    for mode in ("", " READ ONLY"):
        one, two = walked[WS1, mode], walked[WS2, mode]
        assert one["from 1"] == {"1"} and one["path"] == []  # its own row is soft-deleted: not WS2's edge
        assert one["from 3"] == {"3"}  # its 3 -> 4 fails the filter ('gone'); WS2's passes it
        assert two["from 1"] == {"1", "2"} and two["path"] == ["1", "2"]
        assert two["from 3"] == {"3", "4"}
        assert one["component of 1"] == {"1"} and two["component of 1"] == {"1", "2"}
    with connect(rj_db) as admin:
        admin.execute("SELECT graph.remove_table('rf.items', cascade => true)")
        admin.execute("DROP SCHEMA rf CASCADE")


def test_a_row_filter_that_no_longer_applies_lets_no_visible_row_carry_an_edge(rj_db):
    """The join-row check takes the filter as registration stored it and checks it
    against the catalog only: once a column it reads is of a type that is not
    PostgreSQL's own (an owner's composite type here), no visible row passes it, so
    the caller walks none of that source's edges, with a WARNING, as capture does."""
    with connect(rj_db) as admin:
        admin.execute(f"""
            DROP SCHEMA IF EXISTS rg CASCADE;
            CREATE SCHEMA rg;
            CREATE TABLE rg.items (id int PRIMARY KEY);
            CREATE TABLE rg.links (id serial PRIMARY KEY, ws int NOT NULL, src int NOT NULL, dst int NOT NULL,
                                   status text NOT NULL);
            INSERT INTO rg.items SELECT generate_series(1, 3);
            INSERT INTO rg.links (ws, src, dst, status) VALUES (1, 1, 2, 'live'), (1, 2, 3, 'live');
            SELECT graph.add_table('rg.items');
            SELECT graph.add_edge('rg.items', 'src', 'rg.items', to_column => 'dst', via_table => 'rg.links',
                                  row_filter => 'status IS NOT NULL', label => 'link');
            SELECT graph.build();
            GRANT USAGE ON SCHEMA rg TO {WS1};
            GRANT SELECT ON ALL TABLES IN SCHEMA rg TO {WS1};
            ALTER TABLE rg.links ENABLE ROW LEVEL SECURITY;
            CREATE POLICY by_role ON rg.links FOR SELECT USING (ws = 1);
        """)
    walk = "SELECT node_id FROM graph.traverse('rg.items', '1', max_depth => 5)"
    try:
        with reader(rj_db, WS1) as c:
            assert {r[0] for r in c.execute(walk)} == {"1", "2", "3"}
        with connect(rj_db) as admin:
            admin.execute("CREATE TYPE rg.status AS (v text)")
            admin.execute("GRANT USAGE ON TYPE rg.status TO PUBLIC")
            admin.execute("ALTER TABLE rg.links ALTER COLUMN status TYPE rg.status USING ROW(status)::rg.status")
        with reader(rj_db, WS1) as c:
            warnings = notices(c)
            c.execute("SET graph.query_freshness = 'off'")
            assert {r[0] for r in c.execute(walk)} == {"1"}
            assert any(w.startswith("WARNING") and "no longer applies" in w for w in warnings), warnings
    finally:
        with connect(rj_db) as admin:
            admin.execute("SELECT graph.remove_table('rg.items', cascade => true)")
            admin.execute("DROP SCHEMA rg CASCADE")


def test_tables_whose_names_need_quoting_under_the_policies_of_graph_nodes_and_labels(rj_db):
    """graph._nodes' and graph._labels' row-level security read the secured node table
    and the label column's table as the caller (reads/row_policy.py, label_policy.py):
    their statements quote the tables' names (format('%I')), whatever they hold."""
    schema, items, links = '"Odd ""Sch"" ema"', '"Odd ""Sch"" ema"."It ems"', '"Odd ""Sch"" ema"."Li nks"'
    with connect(rj_db) as admin:
        admin.execute(f"""
            DROP SCHEMA IF EXISTS {schema} CASCADE;
            CREATE SCHEMA {schema};
            CREATE TABLE {items} (id int PRIMARY KEY, ws int NOT NULL);
            CREATE TABLE {links} (id serial PRIMARY KEY, ws int NOT NULL, src int NOT NULL, dst int NOT NULL,
                                  "Ki nd" text NOT NULL);
            INSERT INTO {items} VALUES (1, 1), (2, 1), (3, 2);
            INSERT INTO {links} (ws, src, dst, "Ki nd") VALUES (1, 1, 2, 'mine'), (2, 1, 3, 'theirs');
            SELECT graph.add_table('{items}');
            SELECT graph.add_edge('{items}', 'src', '{items}', to_column => 'dst', via_table => '{links}',
                                  label_column => 'Ki nd');
            SELECT graph.build();
            GRANT USAGE ON SCHEMA {schema} TO {WS1};
            GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {WS1};
            ALTER TABLE {items} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {links} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY ws1 ON {items} FOR SELECT USING (ws = 1);
            CREATE POLICY ws1 ON {links} FOR SELECT USING (ws = 1);
        """)
    try:
        with reader(rj_db, WS1) as c:
            assert sorted(c.execute(f"SELECT node_id, edge_label FROM graph.traverse('{items}', '1')")) == [
                ("1", None), ("2", "mine")]
            assert {r[0] for r in c.execute("SELECT label FROM graph._labels")} >= {"mine"}
            assert "theirs" not in {r[0] for r in c.execute("SELECT label FROM graph._labels")}
            assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = %s::regclass",
                             (items,)).fetchone() == (2,)
    finally:
        with connect(rj_db) as admin:
            admin.execute(f"SELECT graph.remove_table('{items}', cascade => true)")
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


# -- A join table renamed under a pooled backend ----------------------------------

RN_READER, RN_MALLORY = "gs_ren_reader", "gs_ren_mallory"

RENAMED = f"""
DROP SCHEMA IF EXISTS rn CASCADE;
DROP SCHEMA IF EXISTS rn_mal CASCADE;
CREATE SCHEMA rn;
CREATE TABLE rn.items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rn.relations (id serial PRIMARY KEY, ws int NOT NULL, src int NOT NULL, dst int NOT NULL);
CREATE INDEX ON rn.relations (src); CREATE INDEX ON rn.relations (dst);
CREATE TABLE rn.secret (v text);
INSERT INTO rn.secret VALUES ('only the reader may read this');
INSERT INTO rn.items SELECT i, 'item ' || i FROM generate_series(1, 6) AS i;
INSERT INTO rn.relations (ws, src, dst) VALUES (1, 1, 2), (2, 1, 3);
SELECT graph.add_table('rn.items', columns => '{{name}}');
SELECT graph.add_edge('rn.items', 'src', 'rn.items', to_column => 'dst', via_table => 'rn.relations', label => 'rel');
SELECT graph.build();
DROP ROLE IF EXISTS {RN_READER}; DROP ROLE IF EXISTS {RN_MALLORY};
CREATE ROLE {RN_READER} LOGIN; CREATE ROLE {RN_MALLORY} LOGIN;
GRANT USAGE ON SCHEMA rn TO {RN_READER}, {RN_MALLORY};
GRANT CREATE ON SCHEMA rn TO {RN_MALLORY};
CREATE SCHEMA rn_mal AUTHORIZATION {RN_MALLORY};
GRANT SELECT ON rn.items, rn.relations, rn.secret TO {RN_READER};
ALTER TABLE rn.relations ENABLE ROW LEVEL SECURITY;
CREATE POLICY ws1 ON rn.relations FOR SELECT USING (ws = 1);
"""

# Another role takes the old name: a view whose query calls its function, which copies
# what the reader may read.
TAKE_THE_NAME = """
CREATE TABLE rn_mal.loot (who text, what text);
GRANT USAGE ON SCHEMA rn_mal TO PUBLIC;
GRANT INSERT ON rn_mal.loot TO PUBLIC;
CREATE FUNCTION rn_mal.steal() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO rn_mal.loot SELECT current_user, v FROM rn.secret;
    RETURN 1;
EXCEPTION WHEN OTHERS THEN RETURN 1;
END $$;
CREATE VIEW rn.relations AS SELECT 1 AS id, rn_mal.steal() AS ws, 1 AS src, 6 AS dst;
GRANT SELECT ON rn.relations TO PUBLIC;
"""


def _out_of_1(c):
    return sorted(r[0] for r in c.execute(
        "SELECT node_id FROM graph.traverse('rn.items', '1', max_depth => 1) WHERE depth = 1"))


@pytest.mark.parametrize("taken", [False, True], ids=["renamed", "renamed, old name taken"])
def test_a_pooled_backend_reads_a_renamed_join_table_by_its_new_name(db, taken):
    """A backend keeps the statements that read a secured join table's rows; they name
    the table. Before, a statement kept from before its owner renamed it read the old
    name: 42P01 in every pooled backend until it reconnected, or, where another role
    had taken the name with a view, that view, whose function ran as the reader and
    copied what the reader may read (found in review; seen failing). Now the names are
    part of the kept statements' key, each checked to be a table still."""
    with connect(db) as c:
        c.execute(RENAMED)
    try:
        with as_role(db, RN_READER) as pooled:
            assert _out_of_1(pooled) == ["2"]  # the backend keeps the join table's statements
            with connect(db) as owner:
                owner.execute("ALTER TABLE rn.relations RENAME TO relations_v1")
            if taken:
                with as_role(db, RN_MALLORY) as m:
                    m.execute(TAKE_THE_NAME)
            assert _out_of_1(pooled) == ["2"]
        with connect(db) as c:
            if taken:
                assert c.execute("SELECT who, what FROM rn_mal.loot").fetchall() == []
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table('rn.items', cascade => true)")
            c.execute(f"DROP SCHEMA rn CASCADE; DROP SCHEMA rn_mal CASCADE;"
                      f" DROP ROLE {RN_READER}; DROP ROLE {RN_MALLORY}")
            c.execute("SELECT graph.build()")
