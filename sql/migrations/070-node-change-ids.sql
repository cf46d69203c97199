-- 070-node-change-ids: reads follow node changes incrementally.
--
-- graph._nodes.change_id: the number of the replay statement that last changed
-- the node (created it, changed its alive flag, tenant or properties); NULL for
-- nodes untouched since the base was built (a build writes every node afresh).
-- Numbers come from graph._node_change_seq and grow in commit order, since every
-- graph write holds the lock on graph._sync_state until it commits, so a backend
-- that has read every change up to n reads the rest with change_id > n
-- (graph._node_changes), in O(change) instead of every touched node.
CREATE SEQUENCE graph._node_change_seq;

ALTER TABLE graph._nodes ADD COLUMN change_id bigint;

UPDATE graph._nodes SET change_id = nextval('graph._node_change_seq')
WHERE touched;

CREATE INDEX _nodes_change_idx ON graph._nodes (change_id)
WHERE change_id IS NOT null;

-- Replaced by graph._node_changes: reads no longer ask for every touched node.
DROP FUNCTION IF EXISTS graph._node_delta();
