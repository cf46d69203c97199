-- Replica capture only where it is wanted (README "Scaling out"): a captured
-- table carries the row-level capture of logical replication's apply worker
-- (graph._capture_row_<oid> and its triggers graphsync_replica_capture_*) only
-- when this database subscribes to it, or when an admin asked for it on every
-- captured table with graph.enable_replica_capture() (graph._replica_capture_wanted).
-- Registration so no longer generates a second function per table for every
-- database. install.py re-generates the capture of every registered table after
-- the migrations: the row functions and triggers of tables no subscription of
-- this database covers are dropped then, those of subscribed tables kept.
--
-- The one capture generator is graph._write_capture(tbl, per_row): the
-- one-argument form it replaces is dropped (the new one is created with the
-- functions, after the migrations).
DROP FUNCTION IF EXISTS graph._write_capture(oid);

-- graph._sync_state.replica_capture: whether every captured table carries replica
-- capture, subscribed or not (graph.enable_replica_capture(); false: only the
-- tables of this database's subscriptions do).
ALTER TABLE graph._sync_state ADD COLUMN replica_capture boolean NOT NULL DEFAULT false;
