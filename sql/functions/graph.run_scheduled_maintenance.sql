-- graph.run_scheduled_maintenance(): the unattended upkeep pg_cron calls
-- (graph.schedule_maintenance). Applies pending sync; looks for schema drift;
-- every graph.verify_interval (default '1 day', 'off' disables) checks the
-- graph against the sources; rebuilds the base when graph._rebuild_reasons()
-- or the check says so (readers keep answering from the old generation until
-- the rebuild commits); prunes applied log rows older than graph.log_retention
-- (default '1 hour'; never an unapplied or failed row) and job rows older than
-- graph.job_retention (default '7 days'). Never overlaps another run: returns
-- status 'skipped' instead. A failing phase is rolled back alone and the run
-- returns status 'failed' with the error, recorded in its job row; the graph
-- keeps serving. Admin only. Returns one row: what it did and why.
-- Touches: everything apply_sync and build touch, graph._sync_log (pruning),
-- graph._maintenance_jobs.
CREATE OR REPLACE FUNCTION graph.run_scheduled_maintenance()
RETURNS graph.maintenance_run
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import maintenance
return maintenance.run_job(plpy, "scheduled")
$$;

COMMENT ON FUNCTION graph.run_scheduled_maintenance() IS
'Unattended upkeep (for pg_cron): apply pending sync, rebuild the base when due, prune applied log rows; one row saying what it did and why, also kept in graph._maintenance_jobs. Admin only.';
