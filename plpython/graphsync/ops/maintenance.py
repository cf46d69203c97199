"""graph.run_scheduled_maintenance() and graph.vacuum().

One run: apply pending sync; look for schema drift; check the graph against
the sources when graph.verify_interval has passed (and count dangling references
and duplicate edges for sync_health(), ops/integrity.py); rebuild the base when
graph._rebuild_reasons() (or the check, or vacuum) says so and drift does not
block it; apply again what committed during the rebuild; prune applied log
rows older than graph.log_retention and job rows older than
graph.job_retention; remove the shared base files of older generations.
Each phase runs in its own subtransaction: a failing phase rolls back alone,
the run records its error in its job row and returns normally with status
'failed', so the row persists and the graph keeps serving what it had (the later
phases are not run, but a failed rebuild, or the apply after it, still lets the
run prune and remove old files first: a table owner's lock fails every rebuild
while it is held). A run
that raised nothing but leaves work undone (failed log rows, drift for
reconcile, a rebuild drift blocked, a pg_cron job that does not run:
left_undone) returns status 'partial' with what, never 'succeeded'; so does a
run whose source check could not read some table ('check_failed', as
graph.verify() reports it: the check is per table, every other table is checked and acted on),
which records those tables in its job row (check_failures, migration 436) and
does not try a rebuild that would read them -- but when each failed only on a row
its row filter raised a data exception on, which a rebuild takes as failing the
filter (verify.read_past): that rebuild goes on, and the run says so.

A run that will read the sources (its check will run, or a rebuild is due) locks
them before its apply phase takes graph._sync_state's row (lock_first): sources,
then the row, the order graph.build(), verify() and reconcile() take them in; a
check that drift or rows held back will skip locks nothing. Its messages name the
call made (graph.run_scheduled_maintenance()'s or graph.vacuum()'s source check or
rebuild, its apply's rebuild of a backlog), never graph.build() nor graph.verify()
(the check runs verify's work itself, verify.differences, named for the run).

A run that loses a deadlock (40P01) all the same ends 'skipped', saying so: nothing
is lost, the next run does it.

Runs never overlap: a scheduled run that finds another under way returns
'skipped' (jobs.lock: the row 'maintenance' of graph._locks, SKIP LOCKED);
vacuum and reconcile wait for it.

A run reads every 'shared' setting (settings.py); it reads them all before it
starts, so a bad value is an error (22023) of the call, not a failed phase.
"""

import json
import time

from graphsync import db, errors, settings
from graphsync.ops import drift, integrity, jobs, verify
from graphsync.sync import apply, base, build, changes, notify, sources


def apply_pending(plpy, result, notes, call):
    """Apply pending sync (``call``: the run's, which an apply's rebuild names)."""
    with plpy.subtransaction():
        r = apply.apply_sync(plpy, None, caller=call)
    applied = r["inserts"] + r["updates"] + r["deletes"] + r["truncates"]
    result["rows_applied"] += applied
    result["failed_rows"] += r["failed"]
    if applied:
        notes.append("applied %d log rows" % applied)
    if r["failed"]:
        notes.append("%d log rows failed" % r["failed"])
    if r["stopped"]:
        notes.append("apply stopped: %s" % r["stopped"])
    if r["rebuilt"]:
        result["rebuilt"] = True
        result["generation"] = plpy.execute("SELECT generation FROM graph._sync_state")[0]["generation"]
        notes.append("the apply rebuilt generation %d because: %s" % (result["generation"], r["rebuilt"]))
    return r


# The latest run that checked the sources, or whose check failed (its verify phase
# raised), newest first through the index of such runs (migration 428), as health
# finds the latest that checked: a test of any run within the interval was planned,
# without statistics, as a scan of every run kept (graph.job_retention: some 10,000
# at a job a minute) at every run (tests/test_operation_costs.py). A check that
# could not read some tables (check_failures, migration 436) checked the others:
# it counts as a check, and names them.
LAST_CHECK = """
SELECT j.job_id, j.differences IS NULL AS failed, j.error, j.check_failures::text AS check_failures,
       j.started_at <= pg_catalog.now() - $1::pg_catalog.interval AS old
FROM graph._maintenance_jobs AS j
WHERE j.differences IS NOT NULL OR (j.status = 'failed' AND j.phase = 'verify')
ORDER BY j.job_id DESC LIMIT 1
"""


