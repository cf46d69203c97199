-- graph.traverse(...): the nodes reachable from a seed node (seed_table,
-- seed_id), or from many seeds at once (seed_tables[i], seed_ids[i], passed by
-- name, e.g. graph.traverse(seed_tables => ..., seed_ids => ...)), within
-- max_depth edges, breadth-first ('bfs', each
-- node at its least depth) or depth-first ('dfs', preorder).
--   direction 'out' | 'in' | 'any'; edge_types: only edges with these labels;
--   node_tables: only enter nodes of these tables; filter: only enter nodes whose
--   registered filter columns hold these values, e.g. '{"status": "open"}' (a
--   list allows any of its values; tables without that column are not
--   restricted); tenant (default: the graph.tenant setting): only nodes of that
--   tenant, or of tables without a tenant column. Seeds are exempt from
--   node_tables and filter, not from tenant or privileges.
--   max_nodes bounds the answer; capped says the bound cut it short.
--   hydrate: node is the row's key and registered columns, read from the
--   source table as the caller; a row the caller cannot read is neither
--   returned nor entered.
-- Returns one row per node in visit order, with the node it was reached from
-- and the label of that edge. Nodes of tables the caller may not SELECT are
-- never entered. Applies graph.query_freshness first.
-- Reads: graph._csr, graph._edge_overlay, graph._nodes (as the caller), sources.
-- Runs as the caller, without SET search_path: PL/Python re-enters a
-- set-returning function for every row, and a SET clause would be redone each
-- time; every object it uses is schema-qualified.
CREATE OR REPLACE FUNCTION graph.traverse(
    seed_table regclass DEFAULT NULL,
    seed_id text DEFAULT NULL,
    max_depth integer DEFAULT 6,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    node_tables regclass[] DEFAULT NULL,
    filter jsonb DEFAULT NULL,
    tenant text DEFAULT NULL,
    strategy text DEFAULT 'bfs',
    max_nodes integer DEFAULT 10000,
    hydrate boolean DEFAULT FALSE,
    seed_tables regclass[] DEFAULT NULL,
    seed_ids text[] DEFAULT NULL
)
RETURNS TABLE (
    node_table regclass,
    node_id text,
    depth integer,
    parent_table regclass,
    parent_id text,
    edge_label text,
    node jsonb,
    capped boolean
)
LANGUAGE plpython3u
AS $$
if "graphsync" not in GD:
    plpy.execute("SELECT graph._import_package()")
from graphsync import reads
tables, ids = reads.seeds(plpy, seed_table, seed_id, seed_tables, seed_ids)
return reads.traverse_rows(plpy, tables, ids, max_depth, direction, edge_types, node_tables, filter,
                           tenant, strategy, max_nodes, hydrate)
$$;

COMMENT ON FUNCTION graph.traverse(
    regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[]
) IS
'Nodes reachable from a seed (or from seed_tables[i]/seed_ids[i]) within max_depth: bfs or dfs, direction, edge labels, node tables, filter, tenant, max_nodes, hydrate. Fresh per graph.query_freshness.';
