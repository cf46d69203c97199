-- graph._key_expr(cols, alias): the SQL expression giving a row's key text.
-- One column: its text form. Several: the record text form, e.g. (1,abc).
-- Capture triggers, build and verify all use it, so keys always agree.
CREATE OR REPLACE FUNCTION graph._key_expr(cols text[], alias text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN cardinality(cols) = 1 THEN format('%I.%I::text', alias, cols[1])
        ELSE format('ROW(%s)::text',
                    (SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY o)
                     FROM unnest(cols) WITH ORDINALITY AS u (c, o)))
    END
$$;
