-- 437-followed-drops: graph._column_renames (migration 431) counts every change the
-- schema-change follower (plpython/graphsync/ops/follow.py) makes to a captured
-- table's registration in the owner's DDL transaction, not renames alone, and says
-- per table that a build is due where the follower used to set
-- graph._sync_state.build_required.
--   renames         how many followed changes of the table's registration committed
--                   (a column renamed or unregistered, the table unregistered,
--                   re-keyed or renamed, an edge source that used it removed); only
--                   ever grows
--   build_required  the follower changed what the graph holds of the table (a
--                   column, edge source or the table itself unregistered, the table
--                   re-keyed); cleared by a build. Read as graph._sync_state's
--                   build_required is, OR-ed with it (replay's notice, a read's
--                   scope, graph._rebuild_reasons, sync_health()).
-- Following a dropped registered column (or a dropped table, or a renamed table or
-- schema) wrote graph._sync_state's row (build_required) and, through the registry's
-- statement triggers, locked it and wrote graph._graph_version's row, in the owner's
-- transaction: an owner -- no admin -- who ran BEGIN; ALTER TABLE ... DROP COLUMN ...;
-- and idled held every apply, every read's apply and every maintenance run, for the
-- rows of every table, as a rename did before migration 431. Now the follower writes
-- its table's row here alone, and the statement triggers leave the state row and
-- graph._graph_version alone for everything it does (the mark of migration 438,
-- which the follower writes around every table it follows, not around a rename's
-- statements alone). tests/test_abuse_open_rename.py.
ALTER TABLE graph._column_renames ADD COLUMN build_required boolean NOT NULL DEFAULT false;

COMMENT ON TABLE graph._column_renames IS
'Changes of each captured table''s registration the schema-change follower committed (renames, drops, table renames: a count that only grows), and whether they leave a build due: replay reads the registry and the log rows under the same names by it, reads key their caches on it (migrations 431, 437).';

COMMENT ON COLUMN graph._column_renames.build_required IS
'The follower changed what the graph holds of the table (unregistered a column, an edge source or the table, re-keyed it): a build is due, as graph._sync_state.build_required says for registrations; cleared by a build.';
