-- 421-locks: graph._locks, one row per critical section of graphsync's own, which
-- its code locks (SELECT ... FOR UPDATE) where it took advisory locks before:
--   capture      capture generation (graph._write_capture), which lends
--                graph_capture CREATE on schema graph for a moment
--   maintenance  one maintenance, vacuum or reconcile run at a time
--                (plpython/graphsync/ops/jobs.py)
-- Any role that may connect may take any advisory lock: a role with no right on
-- anything of graphsync's that held 7420152 kept every schema change of a
-- registered table waiting (the DDL follower regenerates capture), and one that
-- held (7420151, 4) made every scheduled maintenance run 'skipped' and vacuum and
-- reconcile wait. Locking a row takes UPDATE on one of its table's columns:
-- graph_admin (and through its membership graph_sync) may UPDATE held_by alone,
-- and neither insert, delete nor rename a row (sql/privileges.sql), so no admin's
-- mistake leaves a critical section without its row (a missing row would lock
-- nothing, and a run that finds it locked is skipped). held_by is never written.
CREATE TABLE graph._locks (name text PRIMARY KEY, held_by text);
INSERT INTO graph._locks (name) VALUES ('capture'), ('maintenance');

COMMENT ON TABLE graph._locks IS
'The rows graphsync locks for its critical sections (capture generation, maintenance runs): migration 421.';
