#!/usr/bin/env python3
"""Rebuild benchmark: how long maintenance takes to rebuild the base, and what
a rebuild does to read latency.

    .venv/bin/python benchmarks/rebuild.py [--quick | --large] [--previous REV] [--reps R]
                                           [--out benchmarks/REBUILD.md]

Runs on its own throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN
names a server (a superuser connection; a database gs_bench_rebuild is created
and dropped there). Measures, on a graph of 200k nodes and 1M edges (--quick:
20k / 100k):

- graph.build() and graph.vacuum() (a maintenance run that rebuilds), against
  CREATE TABLE ... AS SELECT of the same source rows (the floor: reading the
  sources once and writing them once);
- graph.traverse() latency (p50/p99) at rest and while rebuilds run in another
  session;
- with --previous REV (a git revision of this repository, e.g. main): the same
  graph in a second database with that revision's code installed, and its
  graph.build() alternating with this code's and with CREATE TABLE AS, each build
  in a fresh connection, timed, with its backend's peak resident memory (VmHWM in
  /proc: a local cluster only), and the first read in a fresh connection after
  it (which writes the generation's shared base file unless the build did).

--large: 2M nodes / 10M edges, one repetition, no latency measurements.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import database, plot_ratios, png_beside, server  # noqa: E402

DBNAME = "gs_bench_rebuild"
PREVIOUS_DB = "gs_bench_rebuild_previous"

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


def peak_rss_mib(pid):
    """The high-water mark of a backend's resident memory (VmHWM), MiB; None when
    /proc of the server is not readable here (a remote server)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def one_build(dsn):
    """graph.build() in a fresh connection: (seconds, peak RSS MiB of its backend),
    then the first read in another fresh connection (seconds)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        pid = c.info.backend_pid
        took = seconds(c, "SELECT graph.build()")
        rss = peak_rss_mib(pid)
    with psycopg.connect(dsn, autocommit=True) as r:
        first = seconds(r, TRAVERSE, (str(1),))
    return took, rss, first


def previous_code(rev):
    """A directory holding revision ``rev`` of this repository (git archive)."""
    folder = tempfile.mkdtemp(prefix="graphsync-previous-")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                            capture_output=True, text=True).stdout.strip()
    return Path(folder), commit


def load(dsn, dbname, nodes, edges, build=True):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        t0 = time.perf_counter()
        c.execute(SCHEMA % {"nodes": nodes, "edges": edges})
        print(f"{dbname}: loaded {nodes} nodes, {edges} edges in {time.perf_counter() - t0:.1f} s", flush=True)
        if build:
            t0 = time.perf_counter()
            c.execute("SELECT graph.build()")
            print(f"{dbname}: first build {time.perf_counter() - t0:.1f} s", flush=True)
        c.execute(f"ALTER DATABASE {dbname} SET graph.verify_interval = 'off'")
        c.execute(f"ALTER DATABASE {dbname} SET client_min_messages = warning")


def side_by_side(dsn, previous_dsn, reps):
    """CREATE TABLE AS, this code's build and the previous code's, alternating."""
    out = {"ctas": [], "new": [], "previous": []}
    with psycopg.connect(dsn, autocommit=True) as c:
        variants = [("ctas", lambda: (ctas(c), None, None)), ("new", lambda: one_build(dsn)),
                    ("previous", lambda: one_build(previous_dsn))]
        for rep in range(reps):
            for name, fn in (variants if rep % 2 == 0 else variants[::-1]):
                out[name].append(fn())
                print(f"rep {rep + 1} {name}: {out[name][-1]}", flush=True)
    return out


def run(dsn, nodes, edges, reps, previous_dsn=None, latencies=True):
    load_before = open("/proc/loadavg").read().split()[:3]
    started = time.perf_counter()
    # At --large the build measured is the first one (every node new): one build of
    # 10M edges takes many minutes on a loaded 2-core machine.
    load(dsn, DBNAME, nodes, edges, build=latencies)
    if previous_dsn:
        load(previous_dsn, PREVIOUS_DB, nodes, edges, build=latencies)
    result = {"load_before": load_before, "first_build": not latencies}
    if previous_dsn:
        runs = side_by_side(dsn, previous_dsn, reps)
        result["runs"] = runs
        floor = statistics.median(r[0] for r in runs["ctas"])
        build = statistics.median(r[0] for r in runs["new"])
    with psycopg.connect(dsn, autocommit=True) as c:
        if not previous_dsn:
            floor = median_of(reps, lambda: ctas(c))
            builds = [one_build(dsn) for _ in range(reps)]
            build = statistics.median(b[0] for b in builds)
            result["builds"] = builds
        vacuum = seconds(c, "SELECT * FROM graph.vacuum()") if latencies else None
        phases = build_phases(c) if latencies else None
        print(f"CTAS {floor:.2f} s, build {build:.2f} s, vacuum {vacuum} s", flush=True)
    result.update(floor=floor, build=build, vacuum=vacuum, phases=phases)
    if latencies:
        result["rest"] = read_latencies(dsn, nodes, 10)
        result["busy"], result["rebuild_times"] = during_rebuilds(dsn, nodes, 2)
    for d in [dsn] + ([previous_dsn] if previous_dsn else []):
        with psycopg.connect(d, autocommit=True) as c:
            built = c.execute("SELECT node_count, base_edges FROM graph.status()").fetchone()
            assert built == (nodes, edges), built
            if latencies:
                assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
    result["load_after"] = open("/proc/loadavg").read().split()[:3]
    result["seconds"] = time.perf_counter() - started
    return result


def spread(values):
    """'median (min–max)' of ``values``."""
    return "%.2f (%.2f–%.2f)" % (statistics.median(values), min(values), max(values))


def report(nodes, edges, r, previous=None):
    ms = 1000
    lines = [
        "# Rebuild benchmark",
        "",
        f"`benchmarks/rebuild.py`: {nodes:,} nodes, {edges:,} edges (one join-table edge source with a",
        "weight column), PostgreSQL 15, "
        f"{platform.machine()}, {os.cpu_count()} cores, shared with other work: load average "
        f"{'/'.join(r['load_before'])} before the run, {'/'.join(r['load_after'])} after "
        f"(the run took {r['seconds'] / 60:.0f} min). Times move with that load; the ratios below",
        "compare variants measured in the same minutes, alternating.",
        "",
    ]
    if "runs" in r:
        runs = r["runs"]
        ctas = [x[0] for x in runs["ctas"]]
        reps = len(ctas)

        def ratios(name, i=0):
            return [x[i] / c for x, c in zip(runs[name], ctas, strict=True)]

        lines += [
            f"This code against the previous code (`{previous}`, installed in a second database with the",
            f"same rows) and CREATE TABLE … AS SELECT of the same source rows, {reps} repetitions, the",
            "order alternating; each build in a fresh connection, then the first read",
            "(`graph.traverse` depth 2) in another fresh connection. Median (min–max).",
            *(["Each database's first build (every node new, graph._nodes empty) is the one measured."]
              if r.get("first_build") else
              ["A build over a base already built from the same rows (what maintenance rebuilds do)."]),
            "",
            "| variant | build | ratio to CREATE TABLE AS | peak backend RSS | first read after it |",
            "|---|---:|---:|---:|---:|",
            f"| CREATE TABLE … AS SELECT | {spread(ctas)} s | 1.00× | | |",
        ]
        for name, label in (("previous", f"`graph.build()`, previous code (`{previous}`)"),
                            ("new", "`graph.build()`, this code")):
            rss = [x[1] for x in runs[name] if x[1] is not None]
            lines.append(f"| {label} | {spread([x[0] for x in runs[name]])} s | {spread(ratios(name))}× | "
                         f"{spread(rss) + ' MiB' if rss else 'n/a'} | {spread([x[2] for x in runs[name]])} s |")
        per_rep = [p[0] / n[0] for p, n in zip(runs["previous"], runs["new"], strict=True)]
        lines += ["", f"Previous build time / this build time, per repetition: {spread(per_rep)}×.", ""]
    else:
        lines += [
            "| what | time | ratio to CREATE TABLE AS |",
            "|---|---:|---:|",
            f"| CREATE TABLE … AS SELECT of the same source rows | {r['floor']:.2f} s | 1.00× |",
            f"| `graph.build()` | {r['build']:.2f} s | {r['build'] / r['floor']:.2f}× |",
            "",
        ]
        if r.get("builds"):
            rss = [b[1] for b in r["builds"] if b[1] is not None]
            lines += [
                ("The build measured is the first one (every node new)." if r.get("first_build") else
                 "A build over a base already built from the same rows.")
                + (f" Peak resident memory of its backend (VmHWM): {spread(rss)} MiB." if rss else "")
                + f" The first read after it in a fresh connection: {spread([b[2] for b in r['builds']])} s.",
                "",
            ]
    if r.get("vacuum") is not None:
        lines += [f"`graph.vacuum()` (a maintenance run that rebuilds, once): {r['vacuum']:.2f} s, "
                  f"{r['vacuum'] / r['floor']:.2f}× the median CREATE TABLE AS.", ""]
    if r.get("phases") is not None:
        lines += [
            f"One more build, split at its progress NOTICEs: {r['phases'][0]:.2f} s reading the sources,",
            "bringing graph._nodes to them (only changed rows written) and resolving edge endpoints to",
            f"node ids; {r['phases'][1]:.2f} s building the CSR of both directions and writing graph._csr",
            "and the generation's shared base file.",
            "",
        ]
    if "rest" in r:
        lines += [
            "Reads are `graph.traverse(seed, max_depth => 2, max_nodes => 1000)` from random seeds, one",
            "session, back to back:",
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
            "they keep reading the committed generation; the first read after a rebuild commits maps",
            "the new generation's file, which the rebuild wrote.",
            "",
        ]
    return "\n".join(lines)


def plot(nodes, edges, r, path):
    """The ratios of REBUILD.md as a PNG: builds over CREATE TABLE AS (median, min–max),
    read latency during rebuilds over at rest (p50, p99)."""
    bars = []
    if "runs" in r:
        runs = r["runs"]
        ctas = [x[0] for x in runs["ctas"]]
        for name, label in (("previous", "graph.build() previous code / CREATE TABLE AS"),
                            ("new", "graph.build() this code / CREATE TABLE AS")):
            q = [x[0] / c for x, c in zip(runs[name], ctas, strict=True)]
            bars.append((label, statistics.median(q), min(q), max(q), 3.0))
    else:
        bars.append(("graph.build() / CREATE TABLE AS", r["build"] / r["floor"], None, None, 3.0))
    if r.get("vacuum") is not None:
        bars.append(("graph.vacuum() / CREATE TABLE AS", r["vacuum"] / r["floor"], None, None, None))
    if "rest" in r:
        for p in (50, 99):
            bars.append(("traverse depth 2 p%d: during rebuilds / at rest" % p,
                         percentile(r["busy"], p) / percentile(r["rest"], p), None, None, None))
    load = " ".join(r["load_after"])
    plot_ratios(path, f"rebuild: {nodes:,} nodes / {edges:,} edges, {os.cpu_count()} cores, load {load} at the end",
                bars, "time / the baseline's time", higher_is_better=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="20k nodes / 100k edges")
    size.add_argument("--large", action="store_true", help="2M nodes / 10M edges, one repetition, no latencies")
    parser.add_argument("--previous", help="a git revision whose code to compare with (e.g. main)")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "REBUILD.md"))
    args = parser.parse_args(argv)
    nodes, edges, reps = ((20_000, 100_000, 3) if args.quick else (2_000_000, 10_000_000, 1) if args.large
                          else (200_000, 1_000_000, 3))
    reps = args.reps or reps
    previous = previous_code(args.previous) if args.previous else None
    with server() as admin, database(admin, DBNAME) as dsn:
        if previous:
            with database(admin, PREVIOUS_DB, root=previous[0]) as previous_dsn:
                result = run(dsn, nodes, edges, reps, previous_dsn, latencies=not args.large)
        else:
            result = run(dsn, nodes, edges, reps, latencies=not args.large)
    png = png_beside(args.out)
    plot(nodes, edges, result, png)
    text = report(nodes, edges, result, previous and previous[1]) + "![The ratios above](%s)\n" % os.path.basename(png)
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
