#!/usr/bin/env python3
"""A read asks only the secured label columns it reaches, against the code before.

    .venv/bin/python benchmarks/label_reach.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases: ``before`` installed from that tree,
``after`` from this one; the same graph in both: the read benchmarks' graph
(benchmarks/common.py GRAPH_SCHEMA, N nodes, 5N edges of bench.links with label
column ``kind``) plus bench.far (N rows) and bench.farlinks (5N rows, a join table
with label column ``tag``, 50 distinct values), registered, which no edge from
bench.nodes reaches.

Roles, each reading both databases with the same depth-2 traversals from the same
20 seeds, alternating the order (database and role) every repetition:

- ``plain``: BYPASSRLS, row-level security applies to no table: the ordinary read,
  which must not get slower (it loads label names once per graph version);
- ``rls``: a policy ``USING (true)`` on bench.farlinks: row-level security of a
  label column's table applies, so every read loads label names through
  graph._labels; before, its policy read both label columns (bench.links' and
  bench.farlinks'), after only bench.links' (bench.farlinks is not reached).

Ratios after / before, per repetition, median (min-max). Writes benchmarks/LABEL_REACH.md.
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

ROLES = ("plain", "rls")

SETUP = """
CREATE TABLE bench.far (id int PRIMARY KEY, note text NOT NULL);
CREATE TABLE bench.farlinks (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, tag text NOT NULL);
INSERT INTO bench.far SELECT g, 'far ' || g FROM generate_series(1, {nodes}) AS g;
INSERT INTO bench.farlinks
SELECT g, 1 + (g * 7) % {nodes}, 1 + (g * 13) % {nodes}, 'tag ' || g % 50 FROM generate_series(1, {edges}) AS g;
ANALYZE bench.far, bench.farlinks;
SELECT graph.add_table('bench.far', columns => '{{note}}');
SELECT graph.add_edge('bench.far', 'a', 'bench.far', to_column => 'b', via_table => 'bench.farlinks',
                      label_column => 'tag');
SELECT graph.build();
ALTER TABLE bench.farlinks ENABLE ROW LEVEL SECURITY;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bench_plain', 'bench_rls'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I', r);
        END IF;
    END LOOP;
    ALTER ROLE bench_plain BYPASSRLS;
END $$;
GRANT USAGE ON SCHEMA bench TO bench_plain, bench_rls;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO bench_plain, bench_rls;
CREATE POLICY every_far ON bench.farlinks FOR SELECT TO bench_rls USING (true);
"""

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 2)"


def run_reads(conn, seeds):
    start = time.perf_counter()
    for seed in seeds:
        conn.execute(TRAVERSE, {"seed": str(seed)})
    return (time.perf_counter() - start) / len(seeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the repository tree of the code to compare with")
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "LABEL_REACH.md"))
    args = ap.parse_args()
    nodes, edges = args.nodes, args.nodes * 5
    seeds = random.Random(7).sample(range(1, nodes + 1), 20)
    load_before = os.getloadavg()
    with server() as admin, database(admin, "graphsync_label_before", args.before) as before, \
            database(admin, "graphsync_label_after") as after:
        for dsn in (before, after):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
                c.execute(SETUP.format(nodes=nodes, edges=edges))
        conns = {}
        for db, dsn in (("before", before), ("after", after)):
            for role in ROLES:
                conns[db, role] = psycopg.connect(dsn, autocommit=True)
                conns[db, role].execute(f"SET ROLE bench_{role}")
        try:
            for role in ROLES:  # the same answers, and every backend warmed alike
                for seed in seeds[:3]:
                    got = {db: conns[db, role].execute(TRAVERSE, {"seed": str(seed)}).fetchone()[0]
                           for db in ("before", "after")}
                    assert got["before"] == got["after"], (role, seed, got)
            for c in conns.values():
                run_reads(c, seeds[:5])
            runs = {k: [] for k in conns}
            order = list(conns)
            for rep in range(args.reps):
                for k in order if rep % 2 == 0 else reversed(order):
                    runs[k].append(run_reads(conns[k], seeds))
        finally:
            for c in conns.values():
                c.close()
    load_after = os.getloadavg()

    lines = [
        "# A read asks only the secured label columns it reaches: before and after",
        "",
        f"`benchmarks/label_reach.py`, {nodes:,} nodes / {edges:,} edges (+ bench.far, {nodes:,} rows, and"
        f" bench.farlinks, {edges:,} rows with a label column, that no edge from bench.nodes reaches), traverse"
        f" depth 2 from 20 seeds, {args.reps} alternating repetitions. Load average {load_before[0]:.1f} before,"
        f" {load_after[0]:.1f} after (2 cores, shared with other work: a noisy run).",
        "",
        "| role | before | after | after / before: median (min-max) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for role in ROLES:
        b, a = runs["before", role], runs["after", role]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        lines.append(f"| `{role}` | {statistics.median(b) * 1000:.1f} ms | {statistics.median(a) * 1000:.1f} ms"
                     f" | {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