def last_check(plpy, interval):
    """The latest source check (LAST_CHECK's row: failed, the tables it could not
    read, and old -- before ``interval``), or None; None too with ``interval`` 'off'
    (no check is due)."""
    if interval == "off":
        return None
    r = plpy.execute(plpy.prepare(LAST_CHECK, ["text"]), [interval])
    if not r:
        return {"job_id": None, "failed": False, "error": None, "unread": [], "old": True}
    check = dict(r[0])
    check["unread"] = json.loads(check.pop("check_failures") or "[]")
    return check


def verify_due(check):
    """Whether a source check is due: none ran (or failed) within the interval."""
    return check is not None and check["old"]


def count_differences(plpy, why):
    """Differences between the applied graph and the sources (verify.differences;
    ``why``: the run's source check, which what its read raises names):
    (total, summary text -- the count of each kind --, the tables the check could
    not read: [{table, sqlstate, message}])."""
    found, unread = verify.differences(plpy, why)
    kinds = {}
    for d in found:  # (by difference)
        kinds[d["difference"]] = kinds.get(d["difference"], 0) + d["n"]
    return sum(kinds.values()), ", ".join("%d %s" % (n, kind) for kind, n in kinds.items()), unread


def prune(plpy, job_retention):
    """Prune applied log rows (graph.prune_sync_log: never an unapplied one) and
    job rows older than ``job_retention``."""
    pruned = plpy.execute("SELECT graph.prune_sync_log() AS n")[0]["n"]
    plpy.execute(plpy.prepare(
        "DELETE FROM graph._maintenance_jobs WHERE started_at < now() - $1::interval",
        ["text"]), [job_retention])
    return pruned


def remove_files(plpy, below, notes):
    """Remove the shared base files no backend needs any more (sync/base.py); a
    file system error is a note, not a failed run (the files are only a cache)."""
    try:
        removed, files, size = base.remove_old_files(plpy, below)
    except OSError as exc:
        notes.append("shared base files not cleaned up: %s" % (exc.strerror or exc))
        return
    if removed:
        notes.append("removed %d old shared base files; %d files, %.1f MiB kept"
                     % (len(removed), files, size / 2 ** 20))


# Whether the apply will leave log rows pending, as this run begins: a failed row
# under graph.sync_error_policy 'stop' (each apply tries it again and stops there) or
# a graph read-only for another reason than a full edge buffer (the apply stops; for
# that one it rebuilds).
HELD_BACK = apply.FAILED_CTE + """
SELECT ($1 = 'stop' AND EXISTS (SELECT FROM failed))
       OR (SELECT s.read_only AND s.read_only_reason IS DISTINCT FROM 'edge_buffer_full'
           FROM graph._sync_state AS s) AS held
"""


def lock_first(plpy, config, force, call):
    """Lock the sources before the apply phase takes graph._sync_state's row when
    this run will read them: its source check will run, or a rebuild is due (forced,
    or graph._rebuild_reasons()). Sources, then the state row: the order graph.build(),
    verify() and reconcile() take them in. Taken after the row (the check, the
    rebuild), an admin's build() or verify() that locked the sources and waited for
    the row deadlocked with the run: 40P01 failed one of them
    (tests/test_lock_order_race.py).
    Whether the check will run is decided here, before any lock: not when schema
    drift blocks it (and the rebuild), nor when the apply will leave rows pending
    (HELD_BACK). A run that locked for its check and then skipped it held every
    source under SHARE UPDATE EXCLUSIVE to its end, reading none: an owner's VACUUM,
    CREATE INDEX or ALTER TABLE waited for nothing (tests/test_maintenance_locks.py).
    Rows still pending after an apply this did not foresee (committed meanwhile, a
    row failing for the first time) still skip the check with the locks taken.
    A table not locked in time (sources.NotLocked) is not this phase's failure:
    returned, it fails the check or the rebuild (renamed so), as it did when they
    locked it, after the apply (a writer holding one table locked stops no replay).
    (whether the check will run, the failure or None)."""
    due = verify_due(last_check(plpy, config["graph.verify_interval"]))
    rebuild_due = force or bool(plpy.execute("SELECT graph._rebuild_reasons() AS r")[0]["r"])
    if not (due or rebuild_due):
        return False, None  # (drift not read: a quiet run reads it once, after its apply)
    if any(d["kind"] in drift.BLOCKING for d in drift.rows(plpy)):
        return False, None  # neither a check nor a rebuild runs (a forced one fails)
    check = due and not db.run(plpy, HELD_BACK, ["text"], [config["graph.sync_error_policy"]])[0]["held"]
    if not (check or rebuild_due):
        return False, None
    try:
        sources.lock_sources(plpy, "%s's %s" % (call, "source check" if check else "rebuild"))
    except sources.NotLocked as exc:
        return check, exc
    return check, None


