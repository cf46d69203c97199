-- Every function that renders source values as text (directly, or through
-- build, the source read or replay) runs with graph._output_settings(), the
-- same settings the capture functions pin. Applied after the functions are
-- (re)created on every install. Functions are chosen by name from the catalog
-- (every overload of each), so no signature is restated here; a name that
-- matches no function is an error.
DO $$
DECLARE
    names text [] := ARRAY[
        'build', 'apply_sync', 'verify', 'reconcile', 'retry_failed', 'run_scheduled_maintenance', 'vacuum',
        '_traverse', 'search', 'dangling_references', 'duplicate_edges'
    ];
    fn regprocedure;
BEGIN
    FOR fn IN SELECT f FROM graph._functions_named(names, 'sql/output-settings.sql') AS f LOOP
        EXECUTE format('ALTER FUNCTION %s %s', fn, graph._output_settings());
    END LOOP;
END;
$$;
