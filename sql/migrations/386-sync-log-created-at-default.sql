-- 386-sync-log-created-at-default: graph._sync_log.created_at defaults to
-- CURRENT_TIMESTAMP instead of now(): the same value (the writer's transaction
-- start), but the SQL value function is evaluated directly, where a function call
-- is looked up and permission-checked each time a statement that inserts a log row
-- starts, which is every captured write of a registered table: about 1,000
-- instructions per single-row INSERT, UPDATE or DELETE of the capture benchmark
-- (benchmarks/CAPTURE.md).
ALTER TABLE graph._sync_log ALTER COLUMN created_at SET DEFAULT current_timestamp;
