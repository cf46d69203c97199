-- The SQL surface of graphsync: public functions, their signatures, comments,
-- and SECURITY DEFINER hygiene.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(45);

SELECT has_schema('graph');

-- Each public function exists with its signature and result type.
SELECT has_function('graph', 'add_table', ARRAY['regclass', 'text[]', 'text[]', 'text', 'text']);
SELECT function_returns('graph', 'add_table', ARRAY['regclass', 'text[]', 'text[]', 'text', 'text'], 'regclass');
SELECT has_function('graph', 'add_edge',
                    ARRAY['regclass', 'text', 'regclass', 'text', 'text', 'boolean', 'text', 'text', 'regclass',
                          'text[]', 'text[]', 'text[]', 'text']);
SELECT function_returns('graph', 'add_edge',
                        ARRAY['regclass', 'text', 'regclass', 'text', 'text', 'boolean', 'text', 'text', 'regclass',
                              'text[]', 'text[]', 'text[]', 'text'],
                        'integer');
SELECT has_function('graph', 'add_filter_column', ARRAY['regclass', 'text']);
SELECT function_returns('graph', 'add_filter_column', ARRAY['regclass', 'text'], 'void');
SELECT has_function('graph', 'remove_table', ARRAY['regclass', 'boolean']);
SELECT function_returns('graph', 'remove_table', ARRAY['regclass', 'boolean'], 'void');
SELECT has_function('graph', 'remove_edge',
                    ARRAY['regclass', 'text', 'regclass', 'regclass', 'text[]', 'text[]', 'text[]']);
SELECT function_returns('graph', 'remove_edge',
                        ARRAY['regclass', 'text', 'regclass', 'regclass', 'text[]', 'text[]', 'text[]'], 'void');
SELECT has_function('graph', 'apply_sync', ARRAY['integer']);
SELECT function_returns('graph', 'apply_sync', ARRAY['integer'], 'record');
SELECT has_function('graph', 'build', ARRAY[]::text[]);
SELECT function_returns('graph', 'build', ARRAY[]::text[], 'record');
SELECT has_function('graph', 'verify', ARRAY[]::text[]);
SELECT function_returns('graph', 'verify', ARRAY[]::text[], 'setof record');
SELECT has_function('graph', 'sync_health', ARRAY[]::text[]);
-- sync_health's row is one composite type (migration 290), also _health's and _health_masked's
SELECT function_returns('graph', 'sync_health', ARRAY[]::text[], 'graph.sync_health_row');

-- Parameter names, defaults and OUT columns are part of the interface (named
-- arguments are how the demo and the docs call them).
SELECT is(pg_get_function_arguments('graph.add_table(regclass,text[],text[],text,text)'::regprocedure),
          'tbl regclass, id_columns text[] DEFAULT NULL::text[], columns text[] DEFAULT ''{}''::text[], '
          'tenant_column text DEFAULT NULL::text, row_filter text DEFAULT NULL::text', 'add_table parameters');
SELECT is(pg_get_function_arguments(
              'graph.add_edge(regclass,text,regclass,text,text,boolean,text,text,regclass,text[],text[],text[],text)'
              ::regprocedure),
          'from_table regclass, from_column text, to_table regclass, to_column text DEFAULT NULL::text, '
          'label text DEFAULT NULL::text, bidirectional boolean DEFAULT false, '
          'weight_column text DEFAULT NULL::text, label_column text DEFAULT NULL::text, '
          'via_table regclass DEFAULT NULL::regclass, from_columns text[] DEFAULT NULL::text[], '
          'to_columns text[] DEFAULT NULL::text[], json_path text[] DEFAULT NULL::text[], '
          'row_filter text DEFAULT NULL::text', 'add_edge parameters');
-- invalid_weights (migration 472): one form of weighted_shortest_path, the argument last,
-- 'error' by default, so a call made before it keeps its answer.
SELECT has_function('graph', 'weighted_shortest_path',
                    ARRAY['regclass', 'text', 'regclass', 'text', 'text', 'text[]', 'text', 'text']);
SELECT hasnt_function('graph', 'weighted_shortest_path',
                      ARRAY['regclass', 'text', 'regclass', 'text', 'text', 'text[]', 'text'],
                      'the form of weighted_shortest_path without invalid_weights is gone');
SELECT is(pg_get_function_arguments(
              'graph.weighted_shortest_path(regclass,text,regclass,text,text,text[],text,text)'::regprocedure),
          'src_table regclass, src_id text, dst_table regclass, dst_id text, direction text DEFAULT ''out''::text, '
          'edge_types text[] DEFAULT NULL::text[], tenant text DEFAULT NULL::text, '
          'invalid_weights text DEFAULT ''error''::text', 'weighted_shortest_path parameters');
-- Result columns: the documented ones are there, in this order (later versions may
-- add more).
CREATE FUNCTION pg_temp.missing_out_columns(fn regprocedure, want text[]) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(w ORDER BY o), '{}')
    FROM unnest(want) WITH ORDINALITY AS u (w, o)
    WHERE strpos(', ' || pg_get_function_arguments(fn) || ',', ', OUT ' || w || ',') = 0
$$;
SELECT is(pg_temp.missing_out_columns('graph.apply_sync(integer)', ARRAY[
              'inserts bigint', 'updates bigint', 'deletes bigint', 'truncates bigint', 'batches bigint',
              'failed bigint', 'stopped text']), '{}', 'apply_sync result columns');
SELECT ok(pg_get_function_arguments('graph.apply_sync(integer)'::regprocedure)
          LIKE 'max_batches integer DEFAULT NULL::integer, OUT %', 'apply_sync parameter');
