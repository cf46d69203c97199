#!/usr/bin/env python3
"""Reads under writes: depth-2 traversal latency while the source tables change.

    .venv/bin/python benchmarks/reads_under_writes.py [--quick] [--nodes N --edges M]
        [--duration S] [--rounds R] [--out FILE] [--plot FILE]
        [--only MODE,... [--loads LOAD,...]]

On the graph of benchmarks/reads.py (common.GRAPH_SCHEMA: 200k nodes / 1M edges;
--quick: 20k / 100k), in one run, for the freshness modes that matter --
'apply_pending_sync' (reads apply the pending rows), 'off' with a fifth
connection calling graph.apply_sync() every 100 ms, ``fresh_applier``: 'apply_pending_sync'
with that applier (every read still sees every committed row), and ``max_staleness``:
'apply_pending_sync' with graph.max_staleness = '1 second' and that applier --
and for the peer, the same
readers running the traversal as a recursive CTE over the tables (``cte``), three
phases:

- at rest: 4 reader connections run graph.traverse(seed, max_depth => 2) (or
  the CTE) from random seeds back to back (p50, p99, reads/s in total);
- under writes at 200 commits/s in total: 4 writer connections commit single-row
  FK updates (UPDATE bench.links SET dst = ... WHERE id = ..., each its own
  transaction), 50/s each, on an open-loop schedule;
- under unthrottled writers: the same updates as fast as they commit.

Each write phase also runs once with the writers alone (no readers): the control
for the writers' own commit latency. Every connection is its own process and
warms up before its phase starts. A phase lasts --duration seconds in total (20;
--quick 5), split into --rounds rounds (2; --quick 1) whose order alternates.
Between phases every pending log row is applied, and graph.vacuum() rebuilds the
base when the edge overlay holds more than --rebuild-above (5%) of the edges, so
every phase starts from a graph at rest with a small overlay. A read still running when its phase ends is cancelled
and counted as cut off, never as a latency.

Starts a throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
Writes benchmarks/READS_UNDER_WRITES.md (or --out) and the latency plot
benchmarks/reads_under_writes.png (or --plot). With --only (e.g.
``--only apply_pending_sync --loads unthrottled``) it runs only those modes' phases
with readers, at rest and under the loads named, and prints the reads table's rows
of those instead (a shorter run, for comparing two codes run after run; no file written).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import random
import subprocess
import sys
import threading
import time
from collections import Counter, namedtuple
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from common import GRAPH_SCHEMA, database, server  # noqa: E402

DB = "graphsync_bench_rw"
READERS = WRITERS = 4
THROTTLED = 200  # commits/s in total, under 'throttled'
APPLY_EVERY = 0.1  # seconds between graph.apply_sync() calls under 'off'
# The peer: the same readers running the recursive CTE of the same traversal
# (benchmarks/reads.py's), which reads the tables as they are, with the same writers
# (whose writes graphsync still captures). Its at-rest/under-writes ratios and the
# writers' p99 beside it say what 4 CPU-bound readers cost on this machine whatever
# they run.
PEER = "cte"
# 'apply_pending_sync' with graph.max_staleness set (STALENESS) and the applier of 'off':
# reads take the applied graph while it is that recent, and catch up as the default
# mode does when it is not (the applier fell behind).
BOUNDED = "max_staleness"
STALENESS = "1 second"
# 'apply_pending_sync' (every committed row in every read) with the applier of 'off': an
# apply ran less than a second ago and fewer than 1,000 rows wait, so reads fold the
# rows committed since the last apply instead of applying them.
FRESH = "fresh_applier"
# Each mode: its readers' graph.query_freshness and graph.max_staleness, whether the
# applier runs in its phases, and its plot's title.
Mode = namedtuple("Mode", "freshness staleness applier title")
MODE = {
    "apply_pending_sync": Mode("apply_pending_sync", "", False, "graph.query_freshness = 'apply_pending_sync'"),
    FRESH: Mode("apply_pending_sync", "", True, "apply_pending_sync, applier"),
    BOUNDED: Mode("apply_pending_sync", STALENESS, True, "max_staleness = '%s', applier" % STALENESS),
    "off": Mode("off", "", True, "graph.query_freshness = 'off'"),
    PEER: Mode("off", "", False, "recursive CTE (the peer)"),
}
MODES = tuple(MODE)
LOADS = ("rest", "throttled", "unthrottled")
LOAD_NAMES = {"rest": "at rest", "throttled": "writers at %d/s" % THROTTLED, "unthrottled": "writers unthrottled"}

# Settings of the benchmark database (shared settings, set by the admin that runs it):
# an unthrottled phase writes hundreds of thousands of overlay rows, which must not turn
# the graph read-only (a read-only graph is not what is measured); every rebuild between
# phases prunes the applied log and does not compare the graph with the sources.
DB_SETTINGS = {"graph.edge_buffer_size": "5000000", "graph.log_retention": "0", "graph.verify_interval": "off"}

TRAVERSE = "SELECT count(*) FROM graph.traverse('bench.nodes', %s, max_depth => 2)"
CTE = ("WITH RECURSIVE walk (id, depth) AS (SELECT %s::int, 0 UNION SELECT l.dst, w.depth + 1"
       " FROM walk AS w JOIN bench.links AS l ON l.src = w.id WHERE w.depth < 2)"
       " SELECT count(*) FROM (SELECT id, min(depth) FROM walk GROUP BY id) AS reached")
UPDATE = "UPDATE bench.links SET dst = %s WHERE id = %s"
APPLY = "SELECT inserts + updates + deletes + truncates FROM graph.apply_sync()"
# What each reader's backend did in a phase (the graphsync modules' own counters, read
# before and after it): reads whose freshness step applied, folds (onto the kept view:
# incremental; kept across an apply: rekeys; refused), log rows folded, copies of the
# graph, full arrays built, refreshes after a graph change.
COUNTERS = {"graphsync.reads.start": ("applied",),
            "graphsync.reads.freshness": ("folds", "incremental_folds", "rekeys", "rekeys_refused", "rows_folded"),
            "graphsync.reads.view": ("refreshes", "adoptions", "copies", "full_arrays", "overlay_rows")}
COUNTER_NAMES = [k for keys in COUNTERS.values() for k in keys]
COUNTERS_FN = """
CREATE OR REPLACE FUNCTION pg_temp.graphsync_counters() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
out = []
for name, keys in %r.items():
    m = sys.modules.get(name)
    out += [m.STATS.get(k, 0) if m is not None else 0 for k in keys]
