-- graph._pending_keys(table_oids, old_pks, new_pks, old_rows, new_rows): the node of
-- each key a few pending log rows name, as graph._nodes shows it to the caller, for a
-- read that folds them (reads/start.py calls it in START on the columns
-- graph._pending_columns returned, for at most KEYS_IN_START rows). The keys are
-- those of each row (its table and old and new key) and, for each edge source the
-- row's table carries (a join table: via_table; a foreign key: from_table), the
-- values of its endpoint columns in the row's old and new images, as text: what
-- sync/changes.py reads for a plain edge source. Each key once; one with no node
-- the caller can see comes back with a NULL node id. old_rows and new_rows: the
-- images' jsonb texts joined by newlines, a NULL as the empty text
-- (graph._pending_columns' form). One row of arrays, in no set order; all NULL
-- when no key.
-- A function, not a subquery of START: PostgreSQL sets up every plan node of a
-- statement whether it runs or not, and START runs this only when it read a few
-- rows; most reads under writes read none since their last (issue 9). PL/pgSQL:
-- its plan is kept for the session.
-- SECURITY INVOKER: graph._nodes' row-level security shows the caller the nodes of
-- the tables it may SELECT. Each key is looked up by itself (a subquery kept apart
-- by OFFSET 0: its table and key tests, leakproof, run before the policy, by the
-- (table_oid, pk) index), so the policy asks only about the keys' own nodes: a join
-- planned as a hash join (graph._node_rows analyzed, a few nodes) ran it on every
-- node, and so ran the row-level security policy of every table whose row-level
-- security applies to the caller, tables the read never touches among them (their
-- owners' code, which failed the read where it writes in a read-only transaction).
-- A plain LATERAL subquery would be pulled up into that join again.
-- Reads: graph._edge_sources, graph._nodes.
CREATE OR REPLACE FUNCTION graph._pending_keys(
    table_oids oid[], old_pks text[], new_pks text[], old_rows text, new_rows text
)
RETURNS TABLE (key_tables oid[], key_pks text[], key_ids bigint[], key_extra integer[])
LANGUAGE plpgsql
STABLE
ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT pg_catalog.array_agg(k.t), pg_catalog.array_agg(k.pk),
           pg_catalog.array_agg(n.node_id), pg_catalog.array_agg(n.extra_rows)
    FROM (SELECT DISTINCT c.t, c.pk
          FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),
                          pg_catalog.unnest(pg_catalog.string_to_array($4, E'\n', '')),
                          pg_catalog.unnest(pg_catalog.string_to_array($5, E'\n', ''))
               ) AS y (t, old_pk, new_pk, old_row, new_row)
          CROSS JOIN LATERAL (SELECT y.old_row::jsonb AS old_row, y.new_row::jsonb AS new_row OFFSET 0) AS im
          LEFT JOIN graph._edge_sources AS e
              ON e.via_table = y.t OR e.kind = 'fk' AND e.from_table = y.t
          CROSS JOIN LATERAL (VALUES
              (y.t, y.old_pk), (y.t, y.new_pk),
              (e.from_table, CASE WHEN e.kind = 'join' THEN im.old_row ->> e.from_column END),
              (e.from_table, CASE WHEN e.kind = 'join' THEN im.new_row ->> e.from_column END),
              (e.to_table, im.old_row ->> CASE WHEN e.kind = 'join' THEN e.to_column ELSE e.from_column END),
              (e.to_table, im.new_row ->> CASE WHEN e.kind = 'join' THEN e.to_column ELSE e.from_column END)
          ) AS c (t, pk)
          WHERE c.t IS NOT NULL AND c.pk IS NOT NULL) AS k
    LEFT JOIN LATERAL (
        SELECT n.node_id, n.extra_rows
        FROM graph._nodes AS n
        WHERE n.table_oid = k.t AND n.pk = k.pk
        OFFSET 0
    ) AS n ON true;
END;
$$;

COMMENT ON FUNCTION graph._pending_keys(oid[], text[], text[], text, text) IS
'Internal (reads): the node graph._nodes shows the caller for each key a few pending log rows name (their keys and edge ends), for a read that folds them.';
