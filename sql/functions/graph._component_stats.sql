-- graph._component_stats(...): the work of graph.component_stats (same arguments, none optional;
-- see there), in PL/Python. graph.component_stats calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._component_stats(tenant text)
RETURNS TABLE (component bigint, size bigint)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.component_stats_rows(plpy, tenant)
$$;

COMMENT ON FUNCTION graph._component_stats(text) IS
'Internal: the work of graph.component_stats, in PL/Python.';
