-- graph._filter_expr(row_filter, alias): the SQL expression (boolean, never
-- NULL) of whether alias, a row, passes row_filter, a registered row filter
-- (graph._check_filter made it: built-in immutable code only). The filter names
-- columns unqualified; it is evaluated over a one-row derived table of alias's
-- columns, so those names mean alias's columns wherever the expression is used
-- (capture, build, verify). NULL counts as false, as in a WHERE clause.
CREATE OR REPLACE FUNCTION graph._filter_expr(row_filter text, alias text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('coalesce((SELECT (%s) FROM (SELECT %I.*) AS _gs_row), false)', row_filter, alias)
$$;

COMMENT ON FUNCTION graph._filter_expr(text, text) IS
'Internal: the SQL expression of whether a row passes a registered row filter (NULL counts as false).';
