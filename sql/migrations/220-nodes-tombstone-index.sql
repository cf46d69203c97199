-- 220-nodes-tombstone-index: graph._nodes' partial index of touched nodes
-- (migration 001) becomes an index of the tombstones only. Its only readers count
-- tombstones (sync_health, graph._rebuild_reasons, status: WHERE touched AND NOT
-- alive); no query looks for every touched node any more (reads follow
-- graph._nodes.change_id, migration 070; a build scans the table). The old index
-- took an entry for every node replay wrote, alive or not: every node insert and
-- every node update (never HOT: change_id, indexed, changes) wrote five index
-- entries. This one takes entries only for nodes replay kills or creates dead (a
-- key only an edge names), so the alive node a replay writes costs four.
CREATE INDEX _nodes_tombstone_idx ON graph._nodes (node_id) WHERE touched AND NOT alive;
DROP INDEX graph._nodes_touched_idx;
