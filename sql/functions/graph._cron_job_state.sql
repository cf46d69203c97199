-- graph._cron_job_state(): whether the pg_cron job that runs
-- graph.run_scheduled_maintenance() in this database actually runs, from
-- pg_cron's own records (cron.job, cron.job_run_details). One row:
--   state    not_scheduled  no such job (or pg_cron is not installed here)
--            ok             its last run succeeded within three intervals of
--                           its schedule, or a run is under way
--            waiting        scheduled less than three intervals ago, no run yet
--            failing        its last finished run failed (error says why)
--            late           no successful run for more than three intervals
--            never_ran      scheduled more than three intervals ago, never ran
--            inactive       the job exists but is switched off
--            unknown        pg_cron's tables cannot be read by this role
--   jobid, schedule, last_success_at (end of the last successful run),
--   error (pg_cron's message of the last failed run, or why unknown),
--   action (what to fix; NULL when state is ok, waiting or not_scheduled).
-- One interval is the longest gap the schedule allows between two runs,
-- judged field by field ('*/5 * * * *': 5 minutes; '0 3 * * *': 1 day). With
-- several such jobs (scheduled by different roles) the worst one is reported.
-- Such a job is one named graphsync_maintenance, in this database, that runs
-- graph.run_scheduled_maintenance() (its command, spaces, semicolons and case
-- aside) as a superuser or a member of graph_admin: any role with USAGE on schema
-- cron may name a job of its own so, and its runs' messages reached every admin's
-- health, or its runs said 'ok' where no maintenance was scheduled
-- (tests/test_cron.py).
-- With cron.log_run = off pg_cron records no runs; the scheduled job rows of
-- graph._maintenance_jobs run by the job's role count as its runs then.
-- SECURITY DEFINER, owned by graph_sync (BYPASSRLS), so health and every
-- admin's maintenance run judge the job alike: pg_cron's row-level security
-- shows anyone else only their own jobs. row_security = off turns a view that
-- would be narrowed into an error, so a role that cannot read every job (or
-- lacks USAGE on schema cron) gets state 'unknown', never a silent
-- not_scheduled or ok. pg_cron's message (error, and action, which quotes it)
-- is for admins only: only graph_admin (and graph_sync, its owner) may EXECUTE
-- this function, and it hides both from a session user outside graph_admin
-- (graph._session_is_admin: a mistaken GRANT EXECUTE reveals nothing);
-- graph._health hides them from every caller that is no admin (migration 285).
-- Reads: cron.job, cron.job_run_details, graph._maintenance_schedule,
-- graph._maintenance_jobs.
CREATE OR REPLACE FUNCTION graph._cron_job_state(
    OUT state text,
    OUT jobid bigint,
    OUT schedule text,
    OUT last_success_at timestamptz,
    OUT error text,
    OUT action text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET row_security = off
AS $$
DECLARE
    ranks constant text [] := ARRAY['not_scheduled', 'ok', 'waiting', 'unknown', 'inactive', 'late',
                                    'never_ran', 'failing'];
    j record;
    f text [];
    gap interval;
    since timestamptz;
    last_runid bigint;
    last_status text;
    last_message text;
    running boolean;
    s_state text;
    s_success timestamptz;
    s_error text;
    s_action text;
    log_run boolean := true;
BEGIN
    state := 'not_scheduled';
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron') THEN
        RETURN;
    END IF;
    BEGIN
        -- pg_cron lets only superusers examine its settings; it logs runs by default
        log_run := coalesce(pg_catalog.current_setting('cron.log_run', true), 'on') <> 'off';
    EXCEPTION WHEN insufficient_privilege THEN
        log_run := true;
    END;
    BEGIN
        FOR j IN
            SELECT c.jobid, c.schedule, c.username, c.active, m.scheduled_at
            FROM cron.job AS c
            LEFT JOIN graph._maintenance_schedule AS m ON m.jobid = c.jobid AND m.schedule = c.schedule
            WHERE c.jobname = 'graphsync_maintenance' AND c.database = pg_catalog.current_database()
              AND pg_catalog.regexp_replace(pg_catalog.lower(c.command), '[[:space:];]+', '', 'g')
                  = 'selectgraph.run_scheduled_maintenance()'
              AND EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                          WHERE r.rolname = c.username
                            AND (r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'graph_admin', 'MEMBER')))
            ORDER BY c.jobid
        LOOP
            s_success := NULL; s_error := NULL; s_action := NULL;
            -- the longest gap between two runs the schedule allows
            f := regexp_split_to_array(btrim(j.schedule), '\s+');
            gap := CASE
                WHEN j.schedule ~ '^\s*\d+\s+seconds?\s*$' THEN make_interval(secs => substring(j.schedule FROM '\d+')::int)
                WHEN j.schedule ~ '^\s*@(yearly|annually)' THEN interval '366 days'
                WHEN j.schedule ~ '^\s*@monthly' THEN interval '31 days'
                WHEN j.schedule ~ '^\s*@weekly' THEN interval '7 days'
                WHEN j.schedule ~ '^\s*@(daily|midnight)' THEN interval '1 day'
                WHEN j.schedule ~ '^\s*@hourly' THEN interval '1 hour'
                WHEN cardinality(f) <> 5 THEN NULL  -- @reboot, or nothing we can read
                WHEN f[4] <> '*' THEN interval '366 days'
                WHEN f[3] <> '*' THEN interval '31 days'
                WHEN f[5] <> '*' THEN interval '7 days'
                WHEN f[2] ~ '^\*/\d+$' THEN make_interval(hours => substring(f[2] FROM '\d+')::int)
                WHEN f[2] <> '*' THEN interval '1 day'
                WHEN f[1] = '*' THEN interval '1 minute'
                WHEN f[1] ~ '^\*/\d+$' THEN make_interval(mins => substring(f[1] FROM '\d+')::int)
                ELSE interval '1 hour'
            END;
            IF log_run THEN
                -- pg_cron keeps every run until someone deletes them, and runs a job's
                -- runs one after another: its last runs are found newest first by the
                -- primary key (runid), never by reading the whole history.
                SELECT r.runid, r.status, r.return_message, r.end_time
                INTO last_runid, last_status, last_message, s_success
                FROM cron.job_run_details AS r
                WHERE r.jobid = j.jobid AND r.status IN ('succeeded', 'failed')
                ORDER BY r.runid DESC LIMIT 1;
                IF last_status IS DISTINCT FROM 'succeeded' THEN
                    SELECT r.end_time INTO s_success
                    FROM cron.job_run_details AS r
                    WHERE r.jobid = j.jobid AND r.status = 'succeeded'
                    ORDER BY r.runid DESC LIMIT 1;
                END IF;
                -- a run under way (this very backend, when pg_cron runs maintenance now),
                -- started after the last run that finished
                SELECT max(r.start_time) INTO since
                FROM cron.job_run_details AS r
                WHERE r.runid > coalesce(last_runid, 0) AND r.jobid = j.jobid
                  AND r.status IN ('starting', 'connecting', 'sending', 'running');
                running := since IS NOT NULL;
            ELSE
                last_status := NULL;
                SELECT max(m.finished_at) INTO s_success
                FROM graph._maintenance_jobs AS m
                WHERE m.kind = 'scheduled' AND m.run_by = j.username AND m.status <> 'failed';
                running := false;
            END IF;
            since := greatest(s_success, j.scheduled_at, since);
            IF NOT j.active THEN
                s_state := 'inactive';
                s_action := format('the pg_cron job %s that runs graphsync maintenance is inactive: '
                                   'SELECT cron.alter_job(%s, active => true), or graph.unschedule_maintenance()',
                                   j.jobid, j.jobid);
            ELSIF last_status = 'failed' AND NOT running THEN
                s_state := 'failing';
                s_error := last_message;
                s_action := format('pg_cron job %s fails (%s): ', j.jobid, s_error) || CASE
                    WHEN s_error ~* 'connection failed|could not connect|password|authentication|pg_hba'
                        THEN 'pg_cron cannot connect to the server to run it; set cron.use_background_workers = on '
                             '(and max_worker_processes high enough) in postgresql.conf and restart, or let the '
                             'job''s role ' || quote_ident(j.username) || ' connect to cron.host without a '
                             'password prompt (~/.pgpass of the server''s OS user)'
                    WHEN s_error ~* 'background worker|background process'
                        THEN 'raise max_worker_processes (pg_cron''s workers count against it) and restart'
                    WHEN s_error ~* 'not permitted to log in'
                        THEN format('ALTER ROLE %I LOGIN, or schedule it as a role that can log in', j.username)
                    ELSE 'fix the cause (cron.job_run_details has every run)'
                END;
            ELSIF gap IS NOT NULL AND NOT running AND since IS NOT NULL
                  AND since < pg_catalog.now() - 3 * gap THEN
                s_state := CASE WHEN s_success IS NULL THEN 'never_ran' ELSE 'late' END;
                s_action := format('pg_cron has %s job %s (%s) %s: check that pg_cron runs '
                                   '(shared_preload_libraries, cron.database_name = %L) and the server log',
                                   CASE WHEN s_success IS NULL THEN 'never run' ELSE 'not run' END,
                                   j.jobid, j.schedule,
                                   CASE WHEN s_success IS NULL THEN 'since it was scheduled at ' || j.scheduled_at
                                        ELSE 'successfully since ' || s_success END,
                                   pg_catalog.current_database());
            ELSIF s_success IS NULL AND NOT running THEN
                s_state := 'waiting';
            ELSE
                s_state := 'ok';
            END IF;
            IF array_position(ranks, s_state) > array_position(ranks, state) THEN
                state := s_state;
                jobid := j.jobid;
                schedule := j.schedule;
                last_success_at := s_success;
                error := s_error;
                action := s_action;
            END IF;
        END LOOP;
    EXCEPTION WHEN insufficient_privilege THEN
        state := 'unknown';
        error := SQLERRM;
        action := format('whether scheduled maintenance runs is unknown: role %I cannot read every row of '
                         'pg_cron''s job tables (%s)', current_user, SQLERRM);
    END;
    IF error IS NOT NULL AND NOT graph._session_is_admin() THEN
        error := 'details visible to graph_admin';
        action := format('scheduled maintenance: pg_cron job %s is %s; graph_admin sees why',
                         coalesce(jobid::text, '(unknown)'), state);
    END IF;
    RETURN;
END;
$$;

COMMENT ON FUNCTION graph._cron_job_state() IS
'Whether the pg_cron job running graph maintenance here really runs: state, job, schedule, last success, error, what to fix (internal).';
