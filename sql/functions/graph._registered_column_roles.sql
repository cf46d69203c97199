-- graph._registered_column_roles(): every column the registry names, with the
-- roles it plays: key, property, filter, tenant (node tables); via_key,
-- edge_end, weight, label (the table that carries an edge source's rows);
-- row_filter (read by the row filter of a node table or an edge source).
-- Drift detection and graph._after_build() read it; capture generation reads
-- graph._registered_column_roles(tbl), those of table tbl alone (all when NULL):
-- planned for each call's tbl (a plan kept for every tbl reads every row, and
-- drift's calls for all made the kept plan such a one), a node table's rows found
-- by index however few the statistics say there are (registering a schema asks
-- once per table). An edge source's rows are read whole: none is indexed by table.
CREATE OR REPLACE FUNCTION graph._registered_column_roles(tbl oid)
RETURNS TABLE (table_oid oid, column_name text, roles text[])
LANGUAGE plpgsql
STABLE
ROWS 50  -- a few registered columns, not 1000: index lookups of the catalog, not hashes of it
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
SET plan_cache_mode = force_custom_plan  -- planned for tbl: a plan kept for every tbl (NULL: all) reads all
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT c.table_oid, c.column_name, array_agg(DISTINCT c.role ORDER BY c.role)
        FROM (
            SELECT n.table_oid, k.c AS column_name, 'key' AS role
            FROM graph._node_tables AS n CROSS JOIN LATERAL unnest(n.id_columns) AS k (c)
            UNION ALL
            SELECT n.table_oid, p.c, 'property'
            FROM graph._node_tables AS n CROSS JOIN LATERAL unnest(n.columns) AS p (c)
            UNION ALL
            SELECT n.table_oid, f.c, 'filter'
            FROM graph._node_tables AS n CROSS JOIN LATERAL unnest(n.filter_columns) AS f (c)
            UNION ALL
            SELECT n.table_oid, n.tenant_column, 'tenant'
            FROM graph._node_tables AS n WHERE n.tenant_column IS NOT NULL
            UNION ALL
            SELECT e.via_table, k.c, 'via_key'
            FROM graph._edge_sources AS e CROSS JOIN LATERAL unnest(e.via_id_columns) AS k (c)
            WHERE e.kind = 'join'
            UNION ALL
            SELECT coalesce(e.via_table, e.from_table), x.c, x.role
            FROM graph._edge_sources AS e
            CROSS JOIN LATERAL (VALUES (e.from_column, 'edge_end'), (e.to_column, 'edge_end'),
                                       (e.weight_column, 'weight'), (e.label_column, 'label')
            ) AS x (c, role)
            WHERE x.c IS NOT NULL AND (x.role <> 'edge_end' OR e.kind = 'join' OR x.c = e.from_column)
            UNION ALL
            SELECT coalesce(e.via_table, e.from_table), x.c, 'edge_end'
            FROM graph._edge_sources AS e
            CROSS JOIN LATERAL unnest(coalesce(e.from_columns, '{}') || coalesce(e.to_columns, '{}')) AS x (c)
            UNION ALL
            SELECT coalesce(e.via_table, e.from_table), x.c, 'row_filter'
            FROM graph._edge_sources AS e CROSS JOIN LATERAL unnest(e.row_filter_columns) AS x (c)
            UNION ALL
            SELECT n.table_oid, x.c, 'row_filter'
            FROM graph._node_tables AS n CROSS JOIN LATERAL unnest(n.row_filter_columns) AS x (c)
        ) AS c
        WHERE tbl IS NULL OR c.table_oid = tbl
        GROUP BY c.table_oid, c.column_name;
END;
$$;

CREATE OR REPLACE FUNCTION graph._registered_column_roles()
RETURNS TABLE (table_oid oid, column_name text, roles text[])
LANGUAGE sql
STABLE
ROWS 50  -- a few registered columns, not 1000: index lookups of the catalog, not hashes of it
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._registered_column_roles(NULL)
$$;

COMMENT ON FUNCTION graph._registered_column_roles(oid) IS
'Internal: graph._registered_column_roles() of one table (all when NULL).';

COMMENT ON FUNCTION graph._registered_column_roles() IS
'Every registered column of every captured table, with its roles (key, property, filter, tenant, via_key, edge_end, weight, label, row_filter).';
