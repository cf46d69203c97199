#!/usr/bin/env python3
"""Replay of join-row updates, whose edge ends are base nodes: this code against the code before.

    .venv/bin/python benchmarks/replay_ends.py --before TREE [--rows 2000] [--reps 20] [--read]

A throwaway cluster holds two databases with the graph of benchmarks/reads.py
(200,000 nodes, 1,000,000 edges of a join table; common.GRAPH_SCHEMA), one with this
code installed, one with the code of TREE (a repository tree of earlier code). Each
has one long-lived connection, the applier (as the 100 ms applier of
benchmarks/reads_under_writes.py). A repetition writes the same ``--rows`` single-row
updates of the join table's dst (benchmarks/reads_under_writes.py's writers' statement,
committed one by one) to each database, then times one graph.apply_sync() in each
applier, the order alternating: the client's clock and the backend's CPU (every
thread: /proc/<pid>/task/*/schedstat). ``--warm`` such applies come first in each,
unmeasured: the steady state of an applier (this code reads a table's keys once it
has sent NODES enough of its ends, sync/base_keys.py; that apply is reported apart).
``--read``: the applier is a reader instead: each repetition it first reads the graph
in a read-only transaction (graph.traverse depth 2, which folds the rows written; a
backend that has folded enough keys holds the base's key index, reads/nodes.py),
then the apply timed is the one a read runs (graph._apply_for_read(), which reads
no table's keys: this code finds ends in that index, sync/base_keys.lend).
Ratios this / before per repetition, median (min-max). Writes
benchmarks/REPLAY_ENDS.md (or --out).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import (  # noqa: E402
    GRAPH_SCHEMA,
    before_arguments,
    before_report,
    cpu_seconds,
    load,
    spread_ms,
    spread_ratio,
    this_and_before,
)

UPDATE = "UPDATE bench.links SET dst = %s WHERE id = %s"
# --uuid: the same graph with uuid keys (node g is md5(g)::uuid).
UUID_SCHEMA = GRAPH_SCHEMA.replace(
    "CREATE TABLE bench.nodes (id int PRIMARY KEY", "CREATE TABLE bench.nodes (id uuid PRIMARY KEY").replace(
    "src int NOT NULL, dst int NOT NULL", "src uuid NOT NULL, dst uuid NOT NULL").replace(
    "INSERT INTO bench.nodes SELECT g,", "INSERT INTO bench.nodes SELECT md5(g::text)::uuid,").replace(
    "SELECT g, 1 + floor(random() * {nodes})::int, 1 + floor(random() * {nodes})::int,",
    "SELECT g, md5((1 + floor(random() * {nodes})::int)::text)::uuid,"
    " md5((1 + floor(random() * {nodes})::int)::text)::uuid,")
UPDATE_UUID = "UPDATE bench.links SET dst = md5(%s::text)::uuid WHERE id = %s"
APPLY = "SELECT inserts + updates + deletes FROM graph.apply_sync()"
# --read: a read that folds the pending rows, then the apply a read runs (it returns
# nothing: the rows it applied are the pending rows it leaves none of).
FOLD = "SELECT count(*) FROM graph.traverse('bench.nodes', %s, max_depth => 2)"
PENDING = "SELECT count(*) FROM graph._pending_log()"
READ_APPLY = "SELECT graph._apply_for_read()"


def write(dsn: str, changes: list[tuple[int, int]], update: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for dst, link in changes:
            c.execute(update, (dst, link), prepare=True)


def seed(node: int, uuid_keys: bool) -> str:
    """The key text of node ``node`` (UUID_SCHEMA: md5 of its number, as a uuid)."""
    return str(uuid.UUID(hashlib.md5(str(node).encode()).hexdigest())) if uuid_keys else str(node)


def applied(c: psycopg.Connection, read: str | None = None) -> tuple[float, float, int]:
    """(clock seconds, backend CPU seconds, rows) of one apply_sync in ``c``; with
    ``read`` (a seed), of the apply a read runs, after a read-only read from that seed."""
    if read is not None:
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            c.execute(FOLD, (read,)).fetchone()
        rows = c.execute(PENDING).fetchone()[0]
    cpu0 = cpu_seconds(c.info.backend_pid) or 0.0
    start = time.perf_counter()
    if read is None:
        rows = c.execute(APPLY).fetchone()[0]
    else:
        c.execute(READ_APPLY)
    clock = time.perf_counter() - start
    cpu = (cpu_seconds(c.info.backend_pid) or 0.0) - cpu0
    if read is not None and c.execute(PENDING).fetchone()[0]:
        raise RuntimeError("the apply a read runs left rows pending")
    return clock, cpu, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=200_000)
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--rows", type=int, default=2000, help="join-row updates per apply (default 2,000)")
    p.add_argument("--warm", type=int, default=6, help="unmeasured applies first (default 6)")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--uuid", action="store_true", help="the nodes keyed by uuids (default: integers)")
    p.add_argument("--read", action="store_true",
                   help="the applier reads first, and times the apply a read runs (graph._apply_for_read)")
    p.add_argument("--retained", type=int, default=0,
                   help="applied log rows the log keeps first (graph.log_retention: an hour by default)")
    before_arguments(p, "REPLAY_ENDS.md")
    a = p.parse_args()
    rng = random.Random(a.edges + a.rows)
    got = {"this": ([], []), "before": ([], [])}
    warm = {"this": [], "before": []}
    with this_and_before(a.before) as (this, before):
        for dsn in (this, before):
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute((UUID_SCHEMA if a.uuid else GRAPH_SCHEMA).format(nodes=a.nodes, edges=a.edges))
                if c.execute("SELECT count(*) FROM bench.links AS l JOIN bench.nodes AS n ON n.id = l.dst"
                             ).fetchone()[0] != a.edges:
                    raise RuntimeError("the links do not all end at nodes")
                c.execute("SELECT graph.build()")
                # room for every apply's overlay rows (no rebuild); for the sessions after it
                c.execute("SELECT graph.set_setting('graph.edge_buffer_size', '5000000')")
                if a.retained:  # logged, applied (a backlog that large is rebuilt) and kept
                    c.execute("UPDATE bench.links SET weight = weight + 1 WHERE id <= %s", (a.retained,))
                    c.execute("SET client_min_messages = warning")
                    c.execute("SELECT graph.apply_sync()")
                kept = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        ct, cb = psycopg.connect(this, autocommit=True), psycopg.connect(before, autocommit=True)
        appliers = [("this", this, ct), ("before", before, cb)]
        load_before = load()
        for rep in range(a.warm + a.reps):
            changes = [(rng.randint(1, a.nodes), rng.randint(1, a.edges)) for _ in range(a.rows)]
            for name, dsn, c in appliers if rep % 2 == 0 else appliers[::-1]:
                write(dsn, changes, UPDATE_UUID if a.uuid else UPDATE)
                clock, cpu, rows = applied(c, seed(rng.randint(1, a.nodes), a.uuid) if a.read else None)
                if rows < 0.9 * a.rows:
                    raise RuntimeError("%s applied %d rows of %d updates" % (name, rows, a.rows))
                if rep < a.warm:
                    warm[name].append(clock)
                else:
                    got[name][0].append(clock)
                    got[name][1].append(cpu)
            print(rep, {k: round(v[0][-1] * 1000, 1) for k, v in got.items() if v[0]}, flush=True)
        load_after = load()
        ct.close()
        cb.close()
    (tc, tcpu), (bc, bcpu) = got["this"], got["before"]
    text = before_report(
        "Replay of join-row updates whose ends are base nodes",
        "Written by `benchmarks/replay_ends.py --rows %d --warm %d --reps %d --retained %d%s%s` (%d nodes, %d edges"
        " of a join table, %s keys; %d applied log rows kept before the first apply, and each apply's kept after it;"
        " each repetition %d single-row updates of the join table's dst, committed one by one, then %s"
        " in each database's long-lived applier connection, the order alternating)."
        % (a.rows, a.warm, a.reps, a.retained, " --uuid" if a.uuid else "", " --read" if a.read else "",
           a.nodes, a.edges, "uuid" if a.uuid else "integer", kept, a.rows,
           "a read-only `graph.traverse` depth 2 from a random seed (it folds them) and the apply a read runs,"
           " `graph._apply_for_read()`, timed" if a.read else "one `graph.apply_sync()`"),
        a, (load_before, load_after), [
            ("clock per apply of %d updates, ms" % a.rows, spread_ms(tc), spread_ms(bc), spread_ratio(tc, bc)),
            ("backend CPU per apply, ms", spread_ms(tcpu), spread_ms(bcpu), spread_ratio(tcpu, bcpu)),
        ]) + "\nThe %d unmeasured applies first, clock ms in order: this code %s; the code before %s.\n" % (
        a.warm, ", ".join("%.0f" % (v * 1000) for v in warm["this"]),
        ", ".join("%.0f" % (v * 1000) for v in warm["before"]))
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