return json.dumps(out)
$$""" % (COUNTERS,)
HEALTH = ("SELECT pending_sync_rows, failed_sync_rows, edge_buffer_used, read_only, read_only_reason"
          " FROM graph.sync_health()")


# ---------------------------------------------------------------- workers (own processes)

def _work(c, role, rng, size, start, duration, rate, read):
    """One connection's share of a phase: from ``start`` (time.monotonic(), the same clock in
    every process) for ``duration`` seconds; a reader runs ``read`` (TRAVERSE or CTE). A statement
    still running at the end is cancelled and counted as cut off."""
    nodes, edges = size
    res = {"lat": [], "done": [], "cut": [], "errors": Counter(), "rows": 0}
    end = start + duration
    time.sleep(max(0.0, start - time.monotonic()))
    timer = threading.Timer(end - time.monotonic(), c.cancel_safe)
    timer.start()
    # writers: an open-loop schedule at ``rate`` (a late commit is caught up); the applier:
    # a call every APPLY_EVERY seconds, or right after the last one when that took longer
    interval = APPLY_EVERY if role == "applier" else (1 / rate if rate else None)
    next_at = start + rng.random() * interval if interval else start
    while True:
        if interval:
            now = time.monotonic()
            if min(next_at, end) > now:
                time.sleep(min(next_at, end) - now)
            next_at = next_at + interval if role == "writer" else max(next_at, now) + interval
        if time.monotonic() >= end:
            break
        if role == "reader":
            query, params = read, (str(rng.randint(1, nodes)),)
        elif role == "writer":
            query, params = UPDATE, (rng.randint(1, nodes), rng.randint(1, edges))
        else:
            query, params = APPLY, None
        t0 = time.perf_counter()
        try:
            cur = c.execute(query, params, prepare=True)
            row = cur.fetchone() if role != "writer" else None
        except psycopg.errors.QueryCanceled:
            if time.monotonic() < end:
                raise
            res["cut"].append(time.perf_counter() - t0)
            break
        except psycopg.Error as exc:
            res["errors"][("%s: %s" % (type(exc).__name__, exc)).splitlines()[0]] += 1
            continue
        res["lat"].append(time.perf_counter() - t0)
        res["done"].append(time.monotonic())
        if role == "applier":
            res["rows"] += row[0]
    timer.cancel()
    timer.join()  # a cancel sent at the end has been delivered before the next phase
    return res


def _worker(role, index, dsn, size, seed, commands, results):
    """A connection kept for the whole run: 'reader', 'writer' or 'applier'. For each phase it
    is in, it gets (freshness mode, seconds, commit rate), warms up, says it is ready, gets the
    start time, works, and puts its result on ``results``; None ends it."""
    rng = random.Random(seed)
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            while (command := commands.get()) is not None:
                mode, duration, rate = command
                read = CTE if mode == PEER else TRAVERSE
                c.execute("SELECT set_config('graph.query_freshness', %s, false),"
                          " set_config('graph.max_staleness', %s, false)",
                          (MODE[mode].freshness, MODE[mode].staleness))
                # warm up outside the measurement: a reader loads the current base into its
                # backend, the applier imports the package, a writer fires the capture trigger
                # on no row (there is no id 0)
                if role == "reader":
                    c.execute(read, (str(rng.randint(1, size[0])),), prepare=True)
                    c.execute(COUNTERS_FN)
                    counted = json.loads(c.execute("SELECT pg_temp.graphsync_counters()").fetchone()[0])
                elif role == "applier":
                    c.execute(APPLY)
                else:
                    c.execute(UPDATE, (1, 0), prepare=True)
                results.put(("ready", role, index))
                res = _work(c, role, rng, size, commands.get(), duration, rate, read)
                if role == "reader":
                    now = json.loads(c.execute("SELECT pg_temp.graphsync_counters()").fetchone()[0])
                    res["counters"] = [b - a for a, b in zip(counted, now, strict=True)]
                results.put(("done", role, index, res))
    except Exception as exc:  # the coordinator stops the run and says why
        results.put(("failed", role, index, "%s %d: %s: %s" % (role, index, type(exc).__name__, exc)))


# ---------------------------------------------------------------- the run

def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def plan(rounds):
    """The phases in run order: (mode, load, readers), the order alternating by round,
    by load and, for a write load, whether the writers run with readers or alone first."""
    steps = []
    for r in range(rounds):
        for k, load in enumerate(LOADS):
            modes = MODES if (r + k) % 2 == 0 else MODES[::-1]
            for mode in modes:
                pair = [(mode, load, True)] if load == "rest" else [(mode, load, True), (mode, load, False)]
                if (r + k + MODES.index(mode)) % 2:
                    pair.reverse()
                steps += pair
    return steps


class Run:
    def __init__(self, dsn, nodes, edges, duration, rounds, rebuild_above, only=None):
        self.only = only  # (modes, loads): the phases with readers of those, at rest too (--only)
        self.rebuild_above = rebuild_above
        self.applies = []
        self.dsn, self.nodes, self.edges = dsn, nodes, edges
        self.chunk = duration / rounds
        self.rounds = rounds
        self.phases = {}  # (mode, load, readers) -> pooled results
        self.notes = []
        self.rebuilds = []
        self.seeds = random.Random(9)

    def setup(self):
        with psycopg.connect(self.dsn, autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            start = time.perf_counter()
            c.execute(GRAPH_SCHEMA.format(nodes=self.nodes, edges=self.edges))
            load = time.perf_counter() - start
            start = time.perf_counter()
            c.execute("SELECT graph.build()")
            build = time.perf_counter() - start
            for name, value in DB_SETTINGS.items():
                c.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(DB), sql.Identifier(*name.split(".")), sql.Literal(value)))
            self.server = c.execute("SELECT split_part(version(), ' on ', 1), current_setting('fsync'),"
                                    " current_setting('synchronous_commit')").fetchone()
        self.notes.append("graph: %d nodes, %d edges (common.GRAPH_SCHEMA); load %.1f s, graph.build() %.1f s"
                          % (self.nodes, self.edges, load, build))
        print(self.notes[-1], flush=True)

    def settle(self):
        """Between phases: apply every pending log row (graph.apply_sync()); rebuild the base
        (graph.vacuum(): folds the overlay, prunes the log) when the overlay holds more than
        --rebuild-above of the edges. Returns the overlay rows left."""
        with psycopg.connect(self.dsn, autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            start = time.perf_counter()
            c.execute(APPLY)
            self.applies.append(time.perf_counter() - start)
            health = c.execute(HEALTH).fetchone()
            if health[2] > self.rebuild_above * self.edges:
                start = time.perf_counter()
                status, error = c.execute("SELECT status, error FROM graph.vacuum()").fetchone()
                self.rebuilds.append(time.perf_counter() - start)
                if status == "failed":
                    raise SystemExit("graph.vacuum() failed between phases: %s" % error)
                health = c.execute(HEALTH).fetchone()
        if health[0] or health[1] or health[3]:
            raise SystemExit("graph not at rest between phases (pending, failed, overlay, read only, reason):"
                             " %r" % (health,))
        return health[2]

    def start_workers(self):
        ctx = multiprocessing.get_context("spawn")
        self.results = ctx.Queue()
        self.workers = {}  # (role, index) -> (process, command queue)
        for role, n in (("reader", READERS), ("writer", WRITERS), ("applier", 1)):
            for i in range(n):
                commands = ctx.Queue()
                proc = ctx.Process(target=_worker, args=(role, i, self.dsn, (self.nodes, self.edges),
                                                         self.seeds.getrandbits(32), commands, self.results))
                proc.start()
                self.workers[(role, i)] = (proc, commands)

    def stop_workers(self):
        for _proc, commands in self.workers.values():
            commands.put(None)
        for proc, _ in self.workers.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()

    def collect(self, kind, n, timeout):
        """``n`` messages of ``kind`` from the workers; stops the run when one failed or died."""
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n:
            try:
                msg = self.results.get(timeout=1)
            except queue.Empty:
                dead = [key for key, (proc, _) in self.workers.items() if not proc.is_alive()]
                if dead or time.monotonic() > deadline:
                    raise SystemExit("workers %s died or did not answer" % (dead or "all")) from None
                continue
            if msg[0] == "failed":
                raise SystemExit("a worker failed: %s" % msg[3])
            assert msg[0] == kind, msg
            got.append(msg)
        return got

    def phase(self, mode, load, readers, overlay):
        """One phase: its connections warm up, then start together and work for self.chunk s."""
        roles = [("reader", i) for i in range(READERS if readers else 0)]
        roles += [("writer", i) for i in range(WRITERS if load != "rest" else 0)]
        roles += [("applier", 0)] if MODE[mode].applier else []
        rate = THROTTLED / WRITERS if load == "throttled" else None
        asked = time.perf_counter()
        for key in roles:
            self.workers[key][1].put((mode, self.chunk, rate if key[0] == "writer" else None))
        self.collect("ready", len(roles), 600)
        ready = time.perf_counter() - asked
        loadavg = os.getloadavg()[0]
        start = time.monotonic() + 0.2  # every worker has its start time by then
        for key in roles:
            self.workers[key][1].put(start)
        results = [dict(res, role=role) for _, role, _, res in self.collect("done", len(roles), self.chunk + 600)]
        with psycopg.connect(self.dsn, autocommit=True) as c:
            health = c.execute(HEALTH).fetchone()
        if health[3]:
            raise SystemExit("the graph turned read-only during %s / %s: %s" % (mode, load, health[4]))
        pooled = self.phases.setdefault((mode, load, readers), {
            "seconds": 0.0, "load": [], "pending": [], "overlay": [], "failed": 0, "gaps": [],
            "counters": [0] * len(COUNTER_NAMES),
            **{role: {"lat": [], "cut": [], "errors": Counter(), "rows": 0}
               for role in ("reader", "writer", "applier")}})
        pooled["seconds"] += self.chunk
        pooled["load"].append(loadavg)
        pooled["pending"].append(health[0])
        pooled["overlay"].append(overlay)
        pooled["failed"] += health[1]
        for r in results:
            if "counters" in r:
                pooled["counters"] = [a + b for a, b in zip(pooled["counters"], r["counters"], strict=True)]
            p = pooled[r["role"]]
            p["lat"] += r["lat"]
            p["cut"] += r["cut"]
            p["errors"].update(r["errors"])
            p["rows"] += r["rows"]
        if readers:
            marks = sorted([start, start + self.chunk] + [t for r in results if r["role"] == "reader"
                                                           for t in r["done"]])
            pooled["gaps"].append(max(b - a for a, b in zip(marks, marks[1:], strict=False)))
        print("%-18s %-20s %-13s ready in %4.1f s, load %4.1f: reads %6d, commits %7d, pending at end %6d"
              % (mode, LOAD_NAMES[load], "with readers" if readers else "writers alone", ready, loadavg,
                 sum(1 for r in results if r["role"] == "reader" for _ in r["lat"]),
                 sum(len(r["lat"]) for r in results if r["role"] == "writer"), health[0]), flush=True)
        if readers:
            counted = [sum(x) for x in zip(*(r["counters"] for r in results if "counters" in r), strict=True)]
            print("    readers: " + ", ".join("%s %d" % kv for kv in zip(COUNTER_NAMES, counted, strict=True)),
                  flush=True)

    def run(self):
        self.start_workers()
        try:
            for mode, load, readers in plan(self.rounds):
                if self.only and not (readers and mode in self.only[0] and load in ("rest", *self.only[1])):
                    continue
                overlay = self.settle()
                self.phase(mode, load, readers, overlay)
        finally:
            self.stop_workers()


# ---------------------------------------------------------------- the report

def ms(seconds):
    return "%.1f ms" % (seconds * 1000) if seconds is not None else "–"


def git_state():
    """The commit measured and whether the code that gets installed had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "plpython", "sql",
                                "install.py"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return "commit %s%s" % (head, ", with uncommitted changes in %d files of plpython/, sql/ and install.py"
                            " (installed as they were when the run started)" % len(dirty.splitlines()) if dirty else "")


