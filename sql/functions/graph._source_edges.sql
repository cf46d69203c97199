-- graph._source_edges(query): the edge rows of one SELECT over one registered
-- source (an edge source's carrier table), in the caller's snapshot; the edge
-- counterpart of graph._source_nodes (see there). Admin only (42501).
-- Reads: the source table the query names.
CREATE OR REPLACE FUNCTION graph._source_edges(query text)
RETURNS TABLE (
    edge_source_id int, src_oid oid, src_pk text, dst_oid oid, dst_pk text, weight float8, label text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM graph._require_admin();
    RETURN QUERY EXECUTE query;
END;
$$;

COMMENT ON FUNCTION graph._source_edges(text) IS
'Internal (build, verify): the edge rows one generated source query reads, in the calling statement''s snapshot.';
