-- graph._visible_labels(as_role, snapshot, statement_at): the labels the current
-- role can see: every edge source's fixed label, and the values of each label
-- column in the rows of its carrying table that the role may SELECT and can see
-- under that table's row-level security. The row-level security policy of
-- graph._labels (migration 240) asks it, passing current_user, the current
-- snapshot and the statement's start: each label column is read once for those
-- (one query on the table, as the caller, each value as capture renders it:
-- reads/label_policy.py) and kept for the rest of the statement.
-- SECURITY INVOKER: the tables' policies decide as the caller, as in SQL; it runs
-- nothing with more privileges than its caller, and the policy never calls it for
-- graph_admin members (graphsync's definer roles). PUBLIC's to run (a policy calls
-- it as whoever reads graph._labels); called directly it answers what SELECTs on
-- those tables show the caller. Reads: the tables, graph._edge_sources.
CREATE OR REPLACE FUNCTION graph._visible_labels(as_role name, snapshot text, statement_at timestamptz)
RETURNS TABLE (label text)
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
from graphsync.reads import label_policy
return label_policy.visible_labels(plpy, (as_role, snapshot, statement_at))
$$;

COMMENT ON FUNCTION graph._visible_labels(name, text, timestamptz) IS
'Internal: the edge labels the caller can see in the sources (graph._labels'' row-level security asks).';
