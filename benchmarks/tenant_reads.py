#!/usr/bin/env python3
"""A read kept to a tenant under row-level security after each graph change, against the code before.

    .venv/bin/python benchmarks/tenant_reads.py --before DIR [--nodes N] [--reps R] [--out FILE]

``--before``: a checkout of the code to compare with (the repository tree of an
earlier commit). One server, two databases (this code's and the code before's), the
same graph in both: the read benchmarks' graph (benchmarks/common.py GRAPH_SCHEMA, N
nodes, 5N edges) with a tenant column on bench.nodes (``id % 10``), row-level security
on it (a policy ``USING (true)``) and a reader, ``bench_tenant``, reading with
``SET graph.tenant = '3'``. Each repetition, in each database in turn (the order
alternating): 20 depth-2 traversals from nodes of tenant 3, each after an admin's
update of one node row and ``graph.apply_sync()``, so that every read sees a new graph
version, as under writes. Reported: the median read, this code / before per
repetition (median, min-max), and the same reads without the tenant as a control.

Before: each new version's read made its tenant mask by reading every node of the
tenant in graph._nodes, whose policy asked the secured table about each of them (past
a few keys, the whole table); now a read asks each node's tenant with the node
(reads.access.Unresolved). Writes benchmarks/TENANT_READS.md.
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

from common import GRAPH_SCHEMA, before_arguments, before_report, this_and_before  # noqa: E402

TENANT = """
ALTER TABLE bench.nodes ADD COLUMN t text;
UPDATE bench.nodes SET t = (id % 10)::text;
SELECT graph.remove_table('bench.nodes', cascade => true);
SELECT graph.add_table('bench.nodes', columns => '{name}', tenant_column => 't');
SELECT graph.add_edge('bench.nodes', 'src', 'bench.nodes', to_column => 'dst', via_table => 'bench.links',
                      weight_column => 'weight', label_column => 'kind');
SELECT graph.build();
ALTER TABLE bench.nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_node ON bench.nodes FOR SELECT TO bench_tenant USING (true);
GRANT USAGE ON SCHEMA bench TO bench_tenant;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO bench_tenant;
"""

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %s, max_depth => 2)"


def reads(reader, writer, seeds, tenant):
    """The seconds of each read of ``seeds``, each after a graph change."""
    reader.execute("SELECT set_config('graph.tenant', %s, false)", (tenant or "",))
    times = []
    for i, seed in enumerate(seeds):
        writer.execute("UPDATE bench.nodes SET name = name || '.' WHERE id = %s", (1 + i,))
        writer.execute("SELECT graph.apply_sync()")
        start = time.perf_counter()
        reader.execute(TRAVERSE, (seed,)).fetchone()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    before_arguments(ap, "TENANT_READS.md")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(7)
    seeds = [str(10 * rng.randrange(1, args.nodes // 10) + 3) for _ in range(20)]
    loads = ["/".join("%.1f" % x for x in os.getloadavg())]
    with this_and_before(args.before) as (this, earlier):
        conns = {}
        for name, dsn in (("this", this), ("before", earlier)):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_tenant')"
                          " THEN CREATE ROLE bench_tenant; END IF; END $$")
                c.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=5 * args.nodes))
                c.execute(TENANT)
            reader = psycopg.connect(dsn, autocommit=True)
            reader.execute("SET ROLE bench_tenant")
            conns[name] = (reader, psycopg.connect(dsn, autocommit=True))
            reads(*conns[name], seeds[:3], "3")  # warm: the package loaded, the base mapped
        got = {(name, tenant): [] for name in conns for tenant in ("3", None)}
        for rep in range(args.reps):
            for name in ("this", "before") if rep % 2 == 0 else ("before", "this"):
                for tenant in ("3", None):
                    got[name, tenant].append(statistics.median(reads(*conns[name], seeds, tenant)))
        for reader, writer in conns.values():
            reader.close()
            writer.close()
    loads.append("/".join("%.1f" % x for x in os.getloadavg()))
    rows = []
    for tenant, what in (("3", "depth-2 read after a graph change, `graph.tenant = '3'`"),
                         (None, "the same without a tenant (control)")):
        mine, theirs = got["this", tenant], got["before", tenant]
        ratios = sorted(a / b for a, b in zip(mine, theirs, strict=True))
        rows.append((what, "%.1f ms" % (statistics.median(mine) * 1000), "%.1f ms" % (statistics.median(theirs) * 1000),
                     "%.2f (%.2f–%.2f)" % (statistics.median(ratios), ratios[0], ratios[-1])))
    text = before_report(
        "A tenant's read under row-level security after each graph change: this code and the code before",
        "`benchmarks/tenant_reads.py`, %d nodes / %d edges, a tenant column and a `USING (true)` policy on the"
        " node table, 20 reads a repetition (each after an update and `graph.apply_sync()`), the median read of"
        " each, %d alternating repetitions; ratios this / before per repetition." % (args.nodes, 5 * args.nodes,
                                                                                     args.reps),
        args, tuple(loads), rows)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
