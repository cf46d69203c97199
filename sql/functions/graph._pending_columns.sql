-- graph._pending_columns(as_role, max_rows, seen): the pending log rows
-- (committed, or the caller's own uncommitted ones) of tables the caller may SELECT
-- and whose row-level security does not apply to it, at most max_rows, for a read to
-- fold into its view in memory when it does not apply them (reads/start.py), as one
-- row of columns: ids, table_oids and the keys as arrays; ops as one text of
-- one character a row; properties and the two images as one text each, a row's
-- jsonb text after another, joined by a newline (jsonb's text output escapes every
-- control character, so a newline never occurs inside one; a NULL is the empty
-- text, which jsonb's output never is). All NULL when no row. graph._pending_rows
-- gives the same rows as rows, in id order.
-- seen (NULL: none): a snapshot of an earlier call whose rows the read folded already; only
-- the rows of transactions it did not see come back (while the applied snapshot
-- stays, those are the rows committed since). Every such row's transaction is at or
-- above seen's xmin (one below it had ended when seen was taken: committed, so
-- visible in it, or rolled back), so they come from graph._pending_by_xid by the
-- log's index on xid from there on (migration 422) -- the rows of the few
-- transactions of about the time seen was taken and since -- not by filtering every
-- pending row (a read under writes, with some hundreds pending, made this O(pending)
-- a read for the few rows committed since its last one), nor through
-- graph._pending_visible, whose three branches, each with its scans, a read under
-- writes set up twice for one row (migration 422 says what it cost). But a
-- transaction running since long before (a long write, another backend's apply of
-- seconds under unthrottled writers) holds seen's xmin, and from there on each read
-- visited again every row committed since that transaction began. So the rows come
-- by two lookups instead: from seen's xmax on, and those of the transactions seen
-- names running (its xip), which are exactly the transactions it did not see
-- (tests/test_reads_under_writes.py counts the rows a read visits). Always: a range
-- from seen's xmin taken when at most 256 xids lay between the two also read every
-- row of those xids seen saw -- a bulk transaction's, whole (tests/test_replay_plans.py);
-- START calls this only when more than 256 xids were handed out since seen's xmax.
-- as_role must be the caller (current_user; reads pass it): any other role gets no row.
-- The caller is named by its quoted name read as a regrole, as reads name it
-- (reads/start.py, _ME), once a call (a subquery: the view's security barrier keeps
-- the test above it, row by row otherwise): a syscache lookup, where a subquery of
-- pg_roles cost a call some 8 us.
-- SECURITY INVOKER, over the security-barrier views graph._pending_visible
-- (migration 250) and graph._pending_by_xid (422), whose checks run as the role reading it: has_table_privilege
-- and row_security_active, as the caller. So code of another role -- a SECURITY
-- DEFINER function a victim calls -- gets the rows of the tables that role may
-- read, never the victim's: what a caller gets is bounded by the role actually
-- running the call, not by the session user.
-- Row-level security: a log row holds the captured values of a source row whatever
-- the table's policies say, and no policy runs here (nor should code a table
-- owner wrote). So the rows of a table whose row-level security applies to the
-- caller never come back; a read by such a role applies them first where it can,
-- and says when it cannot (graph._read_sync).
-- Without sequential or bitmap scans: the views find the rows by ranges of the log's
-- btree indexes whose bounds the planner does not know (the state row's, seen's
-- xmin), and would otherwise scan a small log whole, or go by the BRIN index on xid,
-- which rechecks every row of its ranges (tests/test_pending_rows.py and
-- tests/test_reads_under_writes.py count the rows and scans a read makes).
-- Why one row of columns, not rows: a PL/pgSQL RETURN QUERY of rows writes every
-- row to a tuplestore that the read then scans, and an ORDER BY sorts every row,
-- whole, by id (at 100,000 rows some 30 ms of a read on an idle machine, several times
-- that on a loaded one); and PL/Python makes one Python object of every element of an
-- array (some 25 ms for one column of 100,000 images), but one of a text. Here the
-- rows are aggregated where they are read, in the order the view gives them (by id
-- but for the rows found by xid, which come after; with seen, by xid: reads/start.py
-- puts them back in id order). The LIMIT takes max_rows rows in that order: a read that gets as many
-- as it asked for raises (reads/freshness.py), whichever rows they are.
-- One plan for every call (plan_cache_mode): with seen, the xid bound is a parameter
-- whose generic plan (a range of the xid index, whatever its selectivity) looks dearer
-- to the planner than one made for each value, so it planned every call anew on a
-- small or new log (104 against 20 us a call, measured; the old statement likewise).
-- ROWS 1 (the one row it returns): the planner's default of 1,000 made START's
-- cost cross jit_above_cost, and JIT compiled its expressions on every call (some
-- 60 ms). PL/pgSQL: its plans are kept for the session.
-- Reads: graph._pending_visible, graph._pending_by_xid (graph._sync_log, graph._sync_state).
CREATE OR REPLACE FUNCTION graph._pending_columns(
    as_role regrole, max_rows integer, seen pg_snapshot DEFAULT NULL
)
RETURNS TABLE (
    ids bigint[],
    ops text,
    table_oids oid[],
    old_pks text[],
    new_pks text[],
    properties text,
    old_rows text,
    new_rows text
)
LANGUAGE plpgsql
STABLE
ROWS 1
SET search_path = pg_catalog, pg_temp
SET jit = off
SET max_parallel_workers_per_gather = 0
SET enable_seqscan = off
SET enable_bitmapscan = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF seen IS NULL THEN
        RETURN QUERY
        SELECT pg_catalog.array_agg(p.id), pg_catalog.string_agg(p.op::text, ''),
               pg_catalog.array_agg(p.table_oid), pg_catalog.array_agg(p.old_pk), pg_catalog.array_agg(p.new_pk),
               pg_catalog.string_agg(coalesce(p.properties, ''), E'\n'),
               pg_catalog.string_agg(coalesce(p.old_row, ''), E'\n'),
               pg_catalog.string_agg(coalesce(p.new_row, ''), E'\n')
        FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row
              FROM graph._pending_visible AS q
              WHERE as_role::oid = (SELECT pg_catalog.quote_ident(current_user)::pg_catalog.regrole::oid)
              LIMIT max_rows) AS p;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT pg_catalog.array_agg(p.id), pg_catalog.string_agg(p.op::text, ''),
           pg_catalog.array_agg(p.table_oid), pg_catalog.array_agg(p.old_pk), pg_catalog.array_agg(p.new_pk),
           pg_catalog.string_agg(coalesce(p.properties, ''), E'\n'),
           pg_catalog.string_agg(coalesce(p.old_row, ''), E'\n'),
           pg_catalog.string_agg(coalesce(p.new_row, ''), E'\n')
    FROM (SELECT u.id, u.op, u.table_oid, u.old_pk, u.new_pk, u.properties, u.old_row, u.new_row
          FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row
                FROM graph._pending_by_xid AS q
                WHERE q.xid >= pg_catalog.pg_snapshot_xmax(seen)::text::bigint
                UNION ALL
                SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row
                FROM graph._pending_by_xid AS q
                WHERE q.xid = ANY (ARRAY(SELECT x.xid::text::bigint
                                         FROM pg_catalog.pg_snapshot_xip(seen) AS x (xid)))) AS u
          WHERE as_role::oid = (SELECT pg_catalog.quote_ident(current_user)::pg_catalog.regrole::oid)
          LIMIT max_rows) AS p;
END;
$$;

COMMENT ON FUNCTION graph._pending_columns(regrole, integer, pg_snapshot) IS
'Internal (reads): graph._pending_rows'' rows as one row of columns (arrays; ops as one text; properties and images as texts joined by newlines), for a read that folds them.';
