-- graph.component_of(tbl, id, tenant): the nodes of the weakly connected
-- component that holds node (tbl, id), that node included; no row when the
-- node does not exist or the caller may not see it. Applies
-- graph.query_freshness. Reads: graph._csr, graph._edge_overlay, graph._nodes
-- (as the caller). A SQL function over graph._component_of, which packs the
-- answer in one row; the unnest calls in the select list walk its arrays in
-- step. VOLATILE (a read may apply pending changes), so it is never inlined.
CREATE OR REPLACE FUNCTION graph.component_of(tbl regclass, id text, tenant text DEFAULT NULL)
RETURNS TABLE (node_table regclass, node_id text)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        pg_catalog.unnest(r.tables::pg_catalog.oid []::pg_catalog.regclass []),
        pg_catalog.unnest(r.ids::pg_catalog.text [])
    FROM graph._component_of(tbl, id, tenant) AS r
$$;

COMMENT ON FUNCTION graph.component_of(regclass, text, text) IS
'The nodes of the weakly connected component holding the given node.';
