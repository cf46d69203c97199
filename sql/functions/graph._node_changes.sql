-- graph._node_changes(after, upto): the nodes changed by replay statements
-- numbered after < change_id <= upto (migration 070): their ids, alive flags and
-- tables, and the highest change_id among them (NULL when none). Structural only:
-- no key, tenant or property. SECURITY DEFINER so every role derives the same
-- alive flags from it (graph._nodes shows each reader its own rows); reads call
-- it through graph._run_as_definer, as graph_sync: not PUBLIC's, since which rows
-- of a table changed when is not every reader's to learn.
-- Reads: graph._node_rows (through _nodes_change_idx).
CREATE OR REPLACE FUNCTION graph._node_changes(
    after bigint,
    upto bigint,
    OUT node_ids bigint[],
    OUT alive boolean[],
    OUT table_oids oid[],
    OUT last bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        coalesce(array_agg(n.node_id ORDER BY n.change_id), '{}'),
        coalesce(array_agg(n.alive ORDER BY n.change_id), '{}'),
        coalesce(array_agg(n.table_oid ORDER BY n.change_id), '{}'),
        max(n.change_id)
    FROM graph._node_rows AS n
    WHERE n.change_id > after AND n.change_id <= upto
$$;

COMMENT ON FUNCTION graph._node_changes(bigint, bigint) IS
'Internal (reads): ids, alive flags and tables of the nodes changed by replay after a change number.';
