-- graph.component_of(tbl, id, tenant): the nodes of the weakly connected
-- component that holds node (tbl, id), that node included; no row when the
-- node does not exist or the caller may not see it. Applies
-- graph.query_freshness. Reads: graph._csr, graph._edge_overlay, graph._nodes
-- (as the caller).
CREATE OR REPLACE FUNCTION graph.component_of(tbl regclass, id text, tenant text DEFAULT NULL)
RETURNS TABLE (node_table regclass, node_id text)
LANGUAGE plpython3u
AS $$
if "graphsync" not in GD:
    plpy.execute("SELECT graph._import_package()")
from graphsync import reads
return reads.component_of_rows(plpy, tbl, id, tenant)
$$;

COMMENT ON FUNCTION graph.component_of(regclass, text, text) IS
'The nodes of the weakly connected component holding the given node.';
