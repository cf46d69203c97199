-- graph._note_capture_off(relations, dropped): record, for each captured table
-- that relations are (or are partitions or inheritance children of, at any
-- depth), that a schema change switched one of its statement capture triggers
-- on relations off: a graph._schema_events row of kind 'capture_off' (repair
-- 'rebuild'; one open row per table). A write made while the trigger was off was
-- not captured, and enabling the trigger again (ALTER TABLE ... ENABLE ALWAYS
-- TRIGGER, or CREATE TRIGGER under its name) left nothing for sync_health() to
-- see: a table's owner who disabled graphsync's trigger, wrote, and enabled it
-- again, in one transaction or not, had the graph lack the write while health
-- said there was nothing to do (tests/test_abuse_capture_toggle.py). The row
-- keeps the table out of step until a build whose read sees the change.
-- A trigger counts when it is off now: disabled or enabled otherwise than ALWAYS
-- (graph._trigger_states 'disabled'), replaced in place by one that captures
-- otherwise ('impostor': CREATE OR REPLACE TRIGGER; or any trigger calling the table's capture
-- function, so that one renamed first, ALTER TRIGGER ... RENAME, and disabled
-- under its new name counts too), or, with dropped (the sql_drop event of a
-- DROP TRIGGER, of any name, or an ALTER TRIGGER ... RENAME of graphsync's own, after
-- which a CREATE OR REPLACE TRIGGER under the new name replaced it unseen), gone ('missing'); only triggers on relations themselves, so a
-- partition being attached or created, whose triggers graph._follow_ddl attaches
-- next, counts for nothing. Replica capture's row triggers do not count (off,
-- they capture nothing a statement trigger misses).
-- The event trigger graph._follow_ddl calls it as the DDL's role: SECURITY
-- DEFINER (graph._schema_events is not the DDL role's to write), PUBLIC's to
-- run, and what it records is derived from the catalog alone, so a direct call
-- records nothing but what is true. Reads: pg_inherits (by index), the registry,
-- graph._trigger_states. Writes: graph._schema_events.
CREATE OR REPLACE FUNCTION graph._note_capture_off(relations oid[], dropped boolean)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t oid;
    off text;
BEGIN
    FOR t IN
        WITH RECURSIVE up AS (
            SELECT r.oid AS rel FROM unnest(relations) AS r (oid) WHERE r.oid IS NOT NULL
            UNION
            -- each level looked up by its oids (OFFSET 0): a join planned as a hash of all
            -- of pg_inherits read every partition of the database, other tables' too, at
            -- each level, at every ALTER TABLE of a partition (tests/test_operation_costs.py)
            SELECT i.inhparent FROM up
            CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhrelid = up.rel OFFSET 0) AS i
        )
        SELECT up.rel FROM up
        -- (OFFSET 0: an index probe per relation, never a hash of the whole registry,
        -- which every ALTER TABLE of a registration ran: tests/test_operation_costs.py)
        WHERE EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = up.rel OFFSET 0)
           OR EXISTS (SELECT FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = up.rel
                      OFFSET 0)
        ORDER BY up.rel
    LOOP
        SELECT string_agg(pg_catalog.format('%s on %s', s.trigger_name, s.member_oid::pg_catalog.regclass), ', '
                          ORDER BY s.member_oid, s.trigger_name)
        INTO off
        FROM (
            SELECT s.trigger_name, s.member_oid
            -- (relations' rows only: not the table's whole tree, at every ALTER TABLE of
            -- each of its partitions; tests/test_operation_costs.py)
            FROM graph._trigger_states(ARRAY[t], relations) AS s
            WHERE s.member_oid = ANY (relations)
              AND s.trigger_name LIKE 'graphsync\_capture\_%'
              AND (s.state IN ('disabled', 'impostor') OR (dropped AND s.state = 'missing'))
            UNION
            -- graphsync's trigger under another name (ALTER TRIGGER ... RENAME), off:
            -- on t or a partition or child of it only (a capture function is EXECUTE
            -- to PUBLIC: another role's trigger on a table of its own that calls t's,
            -- disabled, is no capture of t switched off; tests/test_abuse_capture_toggle.py)
            SELECT g.tgname::text, g.tgrelid
            FROM pg_catalog.pg_trigger AS g
            WHERE g.tgrelid = ANY (relations) AND g.tgenabled OPERATOR(pg_catalog.<>) 'A'
              AND g.tgfoid = pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', '_capture_' || t))
              AND (g.tgrelid = t OR EXISTS (
                  WITH RECURSIVE a AS (
                      SELECT i.inhparent AS rel FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = g.tgrelid
                      UNION
                      SELECT i.inhparent FROM a
                      CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                          WHERE i.inhrelid = a.rel OFFSET 0) AS i
                  )
                  SELECT FROM a WHERE a.rel = t
              ))
        ) AS s;
        IF off IS NOT NULL AND NOT EXISTS (
            SELECT FROM graph._schema_events AS e
            WHERE e.table_oid = t AND e.kind = 'capture_off' AND e.resolved_at IS NULL
        ) THEN
            INSERT INTO graph._schema_events (table_oid, table_name, kind, detail, repair)
            VALUES (t, t::pg_catalog.regclass::text, 'capture_off',
                    pg_catalog.format('capture was switched off (%s): writes made meanwhile are in the graph'
                                      ' only after a rebuild', off),
                    'rebuild');
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._note_capture_off(oid[], boolean) IS
'Internal: record (a capture_off schema event, for a rebuild) that a schema change disabled or dropped a capture trigger of a registered table, whose writes meanwhile went uncaptured; derived from the catalog.';