READS_HEADER = ("| mode | phase | reads | reads/s | p50 | p99 | p50 / at rest | p99 / at rest | longest stall"
                " | cut off at end | goal | |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |")


def read_rows(r):
    """The reads table's rows, and (mode, load, goal met) of each, of the phases run (--only
    runs some)."""
    rows, goals = [], []
    for mode in MODES:
        if (mode, "rest", True) not in r.phases:
            continue
        rest = r.phases[(mode, "rest", True)]["reader"]["lat"]
        rest50, rest99 = (percentile(rest, 50), percentile(rest, 99)) if rest else (None, None)
        for load in LOADS:
            ph = r.phases.get((mode, load, True))
            if ph is None:
                continue
            lat = ph["reader"]["lat"]
            p50, p99 = (percentile(lat, 50), percentile(lat, 99)) if lat else (None, None)
            r50 = p50 / rest50 if p50 and rest50 else None
            r99 = p99 / rest99 if p99 and rest99 else None
            stall = max(ph["gaps"])
            if load == "rest" or mode == PEER:
                goal, met = "" if load == "rest" else "(the peer)", None
            elif load == "throttled":
                goal = "p50 ≤ 2×, p99 ≤ 3× at rest"
                met = r50 is not None and r50 <= 2 and r99 <= 3
            else:
                goal = "p99 ≤ 50 ms, a read completes every second"
                met = p99 is not None and p99 <= 0.050 and stall < 1
            rows.append("| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mode, LOAD_NAMES[load], len(lat), len(lat) / ph["seconds"], ms(p50), ms(p99),
                "%.2f×" % r50 if r50 else "–", "%.2f×" % r99 if r99 else "–", ms(stall),
                "%d (longest %s)" % (len(ph["reader"]["cut"]), ms(max(ph["reader"]["cut"])))
                if ph["reader"]["cut"] else "0", goal, {True: "met", False: "**missed**", None: "–"}[met]))
            goals.append((mode, load, met))
    return rows, goals


