-- 200-sync-log-xid-index: a btree index of graph._sync_log on xid, for the rows of
-- one transaction. A read finds the pending log rows (graph._pending_log) by id
-- above applied_sync_id, and by xid for the few transactions the applied snapshot
-- counted as running that committed since (their rows can have lower ids). The
-- BRIN index on xid (migration 001) leaves its newest ranges unsummarized until a
-- vacuum: a lookup of one transaction through it rechecked every row of those
-- ranges, thousands per read under writes. xid grows with the log, so this index
-- grows at its right edge, as the primary key's does.
CREATE INDEX _sync_log_xid_idx ON graph._sync_log (xid);
