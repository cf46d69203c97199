#!/usr/bin/env python3
"""What the upkeep calls cost a call with the server's default settings: this code
against the code of an earlier tree.

    .venv/bin/python benchmarks/upkeep_calls.py --before TREE [--before-label TEXT] [--nodes N --edges E]
                                                [--log-rows L] [--calls C] [--reps R] [--out FILE]

One throwaway cluster (tools/pgcluster.py), PostgreSQL's default planner settings
(jit on, jit_above_cost 100,000), two databases: this code and the code of the
repository tree TREE (e.g. a `git worktree` of an earlier commit). In each, the read
benchmarks' graph (benchmarks/common.py GRAPH_SCHEMA; default 20,000 nodes / 100,000
edges), then its log emptied and vacuumed (as after a prune), then L log rows
(default 100,000) written and applied. The calls a monitor, pg_cron and an
application make, each run C times by an in-server loop (a PL/pgSQL function timing
itself with clock_timestamp: no round trip), the two databases alternating which goes
first each repetition:

- ``sync_health()``, ``prune_sync_log()`` (nothing old enough to prune),
  ``run_scheduled_maintenance()`` (nothing to do) on a connection of their own;
- ``apply_sync()`` with nothing pending, on a connection that first called it while
  the log was empty (an application's or a scheduler's long-lived connection keeps
  its plans for the session), and the log rows each of its calls read.

Reports ms per call (median, min-max), this / before per repetition, and the load.
Writes benchmarks/UPKEEP_CALLS.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import psycopg  # noqa: E402
from common import (  # noqa: E402
    GRAPH_SCHEMA,
    LOG_ROWS_READ,
    alternating_loops,
    before_arguments,
    in_server_loop,
    loop_report,
    this_and_before,
)

CALLS = {
    "sync_health()": "PERFORM * FROM graph.sync_health();",
    "prune_sync_log()": "PERFORM graph.prune_sync_log();",
    "run_scheduled_maintenance()": "PERFORM * FROM graph.run_scheduled_maintenance();",
    "apply_sync(), nothing pending, planned on the empty log": "PERFORM * FROM graph.apply_sync();",
}

LOOP = in_server_loop("call text", "", "\n".join(
    "        %s call = %s THEN\n            %s" % ("IF" if i == 0 else "ELSIF", psycopg.sql.quote(name), body)
    for i, (name, body) in enumerate(CALLS.items())) + "\n        END IF;")

def prepare(dsn: str, nodes: int, edges: int, log_rows: int) -> dict[str, psycopg.Connection]:
    """The graph and its log (see the header); a connection per call, each having made
    its call once while the log was empty."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
        c.execute("SELECT graph.build()")
        c.execute("CREATE SCHEMA IF NOT EXISTS bench")
        c.execute(LOOP)
        c.execute("TRUNCATE graph._sync_log, graph._sync_log_attention")
        c.execute("VACUUM ANALYZE graph._sync_log, graph._sync_log_attention")
        c.execute("ALTER TABLE graph._sync_log SET (autovacuum_enabled = off)")  # no replanning ANALYZE
        kept = {}
        for call in CALLS:
            k = kept[call] = psycopg.connect(dsn, autocommit=True)
            k.execute("SELECT bench.loop(%s, 1)", (call,))
        done = 0
        while done < log_rows:
            n = min(nodes, log_rows - done)
            c.execute("UPDATE bench.nodes SET name = name || '.' WHERE id <= %s", (n,))
            done += n
        c.execute("SELECT graph.apply_sync()")
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    before_arguments(parser, "UPKEEP_CALLS.md")
    parser.add_argument("--nodes", type=int, default=20000)
    parser.add_argument("--edges", type=int, default=100000)
    parser.add_argument("--log-rows", type=int, default=100000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    load_before = "/".join("%.1f" % x for x in os.getloadavg())
    with this_and_before(args.before) as (this, before):
        kept = {variant: prepare(dsn, args.nodes, args.edges, args.log_rows)
                for variant, dsn in (("this code", this), ("the code before", before))}
        read = {}
        for variant, conns in kept.items():
            c = conns[list(CALLS)[-1]]
            with c.transaction():
                start = c.execute(LOG_ROWS_READ).fetchone()[0]
                c.execute("SELECT bench.loop(%s, 1)", (list(CALLS)[-1],))
                read[variant] = c.execute(LOG_ROWS_READ).fetchone()[0] - start

        def run(call: str, variant: str) -> float:
            return kept[variant][call].execute("SELECT bench.loop(%s, %s)", (call, args.calls)).fetchone()[0]

        per_call, loads = alternating_loops(args.reps, list(CALLS), ("this code", "the code before"), run)
        for conns in kept.values():
            for k in conns.values():
                k.close()
    intro = (
        "The calls a monitor, pg_cron and an application make, %d per in-server loop, %d repetitions alternating"
        " which database goes first; PostgreSQL's default settings (jit on); the read benchmarks' graph at"
        " %d nodes / %d edges, its log emptied and vacuumed, then %d log rows written and applied; each call on"
        " a connection of its own that first made it while the log was empty (benchmarks/upkeep_calls.py)."
        " The code before: %s. Load average (1/5/15 min) before the run: %s. Log rows one idle apply_sync() read"
        " on that connection: this code %d, the code before %d."
        % (args.calls, args.reps, args.nodes, args.edges, args.log_rows, args.before_label or args.before, load_before,
           read["this code"], read["the code before"]))
    report = loop_report("What the upkeep calls cost: this code and the code before", intro, "call", per_call,
                         ("this code", "the code before"), loads)
    Path(args.out).write_text(report)
    print(report)
    for call in CALLS:
        r = [a / b for a, b in zip(per_call[call, "this code"], per_call[call, "the code before"], strict=True)]
        print("%-60s this / before %.3f" % (call, statistics.median(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