def write_rows(r):
    rows = []
    for mode in MODES:
        for load in LOADS[1:]:
            both, alone = r.phases[(mode, load, True)], r.phases[(mode, load, False)]
            a, b = both["writer"]["lat"], alone["writer"]["lat"]
            p99a, p99b = percentile(a, 99), percentile(b, 99)
            ratio = p99a / p99b
            rows.append("| %s | %s | %.0f | %s | %s | %.0f | %s | %s | %.2f× | %s |" % (
                mode, LOAD_NAMES[load], len(a) / both["seconds"], ms(percentile(a, 50)), ms(p99a),
                len(b) / alone["seconds"], ms(percentile(b, 50)), ms(p99b), ratio,
                "(the peer's readers)" if mode == PEER else "met" if ratio <= 1.25 else "**missed**"))
    return rows


def detail_rows(r):
    rows = []
    for (mode, load, readers), ph in sorted(r.phases.items(), key=lambda kv: (MODES.index(kv[0][0]),
                                                                             LOADS.index(kv[0][1]), not kv[0][2])):
        applier = ph["applier"]["lat"]
        errors = ph["reader"]["errors"] + ph["writer"]["errors"] + ph["applier"]["errors"]
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            mode, LOAD_NAMES[load], "yes" if readers else "no",
            ", ".join("%.1f" % x for x in ph["load"]),
            "%d calls, p50 %s, p99 %s, %d rows" % (len(applier), ms(percentile(applier, 50)),
                                                   ms(percentile(applier, 99)), ph["applier"]["rows"])
            if applier else "–",
            ", ".join(str(x) for x in ph["pending"]), ", ".join(str(x) for x in ph["overlay"]),
            "; ".join(["%d× %s" % (n, m) for m, n in errors.most_common(3)]
                      + (["%d failed log rows" % ph["failed"]] if ph["failed"] else [])) or "none"))
    return rows


