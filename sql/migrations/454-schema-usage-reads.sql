-- 454-schema-usage-reads: a role reads a registered table's rows through graphsync
-- only when it may SELECT the table *and* use its schema, as PostgreSQL reads it.
--
-- Row-level security of graph._node_rows and graph._change_log_rows, and the views
-- of pending and failed log rows, decided what a role may read by
-- has_table_privilege alone: the table's grants, not its schema's. A role granted
-- SELECT on a table of a schema it may not use (REVOKE USAGE ON SCHEMA closes a
-- schema whatever its tables' grants say) cannot SELECT the table, yet read the keys
-- and registered columns of every row through graph._nodes (asking by the table's
-- oid), its changes through graph._change_log, its pending rows' values through
-- graph._pending_visible and graph._pending_by_xid, and its failed rows' messages
-- through graph._failed_visible (tests/test_abuse_readers44.py). Each now also asks
-- for USAGE on the table's schema, written out (the schema by one probe of
-- pg_class's oid index; not a join, planned as a hash of all of pg_class, nor a SQL
-- function, which cannot be inlined and cost every statement reading graph._nodes
-- some 0.1 ms to plan and set up): once for the registered tables where a statement
-- decides for them (the initplans), else for each row it returns
-- (graph._pending_by_xid) or for a row of a table outside the registered ones,
-- after the checks that already answered false there. Everything else is as migrations 295
-- (graph._node_rows), 245 (graph._change_log_rows), 385 (graph._failed_visible), 305
-- (graph._pending_visible) and 422 (graph._pending_by_xid) left it; CREATE OR
-- REPLACE VIEW keeps the columns.

ALTER POLICY graphsync_read ON graph._node_rows
USING (
    CASE
        WHEN (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')) THEN true
        WHEN table_oid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
            SELECT t.table_oid
            FROM graph._node_tables AS t
            WHERE
                CASE
                    WHEN
                        pg_catalog.has_table_privilege(t.table_oid, 'SELECT')
                        AND pg_catalog.has_schema_privilege((
                            SELECT c.relnamespace FROM pg_catalog.pg_class AS c
                            WHERE c.oid = t.table_oid
                        ), 'USAGE')
                        THEN NOT pg_catalog.row_security_active(t.table_oid)
                    ELSE false
                END
        )) THEN true
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT') IS NOT true THEN false
        WHEN table_oid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
            SELECT t.table_oid
            FROM graph._node_tables AS t
            WHERE NOT pg_catalog.has_schema_privilege((
                SELECT c.relnamespace FROM pg_catalog.pg_class AS c
                WHERE c.oid = t.table_oid
            ), 'USAGE')
        )) THEN false
        WHEN NOT pg_catalog.row_security_active(table_oid)
            THEN
                coalesce((
                    SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                    WHERE c.oid = table_oid  -- noqa: RF03
                ), false)
        ELSE graph._row_visible(
            table_oid, pk, current_user, (SELECT graph._row_scope()),
            pg_catalog.statement_timestamp()
        )
    END
);

ALTER POLICY graphsync_read ON graph._change_log_rows
USING (
    CASE
        WHEN (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')) THEN true
        WHEN NOT node THEN false
        WHEN table_oid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
            SELECT t.table_oid
            FROM graph._node_tables AS t
            WHERE
                CASE
                    WHEN
                        pg_catalog.has_table_privilege(t.table_oid, 'SELECT')
                        AND pg_catalog.has_schema_privilege((
                            SELECT c.relnamespace FROM pg_catalog.pg_class AS c
                            WHERE c.oid = t.table_oid
                        ), 'USAGE')
                        THEN NOT pg_catalog.row_security_active(t.table_oid)
                    ELSE false
                END
        )) THEN true
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(table_oid) AND coalesce((
                SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                WHERE c.oid = table_oid  -- noqa: RF03
            ), false)
        ELSE false
    END
);

CREATE OR REPLACE VIEW graph._failed_visible WITH (security_barrier) AS
SELECT
    l.id,
    l.table_oid,
    l.table_name,
    l.error_message
FROM graph._sync_log AS l
WHERE
    l.error_message IS NOT null
    AND l.id = ANY (ARRAY( -- noqa: CP03, LT01, LT06
        SELECT a.id FROM graph._sync_log_attention AS a
    ))
    AND CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid) AND coalesce((
                SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                WHERE c.oid = l.table_oid
            ), false)
        ELSE false
    END;

CREATE OR REPLACE VIEW graph._pending_visible WITH (security_barrier) AS
WITH s AS (
    SELECT
        st.applied_sync_id,
        st.done_snapshot,
        st.target_snapshot,
        st.target_position,
        st.build_xid,
        st.build_position
    FROM graph._sync_state AS st
),

