-- graph.add_table(tbl, id_columns, columns, tenant_column, row_filter): register
-- tbl as a node table. Each row becomes a node keyed by id_columns (default: the
-- primary key, else a unique key on NOT NULL columns; composite keys allowed),
-- carrying columns as properties and tenant_column as its tenant. row_filter: a
-- boolean expression over tbl's columns (graph._check_filter: PostgreSQL's own
-- immutable code only); rows failing it are no nodes. Installs the capture
-- triggers; rows already in tbl enter the graph at the next graph.build().
-- A column named twice in id_columns or columns is refused (42701).
-- Returns the table. Touches: graph._node_tables, triggers on tbl. Reads the
-- registry's rows of tbl only, by index (enable_seqscan off for all it runs:
-- registering n tables read O(n^2) rows while the registry looked small enough to
-- read whole), and buys no JIT compilation or parallel workers for a statement
-- that has no index to use.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.add_table(
    tbl regclass,
    id_columns text[] DEFAULT NULL,
    columns text[] DEFAULT '{}',
    tenant_column text DEFAULT NULL,
    row_filter text DEFAULT NULL
)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
AS $$
DECLARE
    key_cols text [] := graph._table_key(tbl);
    filter_sql text;
    filter_cols text [] := '{}';
    twice text;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    PERFORM graph._check_table(tbl);
    IF EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = tbl) THEN
        RAISE EXCEPTION 'table % is already registered', tbl USING ERRCODE = '42710',
            HINT = 'Call graph.remove_table first to register it again.';
    END IF;
    -- A column named twice is a mistake (it was kept once, or failed as no key): 42701.
    SELECT format('column %s is named twice in %s', quote_ident(u.c), u.arg) INTO twice
    FROM (SELECT 'id_columns' AS arg, 1 AS n, x AS c, o FROM unnest(id_columns) WITH ORDINALITY AS i (x, o)
          UNION ALL
          SELECT 'columns', 2, x, o FROM unnest(columns) WITH ORDINALITY AS i (x, o)) AS u
    WHERE u.c IS NOT NULL
    GROUP BY u.arg, u.n, u.c HAVING count(*) > 1
    ORDER BY u.n, min(u.o) LIMIT 1;
    IF twice IS NOT NULL THEN
        RAISE EXCEPTION '%', twice USING ERRCODE = '42701';
    END IF;
    IF id_columns IS NOT NULL THEN
        PERFORM graph._check_columns(tbl, id_columns);
        IF cardinality(id_columns) = 0 OR NOT EXISTS (
            SELECT FROM pg_catalog.pg_index AS i
            WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL
              AND i.indexprs IS NULL
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
                   FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = tbl AND a.attnum = ANY (i.indkey))
                  = (SELECT array_agg(c ORDER BY c) FROM unnest(id_columns) AS c)
        ) OR EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = tbl AND a.attname = ANY (id_columns) AND NOT a.attnotnull
        ) THEN
            RAISE EXCEPTION 'columns % of table % are not a primary key or a unique key on NOT NULL columns',
                id_columns, tbl USING ERRCODE = '42P10';
        END IF;
        key_cols := id_columns;
    ELSIF key_cols IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key and no unique key on NOT NULL columns', tbl
            USING ERRCODE = '42P10', HINT = 'Add a primary key, or pass id_columns.';
    END IF;
    PERFORM graph._check_columns(tbl, coalesce(columns, '{}'));
    IF tenant_column IS NOT NULL THEN
        PERFORM graph._check_columns(tbl, ARRAY[tenant_column]);
    END IF;

    IF row_filter IS NOT NULL THEN
        SELECT f.expression, f.columns INTO filter_sql, filter_cols FROM graph._check_filter(tbl, row_filter) AS f;
    END IF;

    -- The lock its CREATE TRIGGER takes (SHARE ROW EXCLUSIVE), first: the registry
    -- write below takes graph._sync_state's row (graph._bump_graph_version), and the
    -- DDL waiting after it for a writer of the table whose transaction then applied
    -- (waiting for that row) deadlocked with it, 40P01 for one of them
    -- (tests/test_lock_order_race.py). Locked first, the call waits for the writer
    -- holding nothing its apply needs: the order of a build (its sources' locks, then
    -- the row). At most 5 s (the caller's lock_timeout when shorter), then 55P03
    -- naming the table (tests/test_writer_poison.py). graph._lock_for_capture is a
    -- definer (LOCK TABLE in that mode needs more than the TRIGGER an admin has),
    -- given the table only when the caller has TRIGGER on it; not while capture is
    -- deferred (graph.add_schema locks its tables itself, before its first write).
    IF current_setting('graphsync.deferring_capture', true) IS DISTINCT FROM 'on'
       AND has_table_privilege(tbl, 'TRIGGER') THEN
        PERFORM graph._lock_for_capture(ARRAY[tbl::oid], 'install');
    END IF;
    INSERT INTO graph._node_tables (table_oid, table_name, id_columns, columns, tenant_column, row_filter,
                                    row_filter_columns)
    VALUES (tbl, tbl::text, key_cols, coalesce(columns, '{}'), tenant_column, filter_sql, filter_cols);
    -- CREATE TRIGGER then finds its lock held; bounded all the same (a partition
    -- attached meanwhile is none: the lock above holds off ATTACH PARTITION):
    -- graph._install_capture_bounded.
    PERFORM graph._install_capture_bounded(ARRAY[tbl::oid], 'install');
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

COMMENT ON FUNCTION graph.add_table(regclass, text[], text[], text, text) IS
'Register a table as a node table: key columns (default: primary key), property columns, tenant column, row filter (rows failing it are no nodes). Installs capture triggers; run graph.build() to load existing rows.';
