-- 100-change-notifications: what replay applied, numbered, for NOTIFY graphsync
-- and graph.changed_nodes().
--
-- The log cannot tell a client what changed after a position it holds: a log id
-- is not a safe cursor (a transaction that took id 99 may commit, and be
-- applied, after id 100), and applied log rows are pruned. So replay numbers
-- what it applies in the order it applies it: every graph write holds the lock
-- on graph._sync_state until it commits, so numbers taken under that lock grow
-- in commit order, and a reader that has seen every change up to n finds the
-- rest with sync_id > n. The numbers are kept in graph._sync_state beside the
-- rows they number, so they commit and roll back with them: no gaps.
--
-- Table graph._change_log: one row per node change replay applied (a log row of
-- a node table; an update that changes the key is two rows, a delete of the old
-- key and an insert of the new), one per (batch, table, operation) of the other
-- captured tables (join tables: row_count rows of that table), one per TRUNCATE,
-- and one per rebuild. Pruned with the log (graph.prune_sync_log).
--   sync_id     the change's number, in commit order (graph._sync_state.change_position)
--   log_id      the log row applied (NULL for a rebuild or an aggregated row)
--   table_oid   the table changed (NULL for a rebuild)
--   node_id     the node's key text, as the reads return it (node rows of 'I',
--               'U', 'D'; NULL otherwise)
--   op          'I' insert, 'U' update, 'D' delete, 'T' truncate, 'B' rebuild
--   node        table_oid was a registered node table: a node change
--   row_count   how many log rows the row stands for (1 but for other tables' rows)
--   xid         the transaction that applied it (which call's notification counts it)
--   created_at  when it was applied (pruning goes by it)
-- Every role may SELECT it; row-level security shows a role the node changes
-- of the tables it may SELECT, as graph._nodes does (migration 002).
CREATE TABLE graph._change_log (
    sync_id bigint PRIMARY KEY,
    log_id bigint,
    table_oid oid,
    node_id text,
    op char(1) NOT NULL CHECK (op IN ('I', 'U', 'D', 'T', 'B')),
    node boolean NOT NULL,
    row_count integer NOT NULL DEFAULT 1,
    xid bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE graph._change_log IS
'What replay and rebuilds applied, numbered in commit order: the source of NOTIFY graphsync and graph.changed_nodes().';

ALTER TABLE graph._change_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY graphsync_admin ON graph._change_log TO graph_admin USING (true) WITH CHECK (true);

CREATE POLICY graphsync_read ON graph._change_log FOR SELECT TO public
USING (node AND pg_catalog.has_table_privilege(table_oid, 'SELECT'));

-- graph._sync_state.change_position: the sync_id of the latest change (0: none yet).
-- change_horizon: the lowest since_sync_id graph.changed_nodes() accepts: changes
-- up to it were pruned, or a rebuild (its own sync_id) replaced the graph without
-- saying node by node what changed. notifications_skipped: how many NOTIFY
-- graphsync were not sent because the notification queue was too full
-- (graph.notify_queue_limit); graph.sync_health() shows it.
ALTER TABLE graph._sync_state
ADD COLUMN change_position bigint NOT NULL DEFAULT 0,
ADD COLUMN change_horizon bigint NOT NULL DEFAULT 0,
ADD COLUMN notifications_skipped bigint NOT NULL DEFAULT 0;

-- sync_health() gains last_change_sync_id and notifications_skipped: its result
-- type changes, which CREATE OR REPLACE cannot do. The install recreates it right
-- after the migrations.
DROP FUNCTION IF EXISTS graph.sync_health();
