-- graph._server_setting(name): the value the server's configuration files give
-- the graph.* setting name (postgresql.conf, its includes, and
-- postgresql.auto.conf, which ALTER SYSTEM writes), or NULL when they give none.
-- The shared settings' rule (plpython/graphsync/settings.py) takes it, after the
-- database's value, for a session that is not an admin's: such a session's own
-- value may come from SET or ALTER ROLE, so it cannot say what the server says.
-- PostgreSQL shows the files' values to superusers only: SECURITY DEFINER,
-- owned by graph_sync, which the install lets execute
-- pg_show_all_file_settings(); it answers for graph.* names only (NULL for any
-- other), so it shows nothing but what an admin configured for graphsync. The
-- files as they are now: a value written and not yet reloaded counts already.
-- Reads: the server's configuration files.
CREATE OR REPLACE FUNCTION graph._server_setting(name text)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.setting
    FROM pg_catalog.pg_show_all_file_settings() AS f
    WHERE f.name = $1 AND f.applied AND $1 ~ '^graph\.[a-z_]+$'
    ORDER BY f.seqno DESC
    LIMIT 1
$$;

COMMENT ON FUNCTION graph._server_setting(text) IS
'Internal: the value the server''s configuration files (postgresql.conf, ALTER SYSTEM) give a graph.* setting, for the shared settings'' rule.';
