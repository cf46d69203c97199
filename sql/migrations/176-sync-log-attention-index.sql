-- 176-sync-log-attention-index: one partial index of graph._sync_log where there were
-- two (migration 010). A captured row matches neither predicate, yet each index
-- of the log is opened, described and has its predicate planned in every statement
-- that inserts a log row, which is every single-row write of a registered table.
-- The one index, over the rows that failed replay and the TRUNCATE rows waiting
-- for a rebuild, answers both kinds of query (retry_failed, maintenance, health:
-- WHERE error_message IS NOT NULL; build: WHERE needs_vacuum): a clause implies an
-- OR of which it is one arm, and the planner filters the few rows of the other.
CREATE INDEX _sync_log_attention_idx ON graph._sync_log (id) WHERE error_message IS NOT NULL OR needs_vacuum;
DROP INDEX graph._sync_log_failed_idx;
DROP INDEX graph._sync_log_vacuum_idx;
