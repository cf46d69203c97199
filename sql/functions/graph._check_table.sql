-- graph._check_table(tbl): raise 42809 unless tbl is an ordinary or
-- partitioned table the caller may SELECT from and put triggers on: not one of
-- graphsync's own, not a system catalog (PostgreSQL refuses triggers on them, so
-- nothing would capture its rows), not a temporary table (one session's: the
-- graph is everyone's, and the table goes at the session's end without a DROP
-- the event triggers see).
CREATE OR REPLACE FUNCTION graph._check_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = '42809';
    END IF;
    IF (SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = tbl)
        = 'graph'::regnamespace THEN
        RAISE EXCEPTION '% belongs to graphsync and cannot be registered', tbl
            USING ERRCODE = '42809';
    END IF;
    IF (SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = tbl)
        = 'pg_catalog'::regnamespace THEN
        RAISE EXCEPTION '% is a system catalog and cannot be registered', tbl
            USING ERRCODE = '42809',
            HINT = 'PostgreSQL puts no triggers on system catalogs, so graphsync could not capture its rows.';
    END IF;
    IF (SELECT c.relpersistence FROM pg_catalog.pg_class AS c WHERE c.oid = tbl) = 't' THEN
        RAISE EXCEPTION '% is a temporary table and cannot be registered', tbl
            USING ERRCODE = '42809',
            HINT = 'The graph is shared by every session; register a permanent (or unlogged) table.';
    END IF;
    IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT')
       OR NOT pg_catalog.has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'permission denied for table %: registering needs SELECT and TRIGGER', tbl
            USING ERRCODE = '42501';
    END IF;
END;
$$;
