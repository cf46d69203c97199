-- graph._filter_expr(tbl, row_filter, alias, strict): the SQL expression
-- (boolean, never NULL) of whether alias, a row of table tbl, passes
-- row_filter, a registered row filter; NULL counts as false, as in WHERE.
-- The filter is checked again against tbl's columns as they are now
-- (graph._check_filter); one that no longer passes (a column retyped to a type
-- with an owner's operators or casts) raises with strict (build, verify), else
-- gives 'false' with a WARNING (capture: no row passes, the write goes on).
-- The checked filter is rendered by graph._filter_row_expr: over the row's
-- columns' values as text and back, never an owner's code. Capture, build and
-- verify use it.
CREATE OR REPLACE FUNCTION graph._filter_expr(tbl oid, row_filter text, alias text, strict boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    checked text;
    cols text [];
BEGIN
    BEGIN
        SELECT f.expression, f.columns INTO checked, cols FROM graph._check_filter(tbl::regclass, row_filter) AS f;
    EXCEPTION
        WHEN invalid_object_definition OR undefined_column OR datatype_mismatch OR invalid_parameter_value
             OR undefined_table OR undefined_function OR undefined_object THEN
            IF strict THEN
                RAISE EXCEPTION 'the row filter % of % no longer checks: %', row_filter, tbl::regclass, SQLERRM
                    USING ERRCODE = '55000',
                    HINT = 'Register the table or edge source again with a filter over its columns as they are now.';
            END IF;
            RAISE WARNING 'graphsync: the row filter % of % no longer checks (%): no row passes it until it is'
                ' registered again', row_filter, tbl::regclass, SQLERRM;
            RETURN 'false';
    END;
    RETURN graph._filter_row_expr(tbl, checked, cols, alias);
END;
$$;

COMMENT ON FUNCTION graph._filter_expr(oid, text, text, boolean) IS
'Internal: the SQL expression of whether a row passes a registered row filter, over its columns'' values as text and back (never an owner''s code; NULL counts as false).';
