-- graph._traverse(...): the work of graph.traverse (same arguments, none
-- optional), returned as one row: parallel columns in visit order, each an
-- array literal (text) of final values -- table oids, ids, depths, parent table
-- oids, parent ids, edge labels, node json (NULL unless hydrate) -- capped, and
-- node_table: when every node is of one table, its oid, and then the columns of
-- table oids and parent table oids are NULL (parsing two literals of oids is
-- about a third of the time graph.traverse takes to read a large answer back).
-- graph.traverse casts them back and unnests them: PL/Python re-enters a
-- set-returning function for every row it returns and converts a list element
-- by element, while a text crosses in one go and array_in reads it in C.
-- Tables come as oids (graph.traverse casts its regclass arguments): PL/Python
-- takes an oid as a number, where a regclass would be rendered to a name and
-- parsed back on every call; a name is rendered only for an error message.
-- Runs as the caller, like graph.traverse, with search_path pinned: no function,
-- operator or type the SQL it runs names can come from a schema the caller (or
-- anyone who can create in a schema on the caller's path) controls.
CREATE OR REPLACE FUNCTION graph._traverse(
    seed_table oid,
    seed_id text,
    max_depth integer,
    direction text,
    edge_types text[],
    node_tables oid[],
    filter jsonb,
    tenant text,
    strategy text,
    max_nodes integer,
    hydrate boolean,
    seed_tables oid[],
    seed_ids text[],
    OUT tables text,
    OUT ids text,
    OUT depths text,
    OUT parent_tables text,
    OUT parent_ids text,
    OUT labels text,
    OUT nodes text,
    OUT capped boolean,
    OUT node_table oid
)
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import api
return api.traverse_columns(plpy, seed_table, seed_id, seed_tables, seed_ids, max_depth, direction, edge_types,
                              node_tables, filter, tenant, strategy, max_nodes, hydrate)
$$;

COMMENT ON FUNCTION graph._traverse(
    oid, text, integer, text, text[], oid[], jsonb, text, text, integer, boolean, oid[], text[]
) IS
'Internal (graph.traverse): the traversal as one row of arrays in visit order.';
