-- graph._deparse_filter(idx): the predicate of index idx (graph._check_filter's
-- index over its copy of a table's columns) as PostgreSQL deparses it: the text a
-- row filter is stored as. The deparser writes each constant by its type's output
-- function, in the session's settings: under DateStyle 'SQL, DMY' a date as
-- '02/01/2020', under extra_float_digits -15 a float with one significant digit,
-- which capture, build and verify, reading the text under graphsync's own settings,
-- took for no date or another number (an admin's session, or a table owner's whose
-- rename the follower deparsed the admin's filter again in:
-- tests/test_abuse_filter_output_settings.py). So this runs with
-- graph._output_settings() (sql/output-settings.sql), the settings the filter is
-- read under; graph._check_filter still parses the text in the caller's.
-- Reads: pg_index.
CREATE OR REPLACE FUNCTION graph._deparse_filter(idx oid)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_get_expr(x.indpred, x.indrelid) FROM pg_catalog.pg_index AS x WHERE x.indexrelid = idx
$$;

COMMENT ON FUNCTION graph._deparse_filter(oid) IS
'Internal: the predicate of graph._check_filter''s index deparsed under graphsync''s output settings: the text a row filter is stored as.';
