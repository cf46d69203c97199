-- graph.retry_failed(): apply again the log rows that failed (those with an
-- error_message), once their cause is fixed. Rows passed over under
-- sync_error_policy 'skip' go through the same gather/flush code as
-- apply_sync, with node state read from the source row as it is now (later
-- rows may have been applied); rows waiting under 'stop' are retried by the
-- apply_sync() this function ends with. A row that succeeds loses its
-- error_message; one that fails again gets the new one. Admin only.
-- Returns what it did: retried (failed rows it applied again), succeeded (of
-- those, rows whose error is gone), still_failed (rows with an error when it
-- ends), applied_after (rows the closing apply_sync() applied), rebuilt (a
-- failed TRUNCATE was folded by a rebuild), stopped (why replay stopped),
-- failed_ids (ids of the rows that still fail, at most 100) and a summary.
-- Touches: what apply_sync touches, graph._sync_log.error_message.
-- PL/pgSQL around graph._retry_failed, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.retry_failed(
    OUT retried bigint,
    OUT succeeded bigint,
    OUT still_failed bigint,
    OUT applied_after bigint,
    OUT rebuilt boolean,
    OUT stopped text,
    OUT failed_ids bigint[],
    OUT summary text
)
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
    SELECT r.*
    INTO retried, succeeded, still_failed, applied_after, rebuilt, stopped, failed_ids, summary
    FROM graph._retry_failed() AS r;
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

COMMENT ON FUNCTION graph.retry_failed() IS
'Apply again the log rows that failed (skipped or waiting), after their cause is fixed; clears their error on success; reports retried, succeeded, still failed (with ids) and a summary. Admin only.';
