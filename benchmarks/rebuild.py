#!/usr/bin/env python3
"""Rebuild benchmark: how long maintenance takes to rebuild the base, and what
a rebuild does to read latency.

    .venv/bin/python benchmarks/rebuild.py [--quick] [--out benchmarks/REBUILD.md]

Runs on its own throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN
names a server (a superuser connection; a database gs_bench_rebuild is created
and dropped there). Measures, on a graph of 200k nodes and 1M edges (--quick:
20k / 100k):

- graph.build() and graph.vacuum() (a maintenance run that rebuilds), against
  CREATE TABLE ... AS SELECT of the same source rows (the floor: reading the
  sources once and writing them once);
- graph.traverse() latency (p50/p99) at rest and while rebuilds run in another
  session.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import database, plot_ratios, png_beside, server  # noqa: E402

DBNAME = "gs_bench_rebuild"

SCHEMA = """
CREATE SCHEMA bench_rb;
CREATE TABLE bench_rb.nodes (id int PRIMARY KEY, name text NOT NULL, grp int NOT NULL);
CREATE TABLE bench_rb.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, weight float8 NOT NULL);
INSERT INTO bench_rb.nodes SELECT g, 'node ' || g, g %% 100 FROM generate_series(1, %(nodes)s) g;
INSERT INTO bench_rb.links
SELECT g, 1 + (hashint4(g) & 2147483647) %% %(nodes)s, 1 + (hashint4(-g) & 2147483647) %% %(nodes)s,
       1 + g %% 7
FROM generate_series(1, %(edges)s) g;
ANALYZE bench_rb.nodes, bench_rb.links;
SELECT graph.add_table('bench_rb.nodes', columns => '{name}');
SELECT graph.add_edge('bench_rb.nodes', 'src', 'bench_rb.nodes', to_column => 'dst',
                      via_table => 'bench_rb.links', weight_column => 'weight', label => 'link');
