"""Change notifications: what replay and rebuilds applied, numbered, and one
NOTIFY graphsync per committing call.

Replay records what it applies in graph._change_log (migration 100), numbered
in commit order by graph._sync_state.change_position: a node change per row of
a node table (an update that moves the key is a delete and an insert), one row
per (batch, table, operation) of the other captured tables, one per TRUNCATE,
and for a rebuild the nodes it changed (it compares the sources with the
applied graph) and the rebuild itself. graph.changed_nodes() reads it; graph.prune_sync_log() prunes
it with the log.

A call that changes the graph (apply_sync, build, maintenance, retry_failed,
reconcile: each decorated with ``top_level``) sends one ``NOTIFY graphsync``
when it returns, summing what the rows it recorded say -- only those that are
still there, so a phase that rolled back counts for nothing. Calls nest
(maintenance applies and rebuilds; a read's freshness step applies through SQL
while no call is under way and is a call of its own): only the outermost one
sends, so there is one notification per top-level call. NOTIFY is delivered
when the transaction commits, and not at all when it rolls back. When the
notification queue is at least graph.notify_queue_limit full, the call sends
nothing and counts the skip in graph._sync_state.notifications_skipped
(sync_health() shows it): a full queue makes COMMIT fail, and an apply must not.

The payload holds sync ids and counts, never keys or values, and stays under
MAX_PAYLOAD bytes whatever the number of tables (see payload()).
"""

import functools
import json
from collections import Counter

from graphsync import db, settings
from graphsync.sync import changes

CHANNEL = "graphsync"
MAX_PAYLOAD = 4000  # bytes; PostgreSQL's limit is 8000
OPS = {"I": "inserted", "U": "updated", "D": "deleted", "T": "truncated"}

# Number the entries from the next change_position on, in one statement, so the
# position commits and rolls back with the rows (the caller holds the state lock).
RECORD = """
WITH p AS (
    UPDATE graph._sync_state SET change_position = change_position + pg_catalog.cardinality($1::bigint[])
    RETURNING change_position - pg_catalog.cardinality($1::bigint[]) AS first
)
INSERT INTO graph._change_log_rows (sync_id, log_id, table_oid, node_id, op, node, row_count, xid)
SELECT p.first + u.i, u.l, u.t, u.k, u.o, u.n, u.c, (SELECT pg_catalog.pg_current_xact_id()::text::bigint)
FROM p, ROWS FROM (pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($2::oid[]), pg_catalog.unnest($3::text[]),
                   pg_catalog.unnest($4::text[]), pg_catalog.unnest($5::boolean[]), pg_catalog.unnest($6::int[]))
     WITH ORDINALITY AS u (l, t, k, o, n, c, i)
"""

# A rebuild is one change of its own ('B'), after the node changes it makes. When it
# makes more than MAX_REBUILD_CHANGES (or says nothing of them), changed_nodes()
# cannot continue from before it: change_horizon moves to it.
REBUILT = """
WITH p AS (
    UPDATE graph._sync_state SET change_position = change_position + 1,
        change_horizon = CASE WHEN $1 THEN change_position + 1 ELSE change_horizon END
    RETURNING change_position AS s
)
INSERT INTO graph._change_log_rows (sync_id, op, node, row_count, xid)
SELECT p.s, 'B', false, 0, pg_catalog.pg_current_xact_id()::text::bigint FROM p
"""
MAX_REBUILD_CHANGES = 10_000

# The nodes a rebuild changes: alive in the applied graph (graph._nodes) or in the
# sources just read, not both, or with another tenant or other properties -- the
# 'change' column of the rebuild's node plan (pg_temp._gs_node_plan, sync/build.py),
# made by the one join of the sources read with graph._nodes before it changes.
REBUILD_CHANGES = """
SELECT p.table_oid, p.pk, p.change::text AS op
FROM pg_temp._gs_node_plan AS p
WHERE p.change IS NOT NULL
ORDER BY 1, 2
LIMIT $1
"""

