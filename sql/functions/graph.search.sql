-- graph.search(...): nodes whose registered property column property_key
-- matches value, found by SQL on the source tables as the caller (privileges,
-- row-level security and indexes apply). mode 'exact' | 'prefix' |
-- 'contains'; case_sensitive; table_filter: only these node tables; tenant
-- (default: graph.tenant): only rows of that tenant in tables with a tenant
-- column; at most max_rows rows. node is the row's key and registered columns.
-- Reads: the source tables.
-- PL/pgSQL around graph._search, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.search(
    property_key text,
    value text,
    table_filter regclass[] DEFAULT NULL,
    mode text DEFAULT 'exact',
    case_sensitive boolean DEFAULT TRUE,
    max_rows integer DEFAULT 100,
    tenant text DEFAULT NULL
)
RETURNS TABLE (node_table regclass, node_id text, matched text, node jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    RETURN QUERY SELECT * FROM graph._search(property_key, value, table_filter, mode, case_sensitive, max_rows, tenant);
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

COMMENT ON FUNCTION graph.search(text, text, regclass[], text, boolean, integer, text) IS
'Find nodes by a registered property (exact, prefix or contains; case sensitive or not) through SQL on the source tables.';
