-- graph.dangling_references(max_rows): every reference whose target row does
-- not exist: a foreign-key edge whose referenced key no row of to_table has, a
-- join-table row either of whose ends has no row. One row each, at most
-- max_rows (ordered by edge source and ids):
--   edge_source  the edge source (graph._edge_sources)
--   from_table, from_id, to_table, to_id  the edge's ends, in its registered
--                direction; the missing one is to (or from, for a join table)
-- Computed from a fresh read of the sources in one snapshot (ops/integrity.py),
-- with row-level security refusing (42501), never filtering; records the counts
-- of dangling references and duplicate edges that sync_health() shows. Admin only.
-- PL/pgSQL around graph._dangling_references, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.dangling_references(max_rows integer DEFAULT 1000)
RETURNS TABLE (edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text)
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
    RETURN QUERY SELECT * FROM graph._dangling_references(max_rows);
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

COMMENT ON FUNCTION graph.dangling_references(integer) IS
'References whose target row does not exist (foreign-key values and join-table ends with no row), read from the sources; at most max_rows.';
