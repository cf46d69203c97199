-- graph._label_visible(label, as_role, snapshot, statement_at): whether the
-- current role can see label: an edge source's fixed label, or a value of a
-- label column in a row of its carrying table that the role may SELECT and can
-- see under that table's row-level security. The row-level security policy of
-- graph._labels (migration 425) asks it for each label row it checks, passing
-- current_user, the scope token graph._row_scope() and the statement's start:
-- each label column is read as the caller, in growing ranges of its table's
-- pages, until the label is found or every page is read, and what was found is
-- kept for the rest of the statement (reads/label_policy.py).
-- SECURITY INVOKER: the tables' policies decide as the caller, as in SQL; it runs
-- nothing with more privileges than its caller, and the policy never calls it for
-- graph_admin members (graphsync's definer roles). PUBLIC's to run (a policy calls
-- it as whoever reads graph._labels); called directly it answers what SELECTs on
-- those tables show the caller. Called once per label row: the function the body calls
-- is kept in SD once the package is settled (as graph._row_visible does). Reads: the
-- tables, graph._edge_sources.
CREATE OR REPLACE FUNCTION graph._label_visible(label text, as_role name, snapshot text, statement_at timestamptz)
RETURNS boolean
LANGUAGE plpython3u
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:
    SD["graphsync"] = True
visible = SD.get("label_visible")
if visible is None:
    from graphsync.reads import label_policy
    visible = label_policy.label_visible
    if "graphsync" in SD:
        SD["label_visible"] = visible
return visible(plpy, label, (as_role, snapshot, statement_at))
$$;

COMMENT ON FUNCTION graph._label_visible(text, name, text, timestamptz) IS
'Internal: whether the caller can see an edge label in the sources (graph._labels'' row-level security asks, label by label).';
