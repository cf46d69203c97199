-- graph._follow_subscription(): the function of the event trigger
-- graphsync_follow_subscription (ddl_command_end of CREATE SUBSCRIPTION and
-- ALTER SUBSCRIPTION): gives every captured table that a subscription of this
-- database now applies to (graph._replica_capture_wanted) its replica capture,
-- in the transaction that created or refreshed the subscription, so the row
-- triggers are there before the apply worker applies its first change
-- (graph._install_capture, which generates graph._capture_row_<oid> and attaches
-- its triggers). A graph replica is made as README "Scaling out" says (register,
-- build, CREATE SUBSCRIPTION) with nothing more to call. Runs as the role that
-- ran the command (in PostgreSQL 15 a superuser: only superusers create
-- subscriptions). It never fails the command: an error (a cancel aside) becomes a
-- WARNING, and health then shows the subscribed tables' replica triggers missing
-- (trigger_missing), which graph.reconcile() installs.
-- Touches: the functions graph._capture_row_<oid>, pg_trigger of the tables.
CREATE OR REPLACE FUNCTION graph._follow_subscription()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbls oid [];
BEGIN
    SELECT coalesce(array_agg(t.table_oid ORDER BY t.table_oid), '{}') INTO tbls
    FROM graph._captured_tables() AS t
    WHERE t.present AND graph._replica_capture_wanted(t.table_oid)
      AND pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || t.table_oid)) IS NULL;
    IF tbls <> '{}' THEN
        PERFORM graph._install_capture(tbls);
    END IF;
EXCEPTION WHEN query_canceled THEN
    RAISE;
WHEN OTHERS THEN
    RAISE WARNING 'graphsync: could not install replica capture of the subscribed tables: %', SQLERRM
        USING HINT = 'Run graph.reconcile(); graph.sync_health() shows the missing triggers.';
END;
$$;

COMMENT ON FUNCTION graph._follow_subscription() IS
'Internal: event trigger function giving the captured tables a new or refreshed subscription applies to their replica capture, in that transaction; never fails the command.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = 'graphsync_follow_subscription') THEN
        CREATE EVENT TRIGGER graphsync_follow_subscription ON ddl_command_end
            WHEN TAG IN ('CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION')
            EXECUTE FUNCTION graph._follow_subscription();
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e
                   WHERE e.evtname = 'graphsync_follow_subscription' AND e.evtenabled = 'A') THEN
        ALTER EVENT TRIGGER graphsync_follow_subscription ENABLE ALWAYS;
    END IF;
END;
$$;
