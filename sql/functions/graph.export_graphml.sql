-- graph.export_graphml(...): the neighbourhood graph.traverse finds, as
-- a GraphML document (networkx.read_graphml, Gephi, yEd, ...).
-- Takes graph.traverse's arguments (seed_table/seed_id, or seed_tables[i]/
-- seed_ids[i] by name; max_depth, direction, edge_types, node_tables, filter,
-- tenant, max_nodes; see graph.traverse) plus label_property: a key or property
-- column whose value each node's label shows (read from the source row as the
-- caller, as traverse's hydrate does). Returns the text: one node per node the
-- traversal returns, labelled with its table and key, and every edge among them
-- (not only the edges the walk took) with its label and weight, every text
-- escaped for the format (plpython/graphsync/reads/export.py).
-- Runs as the caller: graph.traverse does the walk (same checks, freshness,
-- privileges, bounds and SQLSTATEs); 42703 for an unknown label_property.
-- Reads: what graph.traverse reads (graph._csr, graph._edge_overlay (as graph_sync: graph._run_as_definer),
-- graph._nodes as the caller, the sources when label_property is given).
-- PL/pgSQL around graph._export('graphml', ...), which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only.
CREATE OR REPLACE FUNCTION graph.export_graphml(
    seed_table regclass DEFAULT NULL,
    seed_id text DEFAULT NULL,
    max_depth integer DEFAULT 6,
    direction text DEFAULT 'out',
    edge_types text[] DEFAULT NULL,
    node_tables regclass[] DEFAULT NULL,
    filter jsonb DEFAULT NULL,
    tenant text DEFAULT NULL,
    max_nodes integer DEFAULT 10000,
    label_property text DEFAULT NULL,
    seed_tables regclass[] DEFAULT NULL,
    seed_ids text[] DEFAULT NULL
)
RETURNS text
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
    RETURN graph._export('graphml', seed_table, seed_id, max_depth, direction, edge_types, node_tables, filter, tenant, max_nodes, label_property, seed_tables, seed_ids);
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

COMMENT ON FUNCTION graph.export_graphml(
    regclass, text, integer, text, text[], regclass[], jsonb, text, integer, text, regclass[], text[]
) IS
'The nodes graph.traverse returns (same arguments) and every edge among them, with labels and weights, as GraphML text; label_property adds a property to node labels.';
