#!/usr/bin/env python3
"""Build over a large registry: the MusicBrainz schema (mbdata's SQL, 375 tables),
registered with graph.add_schema, empty, so that what is measured is the cost of a
build's statements per source rather than of rows.

    .venv/bin/python benchmarks/build_schema.py [--reps R] [--out benchmarks/BUILD_SCHEMA.md]

Runs on its own throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN names a
server. Side by side, alternating, R repetitions:

- the source read as build did it before (one statement with a data-modifying CTE
  per node table and edge source: its planning grew with the registry), timed on the
  same generated queries;
- the source read as build does it now (one statement calling graph._source_nodes /
  graph._source_edges once per source: each query planned on its own);
- the whole graph.build();
- with --previous REV (a git revision of this repository): the whole graph.build() of
  that revision's code, installed over the same database before its build (and this
  code installed again before this code's build; the installs are not timed).

Needs the mbdata package (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import database, install_tree, server  # noqa: E402
from rebuild import previous_code  # noqa: E402

from musicbrainz import musicbrainz_sql  # noqa: E402

DBNAME = "gs_bench_build_schema"

# Both reads in one backend, over the same generated queries (sync/sources.py): the
# statement build ran before, and the one it runs now. Each prints its seconds.
READS = """
DO $$
import time
plpy.execute("SELECT graph._import_package()")
from graphsync import db
from graphsync.sync import registry, sources
reg = registry.load(plpy)
nodes = [sources._node_select(plpy, n) for n in reg.nodes.values()]
edges = []
for e in reg.edges:
    edges.extend(sources._edge_selects(plpy, reg, e))
db.empty_temp_table(plpy, "_gs_src_nodes", sources.NODE_COLUMNS)
db.empty_temp_table(plpy, "_gs_src_edges", sources.EDGE_COLUMNS)
for variant in %s:
    plpy.execute("TRUNCATE pg_temp._gs_src_nodes, pg_temp._gs_src_edges")
    started = time.monotonic()
    if variant == "one_cte_per_source":
        statements = (["INSERT INTO pg_temp._gs_src_nodes " + q for q in nodes]
                      + ["INSERT INTO pg_temp._gs_src_edges " + q for q in edges])
        ctes = ", ".join("s%%d AS (%%s)" %% (i, s) for i, s in enumerate(statements))
        plpy.execute("WITH " + ctes + " SELECT pg_current_snapshot()::text AS snap")
    else:
        plpy.execute(plpy.prepare(sources.READ %% "", ["text[]", "text[]"]), [nodes, edges])
    took = "%%s %%.3f %%d %%d" %% (variant, time.monotonic() - started, len(nodes), len(edges))
    plpy.execute(plpy.prepare("SELECT set_config('graphsync_bench.' || $1, $2, false)", ["text", "text"]),
                 [variant, took])
$$ LANGUAGE plpython3u
"""


def reads(conn, order):
    """{variant: (seconds, node queries, edge queries)} of the two reads, in ``order``."""
    conn.execute("SET search_path = pg_catalog, pg_temp")
    conn.execute("BEGIN")
    conn.execute(READS % repr(order))
    conn.execute("COMMIT")  # keeps the settings the block set (its temp tables go)
    conn.execute("RESET search_path")
    got = [conn.execute("SELECT current_setting('graphsync_bench.' || %s)", (v,)).fetchone()[0].split()
           for v in order]
    return {g[0]: (float(g[1]), int(g[2]), int(g[3])) for g in got}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--previous", help="a git revision whose build to compare with (e.g. main)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "BUILD_SCHEMA.md"))
    args = parser.parse_args(argv)
    load_before = open("/proc/loadavg").read().split()[:3]
    started = time.perf_counter()
    types, tables, keys = musicbrainz_sql()
    times = {"one_cte_per_source": [], "per_source_functions": [], "build": [], "previous": []}
    previous = previous_code(args.previous) if args.previous else None
    with server() as admin, database(admin, DBNAME) as dsn, psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE SCHEMA musicbrainz")
        c.execute("SET search_path = musicbrainz")
        for sql in (types, tables, keys):
            c.execute(sql)
        c.execute("RESET search_path")
        t0 = time.perf_counter()
        c.execute("SELECT count(*) FROM graph.add_schema('musicbrainz')")
        register = time.perf_counter() - t0
        n_nodes, n_edges = c.execute("SELECT (SELECT count(*) FROM graph._node_tables),"
                                     " (SELECT count(*) FROM graph._edge_sources)").fetchone()
        print(f"registered {n_nodes} node tables, {n_edges} edge sources in {register:.0f} s", flush=True)
        order = ["one_cte_per_source", "per_source_functions"]
        for rep in range(args.reps):
            got = reads(c, order if rep % 2 == 0 else order[::-1])
            for name, (secs, *counts) in got.items():
                times[name].append(secs)
                queries = counts
            builds = ["build", "previous"] if previous else ["build"]
            for name in builds if rep % 2 == 0 else builds[::-1]:
                if previous:
                    install_tree(dsn, previous[0] if name == "previous" else None)
                    c.execute("SET client_min_messages = warning")
                t0 = time.perf_counter()
                c.execute("SELECT graph.build()")
                times[name].append(time.perf_counter() - t0)
            if previous:
                install_tree(dsn)
            print(f"rep {rep + 1}: {got} build {times['build'][-1]:.1f} s"
                  f" previous {times['previous'][-1] if previous else 0:.1f} s", flush=True)
        assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
    load_after = open("/proc/loadavg").read().split()[:3]

    def spread(v):
        return "%.2f s (%.2f–%.2f)" % (statistics.median(v), min(v), max(v))

    ratio = [a / b for a, b in zip(times["one_cte_per_source"], times["per_source_functions"], strict=True)]
    text = "\n".join([
        "# Build over a large registry",
        "",
        "`benchmarks/build_schema.py`: the MusicBrainz schema (mbdata's SQL), registered by",
        f"`graph.add_schema` ({n_nodes} node tables, {n_edges} edge sources: {queries[0]} node and"
        f" {queries[1]} edge queries), its tables empty, so the figures are the cost per source, not per row.",
        f"PostgreSQL 15, {platform.machine()}, {os.cpu_count()} cores shared with other work: load average",
        f"{'/'.join(load_before)} before, {'/'.join(load_after)} after; the run took"
        f" {(time.perf_counter() - started) / 60:.0f} min (add_schema {register:.0f} s).",
        f"{args.reps} repetitions, the two reads alternating in one backend; median (min–max).",
        "",
        "| what | time |",
        "|---|---:|",
        f"| the source read as build did it before: one statement, a data-modifying CTE per source |"
        f" {spread(times['one_cte_per_source'])} |",
        f"| the source read as build does it now: one statement, `graph._source_nodes`/`_source_edges`"
        f" once per source | {spread(times['per_source_functions'])} |",
        f"| `graph.build()`, whole (this code) | {spread(times['build'])} |",
        *([f"| `graph.build()`, whole, previous code (`{previous[1]}`) | {spread(times['previous'])} |"]
          if previous else []),
        "",
        f"Before / now, per repetition: {statistics.median(ratio):.1f}× ({min(ratio):.1f}–{max(ratio):.1f}).",
        "",
    ])
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
