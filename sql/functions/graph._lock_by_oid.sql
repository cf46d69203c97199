-- graph._lock_by_oid(rel, mode, members): lock table rel in lock mode mode, held to
-- the end of the transaction, and say whether the lock is rel's. LOCK TABLE takes a
-- name, which PostgreSQL looks up again when a lock it waited for is granted: a
-- rename committed meanwhile (of the table, or of its schema: the owner of two
-- schemas who swapped their names) had it lock the relation that bears the name
-- then, another role's table (tests/test_abuse_review44.py), or none (42P01,
-- undefined_table, raised as LOCK TABLE raises it). So it locks rel by the name
-- rel has now, schema-qualified, and returns whether that name still names rel
-- once the lock is granted: false, the lock is another relation's, which the
-- caller gives back by rolling its subtransaction back, or fails on. NULL when
-- rel is no table (r or p) now, nothing locked. members: LOCK TABLE without ONLY,
-- rel's partitions and inheritance children locked too (by oid: no name to check).
-- mode: one of PostgreSQL's table lock modes (22023 otherwise).
-- SECURITY INVOKER: it locks as its caller (a definer's owner, or the role whose
-- DDL graph._follow_ddl follows), so it never lets anyone lock a table that one
-- could not lock with LOCK TABLE; PUBLIC's to run for the DDL follower's sake.
-- Its callers: graph._lock_tables (for graph._hold_sources and
-- graph._lock_for_capture), graph._follow_ddl (ALTER SCHEMA) and the source locks
-- of build, verify, reconcile and maintenance (sync/sources.py lock_sources).
CREATE OR REPLACE FUNCTION graph._lock_by_oid(rel oid, mode text, members boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name text;
BEGIN
    IF mode IS NULL OR mode NOT IN ('ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE',
                                    'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
        RAISE EXCEPTION 'not a table lock mode: %', mode USING ERRCODE = '22023';
    END IF;
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO name
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = rel AND c.relkind IN ('r', 'p');
    IF name IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE %s%s IN %s MODE', CASE WHEN members THEN '' ELSE 'ONLY ' END, name, mode);
    RETURN pg_catalog.to_regclass(name) IS NOT DISTINCT FROM rel;
END;
$$;

COMMENT ON FUNCTION graph._lock_by_oid(oid, text, boolean) IS
'Internal: lock a table (members: its partitions and children too) by its name now, as the caller; whether that name still named it when the lock was granted (NULL: no such table).';
