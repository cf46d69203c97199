-- graph.verify(): compare the applied graph with a fresh read of the source
-- tables. One row per difference: missing_node, extra_node, stale_property,
-- missing_edge, extra_edge, dangling_edge. No rows when the graph equals the
-- sources (run graph.apply_sync() first: unapplied log rows are differences).
-- Reads: the sources, graph._nodes, graph._csr, graph._edge_overlay.
CREATE OR REPLACE FUNCTION graph.verify()
RETURNS TABLE (difference text, table_name text, id text, detail jsonb)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import verify
return verify.verify(plpy)
$$;

COMMENT ON FUNCTION graph.verify() IS
'List every difference between the applied graph and a fresh read of the source tables; empty when in sync.';
