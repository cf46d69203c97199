"""A reader's own output settings make no row its row-level security hides look seen.

Keys and labels are captured as text under graph._output_settings() (ISO dates, UTC,
extra_float_digits 3, ...). Where a read asks which rows of a secured table the
caller can see, it renders the keys (labels, join ends) of the rows the caller
reads and compares that text with the captured one. Before, the reads other than
traverse and search, and graph._nodes' and graph._labels' own policies, rendered
them in the caller's session settings: with extra_float_digits -13 the visible key
1.14 rendered '1.1', the captured key of a hidden row, which then counted as seen --
its node in connected_components, its properties in graph._nodes, a label only a
hidden join row holds in graph._labels (found in review; seen failing). Now every
read function pins the settings (sql/output-settings.sql) and the policies' per-row
functions pin them around the statements that render (graphsync.db.output_pinned),
giving the reader's own settings back after."""

from decimal import Decimal

import pytest

from conftest import ROOT, as_role, connect

OWNER, READER = "gs_os_owner", "gs_os_reader"

SETUP = f"""
DROP SCHEMA IF EXISTS os CASCADE;
DROP ROLE IF EXISTS {READER};
DROP ROLE IF EXISTS {OWNER};
CREATE ROLE {OWNER} LOGIN;
CREATE ROLE {READER} LOGIN;
CREATE SCHEMA os AUTHORIZATION {OWNER};
"""

OWNER_SQL = f"""
-- a float key: hidden rows at 1.0 .. 9.9 (step 0.1), visible rows 0.04 above each
CREATE TABLE os.f (id float8 PRIMARY KEY, team text NOT NULL, secret text NOT NULL, ref float8);
INSERT INTO os.f SELECT g / 10.0, 'red', 'hidden secret ' || g, NULL FROM generate_series(10, 99) AS g;
INSERT INTO os.f SELECT g / 10.0 + 0.04, 'blue', 'visible ' || g, g / 10.0 + 0.14
FROM generate_series(10, 99) AS g;
-- a join table whose label column is a float: the hidden row's label 7, the visible one's 7.04
CREATE TABLE os.fl (id int PRIMARY KEY, a float8 NOT NULL, b float8 NOT NULL, kind float8 NOT NULL,
                    team text NOT NULL);
INSERT INTO os.fl VALUES (1, 1.04, 2.04, 7, 'red'), (2, 3.04, 4.04, 7.04, 'blue');
ALTER TABLE os.fl ENABLE ROW LEVEL SECURITY;
CREATE POLICY blue ON os.fl FOR SELECT USING (team = 'blue');
ALTER TABLE os.f ENABLE ROW LEVEL SECURITY;
CREATE POLICY blue ON os.f FOR SELECT USING (team = 'blue');
GRANT USAGE ON SCHEMA os TO {READER};
GRANT SELECT ON os.f, os.fl TO {READER};
"""

REGISTER = """
SELECT graph.add_table('os.f', columns => '{secret}');
SELECT graph.add_edge('os.f', 'ref', 'os.f', label => 'ref');
SELECT graph.add_edge('os.f', 'a', 'os.f', to_column => 'b', via_table => 'os.fl', label_column => 'kind');
SELECT graph.build();
"""

VISIBLE = {("os.f", str(Decimal(g) / 10 + Decimal("0.04"))) for g in range(10, 100)}
DIGITS = ["-13", "-14"]


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(SETUP)
    with as_role(db, OWNER) as o:
        o.execute(OWNER_SQL)
    with connect(db) as c:
        c.execute(REGISTER)
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('os.f', cascade => true)")
        c.execute(f"DROP SCHEMA os CASCADE; DROP ROLE {READER}; DROP ROLE {OWNER}")
        c.execute("SELECT graph.build()")


def reader(world, digits):
    c = as_role(world, READER)
    c.execute("SELECT set_config('extra_float_digits', %s, false)", (digits,))
    return c


@pytest.mark.parametrize("digits", DIGITS)
def test_components_show_no_hidden_node(world, digits):
    with reader(world, digits) as c:
        seen = {(str(t), pk) for t, pk in c.execute("SELECT node_table, node_id FROM graph.connected_components()")}
        assert seen == VISIBLE
        assert c.execute("SELECT sum(size) FROM graph.component_stats()").fetchone()[0] == len(VISIBLE)
        of = {pk for (pk,) in c.execute("SELECT node_id FROM graph.component_of('os.f', '1.04')")}
        assert of <= {pk for _, pk in VISIBLE}
        assert c.execute("SHOW extra_float_digits").fetchone() == (digits,)  # the reader's own, after


@pytest.mark.parametrize("digits", DIGITS)
def test_graph_nodes_shows_no_hidden_rows_properties(world, digits):
    """graph._nodes' policy (graph._row_visible): past its probes a statement reads
    every visible key of the table, rendered as capture renders it, whatever the
    reader's settings, which it gets back after."""
    with reader(world, digits) as c:
        rows = c.execute("SELECT pk, properties ->> 'secret' FROM graph._nodes"
                         " WHERE table_oid = 'os.f'::regclass").fetchall()
        assert [r for r in rows if r[1].startswith("hidden")] == []
        assert {("os.f", pk) for pk, _ in rows} == VISIBLE
        assert c.execute("SHOW extra_float_digits").fetchone() == (digits,)


