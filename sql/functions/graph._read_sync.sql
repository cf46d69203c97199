-- graph._read_sync(try_apply): the freshness step of a read. Counts the
-- committed log rows not yet applied (committed_rows) and the caller's own
-- uncommitted ones (own_rows). With try_apply, applies the committed ones
-- first, but only when that can neither block nor fail the read: not on a hot
-- standby, not in a read-only transaction, not while another apply or a build
-- holds graph._sync_state (SKIP LOCKED), not when the graph is read-only or a
-- pending row already failed. The apply then commits with the reader's
-- transaction. applied tells whether it ran; the counts are those before it
-- (a read that applied reads the graph, and the counts, again). SECURITY
-- DEFINER: any reader may catch the graph up, none may read the log, and a
-- reader who is not an admin (graph._session_is_admin) sees no message that
-- could quote a source value: apply_sync's WARNINGs are silenced for it, and a
-- failed apply is reported by its SQLSTATE only.
-- Every read calls it, so nothing pending must cost next to nothing: a pending
-- row is a log row past the applied snapshot (graph._pending_log() only ever
-- narrows that), so when no row is past it -- one probe of the xid index, a
-- plan kept for the session -- the counts are 0 without running
-- graph._pending_log() (a SQL function with a SET clause: planned anew on
-- every call). For the same reason client_min_messages is set only around the
-- apply, not by a SET clause (each costs every call tens of microseconds).
-- Touches (when it applies): what graph.apply_sync touches.
CREATE OR REPLACE FUNCTION graph._read_sync(
    try_apply boolean,
    OUT committed_rows bigint,
    OUT own_rows bigint,
    OUT applied boolean
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me bigint := pg_catalog.pg_current_xact_id_if_assigned()::text::bigint;
    has_failed boolean;
    graph_read_only boolean;
    messages text := pg_catalog.current_setting('client_min_messages');
BEGIN
    applied := false;
    committed_rows := 0;
    own_rows := 0;
    IF NOT EXISTS (
        SELECT FROM graph._sync_state AS s
        JOIN graph._sync_log AS l
            ON l.xid >= pg_catalog.pg_snapshot_xmin(s.done_snapshot)::text::bigint
           AND NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
    ) THEN
        RETURN;
    END IF;
    SELECT count(*) FILTER (WHERE l.xid IS DISTINCT FROM me),
           count(*) FILTER (WHERE l.xid = me),
           coalesce(bool_or(l.error_message IS NOT NULL), false)
    INTO committed_rows, own_rows, has_failed
    FROM graph._pending_log() AS l;
    IF committed_rows = 0 OR NOT try_apply OR has_failed OR pg_catalog.pg_is_in_recovery()
       OR pg_catalog.current_setting('transaction_read_only')::boolean THEN
        RETURN;
    END IF;
    SELECT s.read_only INTO graph_read_only FROM graph._sync_state AS s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND OR graph_read_only THEN
        RETURN;
    END IF;
    BEGIN
        -- apply_sync's NOTICEs are not for a reader; its WARNINGs quote failing rows'
        -- errors, values of any table: not for a reader who is not an admin either
        -- (health shows it what it may see). The caller's setting comes back after.
        PERFORM pg_catalog.set_config('client_min_messages',
                                      CASE WHEN graph._session_is_admin() THEN 'warning' ELSE 'error' END, true);
        PERFORM graph.apply_sync();
        PERFORM pg_catalog.set_config('client_min_messages', messages, true);
        applied := true;
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction's client_min_messages is rolled back; this WARNING shows
        -- whatever the caller's setting.
        PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
        IF graph._session_is_admin() THEN
            RAISE WARNING 'graphsync: a read could not apply pending log rows (%); it folds them in memory',
                sqlerrm;
        ELSE
            RAISE WARNING 'graphsync: a read could not apply pending log rows (SQLSTATE %); it folds them'
                ' in memory', sqlstate
                USING DETAIL = 'The error may quote source values: it is visible to graph_admin, who can'
                    ' run graph.apply_sync() to see it.';
        END IF;
        PERFORM pg_catalog.set_config('client_min_messages', messages, true);
        RETURN;
    END;
END;
$$;

COMMENT ON FUNCTION graph._read_sync(boolean) IS
'Internal (reads): count pending log rows and, when it cannot block or fail, apply the committed ones first.';
