"""Edge weights that weighted_shortest_path cannot use: NaN, +Infinity, -Infinity,
negative numbers, and numeric values beyond float8's range. One rule (README
"Weights"), the same through insert, update, delete, build and a read that folds
pending rows: the edge is kept with its weight (NaN counted as +Infinity, a
number beyond float8 as +-Infinity), verify() finds nothing, unweighted reads use
the edge, and weighted_shortest_path fails with 22023 naming the edge and its
weight column whenever the search can reach it, never answering as if a path
were missing. NULL counts as 1."""

import math

import psycopg
import pytest

from conftest import apply, connect, verify

SCHEMA = """
CREATE TABLE spots (id int PRIMARY KEY, name text);
CREATE TABLE roads (id int PRIMARY KEY, a int, b int, cost float8, kind text);
CREATE TABLE tolls (id int PRIMARY KEY, a int, b int, fee numeric);
SELECT graph.add_table('spots', columns => '{name}');
SELECT graph.add_edge('spots', 'a', 'spots', to_column => 'b', via_table => 'roads',
                      weight_column => 'cost', label_column => 'kind');
SELECT graph.add_edge('spots', 'a', 'spots', to_column => 'b', via_table => 'tolls',
                      weight_column => 'fee', label => 'toll');
"""

# (table, weight text, the weight the graph keeps)
UNUSABLE = [
    ("roads", "NaN", math.inf),
    ("roads", "Infinity", math.inf),
    ("roads", "-Infinity", -math.inf),
    ("roads", "-2.5", -2.5),
    ("tolls", "NaN", math.inf),
    ("tolls", "Infinity", math.inf),
    ("tolls", "-Infinity", -math.inf),
    ("tolls", "-2", -2.0),
    ("tolls", "1e400", math.inf),
    ("tolls", "-1e400", -math.inf),
]
IDS = ["%s-%s" % (t, w) for t, w, _ in UNUSABLE]


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("SELECT graph.build()")
    return db


@pytest.fixture
def conn(graph_db):
    """Spots 1..4; roads 1 -> 2 (cost 1) and 3 -> 4 (cost 2), built and applied."""
    with connect(graph_db) as c:
        c.execute("TRUNCATE spots, roads, tolls")
        c.execute("INSERT INTO spots SELECT g, 's' || g FROM generate_series(1, 4) AS g")
        c.execute("INSERT INTO roads VALUES (1, 1, 2, 1, 'lane'), (2, 3, 4, 2, 'lane')")
        c.execute("SELECT graph.build()")
        yield c


def weighted(c, src, dst):
    return c.execute("""SELECT node_id, edge_weight, total_cost
                        FROM graph.weighted_shortest_path('spots', %s, 'spots', %s)""",
                     [str(src), str(dst)]).fetchall()


def unweighted(c, src, dst):
    return [r[0] for r in c.execute(
        "SELECT node_id FROM graph.shortest_path('spots', %s, 'spots', %s)", [str(src), str(dst)])]


def overlay_weights(c, table):
    """The weights of the edges the overlay adds for ``table``."""
    label = "toll" if table == "tolls" else "lane"
    return [w for (w,) in c.execute(
        """SELECT o.weight FROM graph._edge_overlay AS o JOIN graph._labels AS l USING (label_id)
           WHERE l.label = %s AND o.op = '+' ORDER BY o.id""", [label])]


def assert_refused(c, src, dst):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        weighted(c, src, dst)
    message = str(info.value)
    assert "reachable from the source" in message, message
    detail = info.value.diag.message_detail or ""
    assert "(public.spots, 2)" in detail and "(public.spots, 3)" in detail, detail
    hint = info.value.diag.message_hint or ""
    assert "column cost of public.roads" in hint or "column fee of public.tolls" in hint, hint


