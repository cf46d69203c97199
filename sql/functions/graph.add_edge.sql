-- graph.add_edge(...): register an edge source.
--   Foreign-key edge (via_table NULL): each row of from_table that references a
--   to_table key links its node to the node of to_table with that key. The
--   reference is from_column (one column), or from_columns, one column per key
--   column of to_table in its order (a composite key, e.g. (workspace_id,
--   project_id) -> (workspace_id, id)), exactly one of the two.
--   Join-table edge (via_table given): each row of via_table links the
--   from_table node keyed by its from_column (or from_columns) to the to_table
--   node keyed by its to_column (or to_columns).
--   json_path: the last of from_columns (or from_column) is a jsonb column and
--   that key part is the value at json_path (as #> reads it); a JSON array
--   there gives one edge per element; a missing, null or non-key value no edge
--   (graph._end_expr).
--   row_filter: a boolean expression over the carrying row's columns
--   (graph._check_filter: built-in immutable code only); rows failing it carry
--   no edge.
-- Columns are compared as the key's type (graph._check_end). weight_column
-- (numeric; NULL counts as 1) and label_column (per-row label, default label)
-- are columns of the row that carries the edge. bidirectional adds the reverse
-- edge too. label: NULL for the default, never '' (22023). Returns the edge
-- source id.
-- Touches: graph._edge_sources, capture triggers of the carrying table.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.add_edge(
    from_table regclass,
    from_column text,
    to_table regclass,
    to_column text DEFAULT NULL,
    label text DEFAULT NULL,
    bidirectional boolean DEFAULT FALSE,
    weight_column text DEFAULT NULL,
    label_column text DEFAULT NULL,
    via_table regclass DEFAULT NULL,
    from_columns text[] DEFAULT NULL,
    to_columns text[] DEFAULT NULL,
    json_path text[] DEFAULT NULL,
    row_filter text DEFAULT NULL
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
    f_col text := from_column;
    f_cols text [] := from_columns;
    t_col text := to_column;
    t_cols text [] := to_columns;
    filter_sql text;
    filter_cols text [] := '{}';
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    src := graph._node_table(from_table, 'from_table');
    dst := graph._node_table(to_table, 'to_table');
    IF label = '' THEN
        RAISE EXCEPTION 'label must not be empty' USING ERRCODE = '22023',
            HINT = 'Pass NULL for the default label (the join table''s name, the JSON path''s last key, else the column).';
    END IF;
    IF (from_column IS NULL) = (from_columns IS NULL) THEN
        RAISE EXCEPTION 'pass exactly one of from_column and from_columns'
            USING ERRCODE = CASE WHEN from_column IS NULL THEN '22004' ELSE '22023' END;
    END IF;
    IF from_columns IS NOT NULL AND (cardinality(from_columns) = 0 OR array_position(from_columns, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'from_columns must name at least one column and no NULL' USING ERRCODE = '22023';
    END IF;
    IF json_path IS NOT NULL AND (cardinality(json_path) = 0 OR array_position(json_path, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'json_path must name at least one key or index and no NULL' USING ERRCODE = '22023';
    END IF;
    -- An endpoint of one plain column keeps from_column; several, or JSON, are a list.
    IF json_path IS NOT NULL AND f_cols IS NULL THEN
        f_cols := ARRAY[f_col];
    END IF;
    IF f_cols IS NOT NULL AND cardinality(f_cols) = 1 AND json_path IS NULL THEN
        f_col := f_cols[1];
        f_cols := NULL;
    ELSIF f_cols IS NOT NULL THEN
        f_col := NULL;
    END IF;
    IF via_table IS NULL THEN
        IF to_columns IS NOT NULL AND to_columns IS DISTINCT FROM dst.id_columns THEN
            RAISE EXCEPTION 'to_columns % are not the key columns % of %', to_columns, dst.id_columns, to_table
                USING ERRCODE = '42P10';
        END IF;
        t_cols := NULL;
        IF to_column IS NOT NULL AND (cardinality(dst.id_columns) > 1 OR to_column <> dst.id_columns[1]) THEN
            RAISE EXCEPTION 'to_column % is not the key of %', quote_ident(to_column), to_table
                USING ERRCODE = '42P10';
        END IF;
        PERFORM graph._check_end(from_table, coalesce(f_cols, ARRAY[f_col]), to_table, json_path,
                                 'the reference of ' || from_table::text);
    ELSE
        PERFORM graph._check_table(via_table);
        via_key := graph._table_key(via_table);
        IF via_key IS NULL THEN
            RAISE EXCEPTION 'join table % has no primary key and no unique key on NOT NULL columns', via_table
                USING ERRCODE = '42P10';
        END IF;
        IF (to_column IS NULL) = (to_columns IS NULL) THEN
            RAISE EXCEPTION 'a join-table edge needs exactly one of to_column and to_columns'
                USING ERRCODE = CASE WHEN to_column IS NULL THEN '22004' ELSE '22023' END;
        END IF;
        IF t_cols IS NOT NULL AND cardinality(t_cols) = 1 THEN
            t_col := t_cols[1];
            t_cols := NULL;
        END IF;
        PERFORM graph._check_end(via_table, coalesce(f_cols, ARRAY[f_col]), from_table, json_path,
                                 'the from side of ' || via_table::text);
        PERFORM graph._check_end(via_table, coalesce(t_cols, ARRAY[t_col]), to_table, NULL,
                                 'the to side of ' || via_table::text);
    END IF;
    IF weight_column IS NOT NULL THEN
        PERFORM graph._check_columns(carrier, ARRAY[weight_column]);
        IF (SELECT graph._base_type(a.atttypid) FROM pg_catalog.pg_attribute AS a
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
    IF row_filter IS NOT NULL THEN
        SELECT f.expression, f.columns INTO filter_sql, filter_cols FROM graph._check_filter(carrier, row_filter) AS f;
    END IF;
    SELECT e.edge_source_id INTO new_id
    FROM graph._edge_sources AS e
    WHERE e.from_table = add_edge.from_table AND e.from_column IS NOT DISTINCT FROM f_col
      AND e.from_columns IS NOT DISTINCT FROM f_cols AND e.json_path IS NOT DISTINCT FROM add_edge.json_path
      AND e.to_table = add_edge.to_table
      AND e.via_table IS NOT DISTINCT FROM add_edge.via_table
      AND e.to_column IS NOT DISTINCT FROM t_col AND e.to_columns IS NOT DISTINCT FROM t_cols;
    IF new_id IS NOT NULL THEN
        -- named as remove_edge names it
        RAISE EXCEPTION 'edge source %.% -> % is already registered (edge_source_id %)', from_table,
            coalesce(quote_ident(from_column), array_to_string(from_columns, ',')),
            to_table::text || CASE WHEN via_table IS NOT NULL THEN ' via ' || via_table::text ELSE '' END, new_id
            USING ERRCODE = '42710',
            HINT = 'graph.alter_edge changes its label, direction and row filter; graph.remove_edge removes it.';
    END IF;

    -- A join table that carries nothing yet: the lock its CREATE TRIGGER takes (SHARE
    -- ROW EXCLUSIVE), first. The registry write below takes graph._sync_state's row
    -- (graph._bump_graph_version), and the DDL waiting after it for a writer of the
    -- table whose transaction then applied (waiting for that row) deadlocked with it,
    -- 40P01 for one of them (tests/test_lock_order_race.py); locked first, the call
    -- waits for the writer holding nothing its apply needs. At most 5 s (the caller's
    -- lock_timeout when shorter), then 55P03 naming the table; a definer
    -- (graph._lock_for_capture), given the table only when the caller has TRIGGER on
    -- it; not while capture is deferred (graph.add_schema locks its tables first). A
    -- carrier that has triggers already (graph._captured_tables: a node table or a
    -- join table) gets its capture regenerated, no trigger DDL.
    IF current_setting('graphsync.deferring_capture', true) IS DISTINCT FROM 'on'
       AND NOT EXISTS (SELECT FROM graph._captured_tables(carrier))
       AND has_table_privilege(carrier, 'TRIGGER') THEN
        PERFORM graph._lock_for_capture(ARRAY[carrier::oid], 'install');
    ELSIF current_setting('graphsync.deferring_capture', true) IS DISTINCT FROM 'on'
          AND EXISTS (SELECT FROM graph._trigger_states(carrier) AS s WHERE s.state <> 'ok') THEN
        -- A carrier whose capture trigger its owner disabled or dropped is repaired
        -- first, for the same reason (its DDL after the registry write deadlocked with a
        -- writer that applied, 40P01: tests/test_lock_order_race.py, seen failing), as
        -- graph.alter_edge does; the install after the write then needs no DDL.
        PERFORM graph._install_capture_bounded(ARRAY[carrier::oid], 'repair');
    END IF;
    INSERT INTO graph._edge_sources (
        kind, from_table, from_column, to_table, to_column, via_table, via_id_columns,
        label, bidirectional, weight_column, label_column,
        from_columns, to_columns, json_path, row_filter, row_filter_columns
    ) VALUES (
        CASE WHEN via_table IS NULL THEN 'fk' ELSE 'join' END,
        from_table, f_col, to_table, t_col, via_table, via_key,
        coalesce(label, CASE WHEN via_table IS NOT NULL
                                 THEN (SELECT c.relname::text FROM pg_catalog.pg_class AS c WHERE c.oid = via_table)
                             WHEN json_path IS NOT NULL THEN json_path[cardinality(json_path)]
                             ELSE coalesce(f_col, array_to_string(f_cols, ',')) END),
        coalesce(bidirectional, false), weight_column, label_column,
        f_cols, t_cols, add_edge.json_path, filter_sql, filter_cols
    ) RETURNING edge_source_id INTO new_id;
    -- Its trigger DDL (a join table that carried nothing yet: CREATE TRIGGER, its lock
    -- taken above; a trigger of the carrier its owner disabled or dropped: enabled or
    -- created again, SHARE ROW EXCLUSIVE, still after the registry write: not yet
    -- repaired first as alter_edge does) waited for any writer's open transaction (a
    -- plain UPDATE left open) without bound, and every new writer of the table queued
    -- behind it. At most 5 s (the caller's lock_timeout when shorter), then 55P03
    -- naming the table: graph._install_capture_bounded (tests/test_writer_poison.py).
    PERFORM graph._install_capture_bounded(ARRAY[carrier], 'install');
    UPDATE graph._sync_state SET build_required = true;
    RETURN new_id;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- The caller gets the error's SQLSTATE, message, detail and hint, not where
    -- it arose: no internal query text, no PL/Python traceback (CONTEXT).
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    e_message := graph._error_message(e_message);  -- without PL/Python's 'spiexceptions.<Type>: '
    IF e_detail = '' AND e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message;
    ELSIF e_hint = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail;
    ELSIF e_detail = '' THEN
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, HINT = e_hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = e_state, MESSAGE = e_message, DETAIL = e_detail, HINT = e_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION graph.add_edge(
    regclass, text, regclass, text, text, boolean, text, text, regclass, text[], text[],
    text[], text
) IS
'Register an edge source: a foreign-key reference of from_table (from_column, or from_columns for a composite key; json_path reads it from JSONB), or a join table (via_table) with from/to columns; optional weight and label columns and row filter. Returns its id.';
