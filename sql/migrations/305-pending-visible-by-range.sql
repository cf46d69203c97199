-- 305-pending-visible-by-range: graph._pending_visible reads the pending log rows
-- by a range of the log's primary key, not one probe per id, and decides the
-- reader's privileges once per registered table, not once per row.
-- Before, it joined graph._pending_ids() (every pending row's id, through
-- graph._pending_log(), whole rows into a tuplestore, sorted) to the log, one index
-- probe per id, and asked has_table_privilege and row_security_active for every
-- row: at 100,000 pending rows (a read that folds them) some 0.4-0.7 s of the read's
-- first statement, twice what reading the same rows by a range of ids costs
-- (benchmarks/REPLAY.md).
-- Now the view finds the rows as graph._pending_log() does (its header says why
-- these are all of them), from the state row it reads itself (with its owner's
-- rights, as it reads the log; the caller sees neither), in three branches of which
-- one runs:
--   * between passes, by id above applied_sync_id (the primary key, one range);
--   * between passes, by xid (migration 200) for the transactions done_snapshot
--     counted as running that committed since, or are this one, or are too old for
--     their status to be known (their ids are at or below applied_sync_id, which is
--     tested on each row found, never used to scan the key);
--   * during a pass committed half-way, the ids graph._pending_ids() returns (it
--     scans the log from done_snapshot's xmin on), one probe each, as before.
-- graph._pending_log() stays the definition (graph._read_sync finds the rows it
-- counts by the same two lookups; tests/test_pending_rows.py compares the three on
-- the states they reason about). graph._pending_rows reads this view without
-- sequential or bitmap scans (its header says why).
-- Privileges: the rows of a registered table the reader may SELECT and whose
-- row-level security does not apply to it (decided once per statement, as the
-- reader, for the registered tables: an InitPlan) come back; every other row (an
-- unregistered or dropped table's) is decided as before, row by row. The same rows
-- as before, as the reader decides them.
-- Columns as in migration 250 (CREATE OR REPLACE VIEW keeps them).
CREATE OR REPLACE VIEW graph._pending_visible WITH (security_barrier) AS
WITH s AS (
    SELECT
        st.applied_sync_id,
        st.done_snapshot,
        st.target_snapshot,
        st.target_position,
        st.build_xid,
        st.build_position
    FROM graph._sync_state AS st
),

-- the registered tables (node tables, join tables) the reader may SELECT and whose
-- row-level security does not apply to it
r AS (
    SELECT
        coalesce(pg_catalog.array_agg(t.oid) FILTER (
            WHERE CASE
                WHEN pg_catalog.has_table_privilege(t.oid, 'SELECT')  -- NULL for a table dropped since
                    THEN NOT pg_catalog.row_security_active(t.oid)
                ELSE FALSE
            END
        ), '{}') AS tables
    FROM (
        SELECT n.table_oid FROM graph._node_tables AS n
        UNION
        SELECT e.via_table
        FROM graph._edge_sources AS e
        WHERE e.via_table IS NOT NULL
    ) AS t (oid)
)

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
FROM graph._sync_log AS l
WHERE
    l.id > (SELECT CASE WHEN s.target_snapshot IS NULL THEN s.applied_sync_id END FROM s)
    AND NOT pg_catalog.pg_visible_in_snapshot(l.xid::text::xid8, (SELECT s.done_snapshot FROM s))
    AND NOT (l.xid = (SELECT s.build_xid FROM s) AND l.id <= (SELECT s.build_position FROM s))
    AND CASE
        WHEN l.table_oid = ANY ((SELECT r.tables FROM r)::oid[]) THEN TRUE -- noqa: CP03, LT01, LT06
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')  -- NULL for a table dropped since
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END
UNION ALL
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
FROM graph._sync_log AS l
WHERE
    l.xid = ANY (ARRAY( -- noqa: CP03, LT01, LT06
        SELECT xip.xip::text::bigint
        FROM s CROSS JOIN LATERAL pg_catalog.pg_snapshot_xip(s.done_snapshot) AS xip
        WHERE
            s.target_snapshot IS NULL
            AND (
                xip.xip = pg_catalog.pg_current_xact_id_if_assigned()
                OR pg_catalog.pg_xact_status(xip.xip) IS DISTINCT FROM 'in progress'
                AND pg_catalog.pg_xact_status(xip.xip) IS DISTINCT FROM 'aborted'
            )
    ))
    -- at or below applied_sync_id, tested on each row found (+ 0: never a scan of the key)
    AND l.id + 0 <= (SELECT s.applied_sync_id FROM s)
    AND NOT (l.xid = (SELECT s.build_xid FROM s) AND l.id <= (SELECT s.build_position FROM s))
    AND CASE
        WHEN l.table_oid = ANY ((SELECT r.tables FROM r)::oid[]) THEN TRUE -- noqa: CP03, LT01, LT06
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END
UNION ALL
-- during a pass committed half-way: the rows graph._pending_ids() finds (it scans
-- the log from done_snapshot's xmin on), one probe each, as before this migration
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
    (SELECT s.target_snapshot IS NOT NULL FROM s)
    AND CASE
        WHEN pg_catalog.has_table_privilege(l.table_oid, 'SELECT')
            THEN NOT pg_catalog.row_security_active(l.table_oid)
        ELSE FALSE
    END;
