-- graph._pending_rows(as_role, max_rows, seen): the pending log rows (committed,
-- or the caller's own uncommitted ones) of tables the caller may SELECT and whose
-- row-level security does not apply to it, in id order, at most max_rows, for a
-- read to fold into its view in memory when it does not apply them. seen (NULL:
-- none): a snapshot of an earlier call whose rows the read folded already; only
-- the rows of transactions it did not see come back (while the applied snapshot
-- stays, those are the rows committed since). after (with seen; NULL: none): the
-- highest log id that earlier call returned. A row not visible in seen either has
-- a higher id, or a lower one and a transaction id from seen's xmin on (every
-- transaction below it had ended when seen was taken: committed, so visible in
-- it, or rolled back). So the rows come by the log's primary key above after and
-- by its index on xid from seen's xmin on -- the rows of the few transactions of
-- about the time seen was taken and since -- not by filtering every pending row
-- (a read under writes, with some hundreds pending, made this O(pending) a read
-- for the few rows committed since its last one). No order of ids is assumed.
-- as_role must be the caller
-- (current_user; reads pass it): any other role gets no row.
-- SECURITY INVOKER, over the security-barrier view graph._pending_visible
-- (migration 250), whose checks run as the role reading it: has_table_privilege
-- and row_security_active, as the caller. So code of another role -- a SECURITY
-- DEFINER function a victim calls -- gets the rows of the tables that role may
-- read, never the victim's: what a caller gets is bounded by the role actually
-- running the call, not by the session user.
-- Row-level security: a log row holds the captured values of a source row whatever
-- the table's policies say, and no policy runs here (nor should code a table
-- owner wrote). So the rows of a table whose row-level security applies to the
-- caller never come back; a read by such a role applies them first where it can,
-- and says when it cannot (graph._read_sync).
-- With work_mem 64MB: the rows are sorted by id, whole rows, which the default
-- 4MB spilled to disk from some 20,000 rows on (a read folds up to 200,000; a
-- quarter to half of this function's time at 100,000, benchmarks/REPLAY.md).
-- Without sequential or bitmap scans: the view finds the rows by ranges of the log's
-- btree indexes whose bounds the planner does not know (the state row's), and would
-- otherwise scan a small log whole, or go by the BRIN index on xid, which rechecks
-- every row of its ranges (tests/test_pending_rows.py counts the rows a read visits).
-- PL/pgSQL, not SQL: its query's plan is kept for the session (a SQL function's is
-- made again on every call, some 0.6 ms for the view's three branches).
-- Reads: graph._pending_visible (graph._sync_log, graph._sync_state).
CREATE OR REPLACE FUNCTION graph._pending_rows(
    as_role regrole, max_rows integer, seen pg_snapshot DEFAULT NULL, after bigint DEFAULT NULL
)
RETURNS TABLE (
    id bigint,
    op char(1),
    table_oid oid,
    old_pk text,
    new_pk text,
    properties text,
    old_row text,
    new_row text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET max_parallel_workers_per_gather = 0
SET work_mem = '64MB'
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    oldest bigint;
BEGIN
    IF seen IS NULL OR after IS NULL THEN
        RETURN QUERY
        SELECT p.id, p.op, p.table_oid, p.old_pk, p.new_pk, p.properties, p.old_row, p.new_row
        FROM graph._pending_visible AS p
        WHERE as_role::oid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
          AND (seen IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(p.xid::text::xid8, seen))
        ORDER BY p.id
        LIMIT max_rows;
        RETURN;
    END IF;
    oldest := pg_catalog.pg_snapshot_xmin(seen)::text::bigint;
    RETURN QUERY
    SELECT p.id, p.op, p.table_oid, p.old_pk, p.new_pk, p.properties, p.old_row, p.new_row
    FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row, q.xid
          FROM graph._pending_visible AS q
          WHERE q.id > after
          UNION ALL
          SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row, q.xid
          FROM graph._pending_visible AS q
          WHERE q.xid >= oldest AND q.id + 0 <= after) AS p
    WHERE as_role::oid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
      AND NOT pg_catalog.pg_visible_in_snapshot(p.xid::text::xid8, seen)
    ORDER BY p.id
    LIMIT max_rows;
END;
$$;

COMMENT ON FUNCTION graph._pending_rows(regrole, integer, pg_snapshot, bigint) IS
'Internal (reads): pending log rows of the tables the caller may SELECT and whose row-level security does not apply to it, for folding into one read in memory; seen: only those an earlier call''s snapshot did not see (after: the highest id it returned).';
