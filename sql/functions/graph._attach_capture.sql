-- graph._attach_capture(tbl): give captured table tbl, and each of its
-- partitions and inheritance children at any depth, exactly graphsync's capture
-- triggers (graph._trigger_states() lists them), each statement trigger enabled
-- ALWAYS so it fires in every session_replication_role, each row trigger (for
-- logical replication's apply worker) enabled REPLICA: a trigger of graphsync's name that
-- calls another function (an impostor) is replaced, with a WARNING naming that
-- function; a trigger that calls tbl's capture function where none is expected
-- (another name, a table that left the tree) is dropped; a missing one is
-- created; a disabled one, or one enabled for origin or replica sessions only,
-- is enabled so -- all of a table's in one ALTER TABLE, so that the event
-- trigger graph._follow_ddl looks at one schema change per table, not four.
-- SECURITY INVOKER: the triggers are created, replaced and enabled by the caller
-- (graph._install_capture's caller, or the role whose DDL the event trigger
-- follows, who owns the table). Creating a trigger needs TRIGGER on the table;
-- dropping or enabling one needs its owner: a graph_admin member who is not has
-- triggers enabled through graph._enable_capture_trigger where that applies,
-- and otherwise gets a WARNING while health keeps reporting the trigger. EXECUTE
-- is PUBLIC's: it only ever attaches graphsync's own capture functions, which
-- capture nothing but registered tables and their members.
-- Touches: pg_trigger of tbl and its members. Reads pg_class of the members whose
-- triggers it repairs, each by its oid: its join to pg_class for their owners read
-- all of pg_class, unrelated tables too, in a plan made for a catalog of up to some
-- 1,400 relations (tests/test_operation_costs.py).
-- graph._attach_capture(tbls): the same for several captured tables at once, in
-- one pass over their triggers (graph.add_schema attaches every table it
-- registered so), read by one graph._trigger_states(tbls): of those tables only.
-- It read graph._trigger_states() of every captured table, so each add_schema
-- looked up the triggers of all registered tables and their partitions, however
-- few it added; then graph._trigger_states(tbl) of each table, whose fixed cost
-- (the replica-capture lookup, the impostor test) it paid once per table
-- (tests/test_operation_costs.py).
-- graph._attach_capture(tbls, only_members) is the same for the relations
-- only_members only (graph._trigger_states(tbls, only_members): those of the
-- tables' trees, and the triggers calling a capture function on them): the DDL
-- follower attaches so the partitions a DDL created or named, where checking every
-- member's triggers made each partition's creation beside 2,000 others cost some
-- 150 ms more. graph._attach_capture(tbls) is graph._attach_capture(tbls, NULL).
CREATE OR REPLACE FUNCTION graph._attach_capture(tbls oid[], only_members oid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn text;
    per_row boolean;
    t record;
    found_fn text;
    enabled boolean;
    -- triggers to enable ALWAYS, by member: one ALTER TABLE per member at the end
    -- (each ALTER TABLE is a schema change graph._follow_ddl looks at)
    to_enable regclass [] := '{}';
    enable_names text [] := '{}';
    member regclass;
    names text [];
BEGIN
    FOR t IN
        SELECT s.table_oid, s.member_oid, s.trigger_name, s.event, s.state, s.member_oid::regclass AS member,
               pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') AS owner
        -- (never NULL: a NULL array would ask of every captured table)
        FROM graph._trigger_states(ARRAY(SELECT u.tbl FROM unnest(tbls) AS u (tbl) WHERE u.tbl IS NOT NULL), only_members) AS s
        -- the owner of each member concerned, looked up by its oid (OFFSET 0: never a
        -- join that reads all of pg_class, as a plan for a small catalog did)
        JOIN LATERAL (
            SELECT k.relowner FROM pg_catalog.pg_class AS k WHERE k.oid = s.member_oid
            OFFSET 0
        ) AS c ON true
        WHERE s.state <> 'ok'
        ORDER BY s.table_oid, s.member_oid, s.trigger_name
    LOOP
        per_row := t.trigger_name LIKE 'graphsync\_replica\_capture\_%';
        fn := format('graph.%I', CASE WHEN per_row THEN '_capture_row_' ELSE '_capture_' END || t.table_oid);
        BEGIN
            IF t.state IN ('impostor', 'extra') THEN
                SELECT tg.tgfoid::regprocedure::text INTO found_fn FROM pg_catalog.pg_trigger AS tg
                WHERE tg.tgrelid = t.member_oid AND tg.tgname = t.trigger_name;
                IF t.state = 'impostor' THEN
                    RAISE WARNING 'graphsync: replacing trigger % on %: it calls %, not graphsync''s capture function %()',
                        quote_ident(t.trigger_name), t.member, found_fn, fn;
                END IF;
                EXECUTE format('DROP TRIGGER %I ON %s', t.trigger_name, t.member);
            END IF;
            IF t.state IN ('missing', 'impostor') THEN
                EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH %s EXECUTE FUNCTION %s()',
                               t.trigger_name, upper(t.event), t.member,
                               CASE WHEN per_row THEN ''
                                    WHEN t.event = 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                                    WHEN t.event = 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                                    WHEN t.event = 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
                                    ELSE ''
                               END, CASE WHEN per_row THEN 'ROW' ELSE 'STATEMENT' END, fn);
            END IF;
            IF t.state IN ('missing', 'impostor', 'disabled') THEN
                enabled := false;
                IF t.owner THEN
                    to_enable := to_enable || t.member;
                    enable_names := enable_names || t.trigger_name;
                    enabled := true;
                ELSIF t.member_oid = t.table_oid
                      AND pg_catalog.to_regprocedure('graph._enable_capture_trigger(oid,text,boolean)') IS NOT NULL THEN
                    EXECUTE 'SELECT graph._enable_capture_trigger($1, $2, true)' USING t.table_oid, t.trigger_name;
                    enabled := true;
                END IF;
                IF NOT enabled THEN
                    RAISE WARNING 'graphsync: trigger % on % is not enabled %: only the owner of % can enable it',
                        quote_ident(t.trigger_name), t.member, CASE WHEN per_row THEN 'REPLICA' ELSE 'ALWAYS' END,
                        t.member;
                END IF;
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'graphsync: could not repair trigger % on %: %', quote_ident(t.trigger_name), t.member,
                SQLERRM USING HINT = 'Run graph.reconcile() as the table''s owner or a superuser.';
        END;
    END LOOP;
    FOR member, names IN
        SELECT u.member, array_agg(u.name ORDER BY u.i)
        FROM unnest(to_enable, enable_names) WITH ORDINALITY AS u (member, name, i)
        GROUP BY u.member ORDER BY min(u.i)
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s ', member)
                || (SELECT string_agg(format('ENABLE %s TRIGGER %I',
                                             CASE WHEN n.name LIKE 'graphsync\_replica\_capture\_%' THEN 'REPLICA'
                                                  ELSE 'ALWAYS' END, n.name), ', ' ORDER BY n.i)
                    FROM unnest(names) WITH ORDINALITY AS n (name, i));
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'graphsync: could not enable triggers % on %: %', names, member,
                SQLERRM USING HINT = 'Run graph.reconcile() as the table''s owner or a superuser.';
        END;
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION graph._attach_capture(tbls oid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph._attach_capture(tbls, NULL);
END;
$$;

CREATE OR REPLACE FUNCTION graph._attach_capture(tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph._attach_capture(ARRAY[tbl], NULL);
END;
$$;

COMMENT ON FUNCTION graph._attach_capture(oid[], oid[]) IS
'Internal: graph._attach_capture(oid[]) of the members given only (all when NULL): the DDL follower''s, for the partitions a DDL named.';

COMMENT ON FUNCTION graph._attach_capture(oid[]) IS
'Internal: graph._attach_capture(oid) of several captured tables, in one pass over their triggers.';

COMMENT ON FUNCTION graph._attach_capture(oid) IS
'Internal: give a captured table and its partitions/children exactly graphsync''s capture triggers, enabled ALWAYS (impostors replaced, strays dropped), as the caller.';
