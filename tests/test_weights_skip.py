"""weighted_shortest_path(invalid_weights => 'skip'): one writer's unusable weight
(NaN, kept as +Infinity; negative; +-Infinity) on an edge the search can reach
denies no reader a weighted path. With the default 'error' such an edge in reach
is 22023 (README "Weights", tests/test_weights.py); with 'skip' it is not part of
the graph for that call: the answer is the cheapest path over the other edges, and
no row when only such edges lead to the target. The same while the edge is in the
overlay, in the built arrays, still pending (folded by a read-only reader), and
under the row-level security of the node table and of the join table carrying the
edges. The writer may write the weight column and nothing else: neither the
tables' owner nor a graph_admin member; the reader only reads."""

import contextlib
import uuid

import psycopg
import pytest

from conftest import apply, as_role, connect, verify

SCHEMA = """
CREATE SCHEMA ws;
CREATE TABLE ws.spots (id int PRIMARY KEY, name text);
CREATE TABLE ws.roads (id int PRIMARY KEY, a int, b int, cost float8);
SELECT graph.add_table('ws.spots', columns => '{name}');
SELECT graph.add_edge('ws.spots', 'a', 'ws.spots', to_column => 'b', via_table => 'ws.roads',
                      weight_column => 'cost', label => 'road');
SELECT graph.build();
"""

# Roads: 1 -> 2 (1), 2 -> 4 (1): the cheapest way from 1 to 4 (cost 2); 1 -> 3 (1),
# 3 -> 4 (5): dearer (6), and 1 -> 3 is the only way from 1 to 3. Spot 5 has no road.
ROADS = [(1, 1, 2, 1.0), (2, 2, 4, 1.0), (3, 1, 3, 1.0), (4, 3, 4, 5.0)]
CHEAPEST = [("1", None, 0.0, 2.0), ("2", 1.0, 1.0, 2.0), ("4", 1.0, 2.0, 2.0)]

# (the text the writer writes, as the graph keeps it: NaN as Infinity)
UNUSABLE = ["NaN", "-1", "-Infinity", "Infinity"]


@pytest.fixture(scope="module")
def roles(db):
    """(db, writer, reader): login roles that are neither the tables' owner nor
    graph_admin members. The writer may UPDATE and INSERT ws.roads (the weight
    column among the rest), the reader SELECT both tables."""
    writer, reader = ("gs_w_" + uuid.uuid4().hex[:8]), ("gs_r_" + uuid.uuid4().hex[:8])
    with connect(db) as c:
        c.execute(SCHEMA)
        for role in (writer, reader):
            c.execute(f"CREATE ROLE {role} LOGIN")
            c.execute(f"GRANT USAGE ON SCHEMA ws TO {role}")
        c.execute(f"GRANT SELECT, UPDATE, INSERT ON ws.roads TO {writer}")
        c.execute(f"GRANT SELECT ON ws.spots, ws.roads TO {reader}")
        # Under row-level security (the test that enables it): the reader sees every
        # spot but 5 and every road but 7; the writer writes every road.
        c.execute(f"CREATE POLICY seen ON ws.spots FOR SELECT TO {reader} USING (id <> 5)")
        c.execute(f"CREATE POLICY seen ON ws.roads FOR SELECT TO {reader} USING (id <> 7)")
        c.execute(f"CREATE POLICY written ON ws.roads FOR ALL TO {writer} USING (true) WITH CHECK (true)")
    yield db, writer, reader
    with connect(db) as c:
        for role in (writer, reader):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.fixture
def graph(roles):
    """(db, a superuser's connection, writer, reader): the roads of ROADS and spots
    1..5, built and applied; row-level security off."""
    db, writer, reader = roles
    with connect(db) as c:
        c.execute("ALTER TABLE ws.spots DISABLE ROW LEVEL SECURITY")
        c.execute("ALTER TABLE ws.roads DISABLE ROW LEVEL SECURITY")
        c.execute("TRUNCATE ws.spots, ws.roads")
        c.execute("INSERT INTO ws.spots SELECT g, 's' || g FROM generate_series(1, 5) AS g")
        c.cursor().executemany("INSERT INTO ws.roads VALUES (%s, %s, %s, %s)", ROADS)
        c.execute("SELECT graph.build()")
        apply(c)
        yield db, c, writer, reader


def weighted(c, src, dst, mode=None):
    """(node_id, edge_weight, cost, total_cost) of each step; ``mode``: the
    invalid_weights argument (None: left out)."""
    extra, params = ("", [str(src), str(dst)]) if mode is None else (", invalid_weights => %s",
                                                                     [str(src), str(dst), mode])
    return [tuple(r) for r in c.execute(
        "SELECT node_id, edge_weight, cost, total_cost FROM graph.weighted_shortest_path("
        "'ws.spots', %s, 'ws.spots', %s" + extra + ") ORDER BY step", params)]


