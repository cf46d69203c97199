-- graph.traverse_search(...): graph.search for seeds (at most max_seeds), then
-- graph.traverse from all of them at once; takes the arguments of both and
-- returns the rows of graph.traverse. Reads: the sources, then what
-- graph.traverse reads. Unnests graph._traverse like graph.traverse does (one
-- row of arrays, see there).
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
LANGUAGE sql
VOLATILE
AS $$
    SELECT
        pg_catalog.unnest(t.tables::pg_catalog.oid []::pg_catalog.regclass []),
        pg_catalog.unnest(t.ids::pg_catalog.text []),
        pg_catalog.unnest(t.depths::pg_catalog.int4 []),
        pg_catalog.unnest(t.parent_tables::pg_catalog.oid []::pg_catalog.regclass []),
        pg_catalog.unnest(t.parent_ids::pg_catalog.text []),
        pg_catalog.unnest(t.labels::pg_catalog.text []),
        pg_catalog.unnest(t.nodes::pg_catalog.jsonb []),
        t.capped
    FROM (
        SELECT
            pg_catalog.array_agg(s.node_table) AS seed_tables,
            pg_catalog.array_agg(s.node_id) AS seed_ids
        FROM graph.search(property_key, value, table_filter, mode, case_sensitive, max_seeds, tenant) AS s
    ) AS found
    CROSS JOIN LATERAL graph._traverse(
        NULL, NULL, max_depth, direction, edge_types, node_tables, $11, tenant, strategy, max_nodes, hydrate,
        found.seed_tables, found.seed_ids
    ) AS t
    WHERE found.seed_tables IS NOT NULL
$$;

COMMENT ON FUNCTION graph.traverse_search(
    text, text, regclass[], text, boolean, integer, integer, text, text[], regclass[], jsonb, text, text,
    integer, boolean
) IS
'Search for seed nodes by a registered property, then traverse from all of them (the rows of graph.traverse).';
