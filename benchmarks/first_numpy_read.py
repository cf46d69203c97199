#!/usr/bin/env python3
"""A fresh connection's first read that imports NumPy, this code against the code before.

    .venv/bin/python benchmarks/first_numpy_read.py --before TREE [--edges 100000] [--reps 15]

A throwaway cluster holds two databases with the graph of benchmarks/reads.py
(edges / 5 nodes), one with this code installed, one with the code of TREE (a
repository tree of earlier code). Each repetition opens a fresh connection to each
database, the order alternating, and runs one graph.traverse depth 6 from the same
random seed: a read over whole arrays, which imports NumPy (README, The first read in a
new connection). Measured per statement: the client's clock, and the CPU time of every
thread of the backend (the sum of /proc/<pid>/task/*/schedstat) from before the
statement to SETTLE seconds after it, so that what threads NumPy's import started go on
to spend once the statement has returned is counted too (the backend itself is idle
then). Ratios this / before per repetition, median (min-max). Needs the server's /proc:
run as root or as the server's OS user. Writes benchmarks/FIRST_NUMPY_READ.md (or --out).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import reads  # noqa: E402
from common import before_arguments, before_report, load, spread, spread_ms, spread_ratio, this_and_before, threads_cpu  # noqa: E402

SETTLE = 0.5  # seconds after the statement; a spinning BLAS thread has gone to sleep by then
READ = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 6, max_nodes => 1000000)"


def first_read(dsn: str, seed: str) -> tuple[float, float, int]:
    """(clock seconds, CPU seconds of the backend's threads, threads) of ``READ`` as a
    fresh connection's first graphsync statement."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT 1")
        pid = c.info.backend_pid
        cpu0, _ = threads_cpu(pid)
        start = time.perf_counter()
        c.execute(READ, {"seed": seed}).fetchone()
        clock = time.perf_counter() - start
        time.sleep(SETTLE)
        cpu1, threads = threads_cpu(pid)
        return clock, cpu1 - cpu0, threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--edges", type=int, default=100000)
    p.add_argument("--reps", type=int, default=15)
    before_arguments(p, "FIRST_NUMPY_READ.md")
    a = p.parse_args()
    nodes = a.edges // 5
    with this_and_before(a.before) as (this, before):
        for dsn in (this, before):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(reads.SCHEMA.format(nodes=nodes, edges=a.edges))
                c.execute("SELECT graph.build()")
                c.execute(READ, {"seed": "1"})  # writes the generation's shared base file
        load_before = load()
        rng = random.Random(a.edges)
        got = {"this": ([], [], []), "before": ([], [], [])}
        for rep in range(a.reps):
            seed = str(rng.randint(1, nodes))
            order = [("this", this), ("before", before)]
            for name, dsn in order if rep % 2 == 0 else order[::-1]:
                for values, value in zip(got[name], first_read(dsn, seed), strict=True):
                    values.append(value)
            print(rep, {k: [round(v[-1] * 1000) for v in vals[:2]] + [vals[2][-1]] for k, vals in got.items()},
                  flush=True)
        load_after = load()
    (tc, tcpu, tthreads), (bc, bcpu, bthreads) = got["this"], got["before"]
    text = before_report(
        "A fresh connection's first read that imports NumPy",
        "Written by `benchmarks/first_numpy_read.py --edges %d --reps %d` (%d nodes, %d edges; graph.traverse"
        " depth 6, each variant a fresh connection's first graphsync statement, the order alternating, the same"
        " seed on both sides)." % (a.edges, a.reps, nodes, a.edges),
        a, (load_before, load_after), [
            ("clock, ms", spread_ms(tc, "{:.0f}"), spread_ms(bc, "{:.0f}"), spread_ratio(tc, bc)),
            ("CPU of the backend's threads until %.1f s after, ms" % SETTLE, spread_ms(tcpu, "{:.0f}"),
             spread_ms(bcpu, "{:.0f}"), spread_ratio(tcpu, bcpu)),
            ("threads of the backend after", spread(tthreads, "{:.0f}"), spread(bthreads, "{:.0f}"), ""),
        ])
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
