-- graph._install_capture(tbl): (re)generate the capture function of tbl
-- (graph._write_capture) and attach its four statement-level triggers,
-- graphsync_capture_insert/update/delete/truncate, when they are missing; when
-- tbl is no longer registered, the function and its triggers are dropped.
-- Registration, reconcile and install.py call it.
-- SECURITY INVOKER: the triggers are created by the caller, who needs TRIGGER on
-- tbl (registration checks it) and EXECUTE on the capture function (graph_admin
-- has it); graphsync's definer roles hold no right on anyone's tables.
-- Touches: the function graph._capture_<oid>, pg_trigger of tbl.
CREATE OR REPLACE FUNCTION graph._install_capture(tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn text := format('graph.%I', '_capture_' || tbl);
    ev text;
    ref text;
BEGIN
    IF NOT graph._write_capture(tbl) THEN
        RETURN;
    END IF;
    FOR ev, ref IN VALUES
        ('insert', 'REFERENCING NEW TABLE AS new_rows'),
        ('update', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'),
        ('delete', 'REFERENCING OLD TABLE AS old_rows'),
        ('truncate', '')
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                       WHERE t.tgrelid = tbl AND t.tgname = 'graphsync_capture_' || ev) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT '
                           'EXECUTE FUNCTION %s()',
                           'graphsync_capture_' || ev, upper(ev), tbl::regclass, ref, fn);
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._install_capture(oid) IS
'Internal: (re)generate a table''s capture function and attach its triggers, or drop them when the table is no longer registered.';
