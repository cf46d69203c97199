-- graph._pending_rows(as_role, max_rows, seen): the pending log rows (committed,
-- or the caller's own uncommitted ones) of tables as_role may SELECT and whose
-- row-level security does not apply to it, in id order, at most max_rows, for a
-- read to fold into its view in memory when it does not apply them. seen (NULL:
-- none): a snapshot of an earlier call whose rows the read folded already; only
-- the rows of transactions it did not see come back (while the applied snapshot
-- stays, those are the rows committed since). as_role must be a role the session
-- user may become (reads pass current_user), so nobody reads rows of tables they
-- could not read anyway.
-- Row-level security: a log row holds the captured values of a source row whatever
-- the table's policies say, and this function, which runs as its owner, cannot
-- run a policy as as_role (nor should it run code a table owner wrote). So the
-- rows of a table whose row-level security applies to as_role -- the executor's
-- test, made for as_role: relrowsecurity, and as_role neither a superuser nor
-- BYPASSRLS, and not the table's owner (or a member of it) unless FORCE ROW LEVEL
-- SECURITY -- never come back; a read by such a role applies them first where it
-- can, and says when it cannot (graph._read_sync).
-- SECURITY DEFINER: the log itself stays admin-only. Without JIT compilation and
-- parallel workers: a half-done pass makes graph._pending_log() scan the log,
-- which can look costly enough for both, which take seconds to start for a scan
-- of milliseconds. Reads: graph._sync_log.
CREATE OR REPLACE FUNCTION graph._pending_rows(as_role regrole, max_rows integer, seen pg_snapshot DEFAULT NULL)
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
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET max_parallel_workers_per_gather = 0
AS $$
    SELECT l.id, l.op, l.table_oid, l.old_pk, l.new_pk, l.properties::text, l.old_row::text,
           l.new_row::text
    FROM graph._pending_log() AS l
    WHERE pg_catalog.pg_has_role(session_user, as_role, 'MEMBER')
      AND pg_catalog.has_table_privilege(as_role, l.table_oid, 'SELECT')
      AND NOT EXISTS (
          SELECT FROM pg_catalog.pg_class AS c, pg_catalog.pg_roles AS r
          WHERE c.oid = l.table_oid AND r.oid = as_role
            AND c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls)
            AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(as_role, c.relowner, 'USAGE')))
      AND (seen IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, seen))
    ORDER BY l.id
    LIMIT max_rows
$$;

COMMENT ON FUNCTION graph._pending_rows(regrole, integer, pg_snapshot) IS
'Internal (reads): pending log rows of the tables a role may SELECT and whose row-level security does not apply to it, for folding into one read in memory; seen: only those an earlier call''s snapshot did not see.';
