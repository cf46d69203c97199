-- graph.build(): read every registered source table and write a fresh base
-- graph (dense node ids, CSR per direction) under a new generation; rows that
-- existed before registration enter the graph here. Clears the overlay, the
-- tombstones and read-only state; moves the replay cursor to the snapshot the
-- read saw. Admin only. Returns what it built.
-- Touches: graph._nodes, graph._csr, graph._edge_overlay, graph._edge_cuts,
-- graph._labels, graph._sync_state.
CREATE OR REPLACE FUNCTION graph.build(
    OUT generation bigint,
    OUT node_count bigint,
    OUT edge_count bigint,
    OUT seconds double precision
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import build
return build.build(plpy)
$$;

COMMENT ON FUNCTION graph.build() IS
'Rebuild the base graph from the source tables (backfill, fold overlay and tombstones, clear read-only). Admin only.';
