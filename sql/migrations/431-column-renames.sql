-- 431-column-renames: graph._column_renames, how many times the schema-change
-- follower (plpython/graphsync/ops/follow.py) renamed the registration and the
-- pending log rows of each captured table, which a replay compares to know that
-- the registry it holds names the columns the log rows it fetched carry.
--   table_oid  the captured table whose columns were renamed
--   renames    how many renames of it committed; only ever grows
-- The follower runs in the table owner's own DDL transaction. It locked
-- graph._sync_state's one row (and for a renamed property or filter column wrote
-- build_required on it) so that no replay ran halfway through the rows it renames:
-- an owner -- no admin -- who renamed a column and left the transaction open made
-- every apply, every read's apply and every maintenance run wait, for the rows of
-- every table. Now it bumps its table's row here, which locks that row alone, and
-- a replay reads the sum of renames with the registry and again with each batch of
-- log rows (in the same statement): when the two differ, a rename committed in
-- between, and it reads the registry and the batch again. Rows are never deleted,
-- so the sum only grows (tests/test_abuse_open_rename.py).
-- The registry's statement triggers (graph._bump_graph_version, migration 002)
-- locked the state row too and wrote graph._graph_version's one row, which every
-- apply writes: while the follower renames (graphsync.following_rename, a setting it
-- sets for its own statements alone) they leave both alone, and the version a read
-- keys its caches on is graph._graph_version's plus this sum (reads/view.py KEY),
-- which moves when the rename commits.
CREATE TABLE graph._column_renames (
    table_oid oid PRIMARY KEY,
    renames bigint NOT NULL DEFAULT 0
);

COMMENT ON TABLE graph._column_renames IS
'Renames of each captured table''s registered columns the schema-change follower committed (a count that only grows): replay reads the registry and the log rows under the same names by it (migration 431).';

CREATE OR REPLACE FUNCTION graph._bump_graph_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The schema-change follower's renames of the registry (ops/follow.py): counted
    -- in graph._column_renames instead, which holds up no replay.
    IF TG_TABLE_NAME IN ('_node_tables', '_edge_sources')
       AND pg_catalog.current_setting('graphsync.following_rename', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM FROM graph._sync_state FOR UPDATE;
    UPDATE graph._graph_version SET version = nextval('graph._graph_version_seq');
    RETURN NULL;
END;
$$;
