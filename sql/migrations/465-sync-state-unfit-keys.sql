-- 465-sync-state-unfit-keys: the keys the last build left out because graph._nodes'
-- index cannot hold them.
--
-- graph._nodes' unique index on (table_oid, pk) holds each node's key text whole,
-- and a btree entry holds at most some 2.7 kB after compression: a writer's key (or
-- a text reference, which becomes a ghost node's key) past that failed every build
-- while its row existed (tests/test_writer_poison.py). A build now leaves such a node
-- out, and the edges that end there, with a WARNING (plpython
-- graphsync/sync/build.py insert_nodes), and records here how many keys of which
-- table it left out, so graph.sync_health() says why graph.verify() finds those rows
-- missing (no retry, reconcile or rebuild adds them) until a build reads none.
ALTER TABLE graph._sync_state ADD COLUMN unfit_keys jsonb;

COMMENT ON COLUMN graph._sync_state.unfit_keys IS
'Keys the last build left out as too long for graph._nodes'' index: {table oid: count}; NULL when none.';
