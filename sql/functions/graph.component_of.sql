-- graph.component_of(tbl, id, tenant): the nodes of the weakly connected
-- component that holds node (tbl, id), that node included; no row when the
-- node does not exist or the caller may not see it. Applies
-- graph.query_freshness. Reads: graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer), graph._nodes
-- (as the caller). RETURN QUERY over graph._component_of, which packs the
-- answer in one row; the unnest calls in the select list walk its arrays in
-- step. PL/pgSQL, so that an error reaches the caller with its SQLSTATE,
-- message, detail and hint only (no PL/Python traceback in CONTEXT).
CREATE OR REPLACE FUNCTION graph.component_of(tbl regclass, id text, tenant text DEFAULT NULL)
RETURNS TABLE (node_table regclass, node_id text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    RETURN QUERY
        SELECT
            pg_catalog.unnest(r.tables::pg_catalog.oid []::pg_catalog.regclass []),
            pg_catalog.unnest(r.ids::pg_catalog.text [])
        FROM graph._component_of(tbl, id, tenant) AS r;
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

COMMENT ON FUNCTION graph.component_of(regclass, text, text) IS
'The nodes of the weakly connected component holding the given node.';
