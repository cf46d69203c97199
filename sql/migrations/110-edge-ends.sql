-- 110-edge-ends: edge endpoints of several columns, JSONB references and row
-- filters (graph.add_edge's from_columns, to_columns, json_path, row_filter;
-- graph.add_table's row_filter).
--
-- graph._edge_sources: an endpoint is named either by one column (from_column,
-- to_column, as before) or by a list (from_columns, to_columns), never both:
--   from_columns   the columns of the carrying row holding the key of the
--                  from_table node ('join') or of the to_table node ('fk'), in
--                  the order of that table's key columns; set when the key has
--                  several columns or the reference is read from JSON (NULL:
--                  from_column names the one column)
--   to_columns     'join': the columns of via_table holding the to_table key,
--                  in the order of its key columns (NULL: to_column)
--   json_path      the last of from_columns is a jsonb column and that key part
--                  is read at this path (a JSON array there: one edge per
--                  element; NULL: no JSON)
--   row_filter     a boolean expression over the carrying row's columns; only
--                  rows for which it is true carry edges (NULL: every row).
--                  Stored as PostgreSQL deparses it (graph._check_filter).
--   row_filter_columns  the columns row_filter reads
-- graph._node_tables:
--   row_filter, row_filter_columns  the same for node tables: rows failing it
--                  are no nodes
ALTER TABLE graph._edge_sources
ALTER COLUMN from_column DROP NOT NULL,
ADD COLUMN from_columns text[],
ADD COLUMN to_columns text[],
ADD COLUMN json_path text[],
ADD COLUMN row_filter text,
ADD COLUMN row_filter_columns text[] NOT NULL DEFAULT '{}',
ADD CONSTRAINT _edge_sources_one_from CHECK ((from_column IS NULL) <> (from_columns IS NULL)),
ADD CONSTRAINT _edge_sources_to_list CHECK (to_columns IS NULL OR (kind = 'join' AND to_column IS NULL)),
ADD CONSTRAINT _edge_sources_json_path CHECK (json_path IS NULL OR from_columns IS NOT NULL);

ALTER TABLE graph._node_tables
ADD COLUMN row_filter text,
ADD COLUMN row_filter_columns text[] NOT NULL DEFAULT '{}';

COMMENT ON COLUMN graph._edge_sources.from_columns IS
'The carrying row''s columns holding the key of the referenced node, in key order (composite or JSON); NULL: from_column.';
COMMENT ON COLUMN graph._edge_sources.to_columns IS
'Join tables: the via columns holding the to_table key, in key order; NULL: to_column.';
COMMENT ON COLUMN graph._edge_sources.json_path IS
'The last of from_columns is jsonb and that key part is read at this path (arrays: one edge per element).';
COMMENT ON COLUMN graph._edge_sources.row_filter IS
'Boolean expression over the carrying row: only rows passing it carry edges (NULL: all).';
COMMENT ON COLUMN graph._edge_sources.row_filter_columns IS
'The columns row_filter reads.';
COMMENT ON COLUMN graph._node_tables.row_filter IS
'Boolean expression over the row: only rows passing it are nodes (NULL: all).';
COMMENT ON COLUMN graph._node_tables.row_filter_columns IS
'The columns row_filter reads.';

-- The registration functions take the new parameters (sql/functions re-creates them).
DROP FUNCTION IF EXISTS graph.add_edge(regclass, text, regclass, text, text, boolean, text, text, regclass);
DROP FUNCTION IF EXISTS graph.add_table(regclass, text[], text[], text);
