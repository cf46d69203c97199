-- 310-sync-log-no-brin: graph._sync_log loses its BRIN index on xid (migration 001).
-- Since migration 200 a btree index on xid answers every query the BRIN served
-- (a range of xid: where a replay pass starts, the pending rows during a pass,
-- pruning; one transaction's rows: the reads, a build's own rows), each through
-- an exact scan where the BRIN rechecked every row of its unsummarized newest
-- ranges. What the BRIN still cost: every statement that logs a row (each captured
-- write of a registered table) opened it, inserted into it and summarized a range
-- when one filled, about 10,000 instructions per single-row statement of the
-- capture benchmark (benchmarks/CAPTURE.md), for no reader.
DROP INDEX graph._sync_log_xid_brin;
