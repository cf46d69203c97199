-- 265-read-sync-applied-snapshot: graph._read_sync also returns applied_snapshot,
-- the applied snapshot as the snapshot that counted the pending rows saw it, so a
-- read's START statement tells whether an apply committed after its own snapshot
-- without a call of its own (graph._applied_snapshot_now, which nothing calls any
-- more, goes); and it takes a third argument, warn (default true), so the statement
-- a read at rest starts with does not warn about rows that the read's next
-- statement warns about (reads/start.py). A function's arguments and result
-- columns cannot be changed in place: the old one goes here, the function file
-- creates the new one.
DROP FUNCTION IF EXISTS graph._read_sync(boolean, regrole);
DROP FUNCTION IF EXISTS graph._applied_snapshot_now(boolean);
