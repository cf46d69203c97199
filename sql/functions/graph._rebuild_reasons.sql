-- graph._rebuild_reasons(): why the base should be rebuilt now, one text per
-- reason; empty when it should not. Reasons: read-only state, a registration
-- change (build_required), TRUNCATE markers not yet folded (needs_vacuum),
-- overlay pressure (edge overlay rows >= graph.rebuild_overlay_fraction of
-- graph.edge_buffer_size, default 0.5), tombstones (dead nodes changed since
-- the build >= graph.rebuild_tombstone_fraction of the nodes, default 0.25),
-- schema drift a rebuild repairs (a column retyped or replaced).
-- graph.sync_health() and run_scheduled_maintenance() both decide by it.
-- PL/pgSQL so the install order of the functions it calls does not matter.
CREATE OR REPLACE FUNCTION graph._rebuild_reasons()
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
    WITH s AS (
        SELECT
            st.read_only, st.read_only_reason, st.build_required,
            (SELECT count(*) FROM graph._sync_log AS l WHERE l.needs_vacuum) AS truncations,
            (SELECT count(*) FROM graph._edge_overlay) AS overlay,
            coalesce(nullif(current_setting('graph.edge_buffer_size', true), ''), '100000')::bigint AS buffer,
            coalesce(nullif(current_setting('graph.rebuild_overlay_fraction', true), ''), '0.5')::float8
                AS overlay_fraction,
            (SELECT count(*) FROM graph._nodes AS n WHERE n.touched AND NOT n.alive) AS tombstones,
            greatest(coalesce((SELECT c.node_count FROM graph._csr AS c
                               WHERE c.generation = st.generation AND c.direction = 'out'), 0), 1) AS nodes,
            coalesce(nullif(current_setting('graph.rebuild_tombstone_fraction', true), ''), '0.25')::float8
                AS tombstone_fraction,
            (SELECT string_agg(format('%s.%s %s', d.table_name, d.column_name, d.kind), ', ')
             FROM graph._schema_drift() AS d WHERE d.repair = 'rebuild') AS drift
        FROM graph._sync_state AS st
    )
    SELECT array_remove(ARRAY[
        CASE WHEN s.read_only THEN 'read-only (' || coalesce(s.read_only_reason, 'no reason') || ')' END,
        CASE WHEN s.build_required THEN 'the registration changed' END,
        CASE WHEN s.truncations > 0 THEN format('%s TRUNCATE marker(s) to fold (needs_vacuum)', s.truncations) END,
        CASE WHEN s.overlay > 0 AND s.overlay >= s.overlay_fraction * s.buffer
            THEN format('edge overlay %s of %s rows (rebuild at %s%%)', s.overlay, s.buffer,
                        round((100 * s.overlay_fraction)::numeric, 1)) END,
        CASE WHEN s.tombstones > 0 AND s.tombstones >= s.tombstone_fraction * s.nodes
            THEN format('%s tombstones for %s base nodes (rebuild at %s%%)', s.tombstones, s.nodes,
                        round((100 * s.tombstone_fraction)::numeric, 1)) END,
        CASE WHEN s.drift IS NOT NULL THEN 'schema drift: ' || s.drift END
    ], NULL)
    FROM s
    );
END;
$$;

COMMENT ON FUNCTION graph._rebuild_reasons() IS
'Why the base should be rebuilt now (read-only, registration change, truncations, overlay pressure, tombstones, retyped columns); empty when it should not.';
