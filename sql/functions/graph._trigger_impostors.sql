-- graph._trigger_impostors(triggers): of the triggers triggers (oids), those
-- that are not the trigger graphsync makes under their name: graphsync_capture_<event>
-- on a captured table, graphsync_capture_<event>_<table oid> on its partitions and
-- children, calling graph._capture_<table oid>, AFTER that one event FOR EACH
-- STATEMENT with the transition tables capture reads (old_rows for UPDATE and
-- DELETE, new_rows for INSERT and UPDATE); graphsync_replica_capture_<event>[_<table
-- oid>] calling graph._capture_row_<table oid>, AFTER that event FOR EACH ROW without
-- them; none with a WHEN clause or a column list, none internal. What each is
-- compared with is read from the trigger itself: the table from its name's oid or
-- its relation, the event and the level from its name. A name no capture trigger
-- bears is an impostor's. The one test of it: graph._trigger_states ('impostor')
-- and the DDL follower's CREATE TRIGGER path (graph._follow_ddl: a capture trigger
-- replaced in place is capture off, those capture generation creates are not).
-- A set at a time, one call per statement of theirs, not one per trigger: a
-- function's call costs what the test does many times over (every function pins
-- search_path, so none is inlined), and graph._trigger_states runs over every
-- capture trigger. Reads pg_trigger and pg_proc by oid (index lookups).
-- PL/pgSQL, and its plan generic: the DDL follower calls it at each CREATE
-- TRIGGER, four a partition as graphsync attaches capture, and planning its
-- statement cost each call some 0.2 ms against 0.04 for the rest (as a SQL
-- function, planned at every call; in PL/pgSQL the planner kept choosing a plan
-- for each call's oids, the generic one being estimated dearer: an index lookup
-- of each oid either way) (benchmarks/PARTITION_DDL.md).
CREATE OR REPLACE FUNCTION graph._trigger_impostors(triggers oid[])
RETURNS TABLE (trigger_oid oid, table_oid oid, trigger_name name)
LANGUAGE plpgsql
STABLE
ROWS 10
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off  -- each trigger by its oid, however many the generic plan expects
AS $$
BEGIN
    RETURN QUERY
    SELECT t.oid, t.tgrelid, t.tgname
    FROM pg_catalog.pg_trigger AS t
    CROSS JOIN LATERAL (
        -- its name: graphsync_[replica_]capture_<event>[_<table oid>] (string functions:
        -- a regular expression's match cost more than the rest of the test)
        SELECT n.per_row, n.rest, pg_catalog.split_part(n.rest, '_', 1) AS event,
               NULLIF(pg_catalog.split_part(n.rest, '_', 2), '') AS tbl
        FROM (SELECT t.tgname LIKE 'graphsync\_replica\_capture\_%' AS per_row,
                     CASE WHEN t.tgname LIKE 'graphsync\_replica\_capture\_%' THEN pg_catalog.substr(t.tgname, 27)
                          WHEN t.tgname LIKE 'graphsync\_capture\_%' THEN pg_catalog.substr(t.tgname, 19)
                     END AS rest) AS n
    ) AS s
    WHERE t.oid = ANY (triggers)
      AND (s.rest IS DISTINCT FROM s.event || coalesce('_' || s.tbl, '')
           -- the capture function of the table: a name that is not graph._capture_<oid> is none
           OR NOT EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                          WHERE p.oid = t.tgfoid AND p.pronamespace = 'graph'::pg_catalog.regnamespace
                            AND p.proname = CASE WHEN s.per_row THEN '_capture_row_' ELSE '_capture_' END
                                            || coalesce(s.tbl, t.tgrelid::text)
                            AND p.pronargs = 0)
           -- the event's bit, and bit 1 for a row trigger
           OR t.tgtype IS DISTINCT FROM
              CASE s.event WHEN 'insert' THEN 4 WHEN 'update' THEN 16 WHEN 'delete' THEN 8 WHEN 'truncate' THEN 32 END
              + CASE WHEN s.per_row THEN 1 ELSE 0 END
           OR t.tgoldtable IS DISTINCT FROM
              CASE WHEN NOT s.per_row AND s.event IN ('update', 'delete') THEN 'old_rows' END
           OR t.tgnewtable IS DISTINCT FROM
              CASE WHEN NOT s.per_row AND s.event IN ('insert', 'update') THEN 'new_rows' END
           OR t.tgqual IS NOT NULL OR pg_catalog.cardinality(t.tgattr::pg_catalog.int2 []) > 0
           OR t.tgisinternal);
END;
$$;

COMMENT ON FUNCTION graph._trigger_impostors(oid[]) IS
'Internal: of some triggers, those under a capture trigger''s name that are not graphsync''s (another function, event, level, transition tables, a WHEN clause or a column list).';
