-- graph._carried_expr(tbl, alias): the SQL expression (jsonb) of what a
-- captured row image of table tbl holds under the key "" (no column can have
-- an empty name), besides its columns; NULL when there is nothing to hold:
--   "n": true|false         tbl is a node table with a row filter: whether
--                           the row passes it (is a node)
--   "<edge_source_id>":     for each edge source the rows of tbl carry whose
--                           endpoints are computed (several columns, JSON) or
--                           that has a row filter:
--       false               the row fails the filter: it carries no edge
--       true                it passes; both endpoints are plain columns
--       {"f": [keys], "t": [keys]}  it passes; the keys of the from_table ("f",
--                           join tables) and of the to_table ("t") nodes the row
--                           references (graph._end_expr), for the computed ends
-- failed: the same with {"error": message, "row": alias} in place of each row
-- filter's result, for a capture whose filter raised (graph._write_capture):
-- replay records that error on the row.
-- So an UPDATE is logged exactly when what the graph takes from the row
-- changes: a reference, or the row moving in or out of a filter. sync/changes.py
-- reads it. Volatile: graph._filter_expr checks each filter again. Reads: the registry.
CREATE OR REPLACE FUNCTION graph._carried_expr(tbl oid, alias text, failed boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    entries text [] := '{}';
    e graph._edge_sources;
    ends text [];
    body text;
    node_filter text := (SELECT n.row_filter FROM graph._node_tables AS n WHERE n.table_oid = tbl);
    -- The failed capture's marker: the error (SQLERRM of the capture function's
    -- handler) and which row image it stands in (so old and new always differ
    -- and the row is logged).
    fail text := format('pg_catalog.jsonb_build_object(''error'', SQLERRM, ''row'', %L)', alias);
BEGIN
    IF node_filter IS NOT NULL THEN
        entries := entries || CASE WHEN failed THEN format('''n'', %s', fail)
                                   ELSE format('''n'', pg_catalog.to_jsonb(%s)', graph._filter_expr(tbl, node_filter, alias, false)) END;
    END IF;
    FOR e IN
        SELECT * FROM graph._edge_sources AS s
        WHERE coalesce(s.via_table, s.from_table) = tbl
          AND (s.from_columns IS NOT NULL OR s.to_columns IS NOT NULL OR s.row_filter IS NOT NULL)
        ORDER BY s.edge_source_id
    LOOP
        ends := '{}';
        IF e.from_columns IS NOT NULL THEN
            ends := ends || format('%L, pg_catalog.to_jsonb(%s)', CASE e.kind WHEN 'fk' THEN 't' ELSE 'f' END,
                                   graph._end_expr(tbl, e.from_columns,
                                                   CASE e.kind WHEN 'fk' THEN e.to_table ELSE e.from_table END,
                                                   e.json_path, alias));
        END IF;
        IF e.to_columns IS NOT NULL THEN
            ends := ends || format('''t'', pg_catalog.to_jsonb(%s)',
                                   graph._end_expr(tbl, e.to_columns, e.to_table, NULL, alias));
        END IF;
        body := CASE WHEN cardinality(ends) = 0 THEN '''true''::pg_catalog.jsonb'
                     ELSE format('pg_catalog.jsonb_build_object(%s)', array_to_string(ends, ', ')) END;
        IF e.row_filter IS NOT NULL AND failed THEN
            body := fail;
        ELSIF e.row_filter IS NOT NULL THEN
            body := format('CASE WHEN %s THEN %s ELSE ''false''::pg_catalog.jsonb END',
                           graph._filter_expr(tbl, e.row_filter, alias, false), body);
        END IF;
        entries := entries || format('%L, %s', e.edge_source_id::text, body);
    END LOOP;
    IF cardinality(entries) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN format('pg_catalog.jsonb_build_object('''', pg_catalog.jsonb_build_object(%s))',
                  array_to_string(entries, ', '));
END;
$$;

COMMENT ON FUNCTION graph._carried_expr(oid, text, boolean) IS
'Internal: the SQL expression of what a captured row holds besides its columns: computed edge endpoints and row filter results.';
