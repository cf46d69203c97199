-- graph._followed_tables(relations): the captured tables (node tables and join
-- tables, registered) that a schema change of relations concerns -- a relation
-- that is one of them, a partition or inheritance child of one at any depth
-- (created, attached, inheriting), or a recorded member of one (dropped,
-- detached) -- and whose registration or capture is out of step with the
-- catalog now. Empty for everything else, so the event trigger graph._follow_ddl
-- leaves the application's other DDL (temporary tables included) at a catalog
-- lookup, and DDL that changed nothing follow_ddl looks at (graphsync's own
-- ALTER TABLE ... ENABLE ALWAYS TRIGGER, an index, a default) at that lookup
-- too, before any Python.
-- In step means exactly what ops/follow.py's follow_table finds nothing to do
-- for: the table exists under the name its capture logs (graph._capture_members'
-- own row), each column capture was generated for (graph._column_map) is live
-- under the same attnum, name and type, no registered column that capture was
-- not generated for is gone, and its partitions and children are those recorded:
-- the whole tree compared where relations hold the table or a partitioned table
-- (which an ATTACH or DETACH names), and otherwise each relation and its own
-- children, so that an ALTER TABLE of one partition reads no other.
-- Derived from the catalog only, never from anything a session sets, so no DDL
-- that changes what capture depends on can pass for one that does not.
-- SECURITY DEFINER (graph._capture_members and graph._column_map are not
-- PUBLIC's to read); reads only. Reads: the registry, graph._capture_members,
-- graph._column_map, pg_class, pg_attribute, pg_inherits. PL/pgSQL, table by
-- table: a session plans its queries once, and each looks up one table's rows,
-- by index (graph._capture_members by table_oid, migration 430) however few rows
-- the statistics say there are.
CREATE OR REPLACE FUNCTION graph._followed_tables(relations oid[])
RETURNS SETOF oid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
AS $$
DECLARE
    t oid;
BEGIN
    FOR t IN
        WITH RECURSIVE up AS (
            SELECT r.oid AS rel FROM unnest(relations) AS r (oid)
            UNION
            -- each level looked up by its oids (OFFSET 0), as in tree below
            SELECT i.inhparent FROM up
            CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                WHERE i.inhrelid = up.rel OFFSET 0) AS i
        ),
        candidates AS (
            SELECT up.rel FROM up
            UNION
            SELECT m.table_oid FROM graph._capture_members AS m WHERE m.member_oid = ANY (relations)
        )
        -- those that are captured: node tables and join tables
        -- (OFFSET 0: a lookup of each candidate, never a hash of every node table)
        SELECT c.rel FROM candidates AS c
        WHERE EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = c.rel OFFSET 0)
           OR EXISTS (SELECT FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = c.rel)
    LOOP
        -- the table, under the name its capture logs
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c
                       JOIN graph._capture_members AS s
                           ON s.table_oid = t AND s.member_oid = t AND s.member_name = c.oid::pg_catalog.regclass::text
                       WHERE c.oid = t AND c.relkind IN ('r', 'p'))
           -- each column capture was generated for: same attnum, name and type, live
           OR EXISTS (SELECT FROM graph._column_map AS m
                      LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = t AND a.attnum = m.attnum
                      WHERE m.table_oid = t
                        AND (a.attrelid IS NULL OR a.attisdropped OR a.attname::text <> m.column_name
                             OR pg_catalog.format_type(a.atttypid, a.atttypmod) <> m.type_name))
           -- a registered column (graph._registered_column_roles(t), written out)
           -- that capture was not generated for and no live column carries
           OR EXISTS (SELECT FROM (
                          SELECT x.c FROM graph._node_tables AS n
                          CROSS JOIN LATERAL unnest(n.id_columns || n.columns || n.filter_columns
                                                    || n.row_filter_columns || n.tenant_column) AS x (c)
                          WHERE n.table_oid = t
                          UNION ALL
                          SELECT x.c FROM graph._edge_sources AS e
                          CROSS JOIN LATERAL unnest(
                              CASE WHEN e.kind = 'join' THEN coalesce(e.via_id_columns, '{}') || e.to_column
                                   ELSE '{}'::text [] END
                              || ARRAY[e.from_column, e.weight_column, e.label_column]
                              || coalesce(e.from_columns, '{}') || coalesce(e.to_columns, '{}')
                              || e.row_filter_columns) AS x (c)
                          WHERE coalesce(e.via_table, e.from_table) = t
                      ) AS r
                      WHERE r.c IS NOT NULL
                        AND NOT EXISTS (SELECT FROM graph._column_map AS m
                                        WHERE m.table_oid = t AND m.column_name = r.c)
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                                        WHERE a.attrelid = t AND a.attname = r.c
                                          AND a.attnum > 0 AND NOT a.attisdropped))
        THEN
            RETURN NEXT t;
            CONTINUE;
        END IF;
        -- the partitions and children at any depth, against those recorded: the
        -- whole tree when the table itself, or a partitioned table of its tree, is
        -- among relations (an ATTACH or DETACH names the parent it changes) ...
        -- (Each test a statement of its own, which runs, and is planned, only when
        -- it is reached: as one statement of ORs, each call planned and started
        -- them all, the whole tree's too, some 1.3 ms a call against 0.45, and a
        -- partition's creation makes three calls: benchmarks/PARTITION_DDL.md.)
        IF NOT graph._named_members_only(t, relations) THEN
            -- (a statement of its own: one of 'NOT ... AND EXISTS' started the
            -- EXISTS, and so zeroed its recursive UNION's hash table, whatever the NOT)
            IF EXISTS (WITH RECURSIVE tree AS (
                              SELECT i.inhrelid AS member FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = t
                              UNION
                              -- each level looked up by its oids (OFFSET 0): a join read all of
                              -- pg_inherits, every partition of the database, other tables' too
                              -- (tests/test_operation_costs.py)
                              SELECT i.inhrelid FROM tree
                              CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                                  WHERE i.inhparent = tree.member OFFSET 0) AS i
                          ),
                          recorded AS (
                              SELECT m.member_oid FROM graph._capture_members AS m
                              WHERE m.table_oid = t AND m.member_oid <> t
                          )
                          SELECT FROM tree FULL JOIN recorded AS r ON r.member_oid = tree.member
                          WHERE tree.member IS NULL OR r.member_oid IS NULL)
            THEN
                RETURN NEXT t;
                CONTINUE;
            END IF;
        END IF;
        -- ... and otherwise the relations only: each in the tree now exactly when it
        -- is recorded (created, attached as a child, NO INHERIT, dropped), and its own
        -- children recorded. No other member can have come or gone: a DDL naming
        -- only tables that are not partitioned cannot detach anything from them. The
        -- whole tree compared at each partition's ALTER TABLE (add_table enables each
        -- one's triggers so) made add_table grow with the square of the partitions
        -- (tests/test_operation_costs.py).
        IF EXISTS (WITH RECURSIVE up AS (
                          SELECT r.oid AS origin, r.oid AS rel FROM unnest(relations) AS r (oid)
                          WHERE r.oid IS NOT NULL AND r.oid <> t
                          UNION
                          SELECT up.origin, i.inhparent FROM up
                          CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                                              WHERE i.inhrelid = up.rel OFFSET 0) AS i
                      ),
                      named AS (SELECT DISTINCT up.origin AS member FROM up WHERE up.rel = t),
                      below AS (
                          SELECT named.member FROM named
                          UNION
                          SELECT i.inhrelid FROM below
                          CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                                              WHERE i.inhparent = below.member OFFSET 0) AS i
                      )
                      SELECT FROM below
                      WHERE NOT EXISTS (SELECT FROM graph._capture_members AS m
                                        WHERE m.table_oid = t AND m.member_oid = below.member)
                      UNION ALL
                      SELECT FROM graph._capture_members AS m
                      WHERE m.table_oid = t AND m.member_oid = ANY (relations) AND m.member_oid <> t
                        AND NOT EXISTS (SELECT FROM named WHERE named.member = m.member_oid))
        THEN
            RETURN NEXT t;
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._followed_tables(oid[]) IS
'Internal: the captured tables a schema change of some relations concerns (themselves, their partitions or children, recorded members) whose registration or capture is out of step with the catalog.';
