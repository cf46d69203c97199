-- graph._node_delta(): the nodes touched since the base was built (every node
-- created since is touched too): their ids, alive flags and tables, and the
-- next free node id. Structural only: no key, tenant or property. SECURITY
-- DEFINER so every role derives the same alive flags from it.
-- Reads: graph._nodes.
CREATE OR REPLACE FUNCTION graph._node_delta(
    OUT node_ids bigint[],
    OUT alive boolean[],
    OUT table_oids oid[],
    OUT top bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        coalesce(array_agg(n.node_id), '{}'),
        coalesce(array_agg(n.alive), '{}'),
        coalesce(array_agg(n.table_oid), '{}'),
        (SELECT coalesce(max(m.node_id), -1) + 1 FROM graph._nodes AS m)
    FROM graph._nodes AS n
    WHERE n.touched
$$;

COMMENT ON FUNCTION graph._node_delta() IS
'Internal (reads): ids, alive flags and tables of the nodes touched since the build, and the next node id.';
