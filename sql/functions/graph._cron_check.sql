-- graph._cron_check(): raise 55000, with a hint saying what a DBA must do,
-- unless pg_cron is installed in this database, and 42501 with the GRANT to
-- ask for when the caller may not use schema cron (pg_cron grants no USAGE on
-- it: a non-superuser admin needs GRANT USAGE ON SCHEMA cron TO graph_admin);
-- return its version.
CREATE OR REPLACE FUNCTION graph._cron_check()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text;
    cron_db text;
    preload text;
BEGIN
    SELECT e.extversion INTO version FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron';
    IF version IS NOT NULL THEN
        IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
            RAISE EXCEPTION 'permission denied for schema cron: % may not schedule pg_cron jobs', current_user
                USING ERRCODE = '42501',
                HINT = format('A superuser runs, in database %s: GRANT USAGE ON SCHEMA cron TO graph_admin;',
                              current_database());
        END IF;
        RETURN version;
    END IF;
    BEGIN  -- only superusers may examine these settings
        cron_db := current_setting('cron.database_name', true);
        preload := coalesce(current_setting('shared_preload_libraries', true), '');
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database() USING ERRCODE = '55000',
            HINT = format('A superuser must preload pg_cron (shared_preload_libraries), set cron.database_name = %L, '
                          'restart, and run CREATE EXTENSION pg_cron in that database.', current_database());
    END;
    IF NOT preload ~ '(^|[ ,])pg_cron($|[ ,])' THEN
        RAISE EXCEPTION 'pg_cron is not available on this server' USING ERRCODE = '55000',
            HINT = format('Install pg_cron (Debian: postgresql-15-cron), add it to shared_preload_libraries, '
                          'set cron.database_name = %L in postgresql.conf, restart, then run '
                          'CREATE EXTENSION pg_cron in that database.', current_database());
    END IF;
    IF cron_db IS DISTINCT FROM current_database() THEN
        RAISE EXCEPTION 'pg_cron runs jobs from database %, not %', coalesce(cron_db, 'postgres'), current_database()
            USING ERRCODE = '55000',
            HINT = format('Set cron.database_name = %L and restart, or in database %s run: '
                          'SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                          current_database(), coalesce(cron_db, 'postgres'), 'graphsync_maintenance',
                          '* * * * *', 'SELECT graph.run_scheduled_maintenance()', current_database());
    END IF;
    RAISE EXCEPTION 'pg_cron is not installed in database %', current_database() USING ERRCODE = '55000',
        HINT = 'Run CREATE EXTENSION pg_cron (as a superuser) in this database.';
END;
$$;

COMMENT ON FUNCTION graph._cron_check() IS
'The installed pg_cron version; 55000 with what to do when pg_cron is not usable in this database.';
