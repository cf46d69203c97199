-- graph.remove_table(tbl, cascade): unregister node table tbl, dropping its
-- capture triggers. Edge sources that use it are removed too when cascade (NULL
-- is false), else they block the removal (2BP01). The table's nodes leave the
-- graph at the next graph.build(). Touches: graph._node_tables, graph._edge_sources.
-- Errors reach the caller with SQLSTATE, message, detail and hint only (no
-- internal query text in CONTEXT).
CREATE OR REPLACE FUNCTION graph.remove_table(tbl regclass, cascade boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    carriers oid [];
    member oid;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
BEGIN
    PERFORM graph._require_admin();
    PERFORM graph._node_table(tbl, 'table');
    IF EXISTS (SELECT FROM graph._edge_sources AS e WHERE tbl IN (e.from_table, e.to_table))
       AND NOT coalesce(cascade, false) THEN  -- NULL is no cascade
        RAISE EXCEPTION 'edge sources use table %', tbl USING ERRCODE = '2BP01',
            HINT = 'Remove them with graph.remove_edge, or pass cascade => true.';
    END IF;
    -- Its tables' locks first (graph._lock_sources: a build's lock of its sources),
    -- before it writes the registry rows a build writes too (graph._after_build) and
    -- graph._sync_state's row: a build takes its sources' locks, then those rows, and
    -- a registration holding them while it waited for the table deadlocked with it.
    -- Waited for at most 5 s (then 55P03 naming the table), as alter_table's: a writer
    -- holding a table IN SHARE MODE in an open transaction kept the call waiting as
    -- long as it liked (tests/test_writer_poison.py).
    PERFORM graph._lock_sources(ARRAY(SELECT coalesce(e.via_table, e.from_table) FROM graph._edge_sources AS e
                                      WHERE tbl IN (e.from_table, e.to_table)) || tbl::oid, false);
    -- And the lock the drop of their triggers takes (DROP FUNCTION ... CASCADE: ACCESS
    -- EXCLUSIVE) on tbl and on each carrier left carrying nothing, first: the registry
    -- writes below take graph._sync_state's row (graph._bump_graph_version), and the
    -- drop waiting after them for a writer or reader of the table whose transaction then
    -- applied (waiting for that row) deadlocked with it, 40P01 for one of them
    -- (tests/test_lock_order_race.py). Locked first, the call waits holding nothing that
    -- transaction's apply needs. At most 5 s (the caller's lock_timeout when shorter),
    -- then 55P03 naming the table; a definer (graph._lock_for_capture), given only the
    -- tables the caller has TRIGGER on. A carrier still registered otherwise gets its
    -- capture regenerated, no trigger DDL.
    IF current_setting('graphsync.deferring_capture', true) IS DISTINCT FROM 'on' THEN
        PERFORM graph._lock_for_capture(ARRAY(
            SELECT u.t
            FROM unnest(ARRAY(SELECT DISTINCT coalesce(e.via_table, e.from_table) FROM graph._edge_sources AS e
                              WHERE tbl IN (e.from_table, e.to_table)) || tbl::oid) WITH ORDINALITY AS u (t, o)
            WHERE has_table_privilege(u.t, 'TRIGGER') IS true
              AND (u.t = tbl
                   OR NOT EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = u.t)
                      AND NOT EXISTS (SELECT FROM graph._edge_sources AS e
                                      WHERE u.t IN (e.from_table, e.via_table) AND tbl NOT IN (e.from_table, e.to_table)))
            ORDER BY u.o), 'drop');
    END IF;
    WITH gone AS (
        DELETE FROM graph._edge_sources AS e WHERE tbl IN (e.from_table, e.to_table)
        RETURNING coalesce(e.via_table, e.from_table) AS carrier
    )
    SELECT coalesce(array_agg(DISTINCT carrier), '{}') INTO carriers FROM gone;
    DELETE FROM graph._node_tables AS n WHERE n.table_oid = tbl;
    -- Dropping a table's triggers (DROP FUNCTION ... CASCADE: ACCESS EXCLUSIVE, its
    -- lock taken above) waited for any writer's open transaction (a plain UPDATE left open) without bound, and
    -- every new writer and reader of the table queued behind it. At most 5 s a table
    -- (the caller's lock_timeout when shorter), then 55P03 naming it:
    -- graph._install_capture_bounded (tests/test_writer_poison.py).
    FOREACH member IN ARRAY carriers || tbl::oid LOOP
        PERFORM graph._install_capture_bounded(ARRAY[member], 'drop');
    END LOOP;
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

COMMENT ON FUNCTION graph.remove_table(regclass, boolean) IS
'Unregister a node table (and with cascade, the edge sources that use it); drops its capture triggers.';
