-- graph.remove_filter_column(tbl, column_name): the inverse of
-- graph.add_filter_column: traversals can no longer filter the nodes of tbl
-- on column_name (42703 when it is not a filter column of tbl, 55000 when tbl
-- is not registered). Through graph.alter_table. Touches: graph._node_tables,
-- the capture function of tbl.
CREATE OR REPLACE FUNCTION graph.remove_filter_column(tbl regclass, column_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph.alter_table(tbl, remove_filter_columns => ARRAY[column_name]);
END;
$$;

COMMENT ON FUNCTION graph.remove_filter_column(regclass, text) IS
'Stop keeping a filter column with each node of a table (the inverse of graph.add_filter_column).';
