-- graph.sync_health(): one row on the state of replay, for psql (\x) and
-- monitors: replay position and high-water, pending and failed log rows,
-- disabled capture triggers, edge buffer pressure, read-only state.
-- SECURITY DEFINER so any role can read health without reading the log.
-- Reads: graph._sync_state, graph._sync_log, graph._edge_overlay, pg_trigger.
CREATE OR REPLACE FUNCTION graph.sync_health(
    OUT applied_sync_id bigint,
    OUT max_sync_log_id bigint,
    OUT pending_sync_rows bigint,
    OUT failed_sync_rows bigint,
    OUT last_error text,
    OUT disabled_trigger_count bigint,
    OUT edge_buffer_used bigint,
    OUT edge_buffer_size bigint,
    OUT read_only boolean,
    OUT read_only_reason text,
    OUT build_required boolean,
    OUT generation bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        s.applied_sync_id,
        (SELECT max(l.id) FROM graph._sync_log AS l),
        (SELECT count(*) FROM graph._pending_log()),
        (SELECT count(*) FROM graph._sync_log AS l WHERE l.error_message IS NOT NULL),
        (SELECT l.error_message FROM graph._sync_log AS l
         WHERE l.error_message IS NOT NULL ORDER BY l.id DESC LIMIT 1),
        (SELECT count(*) FROM pg_catalog.pg_trigger AS t
         WHERE t.tgname LIKE 'graphsync\_capture\_%' AND t.tgenabled = 'D'),
        (SELECT count(*) FROM graph._edge_overlay),
        coalesce(nullif(current_setting('graph.edge_buffer_size', true), ''), '100000')::bigint,
        s.read_only,
        s.read_only_reason,
        s.build_required,
        s.generation
    FROM graph._sync_state AS s
$$;

COMMENT ON FUNCTION graph.sync_health() IS
'One row of replay health: applied position, log high-water, pending and failed rows, disabled triggers, edge buffer use, read-only state.';
