-- graph._lock_sources(tables): lock registered source tables tables, and each
-- partition and inheritance child of them, in ACCESS SHARE mode (what reading them
-- takes, held to the end of the transaction), before graph._source_name checks the
-- code their planning runs; returns tables. Only for a caller who is a superuser
-- or a graph_admin member (the callers that check applies to); for anyone else it
-- does nothing. graph._source_name's check reads the catalog now, and the read it
-- names the table for plans the table later: a table's owner holding its table
-- locked (or a second table of its own the same read reads next) made a superuser's
-- graph.build() or verify() check the table, wait for that lock, and plan the
-- table with an index over the owner's IMMUTABLE function created meanwhile, which
-- ran as the superuser (tests/test_abuse_planned_code.py). Locked first, a table's
-- check sees whatever its owner committed while the caller waited; a caller reading
-- several tables in one statement locks them all before checking any. A table or
-- member the caller may not SELECT is not locked (LOCK TABLE would refuse it):
-- planning it runs nothing for such a caller that its read would not, but see
-- README (Privileges) for what a lock this weak cannot keep out.
-- VOLATILE (LOCK TABLE): graph._source_name, STABLE, calls it for its one table.
-- PUBLIC's: a read of several join tables calls it as its caller (reads/edge_rows.py).
CREATE OR REPLACE FUNCTION graph._lock_sources(tables oid[])
RETURNS oid[]
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN
        RETURN tables;
    END IF;
    -- One table without partitions or children (graph._source_name's call, most
    -- tables): locked without the walk.
    IF pg_catalog.cardinality(tables) = 1
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = tables[1]) THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = tables[1] AND c.relkind IN ('r', 'p'))
           AND pg_catalog.has_table_privilege(tables[1], 'SELECT') IS true THEN
            EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', tables[1]::pg_catalog.regclass);
        END IF;
        RETURN tables;
    END IF;
    FOR rel IN
        WITH RECURSIVE tree AS (
            SELECT u.t AS rel, u.o AS top, 0 AS depth
            FROM pg_catalog.unnest(tables) WITH ORDINALITY AS u (t, o)
            UNION
            SELECT i.inhrelid, tree.top, tree.depth + 1
            FROM tree JOIN pg_catalog.pg_inherits AS i ON i.inhparent = tree.rel
        )
        SELECT t.rel FROM tree AS t
        JOIN pg_catalog.pg_class AS c ON c.oid = t.rel AND c.relkind IN ('r', 'p')
        GROUP BY t.rel
        ORDER BY min(t.top), min(t.depth), t.rel
    LOOP
        IF pg_catalog.has_table_privilege(rel, 'SELECT') IS true THEN
            EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', rel::pg_catalog.regclass);
        END IF;
    END LOOP;
    RETURN tables;
END;
$$;

COMMENT ON FUNCTION graph._lock_sources(oid[]) IS
'Internal: lock source tables (and their partitions and children) in ACCESS SHARE mode before graph._source_name checks them, for a superuser or graph_admin caller.';
