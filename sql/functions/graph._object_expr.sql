-- graph._object_expr(tbl, cols, alias, as_text): a jsonb_build_object(...)
-- expression over columns cols of alias, a row of table tbl; 'NULL::jsonb' when
-- cols is NULL.
--   as_text: every value as text, as a captured row image holds it
--     (graph._captured_expr: edge endpoints rendered as their target's key).
--   else (node properties): values of built-in types keep their typed JSON;
--     values of other types are text from the type's output function
--     (graph._value_expr). jsonb_build_object would call a cast to json that
--     the owner of a non-built-in type may have written; for built-in types it
--     runs built-in code only. The typed object is guarded like
--     graph._value_expr: when a built-in column has been retyped since the
--     expression was generated, every value is given as text instead.
CREATE OR REPLACE FUNCTION graph._object_expr(tbl oid, cols text[], alias text, as_text boolean)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    texts text;
    typed text;
    guard text;
BEGIN
    IF cols IS NULL THEN
        RETURN 'NULL::pg_catalog.jsonb';
    END IF;
    SELECT string_agg(format('%L, %s', u.c, CASE WHEN as_text THEN graph._captured_expr(tbl, u.c, alias)
                                                  ELSE graph._value_expr(tbl, u.c, alias) END), ', '
                      ORDER BY u.o),
           string_agg(format('%L, %s', u.c, CASE WHEN a.atttypid IS NOT NULL AND graph._builtin_type(a.atttypid)
                                                  THEN format('%I.%I', alias, u.c)
                                                  ELSE graph._value_expr(tbl, u.c, alias) END), ', '
                      ORDER BY u.o),
           string_agg(format('pg_catalog.pg_typeof(%I.%I) OPERATOR(pg_catalog.=) %L::pg_catalog.regtype', alias, u.c, a.atttypid),
                      ' AND ' ORDER BY u.o)
               FILTER (WHERE a.atttypid IS NOT NULL AND graph._builtin_type(a.atttypid))
    INTO texts, typed, guard
    FROM unnest(cols) WITH ORDINALITY AS u (c, o)
    LEFT JOIN pg_catalog.pg_attribute AS a
        ON a.attrelid = tbl AND a.attname = u.c AND a.attnum > 0 AND NOT a.attisdropped;
    IF as_text OR guard IS NULL THEN
        RETURN format('pg_catalog.jsonb_build_object(%s)', coalesce(texts, ''));
    END IF;
    RETURN format('CASE WHEN %s THEN pg_catalog.jsonb_build_object(%s) ELSE pg_catalog.jsonb_build_object(%s) END',
                  guard, typed, texts);
END;
$$;

COMMENT ON FUNCTION graph._object_expr(oid, text[], text, boolean) IS
'Internal: the jsonb_build_object(...) expression over some columns of a row: typed JSON for built-in types, text otherwise (never an owner''s cast).';
