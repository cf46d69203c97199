-- 439-node-rows-fillfactor: graph._node_rows keeps room in each page for the new
-- version of a node that replay writes. A node that stays alive keeps its
-- change_id and its touched flag (reads keep only its alive flag and table:
-- plpython/graphsync/reads/view.py; a build compares properties and tenants with
-- the sources), so a node whose properties or row count change changes no indexed
-- column, and its new version is a HOT update -- no entry in any of the table's
-- four indexes -- when its page has room for it. With every page filled (the
-- default fillfactor, 100) the new version went to another page. The room is kept
-- in the pages written from now on (rows a build or replay inserts).
ALTER TABLE graph._node_rows SET (fillfactor = 80);
