-- 370-sync-state-settled-xid: the replay cursor's snapshot names every transaction
-- that was running when it was taken (apply and build raise its xmax to an xid
-- assigned after it and list the xids from the old xmax up in its xip: a
-- snapshot's own xmax is the last completed xid + 1, and a transaction running
-- above it, unnamed, could hold log ids below rows the snapshot saw, which reads
-- then missed until the next apply). The transaction that took the snapshot is
-- named too; it commits before anyone reads the snapshot, and the "nothing
-- pending" tests (graph._read_sync, the reads' START) would take it for a
-- transaction whose rows are pending at every read until the next apply.
--
-- graph._sync_state:
--   settled_xid  the transaction (xid8 as bigint) named in done_snapshot's xip
--                that holds no pending log row at or below applied_sync_id: the
--                apply that took the snapshot and had written no log row before
--                it (its later rows take higher ids), or the build (its rows up
--                to build_position are in the base). The "nothing pending" tests
--                pass it by; the lookups of pending rows need not. NULL: none.
ALTER TABLE graph._sync_state
ADD COLUMN settled_xid bigint;

COMMENT ON COLUMN graph._sync_state.settled_xid IS
'The transaction named in done_snapshot''s xip (the one that took it) that holds no pending log row at or below applied_sync_id; NULL: none.';
