-- graph.unschedule_maintenance(): remove this database's pg_cron job that
-- runs graph.run_scheduled_maintenance(). Returns false when there was none;
-- 55000 with a hint when pg_cron is not installed here. Admin only.
-- Touches: cron.job, graph._maintenance_schedule.
CREATE OR REPLACE FUNCTION graph.unschedule_maintenance()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed boolean := false;
    id bigint;
BEGIN
    PERFORM graph._require_admin();
    PERFORM graph._cron_check();
    FOR id IN EXECUTE 'SELECT j.jobid FROM cron.job AS j WHERE j.jobname = $1'
                      ' AND j.database = pg_catalog.current_database()' USING 'graphsync_maintenance'
    LOOP
        PERFORM cron.unschedule(id);
        DELETE FROM graph._maintenance_schedule AS m WHERE m.jobid = id;
        removed := true;
    END LOOP;
    RETURN removed;
END;
$$;

COMMENT ON FUNCTION graph.unschedule_maintenance() IS
'Remove the pg_cron job that runs graph.run_scheduled_maintenance() in this database; false when there was none. Admin only.';
