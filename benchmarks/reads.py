#!/usr/bin/env python3
"""Graph reads side by side with their peers, on one generated graph, in one run.

    .venv/bin/python benchmarks/reads.py [--quick] [--nodes N --edges M] [--out FILE]

A graph of 200k nodes / 1M edges (--quick: 20k / 100k) stored as ordinary
tables (bench.nodes; bench.links, a join table with weight and label columns),
registered and built. Then, side by side:

- weighted_shortest_path vs pgr_dijkstra (goal: >= 10x faster)
- connected_components vs pgr_connectedComponents (goal: >= 10x faster)
- traverse depth 2, 3, 6 vs a recursive CTE (goal: >= 10x faster at depth 6,
  at most 2 ms slower at depth 2)
- shortest_path p50 / p95 over 100 random pairs
- the first read in a fresh backend (cold cache) (goal: <= 250 ms)
- the same reads with 10k pending log rows under 'apply_pending_sync': the
  first read applies them; in a read-only transaction the read folds them in
  memory instead

Starts a throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
Writes the table to benchmarks/READS.md (or --out).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, database, server  # noqa: E402

DB = "graphsync_bench_reads"

# pgRouting is the peer of the weighted path and component reads.
SCHEMA = "\nCREATE EXTENSION IF NOT EXISTS pgrouting CASCADE;" + GRAPH_SCHEMA

PGR_EDGES = "SELECT id, src AS source, dst AS target, weight AS cost FROM bench.links"

CTE = """
WITH RECURSIVE walk (id, depth) AS (
    SELECT %(seed)s::int, 0
    UNION
    SELECT l.dst, w.depth + 1 FROM walk AS w JOIN bench.links AS l ON l.src = w.id WHERE w.depth < %(depth)s
)
SELECT count(*) FROM (SELECT id, min(depth) FROM walk GROUP BY id) AS reached
"""

TRAVERSE = """
SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => %(depth)s, max_nodes => 1000000)
"""

WSP = """
SELECT max(total_cost) FROM graph.weighted_shortest_path('bench.nodes', %(a)s, 'bench.nodes', %(b)s)
"""

PGR_DIJKSTRA = """
SELECT max(agg_cost) FROM pgr_dijkstra(%(edges)s, %(a)s::bigint, %(b)s::bigint, directed => true)
"""

SP = "SELECT count(*) FROM graph.shortest_path('bench.nodes', %(a)s, 'bench.nodes', %(b)s)"


def timed(conn, sql, params=None):
    start = time.perf_counter()
    row = conn.execute(sql, params).fetchone()
    return time.perf_counter() - start, row[0] if row else None


def median_ms(values):
    return statistics.median(values) * 1000


def pct_ms(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


class Bench:
    def __init__(self, dsn, nodes, edges, repeat):
        self.dsn, self.nodes, self.edges, self.repeat = dsn, nodes, edges, repeat
        self.rows = []  # (operation, graphsync, peer, ratio text, goal, met)
        self.notes = []
        self.rng = random.Random(7)

    def connect(self):
        return psycopg.connect(self.dsn, autocommit=True)

    def seed(self):
        return str(self.rng.randint(1, self.nodes))

    def row(self, operation, ours, peer, goal, met):
        ratio = "%.1f× faster" % (peer / ours) if peer and ours else ""
        self.rows.append((operation, "%.1f ms" % ours, "%.1f ms" % peer if peer else "–", ratio, goal,
                          {True: "met", False: "**missed**", None: "–"}[met]))
        print("%-58s ours %9.1f ms  peer %9s  %s" % (operation, ours, "%.1f ms" % peer if peer else "-", ratio),
              flush=True)

    def setup(self):
        with self.connect() as c:
            start = time.perf_counter()
            c.execute(SCHEMA.format(nodes=self.nodes, edges=self.edges))
            load = time.perf_counter() - start
            start = time.perf_counter()
            c.execute("SELECT graph.build()")
            build = time.perf_counter() - start
        self.notes.append("graph: %d nodes, %d edges (bench.links, weights 1..10, 3 labels); load %.1f s,"
                          " graph.build() %.1f s" % (self.nodes, self.edges, load, build))
        print(self.notes[-1], flush=True)

    def weighted(self):
        pairs = [(self.seed(), self.seed()) for _ in range(self.repeat)]
        with self.connect() as c:
            timed(c, WSP, {"a": pairs[0][0], "b": pairs[0][1]})  # warm the backend cache
            ours, peer = [], []
            for a, b in pairs:
                t1, cost1 = timed(c, WSP, {"a": a, "b": b})
                t2, cost2 = timed(c, PGR_DIJKSTRA, {"edges": PGR_EDGES, "a": int(a), "b": int(b)})
                if (cost1 is None) != (cost2 is None) or (cost1 is not None and abs(cost1 - cost2) > 1e-6):
                    raise SystemExit("cost mismatch %s -> %s: %s vs %s" % (a, b, cost1, cost2))
                ours.append(t1)
                peer.append(t2)
        o, p = median_ms(ours), median_ms(peer)
        self.row("weighted_shortest_path vs pgr_dijkstra (median of %d pairs)" % len(pairs), o, p,
                 "≥ 10× faster", p / o >= 10)

    def components(self):
        with self.connect() as c:
            timed(c, "SELECT count(*) FROM graph.component_stats()")
            ours, peer = [], []
            for _ in range(max(3, self.repeat // 3)):
                t1, n1 = timed(c, "SELECT count(*) FROM graph.connected_components()")
                t2, n2 = timed(c, "SELECT count(*) FROM pgr_connectedComponents(%s)", [PGR_EDGES])
                ours.append(t1)
                peer.append(t2)
        self.notes.append("connected_components returns %d rows (every node); pgr_connectedComponents %d"
                          " (nodes with an edge)" % (n1, n2))
        o, p = median_ms(ours), median_ms(peer)
        self.row("connected_components vs pgr_connectedComponents", o, p, "≥ 10× faster", p / o >= 10)

    def traversals(self):
        with self.connect() as c:
            timed(c, TRAVERSE, {"seed": "1", "depth": 1})
            for depth in (2, 3, 6):
                seeds = [self.seed() for _ in range(self.repeat)]
                ours, peer, sizes = [], [], []
                for s in seeds:
                    t1, n1 = timed(c, TRAVERSE, {"seed": s, "depth": depth})
                    t2, n2 = timed(c, CTE, {"seed": int(s), "depth": depth})
                    if n1 != n2:
                        raise SystemExit("traverse %s depth %d: %s nodes vs CTE %s" % (s, depth, n1, n2))
                    ours.append(t1)
                    peer.append(t2)
                    sizes.append(n1)
                o, p = median_ms(ours), median_ms(peer)
                if depth == 2:
                    goal, met = "≤ 2 ms slower", o - p <= 2
                elif depth == 6:
                    goal, met = "≥ 10× faster", p / o >= 10
                else:
                    goal, met = "", None
                self.row("traverse depth %d vs recursive CTE (median %d nodes)"
                         % (depth, statistics.median(sizes)), o, p, goal, met)

    def paths(self):
        with self.connect() as c:
            timed(c, SP, {"a": "1", "b": "2"})
            times = [timed(c, SP, {"a": self.seed(), "b": self.seed()})[0] for _ in range(100)]
        self.row("shortest_path p50 (100 random pairs)", median_ms(times), None, "", None)
        self.row("shortest_path p95 (100 random pairs)", pct_ms(times, 95), None, "", None)

    def cold(self):
        times = []
        for _ in range(5):
            with self.connect() as c:
                times.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
        self.row("first read in a fresh backend (cold cache, traverse depth 2)", median_ms(times), None,
                 "≤ 250 ms", median_ms(times) <= 250)

    def pending(self):
        n = 10_000
        top = self.edges
        with self.connect() as c, self.connect() as w:
            c.execute("SELECT graph.apply_sync()")
            base = [timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0] for _ in range(self.repeat)]
            applied, folded, after = [], [], []
            for _ in range(3):
                w.execute(
                    "INSERT INTO bench.links SELECT g, 1 + floor(random() * %(n)s)::int,"
                    " 1 + floor(random() * %(n)s)::int, 1.0, 'a' FROM generate_series(%(lo)s, %(hi)s) AS g",
                    {"n": self.nodes, "lo": top + 1, "hi": top + n})
                top += n
                applied.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                after.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                w.execute(
                    "INSERT INTO bench.links SELECT g, 1 + floor(random() * %(n)s)::int,"
                    " 1 + floor(random() * %(n)s)::int, 1.0, 'a' FROM generate_series(%(lo)s, %(hi)s) AS g",
                    {"n": self.nodes, "lo": top + 1, "hi": top + n})
                top += n
                with c.transaction():
                    c.execute("SET TRANSACTION READ ONLY")
                    folded.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                c.execute("SELECT graph.apply_sync()")
                timed(c, TRAVERSE, {"seed": "1", "depth": 1})
        b = median_ms(base)
        self.row("traverse depth 2, nothing pending (baseline)", b, None, "", None)
        self.row("… first read after 10k pending rows (applies them)", median_ms(applied), None,
                 "+%.0f ms" % (median_ms(applied) - b), None)
        self.row("… the next read (cached view)", median_ms(after), None, "+%.1f ms" % (median_ms(after) - b), None)
        self.row("… 10k pending in a READ ONLY transaction (folded in memory)", median_ms(folded), None,
                 "+%.0f ms" % (median_ms(folded) - b), None)

    def write(self, path, quick):
        lines = [
            "# Graph reads: benchmark results",
            "",
            "Written by `benchmarks/reads.py%s` (one run, medians; ratios are peer time / graphsync time)."
            % (" --quick" if quick else ""),
            "",
            *("- " + n for n in self.notes),
            "",
            "| operation | graphsync | peer | ratio | goal | |",
            "| --- | ---: | ---: | --- | --- | --- |",
            *("| %s | %s | %s | %s | %s | %s |" % r for r in self.rows),
            "",
        ]
        Path(path).write_text("\n".join(lines))
        print("wrote", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k nodes / 100k edges, fewer repetitions")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--edges", type=int)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "READS.md"))
    args = parser.parse_args(argv)
    nodes = args.nodes or (20_000 if args.quick else 200_000)
    edges = args.edges or (100_000 if args.quick else 1_000_000)
    repeat = 5 if args.quick else 11
    with server() as admin, database(admin, DB) as dsn:
        b = Bench(dsn, nodes, edges, repeat)
        b.setup()
        b.cold()
        b.traversals()
        b.paths()
        b.weighted()
        b.components()
        b.pending()
        b.write(args.out, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
