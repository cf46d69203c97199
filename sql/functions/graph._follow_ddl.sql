-- graph._follow_ddl(): the event trigger function that keeps capture in step
-- with the application's schema, so that no DDL on a registered table makes
-- the application's writes fail. Installed here as two event triggers,
-- graphsync_follow_ddl (ddl_command_end) and graphsync_follow_drop (sql_drop),
-- both enabled ALWAYS (they fire under session_replication_role = replica too);
-- install.py creates them (event triggers need a superuser), DROP SCHEMA graph
-- drops them with this function.
-- It takes the tables the command created, altered or dropped (a renamed schema
-- stands for its tables), keeps those a registered table is concerned by
-- (graph._followed_tables: itself, a partition or child of it, a recorded
-- member), has graph._follow_registry bring the registry and the capture
-- functions in step (SECURITY DEFINER: the registry is not the DDL role's to
-- write), then attaches the capture triggers itself (graph._attach_capture),
-- SECURITY INVOKER: as the role whose DDL fired it, normally the table's owner,
-- so graphsync's definer roles need no right on anyone's tables.
-- After an ALTER TABLE (an owner change among them, of a registered table or of
-- a partition or child of one), EXECUTE on the capture functions of the tables it
-- named, or of the captured tables they are members of, is given to the owners of
-- those tables and their members now (graph._grant_capture); so it is for each table whose capture it attaches,
-- before attaching, and after DROP OWNED for every captured table: REASSIGN
-- OWNED BY changes owners without firing any event trigger.
-- A change that leaves one of a registered table's statement capture triggers
-- off (ALTER TABLE ... DISABLE TRIGGER, DROP TRIGGER) is recorded for a rebuild
-- first (graph._note_capture_off, capture_off): the writes until the trigger is
-- on again are not in the log, and health sees the trigger only while it is off.
-- It never makes the DDL fail -- any error but a cancel becomes a WARNING, and
-- what it left undone shows in sync_health() (a 'follow_failed' record, a
-- missing or disabled trigger) for graph.reconcile() -- but for a change of
-- another role's registered table it could not follow (55000: the DDL's session
-- neither owns it nor is a graph_admin member, ops/follow.py _not_followed), and
-- three it refuses:
-- a function, procedure or aggregate in schema graph that a role other than a
-- superuser creates or alters (42501), the capture functions graph_sync
-- generates aside (below); and (55000) a rule ON SELECT that makes a registered table, or a
-- partition, child or member of one, a view (PostgreSQL 15 converts an empty
-- table without triggers or indexes that way, keeping its oid and so its
-- registration). A view's query runs its functions as whoever reads it: its
-- owner's code would run in graph.build(), verify or maintenance (an admin, a
-- superuser's pg_cron job) and in a superuser's read. graph._source_name refuses
-- to read a table that became a view with this trigger disabled. And (55000)
-- an ALTER TYPE that relabelled an enum a registered table renders in captured
-- text (graph._refuse_enum_relabel).
-- Without JIT, for everything it runs (the functions it calls, the follower's
-- Python): right after thousands of partitions are made, until autovacuum
-- analyzes the catalogs, its catalog statements are estimated far above their
-- size, past jit_above_cost, and each partition's creation, attach or detach
-- JIT-compiled dozens of them, some 150-350 ms more, beside 10 partitions as
-- beside 2,000 (tests/test_operation_costs.py).
-- It reads no setting: nothing a session sets can make it skip a change (a
-- marker a session could set would let a table owner leave capture behind its
-- schema). graphsync's own DDL fires it too -- graph._attach_capture enabling a
-- table's triggers is an ALTER TABLE -- and stops at graph._followed_tables,
-- which keeps only tables out of step with the catalog (the registry is in step
-- once capture is installed), before any Python; that is derived from the
-- catalog alone, so the owner's DDL that changes what capture depends on is
-- followed whatever command it comes with. DDL that a
-- superuser's SECURITY DEFINER function runs for another session user
-- (graph._enable_capture_trigger's ALTER TABLE) has the registry followed, but
-- no trigger attached with that superuser's rights: health reports what is left.
CREATE OR REPLACE FUNCTION graph._follow_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    relations oid [];
    tables oid [];
    tbl oid;
    e_message text;
    e_hint text;
    views text;
    routines text;
    replaced oid [] := '{}';
    by_members oid [] := '{}';
    followed jsonb;  -- {table: the members whose triggers to check, or null for every member's}
    only_members oid [];
BEGIN
    IF TG_EVENT = 'ddl_command_end' AND TG_TAG = 'CREATE RULE' THEN
        -- The registered tables a rule ON SELECT made views: out of step with the
        -- catalog (graph._followed_tables, SECURITY DEFINER: the registry is not
        -- the DDL role's to read), as a table that is no longer one is.
        SELECT string_agg(f.t::regclass::text, ', ') INTO views
        FROM graph._followed_tables(ARRAY(
            SELECT r.ev_class
            FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
            JOIN pg_catalog.pg_rewrite AS r ON r.oid = c.objid
            WHERE c.classid = 'pg_catalog.pg_rewrite'::regclass AND r.ev_type = '1'
        )) AS f (t)
        JOIN pg_catalog.pg_class AS k ON k.oid = f.t
        WHERE k.relkind = 'v';
        IF views IS NOT NULL THEN
            RAISE EXCEPTION '% is registered with graphsync and cannot become a view', views
                USING ERRCODE = '55000',
                      HINT = 'Remove it from the graph first (graph.remove_table, or graph.remove_edge for a join table).';
        END IF;
    END IF;
    -- An enum relabelled (ALTER TYPE ... RENAME VALUE) that a registered table
    -- renders in captured text: refused (graph._refuse_enum_relabel).
    IF TG_EVENT = 'ddl_command_end' AND TG_TAG = 'ALTER TYPE' THEN
        PERFORM graph._refuse_enum_relabel(ARRAY(
            SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
            WHERE c.classid = 'pg_catalog.pg_type'::pg_catalog.regclass));
    END IF;
    -- A function, procedure or aggregate in schema graph is a superuser's (the
    -- install's), but for the capture functions graph_sync generates
    -- (graph._write_capture) and hands to graph_capture. graph_sync holds CREATE on
    -- the schema, with grant option, and owns definers a superuser calls: SQL run
    -- as it planted an overload graph.add_table(text), which a superuser's
    -- graph.add_table('app.t') called as that superuser, or made graph.status() an
    -- invoker (tests/test_abuse_capture_names.py).
    IF TG_EVENT = 'ddl_command_end' AND TG_TAG ~ '^(CREATE|ALTER) (FUNCTION|PROCEDURE|AGGREGATE|ROUTINE)$'
       AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user), false) THEN
        SELECT string_agg(c.objid::pg_catalog.regprocedure::text, ', ') INTO routines
        FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
        JOIN pg_catalog.pg_proc AS p ON p.oid = c.objid
        WHERE c.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND p.pronamespace = 'graph'::pg_catalog.regnamespace
          AND NOT (current_user IN ('graph_sync', 'graph_capture')
                   AND p.proname ~ '^_capture_(row_)?[0-9]+$' AND p.pronargs = 0
                   AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype
                   AND p.prosecdef  -- an invoker would run as whoever writes the table
                   AND pg_catalog.pg_get_userbyid(p.proowner) IN ('graph_sync', 'graph_capture'));
        IF routines IS NOT NULL THEN
            RAISE EXCEPTION 'permission denied: % may not create or alter % in schema graph', current_user, routines
                USING ERRCODE = '42501',
                      HINT = 'graphsync''s functions change only by installing it.';
        END IF;
    END IF;
    -- A schema renamed (or altered) that holds a registered table: the table is
    -- locked ACCESS EXCLUSIVE, as renaming it would lock it, by the DDL's role, and
    -- not caught below: a role that cannot lock it (neither its owner nor one that
    -- may write it) or whose wait times out cannot commit the rename. A superuser's
    -- or admin's read locks a source (graph._lock_sources), checks it by oid
    -- (graph._source_name) and reads it by the name that returns; renaming a
    -- schema takes no lock on its tables, and the owner of two schemas who swapped
    -- their names in between had the read plan its other table, whose index
    -- predicate ran its function as the reader (tests/test_abuse_review44.py). Now
    -- the rename waits for the read's lock. (On a hot standby, replaying this lock
    -- waits for the reads there, or cancels them, before the rename shows.)
    IF TG_EVENT = 'ddl_command_end' AND TG_TAG = 'ALTER SCHEMA' THEN
        -- (every registered table there, in step or not: a rename back to the name
        -- a registry that could not follow still holds is one too)
        FOR tbl IN
            SELECT k.oid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
            JOIN pg_catalog.pg_class AS k ON k.relnamespace = c.objid AND k.relkind IN ('r', 'p')
            WHERE c.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND c.command_tag = 'ALTER SCHEMA'
              AND (EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = k.oid)
                   OR EXISTS (SELECT FROM graph._edge_sources AS e WHERE k.oid IN (e.from_table, e.via_table)))
            ORDER BY k.oid
        LOOP
            IF NOT coalesce(graph._lock_by_oid(tbl, 'ACCESS EXCLUSIVE', false), false) THEN
                RAISE EXCEPTION 'graphsync could not lock %, renamed meanwhile', tbl USING ERRCODE = '55000';
            END IF;
        END LOOP;
    END IF;
    -- Commands that never change a table's columns, name or members: nothing to
    -- look up (capture generation runs these for every table it captures).
    -- But a trigger under a capture trigger's name that captures otherwise than
    -- graphsync's (CREATE OR REPLACE TRIGGER with another function, event, WHEN or
    -- column list: graph._trigger_impostors, graph._trigger_states' own
    -- test): graphsync's trigger was replaced in place, capture is off
    -- (graph._note_capture_off below). Those capture generation creates are not.
    IF TG_EVENT = 'ddl_command_end' AND TG_TAG = 'CREATE TRIGGER' THEN
        replaced := ARRAY(
            SELECT i.table_oid FROM graph._trigger_impostors(ARRAY(
                SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                WHERE c.classid = 'pg_catalog.pg_trigger'::regclass)) AS i
            WHERE i.trigger_name LIKE 'graphsync\_capture\_%');
    END IF;
    IF TG_EVENT = 'ddl_command_end' AND replaced = '{}'
       AND TG_TAG IN ('CREATE FUNCTION', 'ALTER FUNCTION', 'CREATE TRIGGER', 'GRANT', 'REVOKE', 'COMMENT') THEN
        RETURN;
    END IF;
    BEGIN
        -- A capture trigger switched off (disabled, or dropped): recorded for a
        -- rebuild, as the writes until it is on again go uncaptured
        -- (graph._note_capture_off).
        IF TG_EVENT = 'sql_drop' THEN
            PERFORM graph._note_capture_off(ARRAY(
                SELECT k.oid FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
                JOIN pg_catalog.pg_namespace AS n ON n.nspname = d.address_names[1]
                JOIN pg_catalog.pg_class AS k ON k.relnamespace = n.oid AND k.relname = d.address_names[2]
                -- any trigger's name: graphsync's own may have been renamed first
                WHERE d.object_type = 'trigger'), true);
        ELSIF TG_TAG = 'CREATE TRIGGER' THEN
            PERFORM graph._note_capture_off(replaced, false);
        ELSIF TG_TAG = 'ALTER TRIGGER' THEN
            -- graphsync's trigger renamed away: missing by its name, and under
            -- another it may be replaced in place unseen (CREATE OR REPLACE TRIGGER)
            PERFORM graph._note_capture_off(ARRAY(
                SELECT g.tgrelid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                JOIN pg_catalog.pg_trigger AS g ON g.oid = c.objid
                WHERE c.classid = 'pg_catalog.pg_trigger'::regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                              WHERE p.oid = g.tgfoid AND p.pronamespace = 'graph'::regnamespace
                                AND p.proname ~ '^_capture_[0-9]+$')), true);
        ELSIF TG_TAG = 'ALTER TABLE' THEN
            relations := ARRAY(
                SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                WHERE c.classid = 'pg_catalog.pg_class'::regclass AND c.object_type = 'table');
            -- What an ALTER TABLE can do to a capture trigger is switch it off (DISABLE,
            -- ENABLE REPLICA): graph._note_capture_off is asked only when a trigger of the
            -- relations under a capture trigger's name, or calling a capture function,
            -- is not enabled ALWAYS. Its trigger-state check at each partition's ALTER
            -- TABLE of graphsync's own (add_table enables each one's triggers so) was a
            -- third of what the follower cost it (tests/test_operation_costs.py).
            IF EXISTS (SELECT FROM pg_catalog.pg_trigger AS g
                       WHERE g.tgrelid = ANY (relations) AND g.tgenabled <> 'A'
                         AND (g.tgname LIKE 'graphsync\_capture\_%'
                              OR EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                                         WHERE p.oid = g.tgfoid AND p.pronamespace = 'graph'::regnamespace
                                           AND p.proname ~ '^_capture_[0-9]+$'))) THEN
                PERFORM graph._note_capture_off(relations, false);
            END IF;
            -- EXECUTE on a capture function follows the owners of its table and of
            -- the table's members (ALTER TABLE ... OWNER TO of either; a partition
            -- attached or detached): graph._grant_capture, a no-op when in step.
            PERFORM graph._grant_capture(relations);
            relations := NULL;
        ELSIF TG_EVENT = 'ddl_command_end' AND TG_TAG = 'DROP OWNED' THEN
            -- DROP OWNED BY revokes the role's EXECUTE on capture functions, but
            -- REASSIGN OWNED BY before it (the usual way to retire a role) fired no
            -- event trigger (PostgreSQL runs none for it), so the tables' new owner
            -- holds none yet: every captured table's grants brought in step with
            -- its owner now (graph._grant_capture, a no-op for those in step). The
            -- registry's tables only, read from the registry: no catalog scan.
            PERFORM graph._grant_capture(ARRAY(
                SELECT n.table_oid FROM graph._node_tables AS n
                UNION
                SELECT e.via_table FROM graph._edge_sources AS e WHERE e.via_table IS NOT NULL));
            RETURN;
        END IF;
        IF TG_EVENT = 'sql_drop' THEN
            SELECT array_agg(DISTINCT d.objid) INTO relations
            FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.object_type IN ('table', 'table column');
        ELSE
            SELECT array_agg(DISTINCT x.rel) INTO relations FROM (
                SELECT c.objid AS rel FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                WHERE c.classid = 'pg_catalog.pg_class'::regclass AND c.object_type IN ('table', 'table column')
                UNION ALL
                SELECT k.oid FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                JOIN pg_catalog.pg_class AS k ON k.relnamespace = c.objid
                WHERE c.classid = 'pg_catalog.pg_namespace'::regclass AND c.command_tag = 'ALTER SCHEMA'
            ) AS x;
        END IF;
        IF relations IS NULL THEN
            RETURN;
        END IF;
        tables := ARRAY(SELECT graph._followed_tables(relations));
        IF tables = '{}' THEN
            RETURN;
        END IF;
        -- (the relations named, from which it derives the tables again: a table the
        -- DDL concerns through members only has those compared, not its whole tree)
        SELECT jsonb_object_agg(f.table_oid::text, f.only_members) INTO followed
        FROM graph._follow_registry(relations) AS f;
        tables := ARRAY(SELECT k::oid FROM jsonb_object_keys(coalesce(followed, '{}')) AS k ORDER BY 1);
        -- The tables the DDL concerns through members of their trees only (a partition
        -- created, a child's INHERIT: graph._named_members_only), that hold a member
        -- it named now; graph._followed_tables compared the members it named only.
        -- Their grants are brought in step for those members (and their own
        -- partitions), not for every member (below); a member dropped or detached
        -- has the whole tree's owners walked, so that its owner's EXECUTE goes.
        by_members := ARRAY(
            WITH RECURSIVE up AS (
                SELECT r.oid FROM unnest(relations) AS r (oid) WHERE r.oid IS NOT NULL
                UNION
                SELECT i.inhparent FROM up
                CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                    WHERE i.inhrelid = up.oid OFFSET 0) AS i
            )
            SELECT t.t FROM unnest(tables) AS t (t)
            WHERE graph._named_members_only(t.t, relations) AND t.t IN (SELECT up.oid FROM up));
        -- The owner of each table to attach capture for holds EXECUTE on its
        -- capture functions before the attach (CREATE TRIGGER needs it): an owner
        -- change that fired no event trigger (REASSIGN OWNED BY) left it with the
        -- former owner, and the new owner's partition or child was created with a
        -- WARNING per capture trigger, health showing them missing. A no-op when
        -- in step (tests/test_abuse_capture_execute.py). For tables concerned by
        -- members only, asked of those members: graph._grant_capture walks the whole
        -- tree then only where the grants are not exactly graph_admin's and the
        -- table's owner's, as after such an owner change.
        PERFORM graph._grant_capture(ARRAY(SELECT t.t FROM unnest(tables) AS t (t) WHERE t.t <> ALL (by_members))
                                     || CASE WHEN by_members <> '{}' THEN relations ELSE '{}' END);
    EXCEPTION WHEN query_canceled THEN
        -- A cancel or timeout stops the DDL, with PostgreSQL's message (not
        -- PL/Python's "spiexceptions.QueryCanceled: " before it).
        GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT;
        RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = graph._error_message(e_message);
    WHEN object_not_in_prerequisite_state THEN
        -- A table the DDL's session may not have followed, which could not be
        -- (ops/follow.py _not_followed: the one error graph._follow_registry raises
        -- but a cancel): the DDL fails, rather than switch another role's capture
        -- off or leave it reading what the DDL changed.
        GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_hint = PG_EXCEPTION_HINT;
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = graph._error_message(e_message), HINT = e_hint;
    WHEN OTHERS THEN
        RAISE WARNING 'graphsync could not follow this schema change: %', SQLERRM
            USING HINT = 'Run graph.reconcile(); graph.sync_health() shows what capture misses until then.';
        RETURN;
    END;
    IF current_user <> session_user
       AND (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        -- A superuser's SECURITY DEFINER code (graph._enable_capture_trigger) ran
        -- this DDL for another session user: attach nothing with its rights.
        RETURN;
    END IF;
    FOREACH tbl IN ARRAY tables LOOP
        BEGIN
            -- Where graph._follow_registry names members (those that joined or left the
            -- table's tree: a partition created, attached, detached or dropped, a
            -- child's INHERIT or NO INHERIT): the triggers of those members and of their
            -- own partitions, not of every member (graph._attach_capture(tbls,
            -- only_members)): checking all made each partition's creation beside 2,000
            -- others cost some 150 ms more, and a detach some 75 ms. Health shows, and
            -- reconcile repairs, any other member's.
            only_members := CASE WHEN jsonb_typeof(followed -> tbl::text) = 'array' THEN ARRAY(
                SELECT x::oid FROM jsonb_array_elements_text(followed -> tbl::text) AS x) END;
            IF only_members IS NOT NULL THEN
                only_members := ARRAY(
                    WITH RECURSIVE down AS (
                        SELECT r.oid FROM unnest(only_members) AS r (oid) WHERE r.oid IS NOT NULL
                        UNION
                        SELECT i.inhrelid FROM down
                        CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                            WHERE i.inhparent = down.oid OFFSET 0) AS i
                    )
                    SELECT down.oid FROM down);
                PERFORM graph._attach_capture(ARRAY[tbl], only_members);
                IF TG_TAG = 'ALTER TABLE' THEN
                    -- A member that left the tree (DETACH PARTITION, NO INHERIT) keeps
                    -- the capture triggers its owner's rights alone may drop: graph._attach_capture
                    -- dropped those of a member of the table owner's; another role's keep
                    -- firing, logging nothing (a capture function logs nothing for a
                    -- table outside its table's tree) but costing each of its writes the
                    -- call and its transition tables. Said here: health reports the
                    -- triggers of the table's tree only.
                    PERFORM graph._note_leftover_capture(tbl, only_members);
                END IF;
            ELSE
                PERFORM graph._attach_capture(tbl);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'graphsync could not attach capture to %: %', tbl::regclass, SQLERRM
                USING HINT = 'Run graph.reconcile() as the table''s owner; graph.sync_health() shows the triggers missing.';
        END;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._follow_ddl() IS
'Internal: event trigger function keeping capture in step with DDL on registered tables (renames followed, drops unregistered, partitions captured); fails no DDL but a rule making a registered table a view, a non-superuser''s function in schema graph other than a capture function, and a relabel of an enum a registered table renders.';

DO $$
DECLARE
    ev text;
    name text;
BEGIN
    FOR name, ev IN VALUES ('graphsync_follow_ddl', 'ddl_command_end'), ('graphsync_follow_drop', 'sql_drop') LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = name) THEN
            EXECUTE format('CREATE EVENT TRIGGER %I ON %s EXECUTE FUNCTION graph._follow_ddl()', name, ev);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = name AND e.evtenabled = 'A') THEN
            EXECUTE format('ALTER EVENT TRIGGER %I ENABLE ALWAYS', name);
        END IF;
    END LOOP;
END;
$$;
