-- graph.enable_replica_capture(enabled): give every captured table replica
-- capture (enabled, the default) -- the row-level capture function
-- graph._capture_row_<oid> and its triggers graphsync_replica_capture_*, for
-- logical replication's apply worker -- or take it back to the tables a
-- subscription of this database applies to (enabled => false). Without it,
-- replica capture follows the subscriptions on its own (the event trigger
-- graphsync_follow_subscription, registration and reconcile():
-- graph._replica_capture_wanted); turning it on is for a database about to
-- subscribe in a way that event trigger does not see (it was disabled), or that
-- wants the triggers in place ahead of time. Stored in
-- graph._sync_state.replica_capture; capture is regenerated and the triggers
-- attached as the caller, as registration does (graph._install_capture_bounded).
-- Lock order, a registration's: the tables whose trigger DDL runs, the lock it will
-- take (CREATE TRIGGER: SHARE ROW EXCLUSIVE; turned off, the row-level function
-- dropped with its triggers: ACCESS EXCLUSIVE) first, through graph._lock_for_capture, and
-- graph._sync_state's row only then. Written first, the row was held while that
-- DDL waited without bound for a writer's open transaction: every apply, every read
-- that applies and every registration waited behind it, and a writer whose
-- transaction then applied deadlocked with it (tests/test_writer_poison.py,
-- tests/test_lock_order_race.py). Each lock waits at most 5 s (the caller's
-- lock_timeout when shorter), then 55P03 naming the table; the call is one
-- transaction: nothing of it stays.
-- Admin only. Returns how many captured tables carry replica capture now.
-- Touches: graph._sync_state, the functions graph._capture_row_<oid>, pg_trigger.
-- Errors reach the caller with SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.enable_replica_capture(enabled boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbls oid [];
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    IF enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = '22004';
    END IF;
    tbls := ARRAY(SELECT t.table_oid FROM graph._captured_tables() AS t WHERE t.present ORDER BY t.table_oid);
    -- The tables whose row-level capture comes or goes, and only those: enabled, the
    -- ones without its function yet (their triggers are created); turned off, the
    -- ones with it that no subscription applies to (dropped with its triggers). A
    -- call that changes nothing waits for no writer.
    PERFORM graph._lock_for_capture(ARRAY(
        SELECT u.t FROM pg_catalog.unnest(tbls) WITH ORDINALITY AS u (t, o)
        WHERE CASE WHEN enabled
                   THEN pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || u.t)) IS NULL
                   ELSE pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || u.t))
                        IS NOT NULL
                        AND u.t <> ALL (graph._replica_capture_applied())
              END
        ORDER BY u.o), CASE WHEN enabled THEN 'install' ELSE 'drop' END);
    UPDATE graph._sync_state SET replica_capture = enabled;
    -- bounded all the same: DDL on a table not locked above (a repair of its
    -- statement triggers, a table the session has no TRIGGER on) waits no longer
    PERFORM graph._install_capture_bounded(tbls, CASE WHEN enabled THEN 'install' ELSE 'drop' END);
    RETURN (SELECT count(*) FROM graph._captured_tables() AS t
            WHERE pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || t.table_oid))
                  IS NOT NULL);
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose (CONTEXT).
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

COMMENT ON FUNCTION graph.enable_replica_capture(boolean) IS
'Give every captured table replica capture (row-level, for logical replication''s apply worker), or with enabled => false only the tables a subscription of this database applies to; how many tables carry it now. Admin only.';
