#!/usr/bin/env python3
"""What a read that refreshes its graph costs its backend: this code against the code
of an earlier tree.

    .venv/bin/python benchmarks/refreshing_reads.py --before TREE [--before-label TEXT]
                                                    [--nodes N --edges E] [--reads R] [--reps P] [--out FILE]

One throwaway cluster (tools/pgcluster.py), two databases: this code and the code of
the repository tree TREE (e.g. a `git worktree` of an earlier commit), each with the
read benchmarks' graph (benchmarks/common.py GRAPH_SCHEMA; default 20,000 nodes /
100,000 edges). In each, R times: an admin connection commits one new join-table row
and applies it (`graph.apply_sync()`), then a reader outside graph_admin (bench_reader:
SELECT on bench's tables) runs a depth-2 `graph.traverse` from a random seed, whose
backend so brings its graph up to date first (a refresh: the overlay row, the node
changes, the cuts). Measured: the reader backend's CPU over the R reads
(/proc/<pid>/task/*/schedstat: time on a CPU, not waiting for one), per read, and the
same R reads at rest (nothing applied in between) beside them. The databases alternate
which goes first every repetition. Reports µs of backend CPU per read (median,
min-max), this / before per repetition, and the load. Writes
benchmarks/REFRESHING_READS.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import psycopg  # noqa: E402
from common import GRAPH_SCHEMA, before_arguments, cpu_seconds, load, spread, this_and_before  # noqa: E402

READER = "bench_reader"
READER_SETUP = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER} LOGIN;
    END IF;
END $$;
GRANT USAGE ON SCHEMA bench TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO {READER};
"""
READ = "SELECT count(*) FROM graph.traverse('bench.nodes', %s, max_depth => 2)"
WRITE = "INSERT INTO bench.links VALUES (%s, %s, %s, 1.0, 'a')"
APPLY = "SELECT graph.apply_sync()"


def measure(admin: psycopg.Connection, reader: psycopg.Connection, nodes: int, reads: int,
            refresh: bool, rng: random.Random, next_id: list[int]) -> float:
    """Seconds of the reader backend's CPU per read, over ``reads`` reads, each after one
    applied change when ``refresh``."""
    pid = reader.execute("SELECT pg_backend_pid()").fetchone()[0]
    total = 0.0
    for _ in range(reads):
        if refresh:
            next_id[0] += 1
            admin.execute(WRITE, [next_id[0], rng.randint(1, nodes), rng.randint(1, nodes)])
            admin.execute(APPLY)
        before = cpu_seconds(pid)
        reader.execute(READ, [str(rng.randint(1, nodes))]).fetchone()
        total += cpu_seconds(pid) - before
    return total / reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    before_arguments(parser, "REFRESHING_READS.md")
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=400, help="reads a repetition, of each kind")
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args()
    load_before = load()
    with this_and_before(args.before) as (this, earlier):
        dsns = {"this": this, "before": earlier}
        conns = {}
        for name, dsn in dsns.items():
            admin = psycopg.connect(dsn, autocommit=True)
            admin.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
            admin.execute("SELECT graph.build()")
            admin.execute(READER_SETUP)
            reader = psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=READER), autocommit=True)
            measure(admin, reader, args.nodes, 50, True, random.Random(1), [args.edges + 10_000_000])  # warm
            conns[name] = (admin, reader)
        per_read = {(kind, name): [] for kind in ("after one applied change", "at rest") for name in dsns}
        loads = []
        next_id = {name: [args.edges + 20_000_000] for name in dsns}
        for rep in range(args.reps):
            order = ["this", "before"] if rep % 2 == 0 else ["before", "this"]
            for name in order:
                admin, reader = conns[name]
                rng = random.Random(rep)  # the same seeds and writes in both databases
                per_read["after one applied change", name].append(
                    measure(admin, reader, args.nodes, args.reads, True, rng, next_id[name]))
                per_read["at rest", name].append(measure(admin, reader, args.nodes, args.reads, False, rng,
                                                         next_id[name]))
            loads.append(os.getloadavg()[0])
            print(f"repetition {rep + 1}: " + ", ".join(
                f"{k} {n} {v[-1] * 1e6:.0f} µs" for (k, n), v in per_read.items()), flush=True)
        for admin, reader in conns.values():
            reader.close()
            admin.close()
    lines = ["# A read that refreshes its graph, against the code before", "",
             f"`benchmarks/refreshing_reads.py`: {args.nodes:,} nodes / {args.edges:,} edges; {args.reps}"
             f" repetitions of {args.reads} depth-2 reads by a reader outside graph_admin, each after one"
             " join-table row committed and applied (the reader's backend refreshes its graph), and as many at"
             " rest; the reader backend's CPU per read. The code before: "
             f"{args.before_label or args.before}. Load average (1/5/15 min) {load_before} before, {load()} after;"
             f" 1-minute load {min(loads):.1f} to {max(loads):.1f} during the run; {os.cpu_count()} cores.", "",
             "| read | this code | the code before | this / before |", "|---|---:|---:|---:|"]
    for kind in ("after one applied change", "at rest"):
        a, b = per_read[kind, "this"], per_read[kind, "before"]
        us_a, us_b = spread([v * 1e6 for v in a], "{:.0f}"), spread([v * 1e6 for v in b], "{:.0f}")
        ratio = spread([x / y for x, y in zip(a, b, strict=True)], "{:.3f}×")
        lines.append(f"| {kind} | {us_a} µs | {us_b} µs | {ratio} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    print("median per read:", {k: round(statistics.median(v) * 1e6) for k, v in per_read.items()})


if __name__ == "__main__":
    main()
