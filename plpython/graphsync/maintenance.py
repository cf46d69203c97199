"""graph.run_scheduled_maintenance() and graph.vacuum().

One run: apply pending sync; look for schema drift; check the graph against
the sources when graph.verify_interval has passed; rebuild the base when
graph._rebuild_reasons() (or the check, or vacuum) says so and drift does not
block it; apply again what committed during the rebuild; prune applied log
rows older than graph.log_retention and job rows older than
graph.job_retention. Each phase runs in its own subtransaction: a failing
phase rolls back alone, the run records its error in its job row and returns
normally, so the row persists and the graph keeps serving what it had.

Runs never overlap: a scheduled run that finds another under way returns
'skipped' (pg_try_advisory_xact_lock); vacuum and reconcile wait for it.
"""

import time

from graphsync import apply, build, settings

LOCK = (7_420_151, 4)  # advisory lock (int4 pair): one maintenance run per database
CONTENT_DIFFERENCES = ("missing_node", "extra_node", "stale_property", "missing_edge",
                       "extra_edge", "dangling_edge")
BLOCKING_DRIFT = ("table_dropped", "column_dropped", "key_changed")


def lock(plpy, wait):
    """Take the maintenance lock for this transaction; False if busy and not wait."""
    if wait:
        plpy.execute("SELECT pg_advisory_xact_lock(%d, %d)" % LOCK)
        return True
    return plpy.execute("SELECT pg_try_advisory_xact_lock(%d, %d) AS ok" % LOCK)[0]["ok"]


def job_start(plpy, kind, status="running"):
    return plpy.execute(plpy.prepare(
        "INSERT INTO graph._maintenance_jobs (kind, status) VALUES ($1, $2) RETURNING job_id",
        ["text", "text"]), [kind, status])[0]["job_id"]


def job_finish(plpy, job_id, result):
    plpy.execute(plpy.prepare(
        """UPDATE graph._maintenance_jobs SET finished_at = clock_timestamp(), status = $2,
               rows_applied = $3, failed_rows = $4, rebuilt = $5, generation = $6,
               rows_pruned = $7, differences = $8, reason = $9, error = $10
           WHERE job_id = $1""",
        ["bigint", "text", "bigint", "bigint", "boolean", "bigint", "bigint", "bigint", "text",
         "text"]),
        [job_id, result["status"], result["rows_applied"], result["failed_rows"],
         result["rebuilt"], result["generation"], result["rows_pruned"], result["differences"],
         result["reason"], result["error"]])


def phase(plpy, job_id, name):
    """Record the phase in the job row, and show it live in pg_stat_activity."""
    plpy.execute(plpy.prepare(
        "SELECT set_config('application_name', $1, true)", ["text"]),
        ["graphsync maintenance: " + name])
    plpy.execute(plpy.prepare(
        "UPDATE graph._maintenance_jobs SET phase = $2 WHERE job_id = $1", ["bigint", "text"]),
        [job_id, name])


def new_result(job_id, status="running"):
    return {"job_id": job_id, "status": status, "rows_applied": 0, "failed_rows": 0,
            "rebuilt": False, "generation": None, "rows_pruned": 0, "differences": None,
            "reason": None, "error": None, "seconds": 0.0}


def error_text(exc):
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def apply_pending(plpy, result, notes):
    with plpy.subtransaction():
        r = apply.apply_sync(plpy, None)
    applied = r["inserts"] + r["updates"] + r["deletes"] + r["truncates"]
    result["rows_applied"] += applied
    result["failed_rows"] += r["failed"]
    if applied:
        notes.append("applied %d log rows" % applied)
    if r["failed"]:
        notes.append("%d log rows failed" % r["failed"])
    if r["stopped"]:
        notes.append("apply stopped: %s" % r["stopped"])
    return r


def drift(plpy):
    return [dict(r) for r in plpy.execute(
        "SELECT kind, table_name, column_name, detail, repair FROM graph._schema_drift()"
        " ORDER BY table_name, kind")]


def describe_drift(rows):
    return ", ".join("%s %s%s" % (d["kind"], d["table_name"],
                                  "." + d["column_name"] if d["column_name"] else "")
                     for d in rows)


def verify_due(plpy, interval):
    """True when no source check ran within ``interval`` ('off' never)."""
    if interval.strip().lower() in ("off", "none", "false"):
        return False
    return plpy.execute(plpy.prepare(
        """SELECT NOT EXISTS (SELECT FROM graph._maintenance_jobs
                              WHERE differences IS NOT NULL
                                AND started_at > now() - $1::interval) AS due""",
        ["text"]), [interval])[0]["due"]


