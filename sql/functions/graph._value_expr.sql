-- graph._value_expr(tbl, col, alias): the SQL expression giving the text form of
-- column col of alias, a row of table tbl, that never runs code a table owner
-- controls. The one rule every place that renders a source value follows
-- (capture, build and verify's source read, retry's current-row read, hydrate,
-- search), through this function and graph._key_expr / graph._object_expr /
-- graph._captured_expr, which build on it:
--   * a built-in type (graph._builtin_type) keeps its ::text cast, which is
--     built-in code (no role can create a cast between built-in types);
--   * any other type is rendered by its output function,
--     pg_catalog.format('%s', x), NULL staying NULL. x::text would call a cast
--     to text that the type's owner may have written, running it with the
--     privileges of whoever reads (a superuser building the graph); only a
--     superuser can create an output function.
-- The built-in branch is guarded by pg_typeof: when the column is retyped
-- after the expression was generated (a capture function not regenerated yet,
-- a kept plan), the new type takes the output-function branch, so no new cast
-- is ever called; only the guard's oid literal is compared, once per value.
-- A column that does not exist gets the output-function form (the statement
-- then fails as it always did: the column is gone). Reads: pg_attribute, pg_type.
CREATE OR REPLACE FUNCTION graph._value_expr(tbl oid, col text, alias text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref text := format('%I.%I', alias, col);
    typ oid;
    io text;
BEGIN
    SELECT a.atttypid INTO typ
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    io := format('CASE WHEN pg_catalog.num_nulls(%1$s) OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format(''%%s'', %1$s) END', ref);
    IF typ IS NULL OR NOT graph._builtin_type(typ) THEN
        RETURN io;
    END IF;
    RETURN format('CASE WHEN pg_catalog.pg_typeof(%1$s) OPERATOR(pg_catalog.=) %2$L::pg_catalog.regtype THEN (%1$s)::pg_catalog.text'
                  ' ELSE %3$s END', ref, typ, io);
END;
$$;

COMMENT ON FUNCTION graph._value_expr(oid, text, text) IS
'Internal: the SQL expression giving a column''s text form through built-in casts or the type''s output function, never an owner''s cast.';
