"""Graph reads on a real server, against oracles: NetworkX for traversal depths,
path lengths and costs and components on random graphs, before and after random
mutations that are pending, applied into the overlay, and tombstoned; pgRouting's
pgr_dijkstra for weighted costs."""

import math
import random
import time

import networkx as nx
import psycopg
import pytest

from conftest import apply, connect

N = 60

SCHEMA = """
CREATE SCHEMA g;
CREATE TABLE g.nodes (id int PRIMARY KEY, name text NOT NULL, status text NOT NULL);
CREATE TABLE g.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, weight numeric, kind text NOT NULL);
CREATE TABLE g.friends (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
"""

REGISTER = """
SELECT graph.add_table('g.nodes', columns => '{name}');
SELECT graph.add_filter_column('g.nodes', 'status');
SELECT graph.add_edge('g.nodes', 'src', 'g.nodes', to_column => 'dst', via_table => 'g.links',
                      weight_column => 'weight', label_column => 'kind');
SELECT graph.add_edge('g.nodes', 'a', 'g.nodes', to_column => 'b', via_table => 'g.friends',
                      label => 'friend', bidirectional => true);
SELECT graph.build();
"""


class Model:
    """The source tables as Python values, and the NetworkX graph they define."""

    def __init__(self, conn):
        self.nodes = {r[0]: r[1] for r in conn.execute("SELECT id, status FROM g.nodes")}
        self.links = conn.execute("SELECT id, src, dst, weight, kind FROM g.links").fetchall()
        self.friends = conn.execute("SELECT id, a, b FROM g.friends").fetchall()

    def edges(self, kinds=None):
        """(u, v, weight) of every edge whose two ends exist."""
        out = []
        for _, s, d, w, k in self.links:
            if (kinds is None or k in kinds) and s in self.nodes and d in self.nodes:
                out.append((s, d, 1.0 if w is None else float(w)))
        if kinds is None or "friend" in kinds:
            for _, a, b in self.friends:
                if a in self.nodes and b in self.nodes:
                    out += [(a, b, 1.0), (b, a, 1.0)]
        return out

    def digraph(self, direction="out", kinds=None):
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for u, v, w in self.edges(kinds):
            pairs = {"out": [(u, v)], "in": [(v, u)], "any": [(u, v), (v, u)]}[direction]
            for a, b in pairs:
                if a != b and (not g.has_edge(a, b) or g.edges[a, b]["weight"] > w):
                    g.add_edge(a, b, weight=w)
        return g


