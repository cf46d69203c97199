-- graph._captured_tables(): the tables that carry capture triggers (node
-- tables and join tables), with the name the registry knows them by (kept
-- when the table itself is gone). graph._captured_tables(tbl): the same of
-- table tbl alone (all when NULL), so capture generation for one table does not
-- read the whole registry: the tables are chosen by one statement for all and
-- another for tbl, each with a generic plan kept for the session (one statement
-- for both, planned at each call for its tbl, since a plan kept for every tbl
-- reads every row, cost some 0.1-0.8 ms a call, against 0.04 now:
-- graph._trigger_states calls it at every partition's DDL and at every trigger
-- check), their rows found by index however few the statistics say there are.
CREATE OR REPLACE FUNCTION graph._captured_tables(tbl oid)
RETURNS TABLE (table_oid oid, table_name text, present boolean)
LANGUAGE plpgsql
STABLE
ROWS 10  -- a few captured tables, not 1000: index lookups of the catalog, not hashes of it
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
SET plan_cache_mode = force_generic_plan  -- one plan for each statement, kept (above)
AS $$
#variable_conflict use_column
DECLARE
    tbls oid [];
BEGIN
    IF tbl IS NULL THEN
        tbls := ARRAY(
            SELECT n.table_oid FROM graph._node_tables AS n
            UNION
            SELECT e.via_table FROM graph._edge_sources AS e WHERE e.kind = 'join');
    ELSE
        tbls := ARRAY(
            SELECT n.table_oid FROM graph._node_tables AS n WHERE n.table_oid = tbl
            UNION
            SELECT e.via_table FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = tbl);
    END IF;
    RETURN QUERY
        SELECT
            t.table_oid,
            coalesce(
                (SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c WHERE c.oid = t.table_oid),
                (SELECT n.table_name FROM graph._node_tables AS n WHERE n.table_oid = t.table_oid),
                (SELECT min(r.table_name) FROM graph._registered_columns AS r WHERE r.table_oid = t.table_oid),
                t.table_oid::text
            ),
            EXISTS (SELECT FROM pg_catalog.pg_class AS c
                    WHERE c.oid = t.table_oid AND c.relkind IN ('r', 'p'))
        FROM unnest(tbls) AS t (table_oid);
END;
$$;

CREATE OR REPLACE FUNCTION graph._captured_tables()
RETURNS TABLE (table_oid oid, table_name text, present boolean)
LANGUAGE sql
STABLE
ROWS 10  -- a few captured tables, not 1000: index lookups of the catalog, not hashes of it
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._captured_tables(NULL)
$$;

COMMENT ON FUNCTION graph._captured_tables(oid) IS
'Internal: graph._captured_tables() of one table (all when NULL).';

COMMENT ON FUNCTION graph._captured_tables() IS
'Node tables and join tables (the tables with capture triggers), their names, and whether they still exist.';
