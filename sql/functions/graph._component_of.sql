-- graph._component_of(tbl, id, tenant): the work of graph.component_of, packed
-- in one row: table oids and keys of the component's nodes, in node id order,
-- each an array literal (text, cast back by graph.component_of; see
-- graph._traverse). Runs as the caller, with search_path pinned (see
-- graph._traverse).
CREATE OR REPLACE FUNCTION graph._component_of(
    tbl regclass,
    id text,
    tenant text,
    OUT tables text,
    OUT ids text
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.component_of_columns(plpy, tbl, id, tenant)
$$;

COMMENT ON FUNCTION graph._component_of(regclass, text, text) IS
'Internal (graph.component_of): the nodes of a component, packed in one row.';
