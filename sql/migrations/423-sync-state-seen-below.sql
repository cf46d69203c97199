-- 423-sync-state-seen-below: the applied snapshot as to the log rows it sees, so that a
-- read keeps its folded view across an apply that began after the view's last read.
--
-- An apply's snapshot is completed before it is kept (db.complete_snapshot): its xmax is
-- raised to an xid assigned after it was taken, and every xid in between that can hold a
-- log row (committed, running, this transaction's own) is named in its xip. The xids left
-- unnamed -- the apply's own subtransactions, rolled-back transactions -- count as visible
-- though they hold no log row. A reader whose kept folded view was read before those
-- xids were assigned does not see them, so the test that the apply applied only rows the
-- view holds (reads/freshness.py, rekeyed: every transaction the applied snapshot sees is
-- one the view's snapshot sees) failed, and the read copied the applied graph and folded
-- every pending row again: about one kept view in two with an applier every 100 ms under
-- 200 commits/s (issue 9, benchmarks/READS_UNDER_WRITES.md).
--
-- graph._sync_state:
--   done_seen_below    done_snapshot's xmax as it was taken, before it was completed: cut
--                      there (db.seen_below) it sees the same log rows. Set with
--                      done_snapshot by an apply that finishes a pass (the pass's
--                      target_seen_below) and by a build. NULL (as after this migration,
--                      until the next apply or build): not known, the snapshot is used
--                      whole (a kept view may be refused, never wrongly taken).
--   target_seen_below  the same for target_snapshot, the pass under way
ALTER TABLE graph._sync_state
ADD COLUMN done_seen_below bigint,
ADD COLUMN target_seen_below bigint;

COMMENT ON COLUMN graph._sync_state.done_seen_below IS
'done_snapshot''s xmax as taken, before it was completed: cut there it sees the same log rows (NULL: not known).';

COMMENT ON COLUMN graph._sync_state.target_seen_below IS
'The same for target_snapshot, the pass under way.';
