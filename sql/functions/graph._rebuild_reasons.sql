-- graph._rebuild_reasons(rebuild_drift): why the base should be rebuilt now, one text per
-- reason; empty when it should not. Reasons: read-only state, a registration
-- change (build_required), TRUNCATE markers not yet folded (needs_vacuum),
-- overlay pressure (edge overlay rows >= graph.rebuild_overlay_fraction of
-- graph.edge_buffer_size), tombstones (dead nodes changed since the build >=
-- graph.rebuild_tombstone_fraction of the nodes), schema drift a rebuild
-- repairs (a column retyped or replaced: rebuild_drift, the drift rows of
-- graph._schema_drift() whose repair is 'rebuild', as 'table.column kind' joined
-- by ', '; NULL when none). The overlay's rows are graph._sync_state.overlay_count
-- (kept with them, migration 095), not a count of the overlay. Settings are read through
-- graph._setting (defaults in plpython/graphsync/settings.py).
-- graph.sync_health() and run_scheduled_maintenance() both decide by it.
-- PL/pgSQL so the install order of the functions it calls does not matter.
-- Its counts read the log's rows by id and the tombstones by their index whatever
-- the statistics said when its plan was made: kept for the session, the plan a
-- connection made while the graph was a page of nodes read every node at each call
-- after (tests/test_operation_costs.py).
CREATE OR REPLACE FUNCTION graph._rebuild_reasons(rebuild_drift text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- by index, however few rows the statistics say there are
SET jit = off  -- (the state row, with no index to use, costs more then: no JIT compilation for it)
AS $$
DECLARE
    -- Read (and validated) on every call, whether or not a reason needs them.
    buffer bigint := graph._setting('graph.edge_buffer_size')::bigint;
    overlay_fraction float8 := graph._setting('graph.rebuild_overlay_fraction')::float8;
    tombstone_fraction float8 := graph._setting('graph.rebuild_tombstone_fraction')::float8;
BEGIN
    RETURN (
    WITH s AS (
        SELECT
            st.read_only, st.read_only_reason,
            -- or a table's registration the schema-change follower changed (migration 437)
            st.build_required OR EXISTS (SELECT FROM graph._column_renames AS r WHERE r.build_required)
                AS build_required,
            (SELECT count(*) FROM graph._sync_log AS l
             WHERE l.needs_vacuum AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a))) AS truncations,
            st.overlay_count AS overlay,
            (SELECT count(*) FROM graph._node_rows AS n WHERE n.touched AND NOT n.alive) AS tombstones,
            greatest(coalesce((SELECT c.node_count FROM graph._csr AS c
                               WHERE c.generation = st.generation AND c.direction = 'out'), 0), 1) AS nodes,
            rebuild_drift AS drift
        FROM graph._sync_state AS st
    )
    SELECT array_remove(ARRAY[
        CASE WHEN s.read_only THEN 'read-only (' || coalesce(s.read_only_reason, 'no reason') || ')' END,
        CASE WHEN s.build_required THEN 'the registration changed' END,
        CASE WHEN s.truncations > 0 THEN format('%s TRUNCATE marker(s) to fold (needs_vacuum)', s.truncations) END,
        CASE WHEN s.overlay > 0 AND s.overlay >= overlay_fraction * buffer
            THEN format('edge overlay %s of %s rows (rebuild at %s%%)', s.overlay, buffer,
                        round((100 * overlay_fraction)::numeric, 1)) END,
        CASE WHEN s.tombstones > 0 AND s.tombstones >= tombstone_fraction * s.nodes
            THEN format('%s tombstones for %s base nodes (rebuild at %s%%)', s.tombstones, s.nodes,
                        round((100 * tombstone_fraction)::numeric, 1)) END,
        CASE WHEN s.drift IS NOT NULL THEN 'schema drift: ' || s.drift END
    ], NULL)
    FROM s
    );
END;
$$;

-- graph._rebuild_reasons(): the same, with the schema drift graph._schema_drift()
-- finds now. PL/pgSQL too, for the install order.
CREATE OR REPLACE FUNCTION graph._rebuild_reasons()
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN graph._rebuild_reasons(
        (SELECT string_agg(d.table_name || coalesce('.' || d.column_name, '') || ' ' || d.kind, ', ')
         FROM graph._schema_drift() AS d WHERE d.repair = 'rebuild'));
END;
$$;

COMMENT ON FUNCTION graph._rebuild_reasons(text) IS
'Internal: graph._rebuild_reasons() given the schema drift a rebuild repairs (as ''table.column kind'', '', ''-joined; NULL: none), so graph._health reads drift once.';

COMMENT ON FUNCTION graph._rebuild_reasons() IS
'Why the base should be rebuilt now (read-only, registration change, truncations, overlay pressure, tombstones, retyped columns); empty when it should not.';
