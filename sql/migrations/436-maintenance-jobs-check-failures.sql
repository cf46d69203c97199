-- 436-maintenance-jobs-check-failures: the tables a run's source check could not
-- read. The source check is per table (graph.verify()'s 'check_failed' rows): a
-- table whose read raises (a row filter that raises on one of its rows) is left
-- out and named while every other table is checked. Before, one such table made
-- graph.verify() raise, and the run recorded no check of any table.
--   check_failures  NULL: the run's check read every table (or no check ran);
--                   else a JSON array of {"table", "sqlstate", "message"}, one per
--                   table not checked, in the order they were read. The message
--                   may quote a row's values: sync_health() shows it to admins
--                   only. A run with check failures records the differences of
--                   the tables it read (differences NOT NULL), so migration 428's
--                   index finds it as a check.
ALTER TABLE graph._maintenance_jobs ADD COLUMN check_failures jsonb;

COMMENT ON COLUMN graph._maintenance_jobs.check_failures IS
'Tables the run''s source check could not read: [{table, sqlstate, message}] (NULL: none, or no check ran); the message is for admins only.';