def maintain(plpy, job_id, result, force, notes, config, call):
    # The generation committed before this run: files of older ones are unused.
    committed = plpy.execute("SELECT generation FROM graph._sync_state")[0]["generation"]
    jobs.phase(plpy, job_id, "apply")
    will_check, not_locked = lock_first(plpy, config, force, call)
    applied = apply_pending(plpy, result, notes, call)

    jobs.phase(plpy, job_id, "check")
    drifted = drift.rows(plpy)
    blocking = [d for d in drifted if d["kind"] in drift.BLOCKING]
    reasons = list(plpy.execute("SELECT graph._rebuild_reasons() AS r")[0]["r"])
    if force:
        reasons.insert(0, "forced by graph.vacuum()")
    pending = plpy.execute("SELECT count(*) AS n FROM graph._pending_log()")[0]["n"]
    check = last_check(plpy, config["graph.verify_interval"])
    if not blocking and not pending and not applied["stopped"] and verify_due(check) and not will_check:
        # (lock_first foresaw rows pending: it locked nothing for the check)
        notes.append("source check due but not run: when the run began, its apply was to leave log rows pending"
                     " (a failed row, a read-only graph); the next run checks")
    elif not blocking and not pending and not applied["stopped"] and verify_due(check):
        check = None  # (this run's check: what it finds is this run's result)
        jobs.phase(plpy, job_id, "verify")
        if not_locked is not None:
            raise not_locked
        sources.lock_sources(plpy, "%s's source check" % call)  # (none left, but what lock_first did not know of)
        total, summary, unread = count_differences(plpy, "%s's source check" % call)
        result["differences"] = total
        notes.append("source check: %s" % (summary or "no differences"))
        if unread:
            # the other tables were checked; these are named until a check reads them
            result["check_failures"] = unread
            check = {"job_id": job_id, "failed": False, "error": None, "unread": unread, "old": False}
            notes.append("source check could not read %s" % jobs.describe_check_failures(unread, reveal=False))
        dangling, duplicates = integrity.check(plpy)  # the counts sync_health() shows
        if dangling or duplicates:
            notes.append("integrity: %d dangling references, %d duplicate edges" % (dangling, duplicates))
        if total:
            reasons.append("the sources differ from the graph (%s)" % summary)
    other = [d for d in drifted if d["repair"] == "reconcile" and d not in blocking]
    if other:
        notes.append("drift for graph.reconcile(): %s" % drift.describe(other))

    if force and blocking:
        raise errors.ObjectNotInPrerequisiteState(
            "cannot rebuild while the schema has drifted (%s); run graph.reconcile()" % drift.describe(blocking))
    # A rebuild reads every table: one this run's check just failed to read fails
    # it the same way (later runs try again: the table may be fixed by then), unless
    # what failed the check was only rows a row filter raised on, which the rebuild
    # takes as failing the filter (read_past): skipping it left the differences the
    # check found in the graph until a reconcile, as long as such a row stayed.
    unreadable = check["unread"] if check is not None and check["job_id"] == job_id else []
    failed = None  # (the error, the phase) of a failed rebuild
    if reasons and blocking:
        notes.append("rebuild needed (%s) but blocked by schema drift (%s); run graph.reconcile()"
                     % ("; ".join(reasons), drift.describe(blocking)))
    elif reasons and unreadable and not force and not verify.read_past(unreadable):
        notes.append("rebuild needed (%s) but not tried: it reads %s, which the source check could not read"
                     % ("; ".join(reasons), ", ".join(u["table"] for u in unreadable)))
    elif reasons:
        # A failing rebuild (or apply after it) fails the run in its phase, after the
        # prune: a table's owner holding its table locked fails every rebuild while
        # one is due (sources.lock_sources), and the prune it skipped let the log grow with
        # every other table's writes for as long (tests/test_abuse_failed_check.py).
        try:
            applied = rebuild(plpy, job_id, result, reasons, unreadable, notes, call, not_locked)
        except Exception as exc:
            if errors.is_cancel(exc):
                raise
            failed = (exc, plpy.execute(plpy.prepare("SELECT phase FROM graph._maintenance_jobs WHERE job_id = $1",
                                                     ["bigint"]), [job_id])[0]["phase"])
    elif not blocking:
        notes.append("no rebuild needed")
    else:
        notes.append("schema drift (%s); run graph.reconcile()" % drift.describe(blocking))

    jobs.phase(plpy, job_id, "prune")
    with plpy.subtransaction():
        result["rows_pruned"] = prune(plpy, config["graph.job_retention"])
    if result["rows_pruned"]:
        notes.append("pruned %d applied log rows" % result["rows_pruned"])
    remove_files(plpy, committed, notes)
    if failed is not None:
        jobs.phase(plpy, job_id, failed[1])  # (where the run failed: health names it)
        raise failed[0]
    return left_undone(plpy, drifted, [] if result["rebuilt"] else reasons, applied["stopped"], check)


