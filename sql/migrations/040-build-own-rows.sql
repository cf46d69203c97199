-- 040-build-own-rows: a build inside a transaction that wrote to registered
-- tables does not replay those writes again.
--
-- build() reads the sources in the caller's transaction, so the read sees that
-- transaction's own writes; the snapshot it stores as done_snapshot counts the
-- transaction as still in progress, so that the writes it makes after the build
-- are replayed once it commits. Its log rows from before the read are then both
-- in the base and pending: replay would apply them a second time (an edge
-- counted twice, a cut made twice). The build records which rows its read
-- already holds, and replay (sync/apply.py), graph._pending_log() and the reads
-- that fold pending rows skip them.
--
-- New columns of graph._sync_state:
--   build_xid       the transaction that ran the last build (xid8 as bigint;
--                   0: the build's transaction had written no log row)
--   build_position  the highest log id that transaction had written when the
--                   build read the sources: its rows up to this id are in the base
ALTER TABLE graph._sync_state
ADD COLUMN build_xid bigint NOT NULL DEFAULT 0,
ADD COLUMN build_position bigint NOT NULL DEFAULT 0;
