-- graph._pending_columns(as_role, max_rows, seen, after): the rows
-- graph._pending_rows returns (the same arguments, the same rows, the same checks:
-- its header says which rows and why), as one row of columns, for a read that folds
-- them (reads/start.py): ids, table_oids and the keys as arrays; ops as one text of
-- one character a row; properties and the two images as one text each, a row's
-- jsonb text after another, joined by a newline (jsonb's text output escapes every
-- control character, so a newline never occurs inside one; a NULL is the empty
-- text, which jsonb's output never is). All NULL when no row.
-- Why not graph._pending_rows aggregated by the read: its RETURN QUERY writes every
-- row to a tuplestore that the read then scans, and its ORDER BY sorted every row,
-- whole, by id (at 100,000 rows some 30 ms of a read on an idle machine, several times
-- that on a loaded one); and PL/Python makes one Python object of every element of an
-- array (some 25 ms for one column of 100,000 images), but one of a text. Here the
-- rows are aggregated where they are read, in the order the view gives them (by id
-- but for the rows found by xid, which come after: reads/start.py puts them back in
-- id order). The LIMIT takes max_rows rows in that order: a read that gets as many
-- as it asked for raises (reads/freshness.py), whichever rows they are.
-- SECURITY INVOKER, over the security-barrier view graph._pending_visible, as
-- graph._pending_rows: what a caller gets is bounded by the role running the call;
-- as_role must be that role (current_user), else no row. No sequential or bitmap
-- scans, no JIT, no parallel workers: graph._pending_rows' header says why.
-- ROWS 1 (the one row it returns): the planner's default of 1,000 made START's
-- cost cross jit_above_cost, and JIT compiled its expressions on every call (some
-- 60 ms). PL/pgSQL: its plans are kept for the session.
-- Reads: graph._pending_visible (graph._sync_log, graph._sync_state).
CREATE OR REPLACE FUNCTION graph._pending_columns(
    as_role regrole, max_rows integer, seen pg_snapshot DEFAULT NULL, after bigint DEFAULT NULL
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
AS $$
DECLARE
    oldest bigint;
BEGIN
    IF seen IS NULL OR after IS NULL THEN
        RETURN QUERY
        SELECT pg_catalog.array_agg(p.id), pg_catalog.string_agg(p.op::text, ''),
               pg_catalog.array_agg(p.table_oid), pg_catalog.array_agg(p.old_pk), pg_catalog.array_agg(p.new_pk),
               pg_catalog.string_agg(coalesce(p.properties, ''), E'\n'),
               pg_catalog.string_agg(coalesce(p.old_row, ''), E'\n'),
               pg_catalog.string_agg(coalesce(p.new_row, ''), E'\n')
        FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row
              FROM graph._pending_visible AS q
              WHERE as_role::oid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
                AND (seen IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(q.xid::text::xid8, seen))
              LIMIT max_rows) AS p;
        RETURN;
    END IF;
    oldest := pg_catalog.pg_snapshot_xmin(seen)::text::bigint;
    RETURN QUERY
    SELECT pg_catalog.array_agg(p.id), pg_catalog.string_agg(p.op::text, ''),
           pg_catalog.array_agg(p.table_oid), pg_catalog.array_agg(p.old_pk), pg_catalog.array_agg(p.new_pk),
           pg_catalog.string_agg(coalesce(p.properties, ''), E'\n'),
           pg_catalog.string_agg(coalesce(p.old_row, ''), E'\n'),
           pg_catalog.string_agg(coalesce(p.new_row, ''), E'\n')
    FROM (SELECT u.id, u.op, u.table_oid, u.old_pk, u.new_pk, u.properties, u.old_row, u.new_row
          FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row, q.xid
                FROM graph._pending_visible AS q
                WHERE q.id > after
                UNION ALL
                SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row, q.xid
                FROM graph._pending_visible AS q
                WHERE q.xid >= oldest AND q.id + 0 <= after) AS u
          WHERE as_role::oid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
            AND NOT pg_catalog.pg_visible_in_snapshot(u.xid::text::xid8, seen)
          LIMIT max_rows) AS p;
END;
$$;

COMMENT ON FUNCTION graph._pending_columns(regrole, integer, pg_snapshot, bigint) IS
'Internal (reads): graph._pending_rows'' rows as one row of columns (arrays; ops as one text; properties and images as texts joined by newlines), for a read that folds them.';
