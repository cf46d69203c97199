-- graph._setting(name): the value in force of the graph.* setting name, as
-- text: the session's (or role's, or database's) value, else its default;
-- NULL for a setting without a value (graph.tenant unset). The one accessor
-- SQL uses: every setting is declared once, with its default, allowed values
-- and scope, in plpython/graphsync/settings.py, and validated there: a bad
-- value is SQLSTATE 22023 saying what is allowed. Reads: the setting only.
CREATE OR REPLACE FUNCTION graph._setting(name text)
RETURNS text
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync import settings
return settings.text(plpy, name)
$$;

COMMENT ON FUNCTION graph._setting(text) IS
'The value in force of a graph.* setting as text, validated against its declaration (22023 when bad); its default when unset (internal).';
