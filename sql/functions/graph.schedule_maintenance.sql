-- graph.schedule_maintenance(every): have pg_cron call
-- graph.run_scheduled_maintenance() in this database every interval ('1
-- minute', '5 minutes', '2 hours', '1 day'; '30 seconds' needs pg_cron 1.5)
-- or on a cron schedule ('*/10 * * * *'), as the calling role (which must be
-- able to log in: 55000 otherwise). Calling it again changes the schedule.
-- 55000 with a hint when pg_cron is not installed here, 42501 with the GRANT
-- to ask for when the caller may not use schema cron. Records the job and
-- when it was scheduled in graph._maintenance_schedule, so sync_health() can
-- tell a job that never runs from one that has not run yet. A NOTICE reminds
-- that without cron.use_background_workers pg_cron connects over libpq and
-- needs a connection that asks no password. Admin only. Returns the cron job
-- id. Touches: cron.job, graph._maintenance_schedule.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.schedule_maintenance(every text DEFAULT '1 minute')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version text;
    schedule text;
    secs numeric;
    job bigint;
    workers text;
    host text;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    version := graph._cron_check();
    IF NOT (SELECT r.rolcanlogin FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'pg_cron runs the job as %, which cannot log in', current_user USING ERRCODE = '55000',
            HINT = 'Schedule it as a member of graph_admin that can log in, or ALTER ROLE '
                   || quote_ident(current_user) || ' LOGIN.';
    END IF;
    IF every ~ '^\s*\S+(\s+\S+){4}\s*$' OR every ~ '^\s*@' THEN
        schedule := btrim(every);
    ELSE
        BEGIN
            secs := extract(EPOCH FROM every::interval);
        EXCEPTION WHEN invalid_datetime_format OR syntax_error THEN
            RAISE EXCEPTION 'every must be an interval or a cron schedule, not %', quote_literal(every)
                USING ERRCODE = '22023';
        END;
        schedule := CASE
            WHEN secs >= 1 AND secs < 60 AND secs = trunc(secs)
                 AND string_to_array(split_part(version, '-', 1), '.')::int [] >= '{1,5}'
                THEN format('%s seconds', secs::int)
            WHEN secs = 60 THEN '* * * * *'
            WHEN secs > 60 AND secs < 3600 AND secs % 60 = 0 THEN format('*/%s * * * *', (secs / 60)::int)
            WHEN secs = 3600 THEN '0 * * * *'
            WHEN secs > 3600 AND secs < 86400 AND secs % 3600 = 0 THEN format('0 */%s * * *', (secs / 3600)::int)
            WHEN secs = 86400 THEN '0 0 * * *'
        END;
        IF schedule IS NULL THEN
            RAISE EXCEPTION 'pg_cron % cannot run a job every %', version, every USING ERRCODE = '22023',
                HINT = 'Use whole minutes below an hour, whole hours below a day, 1 day, a cron schedule, '
                       'or (pg_cron 1.5 and later) 1 to 59 seconds.';
        END IF;
    END IF;
    job := cron.schedule('graphsync_maintenance', schedule, 'SELECT graph.run_scheduled_maintenance()');
    DELETE FROM graph._maintenance_schedule AS m
    WHERE NOT EXISTS (SELECT FROM cron.job AS j WHERE j.jobid = m.jobid) AND m.scheduled_by = current_user;
    INSERT INTO graph._maintenance_schedule AS m (jobid, schedule) VALUES (job, schedule)
    ON CONFLICT (jobid) DO UPDATE SET schedule = excluded.schedule, scheduled_at = excluded.scheduled_at,
        scheduled_by = excluded.scheduled_by
    WHERE m.schedule IS DISTINCT FROM excluded.schedule;
    BEGIN  -- pg_cron lets only superusers examine its settings
        workers := coalesce(current_setting('cron.use_background_workers', true), 'off');
        host := coalesce(nullif(current_setting('cron.host', true), ''), 'localhost');
    EXCEPTION WHEN insufficient_privilege THEN
        workers := NULL;
    END;
    IF workers = 'off' THEN
        RAISE NOTICE 'pg_cron will connect to % over libpq as % to run job %', host, current_user, job
            USING HINT = 'Unless that connection needs no password, the job fails: set '
                         'cron.use_background_workers = on (README: pg_cron setup); '
                         'graph.sync_health() shows whether it runs.';
    END IF;
    RETURN job;
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

COMMENT ON FUNCTION graph.schedule_maintenance(text) IS
'Schedule graph.run_scheduled_maintenance() with pg_cron every interval (default 1 minute) or on a cron schedule; returns the cron job id. Admin only.';
