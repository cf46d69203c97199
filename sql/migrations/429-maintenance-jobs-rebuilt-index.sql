-- 429-maintenance-jobs-rebuilt-index: the runs that rebuilt and succeeded, indexed
-- by when they finished. graph.status()'s last_rebuild_by_maintenance_at is the
-- latest of those; without an index it read every row of graph._maintenance_jobs
-- (graph.job_retention of runs: a week of a job a minute is some 10,000) at every
-- call. Few runs rebuild, so the index is small and max(finished_at) reads one entry
-- of it.
CREATE INDEX _maintenance_jobs_rebuilt_idx ON graph._maintenance_jobs (finished_at)
WHERE rebuilt AND status = 'succeeded';
