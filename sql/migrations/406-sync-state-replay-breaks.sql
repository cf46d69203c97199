-- 406-sync-state-replay-breaks: a count of the graph changes that are not the
-- in-order replay of pending log rows, so that a read's folded view can be kept
-- across an apply (reads/freshness.py, "re-keyed").
--
-- A backend that folded pending rows X onto the applied graph, and then sees an apply
-- of rows A that it had folded already (A within X), holds the new applied graph plus
-- the rest of X: it keeps that view and folds only the rows committed since. That
-- holds only while the graph tables change by replaying pending rows in order. A row
-- replay records as failed (its edges are not written, though a fold took them) and a
-- failed row applied later by graph.retry_failed() (written, though no read folds it:
-- it is not pending) are the exceptions; each one bumps replay_breaks, which a read
-- compares (reads/start.py's lineage key) before keeping its view.
--
-- graph._sync_state:
--   replay_breaks  bumped, in the apply's or retry's transaction, each time a log
--                  row's error is recorded or cleared (apply.RECORD_ERROR)
ALTER TABLE graph._sync_state
ADD COLUMN replay_breaks bigint NOT NULL DEFAULT 0;

COMMENT ON COLUMN graph._sync_state.replay_breaks IS
'Bumped each time replay or retry records or clears a log row''s error: a read keeps a folded view across an apply only while it stays.';
