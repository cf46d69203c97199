-- 245-row-secured-views: graph._nodes, graph._change_log and graph._labels become
-- plain views, owned by graph_views, over the tables that hold the rows, renamed
-- graph._node_rows, graph._change_log_rows and graph._label_rows.
--
-- Why: the row-level security of those tables (migrations 002, 100, 101, 180,
-- 240) checks the reader's own privileges on each source table and the source's
-- own row-level security, but a BYPASSRLS role bypasses row-level security
-- altogether, its privilege checks included: it read the keys, tenants and
-- properties of every registered table, also of tables it may not SELECT, the
-- node changes of all of them and every label.
--
-- How: PostgreSQL decides whether a table's row-level security applies, and
-- which of its policies do, by the role that accesses the table; through a view
-- that is the view's owner, whoever reads the view. graph_views (install.py
-- creates it: NOLOGIN, neither superuser nor BYPASSRLS, member of no role,
-- SELECT on the three row tables only) is never exempt, and only the policies
-- TO public (graphsync_read) apply to it. Those policies ask about
-- current_user, which a view does not change: the reader. So every reader of a
-- view, BYPASSRLS or not, sees what graphsync_read shows it (graph_admin members
-- every row, by its first branch), at the cost of the same policy as before.
-- PUBLIC may SELECT the views only (sql/privileges.sql); the row tables stay
-- graph_admin's: replay, build, maintenance, health and the structural read
-- helpers (graphsync's definers) read and write them directly. Reads and users'
-- SQL read the views by their old names.
--
-- The views name their columns: a column added to a row table later shows in
-- its view only when a migration re-creates the view.
ALTER TABLE graph._nodes RENAME TO _node_rows;
ALTER TABLE graph._change_log RENAME TO _change_log_rows;
ALTER TABLE graph._labels RENAME TO _label_rows;

COMMENT ON TABLE graph._node_rows IS
'The graph''s nodes (keys, tenants, properties), graph_admin''s; every other role reads them through the view graph._nodes.';
COMMENT ON TABLE graph._change_log_rows IS
'What replay and rebuilds applied, numbered in commit order, graph_admin''s; every other role reads it through the view graph._change_log.';
COMMENT ON TABLE graph._label_rows IS
'Edge label names, numbered, graph_admin''s; every other role reads them through the view graph._labels.';

CREATE VIEW graph._nodes AS
SELECT
    n.node_id,
    n.table_oid,
    n.pk,
    n.alive,
    n.tenant,
    n.properties,
    n.touched,
    n.extra_rows,
    n.change_id
FROM graph._node_rows AS n;

CREATE VIEW graph._change_log AS
SELECT
    c.sync_id,
    c.log_id,
    c.table_oid,
    c.node_id,
    c.op,
    c.node,
    c.row_count,
    c.xid,
    c.created_at
FROM graph._change_log_rows AS c;

CREATE VIEW graph._labels AS
SELECT
    l.label_id,
    l.label
FROM graph._label_rows AS l;

ALTER VIEW graph._nodes OWNER TO graph_views;
ALTER VIEW graph._change_log OWNER TO graph_views;
ALTER VIEW graph._labels OWNER TO graph_views;

COMMENT ON VIEW graph._nodes IS
'The nodes (keys, tenants, properties) of the rows the reader can see: graph._node_rows under its row-level security, applied to every reader.';
COMMENT ON VIEW graph._change_log IS
'What replay and rebuilds applied: graph._change_log_rows under its row-level security, applied to every reader.';
COMMENT ON VIEW graph._labels IS
'Edge label names the reader could read from the sources: graph._label_rows under its row-level security, applied to every reader.';

-- The policies a view applies are graphsync_read only (graphsync_admin is TO
-- graph_admin, which graph_views is not a member of): so graphsync_read decides
-- for graph_admin members too, by its admin branch, asked once per statement
-- (an initplan) rather than once per row. graph._change_log's policy gains that
-- branch: through the table, graphsync_admin showed admins every row (rebuilds
-- and the rows of other tables too), and changed_nodes() shows an admin the
-- node changes of every table.
-- BYPASSRLS readers, whom no policy filtered before, now pay the per-row checks
-- too. So the policies first ask, once per statement (an initplan), which
-- registered node tables the reader may SELECT without their row-level security
-- applying to it, the answer of the next two branches for those tables, and
-- probe that short array for each row (1.5x faster than a hashed IN (SELECT ...)
-- in a count over 100k nodes); a row of any other table (a table
-- registered since, dropped, or behind row-level security) takes the per-row
-- branches as before.
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
                    WHEN pg_catalog.has_table_privilege(t.table_oid, 'SELECT')
                        THEN NOT pg_catalog.row_security_active(t.table_oid)
                    ELSE false
                END
        )) THEN true
        WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT') THEN NOT pg_catalog.row_security_active(table_oid)
        ELSE false
    END
);

ALTER POLICY graphsync_read ON graph._label_rows
USING (
    CASE
        WHEN (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')) THEN true
        ELSE label IN (
            SELECT v.label
            FROM graph._visible_labels(
                current_user, pg_catalog.pg_current_snapshot()::text, pg_catalog.statement_timestamp()
            ) AS v
        )
    END
);
