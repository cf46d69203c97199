#!/usr/bin/env python3
"""Graph reads side by side with their peers, on one generated graph, in one run.

    .venv/bin/python benchmarks/reads.py [--quick] [--nodes N --edges M] [--out FILE]
                                         [--only PHASE,...] [--repeat N]

A graph of 200k nodes / 1M edges (--quick: 20k / 100k) stored as ordinary
tables (bench.nodes; bench.links, a join table with weight and label columns),
registered and built. Then, side by side:

- weighted_shortest_path vs pgr_dijkstra (goal: >= 10x faster)
- connected_components vs pgr_connectedComponents (goal: >= 10x faster)
- traverse depth 2, 3, 6 vs a recursive CTE, from the same random seeds, the two
  alternating which goes first (goals: depth 2 and 3 within 1.5x of the CTE,
  depth 6 >= 3x faster), in a backend that has served reads before (it keeps the
  keys of the base: one read of 6 levels fills that here, as a pooled connection's
  first reads do; then some hundred unmeasured pairs of depth 2 reads warm both
  sides alike), and depth 2 again in a fresh backend (keys read from
  graph._nodes as they are met)
- shortest_path p50 / p95 over 100 random pairs
- the first read in a fresh backend (cold cache) (goal: <= 250 ms)
- the same reads with 10k pending log rows under 'apply_pending_sync': the
  first read applies them; in a read-only transaction the read folds them in
  memory instead
- a read-only read folding 100k pending log rows (edges // 10 with --quick or
  other sizes), and the read after it (goal: under 1 s)

Starts a throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
Writes the table to benchmarks/READS.md (or --out).

    .venv/bin/python benchmarks/reads.py --fold-only REVISION [--reps 3]

runs only the fold, side by side with REVISION's code installed in a second database
holding the same graph (the same pending rows on both, the order alternating every
round); prints its row and writes no file.

    .venv/bin/python benchmarks/reads.py --fold-updates-only REVISION [--reps 4]

the same for what a reader under writes folds: edges // 100 join-row updates (their
ends moved) onto the folded view it kept from its read before; with --fold-rows N, N
updates, each backend having folded 1,500 once before (as a reader under heavy writes
that once folded a large backlog: it holds the base's key index).

    .venv/bin/python benchmarks/reads.py --overlay-against REVISION [--reps 4]

depth-6 traversals over the graph with an edge overlay of about 5% of its edges (what
the graph holds between rebuilds), each in a fresh backend, side by side with
REVISION's code, and the recursive CTE from the same seeds.

    .venv/bin/python benchmarks/reads.py --at-rest-only REVISION [--reps 4]

the same for reads at rest (nothing pending): what a read's first statement costs.

    .venv/bin/python benchmarks/reads.py --traversals-against REVISION [--repeat N] [--out FILE]

traverse depth 2, 3 and 6 against the recursive CTE on both databases, from the
same random seeds: for each seed, each side in turn (the order alternating) runs
its traverse and its CTE (alternating which goes first), so both codes' ratios
come from one run under the same load; also this code's speed over REVISION's,
seed by seed. Writes the table to --out (default benchmarks/READS_TRAVERSALS.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import psycopg.sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, cpu_seconds, database, plot_ratios, png_beside, server  # noqa: E402

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

# --fold-updates-only: join rows' ends moved (each to another node; ``r`` the round)
MOVE_ENDS = """
UPDATE bench.links SET dst = 1 + (id::bigint * 104729 + %(r)s) %% %(n)s WHERE id BETWEEN %(lo)s AND %(hi)s
"""

WSP = """
SELECT max(total_cost) FROM graph.weighted_shortest_path('bench.nodes', %(a)s, 'bench.nodes', %(b)s)
"""

PGR_DIJKSTRA = """
SELECT max(agg_cost) FROM pgr_dijkstra(%(edges)s, %(a)s::bigint, %(b)s::bigint, directed => true)
"""

# Links lo..hi between random nodes below n: the pending rows of the pending and fold phases
# (the ids cast: a small graph's bind as smallint, for which generate_series has no form).
MORE_LINKS = ("INSERT INTO bench.links SELECT g, 1 + floor(random() * %(n)s)::int,"
              " 1 + floor(random() * %(n)s)::int, 1.0, 'a' FROM generate_series(%(lo)s::int, %(hi)s::int) AS g")
SP = "SELECT count(*) FROM graph.shortest_path('bench.nodes', %(a)s, 'bench.nodes', %(b)s)"

# The in-server CPU time per call of a batch of traversals (cte false) or CTEs from
# ``seeds``, in µs: each through a plan kept for the session, timed by the backend's
# thread CPU clock (benchmarks/reads.py --traversals-against).
CPU_BATCH = """
CREATE OR REPLACE FUNCTION pg_temp.cpu_batch(depth int, seeds text[], cte boolean) RETURNS float8
LANGUAGE plpython3u AS $$
import time
key = "cpu_batch_cte" if cte else "cpu_batch_traverse"
p = SD.get(key)
if p is None:
    if cte:
        p = plpy.prepare("WITH RECURSIVE walk (id, depth) AS (SELECT $1::int, 0 UNION SELECT l.dst, w.depth + 1"
                         " FROM walk AS w JOIN bench.links AS l ON l.src = w.id WHERE w.depth < $2)"
                         " SELECT count(*) AS n FROM (SELECT id, min(depth) FROM walk GROUP BY id) AS reached",
                         ["text", "int"])
    else:
        p = plpy.prepare("SELECT count(*) AS n FROM graph.traverse('bench.nodes', $1, max_depth => $2,"
                         " max_nodes => 1000000)", ["text", "int"])
    SD[key] = p
