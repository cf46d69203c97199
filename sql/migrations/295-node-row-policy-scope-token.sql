-- 295-node-row-policy-scope-token: graph._nodes' row policy passes
-- graph._row_visible a scope its caller cannot forge. graph._row_visible keeps a
-- table's visible keys for the rest of a statement under the scope it is given
-- (role, snapshot, statement start); before, that scope was plain SQL values, so a
-- direct call could name another role's scope and get the keys a SECURITY DEFINER
-- function of that role had read earlier in the statement. Now the snapshot
-- argument is graph._row_scope() (an initplan: once per statement): the snapshot
-- with a MAC, under a secret of the backend, of the role running it (current_user),
-- the snapshot and the statement's start (reads/statement_cache.py). Kept keys are
-- only used for a scope whose MAC names its role; any other call answers as its
-- caller, without keeping anything (reads/row_policy.py). Everything else in the
-- policy is migration 280's.
-- graph._row_scope is created here with a body that answers NULL, so that the
-- policy can name it; sql/functions/graph._row_scope.sql gives it its body.
CREATE FUNCTION graph._row_scope()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NULL::text $$;

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
            table_oid, pk, current_user, (SELECT graph._row_scope()),
            pg_catalog.statement_timestamp()
        )
    END
);
