-- graph._read_sync(try_apply, as_role, warn): the freshness step of a read. Counts the
-- committed log rows not yet applied (committed_rows) and the caller's own
-- uncommitted ones (own_rows). With try_apply, applies the committed ones first,
-- but only when that can neither block nor fail the read: not on a hot standby,
-- not in a read-only transaction, not while another apply or a build holds
-- graph._sync_state (SKIP LOCKED), not when the graph is read-only or a pending
-- row already failed, not for a session outside graph_admin when the shared
-- setting graph.read_apply is 'admins' (an apply holds the state row until the
-- reader's transaction ends: a reader that keeps it open stops every apply)
-- -- and at most about once a second: while fewer than 1,000
-- rows are pending and the last apply (anyone's:
-- graph._sync_state.last_apply_at) is less than a second old, the read folds
-- them instead (reads/freshness.py, which folds only the rows new since its last
-- read), unless some of them are rows a fold leaves out for as_role (the
-- reading role; the session user must be a member): rows of tables it may not
-- SELECT, and rows of tables whose row-level security applies to it
-- (graph._pending_rows: a fold cannot run the policy as the reader); an apply
-- brings those in. Where it cannot apply (see above), a read by such a role
-- reads those tables as last applied -- its own uncommitted rows of them too --
-- and this function says so in a WARNING that names the role, never a table, a
-- key or a value. An apply that fails is rolled back and the read folds instead,
-- with a WARNING; one that waits for a table lock (an admin's LOCK TABLE, a
-- CREATE INDEX on a graph table) longer than the caller's lock_timeout stops the
-- read with 55P03, as a cancel or statement_timeout does (never caught: "cancel
-- means stop"). An apply costs a read some 20 ms
-- whatever it applies, holds the state row until the read's transaction ends,
-- and makes every other backend refresh its graph; applying a handful of rows in
-- each read made concurrent readers 3-7 times slower
-- (benchmarks/READS_UNDER_WRITES.md). Going by the last apply, not by the age of
-- the rows, bounds how often reads apply however slow they get. The apply then
-- commits with the reader's transaction. applied tells whether it ran; the
-- counts are those before it (a read that applied reads the graph, and the
-- counts, again). applied_snapshot is graph._sync_state.done_snapshot as the
-- snapshot that counted saw it (the check or the count below: the statement that
-- waited for a lock an apply held sees that apply): a read whose own snapshot sees
-- another one knows an apply committed after it took that snapshot
-- (reads/start.py), with no statement of its own to ask. warn false: no
-- WARNING about the rows a read leaves out (below), for a statement that only
-- tells whether a read must read pending rows, which then reads them through a
-- statement that calls this function again and warns (reads/start.py). pending_mark (NULL when nothing is pending) names the pending
-- rows for a read that folds them and keeps the result: the applied snapshot and
-- the highest pending id. While the applied snapshot stays, rows only join the
-- pending ones (commits; a row of this transaction rolled back is followed by
-- higher ids only), so the mark and the counts change whenever the pending rows
-- do. SECURITY DEFINER: any reader may catch the graph up, none may read the
-- log, and a reader who is not an admin (graph._session_is_admin) sees no
-- message that could quote a source value: apply_sync's WARNINGs are silenced
-- for it, and a failed apply is reported by its SQLSTATE only.
-- A read under writes that keeps a folded view and may not apply does not call it
-- (reads/start.py, _READ_SYNC_KEPT: its answer is known there, and this count of
-- every pending row was most of such a read's START).
-- Every read calls it, so "nothing pending" must cost next to nothing, whatever
-- the size of the log, and "a few rows pending" next to nothing more.
-- graph._pending_log() finds the pending rows through the log's btree indexes,
-- by id above applied_sync_id and by xid for the transactions of done_snapshot's
-- xip that committed since (its header says why those are all of them); one
-- aggregate over them gives the counts, the mark and the tables they touch (the
-- fold reads the rows themselves through graph._pending_rows). Between passes the
-- aggregate finds them itself, by the same two index lookups, from the state row
-- read first (the counts, mark and applied_snapshot are of that state row). It runs only when
-- the state row cannot tell that nothing is pending. It can when no pass is half
-- done (target_snapshot is NULL) and
--   * no log row has an id above applied_sync_id (and the rows the last build
--     read in its own transaction, up to build_position): a transaction that
--     began after done_snapshot was taken has higher ids than every row visible
--     in it (ids come from one sequence, in order: no CACHE), and every row
--     visible in it was applied, so a row with a lower id that is not applied
--     belongs to a transaction that was running then, and
--   * none of the transactions running then (done_snapshot's xip, which names
--     every one of them: db.complete_snapshot) is this one or has committed since
--     (or is too old for its status to be known), but settled_xid (migration 370:
--     the apply or build that took the snapshot, whose rows are not pending below
--     applied_sync_id).
-- Two index probes and a look at each of those transactions' status. For the
-- same reason client_min_messages is set only around the apply, not by a SET
-- clause (each costs every call tens of microseconds).
-- settled_xids: when the count below finds nothing pending between passes, the
-- transactions of done_snapshot's xip it found committed and its snapshot sees (so
-- it saw every row they wrote), but this one: none of them holds a
-- pending row, now or later (a committed transaction writes no more rows). The test
-- above fails for each of them until the next apply takes another snapshot, which
-- no read makes while nothing is pending; a reader passes them to its own test
-- (reads/start.py, _settled), which then passes them by (migration 424). NULL
-- otherwise (rows pending, a pass half done, or the test passed).
-- Touches (when it applies): what graph.apply_sync touches.
CREATE OR REPLACE FUNCTION graph._read_sync(
    try_apply boolean,
    as_role regrole DEFAULT NULL,
    warn boolean DEFAULT TRUE,
    OUT committed_rows bigint,
    OUT own_rows bigint,
    OUT applied boolean,
    OUT pending_mark text,
    OUT applied_snapshot text,
    OUT settled_xids bigint[]
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me bigint;
    has_failed boolean;
    last_apply timestamptz;
    hidden boolean;
    others oid[];
    mine oid[];
    secured boolean := false;
    secured_own boolean := false;
    graph_read_only boolean;
    messages text;
    jit_was text;
    workers_were text;
    work_mem_was text;
    sync_state graph._sync_state;
    xips bigint[];
    counted_in pg_snapshot;
    top bigint;
    plans_were text;
    bitmaps_were text;
    scans_were text;
    index_scans_were text;
    admin boolean;
BEGIN
    applied := false;
    committed_rows := 0;
    own_rows := 0;
    -- Index scans on (index-only scans too: PostgreSQL's enable_indexscan governs
    -- both) whatever the reader set: every statement below finds its rows through
    -- an index, and with them off the first one alone read the whole log
    -- (tests/test_shared_settings.py). Set only when off, restored on the way out.
    index_scans_were := pg_catalog.current_setting('enable_indexscan');
    IF index_scans_were <> 'on' THEN
        PERFORM pg_catalog.set_config('enable_indexscan', 'on', true);
    END IF;
    SELECT s.done_snapshot::text INTO applied_snapshot
    FROM graph._sync_state AS s
    WHERE s.target_snapshot IS NULL
          AND coalesce((SELECT max(l.id) FROM graph._sync_log AS l), 0)
              <= greatest(s.applied_sync_id, s.build_position)
          AND NOT EXISTS (
              SELECT FROM pg_catalog.pg_snapshot_xip(s.done_snapshot) AS x (xid)
              WHERE (x.xid = pg_catalog.pg_current_xact_id_if_assigned()
                     OR pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'in progress'
                        AND pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'aborted')
                AND x.xid::text::bigint IS DISTINCT FROM s.settled_xid);
    IF FOUND THEN
        IF index_scans_were <> 'on' THEN
            PERFORM pg_catalog.set_config('enable_indexscan', index_scans_were, true);
        END IF;
        RETURN;  -- nothing pending (see above)
    END IF;
    me := pg_catalog.pg_current_xact_id_if_assigned()::text::bigint;
    messages := pg_catalog.current_setting('client_min_messages');
    -- During a half-done pass graph._pending_log() scans the log, which can look
    -- costly enough for JIT compilation and parallel workers, which take seconds
    -- to start for a count of milliseconds. It sorts the pending rows by id, whole
    -- rows: work_mem 64MB keeps that sort in memory up to some 200,000 rows (the
    -- default 4MB spilled it to disk from some 20,000 on; graph._pending_rows).
    jit_was := pg_catalog.current_setting('jit');
    workers_were := pg_catalog.current_setting('max_parallel_workers_per_gather');
    work_mem_was := pg_catalog.current_setting('work_mem');
    plans_were := pg_catalog.current_setting('plan_cache_mode');
    bitmaps_were := pg_catalog.current_setting('enable_bitmapscan');
    scans_were := pg_catalog.current_setting('enable_seqscan');
    PERFORM pg_catalog.set_config('jit', 'off', true);
    PERFORM pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
    PERFORM pg_catalog.set_config('work_mem', '64MB', true);
    SELECT st.* INTO sync_state FROM graph._sync_state AS st;
    IF sync_state.target_snapshot IS NULL THEN
        -- Between passes: the rows graph._pending_log() returns, found as it finds
        -- them (its header says why they are all), counted where they are found: not
        -- copied whole into its result and sorted by id first (about half the count's
        -- time at 100,000 rows, which a read that folds them waits for). Its xip test
        -- below, too; tests/test_pending_rows.py compares the two.
        xips := ARRAY(
            SELECT x.xid::text::bigint
            FROM pg_catalog.pg_snapshot_xip(sync_state.done_snapshot) AS x (xid)
            WHERE x.xid = pg_catalog.pg_current_xact_id_if_assigned()
               OR pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'in progress'
                  AND pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'aborted');
        -- One plan for every call (a plan made for each call's values cost a read with a
        -- few rows pending some 0.4 ms): its bounds are a range of ids (above the
        -- applied position, at most the highest id handed out), which the planner
        -- takes for a small part of the log, and the xip's ids, never a scan of the
        -- key below the applied position (+ 0), of the log, nor of the BRIN index on
        -- xid (tests/test_pending_rows.py counts the rows a read visits).
        top := coalesce(pg_catalog.pg_sequence_last_value('graph._sync_log_id_seq'::pg_catalog.regclass),
                        9223372036854775807);
        PERFORM pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
        PERFORM pg_catalog.set_config('enable_bitmapscan', 'off', true);
        PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
        SELECT count(*) FILTER (WHERE l.xid IS DISTINCT FROM me),
               count(*) FILTER (WHERE l.xid = me),
               coalesce(bool_or(l.error_message IS NOT NULL), false),
               sync_state.done_snapshot::text || '/' || max(l.id),
               array_agg(DISTINCT l.table_oid) FILTER (WHERE l.xid IS DISTINCT FROM me),
               array_agg(DISTINCT l.table_oid) FILTER (WHERE l.xid = me),
               pg_catalog.pg_current_snapshot()
        INTO committed_rows, own_rows, has_failed, pending_mark, others, mine, counted_in
        FROM (SELECT p.id, p.xid, p.table_oid, p.error_message
              FROM graph._sync_log AS p
              WHERE p.id > sync_state.applied_sync_id AND p.id <= top
                AND NOT pg_catalog.pg_visible_in_snapshot(p.xid::text::xid8, sync_state.done_snapshot)
                AND NOT (p.xid = sync_state.build_xid AND p.id <= sync_state.build_position)
              UNION ALL
              SELECT p.id, p.xid, p.table_oid, p.error_message
              FROM graph._sync_log AS p
              WHERE p.xid = ANY (xips)
                AND p.id + 0 <= sync_state.applied_sync_id
                AND NOT (p.xid = sync_state.build_xid AND p.id <= sync_state.build_position)) AS l;
        PERFORM pg_catalog.set_config('plan_cache_mode', plans_were, true);
        PERFORM pg_catalog.set_config('enable_bitmapscan', bitmaps_were, true);
        PERFORM pg_catalog.set_config('enable_seqscan', scans_were, true);
        IF committed_rows = 0 AND own_rows = 0 THEN
            -- those of xips' transactions the count's snapshot sees: it saw all their
            -- rows, and found none pending (see above). Not those it does not see (a
            -- repeatable read transaction's snapshot is older than a commit
            -- pg_xact_status reports already).
            settled_xids := ARRAY(SELECT u.x FROM pg_catalog.unnest(xips) AS u (x)
                                  WHERE u.x IS DISTINCT FROM me
                                    AND pg_catalog.pg_visible_in_snapshot(u.x::text::xid8, counted_in));
        END IF;
        applied_snapshot := sync_state.done_snapshot::text;
        last_apply := sync_state.last_apply_at;
    ELSE
        SELECT count(*) FILTER (WHERE l.xid IS DISTINCT FROM me),
               count(*) FILTER (WHERE l.xid = me),
               coalesce(bool_or(l.error_message IS NOT NULL), false),
               (SELECT s.done_snapshot::text FROM graph._sync_state AS s) || '/' || max(l.id),
               (SELECT s.done_snapshot::text FROM graph._sync_state AS s),
               (SELECT s.last_apply_at FROM graph._sync_state AS s),
               array_agg(DISTINCT l.table_oid) FILTER (WHERE l.xid IS DISTINCT FROM me),
               array_agg(DISTINCT l.table_oid) FILTER (WHERE l.xid = me)
        INTO committed_rows, own_rows, has_failed, pending_mark, applied_snapshot, last_apply, others, mine
        FROM graph._pending_log() AS l;
    END IF;
    PERFORM pg_catalog.set_config('jit', jit_was, true);
    PERFORM pg_catalog.set_config('max_parallel_workers_per_gather', workers_were, true);
    PERFORM pg_catalog.set_config('work_mem', work_mem_was, true);
    -- Tables of pending rows a fold leaves out for as_role (graph._pending_rows):
    -- those it may not SELECT (hidden: an apply brings their rows in, and the
    -- role cannot read them anyway), and those whose row-level security applies
    -- to it (secured: the same test as the executor's, made for as_role; a fold
    -- would need the policy, which only the reader may run).
    IF as_role IS NOT NULL AND pg_catalog.pg_has_role(session_user, as_role, 'MEMBER') THEN
        SELECT coalesce(bool_or(NOT coalesce(t.readable, false))
                        FILTER (WHERE t.oid = ANY (others)), false),
               coalesce(bool_or(t.secured) FILTER (WHERE t.oid = ANY (others)), false),
               coalesce(bool_or(t.secured) FILTER (WHERE t.oid = ANY (mine)), false)
        INTO hidden, secured, secured_own
        FROM (SELECT u.oid, coalesce(c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls)
                                     AND (c.relforcerowsecurity
                                          OR NOT pg_catalog.pg_has_role(as_role, c.relowner, 'USAGE')), false)
                                AS secured,
                     -- SELECT on the table and USAGE on its schema (db.may_select, for as_role)
                     pg_catalog.has_table_privilege(as_role, u.oid, 'SELECT')
                     AND pg_catalog.has_schema_privilege(as_role, c.relnamespace, 'USAGE') AS readable
              FROM pg_catalog.unnest(others || mine) AS u (oid)
              LEFT JOIN pg_catalog.pg_class AS c ON c.oid = u.oid
              CROSS JOIN pg_catalog.pg_roles AS r
              WHERE r.oid = as_role) AS t;
    END IF;
    hidden := coalesce(hidden, false) OR secured;
    <<step>>
    BEGIN
        IF committed_rows = 0 OR NOT try_apply OR has_failed OR pg_catalog.pg_is_in_recovery()
           OR pg_catalog.current_setting('transaction_read_only')::boolean THEN
            EXIT step;
        END IF;
        IF committed_rows < 1000 AND NOT hidden
           AND last_apply > pg_catalog.statement_timestamp() - interval '1 second' THEN
            EXIT step;  -- applied less than a second ago: folded (see above)
        END IF;
        -- graph.read_apply = 'admins': a session outside graph_admin folds, never
        -- takes the state row (which it would hold until its transaction ends).
        admin := graph._session_is_admin();
        IF NOT admin AND graph._setting('graph.read_apply') = 'admins' THEN
            EXIT step;
        END IF;
        SELECT s.read_only INTO graph_read_only FROM graph._sync_state AS s FOR UPDATE SKIP LOCKED;
        IF NOT FOUND OR graph_read_only THEN
            EXIT step;
        END IF;
        BEGIN
            -- apply_sync's NOTICEs are not for a reader; its WARNINGs quote failing rows'
            -- errors, values of any table: not for a reader who is not an admin either
            -- (health shows it what it may see). The caller's setting comes back after.
            PERFORM pg_catalog.set_config('client_min_messages',
                                          CASE WHEN admin THEN 'warning' ELSE 'error' END, true);
            PERFORM graph._apply_for_read();
            PERFORM pg_catalog.set_config('client_min_messages', messages, true);
            applied := true;
        EXCEPTION WHEN lock_not_available THEN
            -- A lock timeout stops the read as a cancel does (OTHERS never catches
            -- one): the apply waited as long as the caller allows (errors.is_cancel).
            RAISE;
        WHEN OTHERS THEN
            -- The subtransaction's client_min_messages is rolled back; this WARNING shows
            -- whatever the caller's setting.
            PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
            IF admin THEN
                RAISE WARNING 'graphsync: a read could not apply pending log rows (%); it folds them in memory',
                    sqlerrm;
            ELSE
                RAISE WARNING 'graphsync: a read could not apply pending log rows (SQLSTATE %); it folds them'
                    ' in memory', sqlstate
                    USING DETAIL = 'The error may quote source values: it is visible to graph_admin, who can'
                        ' run graph.apply_sync() to see it.';
            END IF;
            PERFORM pg_catalog.set_config('client_min_messages', messages, true);
        END;
    END;
    -- A read that applied runs this again (reads/start.py), which tells what is
    -- still pending then.
    IF (secured OR secured_own) AND NOT applied AND warn THEN
        RAISE WARNING 'graphsync: this read leaves out changes not yet applied to tables whose row-level'
            ' security applies to %: it shows those tables as last applied', as_role
            USING DETAIL = 'A read folds pending changes in memory only where the reading role sees every'
                ' row; it could not apply them here (a read-only transaction, a hot standby, another'
                ' apply running, a read-only graph, a failed log row or graph.read_apply = admins),'
                ' and its own uncommitted'
                ' changes to such tables are never folded.',
                  HINT = 'Read in a read-write transaction on the primary after the changes commit, or'
                      ' have graph_admin run graph.apply_sync().';
    END IF;
    IF index_scans_were <> 'on' THEN
        PERFORM pg_catalog.set_config('enable_indexscan', index_scans_were, true);
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._read_sync(boolean, regrole, boolean) IS
'Internal (reads): count pending log rows and, when it cannot block or fail, apply the committed ones first.';
