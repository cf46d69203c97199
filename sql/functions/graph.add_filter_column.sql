-- graph.add_filter_column(tbl, column_name): let traversals filter the nodes of
-- tbl on column_name. Its value is kept with each node. Touches:
-- graph._node_tables, the capture function of tbl.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.add_filter_column(tbl regclass, column_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    PERFORM graph._node_table(tbl, 'table');
    PERFORM graph._check_columns(tbl, ARRAY[column_name]);
    IF column_name = ANY ((graph._node_table(tbl, 'table')).filter_columns) THEN
        RAISE EXCEPTION 'column % of % is already a filter column', quote_ident(column_name), tbl
            USING ERRCODE = '42710';
    END IF;
    -- A capture trigger its owner disabled or dropped is repaired first, before the
    -- registry write below: that write takes graph._sync_state's row (the registry's
    -- statement triggers, graph._bump_graph_version), and the repair's DDL (SHARE ROW
    -- EXCLUSIVE) waits for the table's open writers; holding the row while waiting, a
    -- writer whose transaction then applied deadlocked with it (40P01,
    -- tests/test_lock_order_race.py, seen failing). The install after the write then
    -- needs no DDL of the table.
    IF EXISTS (SELECT FROM graph._trigger_states(tbl::oid) AS s WHERE s.state <> 'ok') THEN
        PERFORM graph._install_capture_bounded(ARRAY[tbl::oid], 'repair');
    END IF;
    UPDATE graph._node_tables AS n SET filter_columns = n.filter_columns || column_name
    WHERE n.table_oid = tbl;
    -- The table's lock (its triggers' DDL) before graph._sync_state's row, as a build
    -- takes its sources' locks before the row, and every other registration: it took
    -- the row first and then waited for the table. That DDL (a trigger its owner
    -- disabled or dropped, enabled or created again: SHARE ROW EXCLUSIVE) waited for
    -- any writer's open transaction (a plain UPDATE left open) without bound, every
    -- new writer of the table queued behind it and, holding the row, every replay too.
    -- At most 5 s (the caller's lock_timeout when shorter), then 55P03 naming the
    -- table: graph._install_capture_bounded (tests/test_writer_poison.py).
    PERFORM graph._install_capture_bounded(ARRAY[tbl::oid], 'repair');
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

COMMENT ON FUNCTION graph.add_filter_column(regclass, text) IS
'Mark a column of a node table as a filter column usable in traversal filters.';
