-- graph._apply_sync(...): the work of graph.apply_sync (same arguments, none optional;
-- see there), in PL/Python. graph.apply_sync calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._apply_sync(
    max_batches integer,
    OUT inserts bigint,
    OUT updates bigint,
    OUT deletes bigint,
    OUT truncates bigint,
    OUT batches bigint,
    OUT failed bigint,
    OUT stopped text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import apply
return apply.apply_sync(plpy, max_batches)
$$;

COMMENT ON FUNCTION graph._apply_sync(integer) IS
'Internal: the work of graph.apply_sync, in PL/Python.';
