-- graph._apply_for_read(): the apply a read's freshness step runs
-- (graph._read_sync): graph.apply_sync() over every committed pending row, but a
-- backlog the edge buffer cannot hold stops it and turns the graph read-only
-- instead of rebuilding the base: a read never turns into a build (which reads
-- every source table and renumbers the nodes). The admin's graph.apply_sync() or
-- a maintenance run then folds that backlog into a rebuild. Admin only.
-- Touches: what graph.apply_sync touches.
CREATE OR REPLACE FUNCTION graph._apply_for_read()
RETURNS void
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import apply
apply.apply_sync(plpy, None, rebuild=False)
$$;

COMMENT ON FUNCTION graph._apply_for_read() IS
'Internal (reads): graph.apply_sync() for a read''s freshness step, which never rebuilds the base. Admin only.';
