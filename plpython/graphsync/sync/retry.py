"""graph.retry_failed(): apply again the log rows that failed.

A row that failed under sync_error_policy 'stop' is still pending: the next
apply_sync() tries it first, and this function ends with one. A row that
failed under 'skip' was passed over: the cursor is beyond it. Retrying it
later than the rows after it must give the graph the same result as applying
it in order, so each skipped row goes through the same gather/flush code as
apply_sync, with two corrections:

- node state is taken from the source row as it is now, not from the log
  image (a later row of the same node may already have been applied; the
  current row is what every ordering ends in), read unfiltered by row-level
  security like build's read (sources.unfiltered);
- its edge changes are dropped when a later TRUNCATE of its table cut them.

Edge changes are +1/-1 counts in the overlay, so they commute. A rebuild
folds every failed row it read (graph._after_build clears them), so a
skipped row never meets a base that already holds it. A failed TRUNCATE row
is retried by a rebuild.

It reports what it did: retried (failed rows it applied again: the skipped
ones, the waiting one replay reached, all of them when a rebuild folded
them), succeeded (of those, rows whose error is gone), still_failed (rows with
an error when it ends), failed_ids (their ids, at most MAX_IDS), applied_after
(rows the closing apply_sync() applied), rebuilt, stopped, and a one-line
summary.
"""

from graphsync import db, errors, settings
from graphsync.sync import apply, build, changes, notify, sources

SKIPPED = """
SELECT l.id, l.op, l.table_oid, l.old_pk, l.new_pk, l.properties::text AS properties,
       l.old_row::text AS old_row, l.new_row::text AS new_row, l.error_message,
       (SELECT coalesce(sum(r.renames), 0)::bigint FROM graph._column_renames AS r) AS renames
FROM graph._sync_log AS l
WHERE %s
  AND NOT EXISTS (SELECT FROM graph._pending_log() AS p WHERE p.id = l.id)
ORDER BY l.id
""" % apply.FAILED_ROW

# Whether a failed TRUNCATE marker is among the failed rows (SKIPPED's, pending or
# not): the retry then rebuilds.
FAILED_TRUNCATE = """
SELECT EXISTS (SELECT FROM graph._sync_log AS l WHERE l.op = 'T' AND %s) AS t
""" % apply.FAILED_ROW

# Every failed row, and whether it still waits in front of replay (policy 'stop').
FAILED = """
SELECT l.id, p.id IS NOT NULL AS waiting
FROM graph._sync_log AS l LEFT JOIN graph._pending_log() AS p ON p.id = l.id
WHERE %s
ORDER BY l.id
""" % apply.FAILED_ROW
# After the retry: how many of the retried rows lost their error, and the rows
# that still have one (the first MAX_IDS ids, the count, the latest error).
REPORT = apply.FAILED_CTE + """
SELECT (SELECT count(*) FROM graph._sync_log WHERE id = ANY ($1) AND error_message IS NULL) AS succeeded,
       (SELECT count(*) FROM failed) AS still_failed,
       ARRAY(SELECT id FROM failed ORDER BY id LIMIT $2) AS ids,
       (SELECT format('log row %s: %s', id, error_message) FROM failed ORDER BY id DESC LIMIT 1) AS latest
"""
MAX_IDS = 100  # failed_ids names at most this many rows


def _current_nodes(plpy, reg, table_oid, pks):
    """{pk: changes.NodeChange} setting each node of ``pks`` to its source rows now
    (how many hold the key, the state of one)."""
    node = reg.nodes[table_oid]
    tenant = (sources._captured(plpy, table_oid, node.tenant_column, "t")
              if node.tenant_column else "NULL::text")
    key = sources._key(plpy, table_oid, node.id_columns, "t")
    sql = "SELECT %s AS pk, %s AS tenant, (%s)::text AS props FROM %s AS t WHERE %s = ANY ($1) AND %s" % (
        key, tenant, sources._object(plpy, table_oid, node.property_columns, "t"),
        sources._table(plpy, table_oid), key, sources._filter(plpy, table_oid, node.row_filter, "t"))
    with sources.unfiltered(plpy, [table_oid], "graph.retry_failed()"):
        found = {pk: changes.NodeChange.exactly(0) for pk in pks}
        for r in plpy.execute(plpy.prepare(sql, ["text[]"]), [list(pks)]):
            found[r["pk"]] = changes.NodeChange.exactly(found[r["pk"]].floor + 1, (r["tenant"], r["props"]))
    return found


# The last TRUNCATE applied of each of some tables ($1) after the first failed row
# ($2): a failed row's edge changes are dropped when one of its table's came later
# (see above). Only a marker no build has folded can be such a TRUNCATE: a build
# that folded one read every row committed before it, and cleared the error of
# each failed row among them (graph._after_build), so a row still failed after it
# committed after the TRUNCATE, and its changes stand. Unfolded markers
# (needs_vacuum) have their ids in graph._sync_log_attention: reached by those ids,
# not by reading every log row after the failed one (every row the log keeps,
# graph.log_retention of applied rows, when that row is old).
TRUNCATED = """
SELECT l.table_oid, max(l.id) AS id FROM graph._sync_log AS l
WHERE l.id > $2 AND l.op = 'T' AND l.needs_vacuum AND l.error_message IS NULL AND l.table_oid = ANY ($1)
  AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a WHERE a.id > $2))
GROUP BY l.table_oid
"""


