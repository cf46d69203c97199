-- 111-filter-expr-remove-edge: graph._filter_expr takes the table and whether a filter that
-- no longer checks raises (sql/functions re-creates it); the first form goes.
DROP FUNCTION IF EXISTS graph._filter_expr(text, text);

-- graph.remove_edge names an edge source as graph.add_edge does (from_columns,
-- to_columns, json_path); the first form goes.
DROP FUNCTION IF EXISTS graph.remove_edge(regclass, text, regclass, regclass);
