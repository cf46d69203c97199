-- graph._session_is_admin(): whether the session user (the role that logged in,
-- or SET SESSION AUTHORIZATION) is a superuser or a member of graph_admin.
-- SECURITY DEFINER functions (health, the read helpers) run as their owner, so
-- current_user cannot tell who called them; session_user can. Decides who sees
-- source values in health and in the messages of a read (graph.sync_health,
-- graph._read_sync). Reads: the catalog.
CREATE OR REPLACE FUNCTION graph._session_is_admin()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER')
$$;

COMMENT ON FUNCTION graph._session_is_admin() IS
'Internal: whether the session user is a superuser or a member of graph_admin.';
