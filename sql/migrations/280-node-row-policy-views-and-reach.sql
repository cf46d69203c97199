-- 280-node-row-policy-views-and-reach: graph._node_rows' read policy with both
-- changes of this release. Migration 245 made graph._nodes a view over
-- graph._node_rows (its policy applies to every reader, BYPASSRLS ones and admins
-- included) and asked the admin branch and the tables without row-level security
-- for the reader once per statement (initplans); migration 251 made the last
-- branch ask one source table per node (graph._row_visible) instead of every
-- row-secured table, and in doing so re-created the policy without 245's
-- initplans. This policy keeps both: admins and rows of tables the reader may
-- SELECT without row-level security are decided once per statement, and only a
-- node of a table whose row-level security applies to the reader asks that table.
ALTER POLICY graphsync_read ON graph._node_rows
USING (
    CASE
        WHEN (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')) THEN true
        WHEN table_oid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
            SELECT t.table_oid
            FROM graph._node_tables AS t
            WHERE
                CASE
                    WHEN pg_catalog.has_table_privilege(t.table_oid, 'SELECT')
                        THEN NOT pg_catalog.row_security_active(t.table_oid)
                    ELSE false
                END
        )) THEN true
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT') IS NOT true THEN false
        WHEN NOT pg_catalog.row_security_active(table_oid) THEN true
        ELSE graph._row_visible(
            table_oid, pk, current_user, (SELECT pg_catalog.pg_current_snapshot()::text),
            pg_catalog.statement_timestamp()
        )
    END
);
