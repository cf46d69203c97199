-- graph._search(...): the work of graph.search (same arguments, none optional;
-- see there), in PL/Python. graph.search calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._search(
    property_key text,
    value text,
    table_filter regclass[],
    mode text,
    case_sensitive boolean,
    max_rows integer,
    tenant text
)
RETURNS TABLE (node_table regclass, node_id text, matched text, node jsonb)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import search
return search.search_rows(plpy, property_key, value, table_filter, mode, case_sensitive, max_rows, tenant)
$$;

COMMENT ON FUNCTION graph._search(text, text, regclass[], text, boolean, integer, text) IS
'Internal: the work of graph.search, in PL/Python.';
