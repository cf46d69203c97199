-- graph.add_edge(...): register an edge source.
--   Foreign-key edge (via_table NULL): each row of from_table whose from_column
--   is not NULL links its node to the node of to_table whose key equals it.
--   Join-table edge (via_table given): each row of via_table links the
--   from_table node keyed by its from_column to the to_table node keyed by its
--   to_column.
-- weight_column (numeric; NULL counts as 1) and label_column (per-row label,
-- default label) are columns of the row that carries the edge. bidirectional
-- adds the reverse edge too. Returns the edge source id.
-- Touches: graph._edge_sources, capture triggers of the carrying table.
CREATE OR REPLACE FUNCTION graph.add_edge(
    from_table regclass,
    from_column text,
    to_table regclass,
    to_column text DEFAULT NULL,
    label text DEFAULT NULL,
    bidirectional boolean DEFAULT FALSE,
    weight_column text DEFAULT NULL,
    label_column text DEFAULT NULL,
    via_table regclass DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src graph._node_tables;
    dst graph._node_tables;
    carrier regclass := coalesce(via_table, from_table);
    via_key text [];
    new_id integer;
BEGIN
    PERFORM graph._require_admin();
    src := graph._node_table(from_table, 'from_table');
    dst := graph._node_table(to_table, 'to_table');
    IF via_table IS NULL THEN
        IF cardinality(dst.id_columns) > 1 THEN
            RAISE EXCEPTION 'to_table % has a composite key; foreign-key edges need a single-column key', to_table
                USING ERRCODE = '0A000', HINT = 'Use a join table (via_table) instead.';
        END IF;
        IF to_column IS NOT NULL AND to_column <> dst.id_columns[1] THEN
            RAISE EXCEPTION 'to_column % is not the key column % of %', quote_ident(to_column),
                quote_ident(dst.id_columns[1]), to_table USING ERRCODE = '42P10';
        END IF;
        PERFORM graph._check_columns(from_table, ARRAY[from_column]);
    ELSE
        PERFORM graph._check_table(via_table);
        via_key := graph._table_key(via_table);
        IF via_key IS NULL THEN
            RAISE EXCEPTION 'join table % has no primary key and no unique key on NOT NULL columns', via_table
                USING ERRCODE = '42P10';
        END IF;
        IF to_column IS NULL THEN
            RAISE EXCEPTION 'to_column is required for a join-table edge' USING ERRCODE = '22004';
        END IF;
        IF cardinality(src.id_columns) > 1 OR cardinality(dst.id_columns) > 1 THEN
            RAISE EXCEPTION 'join-table edges need single-column keys on both ends'
                USING ERRCODE = '0A000';
        END IF;
        PERFORM graph._check_columns(via_table, ARRAY[from_column, to_column]);
    END IF;
    IF weight_column IS NOT NULL THEN
        PERFORM graph._check_columns(carrier, ARRAY[weight_column]);
        IF (SELECT coalesce(nullif(t.typbasetype, 0), t.oid) FROM pg_catalog.pg_attribute AS a
            JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
            WHERE a.attrelid = carrier AND a.attname = weight_column)
            NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype,
                    'float4'::regtype, 'float8'::regtype) THEN
            RAISE EXCEPTION 'weight column % of % is not numeric', quote_ident(weight_column), carrier
                USING ERRCODE = '42804';
        END IF;
    END IF;
    IF label_column IS NOT NULL THEN
        PERFORM graph._check_columns(carrier, ARRAY[label_column]);
    END IF;
    IF EXISTS (
        SELECT FROM graph._edge_sources AS e
        WHERE e.from_table = add_edge.from_table AND e.from_column = add_edge.from_column
          AND e.to_table = add_edge.to_table
          AND e.via_table IS NOT DISTINCT FROM add_edge.via_table
          AND e.to_column IS NOT DISTINCT FROM add_edge.to_column
    ) THEN
        RAISE EXCEPTION 'this edge source is already registered' USING ERRCODE = '42710';
    END IF;

    INSERT INTO graph._edge_sources (
        kind, from_table, from_column, to_table, to_column, via_table, via_id_columns,
        label, bidirectional, weight_column, label_column
    ) VALUES (
        CASE WHEN via_table IS NULL THEN 'fk' ELSE 'join' END,
        from_table, from_column, to_table, to_column, via_table, via_key,
        coalesce(label, CASE WHEN via_table IS NULL THEN from_column
                             ELSE (SELECT c.relname::text FROM pg_catalog.pg_class AS c
                                   WHERE c.oid = via_table) END),
        coalesce(bidirectional, false), weight_column, label_column
    ) RETURNING edge_source_id INTO new_id;
    UPDATE graph._sync_state SET build_required = true;
    PERFORM graph._install_capture(carrier);
    RETURN new_id;
END;
$$;

COMMENT ON FUNCTION graph.add_edge(regclass, text, regclass, text, text, boolean, text, text, regclass) IS
'Register an edge source: a foreign-key column of from_table, or a join table (via_table) with from_column/to_column, optional weight and label columns. Returns its id.';
