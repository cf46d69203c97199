-- 180-node-row-security: graph._nodes shows a role that may SELECT a source table
-- the nodes of that table's rows only where the role can see the row: where the
-- table's own row-level security applies to the role (pg_catalog.row_security_active),
-- a node shows only when its (table, key) is among graph._visible_rows(), the
-- keys of the rows the role can see there, read as the role (reads/row_policy.py).
-- Before, the policy asked for the table privilege only, so a direct SELECT on
-- graph._nodes showed the keys, tenants and properties of rows the source's
-- policy hides.
-- The CASE decides in order: graph_admin members (graphsync's definer roles among
-- them) see every node and never run a source's policy from here -- code a table
-- owner wrote never runs as graphsync's roles; a table the role may not SELECT
-- (or one dropped since: has_table_privilege is NULL) shows nothing; a table
-- whose row-level security does not apply to the role (none, the owner,
-- BYPASSRLS) shows every node; else the key lookup. The subquery names no
-- column of the node, so PostgreSQL runs it once per statement and probes a
-- hash of its rows for each node.
-- graph._visible_rows is created here with a body that returns nothing, so that
-- the policy can name it; sql/functions/graph._visible_rows.sql gives it its
-- body on every install.
CREATE FUNCTION graph._visible_rows(as_role name, snapshot text, statement_at timestamptz)
RETURNS TABLE (table_oid oid, pk text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NULL::oid, NULL::text WHERE false $$;

ALTER POLICY graphsync_read ON graph._nodes
USING (
    CASE
        WHEN pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN true
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT') IS NOT true THEN false
        WHEN NOT pg_catalog.row_security_active(table_oid) THEN true
        ELSE (table_oid, pk) IN (
            SELECT
                v.table_oid,
                v.pk
            FROM graph._visible_rows(
                current_user, pg_catalog.pg_current_snapshot()::text, pg_catalog.statement_timestamp()
            ) AS v
        )
    END
);
