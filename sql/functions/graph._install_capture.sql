-- graph._install_capture(tbl): (re)generate the capture function of tbl
-- (graph._write_capture), record what it was generated for (graph._map_capture:
-- column attnums, partitions and children) and give tbl and each of its
-- partitions and inheritance children exactly graphsync's statement-level
-- capture triggers, enabled ALWAYS (graph._attach_capture: impostors replaced,
-- strays dropped); when tbl is no longer registered, the function and its
-- triggers are dropped.
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
BEGIN
    IF NOT graph._write_capture(tbl) THEN
        PERFORM graph._map_capture(tbl);
        RETURN;
    END IF;
    PERFORM graph._map_capture(tbl);
    PERFORM graph._attach_capture(tbl);
END;
$$;

COMMENT ON FUNCTION graph._install_capture(oid) IS
'Internal: (re)generate a table''s capture function and attach its triggers, or drop them when the table is no longer registered.';
