-- graph._replica_capture_wanted(tbl): whether captured table tbl carries
-- replica capture (the row-level capture function graph._capture_row_<oid> and
-- its triggers, for logical replication's apply worker: graph._write_capture
-- with per_row): when an admin turned it on for every captured table
-- (graph.enable_replica_capture(), graph._sync_state.replica_capture), or when a
-- subscription of this database applies changes to tbl or to one of its
-- partitions or inheritance children (pg_subscription_rel, which lists a
-- subscription's tables from CREATE SUBSCRIPTION or ALTER SUBSCRIPTION ...
-- REFRESH PUBLICATION on; the event trigger graphsync_follow_subscription
-- generates replica capture for them in that same transaction, before the apply
-- worker starts): tbl is one of graph._replica_capture_applied()'s tables (the
-- subscribed ones and their ancestors), the one walk of the subscriptions' tables.
-- Generating capture asks once per table (graph._write_capture). PL/pgSQL, so a session plans its query once: a SQL
-- function that cannot be inlined (SET search_path) is planned again at every
-- call. Those that ask of every captured table (graph._trigger_states: drift,
-- health, maintenance; graph._follow_subscription) read
-- graph._replica_capture_applied() and graph._sync_state once instead. Reads: graph._sync_state, pg_inherits, pg_subscription_rel, pg_subscription.
CREATE OR REPLACE FUNCTION graph._replica_capture_wanted(tbl oid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce((SELECT s.replica_capture FROM graph._sync_state AS s), false)
        OR tbl = ANY (graph._replica_capture_applied());
END;
$$;

COMMENT ON FUNCTION graph._replica_capture_wanted(oid) IS
'Internal: whether a captured table carries replica capture (row-level, for logical replication''s apply worker): turned on for all, or a subscription of this database applies to it.';
