-- graph._schema_drift(): how the registered tables differ from what the
-- registry and the last build expect, one row per finding:
--   table_dropped     a node table or join table no longer exists
--   column_dropped    a registered column no longer exists
--   column_retyped    a registered column's type changed since the last build
--   column_replaced   dropped and added again under the same name since the last build
--   key_changed       the key columns are no longer a unique key on NOT NULL columns
--   trigger_disabled  a capture trigger is disabled (or fires only as replica)
--   trigger_missing   a capture trigger is gone
-- repair names who repairs it: 'rebuild' or 'reconcile'. Cheap: catalog
-- lookups only. Writes made while triggers were off or with
-- session_replication_role = replica are not visible here; graph.verify() and
-- maintenance's periodic source check find those.
-- PL/pgSQL so the install order of the functions it calls does not matter.
-- Reads: the registry, graph._registered_columns, pg_class, pg_attribute,
-- pg_index, pg_trigger.
CREATE OR REPLACE FUNCTION graph._schema_drift()
RETURNS TABLE (
    kind text, table_oid oid, table_name text, column_name text, detail text, repair text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH captured AS (
        SELECT * FROM graph._captured_tables()
    ),
    cols AS (
        SELECT r.table_oid, r.column_name, r.roles, t.table_name, a.attnum, a.atttypid,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name
        FROM graph._registered_column_roles() AS r
        JOIN captured AS t ON t.table_oid = r.table_oid AND t.present
        LEFT JOIN pg_catalog.pg_attribute AS a
            ON a.attrelid = r.table_oid AND a.attname = r.column_name
           AND a.attnum > 0 AND NOT a.attisdropped
    ),
    keys AS (
        SELECT n.table_oid, n.id_columns AS key_columns FROM graph._node_tables AS n
        UNION
        SELECT e.via_table, e.via_id_columns FROM graph._edge_sources AS e WHERE e.kind = 'join'
    ),
    expected_triggers AS (
        SELECT t.table_oid, t.table_name, 'graphsync_capture_' || ev.ev AS tgname
        FROM captured AS t
        CROSS JOIN (VALUES ('insert'), ('update'), ('delete'), ('truncate')) AS ev (ev)
        WHERE t.present
    )
    SELECT 'table_dropped', t.table_oid, t.table_name, NULL, 'the table no longer exists', 'reconcile'
    FROM captured AS t WHERE NOT t.present
    UNION ALL
    SELECT 'column_dropped', c.table_oid, c.table_name, c.column_name,
           'registered as ' || array_to_string(c.roles, ', '), 'reconcile'
    FROM cols AS c WHERE c.attnum IS NULL
    UNION ALL
    SELECT CASE WHEN r.type_name <> c.type_name THEN 'column_retyped' ELSE 'column_replaced' END,
           c.table_oid, c.table_name, c.column_name,
           format('was %s (attnum %s), now %s (attnum %s)', r.type_name, r.attnum, c.type_name, c.attnum),
           'rebuild'
    FROM cols AS c
    JOIN graph._registered_columns AS r ON r.table_oid = c.table_oid AND r.column_name = c.column_name
    WHERE c.attnum IS NOT NULL AND (r.type_name <> c.type_name OR r.attnum <> c.attnum)
    UNION ALL
    SELECT 'key_changed', k.table_oid, t.table_name, array_to_string(k.key_columns, ','),
           'the key columns are no longer a unique key on NOT NULL columns; the table key is now '
           || coalesce(array_to_string(graph._table_key(k.table_oid), ','), 'none'),
           'reconcile'
    FROM keys AS k
    JOIN captured AS t ON t.table_oid = k.table_oid AND t.present
    WHERE NOT EXISTS (
        SELECT FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = k.table_oid AND i.indisunique AND i.indisvalid
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnkeyatts = cardinality(k.key_columns)
          AND NOT EXISTS (
              SELECT FROM unnest(k.key_columns) AS kc (c)
              WHERE NOT EXISTS (
                  SELECT FROM pg_catalog.pg_attribute AS a
                  WHERE a.attrelid = k.table_oid AND a.attname = kc.c AND a.attnotnull
                    AND NOT a.attisdropped
                    AND a.attnum = ANY ((i.indkey::int2 [])[0:i.indnkeyatts - 1])
              )
          )
    )
    UNION ALL
    SELECT 'trigger_disabled', x.table_oid, x.table_name, NULL,
           string_agg(x.tgname, ', ' ORDER BY x.tgname), 'reconcile'
    FROM expected_triggers AS x
    JOIN pg_catalog.pg_trigger AS tg ON tg.tgrelid = x.table_oid AND tg.tgname = x.tgname
    WHERE tg.tgenabled IN ('D', 'R')
    GROUP BY x.table_oid, x.table_name
    UNION ALL
    SELECT 'trigger_missing', x.table_oid, x.table_name, NULL,
           string_agg(x.tgname, ', ' ORDER BY x.tgname), 'reconcile'
    FROM expected_triggers AS x
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS tg
                      WHERE tg.tgrelid = x.table_oid AND tg.tgname = x.tgname)
    GROUP BY x.table_oid, x.table_name;
END;
$$;

COMMENT ON FUNCTION graph._schema_drift() IS
'Schema drift of the registered tables (dropped or retyped columns, dropped tables, changed keys, disabled or missing capture triggers), one row per finding, with who repairs it.';
