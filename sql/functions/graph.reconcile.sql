-- graph.reconcile(): the operator's repair endpoint. Repairs schema drift
-- (unregisters dropped tables and columns, re-keys a table whose key changed,
-- enables disabled and re-installs missing capture triggers), applies pending
-- sync, compares the graph with the sources (graph.verify()) and rebuilds when
-- anything differs or a rebuild is due: writes made while triggers were off
-- or with session_replication_role = replica reach the graph. What it cannot
-- repair safely (a dropped tenant column, a key other edge sources reference)
-- it reports as needs_attention. Waits for a maintenance run under way.
-- Admin only. Returns one row per change: action, table, how many, detail.
-- Touches: the registry, capture triggers, everything build touches,
-- graph._maintenance_jobs.
CREATE OR REPLACE FUNCTION graph.reconcile()
RETURNS TABLE (action text, table_name text, items bigint, detail text)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import reconcile
return reconcile.reconcile(plpy)
$$;

COMMENT ON FUNCTION graph.reconcile() IS
'Repair schema drift and bring the graph back to equal its sources (rebuild when they differ); one row per change. Admin only.';
