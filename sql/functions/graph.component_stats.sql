-- graph.component_stats(tenant): one row per weakly connected component of the
-- nodes the caller may see: its number (as graph.connected_components numbers
-- it) and its size, largest first. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer), graph._nodes.
-- PL/pgSQL around graph._component_stats, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.component_stats(tenant text DEFAULT NULL)
RETURNS TABLE (component bigint, size bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    RETURN QUERY SELECT * FROM graph._component_stats(tenant);
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

COMMENT ON FUNCTION graph.component_stats(text) IS
'Weakly connected components of the visible graph and their sizes, largest first.';
