-- graph._lock_sources(tables, wait): lock registered source tables tables, and
-- each partition and inheritance child of them, in SHARE UPDATE EXCLUSIVE mode
-- (graph._hold_sources: held to the end of the transaction), before
-- graph._source_name checks the code their planning runs; returns tables. Only for
-- a caller who is a superuser or a graph_admin member (the callers that check
-- applies to); for anyone else it does nothing: a reader pays nothing. The check
-- reads the catalog now, and the read it names the table for plans the table later:
-- whatever the table's owner committed in between was planned unchecked, its
-- function run as the caller. A table's owner holding its table locked made a
-- superuser's build() check, wait, and plan an index created meanwhile; and, with
-- ACCESS SHARE only, an index, a statistics object or an attached partition
-- committed while the caller waited between its check and its planning (for a lock
-- of an index its planning opens) was planned unchecked too
-- (tests/test_abuse_planned_code.py). Locked first, a table's check sees whatever
-- its owner committed while the caller waited, and nothing its planning runs can
-- change until the caller's transaction ends; a caller reading several tables in
-- one statement locks them all before checking any. Only the tables the caller may
-- SELECT, or a column of (a read of those columns plans the table), are given to
-- graph._hold_sources (LOCK TABLE in ACCESS SHARE would refuse the others, which
-- graph._source_name refuses such a caller), each with all its partitions and children (a read of a partitioned
-- table plans its partitions with the parent's privileges). wait: as build, verify
-- and maintenance wait (true), or at most 5 s and then 55P03 (false: reads;
-- graph._hold_sources). VOLATILE (LOCK TABLE): graph._source_name calls it for its
-- one table. PUBLIC's: a read of several join tables calls it as its caller
-- (reads/edge_rows.py); graph._hold_sources is graph_admin's.
CREATE OR REPLACE FUNCTION graph._lock_sources(tables oid[], wait boolean)
RETURNS oid[]
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN
        RETURN tables;
    END IF;
    PERFORM graph._hold_sources(ARRAY(SELECT u.t FROM pg_catalog.unnest(tables) AS u (t)
                                      WHERE pg_catalog.has_any_column_privilege(u.t, 'SELECT') IS true
                                      ORDER BY u.t),
                                wait);
    RETURN tables;
END;
$$;

COMMENT ON FUNCTION graph._lock_sources(oid[], boolean) IS
'Internal: lock source tables (and their partitions and children) in SHARE UPDATE EXCLUSIVE mode before graph._source_name checks them, for a superuser or graph_admin caller; wait: as build waits, or at most 5 s (reads).';
