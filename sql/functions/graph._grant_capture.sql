-- graph._grant_capture(tables): give EXECUTE on each captured table's capture
-- functions (graph._capture_<oid>, graph._capture_row_<oid>, those that exist)
-- to graph_admin, to the table's owner and to the owner of each of its
-- partitions and inheritance children at any depth now (the roles: their members
-- inherit), and to no one else. A table given that is no captured one stands for
-- the captured tables it is a partition or child of (an ALTER TABLE ... OWNER TO
-- of a partition names the partition). Creating a trigger needs EXECUTE on its
-- function; firing it does not, so a writer needs none. The owners need it because
-- the DDL follower attaches capture to a partition or child created as its
-- parent's owner (graph._attach_capture), and a partition may have an owner of its
-- own who sub-partitions it: with EXECUTE the table's owner's only (migration
-- 469), that owner's sub-partition was created with a WARNING per capture trigger,
-- health showing them missing and its rows uncaptured until graph.reconcile()
-- (tests/test_abuse_capture_execute.py). A member's owner may so create a trigger
-- calling the function on a table outside the family, where the function logs
-- nothing (graph._write_capture). EXECUTE was PUBLIC's: any role could
-- create a trigger of its own calling another table's capture function, and
-- graph.remove_table's DROP FUNCTION ... CASCADE then waited on that role's lock
-- (tests/test_abuse_capture_toggle.py). graph._write_capture calls it when it
-- generates a function; the DDL follower calls it for the tables an ALTER TABLE
-- named (an owner change: ALTER TABLE ... OWNER TO, of the table or a member; a
-- partition attached or detached), for those whose capture it attaches, and
-- after DROP OWNED for every captured table (REASSIGN OWNED BY fires no event
-- trigger), as the DDL's role; graph.reconcile() for every captured table.
-- SECURITY DEFINER (graph_sync, a member of graph_capture, which owns the
-- functions), PUBLIC's to run, and what it grants is derived from the catalog
-- alone, so a direct call grants nothing but what is right. Tables neither
-- captured nor a member of a captured one, and functions already right, are
-- skipped without a write; so are the tables of a session whose user is neither a
-- graph_admin member nor a member of the owner of the table or of one of its
-- members (the check graph._write_capture makes, its caller, by session_user,
-- widened to the members' owners whose DDL the follower runs: as a definer this
-- cannot see who called it), nor a member of a role holding EXECUTE on one of its
-- capture functions that owns nothing in the family any more: a member's owner
-- that drops its member has its own grant revoked by the follower's call in its
-- session (it kept it, and could create a trigger calling the function on a table
-- of its own, holding up graph.remove_table; such a role could do so anyway, so
-- the 'capture' lock it may take gives it nothing more). A mend writes under graph._locks' 'capture' row,
-- which the caller's transaction then holds: a role with no right on any table
-- called it where a grant was out of step (after REASSIGN OWNED BY), kept its
-- transaction open, and every registration and capture generation waited for it
-- (tests/test_abuse_capture_execute.py). Such a call now does nothing; the DDL
-- follower's call as an owner in the table's family, a superuser's or an
-- admin's, and reconcile mend it. Reads: pg_inherits up from each table given and
-- down from each captured one, by index (the rows of their trees only); a captured
-- table reached only through members given, whose grants are graph_admin's and its
-- owner's alone, down from those members only (below). Touches: the functions' ACLs.
CREATE OR REPLACE FUNCTION graph._grant_capture(tables oid[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- the catalog by index, however small: a lookup of a member's partitions was a read of all
-- of pg_inherits for each member while it was small, and each table's capture functions a
-- read of all of pg_proc (tests/test_operation_costs.py)
SET enable_seqscan = off
SET jit = off  -- (a plan with no index to use costs more then: no JIT compilation for it)
AS $$
DECLARE
    t record;
    r record;
    admin oid := 'graph_admin'::pg_catalog.regrole;
    owners oid [];
    table_owner oid;
    grantees oid [];
    other oid;
BEGIN
    FOR t IN
        -- the tables given and their ancestors, of those the captured ones, each with
        -- whether it was given itself and which of the tables given are below it
        WITH RECURSIVE up (origin, relid) AS (
            SELECT u.oid, u.oid FROM unnest(tables) AS u (oid) WHERE u.oid IS NOT NULL
            UNION
            -- each level looked up by its oids (OFFSET 0: never a hash of all of
            -- pg_inherits, every partition of the database, at each level)
            SELECT up.origin, i.inhparent FROM up
            CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhrelid OPERATOR(pg_catalog.=) up.relid OFFSET 0) AS i
        )
        SELECT up.relid AS oid, pg_catalog.bool_or(up.origin OPERATOR(pg_catalog.=) up.relid) AS given,
               pg_catalog.array_agg(up.origin) FILTER (WHERE up.origin OPERATOR(pg_catalog.<>) up.relid) AS below
        FROM up
        WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) up.relid)
          AND EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                      WHERE p.pronamespace OPERATOR(pg_catalog.=) 'graph'::pg_catalog.regnamespace
                        AND p.proname IN ('_capture_' || up.relid::text, '_capture_row_' || up.relid::text)
                        AND p.pronargs OPERATOR(pg_catalog.=) 0)
        GROUP BY up.relid
        ORDER BY up.relid
    LOOP
        -- Given only through members of its (an ALTER TABLE of a partition: add_table
        -- enables each partition's triggers so, and the DDL follower follows each),
        -- where each function's grantees are exactly graph_admin and the table's owner
        -- and those members and their own partitions are that owner's too: in step,
        -- without walking the table's whole tree. Every other member is as it was before
        -- the DDL, when those grantees said it was that owner's; and no grant is left
        -- that is not due, as both are. That walk at each partition's ALTER TABLE made
        -- add_table's grants grow with the square of the partitions
        -- (tests/test_operation_costs.py).
        IF NOT t.given THEN
            table_owner := (SELECT k.relowner FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) t.oid);
            IF NOT EXISTS (
                   WITH RECURSIVE down (relid) AS (
                       SELECT b.oid FROM unnest(t.below) AS b (oid)
                       UNION
                       SELECT i.inhrelid FROM down
                       CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                           WHERE i.inhparent OPERATOR(pg_catalog.=) down.relid OFFSET 0) AS i
                   )
                   SELECT FROM down
                   CROSS JOIN LATERAL (SELECT k.relowner FROM pg_catalog.pg_class AS k
                                       WHERE k.oid OPERATOR(pg_catalog.=) down.relid OFFSET 0) AS o
                   WHERE o.relowner OPERATOR(pg_catalog.<>) table_owner)
               AND NOT EXISTS (
                   SELECT FROM pg_catalog.pg_proc AS p
                   WHERE p.pronamespace OPERATOR(pg_catalog.=) 'graph'::pg_catalog.regnamespace
                     AND p.proname IN ('_capture_' || t.oid::text, '_capture_row_' || t.oid::text)
                     AND p.pronargs OPERATOR(pg_catalog.=) 0
                     AND ARRAY(SELECT DISTINCT a.grantee
                               FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)))
                                   AS a
                               WHERE a.privilege_type = 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
                               ORDER BY a.grantee)
                         OPERATOR(pg_catalog.<>)
                         ARRAY(SELECT DISTINCT g.g FROM unnest(ARRAY[admin, table_owner]) AS g (g)
                               WHERE g.g OPERATOR(pg_catalog.<>) p.proowner ORDER BY g.g))
            THEN
                CONTINUE;
            END IF;
        END IF;
        -- the owners of the table and of its partitions and children at any depth
        owners := ARRAY(
            WITH RECURSIVE down (relid) AS (
                SELECT t.oid
                UNION
                -- (as up: read all of pg_inherits at each level, other tables' partitions
                -- too; tests/test_operation_costs.py)
                SELECT i.inhrelid FROM down
                CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                    WHERE i.inhparent OPERATOR(pg_catalog.=) down.relid OFFSET 0) AS i
            )
            -- each looked up by its oid: a join read all of pg_class while the catalog
            -- was small (tests/test_operation_costs.py)
            SELECT DISTINCT o.relowner FROM down
            CROSS JOIN LATERAL (SELECT k.relowner FROM pg_catalog.pg_class AS k
                                WHERE k.oid OPERATOR(pg_catalog.=) down.relid OFFSET 0) AS o);
        -- a session of graph_admin, of an owner in the family, or of a role that
        -- holds EXECUTE on one of its functions and owns nothing in it any more
        IF NOT (pg_catalog.pg_has_role(session_user, admin, 'MEMBER')
                OR EXISTS (SELECT FROM unnest(owners) AS o (o) WHERE pg_catalog.pg_has_role(session_user, o.o, 'MEMBER'))
                OR EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                           CROSS JOIN pg_catalog.aclexplode(p.proacl) AS a
                           WHERE p.pronamespace OPERATOR(pg_catalog.=) 'graph'::pg_catalog.regnamespace
                             AND p.proname IN ('_capture_' || t.oid::text, '_capture_row_' || t.oid::text)
                             AND p.pronargs OPERATOR(pg_catalog.=) 0
                             AND a.grantee OPERATOR(pg_catalog.<>) ALL (ARRAY[0::pg_catalog.oid, p.proowner, admin])
                             AND a.grantee OPERATOR(pg_catalog.<>) ALL (owners)
                             AND pg_catalog.pg_has_role(session_user, a.grantee, 'MEMBER')))
        THEN
            CONTINUE;
        END IF;
        FOR r IN
            SELECT p.oid::pg_catalog.regprocedure AS fn, p.proowner,
                   coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) AS acl
            FROM pg_catalog.pg_proc AS p
            WHERE p.pronamespace OPERATOR(pg_catalog.=) 'graph'::pg_catalog.regnamespace
              AND p.proname IN ('_capture_' || t.oid::text, '_capture_row_' || t.oid::text)
              AND p.pronargs OPERATOR(pg_catalog.=) 0
            ORDER BY p.proname
        LOOP
            grantees := ARRAY(
                SELECT DISTINCT g.g FROM unnest(admin OPERATOR(pg_catalog.||) owners) AS g (g)
                WHERE g.g OPERATOR(pg_catalog.<>) r.proowner ORDER BY g.g);
            IF (SELECT coalesce(pg_catalog.array_agg(DISTINCT a.grantee ORDER BY a.grantee), '{}')
                FROM pg_catalog.aclexplode(r.acl) AS a
                WHERE a.privilege_type = 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) r.proowner)
               OPERATOR(pg_catalog.=) grantees
            THEN
                CONTINUE;
            END IF;
            -- One writer of capture functions at a time (as graph._write_capture).
            PERFORM FROM graph._locks AS l WHERE l.name = 'capture' FOR UPDATE;
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
            FOR other IN
                SELECT DISTINCT a.grantee FROM pg_catalog.aclexplode(r.acl) AS a
                WHERE a.grantee OPERATOR(pg_catalog.<>) ALL (0::pg_catalog.oid OPERATOR(pg_catalog.||) grantees)
                  AND a.grantee OPERATOR(pg_catalog.<>) r.proowner
            LOOP
                EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn, other::pg_catalog.regrole);
            END LOOP;
            -- graph_admin first, then the owners (the ACL's order: as a fresh install's)
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn,
                                      (SELECT pg_catalog.string_agg(g.g::pg_catalog.regrole::text, ', '
                                                                    ORDER BY g.g OPERATOR(pg_catalog.<>) admin, g.g)
                                       FROM unnest(grantees) AS g (g)));
        END LOOP;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._grant_capture(oid[]) IS
'Internal: give EXECUTE on the capture functions of the given tables (or of the captured tables they are partitions or children of) to graph_admin, each table''s owner and the owners of its partitions and children now, and to no one else (derived from the catalog alone).';
