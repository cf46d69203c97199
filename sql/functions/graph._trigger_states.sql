-- graph._trigger_states(): every capture trigger graphsync expects, and what
-- pg_trigger holds in its place, one row per trigger. A captured table (node or
-- join table) carries graphsync_capture_insert/update/delete/truncate; each of
-- its partitions and inheritance children, at any depth, carries
-- graphsync_capture_<event>_<table oid>; all call the table's capture function
-- graph._capture_<table oid> (AFTER ... FOR EACH STATEMENT, enabled ALWAYS).
-- Where replica capture is wanted (graph._replica_capture_wanted: a
-- subscription of this database applies to the table, or an admin turned it on
-- for all; read for every table at once, graph._replica_capture_applied), the table and each member that is a regular table (not a partitioned
-- one) also carry graphsync_replica_capture_insert/update/delete (members:
-- graphsync_replica_capture_<event>_<table oid>), which call the table's
-- row-level capture function graph._capture_row_<table oid> (AFTER ... FOR EACH
-- ROW, enabled REPLICA): logical replication's apply worker fires row triggers
-- only (graph._write_capture with per_row); where it is not wanted, a trigger
-- calling the row function is 'extra'. A trigger is recognised by its function
-- and shape, never by its name alone. state:
--   ok        graphsync's trigger, enabled as it must be: a statement trigger
--             ALWAYS (fires whatever session_replication_role says: replica-mode
--             writes and the initial copy of a subscription are captured too),
--             a row trigger REPLICA (fires in replica-role sessions only, so the
--             primary's writes never call it; it logs in an apply worker only)
--   disabled  graphsync's trigger, but disabled, or enabled otherwise (a
--             statement trigger for origin or replica sessions only, a row
--             trigger ALWAYS or for origin sessions)
--   missing   no trigger of that name
--   impostor  a trigger of that name that is not graphsync's: another function,
--             or not an AFTER trigger of that one event of the expected level
--             (statement, with the transition tables capture reads; row, with
--             none), or with a WHEN clause or a column list
--   extra     a trigger that calls a capture function under another name or on a
--             table that is not (any more) that table or one of its members:
--             it would capture a second time, or capture rows the table no
--             longer has; on a non-member only when that relation's owner has the
--             captured table's owner's rights (another role's trigger on its own
--             table captures nothing and is none of graphsync's to drop)
-- event is NULL for extra rows. SECURITY DEFINER, and PUBLIC's to run: the
-- owner of a registered table attaches capture to a new partition through it
-- (graph._attach_capture runs as that owner), and it shows nothing the
-- registry and pg_trigger do not. Reads: the registry, graph._sync_state (once),
-- pg_inherits, pg_trigger, pg_depend, pg_proc (graph._trigger_impostors, once:
-- the impostor test, the DDL follower's too), and the subscriptions' tables
-- (graph._replica_capture_applied, once).
-- graph._trigger_states(tbls) is the same for the captured tables tbls only (all
-- when the array is NULL; a NULL element, or a table that is not captured, adds
-- nothing): registration asks about the tables it registered, so registering many
-- tables stays linear, and graph._attach_capture asks once for all of them (the
-- replica-capture lookup, the impostor test and the statement once, not once per
-- table: tests/test_operation_costs.py). It shows no more than
-- graph._trigger_states(tbl) of each element shows, and PUBLIC may run both.
-- graph._trigger_states(tbl) is graph._trigger_states(ARRAY[tbl]) (all when NULL).
-- graph._trigger_states(tbls, only_members) is graph._trigger_states(tbls) of the
-- relations only_members only (all when NULL): their rows, of those that are a
-- table of tbls or in its tree, and the 'extra' triggers on them. The DDL
-- follower asks so of the members an ALTER TABLE names (graph._note_capture_off),
-- each looked up by its oid and walked up, so that what it reads does not grow
-- with the table's partitions: each member's ALTER TABLE of add_table walked the
-- whole tree, add_table of a table of 200 partitions took 3.2 s, 2.3 of them there.
-- graph._trigger_states(tbls) is graph._trigger_states(tbls, NULL).
-- Without JIT: its estimates are far above its real size, and compiling
-- took longer than running it. Without sequential scans: a tree's members are
-- looked up level by level by their oids, and once pg_inherits' statistics know
-- a table of many partitions (every partition of one parent), the planner
-- expects each lookup to find them all and scans the whole catalog for each
-- member instead: a whole tree of 200 partitions read 402 pg_inherits rows a
-- partition (20: 42), a health call or a partition detached beside 2,000 took
-- some 400 ms more (tests/test_operation_costs.py). No statement here needs to
-- read a whole table. Triggers are looked up by table and name, and
-- the ones calling a capture function (either) through pg_depend by that function
-- (pg_depend_reference_index), not by reading all of pg_trigger, nor every
-- trigger's dependencies (the dependent side's index, which a plan whose
-- statistics of pg_depend knew no trigger chose: tests/test_operation_costs.py).
CREATE OR REPLACE FUNCTION graph._trigger_states(tbls oid[], only_members oid[])
RETURNS TABLE (
    table_oid oid, table_name text, member_oid oid, trigger_name text, event text, state text
)
LANGUAGE plpgsql
STABLE
ROWS 50  -- a few capture triggers, not 1000: index lookups of the catalog, not hashes of it
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    -- graph._replica_capture_wanted of every captured table, read once for all
    -- (graph._replica_capture_applied), not a statement per captured table
    replica_all constant boolean := coalesce((SELECT s.replica_capture FROM graph._sync_state AS s), false);
    applied constant oid [] := CASE WHEN replica_all THEN '{}' ELSE graph._replica_capture_applied() END;
BEGIN
    RETURN QUERY
        WITH RECURSIVE captured AS (
            SELECT t.table_oid, t.table_name,
                   pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_' || t.table_oid)) AS fn,
                   pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_row_' || t.table_oid)) AS rfn,
                   replica_all OR t.table_oid = ANY (applied) AS replica
            FROM (
                SELECT a.table_oid, a.table_name, a.present FROM graph._captured_tables(NULL) AS a
                WHERE tbls IS NULL
                UNION ALL
                SELECT o.table_oid, o.table_name, o.present
                FROM (SELECT DISTINCT u.tbl FROM unnest(tbls) AS u (tbl) WHERE u.tbl IS NOT NULL) AS u
                CROSS JOIN LATERAL graph._captured_tables(u.tbl) AS o
            ) AS t
            WHERE t.present
        ),
        -- every member: the table and its tree, walked down
        tree AS (
            SELECT c.table_oid, c.table_oid AS member_oid FROM captured AS c WHERE only_members IS NULL
            UNION
            -- each level looked up by its oids (OFFSET 0): a join hashed all of
            -- pg_inherits, every partition of the database, other tables' too, at each
            -- level (tests/test_operation_costs.py)
            SELECT m.table_oid, i.inhrelid FROM tree AS m
            CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhparent = m.member_oid OFFSET 0) AS i
        ),
        -- or only the relations given that are the table or in its tree: each walked
        -- up by its oids (OFFSET 0), never the table's whole tree walked down (the DDL
        -- follower asks so of each member an ALTER TABLE names: add_table of a table
        -- of 200 partitions walked its tree 201 times, tests/test_operation_costs.py)
        up AS (
            SELECT g.rel, g.rel AS ancestor FROM unnest(only_members) AS g (rel) WHERE g.rel IS NOT NULL
            UNION
            SELECT u.rel, i.inhparent FROM up AS u
            CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhrelid = u.ancestor OFFSET 0) AS i
        ),
        members AS (
            SELECT t.table_oid, t.member_oid FROM tree AS t
            UNION ALL
            SELECT DISTINCT c.table_oid, u.rel FROM captured AS c JOIN up AS u ON u.ancestor = c.table_oid
        ),
        expected AS (
            SELECT c.table_oid, c.table_name, m.member_oid, ev.event, ev.enabled,
                   CASE WHEN ev.per_row THEN 'graphsync_replica_capture_' ELSE 'graphsync_capture_' END || ev.event
                   || CASE WHEN m.member_oid = c.table_oid THEN '' ELSE '_' || c.table_oid END AS tgname
            FROM captured AS c
            JOIN members AS m ON m.table_oid = c.table_oid
            CROSS JOIN (VALUES ('insert', false, 'A'), ('update', false, 'A'), ('delete', false, 'A'),
                               ('truncate', false, 'A'),
                               -- row-level, for logical replication's apply worker
                               ('insert', true, 'R'), ('update', true, 'R'), ('delete', true, 'R')
            ) AS ev (event, per_row, enabled)
            WHERE NOT ev.per_row
               OR (c.replica AND (SELECT r.relkind FROM pg_catalog.pg_class AS r WHERE r.oid = m.member_oid) = 'r')
        ),
        found AS (
            SELECT e.table_oid, e.table_name, e.member_oid, e.tgname, e.event, e.enabled, tg.oid, tg.tgenabled
            FROM expected AS e
            LEFT JOIN LATERAL (
                SELECT t.oid, t.tgenabled FROM pg_catalog.pg_trigger AS t
                WHERE t.tgrelid = e.member_oid AND t.tgname = e.tgname
                OFFSET 0  -- an index lookup per expected trigger, never a hash of all of pg_trigger
            ) AS tg ON true
        )
        SELECT f.table_oid, f.table_name, f.member_oid, f.tgname, f.event,
               CASE
                   WHEN f.oid IS NULL THEN 'missing'
                   -- (another function, event, level or transition tables than its name and
                   -- table give, a WHEN clause or a column list)
                   WHEN f.oid IN (SELECT i.trigger_oid FROM graph._trigger_impostors(ARRAY(
                                      SELECT p.oid FROM found AS p WHERE p.oid IS NOT NULL)) AS i) THEN 'impostor'
                   WHEN f.tgenabled::text <> f.enabled THEN 'disabled'
                   ELSE 'ok'
               END
        FROM found AS f
        UNION ALL
        -- the triggers that call a capture function and are none of those expected
        SELECT x.table_oid, x.table_name, x.tgrelid, x.tgname, NULL, 'extra'
        FROM (
            SELECT c.table_oid, c.table_name, tg.tgrelid, tg.tgname
            FROM captured AS c
            CROSS JOIN LATERAL (VALUES (c.fn), (c.rfn)) AS f (fn)
            JOIN LATERAL (
                -- the function's dependents, looked up by the function, and each trigger
                -- of them by its oid (OFFSET 0: the dependent's class is tested on what the
                -- lookup found, so that no plan looks up every trigger's dependencies by
                -- the dependent side's index instead, nor hashes all of pg_trigger)
                SELECT t.tgrelid, t.tgname
                FROM (SELECT x.classid, x.objid FROM pg_catalog.pg_depend AS x
                      WHERE x.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND x.refobjid = f.fn
                      OFFSET 0) AS d
                CROSS JOIN LATERAL (SELECT t.tgrelid, t.tgname FROM pg_catalog.pg_trigger AS t
                                    WHERE t.oid = d.objid AND t.tgfoid = f.fn
                                    OFFSET 0) AS t
                WHERE only_members IS NULL AND d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass
                UNION ALL
                -- of the relations given only: their triggers, looked up by relation
                SELECT t.tgrelid, t.tgname
                FROM (SELECT DISTINCT g.rel FROM unnest(only_members) AS g (rel)) AS g
                CROSS JOIN LATERAL (SELECT t.tgrelid, t.tgname FROM pg_catalog.pg_trigger AS t
                                    WHERE t.tgrelid = g.rel AND t.tgfoid = f.fn
                                    OFFSET 0) AS t
                WHERE only_members IS NOT NULL
            ) AS tg ON true
            WHERE NOT EXISTS (SELECT FROM expected AS e
                              WHERE e.table_oid = c.table_oid AND e.member_oid = tg.tgrelid AND e.tgname = tg.tgname)
            -- (OFFSET 0: the test below of the few left, not of every trigger calling the
            -- function before they are matched with those expected: planned first, it
            -- scanned the members once per trigger, a table of 2,000 partitions' 8,000
            -- triggers some 8,000,000 rows at each partition's creation, 1 s)
            OFFSET 0
        ) AS x
        -- on a member, or on a relation whose owner has the rights of the captured
        -- table's owner (a detached former member): another role's trigger calling a
        -- capture function on a table of its own (a member's owner may make one, and
        -- one made while EXECUTE was PUBLIC's may remain; it logs nothing there) is no
        -- drift of this one (tests/test_abuse_capture_toggle.py)
        WHERE EXISTS (SELECT FROM members AS m WHERE m.table_oid = x.table_oid AND m.member_oid = x.tgrelid)
           OR pg_catalog.pg_has_role(
               (SELECT k.relowner FROM pg_catalog.pg_class AS k WHERE k.oid = x.tgrelid),
               (SELECT k.relowner FROM pg_catalog.pg_class AS k WHERE k.oid = x.table_oid), 'USAGE');
END;
$$;

CREATE OR REPLACE FUNCTION graph._trigger_states(tbls oid[])
RETURNS TABLE (
    table_oid oid, table_name text, member_oid oid, trigger_name text, event text, state text
)
LANGUAGE sql
STABLE
ROWS 50  -- a few capture triggers, not 1000: index lookups of the catalog, not hashes of it
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._trigger_states(tbls, NULL)
$$;

CREATE OR REPLACE FUNCTION graph._trigger_states(tbl oid)
RETURNS TABLE (
    table_oid oid, table_name text, member_oid oid, trigger_name text, event text, state text
)
LANGUAGE sql
STABLE
ROWS 50  -- a few capture triggers, not 1000: index lookups of the catalog, not hashes of it
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._trigger_states(CASE WHEN tbl IS NOT NULL THEN ARRAY[tbl] END, NULL)
$$;

CREATE OR REPLACE FUNCTION graph._trigger_states()
RETURNS TABLE (
    table_oid oid, table_name text, member_oid oid, trigger_name text, event text, state text
)
LANGUAGE sql
STABLE
ROWS 50  -- a few capture triggers, not 1000: index lookups of the catalog, not hashes of it
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._trigger_states(NULL, NULL)
$$;

COMMENT ON FUNCTION graph._trigger_states(oid[], oid[]) IS
'Internal: the capture triggers graph._trigger_states() lists, of some captured tables (all when NULL), on the members given only (all when NULL).';

COMMENT ON FUNCTION graph._trigger_states(oid[]) IS
'Internal: the capture triggers graph._trigger_states() lists, of some captured tables (all when NULL).';

COMMENT ON FUNCTION graph._trigger_states(oid) IS
'Internal: the capture triggers graph._trigger_states() lists, of one captured table (all when NULL).';

COMMENT ON FUNCTION graph._trigger_states() IS
'Internal: every capture trigger graphsync expects on captured tables and their partitions/children, with its state (ok, disabled, missing, impostor, extra), recognised by function.';
