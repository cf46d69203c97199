-- graph._check_row_security(tables, purpose): raise 42501, with a hint, when
-- row-level security applies to the calling role on any of ``tables``.
-- build, verify (and so maintenance's source check and reconcile) and
-- retry_failed read every row of the source tables; they call this first and
-- then read with row_security = off (sync/sources.py), so a policy can never
-- silently hide rows from the graph, and a policy function never runs with an
-- admin's privileges: PostgreSQL refuses such a read instead of filtering it.
-- SECURITY INVOKER: pg_catalog.row_security_active() judges the caller.
-- Reads: the catalog.
CREATE OR REPLACE FUNCTION graph._check_row_security(tables oid[], purpose text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    filtered regclass;
BEGIN
    SELECT c.oid::regclass INTO filtered
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = ANY (tables) AND pg_catalog.row_security_active(c.oid)
    ORDER BY c.oid
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'graphsync: % must read every row of table %, but row-level security applies to role %',
            purpose, filtered, current_user
            USING ERRCODE = '42501',
                  DETAIL = 'graphsync reads its source tables with row_security = off: a policy may neither'
                      ' hide rows from the graph nor run with an admin''s privileges.',
                  HINT = format('Grant the role BYPASSRLS (ALTER ROLE %I BYPASSRLS), or run %s as a superuser'
                      ' or as the owner of %s (when it does not FORCE ROW LEVEL SECURITY).',
                      current_user, purpose, filtered);
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._check_row_security(oid[], text) IS
'Internal: raise 42501 with a hint when row-level security applies to the caller on one of the source tables.';
