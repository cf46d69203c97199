-- graph._session_may_read(tbl): whether the session user may see values of
-- table tbl in an error message or a health column: an admin always (see
-- graph._session_is_admin); another role when it may SELECT the whole table
-- and no row-level security hides rows of it from that role (it owns the
-- table and the policy is not forced, or it has BYPASSRLS). False for a table
-- that no longer exists. Used by graph.sync_health (last_error).
-- Reads: the catalog.
CREATE OR REPLACE FUNCTION graph._session_may_read(tbl oid)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT graph._session_is_admin() OR coalesce((
        SELECT pg_catalog.has_table_privilege(session_user, c.oid, 'SELECT')
           AND (NOT c.relrowsecurity
                OR r.rolbypassrls
                OR (NOT c.relforcerowsecurity AND pg_catalog.pg_has_role(session_user, c.relowner, 'USAGE')))
        FROM pg_catalog.pg_class AS c, pg_catalog.pg_roles AS r
        WHERE c.oid = tbl AND r.rolname = session_user), false)
$$;

COMMENT ON FUNCTION graph._session_may_read(oid) IS
'Internal: whether the session user may see values of a table (admin, or SELECT on it without row-level security in the way).';
