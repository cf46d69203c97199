-- 425-label-policy-per-label: graph._labels' row policy asks about each label
-- row it checks, not for every label the reader can see. Before, the policy's
-- graph._visible_labels() read the distinct values of every asked label column
-- in every row the reader could see, once per statement: under a join table's
-- row-level security that was most of a depth-2 read (43-50 ms of 50 at
-- 500,000 links). graph._label_visible(label, ...) answers one label: a fixed
-- label at once, a column's value by reading that column's visible rows in
-- growing ranges of the table's pages until the label is found (or every page
-- is read), the values found kept for the statement (reads/label_policy.py).
-- The scope is graph._row_scope(), as graph._nodes' policy passes it (migration
-- 295). Everything else in the policy is migration 245's.
-- graph._label_visible is created here with a body that answers false, so that
-- the policy can name it; sql/functions/graph._label_visible.sql gives it its
-- body.
CREATE FUNCTION graph._label_visible(label text, as_role name, snapshot text, statement_at timestamptz)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT false $$;

ALTER POLICY graphsync_read ON graph._label_rows
USING (
    CASE
        WHEN (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')) THEN true
        ELSE graph._label_visible(
            label, current_user, (SELECT graph._row_scope()), pg_catalog.statement_timestamp()
        )
    END
);

DROP FUNCTION graph._visible_labels(name, text, timestamptz);
