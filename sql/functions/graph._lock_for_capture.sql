-- graph._lock_for_capture(tbls, doing): take, before a registration writes the
-- registry, the lock its capture trigger DDL will take on tbls and their partitions
-- and inheritance children, held to the end of the transaction: SHARE ROW EXCLUSIVE
-- for doing 'install' (CREATE TRIGGER, ENABLE TRIGGER), ACCESS EXCLUSIVE for 'drop'
-- (the triggers dropped: DROP FUNCTION ... CASCADE); anything else is refused
-- (22023). Why first: a registry write takes graph._sync_state's row
-- (graph._bump_graph_version), and DDL waiting after it for a writer of the table
-- whose transaction then applied (waiting for that row) deadlocked with it, 40P01
-- for one of them (tests/test_lock_order_race.py). Taken first, the call waits for
-- the writer holding nothing the writer's apply needs. Waits at most 5 s (the
-- caller's lock_timeout when shorter), then 55P03 naming the table, as
-- graph._install_capture_bounded; lock_timeout is the caller's again afterwards.
-- SECURITY DEFINER, owned by the installing superuser: in PostgreSQL 15 LOCK TABLE
-- in those modes needs UPDATE, DELETE or TRUNCATE on the table, which an admin with
-- SELECT and TRIGGER (README's "An admin who is not a superuser") lacks, though the
-- DDL it runs next takes the same lock. So it locks only what the session's role
-- could lock by that DDL: a table it has TRIGGER on (its caller, an invoker, gives it
-- only tables its current role has TRIGGER on: checked twice), for 'drop' only a
-- registered one (graph._node_tables, or carrying an edge source: from_table,
-- via_table), and of their members the partitions (CREATE TRIGGER recurses to them
-- under the parent's right) and the inheritance children it has TRIGGER on too.
-- Others are skipped: their DDL takes its own lock later, as before; so is everything
-- for a session user outside graph_admin. EXECUTE is graph_admin's alone. It runs no
-- code a table owner controls (LOCK TABLE ONLY by the name now, through
-- graph._lock_by_oid); a rename committed while a lock was waited for (the owner's
-- swap of two schemas' names) had the name lock another relation: every lock of the
-- attempt is then given back and the tables locked again, as graph._hold_sources
-- does (55000 after three tries). On a hot standby it does nothing (no DDL runs there).
-- Reads: graph._node_tables, graph._edge_sources, pg_inherits, pg_class.
CREATE OR REPLACE FUNCTION graph._lock_for_capture(tbls oid[], doing text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mode text;
    verb text;
    caller_timeout text := pg_catalog.current_setting('lock_timeout');
    bound text;
    rel oid;
    moved oid;  -- a table whose name named another relation when its lock was granted
    tries integer := 0;
BEGIN
    CASE doing
        WHEN 'install' THEN
            mode := 'SHARE ROW EXCLUSIVE';
            verb := 'install';
        WHEN 'drop' THEN
            mode := 'ACCESS EXCLUSIVE';
            verb := 'drop';
        ELSE
            RAISE EXCEPTION 'doing must be install or drop, not %', coalesce(doing, 'NULL') USING ERRCODE = '22023';
    END CASE;
    IF tbls IS NULL OR pg_catalog.cardinality(tbls) = 0 OR pg_catalog.pg_is_in_recovery()
       OR NOT pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER') THEN
        RETURN;
    END IF;
    bound := CASE WHEN caller_timeout::pg_catalog.interval > '0'::pg_catalog.interval
                       AND caller_timeout::pg_catalog.interval < '5s'::pg_catalog.interval
                  THEN caller_timeout ELSE '5s' END;
    PERFORM pg_catalog.set_config('lock_timeout', bound, true);
    LOOP
        tries := tries + 1;
        moved := NULL;
        BEGIN
            FOR rel IN
                WITH RECURSIVE tree AS (
                    SELECT u.t AS rel, u.o AS top, 0 AS depth
                    FROM pg_catalog.unnest(tbls) WITH ORDINALITY AS u (t, o)
                    WHERE pg_catalog.has_table_privilege(session_user, u.t, 'TRIGGER') IS true
                      AND (doing = 'install'
                           OR EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = u.t)
                           OR EXISTS (SELECT FROM graph._edge_sources AS e WHERE u.t IN (e.from_table, e.via_table)))
                    UNION
                    SELECT i.inhrelid, tree.top, tree.depth + 1
                    FROM tree JOIN pg_catalog.pg_inherits AS i ON i.inhparent = tree.rel
                    WHERE (SELECT c.relispartition FROM pg_catalog.pg_class AS c WHERE c.oid = i.inhrelid)
                          OR pg_catalog.has_table_privilege(session_user, i.inhrelid, 'TRIGGER') IS true
                )
                SELECT t.rel FROM tree AS t
                WHERE (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = t.rel) IN ('r', 'p')
                GROUP BY t.rel
                ORDER BY min(t.top), min(t.depth), t.rel
            LOOP
                moved := rel;
                IF NOT coalesce(graph._lock_by_oid(rel, mode, false), false) THEN
                    RAISE EXCEPTION USING ERRCODE = 'undefined_table';  -- (not rel's name now)
                END IF;
                moved := NULL;
            END LOOP;
            EXIT;  -- every table locked
        EXCEPTION WHEN undefined_table THEN
            -- LOCK TABLE looks the name up again when the lock it waited for is granted:
            -- a rename committed meanwhile had it lock the relation bearing the name then.
            -- The block's subtransaction is rolled back (every lock it took given back)
            -- and the tables are locked again under their names now (twice more at most).
            IF moved IS NULL THEN
                RAISE;
            ELSIF tries >= 3 THEN
                RAISE EXCEPTION 'graphsync could not lock %: it was renamed while its lock was waited for',
                    moved::pg_catalog.regclass
                    USING ERRCODE = '55000', HINT = 'Retry when the table''s or its schema''s name has settled.';
            END IF;
        WHEN lock_not_available THEN
            PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
            RAISE EXCEPTION 'graphsync could not lock % within % to % its capture triggers: a writer of it (or'
                            ' another session) holds it in a transaction still open; nothing was changed',
                            rel::pg_catalog.regclass, bound, verb
                USING ERRCODE = '55P03',
                      DETAIL = CASE doing
                                   WHEN 'install' THEN 'Creating a table''s capture triggers waits for every open'
                                                       ' transaction that wrote the table.'
                                   ELSE 'Dropping a table''s capture triggers waits for every open transaction'
                                        ' that wrote or read the table.' END,
                      HINT = 'Retry when that transaction has ended (pg_locks shows who holds the table).';
        END;
    END LOOP;
    PERFORM pg_catalog.set_config('lock_timeout', caller_timeout, true);
END;
$$;

COMMENT ON FUNCTION graph._lock_for_capture(oid[], text) IS
'Internal: before a registry write, lock tables (and their partitions and children) as their capture trigger DDL will (install: SHARE ROW EXCLUSIVE, drop: ACCESS EXCLUSIVE), at most 5 s then 55P03; only tables the session''s role has TRIGGER on; graph_admin only.';