def rebuild(plpy, job_id, result, reasons, unreadable, notes, call, not_locked=None):
    """The rebuild phase (for ``reasons``), and the apply of what committed during it
    (its apply_pending result). ``unreadable``: the tables this run's source check
    could not read, which the rebuild reads past (verify.read_past). ``call``: the
    run's (graph.run_scheduled_maintenance(), graph.vacuum()), whose rebuild every
    message names (build named graph.build(), which nobody called).
    ``not_locked``: lock_first's failure to lock a table, which fails the rebuild
    (not waited for twice), said as the rebuild's: it said 'source check' when the
    lock was taken for a check that then did not run."""
    why = "%s's rebuild" % call
    jobs.phase(plpy, job_id, "rebuild")
    plpy.notice("graphsync maintenance: rebuilding the base: %s" % "; ".join(reasons))
    if not_locked is not None:
        raise not_locked.renamed(why)
    sources.lock_sources(plpy, why)
    with plpy.subtransaction():
        generation, nodes, edges, seconds = build.build(plpy, why)
    result["rebuilt"], result["generation"] = True, generation
    notes.append("rebuilt generation %d (%d nodes, %d edges, %.1f s) because: %s"
                 % (generation, nodes, edges, seconds, "; ".join(reasons)))
    past = [u for u in unreadable if u.get("row_filter")]
    for u in past:  # (recorded in the job row's check_failures: health says it too)
        u["rebuilt"] = True
    for u in past:
        notes.append("the rebuild read %s, which the source check could not read: its row filter %s raised"
                     " on a row (SQLSTATE %s), taken as failing the filter (no node, no edge of that row)"
                     % (u["table"], u["row_filter"], u["sqlstate"]))
    jobs.phase(plpy, job_id, "apply")
    return apply_pending(plpy, result, notes, call)


FAILED_ROWS = apply.FAILED_CTE + """
SELECT count(*) AS n, max(id) AS last,
       (SELECT error_message FROM failed ORDER BY id DESC LIMIT 1) AS error,
       (SELECT l.table_name FROM failed AS f JOIN graph._sync_log AS l ON l.id = f.id
        WHERE pg_catalog.starts_with(f.error_message, $1) ORDER BY f.id DESC LIMIT 1) AS filter_raised_in,
       (SELECT l.table_name FROM failed AS f JOIN graph._sync_log AS l ON l.id = f.id
        WHERE pg_catalog.starts_with(f.error_message, $2) ORDER BY f.id DESC LIMIT 1) AS unfit_in
FROM failed
"""
# The keys the last build left out, too long for graph._nodes' index (migration 465).
UNFIT_KEYS = """
SELECT string_agg(pg_catalog.format('%s key%s of %s', k.value, CASE WHEN k.value::bigint = 1 THEN '' ELSE 's' END,
                                    k.key::pg_catalog.oid::pg_catalog.regclass), ', '
                  ORDER BY k.key::pg_catalog.oid::pg_catalog.regclass::text) AS keys
FROM graph._sync_state AS s CROSS JOIN LATERAL pg_catalog.jsonb_each_text(s.unfit_keys) AS k
"""
CRON_NOT_RUNNING = ("failing", "late", "never_ran", "inactive")


