-- 427-maintenance-jobs-verified-index: the runs that checked the sources
-- (differences NOT NULL), indexed by themselves. graph._maintenance_jobs keeps
-- graph.job_retention of runs (7 days: some 10,000 rows at a job a minute), and a
-- source check runs at most every graph.verify_interval, never while rows are
-- pending, never with verify_interval = off. sync_health() finds the latest run
-- that checked (last_verify_at) newest first by job_id, and maintenance whether one
-- checked within the interval: both read every run back to that one, the whole
-- history when none did, at every call. This index holds only the runs that checked.
CREATE INDEX _maintenance_jobs_verified_idx ON graph._maintenance_jobs (job_id) WHERE differences IS NOT NULL;
