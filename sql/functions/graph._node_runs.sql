-- graph._node_runs(below): which table each node id below `below` belongs to,
-- as runs of consecutive ids (build numbers the nodes table by table, so a
-- base has about one run per table). Structural only: no key, tenant or
-- property. SECURITY DEFINER so reads can mask the nodes of tables the caller
-- may not SELECT without reading them; reads call it through
-- graph._run_as_definer, as graph_sync: not PUBLIC's (a table's node count).
-- Reads: graph._node_rows.
CREATE OR REPLACE FUNCTION graph._node_runs(below bigint)
RETURNS TABLE (table_oid oid, first_id bigint, last_id bigint)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.table_oid, min(r.node_id), max(r.node_id)
    FROM (
        SELECT
            n.node_id,
            n.table_oid,
            n.node_id - row_number() OVER (PARTITION BY n.table_oid ORDER BY n.node_id) AS run
        FROM graph._node_rows AS n
        WHERE n.node_id < below
    ) AS r
    GROUP BY r.table_oid, r.run
$$;

COMMENT ON FUNCTION graph._node_runs(bigint) IS
'Internal (reads): runs of consecutive node ids below a bound and the table they belong to.';
