"""Replay throughput: graph.apply_sync() over a large mixed log vs a plain copy of the same rows.

The log is made by real writes to the demo schema (demo/schema.sql, registered by
demo/register.sql): inserts, updates and deletes over six node tables, foreign-key
edges and a bidirectional join-table edge. Each timed apply runs in a transaction
that is rolled back, so every repetition replays the same log.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]  # install.py and pgcluster.py, for common

from common import Result, cpu_seconds, database, interleaved, plot_ratios, server, timed  # noqa: E402

SETTINGS = ("SET graph.sync_batch_size = 10000", "SET graph.edge_buffer_size = 5000000")


def graph_tables(conn: psycopg.Connection) -> str:
    """The graph tables to VACUUM ANALYZE in ``conn``'s database: graph._nodes and
    graph._labels are views over graph._node_rows and graph._label_rows since migration
    245; an earlier revision installed (``against``) has them as tables."""
    nodes, labels = conn.execute(
        "SELECT coalesce(to_regclass('graph._node_rows'), to_regclass('graph._nodes'))::text,"
        " coalesce(to_regclass('graph._label_rows'), to_regclass('graph._labels'))::text").fetchone()
    return f"{nodes}, graph._edge_overlay, graph._edge_cuts, {labels}, graph._sync_state"


# One round of writes over the ids lo..hi (hi - lo + 1 a multiple of 10): about 4.7 log
# rows per id, 2/3 inserts, 1/4 updates, 1/10 deletes. Companies and projects have the ids
# that are multiples of 10; contact g works at, and task g is in, the one rounding g up.
ROUND = [
    "INSERT INTO app.companies SELECT g, 1 + g % 10, 'co' || g FROM generate_series({lo}, {hi}) AS g"
    " WHERE g % 10 = 0",
    "INSERT INTO app.projects SELECT g, 1 + g % 10, 'p' || g FROM generate_series({lo}, {hi}) AS g"
    " WHERE g % 10 = 0",
    "INSERT INTO app.contacts SELECT g, 1 + g % 10, 'c' || g, 'c' || g || '@example.org', 10 * ((g + 9) / 10)"
    " FROM generate_series({lo}, {hi}) AS g",
    "INSERT INTO app.tasks SELECT g, 1 + g % 10, 't' || g, 'open', 10 * ((g + 9) / 10), g"
    " FROM generate_series({lo}, {hi}) AS g",
    "INSERT INTO app.deals SELECT g, 1 + g % 10, 'd' || g, g % 1000, g FROM generate_series({lo}, {hi}) AS g"
    " WHERE g % 4 = 0",
    "INSERT INTO app.relations (source_id, target_id, type, weight)"
    " SELECT g, {lo} + g * 7 % ({hi} - {lo} + 1), 'knows', 1 + g % 3 FROM generate_series({lo}, {hi}) AS g"
    " WHERE g % 2 = 0",
    "UPDATE app.contacts SET name = name || '*', company_id = 10 * (({lo} + id * 3 % ({hi} - {lo} + 1) + 9) / 10)"
    " WHERE id BETWEEN {lo} AND {hi} AND id % 2 = 0",
    "UPDATE app.tasks SET status = 'done' WHERE id BETWEEN {lo} AND {hi} AND id % 3 = 0",
    "UPDATE app.deals SET amount = amount + 1 WHERE id BETWEEN {lo} AND {hi}",
    "DELETE FROM app.relations WHERE source_id BETWEEN {lo} AND {hi} AND source_id % 8 = 0",
    "DELETE FROM app.tasks WHERE id BETWEEN {lo} AND {hi} AND id % 5 = 0",
    "DELETE FROM app.deals WHERE id BETWEEN {lo} AND {hi} AND id % 8 = 0",
]

# Runs apply_sync with plpy wrapped, timing each SQL statement it runs (by its first
# line; with PL/Python's conversion of its arguments and rows) and the Python steps of a
# batch: changes.add_rows() (the log rows turned into graph changes), the images'
# parse, cancel_edges() and the change-log entries. By the backend's CPU
# (time.process_time: the applying process's user + system time), not the clock: on a
# shared machine the clock of one apply varies with the load far more.
PROFILE = '''
CREATE FUNCTION pg_temp.profile_apply() RETURNS text LANGUAGE plpython3u AS $$
import json, time
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import apply, changes, notify

spent = {}

def clock(name, fn, *args, **kw):
    start = time.process_time()
    try:
        return fn(*args, **kw)
    finally:
        spent[name] = spent.get(name, 0.0) + time.process_time() - start

class Timed:
    def __init__(self):
        self.names = {}
    def prepare(self, query, *args):
        plan = clock("SQL: plpy.prepare() (parse and analyse)", plpy.prepare, query, *args)
        self.names[id(plan)] = "SQL: " + " ".join(query.split())[:70]
        return plan
    def execute(self, query, *args):
        name = self.names.get(id(query)) or "SQL: " + " ".join(str(query).split())[:70]
        return clock(name, plpy.execute, query, *args)
    def __getattr__(self, name):
        return getattr(plpy, name)

def timed(module, name, label):
    fn = getattr(module, name)
    setattr(module, name, lambda *args, **kw: clock(label, fn, *args, **kw))
    return module, name, fn

wrapped = [timed(changes, "add_rows", "Python: changes.add_rows() (edges, edge diff, node counts)"),
           timed(changes, "parse_images", "Python: changes.parse_images() (the images' JSON)"),
           timed(changes, "cancel_edges", "Python: changes.cancel_edges()"),
           timed(notify, "entries", "Python: notify.entries() (the change-log entries)")]
try:
    result = clock("total", apply.apply_sync, Timed())
finally:
    for module, name, fn in wrapped:
        setattr(module, name, fn)
return json.dumps({"result": result, "spent": spent})
$$;
'''


# The replay of an earlier revision, side by side with the installed one: that revision's
# sync/apply.py compiled as a module of its own over the installed package.
PREVIOUS = '''
CREATE FUNCTION pg_temp.apply_previous(source text, OUT failed bigint, OUT stopped text)
LANGUAGE plpython3u AS $$
import types
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
module = GD.get("apply_previous")
if module is None:
    module = GD["apply_previous"] = types.ModuleType("graphsync.sync.apply_previous")
    exec(compile(source, "apply_previous.py", "exec"), module.__dict__)
result = module.apply_sync(plpy)
return result["failed"], result["stopped"]
$$;
'''
APPLY = "SELECT failed, stopped FROM graph.apply_sync()"
# The per-batch replay whatever the backlog (no rebuild of a large one; sync/apply.py).
PER_BATCH = "SET LOCAL graph.rebuild_backlog_rows = 2147483647"


def previous_tree(revision: str, into: str) -> Path:
    """This repository's files at ``revision`` in the directory ``into`` (git archive)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return Path(into)


