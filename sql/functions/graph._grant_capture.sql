-- graph._grant_capture(tables): give EXECUTE on each table's capture functions
-- (graph._capture_<oid>, graph._capture_row_<oid>, those that exist) to
-- graph_admin and to the table's owner now (the role: its members inherit), and
-- to no one else. Creating a trigger needs EXECUTE on its function; firing it
-- does not, so a writer needs none. The owner needs it because the DDL follower
-- attaches capture to a partition or child it creates as that owner
-- (graph._attach_capture). EXECUTE was PUBLIC's: any role could create a trigger
-- of its own calling another table's capture function, and graph.remove_table's
-- DROP FUNCTION ... CASCADE then waited on that role's lock
-- (tests/test_abuse_capture_toggle.py). graph._write_capture calls it when it
-- generates a function; the DDL follower calls it for the tables an ALTER TABLE
-- named (an owner change: ALTER TABLE ... OWNER TO), for those whose capture it
-- attaches, and after DROP OWNED for every captured table (REASSIGN OWNED BY
-- fires no event trigger), as the DDL's role; graph.reconcile() for every
-- captured table. SECURITY DEFINER (graph_sync, a member of graph_capture,
-- which owns the functions),
-- PUBLIC's to run, and what it grants is derived from the catalog alone, so a
-- direct call grants nothing but what is right. Tables other than captured ones,
-- and functions already right, are skipped without a write; so are the tables of
-- a session whose user is neither a graph_admin member nor a member of the
-- table's owner (the check graph._write_capture makes, its caller, by
-- session_user: as a definer this cannot see who called it). A mend writes under
-- graph._locks' 'capture' row, which the caller's transaction then holds: a role
-- with no right on any table called it where a grant was out of step (after
-- REASSIGN OWNED BY), kept its transaction open, and every registration and
-- capture generation waited for it (tests/test_abuse_capture_execute.py). Such
-- a call now does nothing; the DDL follower's call as the table's (old or new)
-- owner, a superuser's or an admin's, and reconcile mend it. Touches: the
-- functions' ACLs.
CREATE OR REPLACE FUNCTION graph._grant_capture(tables oid[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    admin oid := 'graph_admin'::pg_catalog.regrole;
    other oid;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, k.relowner AS table_owner, p.proowner,
               coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) AS acl
        FROM unnest(tables) AS t (oid)
        JOIN pg_catalog.pg_class AS k ON k.oid = t.oid
            AND (pg_catalog.pg_has_role(session_user, admin, 'MEMBER')
                 OR pg_catalog.pg_has_role(session_user, k.relowner, 'MEMBER'))
        CROSS JOIN LATERAL unnest(ARRAY['_capture_', '_capture_row_']) AS x (prefix)
        JOIN pg_catalog.pg_proc AS p
            ON p.pronamespace = 'graph'::pg_catalog.regnamespace
           AND p.proname = x.prefix || t.oid::text AND p.pronargs = 0
        ORDER BY t.oid, x.prefix
    LOOP
        IF (SELECT coalesce(pg_catalog.array_agg(DISTINCT a.grantee ORDER BY a.grantee), '{}')
            FROM pg_catalog.aclexplode(r.acl) AS a
            WHERE a.privilege_type = 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) r.proowner)
           OPERATOR(pg_catalog.=) ARRAY(
            SELECT DISTINCT g FROM unnest(ARRAY[admin, r.table_owner]) AS g (g)
            WHERE g OPERATOR(pg_catalog.<>) r.proowner ORDER BY g)
        THEN
            CONTINUE;
        END IF;
        -- One writer of capture functions at a time (as graph._write_capture).
        PERFORM FROM graph._locks AS l WHERE l.name = 'capture' FOR UPDATE;
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
        FOR other IN
            SELECT DISTINCT a.grantee FROM pg_catalog.aclexplode(r.acl) AS a
            WHERE a.grantee NOT IN (0::pg_catalog.oid, r.proowner, admin, r.table_owner)
        LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn, other::pg_catalog.regrole);
        END LOOP;
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO graph_admin, %s',
                                  r.fn, r.table_owner::pg_catalog.regrole);
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._grant_capture(oid[]) IS
'Internal: give EXECUTE on the given tables'' capture functions to graph_admin and each table''s owner now, and to no one else (derived from the catalog alone).';
