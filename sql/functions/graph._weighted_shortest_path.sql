-- graph._weighted_shortest_path(...): the work of graph.weighted_shortest_path (same arguments, none optional;
-- see there), in PL/Python. graph.weighted_shortest_path calls it and passes its errors on
-- without PL/Python's traceback. Internal.
CREATE OR REPLACE FUNCTION graph._weighted_shortest_path(
    src_table regclass,
    src_id text,
    dst_table regclass,
    dst_id text,
    direction text,
    edge_types text[],
    tenant text,
    invalid_weights text
)
RETURNS TABLE (
    step integer,
    node_table regclass,
    node_id text,
    edge_label text,
    edge_weight double precision,
    cost double precision,
    total_cost double precision
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.weighted_shortest_path_rows(plpy, src_table, src_id, dst_table, dst_id, direction,
                                         edge_types, tenant, invalid_weights)
$$;

COMMENT ON FUNCTION graph._weighted_shortest_path(regclass, text, regclass, text, text, text[], text, text) IS
'Internal: the work of graph.weighted_shortest_path, in PL/Python.';
