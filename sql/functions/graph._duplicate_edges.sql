-- graph._duplicate_edges(...): the work of graph.duplicate_edges (same arguments, none optional;
-- see there), in PL/Python. graph.duplicate_edges calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._duplicate_edges(max_rows integer)
RETURNS TABLE (
    edge_source integer, from_table regclass, from_id text, to_table regclass, to_id text, label text,
    copies bigint
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.ops import integrity
return integrity.duplicate_edges(plpy, max_rows)
$$;

COMMENT ON FUNCTION graph._duplicate_edges(integer) IS
'Internal: the work of graph.duplicate_edges, in PL/Python.';
