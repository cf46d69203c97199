-- graph.build(): read every registered source table and write a fresh base
-- graph (dense node ids, CSR per direction) under a new generation; rows that
-- existed before registration enter the graph here. Clears the overlay, the
-- tombstones and read-only state; moves the replay cursor to the snapshot the
-- read saw. Admin only. Returns what it built.
-- Touches: graph._nodes, graph._csr, graph._edge_overlay, graph._edge_cuts,
-- graph._labels, graph._sync_state.
-- PL/pgSQL around graph._build, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.build(
    OUT generation bigint,
    OUT node_count bigint,
    OUT edge_count bigint,
    OUT seconds double precision
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
    INTO generation, node_count, edge_count, seconds
    FROM graph._build() AS r;
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

COMMENT ON FUNCTION graph.build() IS
'Rebuild the base graph from the source tables (backfill, fold overlay and tombstones, clear read-only). Admin only.';
