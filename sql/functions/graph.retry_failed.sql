-- graph.retry_failed(): apply again the log rows that failed (those with an
-- error_message), once their cause is fixed. Rows passed over under
-- sync_error_policy 'skip' go through the same gather/flush code as
-- apply_sync, with node state read from the source row as it is now (later
-- rows may have been applied); rows waiting under 'stop' are retried by the
-- apply_sync() this function ends with. A row that succeeds loses its
-- error_message; one that fails again gets the new one. Admin only.
-- Returns what it did: retried (failed rows it applied again), succeeded (of
-- those, rows whose error is gone), still_failed (rows with an error when it
-- ends), applied_after (rows the closing apply_sync() applied), rebuilt (a
-- failed TRUNCATE was folded by a rebuild), stopped (why replay stopped),
-- failed_ids (ids of the rows that still fail, at most 100) and a summary.
-- Touches: what apply_sync touches, graph._sync_log.error_message.
CREATE OR REPLACE FUNCTION graph.retry_failed(
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

COMMENT ON FUNCTION graph.retry_failed() IS
'Apply again the log rows that failed (skipped or waiting), after their cause is fixed; clears their error on success; reports retried, succeeded, still failed (with ids) and a summary. Admin only.';
