#!/usr/bin/env python3
"""What passing errors on without graphsync's internals costs a read.

    .venv/bin/python benchmarks/errors.py [--nodes N --edges M] [--calls C] [--reps R] [--out FILE]

Every public function passes an error on with its SQLSTATE, message, detail and
hint only (an EXCEPTION section: a subtransaction per call). This measures the
read it weighs on most, a small one: graph.traverse at depth 2 from random seeds,
side by side with bench.traverse_unwrapped, the same function without the
EXCEPTION section (made from graph.traverse's own definition), in one backend,
the two alternating which goes first, on a graph of 20k nodes / 100k edges.
Reports the ratio (wrapped / unwrapped) per repetition: median, min-max, and the
machine's load. Starts a throwaway cluster (tools/pgcluster.py) unless
GRAPHSYNC_DSN is set. Writes benchmarks/ERRORS.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import psycopg  # noqa: E402
from common import GRAPH_SCHEMA, database, server  # noqa: E402

WRAPPED = ("SELECT count(*) FROM graph.traverse('bench.nodes', %s, max_depth => 2, direction => 'any')")
UNWRAPPED = ("SELECT count(*) FROM bench.traverse_unwrapped('bench.nodes', %s, max_depth => 2,"
             " direction => 'any')")


def unwrapped_copy(conn: psycopg.Connection) -> None:
    """bench.traverse_unwrapped: graph.traverse without its EXCEPTION section."""
    src = conn.execute("SELECT pg_get_functiondef('graph.traverse(regclass, text, integer, text, text[],"
                       " regclass[], jsonb, text, text, integer, boolean, regclass[], text[])'::regprocedure)"
                       ).fetchone()[0]
    start = src.index("EXCEPTION WHEN")
    end = src.rindex("END;")
    src = src[:start] + src[end:]
    conn.execute(src.replace("FUNCTION graph.traverse(", "FUNCTION bench.traverse_unwrapped(", 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300, help="reads per variant and repetition")
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--out", default=str(HERE / "ERRORS.md"))
    args = parser.parse_args()
    with server() as admin, database(admin, "graphsync_bench_errors") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
        conn.execute("SELECT graph.build()")
        unwrapped_copy(conn)
        rng = random.Random(7)
        seeds = [str(rng.randint(1, args.nodes)) for _ in range(args.calls)]
        variants = {"wrapped": WRAPPED, "unwrapped": UNWRAPPED}
        for query in variants.values():  # warm the backend's cache and both plans
            for seed in seeds[:50]:
                conn.execute(query, (seed,), prepare=True)
        per_call: dict[str, list[float]] = {name: [] for name in variants}
        loads = []
        for rep in range(args.reps):
            for name in variants if rep % 2 == 0 else reversed(list(variants)):
                start = time.perf_counter()
                for seed in seeds:
                    conn.execute(variants[name], (seed,), prepare=True).fetchone()
                per_call[name].append((time.perf_counter() - start) / len(seeds))
            loads.append(os.getloadavg()[0])
    ratios = [w / u for w, u in zip(per_call["wrapped"], per_call["unwrapped"], strict=True)]
    text = "\n".join([
        "# Passing errors on: the cost on a small read",
        "",
        f"graph.traverse, depth 2, direction any, {args.calls} random seeds per repetition, {args.reps}"
        f" repetitions alternating which goes first, on {args.nodes} nodes / {args.edges} edges"
        " (benchmarks/errors.py).",
        "",
        "| variant | median per read | min | max |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {statistics.median(v) * 1e3:.2f} ms | {min(v) * 1e3:.2f} ms | {max(v) * 1e3:.2f} ms |"
          for name, v in per_call.items()],
        "",
        f"wrapped / unwrapped per repetition: median {statistics.median(ratios):.3f},"
        f" min {min(ratios):.3f}, max {max(ratios):.3f}.",
        f"Load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}"
        f" on {os.cpu_count()} cores.",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