@pytest.mark.parametrize("digits", DIGITS)
def test_graph_labels_shows_no_label_only_a_hidden_row_holds(world, digits):
    """graph._labels' policy (graph._label_visible) reads a label column's values as
    capture renders them: the visible row's kind 7.04 is never '7', the label only
    the hidden row holds."""
    with reader(world, digits) as c:
        assert {r[0] for r in c.execute("SELECT label FROM graph._labels")} == {"ref", "fl", "7.04"}
        assert c.execute("SHOW extra_float_digits").fetchone() == (digits,)


@pytest.mark.parametrize("digits", DIGITS)
def test_paths_and_exports_see_only_visible_nodes(world, digits):
    with reader(world, digits) as c:
        path = c.execute("SELECT node_id FROM graph.shortest_path('os.f', '1.04', 'os.f', '1.14')").fetchall()
        assert path == [("1.04",), ("1.14",)]
        assert c.execute("SELECT count(*) FROM graph.weighted_shortest_path('os.f', '1.04', 'os.f', '1.1')"
                         ).fetchone() == (0,)  # 1.1 is hidden: no path to it
        dot = c.execute("SELECT graph.export_dot('os.f', '1.04', max_depth => 2)").fetchone()[0]
        assert "hidden" not in dot and '"os.f:1.1"' not in dot


def test_the_pinned_settings_are_graph_output_settings(world):
    """graphsync.db.OUTPUT, which the policies' functions pin, is what
    graph._output_settings() (capture's SET clauses) says."""
    import sys

    sys.path.insert(0, str(ROOT / "plpython"))
    from graphsync import db as gdb

    with connect(world) as c:
        text = c.execute("SELECT graph._output_settings()").fetchone()[0]
    pinned = dict(part.split(" = ", 1) for part in text.split("SET ")[1:])
    assert {k: v.strip().strip("'") for k, v in pinned.items()} == dict(gdb.OUTPUT)


# The settings capture renders under (graph._output_settings): a reader in them needs
# no pinning, and the policies' statements run without it.
CAPTURED = ("SET datestyle = 'ISO, YMD'; SET timezone = 'UTC'; SET intervalstyle = 'postgres';"
            " SET extra_float_digits = 3; SET bytea_output = 'hex'")
# A function of the reader's own that sets extra_float_digits -13 for the rest of the
# transaction, costly enough that the planner asks a row's policy before it.
FLIP = """CREATE FUNCTION pg_temp.flip() RETURNS boolean LANGUAGE plpgsql COST 1000000 AS $$
BEGIN
    RETURN pg_catalog.set_config('extra_float_digits', '-13', true) IS NOT NULL;
END $$"""


def test_settings_changed_within_one_query_make_no_hidden_node_seen(world):
    """What graph._nodes' policy keeps of a table for a query (reads/row_policy.py
    Rows) said whether the settings were capture's when the query first asked, and
    its later statements ran unpinned on that word: a reader in capture's settings
    whose own function set extra_float_digits -13 after the first row of its query
    had the rest read past the probes under it, and hidden rows' nodes showed, with
    their properties (1.14 rendered '1.1'). Each statement now says whether it ran
    in capture's settings, and runs again pinned when not."""
    with as_role(world, READER) as c:
        c.execute(CAPTURED)
        c.execute(FLIP)
        c.execute("BEGIN")
        try:
            rows = c.execute("SELECT pk, properties ->> 'secret' FROM graph._nodes"
                             " WHERE table_oid = 'os.f'::regclass AND pg_temp.flip()").fetchall()
            assert c.execute("SHOW extra_float_digits").fetchone() == ("-13",)  # (the flip ran)
        finally:
            c.execute("ROLLBACK")
        assert [r for r in rows if r[1].startswith("hidden")] == []
        assert {("os.f", pk) for pk, _ in rows} == VISIBLE


def test_settings_changed_within_one_query_make_no_hidden_label_seen(world):
    """The same of graph._labels' policy (reads/label_policy.py Labels): asked about
    'ref' (a fixed label: nothing read) and then, in the same query after the
    reader's function set extra_float_digits -13, about '7', the label only the
    hidden row holds, it read the label column unpinned and found the visible 7.04
    as '7'."""
    with as_role(world, READER) as c:
        c.execute(CAPTURED)
        c.execute(FLIP)
        c.execute("BEGIN")
        try:
            c.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;"
                      " SET LOCAL enable_material = off")
            got = {r[0] for r in c.execute(
                "SELECT l.label FROM (VALUES (1, 'ref'), (2, '7'), (3, '7.04')) AS v (o, k)"
                " CROSS JOIN LATERAL (SELECT * FROM graph._labels AS m WHERE m.label = v.k AND pg_temp.flip()"
                " OFFSET 0) AS l")}
            assert c.execute("SHOW extra_float_digits").fetchone() == ("-13",)
        finally:
            c.execute("ROLLBACK")
        assert got == {"ref", "7.04"}, got
