-- graph.duplicate_edges(max_rows): endpoints linked more than once by the same
-- edge source with the same label (e.g. two join-table rows for one pair, from
-- racing inserts). One row per such group, most copies first, at most max_rows:
--   edge_source  the edge source (graph._edge_sources)
--   from_table, from_id, to_table, to_id  the ends, in the registered direction
--   label        the edges' label
--   copies       how many edges link them
-- Computed from a fresh read of the sources in one snapshot (ops/integrity.py);
-- records the counts sync_health() shows. Admin only.
CREATE OR REPLACE FUNCTION graph.duplicate_edges(max_rows integer DEFAULT 1000)
RETURNS TABLE (
    edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text, label text,
    copies bigint
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in GD:
    plpy.execute("SELECT graph._import_package()")
from graphsync.ops import integrity
return integrity.duplicate_edges(plpy, max_rows)
$$;

COMMENT ON FUNCTION graph.duplicate_edges(integer) IS
'Endpoints linked more than once by one edge source with one label, read from the sources; at most max_rows.';