def counter_rows(r):
    rows = []
    for (mode, load, readers), ph in sorted(r.phases.items(), key=lambda kv: (MODES.index(kv[0][0]),
                                                                             LOADS.index(kv[0][1]), not kv[0][2])):
        if readers:
            rows.append("| %s | %s | %s |" % (mode, LOAD_NAMES[load], " | ".join("%d" % x for x in ph["counters"])))
    return rows


def report(r, args, code, load_before, load_after, plot_link):
    reads, goals = read_rows(r)
    lines = [
        "# Reads under writes: benchmark results",
        "",
        "Written by `benchmarks/reads_under_writes.py%s` (one run). Every figure below comes from that run;"
        % (" --quick" if args.quick else ""),
        "ratios are against the at-rest phase of the same mode (freshness, or the peer) in the same run.",
        "",
        "- machine: %s, %d cores (nproc %d); load average (1, 5, 15 min) %s before the run, %s after;"
        % (platform.machine(), os.cpu_count(), len(os.sched_getaffinity(0)),
           "/".join("%.1f" % x for x in load_before), "/".join("%.1f" % x for x in load_after)),
        "  the machine was shared: other work ran during the run (see the load per phase below)",
        "- server: %s, fsync %s, synchronous_commit %s; code: %s" % (*r.server, code),
        *("- " + n for n in r.notes),
        "- benchmark database settings: %s" % ", ".join("%s = %s" % kv for kv in DB_SETTINGS.items()),
        "- each phase: %d reader connections running `%s` from random seeds back to back; %d writer"
        % (READERS, TRAVERSE.replace("%s", "<seed>"), WRITERS),
        "  connections committing `%s` (random values, autocommit: each its own transaction), %d/s in"
        % (UPDATE.replace("%s", "<random>", 1).replace("%s", "<random>"), THROTTLED),
        "  total on an open-loop schedule or unthrottled; under `off`, `%s` and `%s` one more connection"
        " runs `graph.apply_sync()`" % (FRESH, BOUNDED),
        "  every %d ms; `%s`: the readers' graph.query_freshness is 'apply_pending_sync' (every committed"
        " row in every read); `%s`: the same with graph.max_staleness = '%s';"
        % (APPLY_EVERY * 1000, FRESH, BOUNDED, STALENESS),
        "  under `%s` (the peer) the readers run `%s` instead, the same traversal as a"
        % (PEER, CTE.replace("%s", "<seed>")),
        "  recursive CTE over the tables (graphsync still captures the writes; nothing applies them"
        " during the phase).",
        "  Every connection is its own process. %.0f s per phase in %d round(s) of %.1f s,"
        % (r.chunk * r.rounds, r.rounds, r.chunk),
        "  order alternating. Between phases `graph.apply_sync()` applies what is pending and `graph.vacuum()`",
        "  rebuilds the base when the overlay holds more than %.0f%% of the edges" % (r.rebuild_above * 100),
        "  (%d rebuilds%s)" % (len(r.rebuilds), ", median %.1f s" % percentile(r.rebuilds, 50) if r.rebuilds else ""),
        "- a read still running when its phase ended was cancelled: it counts as cut off, not as a latency;",
        "  \"longest stall\" is the longest stretch of a phase in which no reader completed a read",
        "",
        "## Reads (4 readers, traverse depth 2)",
        "",
        *READS_HEADER,
        *reads,
        "",
        "## Writers (4 connections, single-row FK updates): with readers and alone",
        "",
        "| mode | phase | commits/s | p50 | p99 | commits/s alone | p50 alone | p99 alone"
        " | p99 / alone | goal: unchanged (≤ 1.25×) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *write_rows(r),
        "",
        "Readers and writers share %d cores: while readers run, a writer also waits for a CPU, so this ratio"
        % os.cpu_count(),
        "includes CPU contention, not only what graphsync adds to a commit.",
        "",
        "## Each phase",
        "",
        "Load average (1 min) when each round of the phase started; the applier (`off`, `%s`, `%s`); log rows"
        % (FRESH, BOUNDED),
        " still pending when",
        "each round ended; edge-overlay rows when each round started; errors, if any.",
        "",
        "| mode | phase | readers | load | applier | pending at end | overlay at start | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *detail_rows(r),
        "",
        "## What the readers' backends did",
        "",
        "Counted by graphsync in the 4 readers' backends, summed over the rounds of each phase: reads"
        " whose freshness step applied the",
        "pending rows; folds of pending rows (onto the view kept from the last read: incremental; kept"
        " across another backend's apply:",
        "rekeys, or refused); log rows folded; refreshes of the applied graph (adopting a folded view:"
        " adoptions), copies of it,",
        "full arrays built, applied overlay rows folded in.",
        "",
        "| mode | phase | %s |" % " | ".join(n.replace("_", " ") for n in COUNTER_NAMES),
        "| --- | --- |%s" % (" ---: |" * len(COUNTER_NAMES)),
        *counter_rows(r),
        "",
        "![Read latency at rest and under writes](%s)" % plot_link,
        "",
    ]
    return "\n".join(lines), goals


