-- graph.vacuum(): a maintenance run that always rebuilds the base: folds
-- tombstones, the edge overlay, TRUNCATE markers, new nodes and registration
-- changes into a fresh generation (progress NOTICEs as it goes). Waits for a
-- run under way instead of skipping. Fails (status 'failed', recorded) when
-- schema drift blocks a rebuild: run graph.reconcile() then. Admin only.
-- Returns the same row as graph.run_scheduled_maintenance().
CREATE OR REPLACE FUNCTION graph.vacuum()
RETURNS graph.maintenance_run
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import maintenance
return maintenance.run_job(plpy, "vacuum", force=True)
$$;

COMMENT ON FUNCTION graph.vacuum() IS
'Maintenance run that always rebuilds the base (fold tombstones, overlay, truncations). Admin only.';
