-- graph._read_sync(try_apply): the freshness step of a read. Counts the
-- committed log rows not yet applied (committed_rows) and the caller's own
-- uncommitted ones (own_rows). With try_apply, applies the committed ones
-- first, but only when that can neither block nor fail the read: not on a hot
-- standby, not in a read-only transaction, not while another apply or a build
-- holds graph._sync_state (SKIP LOCKED), not when the graph is read-only or a
-- pending row already failed. The apply then commits with the reader's
-- transaction. applied tells whether it ran. SECURITY DEFINER: any reader may
-- catch the graph up, none may read the log, and a reader who is not an admin
-- (graph._session_is_admin) sees no message that could quote a source value:
-- apply_sync's WARNINGs are silenced for it, and a failed apply is reported by
-- its SQLSTATE only.
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
SET client_min_messages = warning
AS $$
DECLARE
    me bigint := pg_catalog.pg_current_xact_id_if_assigned()::text::bigint;
    has_failed boolean;
    graph_read_only boolean;
BEGIN
    applied := false;
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
        IF NOT graph._session_is_admin() THEN
            -- apply_sync's WARNINGs quote failing rows' errors, values of any table:
            -- not for this reader (health shows it what it may see).
            PERFORM pg_catalog.set_config('client_min_messages', 'error', true);
        END IF;
        PERFORM graph.apply_sync();
        applied := true;
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction's client_min_messages is rolled back: this WARNING shows.
        IF graph._session_is_admin() THEN
            RAISE WARNING 'graphsync: a read could not apply pending log rows (%); it folds them in memory',
                sqlerrm;
        ELSE
            RAISE WARNING 'graphsync: a read could not apply pending log rows (SQLSTATE %); it folds them'
                ' in memory', sqlstate
                USING DETAIL = 'The error may quote source values: it is visible to graph_admin, who can'
                    ' run graph.apply_sync() to see it.';
        END IF;
        RETURN;
    END;
    SELECT count(*) FILTER (WHERE l.xid IS DISTINCT FROM me), count(*) FILTER (WHERE l.xid = me)
    INTO committed_rows, own_rows
    FROM graph._pending_log() AS l;
END;
$$;

COMMENT ON FUNCTION graph._read_sync(boolean) IS
'Internal (reads): count pending log rows and, when it cannot block or fail, apply the committed ones first.';
