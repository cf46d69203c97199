-- graph._key_expr(tbl, cols, alias): the SQL expression giving the key text of
-- alias, a row of table tbl, keyed by cols. One column: its text form
-- (graph._value_expr: built-in ::text, else the type's output function). Several:
-- the record text form, e.g. (1,abc), which record_out builds from each column's
-- output function (no cast is involved). Capture triggers, build, verify, retry,
-- hydrate and search all use it, so keys always agree.
CREATE OR REPLACE FUNCTION graph._key_expr(tbl oid, cols text[], alias text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN cardinality(cols) = 1 THEN graph._value_expr(tbl, cols[1], alias)
        ELSE format('(ROW(%s))::pg_catalog.text',
                    (SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY o)
                     FROM unnest(cols) WITH ORDINALITY AS u (c, o)))
    END
$$;

COMMENT ON FUNCTION graph._key_expr(oid, text[], text) IS
'Internal: the SQL expression giving a row''s key text (capture, build, verify, reads agree on it).';
