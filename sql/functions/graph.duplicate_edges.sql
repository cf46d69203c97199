-- graph.duplicate_edges(max_rows): endpoints linked more than once by the same
-- edge source with the same label (e.g. two join-table rows for one pair, from
-- racing inserts). One row per such group, most copies first, at most max_rows:
--   edge_source  the edge source (graph._edge_sources)
--   from_table, from_id, to_table, to_id  the ends, in the registered direction
--   label        the edges' label
--   copies       how many edges link them
-- Computed from a fresh read of the sources in one snapshot (ops/integrity.py);
-- records the counts sync_health() shows. Admin only.
-- PL/pgSQL around graph._duplicate_edges, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.duplicate_edges(max_rows integer DEFAULT 1000)
RETURNS TABLE (
    edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text, label text,
    copies bigint
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
    RETURN QUERY SELECT * FROM graph._duplicate_edges(max_rows);
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

COMMENT ON FUNCTION graph.duplicate_edges(integer) IS
'Endpoints linked more than once by one edge source with one label, read from the sources; at most max_rows.';
