-- graph._health_masked(): graph._health(false), for every role: the row of
-- graph.sync_health() without the message of a failed log row, a failed
-- maintenance run or a failed pg_cron run (each may quote any table's values),
-- plus the latest failed log row's id. SECURITY DEFINER, owned by graph_sync, so
-- any role can read health without reading the log (migration 285).
-- Reads: what graph._health reads.
CREATE OR REPLACE FUNCTION graph._health_masked(

    OUT sync_mode text,
    OUT query_freshness text,
    OUT sync_batch_size bigint,
    OUT sync_error_policy text,
    OUT applied_sync_id bigint,
    OUT max_sync_log_id bigint,
    OUT pending_sync_rows bigint,
    OUT oldest_pending_age interval,
    OUT failed_sync_rows bigint,
    OUT last_error text,
    OUT disabled_trigger_count bigint,
    OUT missing_trigger_count bigint,
    OUT missing_triggers text,
    OUT edge_buffer_used bigint,
    OUT edge_buffer_size bigint,
    OUT tombstone_count bigint,
    OUT needs_vacuum boolean,
    OUT needs_rebuild boolean,
    OUT rebuild_reasons text,
    OUT read_only boolean,
    OUT read_only_reason text,
    OUT build_required boolean,
    OUT generation bigint,
    OUT schema_state text,
    OUT schema_drift text,
    OUT last_maintenance_at timestamptz,
    OUT last_maintenance_status text,
    OUT last_maintenance_error text,
    OUT schedule_state text,
    OUT schedule_last_success_at timestamptz,
    OUT schedule_error text,
    OUT last_verify_at timestamptz,
    OUT last_verify_differences bigint,
    OUT dangling_references bigint,
    OUT duplicate_edges bigint,
    OUT integrity_checked_at timestamptz,
    OUT apply_sync_recommended boolean,
    OUT maintenance_recommended boolean,
    OUT reconcile_recommended boolean,
    OUT next_action text,
    OUT last_change_sync_id bigint,
    OUT notifications_skipped bigint,
    OUT last_failed_id bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM graph._health(false)
$$;

COMMENT ON FUNCTION graph._health_masked() IS
'Internal (health): graph._health(false), for every role: no message of a failed log row, run or pg_cron job.';
