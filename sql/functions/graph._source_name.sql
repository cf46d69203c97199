-- graph._source_name(tbl): the name (regclass text) graphsync reads registered
-- source table tbl by, raising 42809 unless tbl is still an ordinary or
-- partitioned table. PostgreSQL 15 lets the owner of an empty table without
-- triggers or indexes turn it into a view (CREATE RULE "_RETURN" AS ON SELECT),
-- keeping its oid, so that it stays registered; and the functions a view's query
-- calls run as the view's reader: a build, a verify or a superuser's read would
-- run the owner's code with their rights. graph._follow_ddl refuses that rule on a
-- registered table; every statement graphsync makes to read a source names it
-- through this function (reads/nodes.py, reads/search.py, reads/access.py,
-- sync/sources.py, ops/verify.py), so a table that became a view before (or
-- with the event triggers disabled) is never read. PUBLIC's: reads call it as
-- their caller. Reads: pg_class.
CREATE OR REPLACE FUNCTION graph._source_name(tbl oid)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class AS c WHERE c.oid = tbl;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl USING ERRCODE = '42P01';
    ELSIF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is registered with graphsync but is no longer a table', tbl::pg_catalog.regclass
            USING ERRCODE = '42809',
                  HINT = 'Remove it from the graph (graph.remove_table, or graph.remove_edge for a join table).';
    END IF;
    RETURN tbl::pg_catalog.regclass::text;
END;
$$;

COMMENT ON FUNCTION graph._source_name(oid) IS
'Internal: the name a registered source table is read by; 42809 unless it is still an ordinary or partitioned table (not a view).';
