-- graph.connected_components(tenant): every node the caller may see (of tenant,
-- when given) with its weakly connected component (edge direction ignored).
-- Components are numbered 0.. in the order of their first node. Applies
-- graph.query_freshness. Reads: graph._csr, graph._edge_overlay, graph._nodes
-- (as the caller). A SQL function over graph._components, which packs the
-- answer in one row (see there).
CREATE OR REPLACE FUNCTION graph.connected_components(tenant text DEFAULT NULL)
RETURNS TABLE (node_table regclass, node_id text, component bigint)
LANGUAGE sql
AS $$
    SELECT
        u.table_oid::regclass,
        u.pk,
        u.component
    FROM graph._components(tenant) AS r
    CROSS JOIN LATERAL unnest(
        string_to_array(r.tables, ',')::oid [], r.pks, string_to_array(r.components, ',')::bigint []
    ) AS u (table_oid, pk, component)
$$;

COMMENT ON FUNCTION graph.connected_components(text) IS
'Every visible node with its weakly connected component number.';
