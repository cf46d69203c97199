-- 291-one-capture-generator-name: graph._write_replica_capture(tbl) was only
-- another name for graph._write_capture(tbl, per_row => true), the one capture
-- generator. Its callers (the schema change follower,
-- plpython/graphsync/ops/follow.py) call the generator; the name goes, and with it
-- a SECURITY DEFINER function to own, grant and audit.
DROP FUNCTION IF EXISTS graph._write_replica_capture(oid);
