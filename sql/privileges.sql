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

-- graph_admin changes the graph, never the code that runs it: the PL/Python
-- package (graph._py_modules: whoever writes it runs Python as the server's OS
-- user) and the install records (graph._migrations, graph._version) change only
-- through install.py, as their owner. No graph_admin member may put a trigger on
-- (or a foreign key to) a graph table either: its function would run as
-- whoever writes that table next, a superuser's build included.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON graph._py_modules, graph._migrations, graph._version FROM graph_admin;
-- The schema-change follower's mark (migration 438) is written by graphsync's definer
-- role alone: a graph admin who could write it could change the registry unseen by
-- the version reads key their caches on.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON graph._following_renames FROM graph_admin;
GRANT INSERT, DELETE ON graph._following_renames TO graph_sync;
REVOKE TRIGGER, REFERENCES ON ALL TABLES IN SCHEMA graph FROM graph_admin;
-- graph._locks (migration 421): graph_admin may lock its rows (UPDATE on held_by,
-- which SELECT ... FOR UPDATE needs), not add, remove or rename one.
REVOKE ALL ON graph._locks FROM graph_admin;
GRANT SELECT, UPDATE (held_by) ON graph._locks TO graph_admin;
-- The package's compiled code is stored by the installing role alone, as its source is.
REVOKE EXECUTE ON FUNCTION graph._compile_package() FROM graph_admin;

-- Who SECURITY DEFINER code runs as (the roles install.py creates: NOLOGIN, not
-- superusers). graph_capture owns the generated capture functions
-- (graph._capture_<oid>) and may do nothing but append to the log. graph_sync owns
-- the other definers (health, status, the read helpers, capture generation) and
-- holds graph_admin's table rights through its membership; it may create
-- functions in schema graph (capture generation) and lend that right to
-- graph_capture for the moment a new capture function is handed over
-- (graph._write_capture). Four stay with the installing superuser; below, why.
GRANT USAGE ON SCHEMA graph TO graph_capture;
GRANT INSERT ON graph._sync_log TO graph_capture;
-- ... and note the id of a TRUNCATE marker it logs (migration 385).
GRANT INSERT ON graph._sync_log_attention TO graph_capture;
-- ... and plan its type check (graph._type_of, folded when a statement is planned).
GRANT EXECUTE ON FUNCTION graph._type_of(anyelement) TO graph_capture;
GRANT CREATE ON SCHEMA graph TO graph_sync WITH GRANT OPTION;
DO $$
DECLARE
    fn regprocedure;
    owner text;
BEGIN
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO graph_capture',
                   pg_catalog.pg_get_serial_sequence('graph._sync_log', 'id'));
    -- Four definers stay with the installing superuser on purpose: only a table's
    -- owner may enable its triggers (graph._enable_capture_trigger: reconcile by an
    -- admin who owns no table), only the database's owner may ALTER DATABASE
    -- ... SET (graph.set_setting), and only a table's owner or a role that may write
    -- it may lock it SHARE UPDATE EXCLUSIVE (graph._hold_sources: a superuser's or
    -- admin's read holds its sources against new indexes, statistics, partitions), nor
    -- in the stronger modes a registration's trigger DDL takes (graph._lock_for_capture:
    -- that lock before the registry write, on tables the session's role has TRIGGER on;
    -- both lock through graph._lock_tables, an invoker, which so runs as their owner).
    -- Each refuses a session user outside graph_admin
    -- and does that one thing, to graphsync's own capture triggers or graph.*
    -- settings only, running no code a table owner controls.
    FOR fn, owner IN
        SELECT p.oid::regprocedure, CASE WHEN p.proname LIKE '\_capture\_%' THEN 'graph_capture'
                                         WHEN p.proname IN ('_enable_capture_trigger', 'set_setting', '_hold_sources',
                                                            '_lock_for_capture') THEN current_user
                                         ELSE 'graph_sync' END
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
        ORDER BY p.oid
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', fn, owner);
    END LOOP;
    -- graph._server_setting reads the graph.* values of the server's configuration
    -- files as graph_sync (PostgreSQL shows them to superusers only).
    GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO graph_sync;
    -- Health reads pg_cron's job tables as graph_sync.
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'cron') THEN
        GRANT USAGE ON SCHEMA cron TO graph_sync;
    END IF;
END;
$$;