def make_graph(conn, seed):
    rng = random.Random(seed)
    conn.execute("DROP SCHEMA IF EXISTS g CASCADE")
    conn.execute("SELECT graph.remove_table(table_oid::regclass, cascade => true) FROM graph._node_tables")
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO g.nodes SELECT g, 'n' || g, CASE WHEN g %% 3 = 0 THEN 'done' ELSE 'open' END"
                 " FROM generate_series(1, %s) AS g", [N])
    links = [(i, rng.randint(1, N), rng.randint(1, N), rng.choice([None, 0, 1, 2.5, 4]), rng.choice("abc"))
             for i in range(1, 3 * N)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO g.links VALUES (%s, %s, %s, %s, %s)", links)
        cur.executemany("INSERT INTO g.friends VALUES (%s, %s, %s)",
                        [(i, rng.randint(1, N), rng.randint(1, N)) for i in range(1, N // 2)])
    conn.execute(REGISTER)


def mutate(conn, rng, top=[1000]):  # noqa: B006 - a counter for fresh ids
    """Random inserts, updates, deletes of links and nodes (deleted nodes are tombstoned)."""
    for _ in range(25):
        top[0] += 1
        choice = rng.random()
        if choice < 0.4:
            conn.execute("INSERT INTO g.links VALUES (%s, %s, %s, %s, %s)",
                         [top[0], rng.randint(1, N + 5), rng.randint(1, N + 5), rng.choice([None, 1, 3]),
                          rng.choice("abc")])
        elif choice < 0.55:
            conn.execute("UPDATE g.links SET dst = %s, weight = %s WHERE id = (SELECT min(id) FROM g.links"
                         " WHERE id >= %s)", [rng.randint(1, N), rng.choice([0, 2]), rng.randint(1, 3 * N)])
        elif choice < 0.7:
            conn.execute("DELETE FROM g.links WHERE id = (SELECT min(id) FROM g.links WHERE id >= %s)",
                         [rng.randint(1, 3 * N)])
        elif choice < 0.8:
            conn.execute("INSERT INTO g.nodes VALUES (%s, 'new', 'open') ON CONFLICT DO NOTHING",
                         [rng.randint(N + 1, N + 5)])
        elif choice < 0.9:
            conn.execute("DELETE FROM g.nodes WHERE id = %s", [rng.randint(1, N)])
        else:
            conn.execute("INSERT INTO g.friends VALUES (%s, %s, %s)", [top[0], rng.randint(1, N), rng.randint(1, N)])


def traverse_depths(conn, seed, depth, direction, kinds=None):
    rows = conn.execute("SELECT node_id, depth FROM graph.traverse('g.nodes', %s, max_depth => %s,"
                        " direction => %s, edge_types => %s)", [str(seed), depth, direction, kinds]).fetchall()
    return {int(n): d for n, d in rows}


def check_against_oracle(conn, rng):
    m = Model(conn)
    alive = sorted(m.nodes)
    for direction in ("out", "in", "any"):
        for kinds in (None, ["a", "friend"]):
            g = m.digraph(direction, kinds)
            for seed in rng.sample(alive, 4):
                expected = nx.single_source_shortest_path_length(g, seed, cutoff=3)
                assert traverse_depths(conn, seed, 3, direction, kinds) == expected
    g = m.digraph("out")
    for _ in range(12):
        a, b = rng.choice(alive), rng.choice(alive)
        steps = conn.execute("SELECT count(*) - 1 FROM graph.shortest_path('g.nodes', %s, 'g.nodes', %s)",
                             [str(a), str(b)]).fetchone()[0]
        cost = conn.execute("SELECT max(total_cost), count(*) FROM graph.weighted_shortest_path("
                            "'g.nodes', %s, 'g.nodes', %s)", [str(a), str(b)]).fetchone()
        if nx.has_path(g, a, b):
            assert steps == nx.shortest_path_length(g, a, b)
            assert math.isclose(cost[0], nx.dijkstra_path_length(g, a, b), abs_tol=1e-9)
        else:
            assert steps == -1 and cost == (None, 0)
    expected = {frozenset(c) for c in nx.weakly_connected_components(g)}
    rows = conn.execute("SELECT node_id, component FROM graph.connected_components()").fetchall()
    found = {}
    for node, comp in rows:
        found.setdefault(comp, set()).add(int(node))
    assert {frozenset(c) for c in found.values()} == expected
    sizes = conn.execute("SELECT size FROM graph.component_stats()").fetchall()
    assert [s for (s,) in sizes] == sorted((len(c) for c in expected), reverse=True)
    some = rng.choice(alive)
    members = {int(r[0]) for r in conn.execute("SELECT node_id FROM graph.component_of('g.nodes', %s)",
                                               [str(some)])}
    assert members == next(set(c) for c in expected if some in c)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reads_match_networkx_before_and_after_mutations(db, seed):
    rng = random.Random(seed)
    with connect(db) as c, connect(db) as reader:
        make_graph(c, seed)
        check_against_oracle(reader, rng)
        # Pending, read where nothing can be applied: folded in memory.
        mutate(c, rng)
        with reader.transaction():
            reader.execute("SET TRANSACTION READ ONLY")
            check_against_oracle(reader, rng)
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] > 0
        # Applied into the overlay (with tombstones), then read as applied.
        apply(c)
        reader.execute("SET graph.query_freshness = 'off'")
        check_against_oracle(reader, rng)
        # Pending again, caught up by the read itself: a read folds what is pending
        # while the last apply is less than a second old (graph._read_sync), so the
        # read comes more than a second after it.
        mutate(c, rng)
        reader.execute("RESET graph.query_freshness")
        time.sleep(1.2)
        check_against_oracle(reader, rng)
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM graph._edge_overlay").fetchone()[0] > 0
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE touched AND NOT alive").fetchone()[0] > 0


def test_weighted_costs_match_pgr_dijkstra(db):
    rng = random.Random(9)
    with connect(db) as c:
        make_graph(c, 9)
        c.execute("UPDATE g.links SET weight = 1 WHERE weight IS NULL")  # pgr_dijkstra needs a cost
        apply(c)
        c.execute("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE")
        for _ in range(15):
            a, b = rng.randint(1, N), rng.randint(1, N)
            ours = c.execute("SELECT max(total_cost) FROM graph.weighted_shortest_path("
                             "'g.nodes', %s, 'g.nodes', %s, edge_types => '{a,b,c}')", [str(a), str(b)]).fetchone()[0]
            theirs = c.execute("SELECT max(agg_cost) FROM pgr_dijkstra('SELECT id, src AS source, dst AS target,"
                               " weight::float8 AS cost FROM g.links', %s::bigint, %s::bigint, directed => true)",
                               [a, b]).fetchone()[0]
            if a == b:
                assert ours == 0.0
            else:
                assert (ours is None and theirs is None) or math.isclose(ours, theirs, abs_tol=1e-9)


def test_null_weight_counts_as_one_and_negative_weight_is_an_error(db):
    with connect(db) as c:
        make_graph(c, 4)
        c.execute("DELETE FROM g.links; DELETE FROM g.friends")
        c.execute("INSERT INTO g.links VALUES (1, 1, 2, NULL, 'a'), (2, 2, 3, 2, 'a')")
        rows = c.execute("SELECT node_id, edge_weight, cost, total_cost FROM graph.weighted_shortest_path("
                         "'g.nodes', '1', 'g.nodes', '3')").fetchall()
        assert rows == [("1", None, 0.0, 3.0), ("2", 1.0, 1.0, 3.0), ("3", 2.0, 3.0, 3.0)]
        c.execute("INSERT INTO g.links VALUES (3, 3, 4, -1, 'a')")
        # Any negative edge the search could use is an error, on the path or not.
        for dst in ("4", "3"):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="negative edge weight"):
                c.execute("SELECT * FROM graph.weighted_shortest_path('g.nodes', '1', 'g.nodes', %s)", [dst])
        # A negative edge the search cannot reach is not an error.
        assert c.execute("SELECT count(*) FROM graph.weighted_shortest_path('g.nodes', '3', 'g.nodes', '4',"
                         " direction => 'in')").fetchone()[0] == 0
