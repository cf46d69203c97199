-- graph._node_ids_held(low, high): how many graph._node_rows rows hold a node id
-- low <= node_id < high. Node ids are dense above a base's node count (replay gives
-- each new node the next id after the largest), so a read that meets an id far past
-- the nodes it holds asks whether every id in between is a row before it allocates
-- for them (reads/view.py, Live.grow_to): an index range scan of the rows it would
-- allocate for, or of the few a forged id leaves. Structural only: a count.
-- SECURITY DEFINER: graph._nodes shows each reader its own rows; reads call it
-- through graph._run_as_definer, as graph_sync: not PUBLIC's.
-- Reads: graph._node_rows (through its primary key).
CREATE OR REPLACE FUNCTION graph._node_ids_held(low bigint, high bigint)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM graph._node_rows AS n WHERE n.node_id >= low AND n.node_id < high
$$;

COMMENT ON FUNCTION graph._node_ids_held(bigint, bigint) IS
'Internal (reads): how many node ids of a range graph._nodes holds.';
