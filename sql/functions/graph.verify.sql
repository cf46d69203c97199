-- graph.verify(): compare the applied graph with a fresh read of the source
-- tables. One row per difference: missing_node, extra_node, stale_property,
-- missing_edge, extra_edge, dangling_edge, phantom_edge, unfit_key (a source
-- row's key too long for graph._nodes' index: no build adds it, nor the edges
-- that end there, which are not compared; not counted as a difference by
-- maintenance or reconcile), and schema drift. No
-- rows when the graph equals the sources (run graph.apply_sync() first:
-- unapplied log rows are differences). The check is per table: a table whose
-- read raises (a row filter that raises on one of its rows, a row-level security
-- policy that applies to the caller) is not compared and gets one check_failed
-- row (table_name the table, id NULL, detail {sqlstate, message, hint,
-- edge_sources}, and row_filter and key when a row filter raised on a row the
-- caller may read: the hint says what helps); every other table is compared
-- (plpython graphsync/ops/verify.py).
-- Reads: the sources, graph._node_rows, graph._csr, graph._edge_overlay.
-- PL/pgSQL around graph._verify, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.verify()
RETURNS TABLE (difference text, table_name text, id text, detail jsonb)
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
    RETURN QUERY SELECT * FROM graph._verify();
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

COMMENT ON FUNCTION graph.verify() IS
'List every difference between the applied graph and a fresh read of the source tables (check_failed: a table whose read raised, not compared); empty when in sync.';