def previous_source(revision: str) -> str:
    """sync/apply.py as it was at ``revision`` of this repository."""
    return subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:plpython/graphsync/sync/apply.py"],
                          check=True, capture_output=True, text=True).stdout


def setup(conn: psycopg.Connection) -> None:
    """The demo schema, registered, with ten workspaces, built."""
    conn.execute((ROOT / "demo" / "schema.sql").read_text())
    conn.execute("INSERT INTO app.workspaces SELECT g, 'ws' || g FROM generate_series(1, 10) AS g")
    conn.execute((ROOT / "demo" / "register.sql").read_text())
    conn.execute("SELECT graph.build()")


def generate(conn: psycopg.Connection, rows: int) -> int:
    """Write rounds of mixed changes until the log holds at least ``rows`` rows; its row count."""
    size = max(10, rows // 100 // 10 * 10)
    logged, lo = 0, 1
    while logged < rows:
        for sql in ROUND:
            logged += conn.execute(sql.format(lo=lo, hi=lo + size - 1)).rowcount
        lo += size
    conn.execute("VACUUM ANALYZE graph._sync_log")
    return conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]


# What autovacuum may do while a long apply runs: analyze the graph tables (and the log)
# from another session. The apply's own rows are not committed, so the statistics say
# graph._nodes and graph._edge_overlay hold almost nothing in many pages.
MID_APPLY_ANALYZE = "ANALYZE {nodes}, graph._edge_overlay, graph._sync_log"


