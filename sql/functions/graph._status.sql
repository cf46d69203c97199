-- graph._status(...): the work of graph.status (same arguments, none optional;
-- see there), in PL/Python. graph.status calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._status(
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
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import status
return status.status(plpy)
$$;

COMMENT ON FUNCTION graph._status() IS
'Internal: the work of graph.status, in PL/Python.';
