#!/usr/bin/env python3
"""What one graph.sync_health() call costs: this code against an earlier commit's.

    .venv/bin/python benchmarks/health_cost.py [--before REF] [--sizes N:E,...] [--calls C] [--reps R] [--out FILE]

One server, and for each size two databases: ``before`` installed from the tree
of git commit REF (default main, extracted with git archive), ``after`` from this
tree. The same graph in both: the read benchmarks' graph (benchmarks/common.py
GRAPH_SCHEMA, N nodes and E edges) built, then log rows applied (a twentieth of
the nodes renamed, E/100 edges added and E/200 removed, replayed by
graph.apply_sync(): applied log rows, overlay rows, tombstones), then log rows left
pending (a thousandth of the nodes renamed) and one failed log row. Both answer
the same row (but oldest_pending_age, a now() difference), checked first.

Each repetition runs, per size, an in-server loop of C calls of graph.sync_health()
as a superuser in each database (a PL/pgSQL function timing itself with
clock_timestamp: no client round trip in the figure), the two alternating which
goes first; and the first call of a new session in each (connect, one call timed
by the client, disconnect: nothing planned yet, PL/Python not yet started), as a
monitor or a pg_cron job that connects for each call sees it. Reports ms per call
(median, min-max) and after / before per repetition (median, min-max), with the
machine's load. Writes
benchmarks/HEALTH_COST.md (or --out). Starts a throwaway cluster
(tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import psycopg  # noqa: E402
from common import FAILED_ROW, GRAPH_SCHEMA, alternating_loops, database, in_server_loop, loop_report, server  # noqa: E402

LOOP = in_server_loop("unused boolean", """
    h graph.sync_health_row;
""", """
        SELECT * INTO h FROM graph.sync_health();
""")

# Applied log rows, overlay rows and tombstones; then pending rows and a failed one.
CHANGES = """
UPDATE bench.nodes SET name = name || '!' WHERE id % 20 = 0;
INSERT INTO bench.links
SELECT {edges} + g, 1 + (g * 7) % {nodes}, 1 + (g * 13) % {nodes}, 1.5, 'a' FROM generate_series(1, {added}) AS g;
DELETE FROM bench.links WHERE id <= {removed};
"""
PENDING = """
UPDATE bench.nodes SET name = name || '?' WHERE id % 1000 = 7;
""" + FAILED_ROW + """;
ANALYZE graph._sync_log, graph._node_rows, graph._edge_overlay;
"""
# Where a call's time went before (a 200-node graph: pg_stat_xact_user_functions with
# track_functions = 'all', EXPLAIN ANALYZE of each statement), kept under the figures.
PROFILE = """
Where the time went before (a 200-node graph; pg_stat_xact_user_functions with
track_functions = 'all', and EXPLAIN ANALYZE of each statement of graph._health): schema
drift, read three times per call (missing_triggers; schema_drift and
reconcile_recommended; graph._rebuild_reasons' drift reason), each time checking every
captured table's columns (hashing all of pg_attribute: the functions it joins declared
1,000 rows), keys and capture triggers (graph._trigger_states, whose
graph._replica_capture_wanted, a SQL function with SET, was planned again at every call
for every table); graph._edge_overlay counted in full (three sequential scans a call,
counted by tests/test_health_cost.py). Now drift is read once,
the overlay's size is graph._sync_state.overlay_count, the table functions declare ROWS
10/50 (pg_attribute looked up by index), graph._replica_capture_wanted is PL/pgSQL, and
health counts capture triggers with a second graph._trigger_states read only when drift
shows a drifted one. Still in a call: seven graph._setting calls (PL/Python). The first
call of a session pays PL/Python's start (some 300 ms of it on this machine) and the
first plans of every query.
"""

ANSWER = "SELECT to_jsonb(h) - 'oldest_pending_age' FROM graph.sync_health() AS h"


def tree_of(ref: str, into: str) -> str:
    """This repository's files at commit ``ref`` in the directory ``into`` (git archive)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def prepare(dsn: str, nodes: int, edges: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
        c.execute("SELECT graph.build()")
        c.execute(CHANGES.format(nodes=nodes, edges=edges, added=max(edges // 100, 1),
                                 removed=max(edges // 200, 1)))
        c.execute("SELECT graph.apply_sync()")
        c.execute(PENDING)
        c.execute(LOOP)


def first_call(dsn: str) -> float:
    """Milliseconds of the first graph.sync_health() of a new session (a monitor's
    or pg_cron's: nothing planned, no PL/Python yet), timed by the client."""
    with psycopg.connect(dsn, autocommit=True) as c:
        start = time.perf_counter()
        c.execute("SELECT * FROM graph.sync_health()").fetchone()
        return (time.perf_counter() - start) * 1000


def measure(before: str, after: str, case: str, reps: int, calls: int):
    """The figures of one size: ``case`` (in-server loops) and its first calls of a new
    session, before and after alternating (common.alternating_loops), once both answer alike."""
    conns = {"before": psycopg.connect(before, autocommit=True), "after": psycopg.connect(after, autocommit=True)}
    dsns = {"before": before, "after": after}
    fresh = f"{case}, first call of a new session"

    def run(name: str, variant: str) -> float:
        if name == fresh:
            return first_call(dsns[variant])
        return conns[variant].execute("SELECT bench.loop(true, %s)", (calls,)).fetchone()[0]

    try:
        got = {k: c.execute(ANSWER).fetchone()[0] for k, c in conns.items()}
        assert got["before"] == got["after"], got
        assert got["after"]["pending_sync_rows"] > 0 and got["after"]["failed_sync_rows"] == 1, got
        for c in conns.values():  # plans cached, package imported
            c.execute("SELECT bench.loop(true, 5)")
        return alternating_loops(reps, [case, fresh], ("before", "after"), run)
    finally:
        for c in conns.values():
            c.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git commit of the code to compare with")
    parser.add_argument("--sizes", default="200:1000,100000:500000", help="nodes:edges, comma-separated")
    parser.add_argument("--calls", type=int, default=20, help="calls per loop (size, variant, repetition)")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "HEALTH_COST.md"))
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]
    before_sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.before], check=True,
                                capture_output=True, text=True).stdout.strip()
    per_call: dict[tuple[str, str], list[float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="graphsync-before-") as before_root, server() as admin:
        tree_of(args.before, before_root)
        for nodes, edges in sizes:
            case = f"{nodes:,} nodes / {edges:,} edges"
            with database(admin, "graphsync_bench_health_before", before_root) as before, \
                    database(admin, "graphsync_bench_health_after") as after:
                for dsn in (before, after):
                    prepare(dsn, nodes, edges)
                figures, case_loads = measure(before, after, case, args.reps, args.calls)
            per_call.update(figures)
            loads += case_loads
    text = loop_report(
        "What one graph.sync_health() call costs: before and after",
        f"graph.sync_health() as a superuser, this tree (after) and commit {before_sha} (before) in two"
        f" databases of one server, {args.calls} calls per in-server loop, {args.reps} repetitions"
        " alternating which goes first; each graph built, a twentieth of its nodes renamed and 1% of its edges"
        " added, 0.5% removed and replayed, a thousandth of its nodes renamed and left pending, one failed log"
        " row (benchmarks/health_cost.py). 'first call of a new session': connect, one call timed by the"
        " client, disconnect. 2 cores shared with other work: a noisy machine.",
        "graph", per_call, ("after", "before"), loads)
    text += PROFILE
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
