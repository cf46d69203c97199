-- graph.alter_table(tbl, add_properties, remove_properties, add_filter_columns,
-- remove_filter_columns, row_filter, clear_row_filter): change which columns of
-- registered node table tbl are kept as properties and as filter columns, and
-- its row filter (rows failing it are no nodes; graph._check_filter, as
-- graph.add_table), without removing and registering it again. Each argument
-- is optional (NULL: no change); clear_row_filter drops the filter. Refused,
-- changing nothing: a table that is not registered (55000), a column tbl does
-- not have or a NULL one (42703, 22004), a column named twice in one argument
-- (42701), adding a property or filter column it has already (42710), removing
-- one it does not have (42703), the same column added and removed in one call,
-- or row_filter with clear_row_filter (22023), a bad row filter (graph._check_filter's 22023, 42703, 42804, 42P17).
-- Regenerates the table's capture and flags a rebuild: existing nodes take the
-- new columns and filter at the next graph.build() (or maintenance run).
-- Returns the table. Touches: graph._node_tables, the capture function of tbl.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.alter_table(
    tbl regclass,
    add_properties text[] DEFAULT NULL,
    remove_properties text[] DEFAULT NULL,
    add_filter_columns text[] DEFAULT NULL,
    remove_filter_columns text[] DEFAULT NULL,
    row_filter text DEFAULT NULL,
    clear_row_filter boolean DEFAULT FALSE
)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    node graph._node_tables;
    props text [];
    filters text [];
    c text;
    filter_sql text;
    filter_cols text [];
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    node := graph._node_table(tbl, 'table');
    IF array_position(add_properties || remove_properties || add_filter_columns || remove_filter_columns,
                      NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'column names must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- A column named twice in one argument is a mistake: 42701.
    SELECT format('column %s is named twice in %s', quote_ident(u.c), u.arg) INTO c
    FROM (SELECT 'add_properties' AS arg, 1 AS n, x AS c, o FROM unnest(add_properties) WITH ORDINALITY AS i (x, o)
          UNION ALL
          SELECT 'remove_properties', 2, x, o FROM unnest(remove_properties) WITH ORDINALITY AS i (x, o)
          UNION ALL
          SELECT 'add_filter_columns', 3, x, o FROM unnest(add_filter_columns) WITH ORDINALITY AS i (x, o)
          UNION ALL
          SELECT 'remove_filter_columns', 4, x, o FROM unnest(remove_filter_columns) WITH ORDINALITY AS i (x, o)
         ) AS u
    GROUP BY u.arg, u.n, u.c HAVING count(*) > 1
    ORDER BY u.n, min(u.o) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', c USING ERRCODE = '42701';
    END IF;
    PERFORM graph._check_columns(tbl, coalesce(add_properties, '{}') || coalesce(add_filter_columns, '{}'));
    SELECT x INTO c FROM unnest(add_properties) AS x WHERE x = ANY (remove_properties)
    UNION ALL SELECT x FROM unnest(add_filter_columns) AS x WHERE x = ANY (remove_filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % is both added and removed', quote_ident(c) USING ERRCODE = '22023';
    END IF;
    SELECT x INTO c FROM unnest(add_properties) AS x WHERE x = ANY (node.columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is already a property', quote_ident(c), tbl USING ERRCODE = '42710';
    END IF;
    SELECT x INTO c FROM unnest(add_filter_columns) AS x WHERE x = ANY (node.filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is already a filter column', quote_ident(c), tbl USING ERRCODE = '42710';
    END IF;
    SELECT x INTO c FROM unnest(remove_properties) AS x WHERE NOT x = ANY (node.columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is not a property', quote_ident(c), tbl USING ERRCODE = '42703';
    END IF;
    SELECT x INTO c FROM unnest(remove_filter_columns) AS x WHERE NOT x = ANY (node.filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is not a filter column', quote_ident(c), tbl USING ERRCODE = '42703';
    END IF;

    IF row_filter IS NOT NULL AND clear_row_filter THEN
        RAISE EXCEPTION 'pass row_filter or clear_row_filter, not both' USING ERRCODE = '22023';
    END IF;
    filter_sql := node.row_filter;
    filter_cols := node.row_filter_columns;
    IF row_filter IS NOT NULL THEN
        SELECT f.expression, f.columns INTO filter_sql, filter_cols FROM graph._check_filter(tbl, row_filter) AS f;
    ELSIF clear_row_filter THEN
        filter_sql := NULL;
        filter_cols := '{}';
    END IF;

    -- Kept in registration order, added ones last, each once.
    SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO props
    FROM (SELECT DISTINCT ON (x) x, o
          FROM unnest(node.columns || coalesce(add_properties, '{}')) WITH ORDINALITY AS u (x, o)
          WHERE NOT x = ANY (coalesce(remove_properties, '{}'))
          ORDER BY x, o) AS k;
    SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO filters
    FROM (SELECT DISTINCT ON (x) x, o
          FROM unnest(node.filter_columns || coalesce(add_filter_columns, '{}')) WITH ORDINALITY AS u (x, o)
          WHERE NOT x = ANY (coalesce(remove_filter_columns, '{}'))
          ORDER BY x, o) AS k;
    IF props = node.columns AND filters = node.filter_columns
       AND filter_sql IS NOT DISTINCT FROM node.row_filter THEN
        RETURN tbl;
    END IF;
    -- Its tables' locks first (graph._lock_sources: a build's lock of its sources),
    -- before it writes the registry rows a build writes too (graph._after_build) and
    -- graph._sync_state's row: a build takes its sources' locks, then those rows, and
    -- a registration holding them while it waited for the table deadlocked with it.
    -- Waited for at most 5 s (then 55P03 naming the table), as a read's lock: a writer
    -- holding its table IN SHARE MODE in an open transaction kept the call waiting as
    -- long as it liked, where a change of registered columns alone, which takes no
    -- lock of the table, had not waited at all (tests/test_writer_poison.py).
    PERFORM graph._lock_sources(ARRAY[tbl::oid], false);
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
    UPDATE graph._node_tables AS n
    SET columns = props, filter_columns = filters, row_filter = filter_sql, row_filter_columns = filter_cols
    WHERE n.table_oid = tbl;
    -- The table's lock (its triggers' DDL) before graph._sync_state's row, as a build
    -- takes its sources' locks before the row: one order (tests/test_writer_poison.py).
    -- That DDL (where the triggers need it: one its owner disabled or dropped, which
    -- graph._install_capture enables or creates again) takes SHARE ROW EXCLUSIVE, which
    -- the lock above does not: it waited for any writer's open transaction (a plain
    -- UPDATE left open) without bound, and every new writer of the table queued behind
    -- it. Bounded as that lock (5 s, the caller's lock_timeout when shorter), then
    -- 55P03 naming the table: graph._install_capture_bounded (tests/test_writer_poison.py). Not the stronger lock in
    -- the step above: it would hold off, or fail on, every writer of the table for a
    -- change that needs no trigger DDL, as most do.
    PERFORM graph._install_capture_bounded(ARRAY[tbl::oid], 'repair');
    UPDATE graph._sync_state SET build_required = true;
    RETURN tbl;
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

COMMENT ON FUNCTION graph.alter_table(regclass, text[], text[], text[], text[], text, boolean) IS
'Add or remove property and filter columns of a registered node table, set or clear its row filter; regenerates capture and flags a rebuild.';