def count_differences(plpy):
    """Differences between the applied graph and the sources: (total, summary text)."""
    rows = plpy.execute(plpy.prepare(
        "SELECT difference, count(*) AS n FROM graph.verify() WHERE difference = ANY ($1)"
        " GROUP BY difference ORDER BY difference", ["text[]"]), [list(CONTENT_DIFFERENCES)])
    total = sum(r["n"] for r in rows)
    return total, ", ".join("%d %s" % (r["n"], r["difference"]) for r in rows)


def prune(plpy):
    """Prune applied log rows (graph.prune_sync_log: never an unapplied one) and
    job rows older than graph.job_retention."""
    pruned = plpy.execute("SELECT graph.prune_sync_log() AS n")[0]["n"]
    plpy.execute(plpy.prepare(
        "DELETE FROM graph._maintenance_jobs WHERE started_at < now() - $1::interval",
        ["text"]), [settings.raw(plpy, "graph.job_retention")])
    return pruned


def maintain(plpy, job_id, result, force, notes):
    phase(plpy, job_id, "apply")
    applied = apply_pending(plpy, result, notes)

    phase(plpy, job_id, "check")
    drifted = drift(plpy)
    blocking = [d for d in drifted if d["kind"] in BLOCKING_DRIFT]
    reasons = list(plpy.execute("SELECT graph._rebuild_reasons() AS r")[0]["r"])
    if force:
        reasons.insert(0, "forced by graph.vacuum()")
    pending = plpy.execute("SELECT count(*) AS n FROM graph._pending_log()")[0]["n"]
    if not blocking and not pending and not applied["stopped"] and verify_due(
            plpy, settings.raw(plpy, "graph.verify_interval")):
        phase(plpy, job_id, "verify")
        total, summary = count_differences(plpy)
        result["differences"] = total
        notes.append("source check: %s" % (summary or "no differences"))
        if total:
            reasons.append("the sources differ from the graph (%s)" % summary)
    other = [d for d in drifted if d["repair"] == "reconcile" and d not in blocking]
    if other:
        notes.append("drift for graph.reconcile(): %s" % describe_drift(other))

    if force and blocking:
        raise RuntimeError("cannot rebuild while the schema has drifted (%s); run graph.reconcile()"
                           % describe_drift(blocking))
    if reasons and blocking:
        notes.append("rebuild needed (%s) but blocked by schema drift (%s); run graph.reconcile()"
                     % ("; ".join(reasons), describe_drift(blocking)))
    elif reasons:
        phase(plpy, job_id, "rebuild")
        plpy.notice("graphsync maintenance: rebuilding the base: %s" % "; ".join(reasons))
        with plpy.subtransaction():
            generation, nodes, edges, seconds = build.build(plpy)
        result["rebuilt"], result["generation"] = True, generation
        notes.append("rebuilt generation %d (%d nodes, %d edges, %.1f s) because: %s"
                     % (generation, nodes, edges, seconds, "; ".join(reasons)))
        phase(plpy, job_id, "apply")
        apply_pending(plpy, result, notes)
    elif not blocking:
        notes.append("no rebuild needed")
    else:
        notes.append("schema drift (%s); run graph.reconcile()" % describe_drift(blocking))

    phase(plpy, job_id, "prune")
    with plpy.subtransaction():
        result["rows_pruned"] = prune(plpy)
    if result["rows_pruned"]:
        notes.append("pruned %d applied log rows" % result["rows_pruned"])


def run(plpy, kind="scheduled", force=False):
    """One maintenance run; returns its result row (dict)."""
    started = time.monotonic()
    plpy.execute("SELECT graph._require_admin()")
    if not lock(plpy, wait=kind != "scheduled"):
        job_id = job_start(plpy, kind, "skipped")
        result = new_result(job_id, "skipped")
        result["reason"] = "another maintenance run is under way"
        job_finish(plpy, job_id, result)
        return result
    job_id = job_start(plpy, kind)
    result = new_result(job_id)
    notes = []
    try:
        maintain(plpy, job_id, result, force, notes)
        result["status"] = "succeeded"
    except Exception as exc:  # recorded in the job row; the phase's work rolled back
        result["status"], result["error"] = "failed", error_text(exc)
        plpy.warning("graphsync maintenance failed: %s" % result["error"])
    result["reason"] = "; ".join(notes) or "nothing to do"
    result["seconds"] = time.monotonic() - started
    job_finish(plpy, job_id, result)
    return result
