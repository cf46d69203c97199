-- graph.alter_edge(edge_source_id, label, bidirectional, row_filter,
-- clear_row_filter): relabel an edge source, make it (not) bidirectional, set
-- or clear its row filter (rows of the carrying table failing it carry no edge;
-- graph._check_filter, as graph.add_edge), without removing and registering it
-- again. NULL leaves a setting as it is. Refused, changing nothing: an unknown
-- edge source (42704), an empty label or row_filter with clear_row_filter
-- (22023), a bad row filter (graph._check_filter's 22023, 42703, 42804, 42P17).
-- The registry changes at once and replay follows it (a new filter regenerates
-- the carrying table's capture); the base keeps the old edges until the next
-- graph.build() (flagged, so maintenance rebuilds). Returns the edge source id.
-- Touches: graph._edge_sources, the capture function of the carrying table.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.alter_edge(
    edge_source_id integer,
    label text DEFAULT NULL,
    bidirectional boolean DEFAULT NULL,
    row_filter text DEFAULT NULL,
    clear_row_filter boolean DEFAULT FALSE
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e graph._edge_sources;
    carrier oid;
    filter_sql text;
    filter_cols text [];
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    IF alter_edge.edge_source_id IS NULL THEN
        RAISE EXCEPTION 'edge_source_id must not be NULL' USING ERRCODE = '22004',
            HINT = 'add_edge returns it; graph._edge_sources lists them.';
    END IF;
    SELECT * INTO e FROM graph._edge_sources AS s WHERE s.edge_source_id = alter_edge.edge_source_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no edge source % is registered', alter_edge.edge_source_id
            USING ERRCODE = '42704';
    END IF;
    IF label = '' THEN
        RAISE EXCEPTION 'label must not be empty' USING ERRCODE = '22023';
    END IF;
    IF row_filter IS NOT NULL AND clear_row_filter THEN
        RAISE EXCEPTION 'pass row_filter or clear_row_filter, not both' USING ERRCODE = '22023';
    END IF;
    carrier := coalesce(e.via_table, e.from_table);
    filter_sql := e.row_filter;
    filter_cols := e.row_filter_columns;
    IF row_filter IS NOT NULL THEN
        SELECT f.expression, f.columns INTO filter_sql, filter_cols
        FROM graph._check_filter(carrier::regclass, row_filter) AS f;
    ELSIF clear_row_filter THEN
        filter_sql := NULL;
        filter_cols := '{}';
    END IF;
    IF coalesce(label, e.label) = e.label AND coalesce(bidirectional, e.bidirectional) = e.bidirectional
       AND filter_sql IS NOT DISTINCT FROM e.row_filter THEN
        RETURN e.edge_source_id;
    END IF;
    IF filter_sql IS DISTINCT FROM e.row_filter THEN
        -- A capture trigger its owner disabled or dropped is repaired first, before the
        -- registry write below: that write takes graph._sync_state's row (the registry's
        -- statement triggers, graph._bump_graph_version), and the repair's DDL (SHARE ROW
        -- EXCLUSIVE) waits for the table's open writers; holding the row while waiting, a
        -- writer whose transaction then applied deadlocked with it (40P01,
        -- tests/test_lock_order_race.py, seen failing). The install after the write then
        -- needs no DDL of the table.
        IF EXISTS (SELECT FROM graph._trigger_states(carrier) AS s WHERE s.state <> 'ok') THEN
            PERFORM graph._install_capture_bounded(ARRAY[carrier], 'repair');
        END IF;
    END IF;
    UPDATE graph._edge_sources AS s
    SET label = coalesce(alter_edge.label, s.label), bidirectional = coalesce(alter_edge.bidirectional, s.bidirectional),
        row_filter = filter_sql, row_filter_columns = filter_cols
    WHERE s.edge_source_id = e.edge_source_id;
    -- The carrier's lock (its triggers' DDL) before graph._sync_state's row, as a build
    -- takes its sources' locks before the row, and every other registration: it took
    -- the row first and then waited for the table. That DDL (a new row filter
    -- regenerates the capture; a trigger its owner disabled or dropped is enabled or
    -- created again: SHARE ROW EXCLUSIVE) waited for any writer's open transaction (a
    -- plain UPDATE left open) without bound, every new writer of the table queued
    -- behind it and, holding the row, every replay too. At most 5 s (the caller's
    -- lock_timeout when shorter), then 55P03 naming the table:
    -- graph._install_capture_bounded (tests/test_writer_poison.py).
    IF filter_sql IS DISTINCT FROM e.row_filter THEN
        PERFORM graph._install_capture_bounded(ARRAY[carrier], 'repair');
    END IF;
    UPDATE graph._sync_state SET build_required = true;
    RETURN e.edge_source_id;
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

COMMENT ON FUNCTION graph.alter_edge(integer, text, boolean, text, boolean) IS
'Relabel an edge source, change whether it is bidirectional, set or clear its row filter; flags a rebuild.';
