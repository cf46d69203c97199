-- graph.remove_edge(from_table, from_column, to_table, via_table): unregister
-- the matching edge source; 42704 when there is none. Its edges leave the
-- graph at the next graph.build(). Touches: graph._edge_sources, triggers.
CREATE OR REPLACE FUNCTION graph.remove_edge(
    from_table regclass,
    from_column text,
    to_table regclass,
    via_table regclass DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    carrier oid;
BEGIN
    PERFORM graph._require_admin();
    DELETE FROM graph._edge_sources AS e
    WHERE e.from_table = remove_edge.from_table AND e.from_column = remove_edge.from_column
      AND e.to_table = remove_edge.to_table
      AND e.via_table IS NOT DISTINCT FROM remove_edge.via_table
    RETURNING coalesce(e.via_table, e.from_table) INTO carrier;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no edge source %.% -> % is registered', from_table,
            quote_ident(from_column), to_table USING ERRCODE = '42704';
    END IF;
    UPDATE graph._sync_state SET build_required = true;
    PERFORM graph._install_capture(carrier);
END;
$$;

COMMENT ON FUNCTION graph.remove_edge(regclass, text, regclass, regclass) IS
'Unregister an edge source (foreign-key column, or join table with via_table).';
