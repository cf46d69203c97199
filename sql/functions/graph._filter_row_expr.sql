-- graph._filter_row_expr(tbl, expression, columns, alias): the SQL expression
-- (boolean, never NULL) of whether alias, a row of table tbl, passes expression,
-- a row filter already checked (graph._check_filter's deparsed expression) that
-- reads columns. The expression never sees alias's columns themselves: it runs
-- over a one-row derived table of the columns it reads, each the column's value,
-- while the column still has the type it has now, as text through the type's
-- output function and back through the base type's input function:
--   CASE WHEN pg_typeof(alias.c) = T AND num_nulls(alias.c) = 0
--        THEN (pg_catalog.format('%s', alias.c))::B END
-- That parses for a column of any type and calls nothing but PostgreSQL's own
-- code, so a column retyped after the expression was made (a cast or operator an
-- owner wrote) never reaches the filter, not even when it is planned. But an enum
-- (or a domain over one) is passed as it is: its owner may create a cast from text
-- to it, which the round trip called, as whoever evaluated the filter (a
-- superuser's build; found in review, tests/test_abuse.py); an enum's operators
-- are PostgreSQL's own, and a retyped column is followed (its capture regenerated
-- in the DDL's transaction) before a session plans the filter again. NULL when
-- the type changed: no row passes. NULL counts as false, as in WHERE. Reads the
-- catalog only; graph._filter_expr (capture, build, verify) and
-- graph._edge_filter_expr (a read's join-row check) render filters with it.
CREATE OR REPLACE FUNCTION graph._filter_row_expr(tbl oid, expression text, columns text[], alias text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('coalesce((SELECT (%s) FROM (SELECT %s) AS _gs_row), false)', expression,
                  coalesce(string_agg(format('CASE WHEN pg_catalog.pg_typeof(%1$I.%2$I) = %3$L::pg_catalog.regtype'
                                             ' AND pg_catalog.num_nulls(%1$I.%2$I) = 0'
                                             ' THEN %4$s END AS %2$I',
                                             alias, a.attname, a.atttypid,
                                             CASE WHEN (SELECT b.typtype FROM pg_catalog.pg_type AS b
                                                        WHERE b.oid = graph._base_type(a.atttypid)) = 'e'
                                                  THEN format('%I.%I', alias, a.attname)
                                                  ELSE format('(pg_catalog.format(''%%s'', %I.%I))::%s', alias,
                                                              a.attname,
                                                              pg_catalog.format_type(graph._base_type(a.atttypid),
                                                                                     NULL)) END),
                                      ', '), 'NULL AS _gs_none'))
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attname = ANY (columns) AND a.attnum > 0 AND NOT a.attisdropped;
$$;

COMMENT ON FUNCTION graph._filter_row_expr(oid, text, text[], text) IS
'Internal: the SQL expression of whether a row passes an already checked row filter, over its columns'' values as text and back (never an owner''s code; NULL counts as false).';
