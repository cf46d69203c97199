-- graph._filter_expr(tbl, row_filter, alias, strict): the SQL expression
-- (boolean, never NULL) of whether alias, a row of table tbl, passes
-- row_filter, a registered row filter; NULL counts as false, as in WHERE.
-- The filter is checked again against tbl's columns as they are now
-- (graph._check_filter); one that no longer passes (a column retyped to a type
-- with an owner's operators or casts) raises with strict (build, verify), else
-- gives 'false' with a WARNING (capture: no row passes, the write goes on).
-- The filter never sees alias's columns themselves: it runs over a one-row
-- derived table of the columns it reads, each the column's value, while the
-- column still has the type it has now, as text through the type's output
-- function and back through the base type's input function:
--   CASE WHEN pg_typeof(alias.c) = T AND num_nulls(alias.c) = 0
--        THEN (pg_catalog.format('%s', alias.c))::B END
-- That parses for a column of any type and calls nothing but PostgreSQL's own
-- code, so a column retyped after capture was generated (a cast or operator an
-- owner wrote) never reaches the filter, not even when it is planned. NULL when
-- the type changed: no row passes. Capture, build and verify use it.
CREATE OR REPLACE FUNCTION graph._filter_expr(tbl oid, row_filter text, alias text, strict boolean)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked text;
    cols text [];
    derived text;
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
    SELECT string_agg(format('CASE WHEN pg_catalog.pg_typeof(%1$I.%2$I) = %3$L::pg_catalog.regtype'
                             ' AND pg_catalog.num_nulls(%1$I.%2$I) = 0'
                             ' THEN (pg_catalog.format(''%%s'', %1$I.%2$I))::%4$s END AS %2$I',
                             alias, a.attname, a.atttypid,
                             pg_catalog.format_type(coalesce(nullif(t.typbasetype, 0), t.oid), NULL)), ', ')
    INTO derived
    FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    WHERE a.attrelid = tbl AND a.attname = ANY (cols) AND a.attnum > 0 AND NOT a.attisdropped;
    RETURN format('coalesce((SELECT (%s) FROM (SELECT %s) AS _gs_row), false)', checked,
                  coalesce(derived, 'NULL AS _gs_none'));
END;
$$;

COMMENT ON FUNCTION graph._filter_expr(oid, text, text, boolean) IS
'Internal: the SQL expression of whether a row passes a registered row filter, over its columns'' values as text and back (never an owner''s code; NULL counts as false).';
