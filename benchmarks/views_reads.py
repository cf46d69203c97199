#!/usr/bin/env python3
"""What reading graph._nodes through its view (migration 245) costs, side by side
with the same reads of the table it replaced, in one run.

    .venv/bin/python benchmarks/views_reads.py [--quick] [--nodes N --edges M] [--reps R] [--out FILE]

Two databases on one throwaway server, the read benchmarks' graph in each
(benchmarks/common.py GRAPH_SCHEMA; 100k nodes / 500k edges, --quick: 10k / 50k):

- ``table``: graphsync as of the commit before migration 245 (its tree, extracted
  with git archive): graph._nodes is the row-secured table itself;
- ``view``: this tree: graph._nodes is a view owned by graph_views over
  graph._node_rows, whose row-level security applies to every reader.

Three roles read each, with the same queries, alternating which database goes
first from one repetition to the next: ``reader`` (may SELECT bench.*),
``admin`` (a graph_admin member) and ``bypass`` (BYPASSRLS, may SELECT bench.*).
Reads, per repetition: the reads' key lookup (reads/nodes.py LOOKUP: 200 keys
joined to graph._nodes by (table_oid, pk)), 20 times; the keys of 1,000 node
ids (reads/nodes.py KEYS), 20 times; count(*) of graph._nodes (the policy on
every row), 5 times; traverse depth 2 from 10 seeds, each in a new session (so
its keys are read from graph._nodes, not the backend's cache).
Ratios view / table per repetition, median (min-max). Also records the plan of
the key lookup for each role in each database. Writes benchmarks/VIEWS.md (or
--out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, database, server  # noqa: E402

MIGRATION = "sql/migrations/245-row-secured-views.sql"
ROLES = ("reader", "admin", "bypass")
SETUP = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_v_reader') THEN
        CREATE ROLE bench_v_reader LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_v_admin') THEN
        CREATE ROLE bench_v_admin LOGIN IN ROLE graph_admin;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_v_bypass') THEN
        CREATE ROLE bench_v_bypass LOGIN BYPASSRLS;
    END IF;
END $$;
GRANT USAGE ON SCHEMA bench TO bench_v_reader, bench_v_admin, bench_v_bypass;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO bench_v_reader, bench_v_admin, bench_v_bypass;
"""
LOOKUP = """
SELECT count(n.node_id)
FROM ROWS FROM (pg_catalog.unnest(%(oids)s::oid[]), pg_catalog.unnest(%(pks)s::text[])) AS k (table_oid, pk)
JOIN graph._nodes AS n ON n.table_oid = k.table_oid AND n.pk = k.pk
"""
KEYS = "SELECT count(pk) FROM graph._nodes WHERE node_id = ANY (%(ids)s::bigint[])"
EVERY = "SELECT count(*) FROM graph._nodes"
TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %(seed)s, max_depth => 2)"


@contextlib.contextmanager
def peer_tree():
    """The tree of the commit before the one that added MIGRATION, extracted into a
    temporary directory for the block (removed afterwards: every run left one behind)."""
    added = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--diff-filter=A", "--", MIGRATION],
                           capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="graphsync-peer-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", f"{added}^"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        yield Path(tree)


def connect_as(dsn: str, role: str) -> psycopg.Connection:
    return psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=f"bench_v_{role}"), autocommit=True)


def run_reads(dsn: str, role: str, params: dict) -> dict[str, float]:
    out = {}
    with connect_as(dsn, role) as c:
        c.execute(LOOKUP, params["lookup"])  # plan and warm this backend
        start = time.perf_counter()
        for _ in range(20):
            c.execute(LOOKUP, params["lookup"]).fetchone()
        out["key lookup (200 keys)"] = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        for _ in range(20):
            c.execute(KEYS, params["keys"]).fetchone()
        out["keys of 1,000 ids"] = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        for _ in range(5):
            c.execute(EVERY).fetchone()
        out["every node (count(*), the policy per row)"] = (time.perf_counter() - start) / 5
    total = 0.0
    for seed in params["seeds"]:
        with connect_as(dsn, role) as c:
            c.execute("SELECT graph._import_package()")  # the package loaded, as in a warm backend
            start = time.perf_counter()
            c.execute(TRAVERSE, {"seed": str(seed)}).fetchone()
            total += time.perf_counter() - start
    out["traverse depth 2, new session"] = total / len(params["seeds"])
    return out


