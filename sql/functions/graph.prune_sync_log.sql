-- graph.prune_sync_log(retention): delete applied log rows created more than
-- retention ago (default: the setting graph.log_retention). Never deletes
-- an unapplied row: a row is applied when its transaction is visible in the
-- replay cursor's done_snapshot (every transaction below its xmin had ended;
-- one in its in-progress list or at or above its xmax was still open, or had
-- not started, when the cursor last moved). Failed rows (error_message) and
-- unfolded TRUNCATE markers (needs_vacuum) are kept. Maintenance calls it.
-- The record of applied changes (graph._change_log, migration 100) is pruned
-- with it: every change numbered up to the newest one applied more than
-- retention ago, and graph.changed_nodes() then refuses a position before that
-- (graph._sync_state.change_horizon).
-- The ids of graph._sync_log_attention whose row lost its flags or is gone go too.
-- Admin only. Returns how many log rows it deleted. Touches: graph._sync_log,
-- graph._sync_log_attention,
-- graph._change_log, graph._sync_state.change_horizon.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.prune_sync_log(retention interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pruned bigint;
    horizon bigint;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
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
    -- ids of rows whose error or TRUNCATE flag was cleared, or that are gone
    DELETE FROM graph._sync_log_attention AS a
    WHERE NOT EXISTS (SELECT FROM graph._sync_log AS l
                      WHERE l.id = a.id AND (l.error_message IS NOT NULL OR l.needs_vacuum));
    SELECT max(c.sync_id) INTO horizon FROM graph._change_log_rows AS c WHERE c.created_at < now() - retention;
    IF horizon IS NOT NULL THEN
        DELETE FROM graph._change_log_rows AS c WHERE c.sync_id <= horizon;
        UPDATE graph._sync_state SET change_horizon = greatest(change_horizon, horizon);
    END IF;
    RETURN pruned;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.prune_sync_log(interval) IS
'Delete applied log rows older than retention (default: graph.log_retention); never an unapplied, failed or unfolded TRUNCATE row; prunes the record of applied changes with it. Admin only.';
