-- graph._after_build(snapshot): bookkeeping once a base has been built from a
-- read of the sources in snapshot. Records the type and position of every
-- registered column (graph._registered_columns, for drift detection); clears
-- needs_vacuum on the TRUNCATE markers the read folded; clears error_message
-- on failed log rows the read folded (the base reflects their change, so a
-- retry would apply it twice). Returns how many failed rows it cleared.
-- Called by graphsync.build; admin only (42501). Touches: graph._registered_columns, graph._sync_log.
-- Reads pg_attribute of the registered columns only, by table and name
-- (tests/test_operation_costs.py).
CREATE OR REPLACE FUNCTION graph._after_build(snapshot pg_snapshot)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    folded bigint;
BEGIN
    PERFORM graph._require_admin();  -- admin only, even if EXECUTE was granted by mistake
    DELETE FROM graph._registered_columns;
    INSERT INTO graph._registered_columns (table_oid, column_name, table_name, attnum, type_name)
    SELECT r.table_oid, r.column_name, r.table_oid::regclass::text, a.attnum,
           pg_catalog.format_type(a.atttypid, a.atttypmod)
    FROM graph._registered_column_roles() AS r
    -- each column looked up by table and name (OFFSET 0: a join was planned as a hash
    -- of all of pg_attribute, every column of the database)
    JOIN LATERAL (
        SELECT a.attnum, a.atttypid, a.atttypmod FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = r.table_oid AND a.attname = r.column_name
          AND a.attnum > 0 AND NOT a.attisdropped
        OFFSET 0
    ) AS a ON true;

    UPDATE graph._sync_log AS l SET needs_vacuum = false
    WHERE l.needs_vacuum AND pg_visible_in_snapshot(l.xid::text::xid8, snapshot)
      AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a));

    UPDATE graph._sync_log AS l SET error_message = NULL
    WHERE l.error_message IS NOT NULL AND pg_visible_in_snapshot(l.xid::text::xid8, snapshot)
      AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a));
    GET DIAGNOSTICS folded = ROW_COUNT;
    IF folded > 0 THEN
        RAISE NOTICE 'graphsync build: the new base reflects % failed log row(s); their errors are cleared', folded;
    END IF;
    RETURN folded;
END;
$$;

COMMENT ON FUNCTION graph._after_build(pg_snapshot) IS
'After a build from snapshot: record registered column types, clear folded TRUNCATE markers and folded failed rows.';
