-- graph.reconcile(): the operator's repair endpoint. Repairs schema drift
-- (unregisters dropped tables and columns, re-keys a table whose key changed,
-- enables disabled and re-installs missing capture triggers), applies pending
-- sync, compares the graph with the sources (graph.verify()) and rebuilds when
-- anything differs or a rebuild is due: writes made while triggers were off
-- or with session_replication_role = replica reach the graph. What it cannot
-- repair safely (a dropped tenant column, a key other edge sources reference)
-- it reports as needs_attention. Waits for a maintenance run under way.
-- Admin only. Returns one row per change: action, table, how many, detail.
-- Touches: the registry, capture triggers, everything build touches,
-- graph._maintenance_jobs.
-- PL/pgSQL around graph._reconcile, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.reconcile()
RETURNS TABLE (action text, table_name text, items bigint, detail text)
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
    RETURN QUERY SELECT * FROM graph._reconcile();
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

COMMENT ON FUNCTION graph.reconcile() IS
'Repair schema drift and bring the graph back to equal its sources (rebuild when they differ); one row per change. Admin only.';
