-- graph._write_replica_capture(tbl): (re)generate the row-level capture
-- function of table tbl, graph._capture_row_<oid>, which captures the rows a
-- logical replication subscription applies to tbl; drop it (and with it the
-- triggers that call it) when tbl is no longer registered. Returns whether it
-- exists now. The one generator of capture SQL is graph._write_capture(tbl,
-- per_row => true), which documents the row-level function; this is its name
-- for the row level, kept for graph._install_capture and the schema change
-- follower.
-- SECURITY DEFINER owned by graph_sync like the generator, which checks its
-- session user (a graph_admin member, or the owner of tbl).
-- Touches: the function graph._capture_row_<oid> (and, when dropped, its triggers).
CREATE OR REPLACE FUNCTION graph._write_replica_capture(tbl oid)
RETURNS boolean
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT graph._write_capture(tbl, true)
$$;

COMMENT ON FUNCTION graph._write_replica_capture(oid) IS
'Internal: (re)generate a table''s row-level capture function for logical replication''s apply worker, owned by graph_capture, or drop it when the table is no longer registered; whether it exists.';
