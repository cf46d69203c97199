-- 422-pending-by-xid: a read that keeps a folded view reads the rows committed since
-- its last read through one view and one index scan, not two views and three scans.
--
-- graph._pending_visible finds every pending row without a bound from its caller:
-- by id above applied_sync_id and by the xids done_snapshot names (migration 305),
-- each branch with its own scans and subqueries. A read onto a kept folded view asks
-- only the rows its last snapshot (seen) did not see, and each of those has an xid
-- at or above seen's xmin (an xid below it had ended when seen was taken: committed,
-- so visible in it, or rolled back); graph._pending_columns read the view twice for
-- them (the rows above the highest log id the view held, and those below it from
-- seen's xmin on), some 60 plan nodes set up for one row: 67-74 us of a call against
-- 21-28 this way (issue 9, benchmarks/READS_UNDER_WRITES.md).
--
-- graph._pending_by_xid holds the same rows as graph._pending_visible, decided the
-- same way, as the definition states them (graph._pending_log's header): a log row
-- is pending when its transaction is not visible in done_snapshot and, during a pass
-- committed half-way, not visible in target_snapshot with an id at or below
-- target_position; rows a build read in its own transaction (build_xid, up to
-- build_position) are in the base. It has one branch and no access path of its own:
-- its caller bounds xid from below (graph._pending_columns: xid >= seen's xmin), which
-- the log's btree index on xid (migration 200) then reads. Read without such a bound
-- it reads the whole log: it is for that caller only.
--
-- Privileges as graph._pending_visible's (migration 250): a security-barrier view that
-- reads the log with its owner's rights and decides, as the role reading it, which
-- rows that role gets -- those of tables it may SELECT and whose row-level security
-- does not apply to it. Decided row by row: it returns the few rows committed since a
-- read's last one (a fold of many reads graph._pending_visible, which decides them
-- once per registered table). PUBLIC may SELECT it (sql/privileges.sql), as
-- graph._pending_visible.
--
-- graph._pending_columns and graph._pending_rows lose their fourth argument (after,
-- the highest log id the kept view held: migration 330), which no lookup needs now.
-- A function with other arguments is a new function beside the old one: the old
-- ones are dropped here, and the install creates the new ones (as migration 330 did).
CREATE VIEW graph._pending_by_xid WITH (security_barrier) AS
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
FROM graph._sync_state AS s
INNER JOIN graph._sync_log AS l
    ON
        NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
        AND (
            s.target_snapshot IS NULL
            OR NOT (
                pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, s.target_snapshot)
                AND s.target_position >= l.id
            )
        )
        AND NOT (s.build_xid = l.xid AND s.build_position >= l.id)
WHERE
    CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END;

COMMENT ON VIEW graph._pending_by_xid IS
'Internal (reads): graph._pending_visible''s rows (pending log rows of tables the reader may SELECT and whose row-level security does not apply to it), for a caller that bounds xid from below: migration 422.';

DROP FUNCTION IF EXISTS graph._pending_rows(regrole, integer, pg_snapshot, bigint);
DROP FUNCTION IF EXISTS graph._pending_columns(regrole, integer, pg_snapshot, bigint);
