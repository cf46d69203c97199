-- 438-following-renames: graph._following_renames, the mark by which the
-- registry's statement triggers (graph._bump_graph_version) know a statement of
-- the schema-change follower's renames (plpython/graphsync/ops/follow.py,
-- Follower.rename), which they leave to graph._column_renames (migration 431).
--   xid  the transaction whose follower is renaming, for its own statements only
-- The follower inserts its row before those statements and deletes it after, in
-- the same transaction, so no other session ever sees one. Only graphsync's
-- definer role (graph_sync: graph._follow_registry) and superusers may write it
-- (sql/privileges.sql). The triggers believed a custom setting,
-- graphsync.following_rename, before: any role may SET that in its own session,
-- and a graph admin who did changed the registry without moving
-- graph._graph_version, so every other backend went on reading its cached view of
-- the registry as it was (tests/test_abuse_follower_flag.py).
CREATE TABLE graph._following_renames (
    xid xid8 PRIMARY KEY
);

COMMENT ON TABLE graph._following_renames IS
'The transaction whose schema-change follower is renaming registered columns, for its own statements: the registry''s triggers then leave graph._graph_version to graph._column_renames (migration 438).';

CREATE OR REPLACE FUNCTION graph._bump_graph_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The schema-change follower's renames of the registry (ops/follow.py): counted
    -- in graph._column_renames instead, which holds up no replay. Told by a row only
    -- graphsync's definer role writes, not by anything a session may set.
    IF TG_TABLE_NAME IN ('_node_tables', '_edge_sources') THEN
        IF EXISTS (SELECT FROM graph._following_renames AS f WHERE f.xid = pg_catalog.pg_current_xact_id()) THEN
            RETURN NULL;
        END IF;
    END IF;
    PERFORM FROM graph._sync_state FOR UPDATE;
    UPDATE graph._graph_version SET version = nextval('graph._graph_version_seq');
    RETURN NULL;
END;
$$;
