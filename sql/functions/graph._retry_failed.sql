-- graph._retry_failed(...): the work of graph.retry_failed (same arguments, none optional;
-- see there), in PL/Python. graph.retry_failed calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._retry_failed(
    OUT retried bigint,
    OUT succeeded bigint,
    OUT still_failed bigint,
    OUT applied_after bigint,
    OUT rebuilt boolean,
    OUT stopped text,
    OUT failed_ids bigint[],
    OUT summary text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import retry
return retry.retry_failed(plpy)
$$;

COMMENT ON FUNCTION graph._retry_failed() IS
'Internal: the work of graph.retry_failed, in PL/Python.';
