-- graph.run_scheduled_maintenance(): the unattended upkeep pg_cron calls
-- (graph.schedule_maintenance). Applies pending sync; looks for schema drift;
-- every graph.verify_interval (default '1 day', 'off' disables) checks the
-- graph against the sources; rebuilds the base when graph._rebuild_reasons()
-- or the check says so (readers keep answering from the old generation until
-- the rebuild commits); prunes applied log rows older than graph.log_retention
-- (default '1 hour'; never an unapplied or failed row) and job rows older than
-- graph.job_retention (default '7 days'). Never overlaps another run: returns
-- status 'skipped' instead. A failing phase is rolled back alone and the run
-- returns status 'failed' with the error, recorded in its job row; the graph
-- keeps serving. Admin only. Returns one row: what it did and why.
-- Touches: everything apply_sync and build touch, graph._sync_log (pruning),
-- graph._maintenance_jobs.
-- PL/pgSQL around graph._run_scheduled_maintenance, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.run_scheduled_maintenance()
RETURNS graph.maintenance_run
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    RETURN graph._run_scheduled_maintenance();
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.run_scheduled_maintenance() IS
'Unattended upkeep (for pg_cron): apply pending sync, rebuild the base when due, prune applied log rows; one row saying what it did and why, also kept in graph._maintenance_jobs. Admin only.';
