-- graph._build(...): the work of graph.build (same arguments, none optional;
-- see there), in PL/Python. graph.build calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._build(
    OUT generation bigint,
    OUT node_count bigint,
    OUT edge_count bigint,
    OUT seconds double precision
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import build
return build.build(plpy)
$$;

COMMENT ON FUNCTION graph._build() IS
'Internal: the work of graph.build, in PL/Python.';
