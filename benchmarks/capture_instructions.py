#!/usr/bin/env python3
"""Capture overhead in instructions: what benchmarks/capture.py times, counted instead.

    .venv/bin/python benchmarks/capture_instructions.py                 # this code
    .venv/bin/python benchmarks/capture_instructions.py --before TREE   # and the code of TREE

On a shared, loaded machine the clock and even the CPU time of a statement move with
the load; the instructions a backend executes do not. This runs capture.py's loops
(N single-row INSERT, UPDATE, DELETE statements on each twin table, after a warm-up
of the same) in a single-user server under valgrind's callgrind (Debian package
valgrind), which counts every instruction the server executes and dumps the count
at each top-level statement (before pgstat_report_activity, which the server calls
twice per statement). Added instructions per statement = (variant - no trigger) / N.
The counts include everything the statement runs: the trigger, its statements,
the log's indexes, the sequence. Deterministic to about 0.1k per statement between
runs of the same code on the same log state (each run starts from an empty log).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE.parent / "tools"))

import capture  # noqa: E402
from common import install_tree, statement_instructions  # noqa: E402

import pgcluster  # noqa: E402

VARIANTS = ("plain", "minimal", "pgq", "graphsync")


def _script(n: int) -> tuple[str, list[tuple[int, str, str]]]:
    """The statements the single-user server reads, one a line, and for each measured
    one (its position, variant, operation)."""
    queries = ["TRUNCATE graph._sync_log, bench.minimal_log, pgq.event_template", "CHECKPOINT"]
    for variant in VARIANTS:  # warm: every plan made, every cache filled
        queries.append(f"TRUNCATE {capture.TABLES[variant]}")
        queries += [f"SELECT bench.{variant}_single('{op}', {n})" for op in capture.OPS]
    marks = []
    for variant in VARIANTS:
        queries.append(f"TRUNCATE {capture.TABLES[variant]}")
        for op in capture.OPS:
            marks.append((len(queries), variant, op))
            queries.append(f"SELECT bench.{variant}_single('{op}', {n})")
    return "\n".join(queries) + "\n", marks


def count(directory: str, dbname: str, n: int) -> dict[tuple[str, str], int]:
    """Instructions of each measured statement, by (variant, operation), in database
    ``dbname`` of the stopped cluster in ``directory``."""
    text, marks = _script(n)
    totals = statement_instructions(directory, dbname, text)
    return {(variant, op): totals[position] for position, variant, op in marks}


def added(counts: dict, n: int) -> dict[tuple[str, str], float]:
    return {(v, op): (counts[v, op] - counts["plain", op]) / n for v in VARIANTS for op in capture.OPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a repository tree (a checkout of the code before): count it too")
    parser.add_argument("-n", type=int, default=200, help="statements of each kind (default 200)")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="graphsync-instructions-")
    trees = ({"before": args.before} if args.before else {}) | {"graphsync": None}
    try:
        admin = pgcluster.start(directory)
        for name, tree in trees.items():
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "count_{name}"')
            install_tree(pgcluster.dsn_for(directory, f"count_{name}"), tree)
            with psycopg.connect(pgcluster.dsn_for(directory, f"count_{name}"), autocommit=True) as c:
                capture.setup(c)
        pgcluster.stop(directory, remove=False)
        results = {name: added(count(directory, f"count_{name}", args.n), args.n) for name in trees}
    finally:
        pgcluster.stop(directory)
    lines = [f"Instructions added per single-row statement over no trigger ({args.n} statements of each kind,"
             " single-user server, counted by callgrind):", "",
             "| statement | minimal PL/pgSQL | PgQ logutriga | " + " | ".join(trees) + " | "
             + " | ".join(f"{t} / PgQ" for t in trees) + " |",
             "|---|" + "---:|" * (2 + 2 * len(trees))]
    for op in capture.OPS:
        base = results["graphsync"]
        cells = [f"{base['minimal', op] / 1000:.1f}k", f"{base['pgq', op] / 1000:.1f}k"]
        cells += [f"{results[t]['graphsync', op] / 1000:.1f}k" for t in trees]
        cells += [f"{results[t]['graphsync', op] / results[t]['pgq', op]:.2f}×" for t in trees]
        lines.append(f"| {op} | {' | '.join(cells)} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