start = time.thread_time()
for s in seeds:
    plpy.execute(p, [s, depth])
return (time.thread_time() - start) / len(seeds) * 1e6
$$
"""


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
        self.ratios = []  # (operation, peer / graphsync median, low, high, wanted): the plot's bars
        self.notes = []
        self.load_before = "/".join("%.1f" % x for x in os.getloadavg())
        self.repeat_traversal = repeat * 5
        self.warmup = repeat * 20  # unmeasured pairs of depth 2 reads before the traversal comparisons
        self.rng = random.Random(7)

    def connect(self):
        return psycopg.connect(self.dsn, autocommit=True)

    def seed(self):
        return str(self.rng.randint(1, self.nodes))

    def row(self, operation, ours, peer, goal, met, ratio=None, wanted=None):
        if ratio is None:
            ratio = "%.1f× faster" % (peer / ours) if peer and ours else ""
            if peer and ours:
                self.ratios.append((operation, peer / ours, None, None, wanted))
        self.rows.append((operation, "%.1f ms" % ours, "%.1f ms" % peer if peer else "–", ratio, goal,
                          {True: "met", False: "**missed**", None: "–"}[met]))
        print("%-58s ours %9.1f ms  peer %9s  %s" % (operation, ours, "%.1f ms" % peer if peer else "-", ratio),
              flush=True)

    def setup(self):
        with self.connect() as c:
            # The pending-row phases add some 360k overlay edges: room for them (graph.edge_buffer_size).
            c.execute(psycopg.sql.SQL("ALTER DATABASE {} SET graph.edge_buffer_size = 5000000").format(
                psycopg.sql.Identifier(c.info.dbname)))
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
                 "≥ 10× faster", p / o >= 10, wanted=10)

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
        self.row("connected_components vs pgr_connectedComponents", o, p, "≥ 10× faster", p / o >= 10, wanted=10)

    def compare(self, c, depth, seeds, first=0):
        """Times of traverse and of the CTE from each seed, alternating which goes first
        (``first`` 1: the CTE first for the first seed)."""
        ours, peer, sizes = [], [], []
        for i, s in enumerate(seeds):
            runs = [(TRAVERSE, {"seed": s, "depth": depth}, ours), (CTE, {"seed": int(s), "depth": depth}, peer)]
            got = {}
            for sql, params, times in (runs if (i + first) % 2 == 0 else runs[::-1]):
                t, n = timed(c, sql, params)
                times.append(t)
                got[sql] = n
            if got[TRAVERSE] != got[CTE]:
                raise SystemExit("traverse %s depth %d: %s nodes vs CTE %s" % (s, depth, got[TRAVERSE], got[CTE]))
            sizes.append(got[TRAVERSE])
        return ours, peer, sizes

    def ratio_row(self, operation, ours, peer, sizes, goal="", wanted=None):
        """A row of medians; the ratio is the CTE's median over traverse's, with the
        range of the per-seed ratios."""
        o, p = median_ms(ours), median_ms(peer)
        each = sorted(b / a for a, b in zip(ours, peer, strict=True))
        text = "%.2f× (per seed %.2f–%.2f)" % (p / o, each[0], each[-1])
        self.ratios.append((operation, p / o, each[0], each[-1], wanted))
        self.row("%s (median %d nodes, %d seeds)" % (operation, statistics.median(sizes), len(ours)), o, p, goal,
                 None if wanted is None else p / o >= wanted, text)

    def traversals(self):
        goals = {2: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5), 3: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5),
                 6: ("≥ 3× faster", 3.0)}
        with self.connect() as c:
            # A backend that has served reads keeps every key of the base (reads/nodes.py): one
            # read of 6 levels asks for more than a sixteenth of them, so it reads them all.
            # Then both sides warm up alike (caches, shared buffers): the first few hundred
            # reads of each run slower, then settle.
            timed(c, TRAVERSE, {"seed": "1", "depth": 6})
            self.compare(c, 2, [self.seed() for _ in range(self.warmup)])
            for depth in (2, 3, 6):
                n = self.repeat_traversal if depth < 6 else self.repeat_traversal // 2
                ours, peer, sizes = self.compare(c, depth, [self.seed() for _ in range(n)])
                goal, wanted = goals[depth]
                self.ratio_row("traverse depth %d vs recursive CTE" % depth, ours, peer, sizes, goal, wanted)
        with self.connect() as c:
            timed(c, TRAVERSE, {"seed": "1", "depth": 0})  # the base is loaded; no key is kept yet
            ours, peer, sizes = self.compare(c, 2, [self.seed() for _ in range(self.repeat)])
            self.ratio_row("… depth 2 in a fresh backend, its first reads (keys from graph._nodes)", ours, peer,
                           sizes)

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
                w.execute(MORE_LINKS, {"n": self.nodes, "lo": top + 1, "hi": top + n})
                top += n
                applied.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                after.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                w.execute(MORE_LINKS, {"n": self.nodes, "lo": top + 1, "hi": top + n})
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

    def fold(self):
        """A read-only read that folds many pending rows (it cannot apply them), the
        read after it (the folded graph is kept), apply_sync of the same rows, and
        the first read after that apply (the backend follows the rows it applied).
        The reading connection has served reads before (its backend keeps the base
        and its keys, as a pooled connection's does)."""
        n = self.edges // 10
        top = self.edges + 1_000_000
        first, after, applying, following = [], [], [], []
        with self.connect() as c, self.connect() as w:
            c.execute("SELECT graph.apply_sync()")
            timed(c, TRAVERSE, {"seed": "1", "depth": 6})
            for _ in range(3):
                w.execute(MORE_LINKS, {"n": self.nodes, "lo": top + 1, "hi": top + n})
                top += n
                with c.transaction():
                    c.execute("SET TRANSACTION READ ONLY")
                    first.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                    after.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
                applying.append(timed(c, "SELECT inserts FROM graph.apply_sync()")[0])
                following.append(timed(c, TRAVERSE, {"seed": self.seed(), "depth": 2})[0])
        span = "%.0f–%.0f ms" % (min(first) * 1000, max(first) * 1000)
        self.row("read-only read folding %dk pending rows (traverse depth 2; median of 3, %s)" % (n // 1000, span),
                 median_ms(first), None, "< 1 s", median_ms(first) < 1000)
        self.row("… the next read in that transaction (folded graph kept)", median_ms(after), None, "", None)
        self.row("… graph.apply_sync() of the same rows, for scale", median_ms(applying), None, "", None)
        self.row("… the first read after that apply (the backend follows %dk overlay rows)" % (n // 1000),
                 median_ms(following), None, "", None)

    def fold_against(self, other, revision, reps, updates=False, rows=None):
        """The fold step side by side with ``other`` (a Bench on a database holding the
        same graph, with ``revision``'s code installed): ``reps`` rounds, each folding
        n = edges // 10 fresh pending rows in a READ ONLY transaction on both databases,
        the order alternating every round, then applying them on both. Reports the
        fold's medians and the ratio previous / this of each round; with the server on
        this machine, also the CPU seconds each fold's backend ran (common.cpu_seconds:
        time on a CPU, not time waiting for one on a loaded machine).

        ``updates``: what a reader under writes folds instead -- updates of join rows
        (their ends moved) committed since its last read, onto the folded view it kept:
        each round a read folds 10 updated rows (unmeasured; the backend keeps that
        view), then n = edges // 100 rows are updated by one statement and the
        measured read folds them onto the kept view.

        ``rows`` (with ``updates``): n, the rows the measured read folds; before the
        rounds each backend folds 1,500 updated rows once (unmeasured, then applied),
        so that it holds the base's key index a fold of many keys builds, as a reader
        under heavy writes does once it folded a large backlog."""
        n = rows if updates and rows else self.edges // (100 if updates else 10)
        top = self.edges + 1_000_000
        times = {"this": [], "previous": []}
        cpu = {"this": [], "previous": []}
        sides = [("this", self), ("previous", other)]
        with self.connect() as c, self.connect() as w, other.connect() as oc, other.connect() as ow:
            conns = {"this": (c, w), "previous": (oc, ow)}
            pids = {}
            for name, _ in sides:
                r, _ = conns[name]
                r.execute("SELECT graph.apply_sync()")
                timed(r, TRAVERSE, {"seed": "1", "depth": 6})
                pids[name] = r.execute("SELECT pg_backend_pid()").fetchone()[0]
            if updates and rows:  # each backend builds its key index once (see above)
                for name, _ in sides:
                    r, wr = conns[name]
                    wr.execute(MOVE_ENDS, {"n": self.nodes, "r": 7, "lo": self.edges - 1499, "hi": self.edges})
                    with r.transaction():
                        r.execute("SET TRANSACTION READ ONLY")
                        timed(r, TRAVERSE, {"seed": "1", "depth": 2})
                    r.execute("SELECT graph.apply_sync()")
                    timed(r, TRAVERSE, {"seed": "1", "depth": 2})
            for rep in range(reps):
                if updates:  # the few rows the kept view holds, folded by an unmeasured read
                    lo = 1 + rep * (n + 10)
                    for name, _ in sides:
                        conns[name][1].execute(MOVE_ENDS, {"n": self.nodes, "r": rep, "lo": lo, "hi": lo + 9})
                    for name, _ in sides:
                        with conns[name][0].transaction():
                            conns[name][0].execute("SET TRANSACTION READ ONLY")
                            timed(conns[name][0], TRAVERSE, {"seed": self.seed(), "depth": 2})
                for name, _ in sides:
                    if updates:
                        conns[name][1].execute(MOVE_ENDS, {"n": self.nodes, "r": rep, "lo": lo + 10, "hi": lo + 9 + n})
                        continue
                    conns[name][1].execute(
                        "INSERT INTO bench.links SELECT g, 1 + (g::bigint * 7919) %% %(n)s,"
                        " 1 + (g::bigint * 104729) %% %(n)s, 1.0, 'a'"
                        " FROM generate_series(%(lo)s::int, %(hi)s::int) AS g",
                        {"n": self.nodes, "lo": top + 1, "hi": top + n})
                top += n
                seed = self.seed()
                for name, _ in sides if rep % 2 == 0 else reversed(sides):
                    r = conns[name][0]
                    with r.transaction():
                        r.execute("SET TRANSACTION READ ONLY")
                        before = cpu_seconds(pids[name])
                        times[name].append(timed(r, TRAVERSE, {"seed": seed, "depth": 2})[0])
                        after = cpu_seconds(pids[name])
                        cpu[name].append(None if before is None or after is None else after - before)
                for name, _ in sides:  # apply, then follow the applied rows (unmeasured, as fold() does)
                    conns[name][0].execute("SELECT graph.apply_sync()")
                    timed(conns[name][0], TRAVERSE, {"seed": "1", "depth": 2})
                print("round %d: fold this %.2f s, previous %.2f s, load %s%s" % (
                    rep + 1, times["this"][-1], times["previous"][-1],
                    "/".join("%.1f" % x for x in os.getloadavg()),
                    "" if cpu["this"][-1] is None else "; backend CPU this %.2f s, previous %.2f s" % (
                        cpu["this"][-1], cpu["previous"][-1])), flush=True)
        ratios = [p / t for p, t in zip(times["previous"], times["this"], strict=True)]
        span = "%.0f–%.0f ms" % (min(times["this"]) * 1000, max(times["this"]) * 1000)
        what = ("read-only read folding %s join-row updates onto its kept view" % (
                    "%dk" % (n // 1000) if n >= 1000 else "%d" % n) if updates
                else "read-only read folding %dk pending rows" % (n // 1000))
        self.row("%s (traverse depth 2; median of %d, %s) vs %s" % (what, reps, span, revision),
                 median_ms(times["this"]), median_ms(times["previous"]), "" if updates else "< 1 s",
                 None if updates else median_ms(times["this"]) < 1000,
                 ratio="%.2f× faster (%.2f–%.2f)" % (statistics.median(ratios), min(ratios), max(ratios)))
        self.ratios.append(("%s: %s / this" % (what, revision), statistics.median(ratios),
                            min(ratios), max(ratios), None))
        if None not in cpu["this"] + cpu["previous"]:
            each = [p / t for p, t in zip(cpu["previous"], cpu["this"], strict=True)]
            print("backend CPU seconds of the fold: this median %.3f s (%.3f-%.3f), %s median %.3f s;"
                  " %s / this %.2f× (%.2f-%.2f)" % (
                      statistics.median(cpu["this"]), min(cpu["this"]), max(cpu["this"]), revision,
                      statistics.median(cpu["previous"]), revision, statistics.median(each), min(each), max(each)),
                  flush=True)

    def overlay_against(self, other, revision, reps):
        """Depth-6 traversals over a graph whose edge overlay holds about 5% of its
        edges (edges // 20 join rows' ends moved, applied: twice as many overlay rows),
        side by side with ``other`` (a Bench on a database holding the same graph and
        the same writes, with ``revision``'s code installed): each of ``reps`` rounds
        takes a new seed and, on each side in turn (the order alternating), a fresh
        backend (a pooled connection's first reads after an apply, or a new one)
        that reads twice 6 levels deep from other seeds (it loads the graph, and
        then every key of it: nodes.key_arrays), then runs the depth-6 traversal --
        which remakes the edge list of every changed node it reaches that the reads
        before did not -- and runs it again (nothing left to remake), and the
        recursive CTE from the same seed. Reports the medians and the ratio previous
        / this of the first traversal of each round, and graphsync against the CTE."""
        n = self.edges // 20
        sides = [("this", self), ("previous", other)]
        for _, bench in sides:
            with bench.connect() as w:
                w.execute(MOVE_ENDS, {"n": self.nodes, "r": 0, "lo": 1, "hi": n})
                w.execute("SELECT graph.apply_sync()")
                overlay = w.execute("SELECT edge_buffer_used FROM graph.sync_health()").fetchone()[0]
        first = {"this": [], "previous": []}
        again = {"this": [], "previous": []}
        cte = {"this": [], "previous": []}
        for rep in range(reps):
            seed = self.seed()
            for name, bench in sides if rep % 2 == 0 else reversed(sides):
                with bench.connect() as c:
                    for warm in ("1", "2"):  # the second reads every key of the base (nodes.key_arrays)
                        timed(c, TRAVERSE, {"seed": warm, "depth": 6})
                    first[name].append(timed(c, TRAVERSE, {"seed": seed, "depth": 6})[0])
                    again[name].append(timed(c, TRAVERSE, {"seed": seed, "depth": 6})[0])
                    cte[name].append(timed(c, CTE, {"seed": seed, "depth": 6})[0])
            print("round %d: depth 6 first this %.1f ms, previous %.1f ms; again %.1f / %.1f ms; CTE %.1f ms;"
                  " load %s" % (rep + 1, first["this"][-1] * 1000, first["previous"][-1] * 1000,
                                again["this"][-1] * 1000, again["previous"][-1] * 1000, cte["this"][-1] * 1000,
                                "/".join("%.1f" % x for x in os.getloadavg())), flush=True)
        ratios = [p / t for p, t in zip(first["previous"], first["this"], strict=True)]
        peer = [c / t for c, t in zip(cte["this"], first["this"], strict=True)]
        self.row("traverse depth 6, a fresh backend's first, with %d overlay rows (median of %d) vs %s"
                 % (overlay, reps, revision), median_ms(first["this"]), median_ms(first["previous"]), "", None,
                 ratio="%.2f× faster (%.2f–%.2f)" % (statistics.median(ratios), min(ratios), max(ratios)))
        self.row("… the same traversal again in that backend", median_ms(again["this"]),
                 median_ms(again["previous"]), "", None)
        self.row("… the recursive CTE from the same seeds vs the first traversal", median_ms(first["this"]),
                 median_ms(cte["this"]), "≥ 3× faster", statistics.median(peer) >= 3,
                 ratio="%.2f× faster (%.2f–%.2f)" % (statistics.median(peer), min(peer), max(peer)))

    def at_rest_against(self, other, revision, reps, reads=200):
        """Reads at rest (nothing pending: traverse depth 1 from random seeds, in one
        backend per side that has read before) side by side with ``other`` (a Bench on a
        database holding the same graph, with ``revision``'s code installed): ``reps``
        rounds of ``reads`` reads on each side, the order alternating every round.
        Reports the medians of all reads and the ratio previous / this of each round's
        median: what a read's first statement costs at rest (reads/start.py)."""
        times = {"this": [], "previous": []}
        rounds = {"this": [], "previous": []}
        sides = [("this", self), ("previous", other)]
        with self.connect() as c, other.connect() as oc:
            conns = {"this": c, "previous": oc}
            for name, _ in sides:
                conns[name].execute("SELECT graph.apply_sync()")
                timed(conns[name], TRAVERSE, {"seed": "1", "depth": 6})
                for _ in range(50):  # warm both alike
                    timed(conns[name], TRAVERSE, {"seed": self.seed(), "depth": 1})
            for rep in range(reps):
                seeds = [self.seed() for _ in range(reads)]
                for name, _ in sides if rep % 2 == 0 else reversed(sides):
                    these = [timed(conns[name], TRAVERSE, {"seed": seed, "depth": 1})[0] for seed in seeds]
                    times[name] += these
                    rounds[name].append(statistics.median(these))
                print("round %d: read at rest this %.3f ms, previous %.3f ms, load %s" % (
                    rep + 1, rounds["this"][-1] * 1000, rounds["previous"][-1] * 1000,
                    "/".join("%.1f" % x for x in os.getloadavg())), flush=True)
        ratios = [p / t for p, t in zip(rounds["previous"], rounds["this"], strict=True)]
        self.row("read at rest (traverse depth 1; median of %d reads in %d rounds) vs %s"
                 % (reads * reps, reps, revision), median_ms(times["this"]), median_ms(times["previous"]),
                 "", None,
                 ratio="%.3f× (%.3f–%.3f) previous / this" % (statistics.median(ratios), min(ratios), max(ratios)))

    def traversals_against(self, other, revision):
        """traverse depth 2, 3, 6 vs the recursive CTE on this code's database and on
        ``other`` (the same graph, ``revision``'s code), seed by seed, the sides'
        order alternating (see the module docstring). Rows: each side's ratio
        (CTE / traverse, per seed min-max) and this code's speed over revision's."""
        goals = {2: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5), 3: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5),
                 6: ("≥ 3× faster", 3.0)}
        with self.connect() as c, other.connect() as oc:
            sides = [("this", c), (revision, oc)]
            for _, conn in sides:  # as traversals(): keys of the base kept, both sides warmed alike
                timed(conn, TRAVERSE, {"seed": "1", "depth": 6})
            for s in [self.seed() for _ in range(self.warmup)]:
                for _, conn in sides:
                    self.compare(conn, 2, [s])
            for depth in (2, 3, 6):
                n = self.repeat_traversal if depth < 6 else self.repeat_traversal // 2
                got = {name: ([], [], []) for name, _ in sides}
                for i, s in enumerate([self.seed() for _ in range(n)]):
                    for name, conn in sides if i % 2 == 0 else sides[::-1]:
                        ours, peer, sizes = self.compare(conn, depth, [s], first=i // 2 % 2)
                        for into, value in zip(got[name], (ours[0], peer[0], sizes[0]), strict=True):
                            into.append(value)
                goal, wanted = goals[depth]
                for name, _ in sides:
                    ours, peer, sizes = got[name]
                    self.ratio_row("traverse depth %d vs recursive CTE, %s code" % (depth, name), ours, peer, sizes,
                                   goal, wanted)
                mine, theirs = got["this"][0], got[revision][0]
                each = sorted(b / a for a, b in zip(mine, theirs, strict=True))
                self.rows.append(("… depth %d: this code's speed over %s's (same seeds)" % (depth, revision),
                                  "%.2f ms" % median_ms(mine), "%.2f ms" % median_ms(theirs),
                                  "%.2f× (per seed %.2f–%.2f)" % (statistics.median(each), each[0], each[-1]),
                                  "", "–"))
                self.ratios.append(("depth %d: %s / this" % (depth, revision), statistics.median(each), each[0],
                                    each[-1], None))
                print(self.rows[-1], flush=True)
        self.notes.append("code: this tree and %s's (git archive) installed in two databases of one server,"
                          " the same graph in each; every seed is read on both, the order alternating" % revision)

    def cpu_against(self, other, revision, rounds=15):
        """In-server CPU time per call (the backend's thread CPU time around a batch of
        calls, in PL/Python: no round trip, and a process waiting for a core is not
        charged) of traverse and of the CTE, on this code's database and on
        ``other``'s: each round, one batch of fresh random seeds on each side and
        each query, the order alternating. Rows: the median of the rounds' ratios
        (CTE / traverse per side, and this code's speed over revision's), with their
        min-max. Load changes a round's figures (cache sharing) far less than the
        client's clock."""
        sizes = {2: 20, 3: 10, 6: 2}
        goals = {2: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5), 3: ("≥ 0.67× (within 1.5× of the CTE)", 1 / 1.5),
                 6: ("≥ 3× faster", 3.0)}
        with self.connect() as c, other.connect() as oc:
            sides = [("this", c), (revision, oc)]
            for _, conn in sides:
                conn.execute(CPU_BATCH)
                # a new backend: 8 levels from seed 1 reach over a sixteenth of the base, so it
                # reads every key at once (reads/nodes.py), as traversals()' warm-up does by its end
                timed(conn, TRAVERSE, {"seed": "1", "depth": 8})
                warm = [self.seed() for _ in range(100)]
                for cte in (False, True):
                    conn.execute("SELECT pg_temp.cpu_batch(%s, %s, %s)", [2, warm, cte])
            for depth in (2, 3, 6):
                got = {(name, cte): [] for name, _ in sides for cte in (False, True)}
                for r in range(rounds if depth < 6 else rounds // 2):
                    seeds = [self.seed() for _ in range(sizes[depth])]
                    order = [(name, conn, cte) for name, conn in sides for cte in (False, True)]
                    for name, conn, cte in order if r % 2 == 0 else order[::-1]:
                        got[(name, cte)].append(conn.execute("SELECT pg_temp.cpu_batch(%s, %s, %s)",
                                                             [depth, seeds, cte]).fetchone()[0])
                goal, wanted = goals[depth]
                for name, _ in sides:
                    ours, peer = got[(name, False)], got[(name, True)]
                    each = sorted(p / o for o, p in zip(ours, peer, strict=True))
                    med = statistics.median(each)
                    self.ratios.append(("CPU depth %d, %s" % (depth, name), med, each[0], each[-1], wanted))
                    self.rows.append(("in-server CPU per call, depth %d vs recursive CTE, %s code (%d rounds of %d"
                                      " seeds)" % (depth, name, len(ours), sizes[depth]),
                                      "%.0f µs" % statistics.median(ours), "%.0f µs" % statistics.median(peer),
                                      "%.2f× (per round %.2f–%.2f)" % (med, each[0], each[-1]), goal,
                                      "met" if med >= wanted else "**missed**"))
                    print(self.rows[-1], flush=True)
                mine, theirs = got[("this", False)], got[(revision, False)]
                each = sorted(b / a for a, b in zip(mine, theirs, strict=True))
                self.rows.append(("… in-server CPU, depth %d: this code's speed over %s's" % (depth, revision),
                                  "%.0f µs" % statistics.median(mine), "%.0f µs" % statistics.median(theirs),
                                  "%.2f× (per round %.2f–%.2f)" % (statistics.median(each), each[0], each[-1]),
                                  "", "–"))
                print(self.rows[-1], flush=True)
        self.notes.append("in-server CPU rows: pg_temp.cpu_batch runs a batch of calls through a kept plan and"
                          " returns the backend's thread CPU time per call; client rows: the client's clock,"
                          " round trip included")

    def write(self, path, quick):
        png = png_beside(path)
        plot_ratios(png, "graphsync reads vs peers: %d nodes / %d edges%s, %d cores, load %s at start"
                    % (self.nodes, self.edges, " (--quick)" if quick else "", os.cpu_count(), self.load_before),
                    self.ratios, "peer time / graphsync time (right of 1: graphsync faster)", higher_is_better=True)
        lines = [
            "# Graph reads: benchmark results",
            "",
            "Written by `benchmarks/reads.py%s` (one run, medians; ratios are peer time / graphsync time,"
            " timed by the client, so both include a round trip)." % (" --quick" if quick else ""),
            "",
            "- machine: %d cores; load average (1, 5, 15 min) %s before the run, %s after: the machine was"
            " shared, other work ran during the run" % (os.cpu_count(), self.load_before, "/".join(
                "%.1f" % x for x in os.getloadavg())),
            *("- " + n for n in self.notes),
            "",
            "| operation | graphsync | peer | ratio | goal | |",
            "| --- | ---: | ---: | --- | --- | --- |",
            *("| %s | %s | %s | %s | %s | %s |" % r for r in self.rows),
            "",
            "![Ratios of the table: peer time / graphsync time](%s)" % os.path.basename(png),
            "",
        ]
        Path(path).write_text("\n".join(lines))
        print("wrote", path, "and", png)


PHASES = ("cold", "traversals", "paths", "weighted", "components", "pending", "fold")


def previous_tree(revision, into):
    """This repository's files at ``revision`` in the directory ``into`` (git archive)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return Path(into)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k nodes / 100k edges, fewer repetitions")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--edges", type=int)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "READS.md"))
    parser.add_argument("--only", help="comma-separated phases to run, of: " + ",".join(PHASES)
                        + " (default: all); for a shorter run, written to --out")
    parser.add_argument("--repeat", type=int, help="repetitions (default 11, --quick 5; traversals 5x that)")
    parser.add_argument("--fold-only", metavar="REVISION",
                        help="run only the fold step, side by side with this revision's code installed in a"
                             " second database holding the same graph; prints its rows, writes no file")
    parser.add_argument("--fold-updates-only", metavar="REVISION",
                        help="the same for a read folding join-row updates onto the view it kept (a reader"
                             " under writes)")
    parser.add_argument("--fold-rows", type=int, metavar="N",
                        help="with --fold-updates-only: fold N updates a round (default edges // 100), each"
                             " backend having folded 1,500 once before (it then holds the base's key index)")
    parser.add_argument("--overlay-against", metavar="REVISION",
                        help="depth-6 traversals over a graph with a 5%% edge overlay in fresh backends, side by"
                             " side with this revision's code installed in a second database; prints its rows")
    parser.add_argument("--at-rest-only", metavar="REVISION",
                        help="run only reads at rest (nothing pending), side by side with this revision's code"
                             " installed in a second database holding the same graph; prints its rows")
    parser.add_argument("--traversals-against", metavar="REVISION",
                        help="traverse depth 2, 3, 6 vs the CTE on this code and on this revision's, installed in a"
                             " second database holding the same graph, seed by seed; writes --out (default"
                             " benchmarks/READS_TRAVERSALS.md)")
    parser.add_argument("--reps", type=int, default=4,
                        help="rounds of --fold-only, --fold-updates-only, --overlay-against or --at-rest-only"
                             " (default 4)")
    args = parser.parse_args(argv)
    nodes = args.nodes or (20_000 if args.quick else 200_000)
    edges = args.edges or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 11)
    phases = PHASES if not args.only else args.only.split(",")
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error("unknown phases: %s" % ", ".join(sorted(unknown)))
    if args.traversals_against:
        revision = args.traversals_against
        out = args.out if args.out != parser.get_default("out") else str(ROOT / "benchmarks" / "READS_TRAVERSALS.md")
        with server() as admin, database(admin, DB) as dsn, tempfile.TemporaryDirectory() as tree, \
                database(admin, DB + "_previous", previous_tree(revision, tree)) as other_dsn:
            b, other = Bench(dsn, nodes, edges, repeat), Bench(other_dsn, nodes, edges, repeat)
            b.setup()
            other.setup()
            b.traversals_against(other, revision)
            b.cpu_against(other, revision)
            b.notes.append("--traversals-against %s; repetitions %d" % (revision, repeat))
            b.write(out, args.quick)
        return 0
    revision = args.fold_only or args.fold_updates_only or args.overlay_against or args.at_rest_only
    if revision:
        with server() as admin, database(admin, DB) as dsn, tempfile.TemporaryDirectory() as tree, \
                database(admin, DB + "_previous", previous_tree(revision, tree)) as other_dsn:
            b, other = Bench(dsn, nodes, edges, repeat), Bench(other_dsn, nodes, edges, repeat)
            b.setup()
            other.setup()
            if args.fold_only or args.fold_updates_only:
                b.fold_against(other, revision, args.reps, updates=bool(args.fold_updates_only),
                               rows=args.fold_rows)
            elif args.overlay_against:
                b.overlay_against(other, revision, args.reps)
            else:
                b.at_rest_against(other, revision, args.reps)
            print("load average (1, 5, 15 min) before: %s, after: %s" % (
                b.load_before, "/".join("%.1f" % x for x in os.getloadavg())))
        return 0
    with server() as admin, database(admin, DB) as dsn:
        b = Bench(dsn, nodes, edges, repeat)
        b.setup()
        for phase in PHASES:
            if phase in phases:
                getattr(b, phase)()
        if args.only:
            b.notes.append("phases run: %s (--only); repetitions %d" % (", ".join(phases), repeat))
        b.write(args.out, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
