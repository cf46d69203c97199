-- graph._followed_tables(relations): the captured tables (node tables and join
-- tables, registered) that a schema change of relations concerns: a relation
-- that is one of them, a partition or inheritance child of one at any depth
-- (created, attached, inheriting), or a recorded member of one (dropped,
-- detached). Empty for everything else, so the event trigger graph._follow_ddl
-- leaves the application's other DDL (temporary tables included) at a catalog
-- lookup. SECURITY DEFINER (graph._capture_members is not PUBLIC's to read);
-- reads only. Reads: the registry, graph._capture_members, pg_inherits.
CREATE OR REPLACE FUNCTION graph._followed_tables(relations oid[])
RETURNS SETOF oid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE captured AS (
        SELECT n.table_oid FROM graph._node_tables AS n
        UNION
        SELECT e.via_table FROM graph._edge_sources AS e WHERE e.kind = 'join'
    ),
    up AS (
        SELECT r.oid AS rel FROM unnest(relations) AS r (oid)
        UNION
        SELECT i.inhparent FROM up JOIN pg_catalog.pg_inherits AS i ON i.inhrelid = up.rel
    )
    SELECT c.table_oid FROM captured AS c WHERE c.table_oid IN (SELECT up.rel FROM up)
    UNION
    SELECT m.table_oid FROM graph._capture_members AS m
    WHERE m.member_oid = ANY (relations) AND m.table_oid IN (SELECT c.table_oid FROM captured AS c)
$$;

COMMENT ON FUNCTION graph._followed_tables(oid[]) IS
'Internal: the captured tables a schema change of some relations concerns (themselves, their partitions or children, recorded members).';
