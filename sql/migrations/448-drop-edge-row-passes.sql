-- 448-drop-edge-row-passes: a read's second try after a join source's row filter
-- raised on some row evaluates, row by row, the filter as its first try rendered it
-- (graph._row_passes(expression, row)). graph._edge_row_passes(edge_source_id, row),
-- which rendered the filter again from the registry for every row, is dropped.
DROP FUNCTION IF EXISTS graph._edge_row_passes(integer, anyelement);
