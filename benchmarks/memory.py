#!/usr/bin/env python3
"""Memory of many backends after one read each, graphsync vs recursive CTEs, and the
first read in a fresh connection, side by side in one run.

    .venv/bin/python benchmarks/memory.py [--quick | --large] [--nodes N --edges M]
                                          [--backends 1,20,100] [--reps R] [--out FILE]

A graph of 200k nodes / 1M edges (--quick: 20k / 100k; --large: 2M / 10M) as in
benchmarks/reads.py, registered and built, and read once so that the shared base
file of its generation exists. Then, for each number of backends N, R repetitions
of three variants, their order alternating every repetition:

- baseline: N backends that each import NumPy and SciPy in PL/Python and read nothing
  (what any PL/Python backend that uses them costs);
- cte: N backends that each run one traversal of depth 2 as a recursive CTE;
- graphsync: N backends that each run one graph.traverse of depth 2 (from random seeds).

Each backend's memory comes from /proc/<pid>/smaps_rollup while all N are open:
Anonymous (its private heap: what this backend alone costs), Pss (its fair share of
what it maps) and Rss. Private_Dirty is not that figure: it counts every page only
this process maps, so shared buffers and a shared file that one backend alone has
touched are "private" in a run of 1 backend and shared in a run of 20. The figure the
goal is stated in is a backend's Anonymous beyond the baseline's. Then the first read in a fresh
connection (traverse depth 2), alternating with the CTE's first read, each in a new
connection. Needs the server's /proc: a local cluster (tools/pgcluster.py), run as
root or as the server's OS user.

Writes the tables to benchmarks/MEMORY.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, database  # noqa: E402

import pgcluster  # noqa: E402

DB = "graphsync_bench_memory"

BASELINE = """
DO $$
import numpy, scipy.sparse, scipy.sparse.csgraph
$$ LANGUAGE plpython3u
"""

CTE = """
WITH RECURSIVE walk (id, depth) AS (
    SELECT %(seed)s::int, 0
    UNION
    SELECT l.dst, w.depth + 1 FROM walk AS w JOIN bench.links AS l ON l.src = w.id WHERE w.depth < 2
)
SELECT count(*) FROM (SELECT id, min(depth) FROM walk GROUP BY id) AS reached
"""

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 2)"

FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous")


def smaps(pid: int) -> dict[str, float]:
    """MiB of each field of FIELDS in /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in FIELDS:
                out[name] = int(rest.split()[0]) / 1024
    return out


