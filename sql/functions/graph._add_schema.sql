-- graph._add_schema(...): the work of graph.add_schema (same arguments, none optional;
-- see there), in PL/Python. graph.add_schema calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._add_schema(
    schema regnamespace,
    preview boolean,
    exclude regclass[]
)
RETURNS TABLE (
    kind text, table_name regclass, edge text, edge_source integer, label text, action text, reason text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import schema as schema_mod
return schema_mod.add_schema(plpy, schema, preview, exclude)
$$;

COMMENT ON FUNCTION graph._add_schema(regnamespace, boolean, regclass[]) IS
'Internal: the work of graph.add_schema, in PL/Python.';