def plan(dsn: str, role: str, params: dict) -> str:
    with connect_as(dsn, role) as c:
        rows = c.execute("EXPLAIN (COSTS OFF) " + LOOKUP.replace("%(oids)s", "'{%s}'" % ",".join(
            str(o) for o in params["lookup"]["oids"][:3])).replace("%(pks)s", "'{%s}'" % ",".join(
                params["lookup"]["pks"][:3]))).fetchall()
    return " / ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Join" in r[0] or "Loop" in r[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--edges", type=int)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "VIEWS.md"))
    args = ap.parse_args()
    nodes = args.nodes or (10_000 if args.quick else 100_000)
    edges = args.edges or nodes * 5
    rnd = random.Random(7)
    seeds = rnd.sample(range(1, nodes + 1), 10)
    pks = [str(k) for k in rnd.sample(range(1, nodes + 1), 200)]
    ids = rnd.sample(range(nodes), 1000)
    load_before = os.getloadavg()
    with peer_tree() as peer, server() as admin_dsn, \
            database(admin_dsn, "graphsync_bench_table", root=peer) as table_dsn, \
            database(admin_dsn, "graphsync_bench_view") as view_dsn:
        dsns = {"table": table_dsn, "view": view_dsn}
        params = {}
        for name, dsn in dsns.items():
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(GRAPH_SCHEMA.format(nodes=nodes, edges=edges))
                c.execute("SELECT graph.build()")
                c.execute(SETUP)
                c.execute("ANALYZE graph._nodes" if name == "table" else "ANALYZE graph._node_rows")
                oid = c.execute("SELECT 'bench.nodes'::regclass::oid").fetchone()[0]
                params[name] = {"lookup": {"oids": [oid] * len(pks), "pks": pks}, "keys": {"ids": ids},
                                "seeds": seeds}
        with connect_as(view_dsn, "bypass") as c:  # may SELECT bench.nodes: sees every node through the view
            assert c.execute("SELECT count(*) FROM graph._nodes").fetchone()[0] == nodes
        answers = {}
        for name, dsn in dsns.items():
            for role in ROLES:
                with connect_as(dsn, role) as c:
                    answers[name, role] = (c.execute(LOOKUP, params[name]["lookup"]).fetchone()[0],
                                           c.execute(KEYS, params[name]["keys"]).fetchone()[0])
        assert len(set(answers.values())) == 1 and answers["view", "reader"] == (200, 1000), answers
        plans = {(name, role): plan(dsn, role, params[name]) for name, dsn in dsns.items() for role in ROLES}
        runs = {(name, role): [] for name in dsns for role in ROLES}
        for rep in range(args.reps):
            order = list(dsns) if rep % 2 == 0 else list(reversed(dsns))
            for role in ROLES:
                for name in order:
                    runs[name, role].append(run_reads(dsns[name], role, params[name]))
    load_after = os.getloadavg()

    lines = [
        "# graph._nodes as a view: what it costs reads",
        "",
        f"`benchmarks/views_reads.py`, {nodes:,} nodes / {edges:,} edges, {args.reps} alternating repetitions"
        f" of each role's reads in the two databases (`table`: graphsync before migration 245, graph._nodes the"
        f" row-secured table; `view`: graph._nodes the view over graph._node_rows). Load average"
        f" {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores, shared with other work: the"
        " figures are noisy).",
        "",
        "| read | role | table: median | view: median | view / table: median (min-max) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for op in runs["table", "reader"][0]:
        for role in ROLES:
            t = [r[op] for r in runs["table", role]]
            v = [r[op] for r in runs["view", role]]
            ratios = [b / a for a, b in zip(t, v, strict=True)]
            lines.append(f"| {op} | `{role}` | {statistics.median(t) * 1000:.2f} ms |"
                         f" {statistics.median(v) * 1000:.2f} ms | {statistics.median(ratios):.2f}×"
                         f" ({min(ratios):.2f}–{max(ratios):.2f}) |")
    lines += ["", "Plans of the key lookup (scans and joins, `EXPLAIN (COSTS OFF)`, 3 keys):", ""]
    for (name, role), text in plans.items():
        lines.append(f"- `{name}`, `{role}`: {text}")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
