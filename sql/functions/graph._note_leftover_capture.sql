-- graph._note_leftover_capture(tbl, members): a NOTICE for each of members that is
-- no longer in captured table tbl's tree (not tbl, nor a partition or inheritance
-- child of it at any depth) and still has triggers calling tbl's capture functions,
-- naming the triggers and the member's owner, with the DROP TRIGGER statements as
-- the hint. graph._follow_ddl calls it after an ALTER TABLE that moved members
-- (DETACH PARTITION, NO INHERIT), once graph._attach_capture dropped what the DDL's
-- role may drop: the triggers of a member another role owns stay, since only that
-- owner may drop them. They log nothing there (a capture function logs nothing for a
-- table outside its table's tree), but each write to the former member still pays
-- the call and its transition tables. Health reports the triggers of the table's
-- tree only: one calling a capture function on a table outside it logs nothing,
-- whoever made it (a member's owner may attach one to a table of its own).
-- SECURITY INVOKER, PUBLIC's: it reads the catalog only (pg_class, pg_inherits and
-- pg_trigger, each by index, of members) and changes nothing; what it says any role
-- can read in the catalog.
CREATE OR REPLACE FUNCTION graph._note_leftover_capture(tbl oid, members oid[])
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fns oid [];
    member regclass;
    owner name;
    names text [];
BEGIN
    fns := ARRAY(
        SELECT p.oid FROM unnest(ARRAY['_capture_', '_capture_row_']) AS k (prefix)
        CROSS JOIN LATERAL (SELECT pg_catalog.to_regprocedure(format('graph.%I()', k.prefix || tbl)) AS oid) AS p
        WHERE p.oid IS NOT NULL
    );
    IF fns = '{}' OR members IS NULL THEN
        RETURN;
    END IF;
    FOR member, owner, names IN
        SELECT m.oid::regclass, pg_catalog.pg_get_userbyid(k.relowner), array_agg(t.tgname::text ORDER BY t.tgname)
        FROM (SELECT DISTINCT u.oid FROM unnest(members) AS u (oid) WHERE u.oid IS NOT NULL AND u.oid <> tbl) AS m
        CROSS JOIN LATERAL (SELECT k.relowner FROM pg_catalog.pg_class AS k WHERE k.oid = m.oid OFFSET 0) AS k
        CROSS JOIN LATERAL (SELECT t.tgname FROM pg_catalog.pg_trigger AS t
                            WHERE t.tgrelid = m.oid AND t.tgfoid = ANY (fns) OFFSET 0) AS t
        WHERE NOT EXISTS (
            WITH RECURSIVE up AS (
                SELECT m.oid AS rel
                UNION
                SELECT i.inhparent FROM up
                CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                    WHERE i.inhrelid = up.rel OFFSET 0) AS i
            )
            SELECT FROM up WHERE up.rel = tbl
        )
        GROUP BY m.oid, k.relowner
        ORDER BY m.oid
    LOOP
        RAISE NOTICE 'graphsync: % is no longer a partition or child of % and keeps its capture triggers %, which log nothing there: its owner % (or a superuser) may drop them',
            member, tbl::regclass, array_to_string(names, ', '), quote_ident(owner)
            USING HINT = format('As %I: %s', owner, (SELECT string_agg(format('DROP TRIGGER %I ON %s;', n, member), ' ')
                                                     FROM unnest(names) AS n));
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._note_leftover_capture(oid, oid[]) IS
'Internal: a NOTICE for each of the members that left the captured table''s tree and keep triggers calling its capture functions (another role''s table: its owner or a superuser may drop them).';
