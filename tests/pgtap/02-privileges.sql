-- Schema graph is closed to PUBLIC except for what privileges.sql opens: reads of
-- the structural tables, graph._nodes behind row-level security, never the log.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(23);

SELECT ok(
    (SELECT c.relrowsecurity FROM pg_class AS c WHERE c.oid = 'graph._node_rows'::regclass),
    'graph._node_rows (keys and properties), read by PUBLIC through graph._nodes, is behind row-level security'
);
SELECT results_eq($$
    SELECT c.oid::regclass::text, c.relkind::text, c.relowner::regrole::text, r.rolbypassrls OR r.rolsuper
    FROM pg_class AS c JOIN pg_roles AS r ON r.oid = c.relowner
    WHERE c.oid IN ('graph._nodes'::regclass, 'graph._change_log'::regclass, 'graph._labels'::regclass)
    ORDER BY 1
$$, $$ VALUES ('graph._change_log', 'v', 'graph_views', false), ('graph._labels', 'v', 'graph_views', false),
              ('graph._nodes', 'v', 'graph_views', false) $$,
'graph._nodes, graph._change_log and graph._labels are views of graph_views, which row-level security binds');
SELECT is_empty($$
    SELECT c.oid::regclass::text, a.privilege_type
    FROM pg_class AS c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS a
    WHERE c.relnamespace = 'graph'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND a.grantee = 0 AND (a.privilege_type <> 'SELECT' OR c.relname = '_sync_log')
$$, 'PUBLIC can neither change a table of schema graph nor read the log');
SELECT is_empty($$
    SELECT c.oid::regclass::text, a.privilege_type
    FROM pg_class AS c, aclexplode(coalesce(c.relacl, acldefault('s', c.relowner))) AS a
    WHERE c.relnamespace = 'graph'::regnamespace AND c.relkind = 'S' AND a.grantee = 0
      AND a.privilege_type <> 'SELECT'
$$, 'no sequence of schema graph can be advanced by PUBLIC');
SELECT ok(has_function_privilege('public', 'graph.sync_health()', 'EXECUTE'), 'PUBLIC may run graph.sync_health()');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
    FROM pg_proc AS p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
    WHERE p.pronamespace = 'graph'::regnamespace AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
      AND (p.proname IN ('add_table', 'add_edge', 'add_filter_column', 'remove_table', 'remove_edge',
                         'apply_sync', 'build', 'verify')
           OR p.prosrc LIKE '%graph._require_admin()%' OR p.proname LIKE '\_capture\_%')
$$, 'PUBLIC may run no admin function');
-- What PUBLIC may run is exactly this list (sql/privileges.sql grants it by name):
-- health, the reads, and the internal functions reads call as their caller.
SELECT bag_eq($$
    SELECT p.proname::text
    FROM pg_proc AS p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
    WHERE p.pronamespace = 'graph'::regnamespace AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
$$, $$
    SELECT unnest(ARRAY[
        'sync_health', '_health_masked', 'status', 'changed_nodes', '_error_message',
        'traverse', 'traverse_search', 'search', 'shortest_path', 'weighted_shortest_path',
        'connected_components', 'component_stats', 'component_of',
        'export_dot', 'export_mermaid', 'export_graphml',
        '_setting', '_server_setting', '_import_package', '_base_type', '_base_typmod', '_source_name', '_lock_sources', '_leads_index', '_builtin_type', '_value_expr', '_captured_expr',
        '_key_expr', '_object_expr', '_read_sync', '_pending_rows', '_pending_columns', '_pending_keys', '_pending_ids',
        '_row_visible', '_row_scope',
        '_label_visible', '_as_key_expr', '_end_expr', '_edge_filter_expr', '_row_passes', '_filter_type_ok', '_filter_row_expr',
        '_filter_foreign_name',
        '_traverse',
        -- the reads' load of the structural tables, as graph_sync (nothing returned to SQL)
        '_run_as_definer', '_components', '_component_of',
        '_search', '_shortest_path', '_weighted_shortest_path', '_component_stats',
        '_export',
        '_followed_tables', '_follow_registry', '_trigger_states', '_attach_capture', '_note_capture_off',
        -- what the DDL follower calls for an ALTER TYPE as the DDL's role
        '_refuse_enum_relabel',
        -- ... and for an ALTER TABLE (an owner change moves EXECUTE on capture functions)
        '_grant_capture',
        -- ... and whether a DDL concerns a table through members of its tree only
        '_named_members_only',
        -- ... and its NOTICE of a former member's capture triggers (an invoker, the catalog only)
        '_note_leftover_capture',
        -- _lock_by_oid: an invoker the DDL follower locks a renamed schema's tables with;
        -- _trigger_impostors: its test of a created capture trigger
        '_lock_by_oid', '_trigger_impostors',
        -- _trigger_states(oid): the same for one table, _trigger_states(oid[]): for
        -- several (graph._attach_capture asks so), and _trigger_states(oid[], oid[]): of
        -- some members only (graph._note_capture_off asks so)
        '_trigger_states', '_trigger_states', '_trigger_states',
        -- _attach_capture(oid[]): the same for several tables (graph.add_schema), and
        -- _attach_capture(oid[], oid[]): of some members only (the DDL follower)
        '_attach_capture', '_attach_capture'
    ])
$$, 'PUBLIC may run exactly health, the reads and what the reads call');
SELECT schema_privs_are('graph', 'public', ARRAY['USAGE'], 'PUBLIC has USAGE only on schema graph');
SELECT ok(EXISTS (SELECT FROM pg_roles WHERE rolname = 'graph_admin'), 'the graph_admin role exists');
SELECT table_privs_are('graph', '_sync_log', 'graph_admin',
                       ARRAY['DELETE', 'INSERT', 'SELECT', 'TRUNCATE', 'UPDATE'],
                       'graph_admin reads and writes the log, but puts no trigger or foreign key on it');
