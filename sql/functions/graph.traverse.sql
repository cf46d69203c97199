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
-- Reads: graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer), graph._nodes (as the caller), sources.
-- Runs as the caller. RETURN QUERY over graph._traverse (tables passed as
-- oids: the names were resolved by the regclass casts), which returns the
-- answer as one row of array literals (see there); the unnest calls in the
-- select list walk them in step, in visit order, and no row passes through
-- PL/Python. When every node is of one table, graph._traverse returns that table
-- once (node_table) instead of two arrays of it: a node's (and its parent's)
-- table is then that one. PL/pgSQL rather than SQL: its plan is kept for the session, where a
-- SQL function's is redone for every statement that calls it (it matters for
-- small traversals). VOLATILE: a read may apply pending changes; it runs
-- graph._traverse once per call. Every object it uses is schema-qualified.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
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
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    RETURN QUERY
    SELECT
        coalesce(x.node_table, x.one_table)::pg_catalog.regclass,
        x.node_id,
        x.depth,
        CASE WHEN x.parent_id IS NOT NULL THEN coalesce(x.parent_table, x.one_table) END::pg_catalog.regclass,
        x.parent_id,
        x.edge_label,
        x.node,
        x.capped
    FROM (
        SELECT
            pg_catalog.unnest(r.tables::pg_catalog.oid []) AS node_table,
            pg_catalog.unnest(r.ids::pg_catalog.text []) AS node_id,
            pg_catalog.unnest(r.depths::pg_catalog.int4 []) AS depth,
            pg_catalog.unnest(r.parent_tables::pg_catalog.oid []) AS parent_table,
            pg_catalog.unnest(r.parent_ids::pg_catalog.text []) AS parent_id,
            pg_catalog.unnest(r.labels::pg_catalog.text []) AS edge_label,
            pg_catalog.unnest(r.nodes::pg_catalog.jsonb []) AS node,
            r.capped,
            r.node_table AS one_table
        FROM graph._traverse(
            $1::pg_catalog.oid, $2, $3, $4, $5, $6::pg_catalog.oid [], $7, $8, $9, $10, $11,
            $12::pg_catalog.oid [], $13
        ) AS r
    ) AS x;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.traverse(
    regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[]
) IS
'Nodes reachable from a seed (or from seed_tables[i]/seed_ids[i]) within max_depth: bfs or dfs, direction, edge labels, node tables, filter, tenant, max_nodes, hydrate. Fresh per graph.query_freshness.';
