-- 345-traverse-one-table: graph._traverse returns one more column, node_table
-- (the table of every node when they are all of one table; its columns of table
-- oids are then NULL). A function's result columns cannot be changed in place:
-- it is dropped here and the install creates it again with its privileges
-- (sql/functions/graph._traverse.sql, sql/privileges.sql).
DROP FUNCTION IF EXISTS graph._traverse(
    oid, text, integer, text, text[], oid[], jsonb, text, text, integer, boolean, oid[], text[]
);
