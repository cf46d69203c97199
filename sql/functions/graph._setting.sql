-- graph._setting(name): the value in force of the graph.* setting ``name``, as
-- text. Stub: to be replaced by the accessor backed by the one declaration of
-- every setting (plpython/graphsync/settings.py).
CREATE OR REPLACE FUNCTION graph._setting(name text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.current_setting(name, true)
$$;

COMMENT ON FUNCTION graph._setting(text) IS
'The value in force of a graph.* setting (internal).';
