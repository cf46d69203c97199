-- graph._pending_ids(): the ids of the pending log rows (graph._pending_log(): the
-- committed rows not applied yet, and the caller's own uncommitted ones), for the
-- view graph._pending_visible, which reads those rows of the log and keeps the ones
-- its reader may read (decided as the reader: migration 250). SECURITY DEFINER: the
-- log stays admin-only; an id is no value of any row (every role may count the
-- pending rows in graph.sync_health() anyway). Without JIT compilation and parallel
-- workers: a half-done pass makes graph._pending_log() scan the log, which can look
-- costly enough for both, which take seconds to start for a scan of milliseconds.
-- Reads: graph._sync_state, graph._sync_log.
CREATE OR REPLACE FUNCTION graph._pending_ids()
RETURNS TABLE (id bigint)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET max_parallel_workers_per_gather = 0
ROWS 10
AS $$
    SELECT l.id FROM graph._pending_log() AS l
$$;

COMMENT ON FUNCTION graph._pending_ids() IS
'Internal (reads): the ids of the pending log rows, for the view graph._pending_visible (no value of any row).';
