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
    missing text [];
    fn regprocedure;
BEGIN
    missing := ARRAY(
        SELECT n FROM unnest(names) AS n
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                          WHERE p.pronamespace = 'graph'::regnamespace AND p.proname = n)
    );
    IF missing <> '{}' THEN
        RAISE EXCEPTION 'sql/output-settings.sql names functions schema graph does not have: %', missing;
    END IF;
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'graph'::regnamespace AND p.proname = ANY(names)
        ORDER BY p.oid
    LOOP
        EXECUTE format('ALTER FUNCTION %s %s', fn, graph._output_settings());
    END LOOP;
END;
$$;
