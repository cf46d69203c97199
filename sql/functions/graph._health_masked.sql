-- graph._health_masked(): graph._health(false), for every role: health, the row of
-- graph.sync_health() (graph.sync_health_row) without the message of a failed log
-- row, a failed maintenance run or a failed pg_cron run (each may quote any
-- table's values), and last_failed_id, the latest failed log row's id.
-- SECURITY DEFINER, owned by graph_sync, so any role can read health without
-- reading the log (migration 285).
-- Reads: what graph._health reads.
CREATE OR REPLACE FUNCTION graph._health_masked(
    OUT health graph.sync_health_row,
    OUT last_failed_id bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.health, h.last_failed_id FROM graph._health(false) AS h
$$;

COMMENT ON FUNCTION graph._health_masked() IS
'Internal (health): graph._health(false), for every role: no message of a failed log row, run or pg_cron job.';
