#!/usr/bin/env python3
"""What the row-level replica capture triggers cost the primary's writes: the same
writes on two twin registered tables, side by side in one run.

    .venv/bin/python benchmarks/replica_capture.py [--n N] [--rows R] [--reps K] [--out FILE]

Both twins are registered alike (a node table with properties name and email, tenant
workspace_id, an edge company_id -> bench.companies) and carry graphsync's four
statement-level capture triggers (enabled ALWAYS). They differ in one thing:
  with     the three row-level triggers graphsync_replica_capture_insert/update/delete
           (enabled REPLICA: an ordinary session never fires them), as a subscription
           or graph.enable_replica_capture() installs them (the benchmark calls it);
  without  the same table with those three triggers dropped: capture as it was before
           they existed (the peer).
The tables, the write loops and their timing are benchmarks/capture.py's (BASE, twin,
register, LOOP, single_row, bulk). Single-row statements run in a server-side PL/pgSQL loop (N statements per
operation in one transaction, timed by clock_timestamp() in the server); bulk
statements are one statement of R rows each, timed by the client; and for each, the
server backend's CPU seconds (every thread, /proc/<pid>/task/*/schedstat: the server runs on this machine,
a throwaway cluster). The twins alternate
which goes first in every repetition, after one untimed warm-up of each. Reports with / without per repetition pair:
median (min-max), and the machine's load. Every run checks both twins logged one row
per changed row, and that no row was logged twice. Writes benchmarks/REPLICA_CAPTURE.md
(or --out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

from capture import BASE, LOOP, OPS, REGISTER_COMPANIES, bulk, register, single_row, twin  # noqa: E402
from common import database, load, server  # noqa: E402

TABLES = {"with": "bench.contacts", "without": "bench.contacts_norow"}

# capture.py's tables; replica capture turned on (a primary that subscribes to nothing has
# none), then taken off the twin.
SCHEMA = (BASE + twin(TABLES["without"]) + "SELECT graph.enable_replica_capture();\n" + REGISTER_COMPANIES
          + register(TABLES["with"]) + register(TABLES["without"]) + "".join(
              f"DROP TRIGGER graphsync_replica_capture_{op.lower()} ON {TABLES['without']};\n" for op in OPS)
          + "SELECT graph.build();\n")


def _reset(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE " + ", ".join(TABLES.values()))
    conn.execute("TRUNCATE graph._sync_log")
    conn.execute("CHECKPOINT")


def _check(conn: psycopg.Connection, variant: str, rows: int) -> None:
    logged, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT (op, pk)) FROM graph._sync_log WHERE table_oid = %s::regclass",
        (TABLES[variant],)).fetchone()
    if (logged, distinct) != (3 * rows, 3 * rows):
        raise RuntimeError(f"{variant}: {logged} log rows ({distinct} distinct), expected {3 * rows}")


def _single(conn: psycopg.Connection, variant: str, n: int) -> dict[str, float]:
    _reset(conn)
    out = single_row(conn, variant, n)
    _check(conn, variant, n)
    return out


def _bulk(conn: psycopg.Connection, variant: str, rows: int) -> dict[str, float]:
    _reset(conn)
    out = bulk(conn, TABLES[variant], rows)
    _check(conn, variant, rows)
    return out


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="single-row statements per operation")
    parser.add_argument("--rows", type=int, default=20000, help="rows of each bulk statement")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", default=str(HERE / "REPLICA_CAPTURE.md"))
    args = parser.parse_args()
    load_before = load()
    runs: dict[str, dict[str, list[dict[str, float]]]] = {"single": {v: [] for v in TABLES},
                                                           "bulk": {v: [] for v in TABLES}}
    with server() as admin_dsn, database(admin_dsn, "gs_bench_replica_capture") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for name, table in TABLES.items():
            conn.execute(LOOP.format(name=name, table=table))
        kinds = dict(conn.execute("SELECT c.relname, count(*) FROM pg_trigger AS t JOIN pg_class AS c"
                                  " ON c.oid = t.tgrelid WHERE c.relnamespace = 'bench'::regnamespace"
                                  " AND t.tgname LIKE 'graphsync%' GROUP BY 1").fetchall())
        assert kinds == {"companies": 7, "contacts": 7, "contacts_norow": 4}, kinds
        names = list(TABLES)
        for variant in names:  # warm-up, not timed: plans, caches and the capture functions' first calls
            _single(conn, variant, min(args.n, 300))
            _bulk(conn, variant, min(args.rows, 2000))
        for rep in range(args.reps):
            for variant in names if rep % 2 == 0 else list(reversed(names)):
                runs["single"][variant].append(_single(conn, variant, args.n))
                runs["bulk"][variant].append(_bulk(conn, variant, args.rows))
            print(f"rep {rep + 1}/{args.reps} done, load {load()}", flush=True)
    load_after = load()
    lines = [
        "# Row-level replica capture triggers: cost to the primary's writes",
        "",
        "`benchmarks/replica_capture.py`: the same writes on two twin registered tables in one",
        "database, one with graphsync's three row-level `graphsync_replica_capture_*` triggers",
        "(enabled `REPLICA`, as installed), one with them dropped (capture as before they existed).",
        f"{args.reps} repetitions after an untimed warm-up, the twins alternating which goes first;",
        f"single-row: {args.n} statements per operation in a server-side loop (server clock); bulk: one",
        f"statement of {args.rows} rows (client clock). Ratio = with / without, per repetition pair:",
        "median (min–max).",
        "",
        f"Machine: 2 cores, shared with other engineers' work; load average (1, 5, 15 min) {load_before}",
        f"before, {load_after} after. Noisy: read ratios within a few percent of 1 as no difference.",
        "",
        "Wall: elapsed seconds (the server's clock for single-row loops, the client's for bulk);",
        "CPU: the server backend's CPU seconds for the operation (/proc/<pid>/task/*/schedstat), which",
        "leaves out the time spent waiting for a CPU on the loaded machine: the steadier figure.",
        "",
        "| statements | operation | measure | with, s | without, s | with / without |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("single", "bulk"):
        for op in OPS:
            for measure, key in (("wall", op), ("CPU", "cpu " + op)):
                with_ = [r[key] for r in runs[kind]["with"]]
                without = [r[key] for r in runs[kind]["without"]]
                ratios = [a / b for a, b in zip(with_, without, strict=True)]
                lines.append(f"| {kind} | {op} | {measure} | {_spread(with_)} | {_spread(without)} | "
                             f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