def _changes(plpy, reg, rows, truncated):
    """The graph changes of failed ``rows`` (in log order) applied again: their edge
    changes, but those of a row whose table a later TRUNCATE cut (``truncated``: the
    last TRUNCATE's id by table), and every node they name set to its source rows now."""
    gathered = changes.Changes()
    for row in rows:
        edges = len(gathered.edges)
        changes.add_row(reg, row, gathered)
        if row["id"] < truncated.get(int(row["table_oid"]), 0):
            del gathered.edges[edges:]
    by_table = {}
    for table_oid, pk in gathered.nodes:
        by_table.setdefault(table_oid, []).append(pk)
    for table_oid, pks in by_table.items():
        for pk, value in _current_nodes(plpy, reg, table_oid, pks).items():
            gathered.nodes[(table_oid, pk)] = value
    return gathered


@errors.entry_point
@notify.top_level
def retry_failed(plpy):
    db.require_admin(plpy)
    # A retry that will rebuild (a failed TRUNCATE) locks its sources (bounded) before
    # graph._sync_state's row, the order build() takes them in: its build took them
    # after the row, and an admin's build() holding them and waiting for the row
    # deadlocked with it (tests/test_lock_order_race.py).
    if plpy.execute(FAILED_TRUNCATE)[0]["t"]:
        sources.lock_sources(plpy, "graph.retry_failed()")
    plpy.execute("SELECT FROM graph._sync_state FOR UPDATE")
    out = {"retried": 0, "succeeded": 0, "still_failed": 0, "applied_after": 0, "rebuilt": False,
           "stopped": None}
    failed_before = plpy.execute(FAILED)
    waiting = [r["id"] for r in failed_before if r["waiting"]]
    rows = plpy.execute(SKIPPED)
    attempted = set()
    if any(r["op"] == "T" for r in rows):
        build.build(plpy, "graph.retry_failed()'s rebuild")  # folds every failed row it reads, TRUNCATEs included
        out["rebuilt"] = True
        attempted = {r["id"] for r in failed_before}
        rows = []
    # The rows and the registry under the same column names (apply.Replayer.fetch):
    # a rename's follower does not hold this call up, and may commit meanwhile.
    replayer = apply.Replayer(plpy, None, settings.get(plpy, "graph.edge_buffer_size"))
    if rows:
        rows = replayer.fetch(lambda: plpy.execute(SKIPPED))
    reg = replayer.reg
    tables = sorted({int(r["table_oid"]) for r in rows})
    # The current source rows are read unfiltered (see _current_nodes): refuse now,
    # for the whole call, a caller that row-level security applies to, rather than
    # record that refusal as each row's error.
    plpy.execute(plpy.prepare("SELECT graph._check_row_security($1, 'graph.retry_failed()')",
                              ["oid[]"]),
                 [[t for t in tables if t in reg.nodes]])
    truncated = {int(r["table_oid"]): r["id"] for r in db.run(
        plpy, TRUNCATED, ["oid[]", "bigint"], [tables, rows[0]["id"]])} if rows else {}

    def apply_part(part):
        replayer.flush(_changes(plpy, reg, part, truncated))
        notify.record(plpy, reg, part)

    # Applied by parts as replay applies a failing batch (apply.by_halves), the errors
    # cleared and recorded in one statement: row by row, each row wrote
    # graph._sync_state's one row (the overlay count, the change position, the error)
    # and a retry of 3,000 rows took minutes.
    done, applied, failures, stop = apply.by_halves(rows, apply.attempt(plpy, replayer, apply_part))
    attempted.update(r["id"] for r in rows[:done + (stop is not None)])
    out["stopped"] = stop
    apply.record_errors(plpy, [r["id"] for r in applied] + [r["id"] for r, _ in failures],
                        [None] * len(applied) + [message for _, message in failures])
    for row, message in failures:
        plpy.warning("graphsync: log row %d failed again: %s" % (row["id"], message))
    if out["stopped"] is None:
        # Rows that failed under 'stop' are still pending: apply_sync retries them in order.
        r = apply.apply_sync(plpy, None, caller="graph.retry_failed()")
        out["applied_after"] = r["inserts"] + r["updates"] + r["deletes"] + r["truncates"]
        out["stopped"] = r["stopped"]
        if waiting:
            still_waiting = [p["id"] for p in plpy.execute(plpy.prepare(
                "SELECT p.id FROM graph._pending_log() AS p WHERE p.id = ANY ($1) ORDER BY p.id",
                ["bigint[]"]), [waiting])]
            attempted.update(set(waiting) - set(still_waiting))
            if still_waiting and r["stopped"] == "failed_row":
                attempted.add(still_waiting[0])  # where replay stopped again
    return _report(plpy, out, attempted)


def _report(plpy, out, attempted):
    """Fill in what was retried, what succeeded, and what still fails (ids and a summary)."""
    r = plpy.execute(plpy.prepare(REPORT, ["bigint[]", "integer"]), [sorted(attempted), MAX_IDS])[0]
    out["retried"] = len(attempted)
    out["succeeded"] = r["succeeded"]
    out["still_failed"] = r["still_failed"]
    out["failed_ids"] = list(r["ids"])
    summary = "retried %d log rows: %d succeeded, %d still fail" % (
        out["retried"], out["succeeded"], out["still_failed"])
    if r["still_failed"]:
        summary += " (ids %s%s; latest: %s)" % (
            ", ".join(str(i) for i in out["failed_ids"]), ", ..." if r["still_failed"] > MAX_IDS else "",
            r["latest"])
    if out["applied_after"]:
        summary += "; then applied %d pending log rows" % out["applied_after"]
    if out["stopped"]:
        summary += "; stopped: %s" % out["stopped"]
    out["summary"] = summary
    return out