def _temp_bytes(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
                        ).fetchone()[0]


def _apply(conn: psycopg.Connection, dsn: str | None = None, analyze_after: float | None = None,
           timeout: float | None = None, query: tuple = (APPLY, ()), before: tuple = ()) -> dict[str, float]:
    """Seconds of one graph.apply_sync() over the whole log, rolled back. With
    ``analyze_after``, a second connection runs MID_APPLY_ANALYZE that many seconds into
    the apply. Afterwards the graph tables are vacuumed and analyzed at rest again, so
    every repetition starts from the same statistics. ``timeout`` (seconds) cancels an
    apply whose plans went wrong, reported as that time. ``query``: the apply to run
    (statement, parameters); ``before``: statements run first in its transaction, untimed.
    The result's "rebuilt" is 1 when the apply wrote a new base (a backlog rebuilt,
    graph.rebuild_backlog_rows) instead of replaying the log into the overlay."""
    temp = _temp_bytes(conn)
    analyzed = threading.Event()

    def analyze() -> None:
        time.sleep(analyze_after)
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute(MID_APPLY_ANALYZE.format(nodes=graph_tables(other).split(",")[0]))
        analyzed.set()

    helper = threading.Thread(target=analyze) if analyze_after is not None else None
    with conn.transaction(force_rollback=True):
        if timeout:
            conn.execute(f"SET LOCAL statement_timeout = '{int(timeout * 1000)}ms'")
        for statement in before:
            conn.execute(statement)
        generation = conn.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        if helper:
            helper.start()
        cpu = cpu_seconds(conn.info.backend_pid)
        start = time.perf_counter()
        try:
            failed, stopped = conn.execute(*query).fetchone()
        except psycopg.errors.QueryCanceled:
            failed, stopped = 0, None
        seconds = time.perf_counter() - start
        after = cpu_seconds(conn.info.backend_pid)
        rebuilt = conn.execute("SELECT generation FROM graph._sync_state").fetchone()[0] != generation
    if helper:
        helper.join()
        if not analyzed.is_set():
            raise RuntimeError("the mid-apply ANALYZE did not run")
        if analyze_after >= seconds:
            raise RuntimeError(f"the apply took {seconds:.1f} s, the ANALYZE came after it")
    if failed or stopped:
        raise RuntimeError(f"apply_sync: {failed} failed rows, stopped: {stopped}")
    conn.execute(f"VACUUM ANALYZE {graph_tables(conn)}")
    out = {"replay": seconds, "temp_mb": (_temp_bytes(conn) - temp) / 2**20, "rebuilt": float(rebuilt)}
    if cpu is not None and after is not None:
        out["cpu"] = after - cpu  # the applying backend's CPU seconds: less at the mercy of the load
    return out


def _copy(conn: psycopg.Connection) -> dict[str, float]:
    """Seconds of a plain INSERT … SELECT of every log row into an index-less twin table."""
    conn.execute("TRUNCATE log_copy")
    return {"replay": timed(conn, "INSERT INTO log_copy SELECT * FROM graph._sync_log")}


def _recorded(fn, into: list[float], cpu: list[float] | None = None):
    def call() -> dict[str, float]:
        out = fn()
        into.append(out["replay"])
        if cpu is not None and "cpu" in out:
            cpu.append(out["cpu"])
        return out
    return call


