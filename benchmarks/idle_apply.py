#!/usr/bin/env python3
"""An apply with nothing pending beside the applied rows the log keeps: this code
against the code before.

    .venv/bin/python benchmarks/idle_apply.py --before TREE [--retained 1000000] [--reps 20]

graph.log_retention keeps an hour of applied rows (millions under a steady write load);
once the writers pause, the applier's loop (every 100 ms in the reads-under-writes
benchmark) and pg_cron's job call graph.apply_sync() with nothing to apply. A
throwaway cluster holds two databases, one with this code and one with the code of
TREE (a repository tree of earlier code), each with the benchmarks' graph
(common.GRAPH_SCHEMA, --nodes/--edges) and ``--retained`` applied log rows (updates of
the join table, applied and kept). Each repetition times one graph.apply_sync() in
each database's long-lived connection, the order alternating: the clock and the log
rows it read (pg_stat_xact_all_tables). Writes benchmarks/IDLE_APPLY.md (or --out).
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

from common import (  # noqa: E402
    GRAPH_SCHEMA,
    LOG_ROWS_READ,
    before_arguments,
    before_report,
    load,
    spread,
    spread_ms,
    spread_ratio,
    this_and_before,
)


def idle_apply(c: psycopg.Connection) -> tuple[float, int]:
    """(seconds, log rows read) of one apply_sync with nothing pending, committed."""
    with c.transaction():
        before = c.execute(LOG_ROWS_READ).fetchone()[0]
        start = time.perf_counter()
        rows = c.execute("SELECT inserts + updates + deletes FROM graph.apply_sync()").fetchone()[0]
        seconds = time.perf_counter() - start
        read = c.execute(LOG_ROWS_READ).fetchone()[0] - before
    if rows:
        raise RuntimeError("an apply with nothing pending applied %d rows" % rows)
    return seconds, read


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=20_000)
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--retained", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=20)
    before_arguments(p, "IDLE_APPLY.md")
    a = p.parse_args()
    got = {"this": ([], []), "before": ([], [])}
    with this_and_before(a.before) as (this, before):
        conns = {}
        for name, dsn in (("this", this), ("before", before)):
            c = conns[name] = psycopg.connect(dsn, autocommit=True)
            c.execute(GRAPH_SCHEMA.format(nodes=a.nodes, edges=min(a.edges, max(a.retained, 1))))
            c.execute("SELECT graph.build()")
            c.execute("SET client_min_messages = warning")
            c.execute("UPDATE bench.links SET weight = weight + 1 WHERE id <= %s", (a.retained,))
            c.execute("SELECT graph.apply_sync()")  # a backlog that large is rebuilt; its rows are kept
            c.execute("ANALYZE graph._sync_log")
            kept = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
            for _ in range(3):  # done_snapshot's xmin passes every row of the log; unmeasured
                idle_apply(c)
        load_before = load()
        for rep in range(a.reps):
            for name in ("this", "before") if rep % 2 == 0 else ("before", "this"):
                seconds, read = idle_apply(conns[name])
                got[name][0].append(seconds)
                got[name][1].append(read)
            print(rep, {k: round(v[0][-1] * 1000, 1) for k, v in got.items()}, flush=True)
        load_after = load()
        for c in conns.values():
            c.close()
    (ts, tr), (bs, br) = got["this"], got["before"]
    text = before_report(
        "An apply with nothing pending beside the applied rows the log keeps",
        "Written by `benchmarks/idle_apply.py --retained %d --reps %d` (%d log rows kept, every one applied:"
        " updates of the join table of the benchmarks' graph; one `graph.apply_sync()` in each database's"
        " long-lived connection per repetition, the order alternating)." % (a.retained, a.reps, kept),
        a, (load_before, load_after), [
            ("clock per apply, ms", spread_ms(ts, "{:.2f}"), spread_ms(bs, "{:.2f}"), spread_ratio(ts, bs)),
            ("log rows read", spread(tr, "{:,.0f}"), spread(br, "{:,.0f}"),
             spread_ratio([max(x, 1) for x in tr], [max(x, 1) for x in br])),
        ])
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