def plot(r, path, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MODES), figsize=(24, 5.4), sharex=True, sharey=True)
    for ax, mode in zip(axes, MODES, strict=True):
        for load, colour in zip(LOADS, ("tab:green", "tab:orange", "tab:red"), strict=True):
            lat = sorted(x * 1000 for x in r.phases[(mode, load, True)]["reader"]["lat"])
            if not lat:
                ax.plot([], [], color=colour, label="%s: no read completed" % LOAD_NAMES[load])
                continue
            ax.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", color=colour,
                    label="%s (n=%d, p50 %.1f, p99 %.1f ms)" % (LOAD_NAMES[load], len(lat), percentile(lat, 50),
                                                              percentile(lat, 99)))
        ax.axvline(50, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(MODE[mode].title, fontsize=10)
        ax.set_xlabel("traverse depth 2 latency (ms, log scale; dashed: 50 ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
    axes[0].set_ylabel("share of reads at most this slow")
    fig.suptitle("graphsync reads under writes: %d readers, %d writers, %d nodes / %d edges%s, %d cores"
                 % (READERS, WRITERS, r.nodes, r.edges, " (--quick)" if quick else "", os.cpu_count()))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k nodes / 100k edges, 5 s phases, one round")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--edges", type=int)
    parser.add_argument("--duration", type=float, help="seconds per phase in total (20; --quick 5)")
    parser.add_argument("--rounds", type=int, help="rounds each phase is split into (2; --quick 1)")
    parser.add_argument("--rebuild-above", type=float, default=0.05,
                        help="rebuild between phases when the overlay exceeds this share of the edges (0.05)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "READS_UNDER_WRITES.md"))
    parser.add_argument("--plot", default=str(ROOT / "benchmarks" / "reads_under_writes.png"))
    parser.add_argument("--only", metavar="MODE,...",
                        help="run only these modes (of %s) with readers, at rest and under --loads; prints their"
                             " reads, writes no file" % ", ".join(MODES))
    parser.add_argument("--loads", default="throttled,unthrottled",
                        help="with --only: the write loads, of throttled, unthrottled (both)")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = (args.only.split(","), args.loads.split(","))
        if not set(only[0]) <= set(MODES) or not set(only[1]) <= set(LOADS[1:]):
            parser.error("--only takes modes of %s, --loads of %s" % (", ".join(MODES), ", ".join(LOADS[1:])))
    nodes = args.nodes or (20_000 if args.quick else 200_000)
    edges = args.edges or (100_000 if args.quick else 1_000_000)
    duration = args.duration or (5 if args.quick else 20)
    rounds = args.rounds or (1 if args.quick else 2)
    load_before = os.getloadavg()
    code = git_state()  # what gets installed: the tree as it is now
    started = time.monotonic()
    with server() as admin, database(admin, DB) as dsn:
        r = Run(dsn, nodes, edges, duration, rounds, args.rebuild_above, only)
        r.setup()
        r.run()
    load_after = os.getloadavg()
    if only:
        print("\n".join([*READS_HEADER, *read_rows(r)[0]]))
        print("%s; load average before %s, after %s" % (code, "/".join("%.1f" % x for x in load_before),
                                                        "/".join("%.1f" % x for x in load_after)))
        return 0
    plot(r, args.plot, args.quick)
    link = os.path.relpath(args.plot, Path(args.out).resolve().parent)
    text, goals = report(r, args, code, load_before, load_after, link)
    Path(args.out).write_text(text)
    print(text)
    print("wrote %s and %s in %.0f s" % (args.out, args.plot, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
