-- 285-health-visible-as-caller: what graph.sync_health() shows of a failed log
-- row, a failed maintenance run and pg_cron's error is decided by the role running
-- the call (current_user), not by the session user.
-- Before, graph.sync_health was SECURITY DEFINER and asked graph._session_is_admin
-- and graph._session_may_read about the session user, which a SECURITY DEFINER
-- function of another role does not change: that role's code, called by an admin,
-- read the admin-only columns (last_maintenance_error, schedule_error, and
-- last_error, which may quote any table's values); called by a reader, it read
-- last_error of the reader's tables.
-- Now graph.sync_health is a SECURITY INVOKER wrapper: the admin-only columns come
-- from graph._health(true), which only graph_admin (and superusers) may EXECUTE,
-- a privilege checked against current_user; every other role gets
-- graph._health_masked() and the message of the last failed row through
-- graph._failed_visible, a security-barrier view whose checks run as whoever
-- reads it (has_table_privilege and row_security_active, as the reader: the
-- pattern of graph._pending_visible, migration 250). The view reads the log with
-- its owner's rights (the installer's: the log stays admin-only for every other
-- read) and holds only the failed rows of the tables its reader may SELECT and
-- whose row-level security does not apply to it.
-- graph.sync_health is dropped here (it was graph_sync's): the install creates it
-- again, owned by the installer like every invoker function. graph._session_may_read
-- had no other caller: dropped.
DROP FUNCTION IF EXISTS graph.sync_health();
DROP FUNCTION IF EXISTS graph._session_may_read(oid);

-- Columns: the failed row's id, its table (oid, and name as captured) and its
-- error message (which may quote the row's values).
CREATE VIEW graph._failed_visible WITH (security_barrier) AS
SELECT
    l.id,
    l.table_oid,
    l.table_name,
    l.error_message
FROM graph._sync_log AS l
WHERE
    l.error_message IS NOT NULL
    AND CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END;

COMMENT ON VIEW graph._failed_visible IS
'Internal (health): the failed log rows of the tables the reader may SELECT and whose row-level security does not apply to it, decided as the reader (migration 285).';