def add_bad_edge(c, table, weight_text):
    """The edge 2 -> 3, the only way from 1 to 3, with the unusable weight."""
    if table == "roads":
        c.execute("INSERT INTO roads VALUES (9, 2, 3, %s::float8, 'lane')", [weight_text])
    else:
        c.execute("INSERT INTO tolls VALUES (9, 2, 3, %s::numeric)", [weight_text])


def assert_held(c, kept):
    """verify() finds nothing; unweighted reads use the edge; weighted ones refuse it
    where the search reaches it and answer where it does not."""
    assert verify(c) == []
    assert unweighted(c, 1, 4) == ["1", "2", "3", "4"]
    assert weighted(c, 3, 4) == [("3", None, 2.0), ("4", 2.0, 2.0)]  # the bad edge is out of reach
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        weighted(c, 1, 2)  # in reach from 1, even though not on the cheapest path to 2


@pytest.mark.parametrize(("table", "text", "kept"), UNUSABLE, ids=IDS)
def test_an_unusable_weight_inserted(conn, table, text, kept):
    add_bad_edge(conn, table, text)
    assert apply(conn)["failed"] == 0
    assert overlay_weights(conn, table) == [kept]  # replay keeps what a build reads
    assert_held(conn, kept)
    assert_refused(conn, 1, 3)
    conn.execute("DELETE FROM %s WHERE id = 9" % table)
    apply(conn)
    assert verify(conn) == []
    assert weighted(conn, 1, 2) == [("1", None, 1.0), ("2", 1.0, 1.0)]
    assert weighted(conn, 1, 3) == []  # now truly unreachable


@pytest.mark.parametrize(("table", "text", "kept"), UNUSABLE, ids=IDS)
def test_an_unusable_weight_updated_in_and_out(conn, table, text, kept):
    if table == "roads":
        conn.execute("INSERT INTO roads VALUES (9, 2, 3, 5, 'lane')")
    else:
        conn.execute("INSERT INTO tolls VALUES (9, 2, 3, 5)")
    apply(conn)
    assert weighted(conn, 1, 3)[-1] == ("3", 5.0, 6.0)
    weight = "cost" if table == "roads" else "fee"
    cast = "float8" if table == "roads" else "numeric"
    conn.execute("UPDATE %s SET %s = %%s::%s WHERE id = 9" % (table, weight, cast), [text])
    apply(conn)
    assert_held(conn, kept)
    # An update that leaves the edge as it is changes no edge, NaN included (NaN
    # equals nothing, not even itself: kept as NaN, its '-' would never meet its '+').
    conn.execute("UPDATE %s SET id = 10 WHERE id = 9" % table)
    apply(conn)
    assert_held(conn, kept)
    conn.execute("UPDATE %s SET %s = 4 WHERE id = 10" % (table, weight))
    apply(conn)
    assert verify(conn) == []
    assert weighted(conn, 1, 3)[-1] == ("3", 4.0, 5.0)


@pytest.mark.parametrize(("table", "text", "kept"), UNUSABLE, ids=IDS)
def test_an_unusable_weight_read_by_build(conn, table, text, kept):
    add_bad_edge(conn, table, text)
    conn.execute("SELECT graph.build()")  # reads the row: never a cast error
    assert_held(conn, kept)
    assert_refused(conn, 1, 3)


@pytest.mark.parametrize(("table", "text", "kept"), UNUSABLE, ids=IDS)
def test_a_read_that_folds_the_pending_row_refuses_it_too(conn, graph_db, table, text, kept):
    add_bad_edge(conn, table, text)
    with connect(graph_db) as reader:
        reader.execute("BEGIN READ ONLY")  # cannot apply: folds the pending row in memory
        assert unweighted(reader, 1, 3) == ["1", "2", "3"]
        assert weighted(reader, 3, 4)[-1] == ("4", 2.0, 2.0)
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            weighted(reader, 1, 3)
        reader.execute("ROLLBACK")


