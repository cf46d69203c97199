-- graph.search(...): nodes whose registered property column property_key
-- matches value, found by SQL on the source tables as the caller (privileges,
-- row-level security and indexes apply). mode 'exact' | 'prefix' |
-- 'contains'; case_sensitive; table_filter: only these node tables; tenant
-- (default: graph.tenant): only rows of that tenant in tables with a tenant
-- column; at most max_rows rows. node is the row's key and registered columns.
-- Reads: the source tables.
CREATE OR REPLACE FUNCTION graph.search(
    property_key text,
    value text,
    table_filter regclass[] DEFAULT NULL,
    mode text DEFAULT 'exact',
    case_sensitive boolean DEFAULT TRUE,
    max_rows integer DEFAULT 100,
    tenant text DEFAULT NULL
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

COMMENT ON FUNCTION graph.search(text, text, regclass[], text, boolean, integer, text) IS
'Find nodes by a registered property (exact, prefix or contains; case sensitive or not) through SQL on the source tables.';
