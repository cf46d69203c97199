#!/usr/bin/env python3
"""graphsync benchmarks: capture overhead and replay throughput, side by side in one run.

    .venv/bin/python benchmarks/run.py           # full sizes; writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --quick   # 10x smaller, a smoke test; prints only

Starts a throwaway cluster with tools/pgcluster.py, or uses the server in GRAPHSYNC_DSN
(a superuser connection; the benchmark creates and drops its own databases there).
Needs pgbench from the PostgreSQL 15 server package.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import capture  # noqa: E402
import replay  # noqa: E402
from common import Result, database, markdown_table, server  # noqa: E402

import pgcluster  # noqa: E402

BULK_ROWS, TRANSACTIONS, LOG_ROWS = 100_000, 10_000, 1_000_000
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


def environment(conn: psycopg.Connection) -> str:
    """Date, machine and server the numbers come from."""
    with open("/proc/meminfo") as f:
        ram_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    settings = ", ".join(f"{name} = {conn.execute(f'SHOW {name}').fetchone()[0]}"
                         for name in ("fsync", "synchronous_commit", "shared_buffers", "work_mem", "jit"))
    version = conn.execute("SHOW server_version").fetchone()[0]
    return (f"{datetime.date.today()}, {os.cpu_count()} cores (nproc), {ram_kib / 2**20:.0f} GiB RAM, "
            f"PostgreSQL {version} ({settings})")


def revision() -> str:
    """The commit the code under test is at, marked when the work tree has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True, text=True).stdout.strip()
    dirty = " + uncommitted changes" if git("status", "--porcelain") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def report(env: str, args: argparse.Namespace, results: list[Result], logged: int, log_size: str,
           profiles: tuple[str, str]) -> str:
    """RESULTS.md: the table, how it was measured, and where the time goes."""
    replayed = next(r for r in results if r.operation.startswith("replay "))
    return f"""# graphsync benchmarks

{env}. Code: {revision()}.

Each figure is the median of {args.reps} repetitions ({args.replay_reps} for replay); the two variants
of a line alternate within one run, so machine noise hits both. Ratios matter more than absolute times.

{markdown_table(results)}

- **Bulk**: one statement each, on one autocommit connection, timed by the client's wall clock;
  INSERT into an empty table, UPDATE of two captured columns of every row, DELETE of every row.
  `bench.contacts` (PK, FK to companies) is registered with `graph.add_table(columns => '{{name,email}}',
  tenant_column => 'workspace_id')` and `graph.add_edge('bench.contacts', 'company_id', 'bench.companies')`;
  `bench.contacts_plain` is the same table unregistered.
- **Single-row statements**: N statements in a server-side PL/pgSQL loop, timed by the server's clock;
  the figure is the time added over the unregistered twin, graphsync's against PgQ's `pgq.logutriga`
  (benchmarks/capture.py; benchmarks/CAPTURE.md has the four variants side by side).
- **Replay**: {logged:,} log rows from mixed writes to the registered demo schema; `graph.apply_sync()`
  ({', '.join(s.removeprefix('SET ') for s in replay.SETTINGS)}) replays
  {logged / replayed.measured:,.0f} rows/s, in a transaction rolled back each time; the baseline,
  `INSERT INTO log_copy SELECT * FROM graph._sync_log` into an index-less twin, copies
  {logged / replayed.baseline:,.0f} rows/s.
- **Log size**: {log_size}.

## Where the time goes

Capture trigger, one bulk run on the registered table (auto_explain, nested statements, analyze):

{profiles[0]}

Replay, one `graph.apply_sync()` over the whole log with `plpy` wrapped in timers:

{profiles[1]}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes; print, do not write RESULTS.md")
    parser.add_argument("--reps", type=int, default=15, help="repetitions of each capture measurement (default 15)")
    parser.add_argument("--replay-reps", type=int, default=5, help="repetitions of the replay measurement (default 5)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    pgbench = os.path.join(pgcluster.pg_bindir(), "pgbench")
    with server() as admin:
        with database(admin, "graphsync_bench_capture") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
            progress("capture: bulk and single-row writes, registered vs unregistered")
            capture.setup(conn)
            results = capture.run(conn, dsn, pgbench, BULK_ROWS // scale, TRANSACTIONS // scale, args.reps)
            capture_profile = capture.profile(dsn, BULK_ROWS // scale)
            env = environment(conn)
        with database(admin, "graphsync_bench_replay") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
            progress("replay: writing the log")
            replay.setup(conn)
            logged = replay.generate(conn, LOG_ROWS // scale)
            progress(f"replay: apply_sync vs copy of {logged:,} log rows")
            results.extend(replay.run(conn, logged, args.replay_reps, dsn))
            log_size = replay.log_size(conn)
            progress("replay: profiling one apply_sync")
            replay_profile = replay.profile(dsn)
    text = report(env, args, results, logged, log_size, (capture_profile, replay_profile))
    print(text)
    if not args.quick:
        (HERE / "RESULTS.md").write_text(text)
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
