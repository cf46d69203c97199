-- 441-tenant-label-indexes: a tenant or a label of any length fits the graph's
-- indexes.
--
-- A node's tenant and an edge's label from a label column are values of the
-- application's rows: any role that may write a registered table sets them. The
-- tenant index of graph._node_rows (migration 002) and the uniqueness of a label in
-- graph._label_rows (migration 001) were btree entries holding the whole text, and a
-- btree entry holds at most 2,704 bytes: a writer's tenant or label past that (some
-- 2.7 kB that compression does not shorten) failed its log row's apply, which under
-- the default graph.sync_error_policy ('stop') held every later row of every table
-- back, and failed every build while the row existed (tests/test_writer_poison.py).
--
-- A label is unique, and asked for by equality only (its id by its name: label =
-- ANY ($1)): an exclusion constraint over a hash index, which holds a 4-byte hash of
-- the text whatever its length, keeps it unique and finds it (replay and build add
-- labels with ON CONFLICT DO NOTHING, which takes an exclusion constraint as its
-- arbiter).
--
-- A tenant is shared by many nodes, which a hash index keeps in one bucket's chain of
-- pages, walked by every insert: the btree stays, for the tenants of at most 2,000
-- bytes, and a read kept to such a tenant says so (reads/access.py TENANT_NODES), so
-- the planner takes the index; a longer tenant is looked for without it.
DROP INDEX graph._nodes_tenant_idx;
CREATE INDEX _nodes_tenant_idx ON graph._node_rows (tenant)
WHERE tenant IS NOT NULL AND pg_catalog.octet_length(tenant) <= 2000;

ALTER TABLE graph._label_rows DROP CONSTRAINT _labels_label_key;
ALTER TABLE graph._label_rows ADD CONSTRAINT _labels_label_excl EXCLUDE USING hash (label WITH =);
