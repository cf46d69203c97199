-- 430-capture-members-table-index: the partitions and children recorded for one
-- captured table, found by that table. graph._capture_members' primary key leads
-- with member_oid, so graph._map_capture (run whenever capture of a table is
-- generated: graph.add_table, add_edge, a followed schema change) and
-- graph._followed_tables (every DDL on a captured table or its members) read the
-- members of every captured table to find those of one: with a table of 200
-- partitions registered, each registration read all 200 again, and registering n
-- tables cost O(n^2) rows.
CREATE INDEX _capture_members_table_idx ON graph._capture_members (table_oid);
