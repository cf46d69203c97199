-- graph._row_visible(table_oid, pk, as_role, snapshot, statement_at): whether the
-- current role can see the row of source table table_oid whose key renders as pk.
-- The row-level security policy of graph._nodes (migration 180) calls it for the
-- nodes of tables whose own row-level security applies to the reader, passing
-- current_user, the current snapshot and the statement's start: the rows the
-- role can see are read once per table for those (one query on the table, as the
-- caller, through reads/row_policy.py) and each node is then a set lookup.
-- SECURITY INVOKER: the table's policies decide as the caller, as in SQL; it runs
-- nothing with more privileges than its caller, and the policy never calls it
-- for graph_admin members (graphsync's definer roles). PUBLIC's to run (a policy
-- calls it as whoever reads graph._nodes); called directly it answers what a
-- SELECT on the table shows the caller. Reads: the table, graph._node_tables.
CREATE OR REPLACE FUNCTION graph._row_visible(
    table_oid oid, pk text, as_role name, snapshot text, statement_at timestamptz
)
RETURNS boolean
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import row_policy
return row_policy.visible(plpy, table_oid, pk, (as_role, snapshot, statement_at))
$$;

COMMENT ON FUNCTION graph._row_visible(oid, text, name, text, timestamptz) IS
'Internal: whether the caller can see the source row a node stands for (graph._nodes'' row-level security calls it where the source''s own applies).';
