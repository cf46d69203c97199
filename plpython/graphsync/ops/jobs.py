"""Maintenance jobs: the lock that keeps runs from overlapping, the job row each
run records in graph._maintenance_jobs, and the phase it shows live.

Used by run_scheduled_maintenance()/vacuum() (ops/maintenance.py) and
reconcile() (ops/reconcile.py).
"""

LOCK = (7_420_151, 4)  # advisory lock (int4 pair): one maintenance run per database


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
