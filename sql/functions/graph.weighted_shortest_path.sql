-- graph.weighted_shortest_path(...): a cheapest path from (src_table, src_id)
-- to (dst_table, dst_id) by summed edge weight (Dijkstra), in direction
-- 'out' | 'in' | 'any', over edges with labels in edge_types, through nodes the
-- caller may see. Weights: the edge source's weight column; a NULL weight
-- counts as 1; an edge the search could use weighing less than 0, NaN or
-- +-Infinity raises 22023 with invalid_weights 'error' (the default), and with
-- 'skip' is left out of this call's graph (no row when only such edges lead to
-- dst); any other invalid_weights is 22023;
-- a cheapest path whose cost passes double precision raises 22003;
-- parallel edges count with the cheapest. Works while edge changes sit in the
-- overlay or are still pending. One row per node: edge_weight of the edge that
-- reaches it, cost so far, total_cost of the whole path. No row when
-- unreachable. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer), graph._nodes (as the caller).
-- PL/pgSQL around graph._weighted_shortest_path, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.weighted_shortest_path(
    src_table regclass,
    src_id text,
    dst_table regclass,
    dst_id text,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    tenant text DEFAULT NULL,
    invalid_weights text DEFAULT 'error'
)
RETURNS TABLE (
    step integer,
    node_table regclass,
    node_id text,
    edge_label text,
    edge_weight double precision,
    cost double precision,
    total_cost double precision
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
    RETURN QUERY SELECT * FROM graph._weighted_shortest_path(src_table, src_id, dst_table, dst_id, direction, edge_types, tenant,
                                                          invalid_weights);
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

COMMENT ON FUNCTION graph.weighted_shortest_path(regclass, text, regclass, text, text, text[], text, text) IS
'Cheapest path by edge weight (NULL weight = 1; an edge in reach weighing < 0, NaN or +-Infinity: error 22023, or left out with invalid_weights => ''skip''); one row per node with edge_weight, cost, total_cost.';
