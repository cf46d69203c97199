-- graph.component_stats(tenant): one row per weakly connected component of the
-- nodes the caller may see: its number (as graph.connected_components numbers
-- it) and its size, largest first. Applies graph.query_freshness.
-- Reads: graph._csr, graph._edge_overlay, graph._nodes.
CREATE OR REPLACE FUNCTION graph.component_stats(tenant text DEFAULT NULL)
RETURNS TABLE (component bigint, size bigint)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.component_stats_rows(plpy, tenant)
$$;

COMMENT ON FUNCTION graph.component_stats(text) IS
'Weakly connected components of the visible graph and their sizes, largest first.';