def assert_refused(c, src, dst, mode=None):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        weighted(c, src, dst, mode)
    assert "edge weight" in str(info.value) and "reachable from the source" in str(info.value), info.value
    assert "invalid_weights => 'skip'" in (info.value.diag.message_hint or ""), info.value.diag.message_hint


def write_weight(dsn, writer, road, text):
    with as_role(dsn, writer) as w:
        w.execute("UPDATE ws.roads SET cost = %s::float8 WHERE id = %s", [text, road])


@contextlib.contextmanager
def read_only(dsn, role):
    """A connection of ``role`` in a READ ONLY transaction: its reads cannot apply,
    so they fold the pending rows in memory."""
    with as_role(dsn, role) as r:
        r.execute("BEGIN READ ONLY")
        yield r
        r.execute("ROLLBACK")


@pytest.mark.parametrize("text", UNUSABLE)
def test_a_writers_unusable_weight_off_the_cheapest_path_is_skipped(graph, text):
    """The writer makes 1 -> 3 unusable: off the cheapest path from 1 to 4, but in
    the search's reach. The default (and 'error') still refuse; 'skip' answers the
    cheapest path, and no row to 3, which only that edge leads to. Applied (the
    overlay) and built (the arrays) alike."""
    dsn, c, writer, reader = graph
    write_weight(dsn, writer, 3, text)
    assert apply(c)["failed"] == 0
    for stage in ("overlay", "built"):
        if stage == "built":
            c.execute("SELECT graph.build()")
        assert verify(c) == []
        with as_role(dsn, reader) as r:
            assert_refused(r, 1, 4)
            assert_refused(r, 1, 4, "error")
            assert_refused(r, 1, 3)
            assert weighted(r, 1, 4, "skip") == CHEAPEST, stage
            assert weighted(r, 1, 3, "skip") == [], stage  # the bad edge is the only way
            assert weighted(r, 3, 4, "skip") == [("3", None, 0.0, 5.0), ("4", 5.0, 5.0, 5.0)], stage
            assert weighted(r, 3, 4) == weighted(r, 3, 4, "skip")  # out of reach: no error either way
            assert weighted(r, 1, 5, "skip") == []
    # The writer mends the row: both modes answer the same again.
    write_weight(dsn, writer, 3, "1")
    apply(c)
    with as_role(dsn, reader) as r:
        assert weighted(r, 1, 3) == weighted(r, 1, 3, "skip") == [("1", None, 0.0, 1.0), ("3", 1.0, 1.0, 1.0)]


@pytest.mark.parametrize("text", UNUSABLE)
def test_a_pending_unusable_weight_is_skipped_by_a_folding_read(graph, text):
    """The same while the writer's rows are still pending: a read-only reader
    folds them. An update of 1 -> 3 and a new parallel edge 2 -> 4 (which, at -1,
    would be the cheaper of the two): 'skip' takes the other 2 -> 4."""
    dsn, c, writer, reader = graph
    write_weight(dsn, writer, 3, text)
    with as_role(dsn, writer) as w:
        w.execute("INSERT INTO ws.roads VALUES (8, 2, 4, %s::float8)", [text])
    with read_only(dsn, reader) as r:
        assert_refused(r, 1, 4)  # the rows folded: applied, the graph has no such edge
    with read_only(dsn, reader) as r:
        assert weighted(r, 1, 4, "skip") == CHEAPEST
        assert weighted(r, 1, 3, "skip") == []
        assert weighted(r, 2, 4, "skip") == [("2", None, 0.0, 1.0), ("4", 1.0, 1.0, 1.0)]
    assert apply(c)["failed"] == 0
    with as_role(dsn, reader) as r:
        assert weighted(r, 1, 4, "skip") == CHEAPEST
        assert_refused(r, 1, 4)