def log_size(conn: psycopg.Connection) -> str:
    """On-disk bytes per log row, of the table alone and with its indexes."""
    heap, total, rows = conn.execute(
        """SELECT pg_table_size('graph._sync_log'), pg_total_relation_size('graph._sync_log'), count(*)
           FROM graph._sync_log""").fetchone()
    return f"{heap / rows:.0f} bytes per row in the table, {total / rows:.0f} with its indexes"


def run(conn: psycopg.Connection, logged: int, reps: int, dsn: str | None = None,
        analyze_after: float | None = None, timeout: float | None = None, previous: str | None = None,
        samples: dict[str, list[float]] | None = None, against: tuple | None = None,
        per_batch: bool = False) -> list[Result]:
    """apply_sync vs a plain copy of the ``logged`` log rows; with ``dsn``, also apply_sync
    with the graph tables analyzed by another session ``analyze_after`` seconds in (None:
    a third of an apply timed first, untimed itself, so that the ANALYZE falls inside the
    apply on any machine and at any row count); with
    ``previous`` (a revision), both again with that revision's replay, alternating; with
    ``against`` (revision, connection, dsn: a database where that revision is installed,
    migrations and all, holding the same log), both again there, alternating. Every
    repetition's seconds go into ``samples`` (variant -> list) when given. With
    ``per_batch``, both again with a backlog never rebuilt (graph.rebuild_backlog_rows at
    its highest): the per-batch replay of the installed code, alternating."""
    for c in [conn] + ([against[1]] if against else []):
        for setting in SETTINGS:
            c.execute(setting)
        c.execute(f"VACUUM ANALYZE {graph_tables(c)}")
    conn.execute("DROP TABLE IF EXISTS log_copy")
    conn.execute("CREATE TABLE log_copy (LIKE graph._sync_log)")
    if dsn and analyze_after is None:
        analyze_after = round(max(0.05, _apply(conn, timeout=timeout)["replay"] / 3), 2)
    variants = {"copy": partial(_copy, conn), "apply": partial(_apply, conn, timeout=timeout)}
    if dsn:
        variants["analyzed"] = partial(_apply, conn, dsn, analyze_after, timeout)
    if per_batch:
        variants["per batch"] = partial(_apply, conn, timeout=timeout, before=(PER_BATCH,))
        if dsn:
            variants["per batch analyzed"] = partial(_apply, conn, dsn, analyze_after, timeout, before=(PER_BATCH,))
    if against:
        variants["against"] = partial(_apply, against[1], timeout=timeout)
        if per_batch:
            variants["against per batch"] = partial(_apply, against[1], timeout=timeout, before=(PER_BATCH,))
        if dsn:
            variants["against analyzed"] = partial(_apply, against[1], against[2], analyze_after, timeout)
    if previous:
        conn.execute("DROP FUNCTION IF EXISTS pg_temp.apply_previous(text)")
        conn.execute(PREVIOUS)
        old = ("SELECT failed, stopped FROM pg_temp.apply_previous(%s)", (previous_source(previous),))
        variants["previous"] = partial(_apply, conn, timeout=timeout, query=old)
        if dsn:
            variants["previous analyzed"] = partial(_apply, conn, dsn, analyze_after, timeout, old)
    if samples is not None:
        variants = {name: _recorded(fn, samples.setdefault(name, []),
                                    None if name == "copy" else samples.setdefault(f"{name} cpu", []))
                    for name, fn in variants.items()}
    medians = interleaved(reps, variants)
    copy, apply = medians["copy"]["replay"], medians["apply"]["replay"]
    results = [Result(f"replay {logged:,} mixed log rows: apply_sync vs INSERT … SELECT copy", copy, apply,
                      "≥ 100,000 rows/s", logged / apply >= 100_000)]
    if dsn:
        analyzed = medians["analyzed"]["replay"]
        results.append(Result(f"the same with the graph tables analyzed {analyze_after:g} s into the apply"
                              f" (temp files {medians['analyzed']['temp_mb']:.0f} MB vs"
                              f" {medians['apply']['temp_mb']:.0f} MB)",
                              copy, analyzed, "≥ 100,000 rows/s", logged / analyzed >= 100_000))
    for name in ("per batch", "per batch analyzed", "previous", "previous analyzed", "against", "against analyzed",
                 "against per batch"):
        if name in medians:
            m = medians[name]
            revision = against[0] if name.startswith("against") else previous if name.startswith("previous") \
                else "this code, per batch"
            results.append(Result(f"{name}: replay of {revision}" + (
                f" (temp files {m['temp_mb']:.0f} MB)" if name.endswith("analyzed") else ""),
                copy, m["replay"], "≥ 100,000 rows/s", logged / m["replay"] >= 100_000))
    return results


