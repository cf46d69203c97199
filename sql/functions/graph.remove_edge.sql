-- graph.remove_edge(from_table, from_column, to_table, via_table, from_columns,
-- to_columns, json_path): unregister the matching edge source, named as
-- graph.add_edge named it (from_column or from_columns, and json_path; to_column
-- or to_columns only tell join-table sources apart when given); 42704 when
-- there is none, 42725 when the name fits several (pass to_columns or
-- json_path). Its edges leave the graph at the next graph.build().
-- Touches: graph._edge_sources, triggers.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.remove_edge(
    from_table regclass,
    from_column text,
    to_table regclass,
    via_table regclass DEFAULT NULL,
    from_columns text[] DEFAULT NULL,
    to_columns text[] DEFAULT NULL,
    json_path text[] DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f_cols text [] := coalesce(from_columns, CASE WHEN json_path IS NOT NULL THEN ARRAY[from_column] END);
    f_col text := from_column;
    t_cols text [] := to_columns;
    found_ids integer [];
    carrier oid;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    -- The same normal form as graph.add_edge: one plain column is from_column.
    IF f_cols IS NOT NULL AND cardinality(f_cols) = 1 AND json_path IS NULL THEN
        f_col := f_cols[1];
        f_cols := NULL;
    ELSIF f_cols IS NOT NULL THEN
        f_col := NULL;
    END IF;
    IF t_cols IS NOT NULL AND cardinality(t_cols) = 1 THEN
        t_cols := NULL;
    END IF;
    SELECT array_agg(e.edge_source_id) INTO found_ids
    FROM graph._edge_sources AS e
    WHERE e.from_table = remove_edge.from_table AND e.to_table = remove_edge.to_table
      AND e.via_table IS NOT DISTINCT FROM remove_edge.via_table
      AND e.from_column IS NOT DISTINCT FROM f_col AND e.from_columns IS NOT DISTINCT FROM f_cols
      AND e.json_path IS NOT DISTINCT FROM remove_edge.json_path
      AND (remove_edge.to_columns IS NULL OR e.to_columns IS NOT DISTINCT FROM t_cols
           AND e.to_column IS NOT DISTINCT FROM CASE WHEN t_cols IS NULL THEN remove_edge.to_columns[1] END);
    IF found_ids IS NULL THEN
        RAISE EXCEPTION 'no edge source %.% -> % is registered', from_table,
            coalesce(quote_ident(from_column), array_to_string(from_columns, ',')), to_table
            USING ERRCODE = '42704';
    ELSIF cardinality(found_ids) > 1 THEN
        RAISE EXCEPTION 'edge sources % all match; name one', found_ids USING ERRCODE = '42725',
            HINT = 'Pass to_columns (join tables) or json_path to tell them apart.';
    END IF;
    -- Its tables' locks first (graph._lock_sources: a build's lock of its sources),
    -- before it writes the registry rows a build writes too (graph._after_build) and
    -- graph._sync_state's row: a build takes its sources' locks, then those rows, and
    -- a registration holding them while it waited for the table deadlocked with it.
    -- Waited for at most 5 s (then 55P03 naming the table), as alter_table's: a writer
    -- holding a table IN SHARE MODE in an open transaction kept the call waiting as
    -- long as it liked (tests/test_writer_poison.py).
    PERFORM graph._lock_sources(ARRAY(SELECT coalesce(e.via_table, e.from_table) FROM graph._edge_sources AS e
                                      WHERE e.edge_source_id = found_ids[1]), false);
    -- And the lock the drop of a join table's triggers takes (DROP FUNCTION ... CASCADE:
    -- ACCESS EXCLUSIVE), when this edge source is all it carries, first: the registry
    -- write below takes graph._sync_state's row (graph._bump_graph_version), and the
    -- drop waiting after it for a writer or reader of the table whose transaction then
    -- applied (waiting for that row) deadlocked with it, 40P01 for one of them
    -- (tests/test_lock_order_race.py). Locked first, the call waits holding nothing
    -- that transaction's apply needs. At most 5 s (the caller's lock_timeout when
    -- shorter), then 55P03 naming the table; a definer (graph._lock_for_capture), given
    -- the table only when the caller has TRIGGER on it. A carrier still registered
    -- otherwise (a node table, another edge source's) gets its capture regenerated.
    IF current_setting('graphsync.deferring_capture', true) IS DISTINCT FROM 'on' THEN
        PERFORM graph._lock_for_capture(ARRAY(
            SELECT coalesce(e.via_table, e.from_table) FROM graph._edge_sources AS e
            WHERE e.edge_source_id = found_ids[1]
              AND has_table_privilege(coalesce(e.via_table, e.from_table), 'TRIGGER') IS true
              AND NOT EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = coalesce(e.via_table, e.from_table))
              AND NOT EXISTS (SELECT FROM graph._edge_sources AS o
                              WHERE o.edge_source_id <> found_ids[1]
                                AND coalesce(e.via_table, e.from_table) IN (o.from_table, o.via_table))), 'drop');
    END IF;
    DELETE FROM graph._edge_sources AS e WHERE e.edge_source_id = found_ids[1]
    RETURNING coalesce(e.via_table, e.from_table) INTO carrier;
    -- Its trigger DDL (dropping a join table's triggers, its lock taken above; or
    -- enabling one its owner disabled: SHARE ROW EXCLUSIVE or more, still after the
    -- registry write) waited for any writer's open transaction
    -- (a plain UPDATE left open) without bound, and every new writer of the table
    -- queued behind it. At most 5 s (the caller's lock_timeout when shorter), then
    -- 55P03 naming the table: graph._install_capture_bounded (tests/test_writer_poison.py).
    PERFORM graph._install_capture_bounded(ARRAY[carrier], 'drop');
    UPDATE graph._sync_state SET build_required = true;
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

COMMENT ON FUNCTION graph.remove_edge(regclass, text, regclass, regclass, text[], text[], text[]) IS
'Unregister an edge source, named as graph.add_edge named it (foreign-key column(s), JSON path, or join table with via_table).';
