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