def left_undone(plpy, drifted, rebuild_reasons, stopped, check=None):
    """What a run that raised nothing still leaves undone, one line each; the
    run is 'partial' then, never 'succeeded': log rows that fail to apply,
    replay stopped by a full edge buffer, drift only graph.reconcile() repairs
    (a disabled or missing capture trigger, a dropped column writes fail on), a
    due rebuild that drift blocked, keys the last build left out as too long to
    index, a pg_cron job that does not actually run,
    and a source check that failed (``check``: the latest, when this run ran
    none), which runs again only after graph.verify_interval."""
    undone = []
    if check is not None and check["failed"]:
        undone.append("the source check of maintenance run %d failed (%s); it runs again after"
                      " graph.verify_interval" % (check["job_id"], check["error"]))
    elif check is not None and check["unread"]:
        undone.append("the source check of maintenance run %d could not read %s: %s not checked against the"
                      " graph (every other table was); fix the cause, the check runs again after"
                      " graph.verify_interval" % (check["job_id"], jobs.describe_check_failures(check["unread"]),
                                                  "it is" if len(check["unread"]) == 1 else "they are"))
    failed = plpy.execute(plpy.prepare(FAILED_ROWS, ["text", "text"]),
                          [changes.CAPTURED_FILTER_ERROR, changes.UNFIT_KEY_ERROR])[0]
    if failed["n"] and failed["filter_raised_in"] is not None:
        # No retry applies such a row (its error is in the logged row): a build reads
        # the rows again and clears every failed row (graph._health says the same).
        undone.append("%d log rows failed to apply (latest: log row %d: %s); fix the row of %s that its row"
                      " filter raised on (or the filter), then run graph.build(): no retry applies a log row"
                      " whose filter raised when it was captured" % (
                          failed["n"], failed["last"], failed["error"], failed["filter_raised_in"]))
    elif failed["n"] and failed["unfit_in"] is not None:
        undone.append("%d log rows failed to apply (latest: log row %d: %s); a log row of %s names a key too"
                      " long to index in graph._nodes, which no retry applies: shorten the key (or remove the"
                      " row), then run graph.build()" % (failed["n"], failed["last"], failed["error"],
                                                         failed["unfit_in"]))
    elif failed["n"]:
        undone.append("%d log rows failed to apply (latest: log row %d: %s); fix the cause, then run"
                      " graph.retry_failed()" % (failed["n"], failed["last"], failed["error"]))
    unfit = plpy.execute(UNFIT_KEYS)[0]["keys"]
    if unfit is not None:
        undone.append("the last build left out %s: a key too long to index in graph._nodes cannot be a node (nor"
                      " the edges that end there), and no rebuild adds it; shorten those keys (or remove the"
                      " rows), then run graph.build()" % unfit)
    if stopped == "edge_buffer_full":
        undone.append("replay stopped: the edge buffer is full")
    repair = [d for d in drifted if d["repair"] == "reconcile"]
    if repair:
        undone.append("schema drift needs graph.reconcile(): %s" % drift.describe(repair))
    if rebuild_reasons:
        undone.append("rebuild due but not done (%s)" % "; ".join(rebuild_reasons))
    cron = plpy.execute("SELECT state, action FROM graph._cron_job_state()")[0]
    if cron["state"] in CRON_NOT_RUNNING:
        undone.append("scheduled maintenance does not run: %s" % cron["action"])
    return undone


# The call a run of each kind is (its messages name it).
CALLS = {"scheduled": "graph.run_scheduled_maintenance()", "vacuum": "graph.vacuum()"}


@errors.entry_point
@notify.top_level
def run_job(plpy, kind="scheduled", force=False):
    """One maintenance run; returns its result row (dict)."""
    started = time.monotonic()
    db.require_admin(plpy)
    config = {s.name: settings.get(plpy, s.name) for s in settings.SETTINGS.values() if s.scope == "shared"}
    if not jobs.lock(plpy, wait=kind != "scheduled"):
        job_id = jobs.job_start(plpy, kind, "skipped")
        result = jobs.new_result(job_id, "skipped")
        result["reason"] = "another maintenance run is under way"
        jobs.job_finish(plpy, job_id, result)
        return result
    job_id = jobs.job_start(plpy, kind)
    result = jobs.new_result(job_id)
    notes = []
    try:
        undone = maintain(plpy, job_id, result, force, notes, config, CALLS.get(kind, "maintenance"))
        result["status"] = "partial" if undone else "succeeded"
        if undone:
            result["error"] = "; ".join(undone)
            plpy.warning("graphsync maintenance left work undone: %s" % result["error"])
    except Exception as exc:  # recorded in the job row; the phase's work rolled back
        if errors.is_cancel(exc):  # cancel means stop: the whole run rolls back
            raise
        if getattr(exc, "sqlstate", None) == errors.DEADLOCK_DETECTED:
            # A lost lock race (lock_first: an apply that decided under
            # graph._sync_state's row to rebuild, and waits for the sources this run
            # locked; PostgreSQL failed this side): nothing is lost, pending rows stay
            # pending, and the next run does what this one did not. Not an alarm.
            result["status"] = "skipped"
            notes.append("lost a lock race with another session (%s); the next run does what this one did not"
                         % errors.first_line(exc))
        else:
            result["status"], result["error"] = "failed", errors.first_line(exc)
            plpy.warning("graphsync maintenance failed: %s" % result["error"])
    result["reason"] = "; ".join(notes) or "nothing to do"
    result["seconds"] = time.monotonic() - started
    jobs.job_finish(plpy, job_id, result)
    return result
