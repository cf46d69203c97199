-- graph._export_graphml(...): the work of graph.export_graphml (same arguments, none optional;
-- see there), in PL/Python. graph.export_graphml calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._export_graphml(
    seed_table regclass,
    seed_id text,
    max_depth integer,
    direction text,
    edge_types text[],
    node_tables regclass[],
    filter jsonb,
    tenant text,
    max_nodes integer,
    label_property text,
    seed_tables regclass[],
    seed_ids text[]
)
RETURNS text
LANGUAGE plpython3u
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import export
return export.export_text(plpy, "graphml", seed_table, seed_id, seed_tables, seed_ids, max_depth, direction,
                          edge_types, node_tables, filter, tenant, max_nodes, label_property)
$$;

COMMENT ON FUNCTION graph._export_graphml(regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]) IS
'Internal: the work of graph.export_graphml, in PL/Python.';