def test_skip_under_row_level_security(graph):
    """Row-level security on both tables: the reader sees neither spot 5 nor road 7,
    which carry a cheaper way from 1 to 4 (1 -> 5 -> 4 costs 0.2, 1 -> 4 0.5).
    With the writer's NaN on 1 -> 3, 'skip' gives the reader the cheapest path over
    what it sees, and the superuser the one over all. The writer's next change (2 -> 4
    NaN, 1 -> 3 mended) pending: a read-write read of the reader applies it first
    (pending rows of a table whose policy applies to the reader are not folded) and
    answers the same. Then with the policy of the node table only: a read-only
    read folds the writer's pending rows of the join table under the node table's
    policy."""
    dsn, c, writer, reader = graph
    c.execute("INSERT INTO ws.roads VALUES (5, 1, 5, 0.1), (6, 5, 4, 0.1), (7, 1, 4, 0.5)")
    c.execute("ALTER TABLE ws.spots ENABLE ROW LEVEL SECURITY")
    c.execute("ALTER TABLE ws.roads ENABLE ROW LEVEL SECURITY")
    write_weight(dsn, writer, 3, "NaN")
    apply(c)
    with as_role(dsn, reader) as r:
        assert [i for (i,) in r.execute("SELECT id FROM ws.roads ORDER BY id")] == [1, 2, 3, 4, 5, 6]
        assert_refused(r, 1, 4)
        assert weighted(r, 1, 4, "skip") == CHEAPEST
        assert weighted(r, 1, 3, "skip") == []
    assert [n for n, *_ in weighted(c, 1, 4, "skip")] == ["1", "5", "4"]
    write_weight(dsn, writer, 2, "NaN")
    write_weight(dsn, writer, 3, "1")
    via_3 = [("1", None, 0.0, 6.0), ("3", 1.0, 1.0, 6.0), ("4", 5.0, 6.0, 6.0)]
    with as_role(dsn, reader) as r:
        assert weighted(r, 1, 4, "skip") == via_3
        assert weighted(r, 2, 4, "skip") == []
        assert_refused(r, 1, 4)
    assert [n for n, *_ in weighted(c, 1, 4, "skip")] == ["1", "5", "4"]
    c.execute("ALTER TABLE ws.roads DISABLE ROW LEVEL SECURITY")
    write_weight(dsn, writer, 7, "-1")  # 1 -> 4 direct, now out of the reader's policy's reach
    write_weight(dsn, writer, 2, "1")
    with read_only(dsn, reader) as r:
        assert_refused(r, 1, 4)  # the folded -1 on 1 -> 4
    with read_only(dsn, reader) as r:
        assert weighted(r, 1, 4, "skip") == CHEAPEST  # 1 -> 4 skipped, 5 hidden
        assert weighted(r, 1, 5, "skip") == []
    assert [n for n, *_ in weighted(c, 1, 4, "skip")] == ["1", "5", "4"]


def test_invalid_weights_takes_error_or_skip(graph):
    """Another value is 22023, its hint listing the two; NULL is the default."""
    dsn, c, writer, reader = graph
    with as_role(dsn, reader) as r:
        for bad in ("ignore", "SKIP", ""):
            with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
                weighted(r, 1, 4, bad)
            assert "invalid_weights" in str(info.value), info.value
            hint = info.value.diag.message_hint or ""
            assert "'error'" in hint and "'skip'" in hint, hint
        assert r.execute("SELECT count(*) FROM graph.weighted_shortest_path('ws.spots', '1', 'ws.spots', '4',"
                         " invalid_weights => NULL)").fetchone()[0] == 3
    write_weight(dsn, writer, 3, "-1")
    apply(c)
    with as_role(dsn, reader) as r, pytest.raises(psycopg.errors.InvalidParameterValue):
        r.execute("SELECT * FROM graph.weighted_shortest_path('ws.spots', '1', 'ws.spots', '4',"
                  " invalid_weights => NULL)")


def test_a_join_row_changed_since_the_last_apply_carries_neither_edge_for_a_read_that_cannot_apply(graph):
    """Row-level security on the join table applies to the reader, so its pending rows
    are never folded; a read that cannot apply shows it as last applied, with one
    WARNING, but its edges are those the rows the reader sees now carry, matched
    exactly (ends, weight, label) against the applied ones: road 1's new weight is
    pending, and the applied edge (weight 1) no longer matches its row. The reader
    gets neither form of 1 -> 2 until the next apply (README, Freshness)."""
    dsn, c, writer, reader = graph
    c.execute("ALTER TABLE ws.roads ENABLE ROW LEVEL SECURITY")
    try:
        write_weight(dsn, writer, 1, "3")
        with read_only(dsn, reader) as r:
            warnings = []
            r.add_notice_handler(lambda d: warnings.append(d.message_primary)
                                 if d.severity_nonlocalized == "WARNING" else None)
            assert weighted(r, 1, 2) == []
            assert r.execute("SELECT count(*) FROM graph.shortest_path('ws.spots', '1', 'ws.spots', '2')"
                             ).fetchone()[0] == 0
            assert weighted(r, 1, 3) == [("1", None, 0.0, 1.0), ("3", 1.0, 1.0, 1.0)]  # an unchanged row's edge
            assert warnings and all(reader in w for w in warnings), warnings
        apply(c)
        with read_only(dsn, reader) as r:
            assert weighted(r, 1, 2) == [("1", None, 0.0, 3.0), ("2", 3.0, 3.0, 3.0)]
    finally:
        c.execute("ALTER TABLE ws.roads DISABLE ROW LEVEL SECURITY")
