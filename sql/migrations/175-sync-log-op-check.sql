-- 175-sync-log-op-check: graph._sync_log loses the CHECK on op (migration 001).
-- Every single-row write of a registered table inserts one log row, and
-- PostgreSQL reads and plans a table's CHECK expressions again in each statement
-- that inserts into it: measured with the capture benchmark's single-row
-- INSERT, about a sixth of what capture added. Only the generated capture
-- functions (owned by graph_capture, the one role besides the graph admin that
-- may insert into the log) write op, and each writes one of 'I', 'U', 'D' and
-- 'T' as the comment of migration 001 documents; replay refuses a row with any
-- other op, as before.
ALTER TABLE graph._sync_log DROP CONSTRAINT IF EXISTS _sync_log_op_check;
