-- graph.vacuum(): a maintenance run that always rebuilds the base: folds
-- tombstones, the edge overlay, TRUNCATE markers, new nodes and registration
-- changes into a fresh generation (progress NOTICEs as it goes). Waits for a
-- run under way instead of skipping. Fails (status 'failed', recorded) when
-- schema drift blocks a rebuild: run graph.reconcile() then. Admin only.
-- Returns the same row as graph.run_scheduled_maintenance().
-- PL/pgSQL around graph._vacuum, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.vacuum()
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
    RETURN graph._vacuum();
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

COMMENT ON FUNCTION graph.vacuum() IS
'Maintenance run that always rebuilds the base (fold tombstones, overlay, truncations). Admin only.';
