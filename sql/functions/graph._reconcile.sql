-- graph._reconcile(...): the work of graph.reconcile (same arguments, none optional;
-- see there), in PL/Python. graph.reconcile calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._reconcile()
RETURNS TABLE (action text, table_name text, items bigint, detail text)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import reconcile
return reconcile.reconcile(plpy)
$$;

COMMENT ON FUNCTION graph._reconcile() IS
'Internal: the work of graph.reconcile, in PL/Python.';
