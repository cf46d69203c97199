"""Maintenance jobs: the lock that keeps runs from overlapping, the job row each
run records in graph._maintenance_jobs, and the phase it shows live.

Used by run_scheduled_maintenance()/vacuum() (ops/maintenance.py) and
reconcile() (ops/reconcile.py).
"""

import json

# One maintenance run per database: a row of graph._locks (migration 421), which
# only graph_admin may lock; an advisory lock, which any role may take, let a
# role with no right on the graph make every scheduled run 'skipped'.
LOCK = "SELECT 1 FROM graph._locks AS l WHERE l.name = 'maintenance' FOR UPDATE"


def lock(plpy, wait):
    """Take the maintenance lock for this transaction; False if busy and not wait."""
    return bool(plpy.execute(LOCK if wait else LOCK + " SKIP LOCKED"))


def job_start(plpy, kind, status="running"):
    return plpy.execute(plpy.prepare(
        "INSERT INTO graph._maintenance_jobs (kind, status) VALUES ($1, $2) RETURNING job_id",
        ["text", "text"]), [kind, status])[0]["job_id"]


def job_finish(plpy, job_id, result):
    plpy.execute(plpy.prepare(
        """UPDATE graph._maintenance_jobs SET finished_at = clock_timestamp(), status = $2,
               rows_applied = $3, failed_rows = $4, rebuilt = $5, generation = $6,
               rows_pruned = $7, differences = $8, reason = $9, error = $10, check_failures = $11::jsonb
           WHERE job_id = $1""",
        ["bigint", "text", "bigint", "bigint", "boolean", "bigint", "bigint", "bigint", "text",
         "text", "text"]),
        [job_id, result["status"], result["rows_applied"], result["failed_rows"],
         result["rebuilt"], result["generation"], result["rows_pruned"], result["differences"],
         result["reason"], result["error"],
         json.dumps(result["check_failures"]) if result.get("check_failures") else None])


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


def describe_check_failures(unread, reveal=True):
    """One line naming the tables a source check could not read ([{table, sqlstate,
    message, row_filter, rebuilt}], a job row's check_failures), each with its error's
    SQLSTATE, and its message when ``reveal`` (it may quote a row's values: for admins
    only); for a table whose row filter raised on a row, that filter (when ``reveal``)
    and what a rebuild made of the row (``rebuilt``: the run's rebuild went on past it).
    graph._health words it the same way."""
    return ", ".join("%s (SQLSTATE %s%s)%s" % (u["table"], u["sqlstate"], ": " + u["message"] if reveal else "",
                                              filter_raised(u, reveal))
                     for u in unread)


def filter_raised(u, reveal=True):
    """What describe_check_failures adds for failure ``u`` whose row filter raised."""
    if not u.get("row_filter"):
        return ""
    return ", whose row filter %sraised on a row%s" % (
        u["row_filter"] + " " if reveal else "",
        " (the run's rebuild went on, the row taken as failing the filter)" if u.get("rebuilt")
        else " (a rebuild takes the row as failing the filter)")
