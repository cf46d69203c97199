-- graph._vacuum(...): the work of graph.vacuum (same arguments, none optional;
-- see there), in PL/Python. graph.vacuum calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._vacuum()
RETURNS graph.maintenance_run
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import maintenance
return maintenance.run_job(plpy, "vacuum", force=True)
$$;

COMMENT ON FUNCTION graph._vacuum() IS
'Internal: the work of graph.vacuum, in PL/Python.';
