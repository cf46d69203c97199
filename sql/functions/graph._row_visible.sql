-- graph._row_visible(tbl, pk, as_role, snapshot, statement_at): whether the current
-- role can see the row of registered node table tbl whose key (as
-- graph._key_expr renders it) is pk. The row-level security policy of graph._nodes
-- (migration 251) asks it for each node of a table whose row-level security
-- applies to the reader, passing current_user, the statement's snapshot and start:
-- a statement's first questions about a table ask the table for that key's row,
-- and past a share of its rows the table's visible keys are read once (as the
-- caller: reads/row_policy.py); the answers are kept for the rest of the
-- statement, so a statement runs the policy of no table but those whose nodes it
-- reads, and reads a few rows of a table when it reads a few of its nodes.
-- SECURITY INVOKER: the table's policies decide as the caller, as in SQL; it runs
-- nothing with more privileges than its caller, and the policy never calls it for
-- graph_admin members (graphsync's definer roles). PUBLIC's to run (a policy calls
-- it as whoever reads graph._nodes); called directly it answers what a SELECT on
-- the table shows the caller (false for a table it may not SELECT or that is not
-- registered). Called once per node: the function the body calls is kept in SD once
-- the package is settled (as "graphsync" is elsewhere: an install compiles the
-- function again, with an empty SD), not imported at each call. Reads: the table,
-- graph._node_tables.
CREATE OR REPLACE FUNCTION graph._row_visible(tbl oid, pk text, as_role name, snapshot text, statement_at timestamptz)
RETURNS boolean
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
visible = SD.get("row_visible")
if visible is None:
    from graphsync.reads import row_policy
    visible = row_policy.row_visible
    if "graphsync" in SD:
        SD["row_visible"] = visible
return visible(plpy, tbl, pk, (as_role, snapshot, statement_at))
$$;

COMMENT ON FUNCTION graph._row_visible(oid, text, name, text, timestamptz) IS
'Internal: whether the caller can see the row of a node table with a given key (graph._nodes'' row-level security asks, per node of a table whose row-level security applies).';
