-- graph._lock_for_capture(tbls, doing): take, before a registration writes the
-- registry, the lock its capture trigger DDL will take on tbls and their partitions
-- and inheritance children, held to the end of the transaction: SHARE ROW EXCLUSIVE
-- for doing 'install' (CREATE TRIGGER, ENABLE TRIGGER), ACCESS EXCLUSIVE for 'drop'
-- (the triggers dropped: DROP FUNCTION ... CASCADE); anything else is refused
-- (22023). Why first: a registry write takes graph._sync_state's row
-- (graph._bump_graph_version), and DDL waiting after it for a writer of the table
-- whose transaction then applied (waiting for that row) deadlocked with it, 40P01
-- for one of them (tests/test_lock_order_race.py). Taken first, the call waits for
-- the writer holding nothing the writer's apply needs. Waits at most
-- graph._registration_lock_wait() (5 s, the caller's lock_timeout when shorter),
-- then 55P03 naming the table, as graph._install_capture_bounded; lock_timeout is
-- the caller's again afterwards.
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
-- code a table owner controls: it locks through graph._lock_tables, as
-- graph._hold_sources does (LOCK TABLE ONLY by the name now; a rename committed
-- while a lock was waited for, the owner's swap of two schemas' names, had the name
-- lock another relation: every lock of the attempt is then given back and the
-- tables locked again, 55000 after three tries). The tables' list is made once,
-- before the first lock. On a hot standby it does nothing (no DDL runs there).
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
    detail text;
BEGIN
    CASE doing
        WHEN 'install' THEN
            mode := 'SHARE ROW EXCLUSIVE';
            detail := 'Creating a table''s capture triggers waits for every open transaction that wrote the table.';
        WHEN 'drop' THEN
            mode := 'ACCESS EXCLUSIVE';
            detail := 'Dropping a table''s capture triggers waits for every open transaction that wrote or read'
                      ' the table.';
        ELSE
            RAISE EXCEPTION 'doing must be install or drop, not %', coalesce(doing, 'NULL') USING ERRCODE = '22023';
    END CASE;
    IF tbls IS NULL OR pg_catalog.cardinality(tbls) = 0 OR pg_catalog.pg_is_in_recovery()
       OR NOT pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER') THEN
        RETURN;
    END IF;
    PERFORM graph._lock_tables(
        ARRAY(
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
            SELECT t.rel FROM tree AS t  -- (graph._lock_tables locks the tables among them: r, p)
            GROUP BY t.rel
            ORDER BY min(t.top), min(t.depth), t.rel
        ),
        mode,
        'graphsync could not lock %1$s within %2$s to ' || doing || ' its capture triggers: a writer of it (or'
        ' another session) holds it in a transaction still open; nothing was changed',
        detail,
        'Retry when that transaction has ended (pg_locks shows who holds the table).');
END;
$$;

COMMENT ON FUNCTION graph._lock_for_capture(oid[], text) IS
'Internal: before a registry write, lock tables (and their partitions and children) as their capture trigger DDL will (install: SHARE ROW EXCLUSIVE, drop: ACCESS EXCLUSIVE), at most 5 s then 55P03; only tables the session''s role has TRIGGER on; graph_admin only.';
