-- graph._pending_log(): the committed log rows not yet applied (as the cursor
-- in graph._sync_state defines "applied": a row is applied when its transaction
-- is visible in done_snapshot, or visible in target_snapshot with id <=
-- target_position), and the caller's own uncommitted ones, in id order. Rows a
-- build read in its own transaction (build_xid, up to build_position) are in the
-- base: not pending.
--
-- Between passes (target_snapshot is NULL) they are found through two btree
-- indexes, never by a scan of the log from done_snapshot's xmin on (through the
-- BRIN index the log had until migration 310, which left the newest ranges
-- unsummarized until a vacuum, each such scan rechecked every row of those ranges):
--   * by id above applied_sync_id (the primary key): a transaction that began
--     after done_snapshot was taken (xid >= its xmax: apply and build keep the
--     snapshot with its xmax raised to an xid assigned after it was taken, and
--     every xid from the old xmax up named in its xip, db.complete_snapshot, for a
--     snapshot's own xmax is only the last completed xid + 1, and a transaction
--     running above it, unnamed, can hold lower ids) took its ids after it (the
--     capture triggers run after the row they capture, so the transaction has
--     its xid before it takes a log id), and ids come from one sequence, in order
--     (no CACHE): every such row has a higher id than every row visible in
--     done_snapshot, and applied_sync_id is the highest of those (a pass ends with
--     done_snapshot := its target, all of whose new rows it applied; a build sets
--     it to the highest id its snapshot sees);
--   * by xid (migration 200) for the transactions done_snapshot counted as
--     running (its xip) that committed since, or are this one, or are too old for
--     their status to be known: the only others whose rows are not visible in
--     done_snapshot; their rows can have lower ids. A transaction of the xip still
--     running has no row this snapshot sees (but the caller's own).
-- During a pass committed half-way (graph.apply_sync(max_batches)), applied_sync_id
-- is that pass's position, which says nothing of done_snapshot: the rows are then
-- found by xid, at or above done_snapshot's xmax or named in its xip (not from its
-- xmin on: a transaction holding an xid open holds that back).
-- PL/pgSQL, not SQL: each query is planned with the state row's values, so the
-- planner sees that "id above applied_sync_id" is a few rows at the end of the log --
-- always (plan_cache_mode force_custom_plan), and without sequential scans: a caller
-- that forces generic plans (graph._pending_columns, through graph._pending_ids) was
-- given the generic plan an earlier call had made under the session's settings, a
-- scan of the whole log (some 75,000 rows for 6 pending, in a half-done pass with
-- statistics: tests/test_replay_plans.py). Without JIT and parallel workers too: the
-- state row, which no index finds, then costs the planner some 10^10, past every JIT
-- threshold, and its one row was compiled for at each call (30 ms of a 2 ms
-- sync_health(): tests/test_no_jit.py).
-- Reads: graph._sync_state, graph._sync_log.
CREATE OR REPLACE FUNCTION graph._pending_log()
RETURNS SETOF graph._sync_log
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_seqscan = off
SET jit = off
SET max_parallel_workers_per_gather = 0
AS $$
DECLARE
    s graph._sync_state;
    xips bigint[];
BEGIN
    SELECT st.* INTO s FROM graph._sync_state AS st;
    IF s.target_snapshot IS NULL THEN
        xips := ARRAY(
            SELECT x.xid::text::bigint
            FROM pg_snapshot_xip(s.done_snapshot) AS x (xid)
            WHERE x.xid = pg_current_xact_id_if_assigned()
               OR pg_xact_status(x.xid) IS DISTINCT FROM 'in progress'
                  AND pg_xact_status(x.xid) IS DISTINCT FROM 'aborted');
        RETURN QUERY
        SELECT l.*
        FROM graph._sync_log AS l
        WHERE l.id > s.applied_sync_id
          AND NOT pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
          AND NOT (l.xid = s.build_xid AND l.id <= s.build_position)
        UNION ALL
        SELECT l.*
        FROM graph._sync_log AS l
        WHERE l.xid = ANY (xips)
          AND l.id <= s.applied_sync_id
          AND NOT (l.xid = s.build_xid AND l.id <= s.build_position)
        ORDER BY 1;
        RETURN;
    END IF;
    -- A row done_snapshot does not see is of a transaction at or above its xmax or
    -- named in its xip: found by those two lookups of the xid index, not by a range
    -- from its xmin, which a transaction holding an xid open holds back (every row
    -- applied since it began, read again by every call).
    xips := ARRAY(SELECT x.xid::text::bigint FROM pg_snapshot_xip(s.done_snapshot) AS x (xid));
    RETURN QUERY
    SELECT l.*
    FROM (SELECT q.* FROM graph._sync_log AS q
          WHERE q.xid >= pg_snapshot_xmax(s.done_snapshot)::text::bigint
          UNION ALL
          SELECT q.* FROM graph._sync_log AS q
          WHERE q.xid = ANY (xips)) AS l
    WHERE NOT pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
      AND NOT (pg_visible_in_snapshot(l.xid::text::xid8, s.target_snapshot) AND l.id <= s.target_position)
      AND NOT (l.xid = s.build_xid AND l.id <= s.build_position)
    ORDER BY l.id;
END;
$$;
