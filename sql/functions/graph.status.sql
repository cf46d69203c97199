-- graph.status(): one row on the graph itself: generation, alive nodes and
-- node ids (alive, dead and referenced-only), tombstones, base and overlay
-- edges, labels, registered tables and edge sources, bytes of the base, the
-- delta and the log, log rows, the memory this backend's cache of the base
-- holds, last build, apply and maintenance rebuild. SECURITY DEFINER so any
-- role can read sizes without reading the graph tables.
-- Reads: graph._sync_state, graph._node_rows, graph._csr, graph._edge_overlay,
-- graph._labels, the registry, graph._sync_log, graph._maintenance_jobs.
-- PL/pgSQL around graph._status, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.status(
    OUT generation bigint,
    OUT node_count bigint,
    OUT node_ids bigint,
    OUT tombstones bigint,
    OUT base_edges bigint,
    OUT overlay_edges bigint,
    OUT labels bigint,
    OUT node_tables bigint,
    OUT edge_sources bigint,
    OUT base_bytes bigint,
    OUT delta_bytes bigint,
    OUT log_bytes bigint,
    OUT log_rows bigint,
    OUT cache_bytes bigint,
    OUT last_build_at timestamptz,
    OUT last_apply_at timestamptz,
    OUT last_rebuild_by_maintenance_at timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    SELECT r.*
    INTO generation, node_count, node_ids, tombstones, base_edges, overlay_edges, labels,
         node_tables, edge_sources, base_bytes, delta_bytes, log_bytes, log_rows, cache_bytes,
         last_build_at, last_apply_at, last_rebuild_by_maintenance_at
    FROM graph._status() AS r;
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

COMMENT ON FUNCTION graph.status() IS
'One row on the graph: generation, node and edge counts, tombstones, bytes of base, delta and log, this backend''s cache memory, last build.';
