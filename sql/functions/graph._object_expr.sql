-- graph._object_expr(cols, alias, as_text): a jsonb_build_object(...) expression
-- over the given columns of alias; values as text when as_text. 'NULL::jsonb'
-- when cols is NULL.
CREATE OR REPLACE FUNCTION graph._object_expr(cols text[], alias text, as_text boolean)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN cols IS NULL THEN 'NULL::jsonb'
        ELSE format('jsonb_build_object(%s)', coalesce(
            (SELECT string_agg(format('%L, %I.%I%s', c, alias, c,
                                      CASE WHEN as_text THEN '::text' ELSE '' END),
                               ', ' ORDER BY o)
             FROM unnest(cols) WITH ORDINALITY AS u (c, o)), ''))
    END
$$;
