#!/usr/bin/env python3
"""Per-batch replay of a log no ANALYZE has seen yet: this code against the code before.

    .venv/bin/python benchmarks/replay_unanalyzed.py --before TREE [--rows 1000000] [--reps 2]

benchmarks/replay.py analyzes the log it writes before it times an apply; a log just
written by a burst of writes has no statistics yet (autovacuum analyzes it later), and
the planner then guesses. Here a throwaway cluster holds two databases, one with this
code and one with the code of TREE (a repository tree of earlier code), each with
replay.py's schema and the same log of ``--rows`` mixed rows (replay.ROUND), autovacuum
off for the log so that it stays unanalyzed. Each repetition runs graph.apply_sync()
batch by batch (replay.SETTINGS, replay.PER_BATCH: never a rebuild) in each database, the
order alternating, in a transaction rolled back afterwards: the clock, and the log rows
the apply read (pg_stat_xact_all_tables: sequential and index fetches). Writes
benchmarks/REPLAY_UNANALYZED.md (or --out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import replay  # noqa: E402
from common import LOG_ROWS_READ, before_arguments, before_report, load, spread, spread_ratio, this_and_before  # noqa: E402


def write_log(conn: psycopg.Connection, rows: int) -> int:
    """replay.generate's rounds of writes, the log left unanalyzed; the log's rows."""
    conn.execute("ALTER TABLE graph._sync_log SET (autovacuum_enabled = false)")
    replay.setup(conn)
    size = max(10, rows // 100 // 10 * 10)
    logged, lo = 0, 1
    while logged < rows:
        for sql in replay.ROUND:
            logged += conn.execute(sql.format(lo=lo, hi=lo + size - 1)).rowcount
        lo += size
    return conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]


def apply_once(dsn: str) -> tuple[float, int, int]:
    """(seconds, log rows read, rows applied) of one per-batch apply, rolled back."""
    with psycopg.connect(dsn, autocommit=True) as c, c.transaction(force_rollback=True):
        c.execute("SET client_min_messages = warning")
        for setting in replay.SETTINGS + (replay.PER_BATCH,):
            c.execute(setting)
        before = c.execute(LOG_ROWS_READ).fetchone()[0]
        start = time.perf_counter()
        applied = c.execute("SELECT inserts + updates + deletes FROM graph.apply_sync()").fetchone()[0]
        seconds = time.perf_counter() - start
        return seconds, c.execute(LOG_ROWS_READ).fetchone()[0] - before, applied


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=2)
    before_arguments(p, "REPLAY_UNANALYZED.md")
    a = p.parse_args()
    got = {"this": ([], []), "before": ([], [])}
    with this_and_before(a.before) as (this, before):
        dsns = {"this": this, "before": before}
        logged = set()
        for dsn in dsns.values():
            with psycopg.connect(dsn, autocommit=True) as c:
                logged.add(write_log(c, a.rows))
        if len(logged) != 1:
            raise RuntimeError("the two databases' logs differ: %s" % sorted(logged))
        logged = logged.pop()
        load_before = load()
        for rep in range(a.reps):
            for name in ("this", "before") if rep % 2 == 0 else ("before", "this"):
                seconds, read, applied = apply_once(dsns[name])
                if applied != logged:
                    raise RuntimeError("%s applied %d of %d log rows" % (name, applied, logged))
                got[name][0].append(seconds)
                got[name][1].append(read)
                print(rep, name, "%.2f s" % seconds, "log rows read %d" % read, flush=True)
        load_after = load()
    (ts, tr), (bs, br) = got["this"], got["before"]
    text = before_report(
        "Per-batch replay of a log no ANALYZE has seen yet",
        "Written by `benchmarks/replay_unanalyzed.py --rows %d --reps %d` (%d mixed log rows of"
        " benchmarks/replay.py's rounds, the log left unanalyzed; `graph.apply_sync()` batch by batch, 10,000"
        " rows a batch, in each database, the order alternating, rolled back)." % (a.rows, a.reps, logged),
        a, (load_before, load_after), [
            ("apply, s", spread(ts, "{:.2f}"), spread(bs, "{:.2f}"), spread_ratio(ts, bs)),
            ("log rows read", spread(tr, "{:,.0f}"), spread(br, "{:,.0f}"), spread_ratio(tr, br)),
        ])
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
