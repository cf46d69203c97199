-- 050-maintenance-health: what health needs to tell whether maintenance really
-- runs, and a run status for runs that finished with work left undone.
-- Run once per database by install.py and recorded in graph._migrations.

-- A run that finished but left something it should have done: log rows that
-- failed, a rebuild blocked by schema drift, capture triggers to repair,
-- differences left after a rebuild, or a scheduled job that cannot run. Its
-- error column says what. 'failed' stays for a run whose phase raised.
ALTER TABLE graph._maintenance_jobs DROP CONSTRAINT _maintenance_jobs_status_check;
ALTER TABLE graph._maintenance_jobs ADD CONSTRAINT _maintenance_jobs_status_check
CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'skipped'));

-- One row per pg_cron job graph.schedule_maintenance() created or changed:
-- cron.job has no creation time, and health needs one to tell a job that has
-- not run yet from one that never runs.
--   jobid         cron.job.jobid
--   schedule      the cron schedule it was given
--   scheduled_at  when it was scheduled (or its schedule last changed)
--   scheduled_by  the role that scheduled it (the role pg_cron runs it as)
CREATE TABLE graph._maintenance_schedule (
    jobid bigint PRIMARY KEY,
    schedule text NOT NULL,
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    scheduled_by name NOT NULL DEFAULT current_user
);

COMMENT ON TABLE graph._maintenance_schedule IS
'When graph.schedule_maintenance() scheduled each pg_cron job, on which schedule and as whom; sync_health() uses it to tell a job that never ran.';

-- sync_health() gains columns on the scheduled job, and retry_failed() says
-- which rows still fail: their result types change, which CREATE OR REPLACE
-- cannot do. The install recreates both right after the migrations.
DROP FUNCTION IF EXISTS graph.sync_health();
DROP FUNCTION IF EXISTS graph.retry_failed();
