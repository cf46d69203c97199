-- graph.connected_components(tenant): every node the caller may see (of tenant,
-- when given) with its weakly connected component (edge direction ignored).
-- Components are numbered 0.. in the order of their first node. Applies
-- graph.query_freshness. Reads: graph._csr, graph._edge_overlay, graph._nodes
-- (as the caller). A SQL function over graph._components, which packs the
-- answer in one row (see there); the unnest calls in the select list walk its
-- arrays in step. VOLATILE (a read may apply pending changes), so it is never
-- inlined: it runs graph._components once per call.
CREATE OR REPLACE FUNCTION graph.connected_components(tenant text DEFAULT NULL)
RETURNS TABLE (node_table regclass, node_id text, component bigint)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        pg_catalog.unnest(r.tables::pg_catalog.oid []::pg_catalog.regclass []),
        pg_catalog.unnest(r.pks::pg_catalog.text []),
        pg_catalog.unnest(r.components::pg_catalog.int8 [])
    FROM graph._components(tenant) AS r
$$;

COMMENT ON FUNCTION graph.connected_components(text) IS
'Every visible node with its weakly connected component number.';
