-- graph._applied_snapshot_now(after): the applied snapshot
-- (graph._sync_state.done_snapshot) as a snapshot taken now sees it. VOLATILE
-- PL/pgSQL: under READ COMMITTED its query takes its own snapshot, later than the
-- calling statement's, and its plan is kept for the session (a SQL function's
-- body would be planned anew on every read). A read's START
-- statement (reads/start.py) calls it, with a result of the freshness step
-- graph._read_sync as ``after`` (so it runs after that step), when that step
-- counted nothing pending: an applied snapshot other than the one START's own
-- snapshot sees means an apply committed in between (on a hot standby: its
-- replay), and START then reads the pending rows its own snapshot sees. Runs as
-- the caller (every role may SELECT graph._sync_state). Reads: graph._sync_state.
CREATE OR REPLACE FUNCTION graph._applied_snapshot_now(after boolean)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT s.done_snapshot::text FROM graph._sync_state AS s);
END;
$$;

COMMENT ON FUNCTION graph._applied_snapshot_now(boolean) IS
'Internal (reads): the applied snapshot as a new snapshot sees it, for a read to tell whether an apply committed since its start.';
