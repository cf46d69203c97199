-- graph.prune_sync_log(retention): delete applied log rows created more than
-- retention ago (default: the setting graph.log_retention; a negative one is
-- 22023). Never deletes
-- an unapplied row: a row is applied when its transaction is visible in the
-- replay cursor's done_snapshot (every transaction below its xmin had ended;
-- one in its in-progress list or at or above its xmax was still open, or had
-- not started, when the cursor last moved). Failed rows (error_message) and
-- unfolded TRUNCATE markers (needs_vacuum) are kept. Maintenance calls it.
-- The record of applied changes (graph._change_log, migration 100) is pruned
-- with it: every change numbered before the first one applied within
-- retention, and graph.changed_nodes() then refuses a position before that
-- (graph._sync_state.change_horizon).
-- The ids of graph._sync_log_attention whose row lost its flags or is gone go too.
-- What it reads: the log keeps graph.log_retention of applied rows (an hour by
-- default: millions under a steady write load) and maintenance prunes on every
-- run, so a prune reads each of the two along its primary key from its first row
-- up to the first row created within retention (first_kept, first_young) and no
-- further, never the rows it keeps (sequential scans off, and xid + 0, which no
-- index answers: the delete was otherwise planned, now and then, as a scan of
-- the log's xid index for every applied row; JIT and parallel workers off with
-- them, for a statement whose table has no index to use then costs the planner
-- some 10^10 and was JIT-compiled at every prune: tests/test_no_jit.py). A row created before retention
-- but logged after a younger one (by a transaction that ran long) waits for a
-- later prune, as does a change numbered after a younger one; a pending row, a
-- failed row and an unfolded TRUNCATE marker are kept wherever they are (the
-- walk passes them).
-- Admin only. Returns how many log rows it deleted. Touches: graph._sync_log,
-- graph._sync_log_attention,
-- graph._change_log, graph._sync_state.change_horizon.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.prune_sync_log(retention interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
SET max_parallel_workers_per_gather = 0
AS $$
DECLARE
    pruned bigint;
    horizon bigint;
    cutoff timestamptz;
    first_kept bigint;
    first_young bigint;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    IF retention IS NULL THEN
        retention := graph._setting('graph.log_retention')::interval;
    ELSIF retention < interval '0' THEN
        RAISE EXCEPTION 'retention must be an interval of 0 or more, not %', retention USING ERRCODE = '22023',
            HINT = 'Pass 0 to prune every applied row, or NULL for graph.log_retention.';
    END IF;
    cutoff := now() - retention;
    SELECT l.id INTO first_kept FROM graph._sync_log AS l WHERE l.created_at >= cutoff ORDER BY l.id LIMIT 1;
    WITH gone AS (
        DELETE FROM graph._sync_log AS l
        USING graph._sync_state AS s
        WHERE l.id < coalesce(first_kept, 9223372036854775807)
          AND l.xid + 0 < pg_snapshot_xmax(s.done_snapshot)::text::bigint
          AND (l.xid + 0 < pg_snapshot_xmin(s.done_snapshot)::text::bigint
               OR pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot))
          AND l.created_at < cutoff
          AND l.error_message IS NULL AND NOT l.needs_vacuum
        RETURNING 1
    )
    SELECT count(*) INTO pruned FROM gone;
    -- ids of rows whose error or TRUNCATE flag was cleared, or that are gone
    -- (each looked up by the log's primary key: a subquery per id, which no plan
    -- turns into a join that reads the log along, as a merge anti join did)
    DELETE FROM graph._sync_log_attention AS a
    WHERE NOT coalesce((SELECT l.error_message IS NOT NULL OR l.needs_vacuum
                        FROM graph._sync_log AS l WHERE l.id = a.id), false);
    SELECT c.sync_id INTO first_young FROM graph._change_log_rows AS c
    WHERE c.created_at >= cutoff ORDER BY c.sync_id LIMIT 1;
    SELECT max(c.sync_id) INTO horizon FROM graph._change_log_rows AS c
    WHERE c.sync_id < coalesce(first_young, 9223372036854775807);
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
