-- graph.unschedule_maintenance(): remove this database's pg_cron job that
-- runs graph.run_scheduled_maintenance(). Returns false when there was none;
-- 55000 with a hint when pg_cron is not installed here. Admin only.
-- Touches: cron.job, graph._maintenance_schedule.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.unschedule_maintenance()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed boolean := false;
    id bigint;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    PERFORM graph._cron_check();
    FOR id IN EXECUTE 'SELECT j.jobid FROM cron.job AS j WHERE j.jobname = $1'
                      ' AND j.database = pg_catalog.current_database()' USING 'graphsync_maintenance'
    LOOP
        PERFORM cron.unschedule(id);
        DELETE FROM graph._maintenance_schedule AS m WHERE m.jobid = id;
        removed := true;
    END LOOP;
    RETURN removed;
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

COMMENT ON FUNCTION graph.unschedule_maintenance() IS
'Remove the pg_cron job that runs graph.run_scheduled_maintenance() in this database; false when there was none. Admin only.';
