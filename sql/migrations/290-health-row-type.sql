-- 290-health-row-type: the shape of the health row, defined once.
-- graph.sync_health() returns graph.sync_health_row; graph._health(reveal) and
-- graph._health_masked() return that row (health) and the id of the latest
-- failed log row (last_failed_id). Before, each of the three restated the row's
-- 42 columns as OUT parameters. A health column is now added here, by a new
-- migration (ALTER TYPE graph.sync_health_row ADD ATTRIBUTE ...), and set in
-- graph._health: the other two functions pass the row on unchanged.
-- The functions are dropped so that the install creates them again with their
-- new result type (CREATE OR REPLACE cannot change it); the install also gives
-- them back their owners, grants and comments (sql/privileges.sql).
-- The type belongs to the installing role, like the tables: no definer role and
-- no graph_admin member may alter it (a column dropped or retyped would change
-- every caller's row). USAGE stays PUBLIC's, as for any type: it lets a role
-- name the type (a variable of it, a cast to it), not read any health.
DROP FUNCTION IF EXISTS graph.sync_health();
DROP FUNCTION IF EXISTS graph._health_masked();
DROP FUNCTION IF EXISTS graph._health(boolean);

-- Columns (what each holds: sql/functions/graph.sync_health.sql and the README):
CREATE TYPE graph.sync_health_row AS (
    -- how changes reach the graph, and the settings that bound replay
    sync_mode text,
    query_freshness text,
    sync_batch_size bigint,
    sync_error_policy text,
    -- replay position, log high-water, pending and failed rows
    applied_sync_id bigint,
    max_sync_log_id bigint,
    pending_sync_rows bigint,
    oldest_pending_age interval,
    failed_sync_rows bigint,
    last_error text,
    -- capture triggers
    disabled_trigger_count bigint,
    missing_trigger_count bigint,
    missing_triggers text,
    -- overlay pressure and the base
    edge_buffer_used bigint,
    edge_buffer_size bigint,
    tombstone_count bigint,
    needs_vacuum boolean,
    needs_rebuild boolean,
    rebuild_reasons text,
    read_only boolean,
    read_only_reason text,
    build_required boolean,
    generation bigint,
    -- schema drift
    schema_state text,
    schema_drift text,
    -- maintenance, its schedule, the last source and integrity checks
    last_maintenance_at timestamptz,
    last_maintenance_status text,
    last_maintenance_error text,
    schedule_state text,
    schedule_last_success_at timestamptz,
    schedule_error text,
    last_verify_at timestamptz,
    last_verify_differences bigint,
    dangling_references bigint,
    duplicate_edges bigint,
    integrity_checked_at timestamptz,
    -- what to do next
    apply_sync_recommended boolean,
    maintenance_recommended boolean,
    reconcile_recommended boolean,
    next_action text,
    -- change notifications (migration 100)
    last_change_sync_id bigint,
    notifications_skipped bigint
);

COMMENT ON TYPE graph.sync_health_row IS
'The row graph.sync_health() returns (migration 290): its one definition, also returned by graph._health and graph._health_masked.';
