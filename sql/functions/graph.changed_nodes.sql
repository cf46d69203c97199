-- graph.changed_nodes(since_sync_id, max_rows): the node changes applied after
-- position since_sync_id, in the order they were applied, at most max_rows of
-- them: what a client that missed notifications (NOTIFY graphsync) catches up
-- with. sync_id numbers what replay and rebuilds applied in commit order
-- (graph._change_log, migration 100; not a log id: a transaction that commits
-- late is applied, and numbered, after log rows with higher ids). node_id is
-- the node's key text as the reads return it; op is 'insert', 'update',
-- 'delete' (an update that changes the key is a delete of the old key and an
-- insert of the new; a row leaving or entering the table's row_filter a delete
-- or an insert) or 'truncate' (node_id NULL: every node of the table).
-- Continue from the last sync_id returned, or from a notification's
-- to_sync_id. Runs as the caller: only changes of registered node tables the
-- caller may SELECT, and whose row-level security does not apply to it (the
-- record cannot tell which rows a policy would show); admins see all.
-- Refuses NULL (22004), a negative max_rows or position, or a position past the
-- latest change (22023), and a position before graph._sync_state.change_horizon
-- (55000): the changes after it were pruned with the log, or a rebuild changed
-- more nodes than it records one by one (sync/notify.py); reload, then continue
-- from sync_health().last_change_sync_id.
-- Reads: graph._change_log (the view), graph._sync_state, graph._node_tables, the catalog.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.changed_nodes(
    since_sync_id bigint,
    max_rows integer DEFAULT 10000
)
RETURNS TABLE (sync_id bigint, node_table regclass, node_id text, op text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    visible oid [];
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    IF since_sync_id IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION 'graphsync: % must not be NULL', CASE WHEN since_sync_id IS NULL THEN 'since_sync_id'
                                                             ELSE 'max_rows' END
            USING ERRCODE = '22004';
    END IF;
    IF max_rows < 0 OR since_sync_id < 0 THEN
        RAISE EXCEPTION 'graphsync: % must be >= 0, not %',
            CASE WHEN max_rows < 0 THEN 'max_rows' ELSE 'since_sync_id' END, least(max_rows, since_sync_id)
            USING ERRCODE = '22023';
    END IF;
    SELECT st.change_position, st.change_horizon INTO s FROM graph._sync_state AS st;
    IF since_sync_id < s.change_horizon THEN
        RAISE EXCEPTION 'graphsync: the changes after sync_id % are gone', since_sync_id
            USING ERRCODE = '55000',
                  DETAIL = format('graph.changed_nodes() continues from sync_id %s or later: the changes up to'
                                  ' it were pruned with the log (graph.log_retention), or a rebuild changed'
                                  ' too many nodes to record each.', s.change_horizon),
                  HINT = format('Reload what you keep of the graph, then continue from sync_id %s'
                                ' (graph.sync_health().last_change_sync_id, read before the reload).',
                                s.change_position);
    END IF;
    IF since_sync_id > s.change_position THEN
        RAISE EXCEPTION 'graphsync: sync_id % is past the latest change (%)', since_sync_id, s.change_position
            USING ERRCODE = '22023',
                  HINT = 'A position comes from this database''s notifications or graph.changed_nodes().';
    END IF;
    SELECT coalesce(array_agg(c.oid), '{}') INTO visible
    FROM graph._node_tables AS n
    JOIN pg_catalog.pg_class AS c ON c.oid = n.table_oid
    WHERE pg_catalog.pg_has_role('graph_admin', 'MEMBER')
       OR (pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE')
           AND NOT pg_catalog.row_security_active(c.oid));
    RETURN QUERY
    SELECT c.sync_id, c.table_oid::regclass, c.node_id,
           CASE c.op WHEN 'I' THEN 'insert' WHEN 'U' THEN 'update' WHEN 'D' THEN 'delete' ELSE 'truncate' END
    FROM graph._change_log AS c
    WHERE c.sync_id > since_sync_id AND c.node AND c.table_oid = ANY (visible)
    ORDER BY c.sync_id
    LIMIT max_rows;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.changed_nodes(bigint, integer) IS
'Node changes applied after a position (sync_id), in order, of the tables the caller may read, at most max_rows: catching up after missed NOTIFY graphsync.';
