-- Every function that renders source values as text (directly, or through
-- build, the source read or replay) runs with graph._output_settings(), the
-- same settings the capture functions pin; but the two that graph tables'
-- policies call once a row (graph._row_visible, graph._label_visible), which
-- pin them around the statements that render (graphsync.db.output_pinned).
-- Applied after the functions are (re)created on every install. Functions are
-- chosen by name from the catalog (every overload of each), so no signature is
-- restated here; a name that matches no function is an error.
DO $$
DECLARE
    names text [] := ARRAY[
        'build', 'apply_sync', 'verify', 'reconcile', 'retry_failed', 'run_scheduled_maintenance', 'vacuum',
        '_traverse', 'search', 'dangling_references', 'duplicate_edges',
        -- the other reads: under row-level security they compare the keys and labels of
        -- the rows the caller can see, rendered, with captured ones (reads/access.py,
        -- reads/edge_rows.py; before the thirty-sixth stop in the caller's settings, so
        -- that extra_float_digits -13 made a hidden row's float key 1.1 look seen)
        '_shortest_path', '_weighted_shortest_path', '_components', '_component_stats', '_component_of', '_export',
        -- the deparse of a row filter: the text capture, build and verify read under them
        '_deparse_filter'
    ];
    fn regprocedure;
BEGIN
    FOR fn IN SELECT f FROM graph._functions_named(names, 'sql/output-settings.sql') AS f LOOP
        EXECUTE format('ALTER FUNCTION %s %s', fn, graph._output_settings());
    END LOOP;
END;
$$;
