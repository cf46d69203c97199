#!/usr/bin/env python3
"""What answering graph._nodes' row policy as the caller costs, against the code before.

    .venv/bin/python benchmarks/row_visible_caller.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). graph._row_visible (and graph._labels' policy) now look up the
role running the call (one kept-plan ``SELECT current_user`` per call) instead of
trusting the role their caller names. One server, two databases, ``before`` from
that tree and ``after`` from this one, the same graph in both (benchmarks/reach.py's
setup: N nodes, 5N edges, policies), read by the roles of reach.py whose reads call
the policy node by node:

- ``rls_near``: a policy shows a tenth of bench.nodes;
- ``all_near``: a policy ``USING (true)``: every node a statement reads calls it;

each with two statements, alternating database and order every repetition:
``traverse`` (depth-2 traversals from 20 seeds, as reach.py) and ``scan``
(``SELECT count(*) FROM graph._nodes`` of bench.nodes, 5 times: the policy is
called once per node of the table, the worst case of the change).
Ratios after / before, per repetition, median (min-max). Writes
benchmarks/ROW_VISIBLE_CALLER.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import reach  # noqa: E402
from common import GRAPH_SCHEMA, database, server  # noqa: E402

ROLES = ("rls_near", "all_near")
QUERIES = {
    "traverse": reach.TRAVERSE,
    "scan": "SELECT count(*) + 0 * %(seed)s::int FROM graph._nodes WHERE table_oid = 'bench.nodes'::regclass",
}


def timed(conn, query, seeds):
    start = time.perf_counter()
    for seed in seeds:
        conn.execute(query, {"seed": str(seed)})
    return (time.perf_counter() - start) / len(seeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "ROW_VISIBLE_CALLER.md"))
    args = ap.parse_args()
    nodes, edges = args.nodes, args.nodes * 5
    seeds = {"traverse": random.Random(7).sample(list(range(10, nodes + 1, 10)), 20), "scan": list(range(5))}
    load_before = os.getloadavg()
    with server() as admin, database(admin, "graphsync_rvc_before", args.before) as before, \
            database(admin, "graphsync_rvc_after") as after:
        for dsn in (before, after):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
                c.execute(reach.SETUP.format(nodes=nodes, edges=edges))
        conns = {}
        for name, dsn in (("before", before), ("after", after)):
            for role in ROLES:
                conns[name, role] = psycopg.connect(dsn, autocommit=True)
                conns[name, role].execute(f"SET ROLE bench_{role}")
        try:
            for role in ROLES:  # the same answers, and every backend warmed alike
                for q, query in QUERIES.items():
                    for seed in seeds[q][:3]:
                        got = {n: conns[n, role].execute(query, {"seed": str(seed)}).fetchone()[0]
                               for n in ("before", "after")}
                        assert got["before"] == got["after"], (role, q, seed, got)
            runs = {(k, q): [] for k in conns for q in QUERIES}
            order = list(runs)
            for rep in range(args.reps):
                for (name, role), q in order if rep % 2 == 0 else reversed(order):
                    runs[(name, role), q].append(timed(conns[name, role], QUERIES[q], seeds[q]))
        finally:
            for c in conns.values():
                c.close()
    load_after = os.getloadavg()
    lines = [
        "# graph._nodes' row policy answered as the caller: before and after",
        "",
        f"`benchmarks/row_visible_caller.py`, {nodes:,} nodes / {edges:,} edges (benchmarks/reach.py's graph and"
        f" policies), {args.reps} alternating repetitions; `traverse`: depth-2 traversals from 20 seeds, per"
        f" traversal; `scan`: `count(*)` of graph._nodes of bench.nodes ({nodes:,} policy calls for `all_near`),"
        f" per statement. Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores, shared"
        " with other work: a noisy run).",
        "",
        "| role | statement | before | after | after / before: median (min-max) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for role in ROLES:
        for q in QUERIES:
            b, a = runs[("before", role), q], runs[("after", role), q]
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            lines.append(f"| `{role}` | `{q}` | {statistics.median(b) * 1000:.1f} ms |"
                         f" {statistics.median(a) * 1000:.1f} ms | {statistics.median(ratios):.2f}"
                         f" ({min(ratios):.2f}–{max(ratios):.2f}) |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
