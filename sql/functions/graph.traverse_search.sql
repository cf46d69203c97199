-- graph.traverse_search(...): graph.search for seeds (at most max_seeds), then
-- graph.traverse from all of them at once; takes the arguments of both and
-- returns the rows of graph.traverse. Reads: the sources, then what
-- graph.traverse reads.
-- PL/pgSQL: max_seeds is checked under its own name (search named it max_rows),
-- and errors reach the caller with SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.traverse_search(
    property_key text,
    value text,
    table_filter regclass[] DEFAULT NULL,
    mode text DEFAULT 'exact',
    case_sensitive boolean DEFAULT TRUE,
    max_seeds integer DEFAULT 100,
    max_depth integer DEFAULT 6,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    node_tables regclass[] DEFAULT NULL,
    filter jsonb DEFAULT NULL,
    tenant text DEFAULT NULL,
    strategy text DEFAULT 'bfs',
    max_nodes integer DEFAULT 10000,
    hydrate boolean DEFAULT FALSE
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
    IF max_seeds < 1 OR max_seeds > 100000 THEN
        RAISE EXCEPTION 'graphsync: max_seeds must be between 1 and 100000, not %', max_seeds
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT t.*
    FROM (
        SELECT
            pg_catalog.array_agg(s.node_table) AS seed_tables,
            pg_catalog.array_agg(s.node_id) AS seed_ids
        FROM graph.search(property_key, value, table_filter, mode, case_sensitive, max_seeds, tenant) AS s
    ) AS found
    CROSS JOIN LATERAL graph.traverse(
        seed_tables => found.seed_tables, seed_ids => found.seed_ids, max_depth => max_depth,
        direction => direction, edge_types => edge_types, node_tables => node_tables, filter => $11,
        tenant => tenant, strategy => strategy, max_nodes => max_nodes, hydrate => hydrate
    ) AS t
    WHERE found.seed_tables IS NOT NULL;
EXCEPTION WHEN query_canceled OR OTHERS THEN
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

COMMENT ON FUNCTION graph.traverse_search(
    text, text, regclass[], text, boolean, integer, integer, text, text[], regclass[], jsonb, text, text,
    integer, boolean
) IS
'Search for seed nodes by a registered property, then traverse from all of them (the rows of graph.traverse).';
