-- 469-capture-execute-owner-only: EXECUTE on a generated capture function
-- (graph._capture_<oid>, graph._capture_row_<oid>) was PUBLIC's, so that a
-- table's owner could attach it to a partition or child it creates; any role
-- could then create a trigger of its own calling another table's capture
-- function, which held up graph.remove_table's DROP FUNCTION ... CASCADE. From
-- this release it is graph_admin's and the captured table's owner's only
-- (graph._grant_capture; firing a trigger needs no EXECUTE, so writers need
-- none). This gives every existing capture function those grants: PUBLIC's and
-- any other role's EXECUTE revoked, graph_admin's and the owner's granted (the
-- table's oid is in the function's name). A function whose table is gone is
-- left alone (the follower drops it).
DO $$
DECLARE
    r record;
    other oid;
BEGIN
    FOR r IN
        SELECT p.oid::pg_catalog.regprocedure AS fn, p.proowner, k.relowner,
               coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) AS acl
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_class AS k
            ON k.oid = pg_catalog.substring(p.proname, '^_capture_(?:row_)?([0-9]+)$')::pg_catalog.oid
        WHERE p.pronamespace = 'graph'::pg_catalog.regnamespace
          AND p.proname ~ '^_capture_(row_)?[0-9]+$' AND p.pronargs = 0
        ORDER BY p.oid
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
        FOR other IN
            SELECT DISTINCT a.grantee FROM pg_catalog.aclexplode(r.acl) AS a
            WHERE a.grantee NOT IN (0::pg_catalog.oid, r.proowner, 'graph_admin'::pg_catalog.regrole, r.relowner)
        LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn, other::pg_catalog.regrole);
        END LOOP;
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO graph_admin, %s',
                                  r.fn, r.relowner::pg_catalog.regrole);
    END LOOP;
END;
$$;
