-- graph._dangling_references(...): the work of graph.dangling_references (same arguments, none optional;
-- see there), in PL/Python. graph.dangling_references calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._dangling_references(max_rows integer)
RETURNS TABLE (edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import integrity
return integrity.dangling_references(plpy, max_rows)
$$;

COMMENT ON FUNCTION graph._dangling_references(integer) IS
'Internal: the work of graph.dangling_references, in PL/Python.';
