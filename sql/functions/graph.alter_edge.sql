-- graph.alter_edge(edge_source_id, label, bidirectional): relabel an edge
-- source, or make it (not) bidirectional, without removing and registering it
-- again. NULL leaves a setting as it is. Refused, changing nothing: an unknown
-- edge source (42704), an empty label (22023). The registry changes at once
-- and replay follows it; the base keeps the old edges until the next
-- graph.build() (flagged, so maintenance rebuilds). Returns the edge source id.
-- Touches: graph._edge_sources.
CREATE OR REPLACE FUNCTION graph.alter_edge(
    edge_source_id integer,
    label text DEFAULT NULL,
    bidirectional boolean DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e graph._edge_sources;
BEGIN
    PERFORM graph._require_admin();
    SELECT * INTO e FROM graph._edge_sources AS s WHERE s.edge_source_id = alter_edge.edge_source_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no edge source % is registered', coalesce(alter_edge.edge_source_id::text, 'NULL')
            USING ERRCODE = '42704';
    END IF;
    IF label = '' THEN
        RAISE EXCEPTION 'label must not be empty' USING ERRCODE = '22023';
    END IF;
    IF coalesce(label, e.label) = e.label AND coalesce(bidirectional, e.bidirectional) = e.bidirectional THEN
        RETURN e.edge_source_id;
    END IF;
    UPDATE graph._edge_sources AS s
    SET label = coalesce(alter_edge.label, s.label), bidirectional = coalesce(alter_edge.bidirectional, s.bidirectional)
    WHERE s.edge_source_id = e.edge_source_id;
    UPDATE graph._sync_state SET build_required = true;
    RETURN e.edge_source_id;
END;
$$;

COMMENT ON FUNCTION graph.alter_edge(integer, text, boolean) IS
'Relabel an edge source or change whether it is bidirectional; flags a rebuild.';
