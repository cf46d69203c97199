-- graph.prune_sync_log(retention): delete applied log rows created more than
-- retention ago (default: the setting graph.log_retention). Never deletes
-- an unapplied row: a row is applied when its transaction is visible in the
-- replay cursor's done_snapshot (every transaction below its xmin had ended;
-- one in its in-progress list or at or above its xmax was still open, or had
-- not started, when the cursor last moved). Failed rows (error_message) and
-- unfolded TRUNCATE markers (needs_vacuum) are kept. Maintenance calls it.
-- Admin only. Returns how many rows it deleted. Touches: graph._sync_log.
CREATE OR REPLACE FUNCTION graph.prune_sync_log(retention interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pruned bigint;
BEGIN
    PERFORM graph._require_admin();
    IF retention IS NULL THEN
        retention := graph._setting('graph.log_retention')::interval;
    END IF;
    WITH gone AS (
        DELETE FROM graph._sync_log AS l
        USING graph._sync_state AS s
        WHERE l.xid < pg_snapshot_xmax(s.done_snapshot)::text::bigint
          AND (l.xid < pg_snapshot_xmin(s.done_snapshot)::text::bigint
               OR pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot))
          AND l.created_at < now() - retention
          AND l.error_message IS NULL AND NOT l.needs_vacuum
        RETURNING 1
    )
    SELECT count(*) INTO pruned FROM gone;
    RETURN pruned;
END;
$$;

COMMENT ON FUNCTION graph.prune_sync_log(interval) IS
'Delete applied log rows older than retention (default: graph.log_retention); never an unapplied, failed or unfolded TRUNCATE row. Admin only.';
