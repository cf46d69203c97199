-- 002-reads: what graph reads need from the graph tables.
--
-- graph._graph_version holds a number that changes with every change of the
-- applied graph (nodes, edge overlay, cuts, labels, base, registry), so each
-- backend can keep the arrays it derives from them (effective CSR, alive flags,
-- label names) and check them with one cheap read. The number comes from a
-- sequence, so a change that rolls back never hands its number to another.
-- The bump locks graph._sync_state first, in the order apply_sync and build
-- take their locks, so registration and replay cannot deadlock on it.
--
-- Row-level security on graph._nodes: a reader sees the nodes (keys, tenants,
-- properties) of the tables it may SELECT; members of graph_admin see all.

CREATE SEQUENCE graph._graph_version_seq;

-- Table graph._graph_version: one row.
--   singleton  always true: keeps the table to one row
--   version    the number, from graph._graph_version_seq; bumped by the
--              statement triggers graphsync_version below
CREATE TABLE graph._graph_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version bigint NOT NULL
);

INSERT INTO graph._graph_version (version) VALUES (nextval('graph._graph_version_seq'));

COMMENT ON TABLE graph._graph_version IS
'A number that changes with every change of the applied graph; reads key their backend caches on it.';

CREATE FUNCTION graph._bump_graph_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM graph._sync_state FOR UPDATE;
    UPDATE graph._graph_version SET version = nextval('graph._graph_version_seq');
    RETURN NULL;
END;
$$;

CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._nodes
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._edge_overlay
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._edge_cuts
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._labels
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._csr
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._node_tables
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();
CREATE TRIGGER graphsync_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON graph._edge_sources
FOR EACH STATEMENT EXECUTE FUNCTION graph._bump_graph_version();

-- Tenant-restricted reads look nodes up by tenant.
CREATE INDEX _nodes_tenant_idx ON graph._nodes (tenant) WHERE tenant IS NOT null;

ALTER TABLE graph._nodes ENABLE ROW LEVEL SECURITY;

CREATE POLICY graphsync_admin ON graph._nodes TO graph_admin USING (true) WITH CHECK (true);

CREATE POLICY graphsync_read ON graph._nodes FOR SELECT TO public
USING (pg_catalog.has_table_privilege(table_oid, 'SELECT'));
