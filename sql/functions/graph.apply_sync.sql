-- graph.apply_sync(max_batches): replay committed, unapplied log rows into the
-- graph in batches of graph.sync_batch_size (all of them when max_batches is
-- NULL). Batch membership is decided by transaction visibility, so a
-- transaction that commits late is never skipped; graph writes and the cursor
-- commit with the caller's transaction. Admin only. Returns what it applied,
-- and why it stopped early, if it did ('failed_row'; 'edge_buffer_full' only
-- when the rebuild below failed). A backlog holding more edge changes than
-- graph.edge_buffer_size has room for (a bulk load) is folded into a rebuild of
-- the base within the call (graph.build(), which marks the rows it read
-- applied), as is a graph a read's apply turned read-only for that reason.
-- Touches: graph._nodes, graph._edge_overlay, graph._edge_cuts,
-- graph._labels, graph._sync_state, graph._sync_log.error_message, and what
-- graph.build touches when it rebuilds.
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
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.sync import apply
return apply.apply_sync(plpy, max_batches)
$$;

COMMENT ON FUNCTION graph.apply_sync(integer) IS
'Replay committed log rows into the graph in bounded batches (a backlog larger than the edge buffer is folded into a rebuild); returns counts per operation. Admin only.';
