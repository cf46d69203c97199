#!/usr/bin/env python3
"""What a source table's row-level security costs a read, side by side in one run.

    .venv/bin/python benchmarks/rls_reads.py [--quick] [--nodes N --edges M] [--reps R] [--out FILE]

The read benchmarks' graph (benchmarks/common.py GRAPH_SCHEMA; 100k nodes / 500k
edges, --quick: 10k / 50k), and three roles reading it with the same reads from
the same seeds, alternating which goes first:

- ``bypass``: BYPASSRLS, so row-level security does not apply: today's fast path;
- ``rls_all``: a policy ``USING (true)``: the same answer, plus the query that
  asks which rows the caller can see (one per read and such table);
- ``rls_tenant``: a policy keeping a tenth of the rows (``id % 10 = 0``), as a
  per-workspace policy does;
- the peer: a recursive CTE of the same depth-2 walk as ``rls_tenant``, whose
  join with bench.nodes the same policy filters.

Then, in a second phase of the same run, row-level security on the join table
bench.links as well (its rows carry the edges: reads/edge_rows.py), read by
``bypass`` again and:

- ``join_all``: policies ``USING (true)`` on both tables: the same answer, plus
  the query that asks which edges the visible links carry (and the one for the
  nodes), and the CSR without the others;
- ``join_tenant``: every node, a tenth of the links (``id % 10 = 0``), as a
  per-workspace policy on the join table alone does;
- the peer: the recursive CTE as ``join_tenant``, whose join with bench.links
  the same policy filters.

Reads: traverse depth 2 from 20 seeds (id % 10 = 0, so every role sees them),
shortest_path (at most 4 edges) from each seed to the next, connected_components
(count). Ratios against ``bypass``, medians over the
repetitions (min-max). Writes benchmarks/RLS.md (or --out).
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

from common import GRAPH_SCHEMA, database, server  # noqa: E402

DB = "graphsync_bench_rls"
ROLES = ("bypass", "rls_all", "rls_tenant")
JOIN_ROLES = ("bypass", "join_all", "join_tenant")

SETUP = """
ALTER TABLE bench.nodes ENABLE ROW LEVEL SECURITY;
DROP ROLE IF EXISTS bench_bypass; DROP ROLE IF EXISTS bench_rls_all; DROP ROLE IF EXISTS bench_rls_tenant;
CREATE ROLE bench_bypass BYPASSRLS; CREATE ROLE bench_rls_all; CREATE ROLE bench_rls_tenant;
GRANT USAGE ON SCHEMA bench TO bench_bypass, bench_rls_all, bench_rls_tenant;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO bench_bypass, bench_rls_all, bench_rls_tenant;
CREATE POLICY all_rows ON bench.nodes FOR SELECT TO bench_rls_all USING (true);
CREATE POLICY tenth ON bench.nodes FOR SELECT TO bench_rls_tenant USING (id % 10 = 0);
DROP ROLE IF EXISTS bench_join_all; DROP ROLE IF EXISTS bench_join_tenant;
CREATE ROLE bench_join_all; CREATE ROLE bench_join_tenant;
GRANT USAGE ON SCHEMA bench TO bench_join_all, bench_join_tenant;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO bench_join_all, bench_join_tenant;
CREATE POLICY all_nodes ON bench.nodes FOR SELECT TO bench_join_all, bench_join_tenant USING (true);
CREATE POLICY all_links ON bench.links FOR SELECT TO bench_join_all USING (true);
CREATE POLICY tenth_links ON bench.links FOR SELECT TO bench_join_tenant USING (id % 10 = 0);
"""

# The second phase: the join table's row-level security on.
JOIN_SETUP = "ALTER TABLE bench.links ENABLE ROW LEVEL SECURITY"

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 2)"
PATH = "SELECT count(*) FROM graph.shortest_path('bench.nodes', %(seed)s, 'bench.nodes', %(other)s, max_depth => 4)"
COMPONENTS = "SELECT count(*) FROM graph.connected_components()"
CTE = """
WITH RECURSIVE walk (id, depth) AS (
    SELECT n.id, 0 FROM bench.nodes AS n WHERE n.id = %(seed)s::int
    UNION
    SELECT n.id, w.depth + 1 FROM walk AS w JOIN bench.links AS l ON l.src = w.id
    JOIN bench.nodes AS n ON n.id = l.dst WHERE w.depth < 2
)
SELECT count(DISTINCT id) FROM walk
"""


def run_reads(conn, seeds, cte=False):
    out = {}
    start = time.perf_counter()
    for seed in seeds:
        conn.execute(CTE if cte else TRAVERSE, {"seed": str(seed) if not cte else seed})
    out["traverse depth 2"] = (time.perf_counter() - start) / len(seeds)
    if not cte:
        start = time.perf_counter()
        for seed, other in zip(seeds, seeds[1:] + seeds[:1], strict=True):
            conn.execute(PATH, {"seed": str(seed), "other": str(other)})
        out["shortest_path"] = (time.perf_counter() - start) / len(seeds)
        start = time.perf_counter()
        conn.execute(COMPONENTS)
        out["connected_components"] = time.perf_counter() - start
    return out


def measure(dsn, roles, peer, seeds, reps):
    """{name: [run_reads of each repetition]} of ``roles`` and the CTE as ``peer``,
    alternating the order from one repetition to the next."""
    conns = {}
    for role in roles:
        conns[role] = psycopg.connect(dsn, autocommit=True)
        conns[role].execute(f"SET ROLE bench_{role}")
    conns["cte"] = psycopg.connect(dsn, autocommit=True)
    conns["cte"].execute(f"SET ROLE bench_{peer}")
    try:
        for seed in seeds[:3]:  # the graph's walk and the CTE's agree under the peer's policies
            walked = conns[peer].execute(TRAVERSE, {"seed": str(seed)}).fetchone()[0]
            assert walked == conns["cte"].execute(CTE, {"seed": seed}).fetchone()[0], (peer, seed)
        answers = {role: conns[role].execute(COMPONENTS).fetchone()[0] for role in roles}
        for name, c in conns.items():  # warm every backend alike
            run_reads(c, seeds[:5], cte=name == "cte")
        runs = {name: [] for name in conns}
        names = list(conns)
        for rep in range(reps):
            for name in names if rep % 2 == 0 else reversed(names):
                runs[name].append(run_reads(conns[name], seeds, cte=name == "cte"))
    finally:
        for c in conns.values():
            c.close()
    return runs, answers


def table(runs, peer_label):
    def ratios(name, op):
        r = [run[op] / base[op] for run, base in zip(runs[name], runs["bypass"], strict=True)]
        return statistics.median(r), min(r), max(r)

    lines = ["| read | role | median | vs `bypass`: median (min-max) |", "| --- | --- | ---: | ---: |"]
    for op in ("traverse depth 2", "shortest_path", "connected_components"):
        for name in runs:
            if op not in runs[name][0]:
                continue
            median = statistics.median(run[op] for run in runs[name]) * 1000
            label = peer_label if name == "cte" else f"`{name}`"
            if name == "bypass":
                lines.append(f"| {op} | {label} | {median:.1f} ms | 1 |")
            else:
                m, lo, hi = ratios(name, op)
                lines.append(f"| {op} | {label} | {median:.1f} ms | {m:.2f}× ({lo:.2f}–{hi:.2f}) |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--edges", type=int)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RLS.md"))
    args = ap.parse_args()
    nodes = args.nodes or (10_000 if args.quick else 100_000)
    edges = args.edges or nodes * 5
    seeds = random.Random(7).sample([i for i in range(10, nodes + 1, 10)], 20)
    load_before = os.getloadavg()
    with server() as admin_dsn, database(admin_dsn, DB) as dsn:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
            c.execute("SELECT graph.build()")
            c.execute(SETUP)
        runs, answers = measure(dsn, ROLES, "rls_tenant", seeds, args.reps)
        assert answers["bypass"] == answers["rls_all"] == nodes and answers["rls_tenant"] == nodes // 10, answers
        load_middle = os.getloadavg()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(JOIN_SETUP)
        join_runs, answers = measure(dsn, JOIN_ROLES, "join_tenant", seeds, args.reps)
        assert answers["bypass"] == answers["join_all"] == answers["join_tenant"] == nodes, answers
    load_after = os.getloadavg()

    lines = [
        "# Row-level security in reads: what it costs",
        "",
        f"`benchmarks/rls_reads.py`, {nodes:,} nodes / {edges:,} edges, {args.reps} alternating repetitions,"
        f" 20 seeds per traversal. Load average {load_before[0]:.1f} before, {load_middle[0]:.1f} between"
        f" the phases, {load_after[0]:.1f} after (2 cores, shared with other work).",
        "",
        "## Row-level security on the node table",
        "",
        *table(runs, "recursive CTE, tenth policy"),
        "",
        "## Row-level security on the join table too (bench.links, whose rows carry the edges)",
        "",
        "`join_all` and `join_tenant` see every node (a `USING (true)` policy on bench.nodes, so they also pay",
        "the node query of `rls_all`); `join_tenant` a tenth of the links.",
        "",
        *table(join_runs, "recursive CTE, tenth-of-links policy"),
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