"""

# The same source rows build reads, copied once: keys and properties of the
# nodes, endpoints and weights of the edges.
CTAS = """
CREATE TABLE bench_rb.copy_nodes AS SELECT t.id::text AS pk, jsonb_build_object('name', t.name) AS properties
FROM bench_rb.nodes AS t;
CREATE TABLE bench_rb.copy_edges AS SELECT t.src::text AS src, t.dst::text AS dst, t.weight, 'link' AS label
FROM bench_rb.links AS t;
"""

TRAVERSE = ("SELECT count(*) FROM graph.traverse('bench_rb.nodes', %s, max_depth => 2, max_nodes => 1000)")


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def seconds(conn, sql, params=None):
    start = time.perf_counter()
    conn.execute(sql, params)
    return time.perf_counter() - start


def build_phases(conn):
    """graph.build() once, split at its progress NOTICEs: (seconds reading the sources and
    numbering the nodes, seconds building and writing the CSR)."""
    marks = []

    def on_notice(diag):
        if diag.message_primary.startswith("graphsync build:"):
            marks.append(time.perf_counter())
    conn.execute("SET client_min_messages = notice")
    conn.add_notice_handler(on_notice)
    start = time.perf_counter()
    conn.execute("SELECT graph.build()")
    end = time.perf_counter()
    conn.remove_notice_handler(on_notice)
    conn.execute("SET client_min_messages = warning")
    return marks[1] - start, end - marks[1]


def median_of(reps, fn):
    return statistics.median(fn() for _ in range(reps))


def ctas(conn):
    with conn.transaction():
        t = seconds(conn, CTAS)
        conn.execute("DROP TABLE bench_rb.copy_nodes, bench_rb.copy_edges")
    return t


def read_latencies(dsn, nodes, duration, stop=None):
    """traverse latencies (s) for ``duration`` seconds, or until ``stop`` is set."""
    out = []
    rng = random.Random(7)
    with psycopg.connect(dsn, autocommit=True) as r:
        r.execute(TRAVERSE, (str(1),))  # load the base into this backend's cache
        end = time.monotonic() + duration
        while time.monotonic() < end and not (stop and stop.is_set()):
            out.append(seconds(r, TRAVERSE, (str(rng.randint(1, nodes)),)))
    return out


def during_rebuilds(dsn, nodes, rebuilds):
    """traverse latencies while ``rebuilds`` vacuum() runs follow each other."""
    stop = threading.Event()
    lat = []
    t = threading.Thread(target=lambda: lat.extend(read_latencies(dsn, nodes, 3600, stop)))
    with psycopg.connect(dsn, autocommit=True) as m:
        t.start()
        time.sleep(0.5)
        times = [seconds(m, "SELECT * FROM graph.vacuum()") for _ in range(rebuilds)]
        stop.set()
        t.join()
    return lat, times


def run(dsn, nodes, edges, reps):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        t0 = time.perf_counter()
        c.execute(SCHEMA % {"nodes": nodes, "edges": edges})
        print(f"loaded {nodes} nodes, {edges} edges in {time.perf_counter() - t0:.1f} s", flush=True)
        c.execute("SELECT graph.build()")
        c.execute(f"ALTER DATABASE {DBNAME} SET graph.verify_interval = 'off'")
        c.execute(f"ALTER DATABASE {DBNAME} SET client_min_messages = warning")
    with psycopg.connect(dsn, autocommit=True) as c:
        built = c.execute("SELECT node_count, base_edges FROM graph.status()").fetchone()
        assert built == (nodes, edges), built
        floor = median_of(reps, lambda: ctas(c))
        build = median_of(reps, lambda: seconds(c, "SELECT graph.build()"))
        vacuum = median_of(reps, lambda: seconds(c, "SELECT * FROM graph.vacuum()"))
        phases = build_phases(c)
        print(f"CTAS {floor:.2f} s, build {build:.2f} s, vacuum {vacuum:.2f} s", flush=True)
    rest = read_latencies(dsn, nodes, 10)
    busy, rebuild_times = during_rebuilds(dsn, nodes, reps)
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
    return {"floor": floor, "build": build, "vacuum": vacuum, "phases": phases, "rest": rest, "busy": busy,
            "rebuild_times": rebuild_times}


def report(nodes, edges, r):
    ms = 1000
    lines = [
        "# Rebuild benchmark",
        "",
        f"`benchmarks/rebuild.py`: {nodes:,} nodes, {edges:,} edges (one join-table edge source with a",
        "weight column), PostgreSQL 15, "
        f"{platform.machine()}, {os.cpu_count()} cores. Median of the runs; reads are",
        "`graph.traverse(seed, max_depth => 2, max_nodes => 1000)` from random seeds, one session,",
        "back to back.",
        "",
        "| what | time | ratio to CREATE TABLE AS |",
        "|---|---:|---:|",
        f"| CREATE TABLE … AS SELECT of the same source rows | {r['floor']:.2f} s | 1.00× |",
        f"| `graph.build()` | {r['build']:.2f} s | {r['build'] / r['floor']:.2f}× |",
        f"| `graph.vacuum()` (maintenance run that rebuilds) | {r['vacuum']:.2f} s | "
        f"{r['vacuum'] / r['floor']:.2f}× |",
        "",
        f"One build, split at its progress NOTICEs: {r['phases'][0]:.2f} s reading the sources, renumbering",
        "the nodes (graph._nodes rewritten) and resolving edge endpoints to node ids;",
        f"{r['phases'][1]:.2f} s building the CSR of both directions and writing it.",
        "",
        "| reads | calls | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, lat in (("at rest", r["rest"]), ("during rebuilds", r["busy"])):
        lines.append(f"| {name} | {len(lat)} | {percentile(lat, 50) * ms:.1f} ms | "
                     f"{percentile(lat, 99) * ms:.1f} ms | {max(lat) * ms:.1f} ms |")
    lines += [
        "",
        f"During the measurement {len(r['rebuild_times'])} rebuilds ran back to back "
        f"({', '.join(f'{t:.1f}' for t in r['rebuild_times'])} s). Readers never wait for a rebuild:",
        "they keep reading the committed generation; the first read after a rebuild commits loads",
        "the new base into its backend's cache, which is where the tail comes from.",
        "",
    ]
    return "\n".join(lines)


def plot(nodes, edges, r, path):
    """The ratios of REBUILD.md as a PNG: build and vacuum over CREATE TABLE AS (medians),
    read latency during rebuilds over at rest (p50, p99)."""
    bars = [("graph.build() / CREATE TABLE AS", r["build"] / r["floor"], None, None, None),
            ("graph.vacuum() / CREATE TABLE AS", r["vacuum"] / r["floor"], None, None, None)]
    for p in (50, 99):
        bars.append(("traverse depth 2 p%d: during rebuilds / at rest" % p,
                     percentile(r["busy"], p) / percentile(r["rest"], p), None, None, None))
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    plot_ratios(path, f"rebuild: {nodes:,} nodes / {edges:,} edges, {os.cpu_count()} cores, load {load} at the end",
                bars, "time / the baseline's time", higher_is_better=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k nodes / 100k edges")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "REBUILD.md"))
    args = parser.parse_args(argv)
    nodes, edges, reps = (20_000, 100_000, 3) if args.quick else (200_000, 1_000_000, 3)
    with server() as admin, database(admin, DBNAME) as dsn:
        result = run(dsn, nodes, edges, reps)
    png = png_beside(args.out)
    plot(nodes, edges, result, png)
    text = report(nodes, edges, result) + "![The ratios above](%s)\n" % os.path.basename(png)
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
