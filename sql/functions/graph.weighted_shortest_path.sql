-- graph.weighted_shortest_path(...): a cheapest path from (src_table, src_id)
-- to (dst_table, dst_id) by summed edge weight (Dijkstra), in direction
-- 'out' | 'in' | 'any', over edges with labels in edge_types, through nodes the
-- caller may see. Weights: the edge source's weight column; a NULL weight
-- counts as 1; a negative weight on an edge the search could use raises 22023;
-- parallel edges count with the cheapest. Works while edge changes sit in the
-- overlay or are still pending. One row per node: edge_weight of the edge that
-- reaches it, cost so far, total_cost of the whole path. No row when
-- unreachable. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay, graph._nodes (as the caller).
CREATE OR REPLACE FUNCTION graph.weighted_shortest_path(
    src_table regclass,
    src_id text,
    dst_table regclass,
    dst_id text,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    tenant text DEFAULT NULL
)
RETURNS TABLE (
    step integer,
    node_table regclass,
    node_id text,
    edge_label text,
    edge_weight double precision,
    cost double precision,
    total_cost double precision
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.weighted_shortest_path_rows(plpy, src_table, src_id, dst_table, dst_id, direction,
                                         edge_types, tenant)
$$;

COMMENT ON FUNCTION graph.weighted_shortest_path(regclass, text, regclass, text, text, text[], text) IS
'Cheapest path by edge weight (NULL weight = 1, negative weight = error 22023); one row per node with edge_weight, cost, total_cost.';
