-- graph._lock_tables(rels, mode, busy, busy_detail, busy_hint): lock each of rels
-- that is a table (r, p) now, in their order, ONLY (its partitions and children
-- are the caller's to list), in lock mode mode, held to the end of the
-- transaction, by the name each has now (graph._lock_by_oid). LOCK TABLE looks a
-- name up again when the lock it waited for is granted: a rename committed
-- meanwhile (the owner's, of its table or of a schema it owns: two schemas' names
-- swapped) had it lock the relation that bears the name then, another role's
-- table, or none (42P01) (tests/test_abuse_review44.py). Then every lock of the
-- attempt is given back (its subtransaction rolled back) and rels locked again
-- under their names now, twice more at most, then 55000 naming the table. The
-- one form of that retry: graph._lock_for_capture and graph._hold_sources lock
-- through it.
-- busy NULL: each lock waits as the session's lock_timeout lets it, and one not
-- granted raises PostgreSQL's 55P03. busy given: each waits at most
-- graph._registration_lock_wait() (lock_timeout is the caller's again
-- afterwards), then 55P03 with the message format(busy, table, that wait), and
-- busy_detail and busy_hint.
-- SECURITY INVOKER: it locks as its caller (the definers that call it run as the
-- installing superuser; graph_admin, which may run it too, locks only what it
-- could lock with LOCK TABLE). Reads: pg_class (of rels, by oid).
CREATE OR REPLACE FUNCTION graph._lock_tables(
    rels oid[], mode text, busy text DEFAULT NULL, busy_detail text DEFAULT NULL, busy_hint text DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_timeout text := pg_catalog.current_setting('lock_timeout');
    bound text;
    rel oid;
    moved oid;  -- a table whose name named another relation when its lock was granted
    tries integer := 0;
BEGIN
    IF rels IS NULL OR pg_catalog.cardinality(rels) = 0 THEN
        RETURN;
    END IF;
    IF busy IS NOT NULL THEN
        bound := graph._registration_lock_wait();
        PERFORM pg_catalog.set_config('lock_timeout', bound, true);
    END IF;
    LOOP
        tries := tries + 1;
        moved := NULL;
        BEGIN
            FOR rel IN
                SELECT u.t FROM pg_catalog.unnest(rels) WITH ORDINALITY AS u (t, o)
                -- each relation's kind looked up by its oid (tests/test_operation_costs.py);
                -- one dropped since the last attempt is locked no more
                WHERE (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = u.t) IN ('r', 'p')
                ORDER BY u.o
            LOOP
                moved := rel;  -- (until the lock is known to be rel's)
                IF NOT coalesce(graph._lock_by_oid(rel, mode, false), false) THEN
                    RAISE EXCEPTION USING ERRCODE = 'undefined_table';  -- (not rel's name now)
                END IF;
                moved := NULL;
            END LOOP;
            EXIT;  -- every table locked
        EXCEPTION WHEN undefined_table THEN
            IF moved IS NULL THEN
                RAISE;
            ELSIF tries >= 3 THEN
                RAISE EXCEPTION 'graphsync could not lock %: it was renamed while its lock was waited for',
                    moved::pg_catalog.regclass
                    USING ERRCODE = '55000', HINT = 'Retry when the table''s or its schema''s name has settled.';
            END IF;
        WHEN lock_not_available THEN
            IF busy IS NULL THEN
                RAISE;
            END IF;
            PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
            RAISE EXCEPTION USING ERRCODE = '55P03', MESSAGE = pg_catalog.format(busy, rel::pg_catalog.regclass, bound),
                                  DETAIL = coalesce(busy_detail, ''), HINT = coalesce(busy_hint, '');
        END;
    END LOOP;
    IF busy IS NOT NULL THEN
        PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
    END IF;
END;
$$;

COMMENT ON FUNCTION graph._lock_tables(oid[], text, text, text, text) IS
'Internal: lock tables (ONLY) in order by their names now, again when a rename committed while a lock was waited for (55000 after three tries); with busy, each waits at most graph._registration_lock_wait(), then 55P03 worded by busy.';
