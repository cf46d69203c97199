-- graph._components(tenant): the work of graph.connected_components, packed in
-- one row: table oids, keys and component numbers of the nodes, in node id
-- order, each an array literal (text, cast back by graph.connected_components:
-- PL/Python converts a list element by element, a text at once). Runs as the
-- caller.
CREATE OR REPLACE FUNCTION graph._components(
    tenant text,
    OUT tables text,
    OUT pks text,
    OUT components text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.connected_components_columns(plpy, tenant)
$$;

COMMENT ON FUNCTION graph._components(text) IS
'Internal (graph.connected_components): every visible node and its component, packed in one row.';
