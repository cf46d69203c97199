-- graph.apply_sync(max_batches): replay committed, unapplied log rows into the
-- graph in batches of graph.sync_batch_size (all of them when max_batches is
-- NULL; a negative max_batches is 22023). Batch membership is decided by
-- transaction visibility, so a transaction that commits late is never skipped; graph writes and the cursor
-- commit with the caller's transaction. Admin only. Returns what it applied,
-- and why it stopped early, if it did ('failed_row'; 'edge_buffer_full' only
-- when the rebuild below failed). A backlog holding more edge changes than
-- graph.edge_buffer_size has room for (a bulk load) is folded into a rebuild of
-- the base within the call (graph.build(), which marks the rows it read
-- applied), as is a graph a read's apply turned read-only for that reason, and
-- a backlog large against the graph (graph.rebuild_backlog_rows, at least half
-- the base's nodes and edges): rebuilt before any of it is replayed.
-- Touches: graph._nodes, graph._edge_overlay, graph._edge_cuts,
-- graph._labels, graph._sync_state, graph._sync_log.error_message, and what
-- graph.build touches when it rebuilds.
-- PL/pgSQL around graph._apply_sync, which does the work in PL/Python: an error
-- reaches the caller with its SQLSTATE, message, detail and hint only. It
-- checks the caller first, so EXECUTE granted on it by mistake opens nothing.
CREATE OR REPLACE FUNCTION graph.apply_sync(
    max_batches integer DEFAULT NULL,
    OUT inserts bigint,
    OUT updates bigint,
    OUT deletes bigint,
    OUT truncates bigint,
    OUT batches bigint,
    OUT failed bigint,
    OUT stopped text
)
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
    IF max_batches < 0 THEN
        RAISE EXCEPTION 'max_batches must be >= 0, not %', max_batches USING ERRCODE = '22023',
            HINT = 'Pass NULL (the default) to apply every pending row.';
    END IF;
    SELECT r.*
    INTO inserts, updates, deletes, truncates, batches, failed, stopped
    FROM graph._apply_sync(max_batches) AS r;
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

COMMENT ON FUNCTION graph.apply_sync(integer) IS
'Replay committed log rows into the graph in bounded batches (a backlog larger than the edge buffer or large against the graph is folded into a rebuild); returns counts per operation. Admin only.';
