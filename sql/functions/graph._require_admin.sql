-- graph._require_admin(): raise 42501 unless the caller is a superuser or a
-- member of graph_admin. Every admin-only function calls it first.
CREATE OR REPLACE FUNCTION graph._require_admin()
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', current_user
            USING ERRCODE = '42501';
    END IF;
END;
$$;
