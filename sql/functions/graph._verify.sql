-- graph._verify(...): the work of graph.verify (same arguments, none optional;
-- see there), in PL/Python. graph.verify calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._verify()
RETURNS TABLE (difference text, table_name text, id text, detail jsonb)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import verify
return verify.verify(plpy)
$$;

COMMENT ON FUNCTION graph._verify() IS
'Internal: the work of graph.verify, in PL/Python.';
