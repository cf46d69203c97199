-- 095-overlay-count: the edge overlay's row count, kept beside the replay state.
--
-- graph._sync_state.overlay_count: how many rows graph._edge_overlay holds.
-- Replay adds the rows it inserts in the same statement that moves its cursor,
-- and a build, which empties the overlay, sets it to 0; both hold the lock on
-- graph._sync_state, so the count commits and rolls back with the rows it
-- counts. apply_sync() checks graph.edge_buffer_size against it instead of a
-- count(*) of the overlay on every call, which made every apply (also the one
-- a read triggers for a handful of rows) cost O(overlay).
ALTER TABLE graph._sync_state ADD COLUMN overlay_count bigint NOT NULL DEFAULT 0;

UPDATE graph._sync_state SET overlay_count = (SELECT count(*) FROM graph._edge_overlay);

COMMENT ON COLUMN graph._sync_state.overlay_count IS
'Rows in graph._edge_overlay: kept by replay and build, checked against graph.edge_buffer_size.';
