#!/usr/bin/env python3
"""A read that asks only the row-secured tables it reaches, against the code before.

    .venv/bin/python benchmarks/reach.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases: ``before`` installed from that tree,
``after`` from this one; the same graph in both: the read benchmarks' graph
(benchmarks/common.py GRAPH_SCHEMA, N nodes, 5N edges) plus bench.other, a
registered table of N rows with row-level security that no edge reaches.

Roles, each reading both databases with the same depth-2 traversals from the same
20 seeds, alternating the order (database and role) every repetition:

- ``plain``: BYPASSRLS, row-level security applies to no table: the ordinary read,
  which must not get slower;
- ``rls``: policies on bench.nodes (a tenth of the rows: ``id % 10 = 0``) and on
  bench.other (``USING (true)``): before, every read asked both tables (one query
  each) and graph._nodes' policy read both again in each statement that read a
  node of either; after, a read asks bench.nodes only (bench.other is not reached)
  and graph._nodes' policy asks only the table of the nodes a statement reads;
- ``rls_near``: the same policy on bench.nodes, no SELECT on bench.other (so neither
  version asks it): what asking graph._nodes' policy node by node (graph._row_visible)
  instead of one hashed set per statement costs;
- ``all_near``: as ``rls_near`` with a policy ``USING (true)``: every node visible, so
  every node a statement reads calls the policy function (the worst case of that).

Ratios after / before, per repetition, median (min-max). Writes benchmarks/REACH.md.
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


def roles_sql(roles: tuple[str, ...], bypass: tuple[str, ...] = ("plain",)) -> str:
    """SQL that makes the role bench_<role> of each of ``roles`` (once a cluster), those of
    ``bypass`` BYPASSRLS, and lets them read schema bench's tables (those made before it
    runs): what each compare() setup makes its readers with."""
    names = ["bench_%s" % r for r in roles]
    return (
        "DO $$\nBEGIN\n"
        + "".join("    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s; END IF;\n"
                  % (n, n) for n in names)
        + "".join("    ALTER ROLE bench_%s BYPASSRLS;\n" % r for r in bypass)
        + "END $$;\n"
        + "GRANT USAGE ON SCHEMA bench TO %s;\n" % ", ".join(names)
        + "GRANT SELECT ON ALL TABLES IN SCHEMA bench TO %s;\n" % ", ".join(names)
    )


ROLES = ("plain", "rls", "rls_near", "all_near")

SETUP = """
CREATE TABLE bench.other (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO bench.other SELECT g, 'other ' || g FROM generate_series(1, {nodes}) AS g;
SELECT graph.add_table('bench.other', columns => '{{note}}');
SELECT graph.build();
ALTER TABLE bench.nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench.other ENABLE ROW LEVEL SECURITY;
""" + roles_sql(ROLES) + """REVOKE SELECT ON bench.other FROM bench_rls_near, bench_all_near;
CREATE POLICY tenth ON bench.nodes FOR SELECT TO bench_rls, bench_rls_near USING (id % 10 = 0);
CREATE POLICY all_nodes ON bench.nodes FOR SELECT TO bench_all_near USING (true);
CREATE POLICY all_rows ON bench.other FOR SELECT TO bench_rls USING (true);
"""

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 2)"


def run_reads(conn, seeds, statement=TRAVERSE):
    start = time.perf_counter()
    for seed in seeds:
        conn.execute(statement, {"seed": str(seed)})
    return (time.perf_counter() - start) / len(seeds)


def compare(*, doc: str, db: str, out: str, setup, roles: tuple[str, ...], seeds_of, title: str,
            describe, queries=None, reps: int = 5, flags=None) -> None:
    """The before/after run benchmarks/reach.py, label_reach.py and row_visible_caller.py
    make: ``setup`` (formatted with nodes and edges) run in a database of the code before
    and one of this code, one connection per role (SET ROLE bench_<role>), the same
    answers checked, then depth-2 traversals from ``seeds_of(nodes)`` alternating (or,
    given ``queries``, each statement of {name: (statement, seeds_of)}, with a parameter
    ``seed``); writes a table of after / before per role (and statement, when there are
    several) to ``--out`` (default ``out``) headed by ``title`` and
    ``describe(nodes, edges, reps, load_before, load_after)``. ``flags``: {option: help}
    of switches the script takes; ``setup`` may then be a function of them ({name: bool})
    giving the SQL."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the repository tree of the code to compare with")
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / out))
    for flag, text in (flags or {}).items():
        ap.add_argument(flag, action="store_true", help=text)
    args = ap.parse_args()
    if callable(setup):
        setup = setup({flag.lstrip("-").replace("-", "_"): getattr(args, flag.lstrip("-").replace("-", "_"))
                       for flag in flags or {}})
    nodes, edges = args.nodes, args.nodes * 5
    queries = queries or {"traverse": (TRAVERSE, seeds_of)}
    seeds = {q: of(nodes) for q, (_, of) in queries.items()}
    load_before = os.getloadavg()
    with server() as admin, database(admin, f"graphsync_{db}_before", args.before) as before, \
            database(admin, f"graphsync_{db}_after") as after:
        for dsn in (before, after):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
                c.execute(setup.format(nodes=nodes, edges=edges))
        conns = {}
        for name, dsn in (("before", before), ("after", after)):
            for role in roles:
                conns[name, role] = psycopg.connect(dsn, autocommit=True)
                conns[name, role].execute(f"SET ROLE bench_{role}")
        try:
            for role in roles:  # the same answers, and every backend warmed alike
                for q, (statement, _) in queries.items():
                    for seed in seeds[q][:3]:
                        got = {name: conns[name, role].execute(statement, {"seed": str(seed)}).fetchone()[0]
                               for name in ("before", "after")}
                        assert got["before"] == got["after"], (role, q, seed, got)
            for c in conns.values():
                for q, (statement, _) in queries.items():
                    run_reads(c, seeds[q][:5], statement)
            runs = {(k, q): [] for k in conns for q in queries}
            order = list(runs)
            for rep in range(args.reps):
                for k, q in order if rep % 2 == 0 else reversed(order):
                    runs[k, q].append(run_reads(conns[k], seeds[q], queries[q][0]))
        finally:
            for c in conns.values():
                c.close()
    load_after = os.getloadavg()

    lines = [
        title,
        "",
        describe(nodes, edges, args.reps, load_before, load_after),
        "",
        "| role | statement | before | after | after / before: median (min-max) |" if len(queries) > 1 else
        "| role | before | after | after / before: median (min-max) |",
        "| --- | --- | ---: | ---: | ---: |" if len(queries) > 1 else "| --- | ---: | ---: | ---: |",
    ]
    for role in roles:
        for q in queries:
            b, a = runs[("before", role), q], runs[("after", role), q]
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            statement = f" `{q}` |" if len(queries) > 1 else ""
            lines.append(f"| `{role}` |{statement} {statistics.median(b) * 1000:.1f} ms |"
                         f" {statistics.median(a) * 1000:.1f} ms | {statistics.median(ratios):.2f}"
                         f" ({min(ratios):.2f}–{max(ratios):.2f}) |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def main() -> None:
    compare(
        doc=__doc__, db="reach", out="REACH.md", setup=SETUP, roles=ROLES,
        seeds_of=lambda nodes: random.Random(7).sample(list(range(10, nodes + 1, 10)), 20),
        title="# A read asks only the row-secured tables it reaches: before and after",
        describe=lambda nodes, edges, reps, lb, la: (
            f"`benchmarks/reach.py`, {nodes:,} nodes / {edges:,} edges (+ bench.other, {nodes:,} rows that no edge"
            f" reaches), traverse depth 2 from 20 seeds, {reps} alternating repetitions. Load average"
            f" {lb[0]:.1f} before, {la[0]:.1f} after (2 cores, shared with other work: a noisy run)."))

if __name__ == "__main__":
    main()
