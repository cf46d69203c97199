-- graph._require_admin(): raise 42501 unless the caller is a superuser or a
-- member of graph_admin, then 25006 (with a hint) on a hot standby or in a
-- read-only transaction: every admin-only function writes the graph, the log,
-- the registry or job rows, and calls it first. plpython/graphsync/db.py
-- (require_admin) makes the same checks, with the same messages, for the
-- functions written in Python.
CREATE OR REPLACE FUNCTION graph._require_admin()
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', current_user
            USING ERRCODE = '42501';
    END IF;
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE EXCEPTION 'graphsync: cannot change the graph on a hot standby'
            USING ERRCODE = '25006',
                  HINT = 'Run graphsync''s admin functions (apply_sync, build, maintenance, registration) on'
                      ' the primary: the standby''s graph follows the primary''s by replication, and reads'
                      ' here fold pending log rows in memory.';
    END IF;
    IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
        RAISE EXCEPTION 'graphsync: cannot change the graph in a read-only transaction'
            USING ERRCODE = '25006', HINT = 'Run it in a read-write transaction.';
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._require_admin() IS
'Internal: raise 42501 unless the caller is an admin, 25006 on a hot standby or in a read-only transaction.';