-- the registered tables (node tables, join tables) the reader may SELECT and whose
-- row-level security does not apply to it
r AS (
    SELECT
        coalesce(pg_catalog.array_agg(t.oid) FILTER (
            WHERE CASE
                WHEN
                    pg_catalog.has_table_privilege(t.oid, 'SELECT')  -- NULL for a table dropped since
                    AND pg_catalog.has_schema_privilege((
                        SELECT c.relnamespace FROM pg_catalog.pg_class AS c
                        WHERE c.oid = t.oid
                    ), 'USAGE')
                    THEN NOT pg_catalog.row_security_active(t.oid)
                ELSE false
            END
        ), '{}') AS tables
    FROM (
        SELECT n.table_oid FROM graph._node_tables AS n
        UNION
        SELECT e.via_table
        FROM graph._edge_sources AS e
        WHERE e.via_table IS NOT null
    ) AS t (oid)
)

SELECT
    l.id,
    l.op,
    l.table_oid,
    l.old_pk,
    l.new_pk,
    l.properties::text AS properties,
    l.old_row::text AS old_row,
    l.new_row::text AS new_row,
    l.xid
FROM graph._sync_log AS l
WHERE
    l.id > (SELECT CASE WHEN s.target_snapshot IS null THEN s.applied_sync_id END FROM s)
    AND NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, (SELECT s.done_snapshot FROM s))
    AND NOT (l.xid = (SELECT s.build_xid FROM s) AND l.id <= (SELECT s.build_position FROM s))
    AND CASE
        WHEN l.table_oid = ANY ((SELECT r.tables FROM r)::oid[]) THEN true -- noqa: CP03, LT01, LT06
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid) AND coalesce((
                SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                WHERE c.oid = l.table_oid
            ), false)
        ELSE false
    END
UNION ALL
SELECT
    l.id,
    l.op,
    l.table_oid,
    l.old_pk,
    l.new_pk,
    l.properties::text AS properties,
    l.old_row::text AS old_row,
    l.new_row::text AS new_row,
    l.xid
FROM graph._sync_log AS l
WHERE
    l.xid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
        SELECT xip.xip::text::bigint
        FROM s CROSS JOIN LATERAL pg_catalog.pg_snapshot_xip(s.done_snapshot) AS xip
        WHERE
            s.target_snapshot IS null
            AND (
                xip.xip = pg_catalog.pg_current_xact_id_if_assigned()
                OR pg_catalog.pg_xact_status(xip.xip) IS DISTINCT FROM 'in progress'
                AND pg_catalog.pg_xact_status(xip.xip) IS DISTINCT FROM 'aborted'
            )
    ))
    -- at or below applied_sync_id, tested on each row found (+ 0: never a scan of the key)
    AND l.id + 0 <= (SELECT s.applied_sync_id FROM s)
    AND NOT (l.xid = (SELECT s.build_xid FROM s) AND l.id <= (SELECT s.build_position FROM s))
    AND CASE
        WHEN l.table_oid = ANY ((SELECT r.tables FROM r)::oid[]) THEN true -- noqa: CP03, LT01, LT06
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(l.table_oid) AND coalesce((
                SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                WHERE c.oid = l.table_oid
            ), false)
        ELSE false
    END
UNION ALL
-- during a pass committed half-way: the rows graph._pending_ids() finds (it scans
-- the log from done_snapshot's xmin on), one probe each, as before this migration
SELECT
    l.id,
    l.op,
    l.table_oid,
    l.old_pk,
    l.new_pk,
    l.properties::text AS properties,
    l.old_row::text AS old_row,
    l.new_row::text AS new_row,
    l.xid
FROM graph._pending_ids() AS p
INNER JOIN graph._sync_log AS l ON p.id = l.id
WHERE
    (SELECT s.target_snapshot IS NOT null FROM s)
    AND CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(l.table_oid) AND coalesce((
                SELECT pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') FROM pg_catalog.pg_class AS c
                WHERE c.oid = l.table_oid
            ), false)
        ELSE false
    END;

CREATE OR REPLACE VIEW graph._pending_by_xid WITH (security_barrier) AS
SELECT
    l.id,
    l.op,
    l.table_oid,
    l.old_pk,
    l.new_pk,
    l.properties::text AS properties,
    l.old_row::text AS old_row,
    l.new_row::text AS new_row,
    l.xid
FROM graph._sync_state AS s
INNER JOIN graph._sync_log AS l
    ON
        NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
        AND (
            s.target_snapshot IS null
            OR NOT (
                pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, s.target_snapshot)
                AND s.target_position >= l.id
            )
        )
        AND NOT (s.build_xid = l.xid AND s.build_position >= l.id)
WHERE
    CASE
        WHEN
            pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            AND pg_catalog.has_schema_privilege((
                SELECT c.relnamespace FROM pg_catalog.pg_class AS c
                WHERE c.oid = l.table_oid
            ), 'USAGE')
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE false
    END;
