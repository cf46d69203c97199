-- graph._hold_sources(tables, wait): lock registered source tables tables, and each
-- partition and inheritance child of them, in SHARE UPDATE EXCLUSIVE mode, held to
-- the end of the transaction, for graph._lock_sources (which calls it for a
-- superuser or graph_admin caller only, with the tables that caller may SELECT).
-- Why that mode: graph._source_name checks the code a table's planning would run,
-- and the read plans the table later. ACCESS SHARE kept out ALTER and DROP but not
-- CREATE INDEX (SHARE), nor CREATE INDEX CONCURRENTLY, CREATE STATISTICS, ATTACH
-- PARTITION or a new inheritance child (SHARE UPDATE EXCLUSIVE on the table): one
-- its owner committed between the check and the planning ran the owner's function
-- as the caller (tests/test_abuse_planned_code.py). SHARE UPDATE EXCLUSIVE conflicts
-- with all of them and not with readers or writers (ROW EXCLUSIVE); it waits for,
-- and holds off, VACUUM, ANALYZE and such DDL of the table (autovacuum gives way
-- after deadlock_timeout, an anti-wraparound one excepted), and another superuser's
-- or admin's read of the same table until that one's transaction ends.
-- wait true (build, verify, reconcile, maintenance: graph._lock_sources(tables, true),
-- under the lock_timeout of 10 s at most they set, sync/sources.py lock_sources; and
-- remove_table and remove_edge before their registry writes, whose trigger DDL waits
-- for the table anyway): waits as the session's lock_timeout lets it.
-- wait false (reads; alter_table before its registry writes): waits at most
-- graph._registration_lock_wait() (the session's lock_timeout or 5 s, whichever is
-- shorter), then raises 55P03 naming the table.
-- SECURITY DEFINER, owned by the installing superuser (only a table's owner, a
-- superuser or a role that may write the table may take that lock, and graphsync
-- owns no one's tables): EXECUTE is graph_admin's alone (sql/privileges.sql), and it
-- locks only registered tables (graph._node_tables, and the tables carrying an edge
-- source: its from_table and via_table) and their partitions and children, whatever
-- it is given: it never lets a graph_admin member lock a table graphsync does not
-- read. Those are the columns the registry's writes are checked on
-- (graph._check_registration: SELECT and TRIGGER on the table); an edge source's
-- to_table is not checked there (registration takes it from the node tables), and
-- an admin's edge source written by hand naming another role's table there had this
-- lock that table for the admin (tests/test_abuse_registry.py). It runs no code a table owner controls:
-- LOCK TABLE ONLY reads the catalog and takes the lock. It takes a name, which
-- PostgreSQL looks up again when a lock it waited for is granted: the owner of a
-- registered table who held it locked and swapped the names of two schemas it owns
-- had this definer lock the other role's table that then bore the name, and leave
-- its own unlocked (tests/test_abuse_review44.py). So it locks through
-- graph._lock_tables, as graph._lock_for_capture does: a lock holds only when the
-- name still names the table it was taken for; otherwise every lock of the attempt
-- is given back and the tables locked again (55000 after three tries). The tables'
-- list is made once, before the first lock. On a hot standby (no lock
-- above ROW EXCLUSIVE there) it takes ACCESS SHARE. Reads: graph._node_tables,
-- graph._edge_sources, pg_inherits, pg_class (of those tables, by oid).
CREATE OR REPLACE FUNCTION graph._hold_sources(tables oid[], wait boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mode text := CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'ACCESS SHARE' ELSE 'SHARE UPDATE EXCLUSIVE' END;
    rels oid[];
BEGIN
    -- One table without partitions or children (graph._source_name's call, most
    -- tables): locked without the walk.
    IF pg_catalog.cardinality(tables) = 1
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = tables[1]) THEN
        rels := ARRAY(SELECT tables[1]
                      WHERE EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = tables[1])
                         OR EXISTS (SELECT FROM graph._edge_sources AS e
                                    WHERE tables[1] IN (e.from_table, e.via_table)));
    ELSE
        rels := ARRAY(
            WITH RECURSIVE tree AS (
                SELECT u.t AS rel, u.t AS top, 0 AS depth
                FROM pg_catalog.unnest(tables) AS u (t)
                WHERE EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = u.t)
                   OR EXISTS (SELECT FROM graph._edge_sources AS e WHERE u.t IN (e.from_table, e.via_table))
                UNION
                SELECT i.inhrelid, tree.top, tree.depth + 1
                FROM tree JOIN pg_catalog.pg_inherits AS i ON i.inhparent = tree.rel
            )
            SELECT t.rel FROM tree AS t
            GROUP BY t.rel
            ORDER BY min(t.top), min(t.depth), t.rel
        );
    END IF;
    -- (graph._lock_tables locks the ones that are tables, r or p: each relation's kind
    -- looked up by its oid; a join to pg_class was planned as a hash of all of it,
    -- every table of the database, tests/test_operation_costs.py)
    IF wait THEN
        PERFORM graph._lock_tables(rels, mode);
    ELSE
        PERFORM graph._lock_tables(
            rels, mode, 'graphsync could not lock %1$s in ' || mode || ' mode within %2$s',
            'A superuser''s or graph_admin member''s read holds the tables it reads against new'
            ' indexes, statistics and partitions until its transaction ends, and waits for'
            ' VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, CREATE STATISTICS or another such'
            ' read of the table that holds them.',
            'Retry when that is done (pg_locks shows who holds the table), or read as a role'
            ' outside graph_admin, whose read takes no such lock.');
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._hold_sources(oid[], boolean) IS
'Internal: lock registered source tables (and their partitions and children) in SHARE UPDATE EXCLUSIVE mode for graph._lock_sources; graph_admin only.';
