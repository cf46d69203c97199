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
-- Cost: catalog work per registered table and index lookups; no sequential scan of
-- graph._node_rows, graph._sync_log or graph._edge_overlay (tests/test_health_cost.py).
-- Reads (through graph._health): graph._sync_state, graph._sync_log, graph._node_rows,
-- graph._maintenance_jobs, graph._maintenance_schedule, graph._integrity, the catalog, cron.job
-- and cron.job_run_details when pg_cron is installed; graph._failed_visible.
-- The row's columns are those of type graph.sync_health_row (migration 290), their
-- one definition, which graph._health and graph._health_masked return too.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.sync_health()
RETURNS graph.sync_health_row
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off  -- catalog statements estimated far above their size until an ANALYZE: no compiling
AS $$
DECLARE
    got record;
    h graph.sync_health_row;
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
        SELECT r.* INTO got FROM graph._health(true) AS r;
        RETURN got.health;
    END IF;
    SELECT r.* INTO got FROM graph._health_masked() AS r;
    h := got.health;
    failed_id := got.last_failed_id;
    -- The latest failed row's message, when the caller may read its table (the
    -- view decides as the caller); next_action quotes it as graph._health would
    -- (either advice about failed rows ends with it in parentheses).
    IF failed_id IS NOT NULL THEN
        SELECT format('log row %s: %s', v.id, v.error_message) INTO visible
        FROM graph._failed_visible AS v WHERE v.id = failed_id;
        IF visible IS NOT NULL THEN
            IF h.next_action = format('fix the cause of the failed log rows (%s), then run graph.retry_failed()',
                                      h.last_error) THEN
                h.next_action := format('fix the cause of the failed log rows (%s), then run graph.retry_failed()',
                                        visible);
            ELSIF (h.next_action LIKE 'fix the row of % that its row filter raised on %'
                   OR h.next_action LIKE 'a log row of % names a key too long to index %')
                  AND pg_catalog.right(h.next_action, pg_catalog.length(h.last_error) + 2) = format('(%s)', h.last_error) THEN
                h.next_action := pg_catalog.left(h.next_action, -pg_catalog.length(h.last_error) - 2)
                                 || format('(%s)', visible);
            END IF;
            h.last_error := visible;
        END IF;
    END IF;
    RETURN h;
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
