-- graph._run_scheduled_maintenance(...): the work of graph.run_scheduled_maintenance (same arguments, none optional;
-- see there), in PL/Python. graph.run_scheduled_maintenance calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._run_scheduled_maintenance()
RETURNS graph.maintenance_run
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import maintenance
return maintenance.run_job(plpy, "scheduled")
$$;

COMMENT ON FUNCTION graph._run_scheduled_maintenance() IS
'Internal: the work of graph.run_scheduled_maintenance, in PL/Python.';
