-- graph.shortest_path(...): a path with the fewest edges from (src_table,
-- src_id) to (dst_table, dst_id), using at most max_depth edges, in direction
-- 'out' | 'in' | 'any', over edges with labels in edge_types (all when NULL),
-- through nodes the caller may see (and of tenant, when given). One row per
-- node, step 0 being the source; edge_label is the label of the edge that
-- reaches the node. No row when there is no such path. Among equally short
-- paths, any one may be returned. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay, graph._nodes (as the caller).
CREATE OR REPLACE FUNCTION graph.shortest_path(
    src_table regclass,
    src_id text,
    dst_table regclass,
    dst_id text,
    max_depth integer DEFAULT 32,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    tenant text DEFAULT NULL
)
RETURNS TABLE (step integer, node_table regclass, node_id text, edge_label text)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.shortest_path_rows(plpy, src_table, src_id, dst_table, dst_id, max_depth, direction,
                                edge_types, tenant)
$$;

COMMENT ON FUNCTION graph.shortest_path(regclass, text, regclass, text, integer, text, text[], text) IS
'Fewest-edges path between two nodes (one row per node, no row when unreachable within max_depth).';