SELECT is(pg_temp.missing_out_columns('graph.build()', ARRAY[
              'generation bigint', 'node_count bigint', 'edge_count bigint', 'seconds double precision']),
          '{}', 'build result columns');
SELECT is(pg_get_function_result('graph.verify()'::regprocedure),
          'TABLE(difference text, table_name text, id text, detail jsonb)', 'verify result columns');
SELECT is(ARRAY(SELECT w FROM unnest(ARRAY[
              'applied_sync_id bigint', 'max_sync_log_id bigint', 'pending_sync_rows bigint',
              'failed_sync_rows bigint', 'last_error text', 'disabled_trigger_count bigint',
              'edge_buffer_used bigint', 'edge_buffer_size bigint', 'read_only boolean', 'read_only_reason text',
              'build_required boolean', 'generation bigint']) AS w
                WHERE NOT EXISTS (SELECT FROM pg_attribute AS a
                                  WHERE a.attrelid = 'graph.sync_health_row'::regclass AND NOT a.attisdropped
                                    AND a.attname || ' ' || format_type(a.atttypid, a.atttypmod) = w)),
          '{}', 'sync_health result columns');

-- Every public function (name not starting with _) carries a comment.
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.proname !~ '^_'
      AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
$$, 'every public function of schema graph is commented');
-- Every argument of a public function has a name (the docs call them by name).
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.proname !~ '^_' AND p.pronargs > 0
      AND EXISTS (
          SELECT FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                             coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])),
                             coalesce(p.proargnames, array_fill(''::text, ARRAY[p.pronargs]))) AS a (t, m, n)
          WHERE a.m IN ('i', 'b', 'v') AND coalesce(a.n, '') = '')
$$, 'every argument of a public function of schema graph is named');
-- The public API is exactly these functions, one of each (no overload): a function
-- added, dropped, renamed or left behind by an upgrade shows here.
SELECT bag_eq($$
    SELECT p.proname::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.proname !~ '^_'
$$, $$
    SELECT unnest(ARRAY[
        -- registration
        'add_table', 'add_edge', 'add_filter_column', 'remove_table', 'remove_edge',
        'add_schema', 'alter_table', 'remove_filter_column', 'alter_edge',
        'dangling_references', 'duplicate_edges',
        -- sync
        'build', 'apply_sync', 'verify', 'sync_health', 'changed_nodes',
        -- reads
        'traverse', 'traverse_search', 'search', 'shortest_path', 'weighted_shortest_path',
        'connected_components', 'component_stats', 'component_of',
        'export_dot', 'export_mermaid', 'export_graphml',
        -- operations
        'run_scheduled_maintenance', 'vacuum', 'reconcile', 'retry_failed', 'prune_sync_log',
        'schedule_maintenance', 'unschedule_maintenance', 'set_setting', 'status', 'enable_replica_capture'
    ])
$$, 'the public functions of schema graph are exactly the documented ones');
SELECT has_table('graph', '_sync_log', 'the log table exists');
SELECT isnt(obj_description('graph._sync_log'::regclass, 'pg_class'), NULL, 'the log table is commented');

-- SECURITY DEFINER functions pin search_path (with pg_temp last), so callers cannot
-- capture their unqualified names.
-- sync_health runs as its caller (what it shows is decided by current_user:
-- migration 285); the row behind it comes from definers.
SELECT isnt_definer('graph', 'sync_health', ARRAY[]::text[]);
SELECT is_definer('graph', '_health_masked', ARRAY[]::text[]);
SELECT isnt_definer('graph', 'apply_sync', ARRAY['integer']);
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search\_path=%')
$$, 'every SECURITY DEFINER function of schema graph has search_path in proconfig');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c ~ '^search_path=.*\mpg_temp$')
$$, 'every SECURITY DEFINER function of schema graph puts pg_temp last in search_path');

-- Every function pins search_path, SECURITY INVOKER ones too: what a caller's
-- search_path holds (public, a schema the caller controls) never resolves a name
-- graphsync uses. No SECURITY DEFINER function runs as the installing superuser:
-- graph_capture owns the capture functions, graph_sync every other definer.
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace
      AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
$$, 'every function of schema graph pins search_path = pg_catalog, pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text, p.proowner::regrole::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
      AND p.proowner::regrole::text <> CASE WHEN p.proname LIKE '\_capture\_%' THEN 'graph_capture' ELSE 'graph_sync' END
      AND p.proname NOT IN ('_enable_capture_trigger', 'set_setting', '_hold_sources', '_lock_for_capture')
$$, 'every SECURITY DEFINER function is owned by graph_sync, the capture functions by graph_capture');
-- but for four that need a superuser (a table's triggers, ALTER DATABASE, a source's
-- SHARE UPDATE EXCLUSIVE lock, a registration's trigger DDL lock), each narrow
SELECT is(ARRAY(
    SELECT p.proname::text FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
    WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef AND r.rolsuper ORDER BY 1
), ARRAY['_enable_capture_trigger', '_hold_sources', '_lock_for_capture', 'set_setting'],
'only the trigger, source lock, trigger DDL lock and setting helpers run as a superuser');

-- The same holds for the capture functions registration generates.
CREATE TABLE public.pgtap_fn_t (id int PRIMARY KEY, v text);
SELECT lives_ok($$SELECT graph.add_table('public.pgtap_fn_t', columns => '{v}')$$, 'add_table');
SELECT ok((SELECT p.prosecdef FROM pg_proc AS p
           WHERE p.oid = ('graph._capture_' || 'public.pgtap_fn_t'::regclass::oid)::regproc),
          'the capture function is SECURITY DEFINER');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c ~ '^search_path=.*\mpg_temp$')
$$, 'capture functions pin search_path too');

SELECT * FROM finish();
ROLLBACK;
