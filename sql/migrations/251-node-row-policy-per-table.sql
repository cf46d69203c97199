-- 251-node-row-policy-per-table: graph._nodes' row-level security asks a source
-- table which rows the reader can see only for the nodes of that table a statement
-- reads. Before (migration 180), the first node of any table whose row-level
-- security applies to the reader made the statement read the visible keys of every
-- such table (graph._visible_rows), so a SELECT of one table's nodes ran the
-- policies of the others as the reader. Now the policy asks
-- graph._row_visible(table, key, ...) for each such node: it reads the visible keys
-- of that one table, as the caller, once per statement (reads/row_policy.py), and
-- answers by a set lookup. The snapshot is taken once per statement (an initplan).
-- The policy is found by its name and by what it calls (graph._visible_rows), not
-- by its table's name, so that this holds wherever graph._nodes' rows live.
-- graph._row_visible is created here with a body that answers false, so that the
-- policy can name it; sql/functions/graph._row_visible.sql gives it its body.
CREATE FUNCTION graph._row_visible(tbl oid, pk text, as_role name, snapshot text, statement_at timestamptz)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT false $$;

DO $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        SELECT p.polrelid::regclass
        FROM pg_catalog.pg_policy AS p
        WHERE p.polname = 'graphsync_read'
          AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) LIKE '%graph._visible_rows(%'
    LOOP
        EXECUTE pg_catalog.format($policy$
            ALTER POLICY graphsync_read ON %s
            USING (
                CASE
                    WHEN pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') THEN true
                    WHEN pg_catalog.has_table_privilege(table_oid, 'SELECT') IS NOT true THEN false
                    WHEN NOT pg_catalog.row_security_active(table_oid) THEN true
                    ELSE graph._row_visible(
                        table_oid, pk, current_user, (SELECT pg_catalog.pg_current_snapshot()::text),
                        pg_catalog.statement_timestamp()
                    )
                END
            )$policy$, rel);
    END LOOP;
END;
$$;

DROP FUNCTION graph._visible_rows(name, text, timestamptz);
