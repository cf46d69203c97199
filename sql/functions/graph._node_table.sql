-- graph._node_table(tbl, role): the registry row of node table tbl; raise 55000
-- naming role when tbl is not registered, 22004 when it is NULL.
CREATE OR REPLACE FUNCTION graph._node_table(tbl regclass, role text)
RETURNS graph._node_tables
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r graph._node_tables;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', role USING ERRCODE = '22004';
    END IF;
    SELECT * INTO r FROM graph._node_tables AS n WHERE n.table_oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% % is not a registered node table', role, tbl USING ERRCODE = '55000',
            HINT = 'Call graph.add_table first.';
    END IF;
    RETURN r;
END;
$$;
