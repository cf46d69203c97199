-- graph._pending_log(): the committed log rows not yet applied (as the cursor
-- in graph._sync_state defines "applied"), in id order. Rows a build read in its
-- own transaction (build_xid, up to build_position) are in the base: not pending.
CREATE OR REPLACE FUNCTION graph._pending_log()
RETURNS SETOF graph._sync_log
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.*
    FROM graph._sync_state AS s
    JOIN graph._sync_log AS l
        ON l.xid >= pg_snapshot_xmin(s.done_snapshot)::text::bigint
       AND NOT pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
       AND NOT (s.target_snapshot IS NOT NULL AND l.id <= s.target_position
                AND pg_visible_in_snapshot(l.xid::text::xid8, s.target_snapshot))
       AND NOT (l.xid = s.build_xid AND l.id <= s.build_position)
    ORDER BY l.id
$$;