class Bench:
    def __init__(self, dsn: str, nodes: int, edges: int, reps: int):
        self.dsn, self.nodes, self.edges, self.reps = dsn, nodes, edges, reps
        self.rng = random.Random(11)
        self.notes: list[str] = []
        self.load_before = "/".join("%.1f" % x for x in os.getloadavg())

    def seed(self) -> str:
        return str(self.rng.randint(1, self.nodes))

    def setup(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            start = time.perf_counter()
            c.execute(GRAPH_SCHEMA.format(nodes=self.nodes, edges=self.edges))
            load = time.perf_counter() - start
            start = time.perf_counter()
            c.execute("SELECT graph.build()")
            build = time.perf_counter() - start
        with psycopg.connect(self.dsn, autocommit=True) as c:
            start = time.perf_counter()
            c.execute(TRAVERSE, {"seed": self.seed()})
            first = time.perf_counter() - start
        self.notes.append("graph: %d nodes, %d edges; load %.1f s, graph.build() %.1f s, the first read"
                          " after the build (materializes the generation's shared file) %.0f ms"
                          % (self.nodes, self.edges, load, build, first * 1000))
        print(self.notes[-1], flush=True)

    def backends(self, variant: str, count: int) -> list[dict[str, float]]:
        """Open ``count`` connections, run one ``variant`` read in each, and measure each
        backend while all are open."""
        conns = [psycopg.connect(self.dsn, autocommit=True) for _ in range(count)]
        try:
            for c in conns:
                if variant == "baseline":
                    c.execute(BASELINE)
                else:
                    c.execute(TRAVERSE if variant == "graphsync" else CTE, {"seed": self.seed()}).fetchone()
            pids = [c.info.backend_pid for c in conns]
            return [smaps(pid) for pid in pids]
        finally:
            for c in conns:
                c.close()

    def memory(self, counts: list[int]) -> list[tuple]:
        rows = []
        variants = ["baseline", "cte", "graphsync"]
        for count in counts:
            got: dict[str, list[list[dict[str, float]]]] = {v: [] for v in variants}
            for rep in range(self.reps):
                for v in variants if rep % 2 == 0 else reversed(variants):
                    got[v].append(self.backends(v, count))
            per = {}
            for v in variants:
                per[v] = {f: statistics.median(statistics.median(b[f] for b in run) for run in got[v])
                          for f in FIELDS}
                per[v]["Pss total"] = statistics.median(sum(b["Pss"] for b in run) for run in got[v])
                per[v]["Rss total"] = statistics.median(sum(b["Rss"] for b in run) for run in got[v])
                per[v]["min-max private"] = (min(min(b["Anonymous"] for b in run) for run in got[v]),
                                             max(max(b["Anonymous"] for b in run) for run in got[v]))
            rows.append((count, per))
            print(count, {v: {k: (round(x, 1) if isinstance(x, float) else x) for k, x in p.items()}
                          for v, p in per.items()}, flush=True)
        return rows

    def first_reads(self, reps: int) -> dict[str, list[float]]:
        """Seconds of the first statement in a fresh connection: the NumPy/SciPy import
        alone, graph.traverse, the CTE; the three alternating, each in a new connection."""
        got: dict[str, list[float]] = {"import": [], "graphsync": [], "cte": []}
        order = [("import", BASELINE), ("graphsync", TRAVERSE), ("cte", CTE)]
        for rep in range(reps):
            for name, sql in order if rep % 2 == 0 else reversed(order):
                with psycopg.connect(self.dsn, autocommit=True) as c:
                    c.execute("SELECT 1")
                    start = time.perf_counter()
                    c.execute(sql, None if name == "import" else {"seed": self.seed()})
                    got[name].append(time.perf_counter() - start)
        return got


def report(b: Bench, rows: list[tuple], first: tuple[list[float], list[float]], seconds: float) -> str:
    out = ["# Memory of many backends: graphsync vs recursive CTEs", "",
           "Written by `benchmarks/memory.py` (%s). Each backend ran one read, traverse depth 2"
           " from a random seed (graphsync) or the same walk as a recursive CTE; the baseline"
           " backends only imported NumPy and SciPy in PL/Python. Figures are medians over the"
           " repetitions of each backend's /proc smaps_rollup (MiB); private = Anonymous, the"
           " backend's own heap (Private_Dirty would also count shared buffers and shared file"
           " pages that only one backend has touched so far)." % time.strftime("%Y-%m-%d"), ""]
    out += ["- " + n for n in b.notes]
    out += ["- machine: %d cores, load average %s before, %s after; %d repetitions, the three"
            " variants alternating; run took %.0f s"
            % (os.cpu_count(), b.load_before, "/".join("%.1f" % x for x in os.getloadavg()), b.reps, seconds), ""]
    out += ["| backends | variant | private / backend | beyond baseline | min-max private | Pss / backend |"
            " Pss total | Rss total |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for count, per in rows:
        base = per["baseline"]["Anonymous"]
        for v in ("baseline", "cte", "graphsync"):
            p = per[v]
            out.append("| %d | %s | %.1f | %s | %.1f-%.1f | %.1f | %.0f | %.0f |" % (
                count, v, p["Anonymous"], "" if v == "baseline" else "%+.1f" % (p["Anonymous"] - base),
                *p["min-max private"], p["Pss"], p["Pss total"], p["Rss total"]))
    ms = {k: sorted(v) for k, v in first.items()}
    med = {k: statistics.median(v) * 1000 for k, v in ms.items()}
    out += ["", "First statement in a fresh connection (each in a new connection, the three alternating),"
            " %d each:" % len(ms["graphsync"]), "",
            "| statement | median | min-max |", "|---|---:|---:|"]
    for k, label in (("import", "`import numpy, scipy.sparse.csgraph` alone (any PL/Python backend)"),
                     ("graphsync", "graph.traverse depth 2"), ("cte", "recursive CTE depth 2")):
        out.append("| %s | %.1f ms | %.1f-%.1f ms |" % (label, med[k], ms[k][0] * 1000, ms[k][-1] * 1000))
    out += ["", "graph.traverse beyond the import: %.1f ms (median minus median); graph.traverse / CTE: %.1f×"
            % (med["graphsync"] - med["import"], med["graphsync"] / med["cte"])]
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--large", action="store_true")
    p.add_argument("--nodes", type=int)
    p.add_argument("--edges", type=int)
    p.add_argument("--backends", default="1,20,100")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--first-reads", type=int, default=10)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "MEMORY.md"))
    a = p.parse_args()
    nodes, edges = (20_000, 100_000) if a.quick else (2_000_000, 10_000_000) if a.large else (200_000, 1_000_000)
    nodes, edges = a.nodes or nodes, a.edges or edges
    counts = [int(x) for x in a.backends.split(",")]
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix="graphsync-bench-")
    try:
        admin = pgcluster.start(directory, {"max_connections": str(max(counts) + 20)})
        with database(admin, DB) as dsn:
            b = Bench(dsn, nodes, edges, a.reps)
            b.setup()
            rows = b.memory(counts)
            first = b.first_reads(a.first_reads)
            text = report(b, rows, first, time.monotonic() - started)
    finally:
        pgcluster.stop(directory)
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
