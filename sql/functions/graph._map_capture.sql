-- graph._map_capture(tbl): record, from the catalog, what the capture of tbl
-- was generated for: the attribute number and type of each registered column
-- (graph._column_map), and tbl itself under the name its capture logs with the
-- partitions and inheritance children at any depth that carry its triggers
-- (graph._capture_members). Clears both when tbl is no longer captured. graph._install_capture and the schema-change follower call
-- it each time they regenerate capture. Touches: graph._column_map,
-- graph._capture_members: tbl's rows only, by index (graph._capture_members by
-- table_oid, migration 430), however few rows the statistics say there are.
-- graph._map_capture(tbl, only_members) records the members of the relations given
-- only (all when NULL): those in tbl's tree now, with their own partitions and
-- children, and the rows recorded of those; the DDL follower's, for a partition
-- created (ops/follow.py NAMED_MEMBERS), so that recording it does not walk the
-- whole tree (tests/test_operation_costs.py). graph._map_capture(tbl) is
-- graph._map_capture(tbl, NULL).
CREATE OR REPLACE FUNCTION graph._map_capture(tbl oid, only_members oid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
AS $$
DECLARE
    member_oids oid [];
    member_names text [];
BEGIN
    DELETE FROM graph._column_map AS m WHERE m.table_oid = tbl;
    INSERT INTO graph._column_map (table_oid, attnum, column_name, type_name)
    SELECT tbl, a.attnum, r.column_name, pg_catalog.format_type(a.atttypid, a.atttypmod)
    FROM graph._registered_column_roles(tbl) AS r
    JOIN pg_catalog.pg_attribute AS a
        ON a.attrelid = tbl AND a.attname = r.column_name AND a.attnum > 0 AND NOT a.attisdropped
    WHERE r.table_oid = tbl;

    -- Only the members that changed are written (a partition created, attached,
    -- detached, dropped or renamed): a table partitioned by day gains a partition
    -- each day, and deleting and inserting again the row of every partition cost
    -- each such DDL two writes, and a graph._check_registration call, per partition.
    IF NOT EXISTS (SELECT FROM graph._captured_tables(tbl) AS t WHERE t.table_oid = tbl AND t.present) THEN
        DELETE FROM graph._capture_members AS m WHERE m.table_oid = tbl;
        RETURN;
    END IF;
    IF only_members IS NOT NULL THEN
        -- the relations given that are in the table's tree now, and their own
        -- partitions and children, against the rows of those recorded
        WITH RECURSIVE up AS (
            SELECT g.rel AS origin, g.rel FROM unnest(only_members) AS g (rel) WHERE g.rel IS NOT NULL AND g.rel <> tbl
            UNION
            SELECT up.origin, i.inhparent FROM up
            CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhrelid = up.rel OFFSET 0) AS i
        ),
        members AS (
            SELECT DISTINCT up.origin AS member FROM up WHERE up.rel = tbl
            UNION
            SELECT i.inhrelid FROM members AS m
            CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhparent = m.member OFFSET 0) AS i
        )
        SELECT array_agg(m.member), array_agg(m.member::regclass::text) INTO member_oids, member_names
        FROM members AS m;
        DELETE FROM graph._capture_members AS c
        WHERE c.table_oid = tbl AND c.member_oid <> tbl
          AND (c.member_oid = ANY (only_members) OR c.member_oid = ANY (member_oids))
          AND NOT EXISTS (SELECT FROM unnest(member_oids, member_names) AS n (member, name)
                          WHERE n.member = c.member_oid AND n.name = c.member_name);
    ELSE
        WITH RECURSIVE members AS (
            SELECT tbl AS member
            UNION
            -- each level looked up by its oids (OFFSET 0), never a read of all of pg_inherits
            SELECT i.inhrelid FROM members AS m
            CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhparent = m.member OFFSET 0) AS i
        )
        SELECT array_agg(m.member), array_agg(m.member::regclass::text) INTO member_oids, member_names
        FROM members AS m;
        DELETE FROM graph._capture_members AS c
        WHERE c.table_oid = tbl
          AND NOT EXISTS (SELECT FROM unnest(member_oids, member_names) AS n (member, name)
                          WHERE n.member = c.member_oid AND n.name = c.member_name);
    END IF;
    INSERT INTO graph._capture_members (member_oid, table_oid, member_name)
    SELECT n.member, tbl, n.name FROM unnest(member_oids, member_names) AS n (member, name)
    WHERE NOT EXISTS (SELECT FROM graph._capture_members AS c
                      WHERE c.member_oid = n.member AND c.table_oid = tbl AND c.member_name = n.name);
END;
$$;

CREATE OR REPLACE FUNCTION graph._map_capture(tbl oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph._map_capture(tbl, NULL);
END;
$$;

COMMENT ON FUNCTION graph._map_capture(oid, oid[]) IS
'Internal: graph._map_capture(oid), its members recorded for the relations given only (those in its tree, with their partitions and children; all when NULL).';

COMMENT ON FUNCTION graph._map_capture(oid) IS
'Internal: record the attnums and types of a captured table''s registered columns and its member partitions/children, as capture was generated.';
