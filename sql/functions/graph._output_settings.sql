-- graph._output_settings(): the SET clauses that fix how values render as text
-- (DateStyle, TimeZone, IntervalStyle, extra_float_digits, bytea_output, and
-- lc_monetary, which shapes money's: any writer may SET it,
-- tests/test_abuse_writer_monetary_locale.py), and standard_conforming_strings,
-- which decides how a statement's text reads a backslash in a string literal: a
-- registered row filter is stored as PostgreSQL deparses it under it on ('%\_x'),
-- and a writer or builder with it off read that filter as another one
-- (tests/test_abuse_string_escapes.py); and array_nulls, which decides whether
-- NULL in an array literal is a NULL or the string 'NULL' (a stored filter's
-- '{a,NULL}', read by a writer's session with it off, passed other rows:
-- tests/test_abuse_filter_output_settings.py). Keys
-- and properties are text rendered by capture triggers and by the source read
-- of build/verify; with these pinned on both, a row's key is the same text
-- whatever the writer's or the admin's session says. The one list: capture
-- functions are generated with it, and sql/output-settings.sql sets it on every
-- function that renders source values.
CREATE OR REPLACE FUNCTION graph._output_settings()
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'SET datestyle = ''ISO, YMD'' SET timezone = ''UTC'' SET intervalstyle = ''postgres'''
        || ' SET extra_float_digits = 3 SET bytea_output = ''hex'' SET lc_monetary = ''C'''
        || ' SET standard_conforming_strings = on SET array_nulls = on'
$$;
