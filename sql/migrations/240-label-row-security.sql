-- 240-label-row-security: graph._labels shows a role only the labels it could read
-- from the sources itself. A label_column's values are row values: before, every
-- role read every label of graph._labels, those of rows it may not SELECT or whose
-- policy hides them included.
-- A role sees a label when it is the fixed label of an edge source (registry text,
-- public in graph._edge_sources) or the value of a label column in a row of the
-- carrying table that the role may SELECT and, under that table's row-level
-- security, can see: graph._visible_labels() reads those columns as the caller,
-- once per statement (reads/label_policy.py). graph_admin members (graphsync's
-- definer roles among them) see every label and never run a source's policy from
-- here. Reads load the labels as their caller, so a reader's read names only the
-- labels it may see; an edge whose label it may not see shows no label.
-- graph._visible_labels is created here with a body that returns nothing, so that
-- the policy can name it; sql/functions/graph._visible_labels.sql gives it its
-- body on every install.
CREATE FUNCTION graph._visible_labels(as_role name, snapshot text, statement_at timestamptz)
RETURNS TABLE (label text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NULL::text WHERE false $$;

ALTER TABLE graph._labels ENABLE ROW LEVEL SECURITY;

CREATE POLICY graphsync_admin ON graph._labels TO graph_admin USING (true) WITH CHECK (true);

CREATE POLICY graphsync_read ON graph._labels FOR SELECT TO public
USING (
    CASE
        WHEN pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN true
        ELSE label IN (
            SELECT v.label
            FROM graph._visible_labels(
                current_user, pg_catalog.pg_current_snapshot()::text, pg_catalog.statement_timestamp()
            ) AS v
        )
    END
);
