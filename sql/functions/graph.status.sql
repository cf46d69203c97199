-- graph.status(): one row on the graph itself: generation, alive nodes and
-- node ids (alive, dead and referenced-only), tombstones, base and overlay
-- edges, labels, registered tables and edge sources, bytes of the base, the
-- delta and the log, log rows, the memory this backend's cache of the base
-- holds, last build, apply and maintenance rebuild. SECURITY DEFINER so any
-- role can read sizes without reading the graph tables.
-- Reads: graph._sync_state, graph._nodes, graph._csr, graph._edge_overlay,
-- graph._labels, the registry, graph._sync_log, graph._maintenance_jobs.
CREATE OR REPLACE FUNCTION graph.status(
    OUT generation bigint,
    OUT node_count bigint,
    OUT node_ids bigint,
    OUT tombstones bigint,
    OUT base_edges bigint,
    OUT overlay_edges bigint,
    OUT labels bigint,
    OUT node_tables bigint,
    OUT edge_sources bigint,
    OUT base_bytes bigint,
    OUT delta_bytes bigint,
    OUT log_bytes bigint,
    OUT log_rows bigint,
    OUT cache_bytes bigint,
    OUT last_build_at timestamptz,
    OUT last_apply_at timestamptz,
    OUT last_rebuild_by_maintenance_at timestamptz
)
LANGUAGE plpython3u
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import status
return status.status(plpy)
$$;

COMMENT ON FUNCTION graph.status() IS
'One row on the graph: generation, node and edge counts, tombstones, bytes of base, delta and log, this backend''s cache memory, last build.';
