-- 414-sync-state-applied-time: when the applied graph's snapshot was taken, so that
-- a read may accept an applied graph that is recent enough (graph.max_staleness,
-- reads/start.py) instead of applying or folding the rows committed since.
--
-- graph._sync_state:
--   done_at    a time at or before done_snapshot was taken: every row committed
--              before it is applied. Set with done_snapshot: the apply that finishes a
--              pass gives it the pass's target_at, a build its transaction's start.
--              NULL (as after this migration, until the next apply or build): unknown,
--              and no read takes the applied graph for recent.
--   target_at  the same for target_snapshot, the pass under way (the start of the
--              transaction that took it)
ALTER TABLE graph._sync_state
ADD COLUMN done_at timestamptz,
ADD COLUMN target_at timestamptz;

COMMENT ON COLUMN graph._sync_state.done_at IS
'A time at or before done_snapshot was taken: every row committed before it is applied (NULL: unknown).';

COMMENT ON COLUMN graph._sync_state.target_at IS
'A time at or before target_snapshot (the pass under way) was taken.';
