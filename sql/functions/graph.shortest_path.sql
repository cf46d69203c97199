-- graph.shortest_path(...): a path with the fewest edges from (src_table,
-- src_id) to (dst_table, dst_id), using at most max_depth edges, in direction
-- 'out' | 'in' | 'any', over edges with labels in edge_types (all when NULL),
-- through nodes the caller may see (and of tenant, when given). One row per
-- node, step 0 being the source; edge_label is the label of the edge that
-- reaches the node. No row when there is no such path. Among equally short
-- paths, any one may be returned. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer), graph._nodes (as the caller).
-- PL/pgSQL around graph._shortest_path, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.shortest_path(
    src_table regclass,
    src_id text,
    dst_table regclass,
    dst_id text,
    max_depth integer DEFAULT 32,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    tenant text DEFAULT NULL
)
RETURNS TABLE (step integer, node_table regclass, node_id text, edge_label text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    RETURN QUERY SELECT * FROM graph._shortest_path(src_table, src_id, dst_table, dst_id, max_depth, direction, edge_types, tenant);
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

COMMENT ON FUNCTION graph.shortest_path(regclass, text, regclass, text, integer, text, text[], text) IS
'Fewest-edges path between two nodes (one row per node, no row when unreachable within max_depth).';
