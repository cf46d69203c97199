-- graph._follow_subscription(): the function of the event trigger
-- graphsync_follow_subscription (ddl_command_end of CREATE SUBSCRIPTION, ALTER
-- SUBSCRIPTION and DROP SUBSCRIPTION): brings the replica capture of every
-- captured table in step with the subscriptions of this database
-- (graph._replica_capture_wanted), in the transaction of the command. A table a
-- new or refreshed subscription now applies to gets it (graph._install_capture,
-- which generates graph._capture_row_<oid> and attaches its triggers) before the
-- apply worker applies its first change; a table no subscription applies to any
-- more (DROP SUBSCRIPTION, a REFRESH PUBLICATION that removed it) loses it
-- (graph._install_capture drops the row function and with it its triggers), so
-- health does not report them as strays. A graph replica is made as README
-- "Scaling out" says (register, build, CREATE SUBSCRIPTION) with nothing more to
-- call. Runs as the role that ran the command (in PostgreSQL 15 a superuser:
-- only superusers create, alter and drop subscriptions); it runs no code a
-- table owner controls (tests/test_replica_subscribe.py): graphsync's own
-- functions, with pinned search paths, over the catalog and the registry, and
-- trigger DDL. It never fails the command: an error (a cancel aside) becomes a
-- WARNING, and health then shows the subscribed tables' replica triggers
-- missing (trigger_missing) or stray (trigger_extra), which graph.reconcile()
-- repairs.
-- Touches: the functions graph._capture_row_<oid>, pg_trigger of the tables.
CREATE OR REPLACE FUNCTION graph._follow_subscription()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbls oid [];
    replica_all boolean;
    applied oid [];
BEGIN
    -- graph._replica_capture_wanted of every captured table, read once for all
    replica_all := coalesce((SELECT s.replica_capture FROM graph._sync_state AS s), false);
    applied := CASE WHEN replica_all THEN '{}' ELSE graph._replica_capture_applied() END;
    SELECT coalesce(array_agg(t.table_oid ORDER BY t.table_oid), '{}') INTO tbls
    FROM graph._captured_tables() AS t
    WHERE t.present
      AND (replica_all OR t.table_oid = ANY (applied))
          <> (pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || t.table_oid)) IS NOT NULL);
    IF tbls <> '{}' THEN
        PERFORM graph._install_capture(tbls);
    END IF;
EXCEPTION WHEN query_canceled THEN
    RAISE;
WHEN OTHERS THEN
    RAISE WARNING 'graphsync: could not bring replica capture in step with the subscriptions: %', SQLERRM
        USING HINT = 'Run graph.reconcile(); graph.sync_health() shows the missing or stray triggers.';
END;
$$;

COMMENT ON FUNCTION graph._follow_subscription() IS
'Internal: event trigger function bringing the captured tables'' replica capture in step with the subscriptions (created, refreshed, dropped), in that transaction; never fails the command.';

-- Created, or re-created when an older install made it without DROP SUBSCRIPTION
-- (an event trigger's tags cannot be altered), and enabled ALWAYS.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e
               WHERE e.evtname = 'graphsync_follow_subscription'
                 AND e.evttags IS DISTINCT FROM '{CREATE SUBSCRIPTION,ALTER SUBSCRIPTION,DROP SUBSCRIPTION}') THEN
        DROP EVENT TRIGGER graphsync_follow_subscription;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = 'graphsync_follow_subscription') THEN
        CREATE EVENT TRIGGER graphsync_follow_subscription ON ddl_command_end
            WHEN TAG IN ('CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION', 'DROP SUBSCRIPTION')
            EXECUTE FUNCTION graph._follow_subscription();
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e
                   WHERE e.evtname = 'graphsync_follow_subscription' AND e.evtenabled = 'A') THEN
        ALTER EVENT TRIGGER graphsync_follow_subscription ENABLE ALWAYS;
    END IF;
END;
$$;
