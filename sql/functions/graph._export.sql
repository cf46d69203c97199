-- graph._export(format, ...): the work of graph.export_dot, graph.export_mermaid
-- and graph.export_graphml (format 'dot', 'mermaid' or 'graphml'; the other
-- arguments are theirs, none optional; see there), in PL/Python
-- (plpython/graphsync/reads/export.py: one picture of the traversal, one
-- renderer per format). Each public function calls it with its format and
-- passes its errors on without PL/Python's traceback. A format that is none of
-- those raises 22023. Runs as the caller, as the public functions do. Internal.
CREATE OR REPLACE FUNCTION graph._export(
    format text,
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
return export.export_text(plpy, format, seed_table, seed_id, seed_tables, seed_ids, max_depth, direction,
                          edge_types, node_tables, filter, tenant, max_nodes, label_property)
$$;

COMMENT ON FUNCTION graph._export(
    text, regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]
) IS
'Internal: the work of graph.export_dot, graph.export_mermaid and graph.export_graphml (format dot, mermaid or graphml), in PL/Python.';
