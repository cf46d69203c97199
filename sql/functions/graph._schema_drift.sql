-- graph._schema_drift(): how the registered tables differ from what the
-- registry and the last build expect, one row per finding:
--   table_dropped     a node table or join table no longer exists
--   column_dropped    a registered column no longer exists
--   column_retyped    a registered column's type changed since the last build
--   column_replaced   dropped and added again under the same name since the last build
--   key_changed       the key columns are no longer a unique key on NOT NULL columns
--   trigger_disabled  a capture trigger is disabled, or not enabled ALWAYS (it
--                     would miss replica-mode writes or logical replication)
--   trigger_missing   a capture trigger is gone
--   trigger_impostor  a trigger of a capture trigger's name calls another
--                     function (or has another shape): graphsync's is missing
--   trigger_extra     a trigger calls a capture function where none is expected
--                     (it would capture twice, or rows the table no longer has)
-- Capture triggers are those of graph._trigger_states(), recognised by their
-- function, on the table and each of its partitions and inheritance children;
-- a detail names a member's trigger as 'name on member'.
--   ddl_not_followed  one of graphsync's event triggers, graphsync_follow_ddl,
--                     graphsync_follow_drop (DDL on registered tables) or
--                     graphsync_follow_subscription (CREATE/ALTER SUBSCRIPTION:
--                     replica capture), is missing or not enabled ALWAYS (disabled,
--                     or enabled for origin or replica sessions only, so that
--                     session_replication_role decides whether it fires); table_oid
--                     NULL, table_name the event trigger's name, detail what it
--                     misses and the exact statement a superuser runs (only a
--                     superuser may create or alter an event trigger)
-- Plus every open graph._schema_events row (what following a schema change
-- left for a rebuild or for reconcile: column_unregistered, column_renamed,
-- table_unregistered, members_changed, follow_failed, capture_off, ...), but for a row of one
-- of the kinds above, which only the catalog tells: graph_admin may write that
-- table, and graph.reconcile() repairs these kinds by what the row says (a row an
-- admin wrote had a superuser's reconcile re-key a table the admin may not read to
-- its primary key, or enable another event trigger: tests/test_abuse_ops.py).
-- repair names who repairs it: 'rebuild' or 'reconcile'. Cheap: catalog
-- lookups only. Writes made while triggers were off or with
-- session_replication_role = replica are not visible here; graph.verify() and
-- maintenance's periodic source check find those.
-- PL/pgSQL so the install order of the functions it calls does not matter.
-- Reads: the registry, graph._registered_columns, graph._schema_events,
-- pg_class, pg_attribute, pg_index, pg_trigger, pg_inherits.
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
    triggers AS (
        SELECT s.table_oid, s.table_name, s.state,
               CASE WHEN s.member_oid = s.table_oid THEN s.trigger_name
                    ELSE s.trigger_name || ' on ' || s.member_oid::regclass::text END AS tgname
        FROM graph._trigger_states() AS s
        WHERE s.state <> 'ok'
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
    -- (OFFSET 0: the table's indexes looked up by its oid, never an anti-join hashing
    -- all of pg_index, every index of the database: tests/test_operation_costs.py)
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
        OFFSET 0
    )
    UNION ALL
    SELECT 'trigger_' || x.state, x.table_oid, x.table_name, NULL,
           string_agg(x.tgname, ', ' ORDER BY x.tgname), 'reconcile'
    FROM triggers AS x
    GROUP BY x.state, x.table_oid, x.table_name
    UNION ALL
    SELECT e.kind, e.table_oid, e.table_name, e.column_name, e.detail, e.repair
    FROM graph._schema_events AS e
    WHERE e.resolved_at IS NULL
      AND e.kind NOT IN ('table_dropped', 'column_dropped', 'column_retyped', 'column_replaced', 'key_changed',
                         'ddl_not_followed')
      AND NOT pg_catalog.starts_with(e.kind, 'trigger_')
    UNION ALL
    SELECT 'ddl_not_followed', NULL, w.name, NULL,
           format('event trigger %s is %s: %s; a superuser runs %s (graph.reconcile() run by a superuser'
                  ' does it, so does install.py)', w.name,
                  CASE et.evtenabled WHEN 'D' THEN 'disabled'
                                     WHEN 'O' THEN 'enabled for origin sessions only (not with'
                                                   ' session_replication_role = replica)'
                                     WHEN 'R' THEN 'enabled for replica sessions only (not with'
                                                   ' session_replication_role = origin)'
                                     ELSE 'missing' END,
                  w.misses,
                  CASE WHEN et.oid IS NULL THEN w.create_statement
                       ELSE format('ALTER EVENT TRIGGER %I ENABLE ALWAYS', w.name) END),
           'reconcile'
    FROM (VALUES
        ('graphsync_follow_ddl', 'DDL on registered tables is not followed, so a rename or a drop can break capture',
         'CREATE EVENT TRIGGER graphsync_follow_ddl ON ddl_command_end EXECUTE FUNCTION graph._follow_ddl()'),
        ('graphsync_follow_drop', 'DDL on registered tables is not followed, so a rename or a drop can break capture',
         'CREATE EVENT TRIGGER graphsync_follow_drop ON sql_drop EXECUTE FUNCTION graph._follow_ddl()'),
        ('graphsync_follow_subscription', 'a subscription created or refreshed now gives the registered tables it'
         || ' applies to no replica capture, so the changes it applies do not reach the graph',
         'CREATE EVENT TRIGGER graphsync_follow_subscription ON ddl_command_end WHEN TAG IN'
         || ' (''CREATE SUBSCRIPTION'', ''ALTER SUBSCRIPTION'', ''DROP SUBSCRIPTION'')'
         || ' EXECUTE FUNCTION graph._follow_subscription()')
    ) AS w (name, misses, create_statement)
    LEFT JOIN pg_catalog.pg_event_trigger AS et ON et.evtname = w.name
    WHERE et.evtenabled IS DISTINCT FROM 'A' AND EXISTS (SELECT FROM captured);
END;
$$;

COMMENT ON FUNCTION graph._schema_drift() IS
'Schema drift of the registered tables (dropped or retyped columns, dropped tables, changed keys, disabled, missing, impostor or stray capture triggers, open schema-change records), one row per finding, with who repairs it.';
