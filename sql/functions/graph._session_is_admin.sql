-- graph._session_is_admin(): whether the session user (the role that logged in,
-- or SET SESSION AUTHORIZATION) is a superuser or a member of graph_admin.
-- SECURITY DEFINER functions run as their owner, so current_user cannot tell who
-- called them; session_user tells who reads the session's messages. Decides what
-- the WARNINGs of a read (graph._read_sync) may quote: they go to the session's
-- client, never to the code that called the read. On its own, not for what a
-- function returns: code of another role that the session user calls would get
-- it. Health decides by current_user (migration 285) and asks this as well, so
-- that a role given EXECUTE on graph._health by mistake is shown nothing in its
-- own sessions (graph._health, graph._cron_job_state). Reads: the catalog.
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
