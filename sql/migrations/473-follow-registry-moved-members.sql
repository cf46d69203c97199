-- 473-follow-registry-moved-members: graph._follow_registry(oid[]) returns, with
-- each table whose capture triggers the DDL follower attaches, the members whose
-- triggers to check (NULL: every member's), so that an ATTACH or DETACH of one
-- partition checks that partition's triggers, not every member's. Its result type
-- changes, which CREATE OR REPLACE cannot do: the former function is dropped here,
-- and the install creates the new one (sql/functions/graph._follow_registry.sql).
DROP FUNCTION IF EXISTS graph._follow_registry(oid[]);
