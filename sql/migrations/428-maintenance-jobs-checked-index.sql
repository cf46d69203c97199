-- 428-maintenance-jobs-checked-index: the runs that checked the sources or whose
-- check failed, indexed by themselves (in place of migration 427's index of the
-- runs that checked). A source check that raises (a row filter that raises on some
-- row: graph.verify() raises) failed the run's verify phase and recorded no check,
-- so every later run found the check due again and read every source table in
-- full, a run a minute, for as long as the row was there. Maintenance now counts a
-- run whose verify phase failed as a check (it runs again after
-- graph.verify_interval) and finds the latest through this index; sync_health()'s
-- latest run that checked (differences NOT NULL) through it as well (that
-- condition implies this predicate).
CREATE INDEX _maintenance_jobs_checked_idx ON graph._maintenance_jobs (job_id)
WHERE differences IS NOT NULL OR (status = 'failed' AND phase = 'verify');

DROP INDEX graph._maintenance_jobs_verified_idx;
