#!/usr/bin/env python3
"""Where the slowest reads under writes go: each read's time, split by what it did.

    .venv/bin/python benchmarks/read_tail.py [--duration S] [--rate N] [--writers W]
        [--applier] [--slowest K] [--nodes N --edges M]

On the graph of benchmarks/reads_under_writes.py (common.GRAPH_SCHEMA: 200k nodes /
1M edges), 4 reader connections run graph.traverse(seed, max_depth => 2) from random
seeds back to back while 4 writer connections commit single-row updates of the join
table (unthrottled, or --rate commits/s in total; --writers 0: none, the reads at
rest; --applier: one more connection runs graph.apply_sync() every 100 ms), for
--duration seconds (15) after a warm-up.

In each reader's backend the graphsync functions of STEPS are wrapped to add up the
CPU time spent in them (time.process_time: the backend's own CPU, not the time it
waited for one), Python's garbage collections are timed by gc.callbacks, and each
read returns -- a second column of its statement -- those sums and graphsync's
counters (reads.start, reads.freshness, reads.view STATS). So for every read the
client knows its wall time, its backend's CPU and what it did. The report gives the
reads of each kind (what they did) with their median and mean CPU and the mean CPU of
each step, and the K slowest (--slowest, 20) with the steps they spent CPU in and the
counters they moved.
Steps nest (``traverse`` includes every other step of a read; ``start`` includes
``start_same`` and ``start_busy``, START_SAME's and START's busy form's runs; ``fold``
includes ``resolve``, which includes ``key_index``; ``ov_add`` includes ``catch_up``), and a
collection is counted in the step it interrupted too. Each kind of read's steps are
reported by their mean (a rare dear read moves it) and by their median. At the end
each reader's backend reports how many objects Python's collector tracks and what a
full collection then costs (gc.collect(), twice: the second finds only what survives),
whether it holds the base's key index, and its private memory and Pss (smaps_rollup).

Not the goal's benchmark (reads_under_writes.py): the wrapping and the second column
cost each read some tens of microseconds. It is for finding out which reads are slow
and why; run it from the checkout whose code it should install (it installs the tree as
it is). Starts a throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, database, server  # noqa: E402
from reads_under_writes import APPLY, DB_SETTINGS, TRAVERSE, UPDATE, _work  # noqa: E402

DB = "graphsync_bench_tail"
READERS = WRITERS = 4
SLOW = 0.05  # seconds: the goal's p99 under unthrottled writers

# (module, attribute of it -- a function, or Class.method --, the step's name)
STEPS = [
    ("graphsync.reads.start", "_run", "start"),
    ("graphsync.reads.start", "_same", "start_same"),
    ("graphsync.reads.start", "_busy", "start_busy"),
    ("graphsync.reads.start", "_typed", "start_typed"),
    ("graphsync.reads.api", "_bfs_columns", "answer"),
    ("graphsync.algorithms.traverse", "bfs_levels", "walk"),
    ("graphsync.reads.api", "Read.graph", "graph"),
    ("graphsync.reads.nodes", "key_columns", "keys"),
    ("graphsync.reads.view", "current", "current"),
    ("graphsync.reads.view", "Live.copy", "live_copy"),
    ("graphsync.reads.freshness", "fold", "fold"),
    ("graphsync.reads.freshness", "_resolve_ends", "resolve"),
    ("graphsync.reads.freshness", "_resolve", "resolve_sql"),
    ("graphsync.reads.nodes", "key_index", "key_index"),
    ("graphsync.algorithms.adjacency", "Overlay.add", "ov_add"),
    ("graphsync.algorithms.adjacency", "Overlay._catch_up", "catch_up"),
    ("graphsync.algorithms.adjacency", "Overlay.copy", "ov_copy"),
    ("graphsync.algorithms.adjacency", "Overlay.adjacency", "adjacency"),
    ("graphsync.algorithms.adjacency", "Overlay._relocate_many", "relocate"),
    ("graphsync.reads.nodes", "_load_all", "load_keys"),
    ("graphsync.reads.api", "traverse_columns", "traverse"),
    ("graphsync.sync.apply", "apply_sync", "apply"),
    ("graphsync.sync.apply", "Replayer.flush", "flush"),
    ("graphsync.sync.changes", "add_rows", "gather"),
]
COUNTED = ("graphsync.reads.start", "graphsync.reads.freshness", "graphsync.reads.view", "graphsync.sync.base_keys",
           "graphsync.sync.apply")

# Wraps STEPS once per backend (GD), after the first read imported the package; returns
# the CPU time so far, the steps' sums, the collections' and the counters, as JSON.
SPLIT_FN = ("""
CREATE OR REPLACE FUNCTION pg_temp.read_split() RETURNS text LANGUAGE plpython3u AS $f$
import gc, importlib, json, sys, time
sums = GD.get("read_split")
if sums is None:
    sums = GD["read_split"] = {}
    def wrap(owner, name, step):
        f = getattr(owner, name)
        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                sums[step] = sums.get(step, 0.0) + time.process_time() - t
        setattr(owner, name, timed)
    for module, attribute, step in %(steps)r:
        owner = importlib.import_module(module)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(owner, name):
            wrap(owner, name, step)
    def collected(phase, info):
        if phase == "start":
            sums["_gc"] = time.process_time()
        else:
            step = "gc%%d" %% info["generation"]
            sums[step] = sums.get(step, 0.0) + time.process_time() - sums["_gc"]
    gc.callbacks.append(collected)
