-- graph._enable_capture_trigger(tbl, trigger_name, always): enable one of
-- graphsync's own capture triggers on a registered table: ALTER TABLE tbl
-- ENABLE [ALWAYS] TRIGGER trigger_name. reconcile() repairs a disabled capture
-- trigger through it, so a graph_admin member who does not own the table (ALTER
-- TABLE needs ownership) can repair capture too.
-- Narrow on purpose, because it runs as its owner, the installing superuser
-- (only a superuser or the table's owner may alter a table, and graphsync owns
-- no one's tables): it refuses, with 42501, a session that is not a superuser
-- or a member of graph_admin (session_user: inside a SECURITY DEFINER function
-- current_user is the owner); and with 55000 a table graphsync does not
-- capture, a name that is not graphsync_capture_insert/update/delete/truncate
-- or graphsync_replica_capture_insert/update/delete, and a trigger of that name
-- that does not call the table's generated capture function graph._capture_<oid>
-- (graph._capture_row_<oid> for the replica ones, which are always enabled
-- REPLICA, whatever always says) (an impostor is reported by health, never
-- enabled). It runs no code a table owner controls: enabling a trigger reads
-- and writes the catalog only. Touches: pg_trigger of tbl.
CREATE OR REPLACE FUNCTION graph._enable_capture_trigger(tbl oid, trigger_name text, always boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    per_row boolean := trigger_name LIKE 'graphsync\_replica\_capture\_%';
    capture regprocedure := pg_catalog.to_regprocedure(
        format('graph.%I()', CASE WHEN per_row THEN '_capture_row_' ELSE '_capture_' END || tbl));
BEGIN
    IF NOT pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', session_user
            USING ERRCODE = '42501';
    END IF;
    IF trigger_name IS NULL OR trigger_name NOT IN ('graphsync_capture_insert', 'graphsync_capture_update',
                                                    'graphsync_capture_delete', 'graphsync_capture_truncate',
                                                    'graphsync_replica_capture_insert',
                                                    'graphsync_replica_capture_update',
                                                    'graphsync_replica_capture_delete') THEN
        RAISE EXCEPTION '% is not a graphsync capture trigger', quote_ident(trigger_name)
            USING ERRCODE = '55000';
    END IF;
    IF NOT EXISTS (SELECT FROM graph._captured_tables() AS t WHERE t.table_oid = tbl AND t.present) THEN
        RAISE EXCEPTION 'table % is not captured by graphsync', tbl USING ERRCODE = '55000';
    END IF;
    -- graphsync's trigger as graph._trigger_states expects it, whole: an admin's own
    -- trigger under the name, calling the capture function but with a WHEN clause of
    -- its own (or BEFORE, or arguments), enabled REPLICA here by the superuser, ran the
    -- admin's code as the apply worker's role (found in review; tests/test_replica.py)
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                   WHERE t.tgrelid = tbl AND t.tgname = trigger_name AND t.tgfoid = capture
                     AND NOT t.tgisinternal AND t.tgqual IS NULL AND t.tgnargs = 0
                     AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2 []) = 0
                     AND t.tgtype = CASE WHEN trigger_name LIKE '%\_insert' THEN 4
                                         WHEN trigger_name LIKE '%\_update' THEN 16
                                         WHEN trigger_name LIKE '%\_delete' THEN 8 ELSE 32 END
                                    + CASE WHEN per_row THEN 1 ELSE 0 END
                     AND t.tgoldtable IS NOT DISTINCT FROM
                         CASE WHEN NOT per_row AND trigger_name ~ '_(update|delete)$' THEN 'old_rows' END
                     AND t.tgnewtable IS NOT DISTINCT FROM
                         CASE WHEN NOT per_row AND trigger_name ~ '_(insert|update)$' THEN 'new_rows' END) THEN
        RAISE EXCEPTION 'trigger % on % is not graphsync''s capture trigger', quote_ident(trigger_name),
            tbl::regclass USING ERRCODE = '55000',
            HINT = 'graph.reconcile() installs capture triggers that are missing.';
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl::regclass,
                   CASE WHEN per_row THEN 'REPLICA' WHEN always THEN 'ALWAYS' ELSE '' END, trigger_name);
END;
$$;

COMMENT ON FUNCTION graph._enable_capture_trigger(oid, text, boolean) IS
'Internal: enable one of graphsync''s own capture triggers on a captured table, for a graph_admin member who does not own the table.';