def plot(samples: dict[str, list[float]], logged: int, path: str, title: str) -> None:
    """Each apply variant over the copy as a PNG, median (min–max) of the repetitions,
    each apply over the copy of its own repetition (``samples``: run()'s)."""
    names = {"apply": "apply_sync / copy", "analyzed": "apply_sync with a mid-apply ANALYZE / copy",
             "per batch": "apply_sync, per batch (no rebuild) / copy",
             "per batch analyzed": "per batch, mid-apply ANALYZE / copy",
             "previous": "previous revision's apply_sync / copy",
             "previous analyzed": "previous revision's, mid-apply ANALYZE / copy",
             "against": "that revision installed in its own database / copy",
             "against analyzed": "the same, mid-apply ANALYZE / copy",
             "against per batch": "that revision's per-batch replay / copy"}
    bars = []
    for variant, label in names.items():
        if variant in samples:
            each = [a / c for a, c in zip(samples[variant], samples["copy"], strict=True)]
            bars.append((f"{label} ({logged:,} log rows)", statistics.median(each), min(each), max(each), None))
    plot_ratios(path, title, bars, "time / the copy's time (INSERT … SELECT of the log)", higher_is_better=False)


def profile(dsn: str, before: tuple[str, ...] = ()) -> str:
    """A Markdown table of where one apply_sync over the whole log spends its backend
    CPU (PROFILE; ``before``: statements run first in its transaction, e.g. PER_BATCH)."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction(force_rollback=True):
        for setting in SETTINGS + before:
            conn.execute(setting)
        conn.execute(PROFILE)
        out = json.loads(conn.execute("SELECT pg_temp.profile_apply()").fetchone()[0])
    if out["result"]["failed"] or out["result"]["stopped"]:
        raise RuntimeError(f"the profiled apply_sync did not apply the log: {out['result']}")
    spent = out["spent"]
    total = spent.pop("total")
    spent["Python: the rest of apply_sync"] = total - sum(spent.values())
    lines = ["| part of apply_sync | CPU seconds | share |", "|---|---:|---:|"]
    lines += [f"| {name.replace('|', '/')} | {s:.2f} | {s / total:.0%} |"
              for name, s in sorted(spent.items(), key=lambda kv: -kv[1]) if s >= 0.005 * total]
    return "\n".join(lines + [f"| total | {total:.2f} | 100% |"])


def main(argv: list[str] | None = None) -> int:
    """Replay alone: apply_sync, apply_sync with a mid-apply ANALYZE, and the copy, printed."""
    parser = argparse.ArgumentParser(description="replay throughput, with and without a mid-apply ANALYZE")
    parser.add_argument("--rows", type=int, default=1_000_000, help="log rows to write (default 1,000,000)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each variant (default 3)")
    parser.add_argument("--analyze-after", type=float,
                        help="seconds into the apply (default: a third of an apply timed first)")
    parser.add_argument("--timeout", type=float, default=600, help="cancel an apply after this (default 600 s)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where one apply spends its backend CPU (with --per-batch, also the per-batch"
                             " one's)")
    parser.add_argument("--previous", metavar="REVISION",
                        help="also run the replay of this revision (its sync/apply.py), alternating, in this"
                             " database: only for revisions from migration 245 on, whose replay writes"
                             " graph._node_rows (use --against for older ones)")
    parser.add_argument("--batch-size", type=int, default=10000,
                        help="graph.sync_batch_size of every apply (default 10,000, the setting's default)")
    parser.add_argument("--per-batch", action="store_true",
                        help="also run the installed code's per-batch replay (a large backlog not rebuilt),"
                             " alternating")
    parser.add_argument("--against", metavar="REVISION",
                        help="also run the replay of this revision installed in a database of its own (its"
                             " migrations and all its code), with the same log, alternating")
    parser.add_argument("--plot", default=str(Path(__file__).resolve().parent / "replay.png"),
                        help="where to write the plot of the ratios (default benchmarks/replay.png, beside REPLAY.md)")
    args = parser.parse_args(argv)
    global SETTINGS
    SETTINGS = (f"SET graph.sync_batch_size = {int(args.batch_size)}",) + SETTINGS[1:]
    with server() as admin, database(admin, "graphsync_bench_replay") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn, ExitStack() as stack:
        against = None
        if args.against:
            tree = stack.enter_context(tempfile.TemporaryDirectory())
            other_dsn = stack.enter_context(database(admin, "graphsync_bench_replay_against",
                                                     previous_tree(args.against, tree)))
            other = stack.enter_context(psycopg.connect(other_dsn, autocommit=True))
            setup(other)
            generate(other, args.rows)
            against = (args.against, other, other_dsn)
        setup(conn)
        logged = generate(conn, args.rows)
        if against and against[1].execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] != logged:
            raise RuntimeError("the two databases' logs differ")
        load = open("/proc/loadavg").read().split()[:3]
        print(f"{logged:,} log rows; {log_size(conn)}; load average before: {' '.join(load)}", flush=True)
        samples: dict[str, list[float]] = {}
        for r in run(conn, logged, args.reps, dsn, args.analyze_after, args.timeout, args.previous, samples,
                     against, args.per_batch):
            print(f"{r.operation}: copy {r.baseline:.2f} s, apply {r.measured:.2f} s, {r.ratio:.1f}x,"
                  f" {logged / r.measured:,.0f} rows/s", flush=True)
        for name, seconds in samples.items():
            if not seconds:
                continue
            print(f"{name}: " + ", ".join(f"{x:.2f} s" for x in seconds) + " (" +
                  ", ".join(f"{logged / x:,.0f} rows/s" for x in seconds) + ")")
        for mine, theirs in (("apply", "against"), ("analyzed", "against analyzed"),
                             ("apply cpu", "against cpu"), ("analyzed cpu", "against analyzed cpu"),
                             ("apply", "per batch"), ("apply cpu", "per batch cpu"),
                             ("per batch", "against per batch"), ("per batch cpu", "against per batch cpu")):
            if samples.get(theirs):
                each = [t / m for m, t in zip(samples[mine], samples[theirs], strict=True)]
                print(f"{theirs} / {mine} per repetition: " + ", ".join(f"{x:.2f}x" for x in each)
                      + f"; median {statistics.median(each):.2f}x")
        after = " ".join(open("/proc/loadavg").read().split()[:3])
        print(f"load average after: {after}")
        plot(samples, logged, args.plot, f"replay: {args.reps} repetitions alternating, {os.cpu_count()} cores,"
                                         f" load {' '.join(load)} before, {after} after")
        print(f"wrote {args.plot}")
        if args.profile:
            print(profile(dsn))
            if args.per_batch:
                print("\nThe per-batch replay (a backlog never rebuilt):\n")
                print(profile(dsn, (PER_BATCH,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
