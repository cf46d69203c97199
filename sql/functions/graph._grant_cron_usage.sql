-- graph._grant_cron_usage(): event trigger function (graphsync_cron_usage, on
-- CREATE EXTENSION): when pg_cron has just been created in this database, let
-- graph_sync, the owner of graph.sync_health(), use schema cron, so health can
-- read whether the maintenance job runs (sql/privileges.sql grants the same when
-- pg_cron is there before graphsync). It runs as the role creating the
-- extension (a superuser, for pg_cron); when that role cannot grant it, a
-- WARNING says what to run, and the extension is created all the same.
-- This file also creates the event trigger when it is missing, enabled ALWAYS.
CREATE OR REPLACE FUNCTION graph._grant_cron_usage()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron')
       AND EXISTS (SELECT FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'cron')
       AND NOT pg_catalog.has_schema_privilege('graph_sync', 'cron', 'USAGE') THEN
        BEGIN
            GRANT USAGE ON SCHEMA cron TO graph_sync;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'graphsync: graph.sync_health() cannot see pg_cron''s jobs'
                USING HINT = 'As a superuser, run: GRANT USAGE ON SCHEMA cron TO graph_sync;';
        END;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._grant_cron_usage() IS
'Internal (event trigger on CREATE EXTENSION): let graph_sync, which owns graph.sync_health(), read pg_cron''s jobs.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = 'graphsync_cron_usage') THEN
        CREATE EVENT TRIGGER graphsync_cron_usage ON ddl_command_end WHEN TAG IN ('CREATE EXTENSION')
        EXECUTE FUNCTION graph._grant_cron_usage();
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e
                   WHERE e.evtname = 'graphsync_cron_usage' AND e.evtenabled = 'A') THEN
        ALTER EVENT TRIGGER graphsync_cron_usage ENABLE ALWAYS;
    END IF;
END;
$$;
