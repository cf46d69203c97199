-- graph._visible_rows(as_role, snapshot, statement_at): (table, key) of every row
-- the current role can see in the registered node tables whose row-level
-- security applies to it (and that it may SELECT). The row-level security
-- policy of graph._nodes (migration 180) asks it, passing current_user, the
-- current snapshot and the statement's start: each table is read once for those
-- (one query on the table, as the caller, its keys as graph._key_expr renders
-- them: reads/row_policy.py) and kept for the rest of the statement.
-- SECURITY INVOKER: the tables' policies decide as the caller, as in SQL; it
-- runs nothing with more privileges than its caller, and the policy never calls
-- it for graph_admin members (graphsync's definer roles). PUBLIC's to run (a
-- policy calls it as whoever reads graph._nodes); called directly it answers
-- what SELECTs on those tables show the caller. Reads: the tables,
-- graph._node_tables.
CREATE OR REPLACE FUNCTION graph._visible_rows(as_role name, snapshot text, statement_at timestamptz)
RETURNS TABLE (table_oid oid, pk text)
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import row_policy
return row_policy.visible_rows(plpy, (as_role, snapshot, statement_at))
$$;

COMMENT ON FUNCTION graph._visible_rows(name, text, timestamptz) IS
'Internal: the keys of the rows the caller can see in the node tables whose row-level security applies to it (graph._nodes'' row-level security asks).';