-- Reads (graph.traverse, paths, components, search) run as the caller. The
-- registry, the node ids of graph._nodes and the label ids are readable by
-- everyone. The edges are not: graph._csr, graph._edge_overlay and graph._edge_cuts
-- hold every row's edges and weights (a reader read there the weights and ends of
-- the rows of tables it may not SELECT), so they are graph_admin's alone, and a
-- read loads them into its backend's memory through graph._run_as_definer
-- (graph_sync's; it returns nothing to SQL), then drops the edges its caller may
-- not read. Label names are row values: graph._labels' row-level security
-- (migration 240) shows each reader the labels it could read from the sources;
-- the sequence of label ids tells reads the highest id (a number, no label). Keys, tenants and properties live in graph._nodes (a
-- view, below), whose row-level security (migrations 002, 180, 245) shows each reader only the nodes of the
-- tables it may SELECT, and of those only the nodes whose source row it can see. The log stays admin-only: reads reach it through the
-- SECURITY DEFINER functions graph._read_sync and graph._pending_ids (through the
-- views graph._pending_visible and graph._pending_by_xid, which graph._pending_columns
-- reads as the caller).
GRANT SELECT ON graph._labels, graph._sync_state,
graph._node_tables, graph._edge_sources, graph._nodes, graph._graph_version, graph._column_renames,
graph._py_modules TO public;
-- What capture was generated for: each registered column's attribute number (a
-- registered column's name, from the registry, and its place, from pg_attribute:
-- nothing PUBLIC cannot read there). The row policies of graph._nodes and
-- graph._labels and the reads ask it as the caller whether a registered column's name
-- still means that column (reads db.as_captured): a column renamed and replaced
-- where the rename could not be followed is never read for it.
GRANT SELECT ON graph._column_map TO public;
-- What replay applied (graph.changed_nodes reads it as the caller): row-level
-- security (migration 100) shows each role the node changes of the tables it may SELECT.
GRANT SELECT ON graph._change_log TO public;
-- The pending log rows a read folds (graph._pending_columns): the views show each role
-- the rows of the tables it may read, decided as that role (migrations 250, 422).
GRANT SELECT ON graph._pending_visible, graph._pending_by_xid TO public;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON graph._pending_by_xid FROM graph_admin;
-- The failed log rows health may quote to a role (graph.sync_health): the view shows
-- each role those of the tables it may read, decided as that role (migration 285).
GRANT SELECT ON graph._failed_visible TO public;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON graph._failed_visible FROM graph_admin;
GRANT SELECT ON SEQUENCE graph._labels_label_id_seq TO public;
-- The log's id sequence tells reads the highest log id handed out (a number, which
-- graph.sync_health() shows every role as max_sync_log_id): a read at rest tells
-- "nothing pending" from it and graph._sync_state without calling graph._read_sync
-- (reads/start.py). SELECT only: no nextval or setval.
GRANT SELECT ON SEQUENCE graph._sync_log_id_seq TO public;
-- graph._nodes, graph._change_log and graph._labels are views owned by
-- graph_views (migration 245) over graph._node_rows, graph._change_log_rows and
-- graph._label_rows, which only graph_admin reads or writes directly: a view
-- applies the row-level security of its table to every reader, BYPASSRLS ones
-- included. graph_views reads those three tables and nothing else; nobody
-- writes through the views.
GRANT SELECT ON graph._node_rows, graph._change_log_rows, graph._label_rows TO graph_views;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON graph._nodes, graph._change_log, graph._labels FROM graph_admin;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON graph._nodes, graph._change_log, graph._labels
FROM graph_views;

-- Functions every role may call: health, the reads, and the internal functions
-- the reads call as their caller. Chosen by name from the catalog (every
-- overload of each), so no signature is restated here; a name that matches no
-- function is an error, not a grant silently lost.
DO $$
DECLARE
    names text [] := ARRAY[
        -- health, and catching up on change notifications
        'sync_health', 'status', 'changed_nodes',
        -- health's row without error messages (graph.sync_health calls it as its caller)
        '_health_masked',
        -- what every public wrapper's error handler calls as its caller
        '_error_message',
        -- reads
        'traverse', 'traverse_search', 'search', 'shortest_path', 'weighted_shortest_path',
        'connected_components', 'component_stats', 'component_of',
        'export_dot', 'export_mermaid', 'export_graphml',
        -- what the reads call as their caller
        '_setting', '_server_setting', '_import_package', '_base_type', '_base_typmod', '_source_name', '_lock_sources', '_leads_index', '_builtin_type', '_value_expr', '_captured_expr', '_key_expr',
        '_object_expr', '_read_sync', '_pending_rows', '_pending_columns', '_pending_keys', '_pending_ids',
        -- ... and to read, as the caller, the edges a join table's rows carry
        -- (reads/edge_rows.py): catalog-only generators of the endpoint and row filter SQL
        '_as_key_expr', '_end_expr', '_edge_filter_expr', '_filter_type_ok', '_filter_row_expr', '_filter_foreign_name',
        '_row_passes',
        -- what graph._nodes' row-level security calls as whoever reads it
        '_row_visible', '_row_scope',
        -- ... and graph._labels' row-level security
        '_label_visible',
        '_run_as_definer', '_traverse', '_components', '_component_of',
        '_search', '_shortest_path', '_weighted_shortest_path', '_component_stats',
        '_export',
        -- what the event trigger graph._follow_ddl calls as the role whose DDL it
        -- follows (a table owner): each derives what it does from the catalog
        '_followed_tables', '_follow_registry', '_trigger_states', '_attach_capture', '_note_capture_off',
        '_refuse_enum_relabel', '_grant_capture', '_named_members_only', '_note_leftover_capture',
        -- ... its test of a replaced capture trigger, and its ALTER SCHEMA lock (an
        -- invoker: LOCK TABLE as its caller)
        '_trigger_impostors', '_lock_by_oid'
    ];
    fn regprocedure;
BEGIN
    FOR fn IN SELECT f FROM graph._functions_named(names, 'sql/privileges.sql') AS f LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO public', fn);
    END LOOP;
END;
$$;
