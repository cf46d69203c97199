-- Every function that renders source values as text (directly, or through
-- build, the source read or replay) runs with graph._output_settings(), the
-- same settings the capture functions pin. Applied after the functions are
-- (re)created on every install.
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'graph.build()', 'graph.apply_sync(integer)', 'graph.verify()', 'graph.reconcile()',
        'graph.retry_failed()', 'graph.run_scheduled_maintenance()', 'graph.vacuum()',
        'graph._traverse(regclass, text, integer, text, text[], regclass[], jsonb, text, text, integer, boolean, regclass[], text[])',
        'graph.search(text, text, regclass[], text, boolean, integer, text)'
    ]::regprocedure [] LOOP
        EXECUTE format('ALTER FUNCTION %s %s', fn, graph._output_settings());
    END LOOP;
END;
$$;
