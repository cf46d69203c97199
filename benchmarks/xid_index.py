#!/usr/bin/env python3
"""What the log's btree index on xid (migration 200) costs a write.

    .venv/bin/python benchmarks/xid_index.py [--reps R] [--statements N] [--out FILE]

A read finds the pending log rows through that index (graph._pending_log); every
captured row pays one more index insertion for it. Side by side in one database, in
alternating order each repetition: N single-row UPDATEs of a registered table (a
node with a property and an FK edge), each its own transaction (a server-side
PL/pgSQL loop that commits after every statement, timed by clock_timestamp(), so
neither a client round trip nor an fsync is in the figure: synchronous_commit off),
with the index and with it dropped. The peer is the same code without the index.
Also the write with no capture at all (the table's twin without triggers), for scale.

Starts a throwaway cluster (tools/pgcluster.py) unless GRAPHSYNC_DSN is set.
Writes benchmarks/XID_INDEX.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

from common import database, server  # noqa: E402

SCHEMA = """
CREATE SCHEMA bench;
CREATE TABLE bench.items (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES bench.items);
CREATE TABLE bench.plain (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES bench.plain);
INSERT INTO bench.items SELECT g, 'item ' || g, NULL FROM generate_series(1, 10000) AS g;
INSERT INTO bench.plain SELECT g, 'item ' || g, NULL FROM generate_series(1, 10000) AS g;
SELECT graph.add_table('bench.items', columns => '{name}');
SELECT graph.add_edge('bench.items', 'parent_id', 'bench.items');
SELECT graph.build();
"""

# N single-row updates, each committed; µs per statement by the server's clock.
LOOP = """
CREATE PROCEDURE bench.run(tbl regclass, n int, INOUT us float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..n LOOP
        EXECUTE format('UPDATE %s SET name = $1, parent_id = $2 WHERE id = $3', tbl)
            USING 'n' || i, 1 + (i * 7919) % 10000, 1 + (i * 104729) % 10000;
        COMMIT;
    END LOOP;
    us := extract(epoch FROM clock_timestamp() - started) * 1e6 / n;
END;
$$;
"""


def load() -> str:
    return "/".join("%.1f" % x for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--out", default=str(HERE / "XID_INDEX.md"))
    args = parser.parse_args()
    before = load()
    per = {"with the xid index": [], "without it": [], "no capture": []}
    with server() as admin, database(admin, "graphsync_bench_xid") as dsn, \
            psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute(SCHEMA)
        c.execute(LOOP)
        version = c.execute("SHOW server_version").fetchone()[0]
        for rep in range(args.reps):
            order = ["with the xid index", "without it", "no capture"]
            if rep % 2:
                order.reverse()
            for variant in order:
                if variant == "without it":
                    c.execute("DROP INDEX IF EXISTS graph._sync_log_xid_idx")
                elif variant == "with the xid index":
                    c.execute("CREATE INDEX IF NOT EXISTS _sync_log_xid_idx ON graph._sync_log (xid)")
                table = "bench.plain" if variant == "no capture" else "bench.items"
                us = c.execute("CALL bench.run(%s, %s)", (table, args.statements)).fetchone()[0]
                per[variant].append(us)
            c.execute("SELECT graph.apply_sync()")
        c.execute("CREATE INDEX IF NOT EXISTS _sync_log_xid_idx ON graph._sync_log (xid)")
        log_rows = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
    added = [w - p for w, p in zip(per["with the xid index"], per["without it"], strict=True)]
    ratio = [w / p for w, p in zip(per["with the xid index"], per["without it"], strict=True)]
    lines = [
        "# The log's xid index: what it costs a write",
        "",
        "Written by `benchmarks/xid_index.py` (one run): %d single-row UPDATEs of a registered table"
        " (a property and an FK edge captured), each its own transaction, per variant and"
        " repetition; %d repetitions in alternating order; µs per statement by the server's clock"
        " (synchronous_commit off). The log held %d rows at the end." % (args.statements, args.reps, log_rows),
        "",
        "- machine: %s, %d cores; load average (1, 5, 15 min) %s before the run, %s after; shared"
        " with other work" % (platform.machine(), os.cpu_count(), before, load()),
        "- server: PostgreSQL %s" % version,
        "",
        "| variant | µs per statement, median (min–max) |",
        "| --- | ---: |",
    ]
    for variant, values in per.items():
        lines.append("| %s | %.1f (%.1f–%.1f) |" % (variant, statistics.median(values), min(values), max(values)))
    lines += [
        "",
        "With the index / without it, per repetition: median %.3f× (%.3f–%.3f); added %.1f µs"
        " (%.1f–%.1f) per captured statement." % (statistics.median(ratio), min(ratio), max(ratio),
                                                  statistics.median(added), min(added), max(added)),
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