SELECT is_empty($$
    SELECT c.oid::regclass::text, a.privilege_type
    FROM pg_class AS c, aclexplode(c.relacl) AS a
    WHERE c.relnamespace = 'graph'::regnamespace AND a.grantee = 'graph_admin'::regrole
      AND c.relname IN ('_py_modules', '_migrations', '_version') AND a.privilege_type <> 'SELECT'
$$, 'graph_admin can only read the code tables (_py_modules, _migrations, _version)');
SELECT is_empty($$
    SELECT c.oid::regclass::text, a.privilege_type
    FROM pg_class AS c, aclexplode(c.relacl) AS a
    WHERE c.relnamespace IN ('graph'::regnamespace) AND a.grantee = 'graph_capture'::regrole
      AND NOT (c.relname IN ('_sync_log', '_sync_log_attention') AND a.privilege_type = 'INSERT')
      AND NOT (c.relkind = 'S' AND a.privilege_type = 'USAGE')
$$, 'graph_capture may only append to the log (and note a TRUNCATE row''s id for attention)');

-- A role that is neither superuser nor graph_admin member.
CREATE ROLE pgtap_nobody NOLOGIN;
SET LOCAL ROLE pgtap_nobody;
SELECT throws_ok('SELECT count(*) FROM graph._sync_log', '42501', NULL, 'PUBLIC cannot read the log');
SELECT throws_ok('INSERT INTO graph._sync_log (op, table_oid, table_name) VALUES (''T'', 0, ''x'')', '42501',
                 NULL, 'PUBLIC cannot write the log');
SELECT throws_ok('DELETE FROM graph._nodes', '42501', NULL, 'PUBLIC cannot change the graph');
SELECT throws_ok('SELECT count(*) FROM graph._csr', '42501', NULL, 'PUBLIC cannot read the base''s edges');
SELECT throws_ok('SELECT count(*) FROM graph._edge_overlay', '42501', NULL, 'PUBLIC cannot read the overlay''s edges');
SELECT throws_ok('SELECT count(*) FROM graph._edge_cuts', '42501', NULL, 'PUBLIC cannot read the cuts');
SELECT throws_ok('SELECT graph._run_as_definer(1)', '42501', NULL, 'PUBLIC cannot make graph_sync run anything');
SELECT throws_ok('SELECT graph.add_table(''pg_class'')', '42501', NULL, 'PUBLIC cannot register tables');
SELECT throws_ok('SELECT * FROM graph.apply_sync()', '42501', NULL, 'PUBLIC cannot replay');
SELECT lives_ok('SELECT * FROM graph.sync_health()', 'PUBLIC can read sync health');
SELECT lives_ok('SELECT graph._setting(''graph.sync_batch_size'')', 'PUBLIC can read a graph setting');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