def test_null_counts_as_one(conn):
    conn.execute("INSERT INTO roads VALUES (9, 2, 3, NULL, 'lane')")
    conn.execute("INSERT INTO tolls VALUES (9, 3, 1, NULL)")
    apply(conn)
    assert verify(conn) == []
    assert weighted(conn, 1, 3)[-1] == ("3", 1.0, 2.0)
    conn.execute("SELECT graph.build()")
    assert verify(conn) == []
    assert weighted(conn, 3, 2)[-1] == ("2", 1.0, 2.0)


def test_zero_and_tiny_weights_are_usable(conn):
    conn.execute("INSERT INTO roads VALUES (9, 2, 3, 0, 'lane')")
    conn.execute("INSERT INTO tolls VALUES (9, 3, 1, 1e-400), (10, 1, 3, 5e-324)")
    apply(conn)
    assert verify(conn) == []
    assert sorted(overlay_weights(conn, "tolls")) == [0.0, 5e-324]  # closer to 0 than float8: 0
    conn.execute("SELECT graph.build()")
    assert verify(conn) == []
    assert weighted(conn, 1, 3) == [("1", None, 5e-324), ("3", 5e-324, 5e-324)]
    assert weighted(conn, 2, 1) == [("2", None, 0.0), ("3", 0.0, 0.0), ("1", 0.0, 0.0)]


# Finite weights whose sum passes float8's largest value (about 1.8e308).
HUGE = 1e308


def assert_cost_out_of_range(c, src, dst):
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as info:
        weighted(c, src, dst)
    message = str(info.value)
    assert "(public.spots, %s)" % src in message and "(public.spots, %s)" % dst in message, message
    assert "double precision" in message, message


def test_a_path_whose_cost_passes_float8_is_an_error(conn):
    """Two finite weights that sum past float8: the cheapest path from 1 to 3
    costs 2e308, which no total_cost can hold. Never a path of cost Infinity
    (two such costs compare equal, so the path could be any of them), nor no
    path as if 3 were unreachable: 22003 naming the path's ends."""
    conn.execute("UPDATE roads SET cost = %s WHERE id = 1", [HUGE])
    conn.execute("INSERT INTO roads VALUES (9, 2, 3, %s, 'lane')", [HUGE])
    conn.execute("INSERT INTO tolls VALUES (9, 2, 3, 1.7e308)")  # dearer still, also past the range
    apply(conn)
    assert weighted(conn, 1, 2) == [("1", None, HUGE), ("2", HUGE, HUGE)]
    assert_cost_out_of_range(conn, 1, 3)
    assert_cost_out_of_range(conn, 1, 4)  # 3 -> 4 costs 2 more
    conn.execute("SELECT graph.build()")
    assert_cost_out_of_range(conn, 1, 3)
    conn.execute("INSERT INTO spots VALUES (5, 's5')")
    apply(conn)
    assert weighted(conn, 1, 5) == []  # unreachable, though the search passed float8 on its way
    conn.execute("INSERT INTO roads VALUES (10, 1, 3, 7, 'lane')")
    apply(conn)
    assert weighted(conn, 1, 3) == [("1", None, 7.0), ("3", 7.0, 7.0)]  # a cheaper way in range


def test_a_cost_past_float8_with_a_negative_weight_out_of_reach(conn):
    """The same when a negative weight elsewhere in the graph sends the read to
    the search that checks which negative edges it can reach."""
    conn.execute("INSERT INTO spots VALUES (5, 's5'), (6, 's6')")
    conn.execute("INSERT INTO tolls VALUES (8, 5, 6, -1)")
    conn.execute("UPDATE roads SET cost = %s WHERE id = 1", [HUGE])
    conn.execute("INSERT INTO roads VALUES (9, 2, 3, %s, 'lane')", [HUGE])
    apply(conn)
    assert weighted(conn, 1, 2) == [("1", None, HUGE), ("2", HUGE, HUGE)]
    assert_cost_out_of_range(conn, 1, 3)
    assert weighted(conn, 1, 5) == []