counts = {}
for module in %(counted)r:
    m = sys.modules.get(module)
    for k, v in getattr(m, "STATS", {}).items():
        if isinstance(v, (int, float)):
            counts[k] = counts.get(k, 0) + v
steps = {k: v for k, v in sums.items() if not k.startswith("_")}
return json.dumps({"cpu": time.process_time(), "steps": steps, "counts": counts})
$f$"""
            % {"steps": STEPS, "counted": COUNTED})

# What a full collection costs in this backend now, and whether it holds the base's
# key index (reads.nodes.index_held).
COLLECT_FN = """
CREATE OR REPLACE FUNCTION pg_temp.full_collection() RETURNS text LANGUAGE plpython3u AS $f$
import gc, json, sys, time
tracked = len(gc.get_objects())
spent = []
for _ in range(2):
    t = time.process_time()
    gc.collect()
    spent.append(time.process_time() - t)
nodes = sys.modules.get("graphsync.reads.nodes")
return json.dumps({"tracked": tracked, "first": spent[0], "second": spent[1],
                   "index": bool(nodes and nodes.index_held())})
$f$"""


def memory(pid):
    """(private, Pss) MiB of the process ``pid`` (/proc/PID/smaps_rollup; the server
    runs on this machine), or None when it cannot be read."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f if ":" in line and "kB" in line)}
    except OSError:
        return None
    return (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024, kb.get("Pss", 0) / 1024


def _reader(dsn, nodes, start, duration, out):
    rng = random.Random()
    read = TRAVERSE.replace("SELECT count(*)", "SELECT count(*), pg_temp.read_split()")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(SPLIT_FN)
        c.execute(COLLECT_FN)
        c.execute(read, (str(rng.randint(1, nodes)),), prepare=True)  # imports, loads the base, wraps
        last = json.loads(c.execute("SELECT pg_temp.read_split()").fetchone()[0])
        reads = []
        time.sleep(max(0.0, start - time.monotonic()))
        while time.monotonic() < start + duration:
            t = time.perf_counter()
            row = c.execute(read, (str(rng.randint(1, nodes)),), prepare=True).fetchone()
            wall = time.perf_counter() - t
            now = json.loads(row[1])
            steps = {k: v - last["steps"].get(k, 0.0) for k, v in now["steps"].items()}
            counts = {k: v - last["counts"].get(k, 0) for k, v in now["counts"].items()}
            reads.append((wall, now["cpu"] - last["cpu"], {k: v for k, v in steps.items() if v > 0},
                          {k: v for k, v in counts.items() if v}))
            last = now
        collection = json.loads(c.execute("SELECT pg_temp.full_collection()").fetchone()[0])
        collection["memory"] = memory(c.execute("SELECT pg_backend_pid()").fetchone()[0])
    out.put(("reader", reads, collection))


def _other(role, dsn, size, start, duration, rate, out):
    """A writer or the applier: reads_under_writes' own loop for the role (_work)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        if role == "writer":  # warm up: the capture trigger fired on no row (there is no id 0)
            c.execute(UPDATE, (1, 0), prepare=True)
        else:
            c.execute(APPLY)
        res = _work(c, role, random.Random(), size, start, duration, rate, None)
    out.put((role, len(res["lat"]), None))


def run(dsn, args):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = time.monotonic() + 5  # every connection has warmed up by then (the same clock in every process)
    size = (args.nodes, args.edges)
    procs = [ctx.Process(target=_reader, args=(dsn, args.nodes, start, args.duration, out))
             for _ in range(READERS)]
    procs += [ctx.Process(target=_other, args=("writer", dsn, size, start, args.duration,
                                               args.rate / args.writers if args.rate else None, out))
              for _ in range(args.writers)]
    if args.applier:
        procs.append(ctx.Process(target=_other, args=("applier", dsn, size, start, args.duration, None, out)))
    for p in procs:
        p.start()
    results = [out.get(timeout=args.duration + 600) for _ in procs]
    for p in procs:
        p.join()
    return results


def ms(seconds):
    return "%.1f" % (seconds * 1000)


def report(results, args, load):
    reads = sorted((r for kind, rs, _ in results if kind == "reader" for r in rs), key=lambda r: -r[0])
    walls = sorted(r[0] for r in reads)
    cpus = sorted(r[1] for r in reads)

    def pct(values, p):
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
    commits = sum(n for kind, n, _ in results if kind == "writer")
    print("load average before: %s; %d s, writers %s%s" % (
        "/".join("%.1f" % x for x in load), args.duration, "at %d/s" % args.rate if args.rate else "unthrottled",
        ", applier every 100 ms" if args.applier else ""))
    print("reads %d (%.0f/s), commits %d (%.0f/s)" % (len(reads), len(reads) / args.duration, commits,
                                                       commits / args.duration))
    print("wall p50 %s ms, p99 %s ms, max %s ms; reads over %d ms: %d" % (
        ms(pct(walls, 50)), ms(pct(walls, 99)), ms(walls[-1]), SLOW * 1000, sum(w > SLOW for w in walls)))
    print("backend CPU per read p50 %s ms, p99 %s ms, mean %s ms" % (
        ms(pct(cpus, 50)), ms(pct(cpus, 99)), ms(sum(cpus) / len(cpus))))
    gc_total = sum(v for r in reads for k, v in r[2].items() if k.startswith("gc"))
    full = [v for r in reads for k, v in r[2].items() if k == "gc2"]
    print("garbage collections: %s ms of CPU in all; full ones in %d reads, %s ms each at the median" % (
        ms(gc_total), len(full), ms(sorted(full)[len(full) // 2]) if full else "-"))
    for kind, _, collection in results:
        if kind == "reader":
            print("  a reader's backend at the end: %d objects tracked, a full collection %s ms, then %s ms;"
                  " key index %s; private / Pss %s MiB" % (
                      collection["tracked"], ms(collection["first"]), ms(collection["second"]),
                      "held" if collection["index"] else "not held",
                      "%.1f / %.1f" % collection["memory"] if collection["memory"] else "-"))
    print("\nreads by what they did (the first of: applied up to the kept view's snapshot, applied,"
          " rekeyed a kept view, folded onto a copy,"
          " folded onto the kept view, other): all reads / those over %d ms, CPU p50 / p99 ms of those over,"
          " rows folded p50 of those over" % (SLOW * 1000))
    kinds = {}  # what each read did: its kind -> the reads of that kind
    for r in reads:
        kind = next((k for k in ("bounded_passes", "applied", "rekeys", "copies", "incremental_folds")
                     if r[3].get(k)), "other")
        kinds.setdefault(kind, []).append(r)
    by_count = sorted(kinds.items(), key=lambda kv: -len(kv[1]))
    for kind, of in by_count:
        over = sorted((r for r in of if r[0] > SLOW), key=lambda r: r[1])
        print("  %-17s %6d / %4d%s" % (kind, len(of), len(over), "" if not over else ", CPU %s / %s, rows %d" % (
            ms(over[len(over) // 2][1]), ms(over[-1 - len(over) // 100][1]),
            sorted(r[3].get("rows_folded", 0) for r in over)[len(over) // 2])))
    print("\nreads by what they did, all of them: wall p50, CPU p50 and mean ms; mean CPU ms a read by step")
    for kind, of in by_count:
        sums = {}
        for r in of:
            for k, v in r[2].items():
                sums[k] = sums.get(k, 0.0) + v
        print("  %-17s wall %s, CPU %s, mean %s; %s" % (
            kind, ms(pct(sorted(r[0] for r in of), 50)), ms(pct(sorted(r[1] for r in of), 50)),
            ms(sum(r[1] for r in of) / len(of)), ", ".join("%s %.2f" % (k, 1000 * v / len(of)) for k, v in sorted(
                sums.items(), key=lambda kv: -kv[1]) if 1000 * v / len(of) >= 0.01)))
    print("\nthe same, median CPU ms a read by step (a read that did not run a step counts 0)")
    for kind, of in by_count:
        steps = sorted({k for r in of for k in r[2]})
        medians = {k: pct(sorted(r[2].get(k, 0.0) for r in of), 50) for k in steps}
        print("  %-17s %s" % (kind, ", ".join("%s %.2f" % (k, 1000 * v) for k, v in sorted(
            medians.items(), key=lambda kv: -kv[1]) if 1000 * v >= 0.01)))
    print("\nthe %d slowest reads: wall ms, CPU ms; CPU ms by step; counters moved" % args.slowest)
    for wall, cpu, steps, counts in reads[:args.slowest]:
        shown = sorted(((k, v) for k, v in steps.items() if v >= 0.0005), key=lambda kv: -kv[1])
        print("%8s %7s  %s; %s" % (ms(wall), ms(cpu), ", ".join("%s %s" % (k, ms(v)) for k, v in shown),
                                   ", ".join("%s %d" % kv for kv in sorted(counts.items()))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--rate", type=int, default=0, help="commits/s in total (0: unthrottled)")
    parser.add_argument("--applier", action="store_true", help="a connection applies every 100 ms")
    parser.add_argument("--writers", type=int, default=WRITERS, help="writer connections (0: reads at rest)")
    parser.add_argument("--slowest", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with server() as admin, database(admin, DB) as dsn:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            c.execute(GRAPH_SCHEMA.format(nodes=args.nodes, edges=args.edges))
            c.execute("SELECT graph.build()")
            for name, value in DB_SETTINGS.items():
                c.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(DB), sql.Identifier(*name.split(".")), sql.Literal(value)))
        report(run(dsn, args), args, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
