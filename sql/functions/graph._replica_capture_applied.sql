-- graph._replica_capture_applied(): the tables a subscription of this database
-- applies changes to (pg_subscription_rel), with every table they are partitions
-- or inheritance children of, at any depth: a captured table carries replica
-- capture when it is one of them, or when an admin turned it on for every
-- captured table (graph._sync_state.replica_capture) -- what
-- graph._replica_capture_wanted(tbl) says of one table, for all of them at once.
-- The callers that ask of every captured table (graph._trigger_states, read by
-- schema drift, health and maintenance; graph._follow_subscription) read this
-- once and the flag once, not both per captured table: that cost a statement on
-- graph._sync_state and a catalog walk per registered table at each call. Reads
-- the subscriptions' tables and their ancestors only (pg_inherits by inhrelid),
-- not the captured tables. Reads only what every role may read (pg_subscription's
-- oid and subdbid columns). Reads: pg_subscription_rel, pg_subscription,
-- pg_inherits, pg_database.
CREATE OR REPLACE FUNCTION graph._replica_capture_applied()
RETURNS oid[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE applied (relid) AS (
        SELECT r.srrelid
        FROM pg_catalog.pg_subscription_rel AS r
        JOIN pg_catalog.pg_subscription AS s ON s.oid = r.srsubid
        WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d
                           WHERE d.datname = pg_catalog.current_database())
        UNION
        SELECT i.inhparent FROM pg_catalog.pg_inherits AS i JOIN applied AS a ON i.inhrelid = a.relid
    )
    SELECT coalesce(pg_catalog.array_agg(a.relid), '{}') FROM applied AS a
$$;

COMMENT ON FUNCTION graph._replica_capture_applied() IS
'Internal: the tables subscriptions of this database apply to and their ancestors: graph._replica_capture_wanted() of every captured table at once.';