START = "SELECT change_position AS p FROM graph._sync_state"

# What this transaction recorded after ``start``: the rows of this call.
SUMMARY = """
SELECT g.table_oid::pg_catalog.regclass::text AS tbl, g.op, g.n, g.first, g.last
FROM (SELECT c.table_oid, c.op::text AS op, sum(c.row_count)::bigint AS n, min(c.sync_id) AS first,
             max(c.sync_id) AS last
      FROM graph._change_log_rows AS c
      WHERE c.sync_id > $1 AND c.xid = pg_catalog.pg_current_xact_id_if_assigned()::text::bigint
      GROUP BY c.table_oid, c.op) AS g
"""

STATE = """
SELECT s.generation,
       v.version + (SELECT coalesce(sum(r.renames), 0)::bigint FROM graph._column_renames AS r) AS version,
       pg_catalog.pg_notification_queue_usage() AS usage
FROM graph._sync_state AS s, graph._graph_version AS v
"""

SEND = "SELECT pg_catalog.pg_notify($1, $2)"

SKIPPED = "UPDATE graph._sync_state SET notifications_skipped = notifications_skipped + 1"


def entries(nodes, rows):
    """What applying log ``rows`` records, as (log_id, table_oid, node_id, op, node,
    row_count) tuples in order. ``nodes``: the registered node tables by oid
    (registry.NodeTable). A row of a node table is a node change where one of
    its images is a node (passes the table's row filter, changes.is_node): an
    insert, an update (an update that moves the key, or moves the row into or out
    of the filter, a delete and/or an insert), a delete; a TRUNCATE is one entry;
    the other rows are counted per (table, operation), after the node changes."""
    out, other = [], Counter()
    tables = {}  # each table oid as the rows give it: (oid, its NodeTable or None, whether it has a row filter)
    for r in rows:
        op = r["op"]
        table, node, filtered = tables.get(r["table_oid"]) or tables.setdefault(
            r["table_oid"], _table(nodes, r["table_oid"]))
        if op == "T":
            out.append((r["id"], table, None, "T", node is not None, 1))
            continue
        if node is None:
            other[(table, op)] += 1
            continue
        if filtered:
            old = op in ("U", "D") and _is_node(node, r, "old_row")
            new = op in ("I", "U") and _is_node(node, r, "new_row")
        else:
            old, new = op in ("U", "D"), op in ("I", "U")
        if old and new and r["old_pk"] == r["new_pk"]:
            out.append((r["id"], table, r["new_pk"], "U", True, 1))
            continue
        if old:
            out.append((r["id"], table, r["old_pk"], "D", True, 1))
        if new:
            out.append((r["id"], table, r["new_pk"], "I", True, 1))
        if not old and not new:
            other[(table, op)] += 1
    out.extend((None, table, None, op, False, n) for (table, op), n in other.items())
    return out


def _table(nodes, raw):
    """(oid, registry.NodeTable or None, whether it has a row filter) of a log row's table_oid."""
    table = int(raw)
    node = nodes.get(table)
    return table, node, node is not None and node.row_filter is not None


def _is_node(node, row, image):
    """Whether the ``image`` ('old_row', 'new_row') of a log row of node table ``node`` is a node."""
    if node.row_filter is None:
        return True
    return changes.is_node(node, json.loads(row[image]) if row[image] else {})


def record(plpy, reg, rows):
    """Record what applying log ``rows`` changed (entries()); in the applying
    (sub)transaction, which holds the lock on graph._sync_state."""
    found = entries(reg.nodes, rows)
    if found:
        db.run(plpy, RECORD, ["bigint[]", "oid[]", "text[]", "text[]", "boolean[]", "int[]"],
               [list(c) for c in zip(*found, strict=True)])


