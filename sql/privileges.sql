-- Privileges, applied last on every install. Nothing in schema graph is open to
-- PUBLIC except what is granted here; graph_admin runs registration, build,
-- replay and verify. Capture trigger functions are SECURITY DEFINER, so writers
-- of registered tables need no right on the log.
REVOKE ALL ON ALL TABLES IN SCHEMA graph FROM public;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA graph FROM public;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA graph FROM public;
GRANT USAGE ON SCHEMA graph TO public;

GRANT ALL ON ALL TABLES IN SCHEMA graph TO graph_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA graph TO graph_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph TO graph_admin;

-- Reads (graph.traverse, paths, components, search) run as the caller. The
-- structural graph tables are readable by everyone: node ids, edges, labels,
-- the registry. Keys, tenants and properties live in graph._nodes, whose
-- row-level security (migration 002) shows each reader only the nodes of the
-- tables it may SELECT. The log stays admin-only: reads reach it through the
-- SECURITY DEFINER functions graph._read_sync and graph._pending_rows.
GRANT SELECT ON graph._csr, graph._edge_overlay, graph._edge_cuts, graph._labels, graph._sync_state,
graph._node_tables, graph._edge_sources, graph._nodes, graph._graph_version, graph._py_modules TO public;

-- Functions every role may call: health, the reads, and the internal functions
-- the reads call as their caller. Chosen by name from the catalog (every
-- overload of each), so no signature is restated here; a name that matches no
-- function is an error, not a grant silently lost.
DO $$
DECLARE
    names text [] := ARRAY[
        -- health
        'sync_health', 'status',
        -- reads
        'traverse', 'traverse_search', 'search', 'shortest_path', 'weighted_shortest_path',
        'connected_components', 'component_stats', 'component_of',
        -- what the reads call as their caller
        '_setting', '_import_package', '_key_expr', '_object_expr', '_read_sync', '_pending_rows',
        '_node_changes', '_node_runs', '_traverse', '_components', '_component_of'
    ];
    missing text [];
    fn regprocedure;
BEGIN
    missing := ARRAY(
        SELECT n FROM unnest(names) AS n
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                          WHERE p.pronamespace = 'graph'::regnamespace AND p.proname = n)
    );
    IF missing <> '{}' THEN
        RAISE EXCEPTION 'sql/privileges.sql names functions schema graph does not have: %', missing;
    END IF;
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'graph'::regnamespace AND p.proname = ANY(names)
        ORDER BY p.oid
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO public', fn);
    END LOOP;
END;
$$;
