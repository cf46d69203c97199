-- 101-change-log-row-security: graph._change_log (migration 100) shows a role the
-- node changes of a table only where that table's own row-level security does not
-- apply to the role (pg_catalog.row_security_active, the test the reads make): the
-- record cannot tell which rows a policy would show, so a direct SELECT shows no
-- more than graph.changed_nodes() does. CASE first asks for the privilege, which
-- is NULL, not an error, for a table dropped since.
ALTER POLICY graphsync_read ON graph._change_log
USING (
    node AND CASE
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(table_oid)
        ELSE false
    END
);
