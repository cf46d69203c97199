-- 250-pending-rows-as-caller: the pending log rows a read folds are those its
-- caller may read, decided as the caller (current_user), not by the session user.
-- Before, graph._pending_rows was SECURITY DEFINER and took the reading role as an
-- argument, honoured for any role the session user may become: a SECURITY DEFINER
-- function of another role that a victim called (current_user: that role; session
-- user: the victim) read the pending rows of the victim's tables.
-- Now graph._pending_visible, a security-barrier view, holds the pending rows of
-- the tables the role reading it (current_user) may SELECT and whose row-level
-- security does not apply to it: its privilege and row-security checks run as
-- whoever reads the view, where a definer could not tell its caller. It reads the
-- log with its owner's rights (the installer's: the log stays admin-only for every
-- other read), by the ids graph._pending_ids() returns (SECURITY DEFINER: ids of
-- pending rows, no value). graph._pending_rows becomes a SECURITY INVOKER function
-- over the view: dropped here (it was graph_sync's), the install creates it again.
-- graph._pending_ids is created here with a body that returns nothing, so that the
-- view can name it; sql/functions/graph._pending_ids.sql gives it its body.
DROP FUNCTION IF EXISTS graph._pending_rows(regrole, integer, pg_snapshot);

CREATE FUNCTION graph._pending_ids()
RETURNS TABLE (id bigint)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT NULL::bigint WHERE false $$;

-- Columns: those of graph._sync_log a read folds (its values as text, as
-- graph._pending_rows returns them), and the row's transaction (xid), so that a
-- read may leave out the rows an earlier snapshot saw.
CREATE VIEW graph._pending_visible WITH (security_barrier) AS
SELECT
    l.id,
    l.op,
    l.table_oid,
    l.old_pk,
    l.new_pk,
    l.properties::text AS properties,
    l.old_row::text AS old_row,
    l.new_row::text AS new_row,
    l.xid
FROM graph._pending_ids() AS p
INNER JOIN graph._sync_log AS l ON p.id = l.id
WHERE
    CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE false
    END;