def rebuilt(plpy, reg):
    """Record a rebuild: the nodes it changes, then the rebuild itself (in build's
    transaction, holding the state lock, after the sources were read and compared
    with graph._nodes into pg_temp._gs_node_plan, before graph._nodes changes). More than
    MAX_REBUILD_CHANGES node changes (a first build, a table registered holding
    rows) are not recorded one by one: changed_nodes() cannot continue from
    before such a rebuild, and clients reload."""
    found = db.run(plpy, REBUILD_CHANGES, ["int"], [MAX_REBUILD_CHANGES + 1])
    whole = len(found) > MAX_REBUILD_CHANGES
    if found and not whole:
        entries = [(None, int(r["table_oid"]), r["pk"], r["op"], int(r["table_oid"]) in reg.nodes, 1)
                   for r in found]
        db.run(plpy, RECORD, ["bigint[]", "oid[]", "text[]", "text[]", "boolean[]", "int[]"],
               [list(c) for c in zip(*entries, strict=True)])
    db.run(plpy, REBUILT, ["boolean"], [whole])


def payload(generation, version, summary, limit=MAX_PAYLOAD):
    """The JSON text of a notification, or None when ``summary`` (rows of SUMMARY:
    tbl, op, n, first, last) is empty. Tables are listed by name, each with its
    inserted, updated and deleted rows (and truncated, when it was); a rebuild
    adds "rebuilt": true. Past ``limit`` bytes the remaining tables are summed
    in "other_tables" (how many, and their counts)."""
    if not summary:
        return None
    tables = {}
    for r in summary:
        if r["tbl"] is None:
            continue
        counts = tables.setdefault(r["tbl"], {"inserted": 0, "updated": 0, "deleted": 0})
        name = OPS[r["op"]]
        counts[name] = counts.get(name, 0) + int(r["n"])
    body = {
        "generation": generation,
        "version": version,
        "from_sync_id": min(r["first"] for r in summary),
        "to_sync_id": max(r["last"] for r in summary),
        "tables": {},
    }
    if any(r["op"] == "B" for r in summary):
        body["rebuilt"] = True
    names = sorted(tables)
    for i, name in enumerate(names):
        body["tables"][name] = tables[name]
        if len(json.dumps(body)) > limit - 200:  # room for other_tables
            del body["tables"][name]
            rest = Counter()
            for other in names[i:]:
                rest.update(tables[other])
            body["other_tables"] = dict({"tables": len(names) - i}, **rest)
            break
    return json.dumps(body)


def send(plpy, start, limit):
    """Send this call's notification (what it recorded after position ``start``),
    unless it recorded nothing or the queue is at least ``limit`` full."""
    summary = db.run(plpy, SUMMARY, ["bigint"], [start])
    if not summary:
        return
    st = db.run(plpy, STATE)[0]
    text = payload(st["generation"], st["version"], summary)
    if st["usage"] >= limit:
        db.run(plpy, SKIPPED)
        plpy.warning("graphsync: the notification queue is %.1f%% full (graph.notify_queue_limit = %g);"
                     " NOTIFY %s skipped (sync ids %d to %d): listeners catch up with graph.changed_nodes()"
                     % (100 * st["usage"], limit, CHANNEL, min(r["first"] for r in summary),
                        max(r["last"] for r in summary)))
        return
    db.run(plpy, SEND, ["text", "text"], [CHANNEL, text])


_depth = [0]  # how many top-level calls are under way in this backend (0 or 1, nested ones added)


def top_level(fn):
    """Decorate a call that changes the graph: the outermost one under way sends
    one notification when it returns (see the module docstring); an error sends
    nothing (its transaction, or subtransaction, rolls back)."""
    @functools.wraps(fn)
    def call(plpy, *args, **kwargs):
        if _depth[0]:
            _depth[0] += 1
            try:
                return fn(plpy, *args, **kwargs)
            finally:
                _depth[0] -= 1
        limit = settings.get(plpy, "graph.notify_queue_limit")  # a bad value fails the call before it works
        start = db.run(plpy, START)[0]["p"]
        _depth[0] = 1
        try:
            out = fn(plpy, *args, **kwargs)
        finally:
            _depth[0] = 0
        send(plpy, start, limit)
        return out
    return call
