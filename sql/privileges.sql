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

GRANT EXECUTE ON FUNCTION graph.sync_health() TO public;
GRANT EXECUTE ON FUNCTION graph.status() TO public;

-- Reads (graph.traverse, paths, components, search) run as the caller. The
-- structural graph tables are readable by everyone: node ids, edges, labels,
-- the registry. Keys, tenants and properties live in graph._nodes, whose
-- row-level security (migration 002) shows each reader only the nodes of the
-- tables it may SELECT. The log stays admin-only: reads reach it through the
-- SECURITY DEFINER functions graph._read_sync and graph._pending_rows.
GRANT SELECT ON graph._csr, graph._edge_overlay, graph._edge_cuts, graph._labels, graph._sync_state,
graph._node_tables, graph._edge_sources, graph._nodes, graph._graph_version, graph._py_modules TO public;
GRANT EXECUTE ON FUNCTION
graph._import_package(),
graph._key_expr(text[], text),
graph._object_expr(text[], text, boolean),
graph._read_sync(boolean),
graph._pending_rows(regrole, integer),
graph._node_delta(),
graph._node_runs(bigint),
graph._components(text),
graph._component_of(regclass, text, text),
graph._traverse(
    regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[]
),
graph.traverse(
    regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[]
),
graph.shortest_path(regclass, text, regclass, text, integer, text, text[], text),
graph.weighted_shortest_path(regclass, text, regclass, text, text, text[], text),
graph.connected_components(text),
graph.component_stats(text),
graph.component_of(regclass, text, text),
graph.search(text, text, regclass[], text, boolean, integer, text),
graph.traverse_search(
    text, text, regclass[], text, boolean, integer, integer, text, text[], regclass[], jsonb, text, text,
    integer, boolean
) TO public;
