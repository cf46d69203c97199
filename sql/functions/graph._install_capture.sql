-- graph._install_capture(tbl): (re)generate the capture functions of tbl
-- (graph._write_capture; with per_row the row-level one for logical
-- replication's apply worker, only where graph._replica_capture_wanted), record what it was generated for (graph._map_capture:
-- column attnums, partitions and children) and give tbl and each of its
-- partitions and inheritance children exactly graphsync's capture triggers
-- (graph._trigger_states lists them: statement-level ones enabled ALWAYS,
-- row-level ones enabled REPLICA; graph._attach_capture: impostors replaced,
-- strays dropped); when tbl is no longer registered, the function and its
-- triggers are dropped.
-- Registration, reconcile and install.py call it. graph.add_schema registers
-- many tables in one transaction with graphsync.deferring_capture set to 'on'
-- (transaction-local): then this does nothing, and add_schema calls it once per
-- table it touched at the end (one capture generation per table, not one per
-- registration; graph._install_capture(tbls), which attaches the triggers of all
-- of them in one pass). An admin who sets it by hand registers tables without capture:
-- health shows their triggers missing and graph.reconcile() installs them.
-- SECURITY INVOKER: the triggers are created by the caller, who needs TRIGGER on
-- tbl (registration checks it) and EXECUTE on the capture function (graph_admin
-- has it); graphsync's definer roles hold no right on anyone's tables.
-- Touches: the function graph._capture_<oid>, pg_trigger of tbl.
CREATE OR REPLACE FUNCTION graph._install_capture(tbls oid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl oid;
    attach oid [] := '{}';
BEGIN
    IF current_setting('graphsync.deferring_capture', true) = 'on' THEN
        RETURN;
    END IF;
    FOREACH tbl IN ARRAY tbls LOOP
        IF graph._write_capture(tbl) THEN
            attach := attach || tbl;
        END IF;
        -- the row-level one where replica capture is wanted (else dropped)
        PERFORM graph._write_capture(tbl, true);
        PERFORM graph._map_capture(tbl);
    END LOOP;
    IF attach <> '{}' THEN
        PERFORM graph._attach_capture(attach);
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION graph._install_capture(tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph._install_capture(ARRAY[tbl]);
END;
$$;

COMMENT ON FUNCTION graph._install_capture(oid[]) IS
'Internal: graph._install_capture(oid) of several tables, their triggers attached in one pass.';

COMMENT ON FUNCTION graph._install_capture(oid) IS
'Internal: (re)generate a table''s capture function and attach its triggers, or drop them when the table is no longer registered.';
