-- graph.add_schema(schema, preview, exclude): register every table of a schema
-- with a primary or usable unique key as a node table and every foreign key as
-- an edge (labelled by its column names); a table whose key is two foreign keys
-- becomes a join-table edge (and a node table too when it has other columns or
-- is referenced). What cannot be registered is skipped with the reason (system
-- catalogs and temporary tables too, which graph.add_table refuses). With
-- preview, returns the plan and changes nothing: what a run would register, no
-- more; a NULL preview is refused (22004). Idempotent: what is registered
-- already is reported as such. One row per registration:
--   kind         'node_table', 'fk_edge' or 'join_edge'
--   table_name   the node table, or the table whose rows carry the edge
--   edge         what the edge links: 'col -> target', 'a -> t1, b -> t2'
--   edge_source  the new edge source's id
--   label        the edges' label
--   action       'registered', 'would register' (preview), 'skipped', 'already registered'
--   reason       why it was skipped
-- Admin only. Calls graph.add_table and graph.add_edge (sync/schema.py).
-- PL/pgSQL around graph._add_schema, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.add_schema(
    schema regnamespace,
    preview boolean DEFAULT false,
    exclude regclass[] DEFAULT '{}'
)
RETURNS TABLE (
    kind text, table_name regclass, edge text, edge_source integer, label text, action text, reason text
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
    RETURN QUERY SELECT * FROM graph._add_schema(schema, preview, exclude);
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

COMMENT ON FUNCTION graph.add_schema(regnamespace, boolean, regclass[]) IS
'Register every keyed table of a schema as a node table and every foreign key as an edge (join tables as join-table edges); skips with a reason what it cannot register; preview => true changes nothing.';
