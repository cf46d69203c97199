-- graph.sync_health(): one row on everything that can make the graph fall
-- behind or drift from its sources, for psql (\x) and monitors:
--   how changes reach the graph (sync_mode: on_read, scheduled, manual) and the
--   settings that bound it; replay position, log high-water, pending rows and
--   the age of the oldest; failed rows and the last error; disabled and missing
--   capture triggers; edge buffer pressure, tombstones, TRUNCATE markers and
--   whether a rebuild is due (and why); read-only state; schema drift; the last
--   maintenance, vacuum or reconcile run; whether the pg_cron job really runs
--   (graph._cron_job_state: failing, late, never ran, inactive); the last
--   source check; the counts of dangling references and duplicate edges the
--   last integrity check found (graph._integrity: kept by
--   graph.dangling_references(), graph.duplicate_edges() and maintenance's
--   source check; health reads no source table); what to do next; the latest
--   change number (graph.changed_nodes) and the notifications a full queue skipped.
-- No column shows a role a value it cannot read, decided by the role running the
-- call (current_user), never by the session user (migration 285): SECURITY INVOKER,
-- so code of another role -- a SECURITY DEFINER function an admin or a reader
-- calls -- sees what that role may see, not what its caller may. A role that may
-- EXECUTE graph._health (graph_admin and superusers) gets every column from it;
-- every other role gets graph._health_masked() (SECURITY DEFINER: it reads health
-- without reading the log), which names the latest failed log row and its table
-- but not its message, and says only that a maintenance run or the pg_cron job
-- failed. The message of that row comes from graph._failed_visible, whose checks
-- run as the reader: a role sees it (in last_error and next_action) when it may
-- SELECT the row's table and that table's row-level security does not apply to it.
-- The other columns hold counts, states and catalog names.
-- Reads (through graph._health): graph._sync_state, graph._sync_log, graph._edge_overlay, graph._node_rows,
-- graph._maintenance_jobs, graph._maintenance_schedule, graph._integrity, the catalog, cron.job
-- and cron.job_run_details when pg_cron is installed; graph._failed_visible.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.sync_health(
    OUT sync_mode text,
    OUT query_freshness text,
    OUT sync_batch_size bigint,
    OUT sync_error_policy text,
    OUT applied_sync_id bigint,
    OUT max_sync_log_id bigint,
    OUT pending_sync_rows bigint,
    OUT oldest_pending_age interval,
    OUT failed_sync_rows bigint,
    OUT last_error text,
    OUT disabled_trigger_count bigint,
    OUT missing_trigger_count bigint,
    OUT missing_triggers text,
    OUT edge_buffer_used bigint,
    OUT edge_buffer_size bigint,
    OUT tombstone_count bigint,
    OUT needs_vacuum boolean,
    OUT needs_rebuild boolean,
    OUT rebuild_reasons text,
    OUT read_only boolean,
    OUT read_only_reason text,
    OUT build_required boolean,
    OUT generation bigint,
    OUT schema_state text,
    OUT schema_drift text,
    OUT last_maintenance_at timestamptz,
    OUT last_maintenance_status text,
    OUT last_maintenance_error text,
    OUT schedule_state text,
    OUT schedule_last_success_at timestamptz,
    OUT schedule_error text,
    OUT last_verify_at timestamptz,
    OUT last_verify_differences bigint,
    OUT dangling_references bigint,
    OUT duplicate_edges bigint,
    OUT integrity_checked_at timestamptz,
    OUT apply_sync_recommended boolean,
    OUT maintenance_recommended boolean,
    OUT reconcile_recommended boolean,
    OUT next_action text,
    OUT last_change_sync_id bigint,
    OUT notifications_skipped bigint
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failed_id bigint;
    visible text;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    -- EXECUTE on graph._health is checked against current_user: the role running
    -- this call, whoever logged in.
    IF pg_catalog.has_function_privilege('graph._health(boolean)', 'EXECUTE') THEN
        SELECT h.*
        INTO
         sync_mode, query_freshness, sync_batch_size, sync_error_policy, applied_sync_id,
         max_sync_log_id, pending_sync_rows, oldest_pending_age, failed_sync_rows, last_error,
         disabled_trigger_count, missing_trigger_count, missing_triggers, edge_buffer_used,
         edge_buffer_size, tombstone_count, needs_vacuum, needs_rebuild, rebuild_reasons,
         read_only, read_only_reason, build_required, generation, schema_state, schema_drift,
         last_maintenance_at, last_maintenance_status, last_maintenance_error, schedule_state,
         schedule_last_success_at, schedule_error, last_verify_at, last_verify_differences,
         dangling_references, duplicate_edges, integrity_checked_at, apply_sync_recommended,
         maintenance_recommended, reconcile_recommended, next_action, last_change_sync_id,
         notifications_skipped, failed_id
        FROM graph._health(true) AS h;
        RETURN;
    END IF;
    SELECT h.*
    INTO
         sync_mode, query_freshness, sync_batch_size, sync_error_policy, applied_sync_id,
         max_sync_log_id, pending_sync_rows, oldest_pending_age, failed_sync_rows, last_error,
         disabled_trigger_count, missing_trigger_count, missing_triggers, edge_buffer_used,
         edge_buffer_size, tombstone_count, needs_vacuum, needs_rebuild, rebuild_reasons,
         read_only, read_only_reason, build_required, generation, schema_state, schema_drift,
         last_maintenance_at, last_maintenance_status, last_maintenance_error, schedule_state,
         schedule_last_success_at, schedule_error, last_verify_at, last_verify_differences,
         dangling_references, duplicate_edges, integrity_checked_at, apply_sync_recommended,
         maintenance_recommended, reconcile_recommended, next_action, last_change_sync_id,
         notifications_skipped, failed_id
    FROM graph._health_masked() AS h;
    -- The latest failed row's message, when the caller may read its table (the
    -- view decides as the caller); next_action quotes it as graph._health would.
    IF failed_id IS NOT NULL THEN
        SELECT format('log row %s: %s', v.id, v.error_message) INTO visible
        FROM graph._failed_visible AS v WHERE v.id = failed_id;
        IF visible IS NOT NULL THEN
            IF next_action = format('fix the cause of the failed log rows (%s), then run graph.retry_failed()',
                                    last_error) THEN
                next_action := format('fix the cause of the failed log rows (%s), then run graph.retry_failed()',
                                      visible);
            END IF;
            last_error := visible;
        END IF;
    END IF;
    RETURN;
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

COMMENT ON FUNCTION graph.sync_health() IS
'One row of replay and drift health: sync mode and settings, applied position, pending/failed rows, triggers, buffer and tombstones, rebuild need, read-only state, schema drift, last maintenance and source check, next action, latest change number, skipped notifications.';
