-- graph._end_expr(tbl, cols, key_table, json_path, alias): the SQL expression
-- (of type text[]) giving the keys of the key_table nodes that alias, a row of
-- table tbl, references through its columns cols (in the order of key_table's
-- key columns): an endpoint of several columns, or one read from JSON. Capture
-- logs it with the row (graph._carried_expr); build and verify read the sources
-- with it; so replay and the source read agree on every endpoint.
--   * Each column is rendered as the key column at its place renders the same
--     value (graph._as_key_expr; the output function, as record_out does); a
--     key of several columns is their record text, as graph._key_expr gives it.
--   * json_path: the last of cols is a jsonb column; the key part is the value
--     at that path (jsonb_extract_path, i.e. #>). A JSON array there gives one
--     key per element, in order. A string or number that is a valid value of
--     the key type (uuid, an integer type, text or varchar) is that value in
--     the key type's text form; anything else (missing, null, an object, a
--     string that is no uuid, ...) gives no key -- never an error.
--   * Any NULL column gives no key: the empty array.
-- Built-in functions only, each column behind a pg_typeof guard (a retyped
-- column gives no key rather than a plan error).
-- Reads: the registry, pg_attribute, pg_type.
CREATE OR REPLACE FUNCTION graph._end_expr(
    tbl oid, cols text[], key_table oid, json_path text[], alias text
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_cols text [] := (SELECT n.id_columns FROM graph._node_tables AS n WHERE n.table_oid = key_table);
    n integer := cardinality(cols);
    parts text [] := '{}';
    guards text [] := '{}';
    k_typ oid;
    k_mod integer;
    k_base oid;
    j text;
    s text;
    elem text;
    key text;
BEGIN
    FOR i IN 1 .. n LOOP
        SELECT a.atttypid, a.atttypmod, graph._base_type(a.atttypid)
        INTO k_typ, k_mod, k_base
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = key_table AND a.attname = key_cols[i] AND a.attnum > 0 AND NOT a.attisdropped;
        IF i = n AND json_path IS NOT NULL THEN
            EXIT;
        END IF;
        parts := parts || CASE WHEN n = 1 THEN graph._as_key_expr(tbl, cols[i], alias, k_typ, k_mod, false)
                               ELSE graph._as_key_expr(tbl, cols[i], alias, k_typ, k_mod, true) END;
        guards := guards || format('%I.%I', alias, cols[i]);
    END LOOP;
    IF json_path IS NULL THEN
        key := CASE WHEN n = 1 THEN parts[1]
                    ELSE format('(ROW(%s))::pg_catalog.text', array_to_string(parts, ', ')) END;
        RETURN format('CASE WHEN pg_catalog.num_nulls(%s) = 0 THEN ARRAY[%s] ELSE ''{}''::pg_catalog.text[] END',
                      array_to_string(guards, ', '), key);
    END IF;
    -- The JSON value at the path, only while the column is still jsonb.
    j := format('pg_catalog.jsonb_extract_path(CASE WHEN pg_catalog.pg_typeof(%1$I.%2$I) = %3$L::pg_catalog.regtype'
                ' THEN pg_catalog.to_jsonb(%1$I.%2$I) END, VARIADIC %4$L::pg_catalog.text[])',
                alias, cols[n], 'pg_catalog.jsonb'::regtype, json_path);
    -- A string's or number's text, of one element x.
    s := 'CASE WHEN pg_catalog.jsonb_typeof(x.v) IN (''string'', ''number'')'
         ' THEN pg_catalog.jsonb_extract_path_text(x.v, VARIADIC ''{}''::pg_catalog.text[]) END';
    elem := CASE
        WHEN k_base = 'uuid'::regtype THEN
            format('CASE WHEN x.s ~* %L THEN ((x.s)::pg_catalog.uuid)::pg_catalog.text END',
                   '^([0-9a-f]{4}(-?[0-9a-f]{4}){7}|\{[0-9a-f]{4}(-?[0-9a-f]{4}){7}\})$')
        WHEN k_base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
            format('CASE WHEN x.s ~ %L AND (x.s)::pg_catalog.numeric BETWEEN %s AND %s'
                   ' THEN (((x.s)::pg_catalog.numeric)::%s)::pg_catalog.text END',
                   '^\s*[-+]?[0-9]{1,19}\s*$',
                   CASE k_base WHEN 'int2'::regtype THEN '-32768' WHEN 'int4'::regtype THEN '-2147483648'
                               ELSE '-9223372036854775808' END,
                   CASE k_base WHEN 'int2'::regtype THEN '32767' WHEN 'int4'::regtype THEN '2147483647'
                               ELSE '9223372036854775807' END,
                   k_base::regtype)
        WHEN k_base IN ('text'::regtype, 'varchar'::regtype) THEN 'x.s'
    END;
    IF elem IS NULL THEN
        RAISE EXCEPTION 'a key read from JSON must be of type uuid, smallint, integer, bigint, text or varchar, not %',
            k_typ::regtype USING ERRCODE = '0A000';
    END IF;
    key := CASE WHEN n = 1 THEN 'x.k'
                ELSE format('(ROW(%s))::pg_catalog.text', array_to_string(parts || 'x.k'::text, ', ')) END;
    RETURN format('ARRAY(SELECT %1$s FROM (SELECT %2$s AS k, x.o FROM (SELECT x.v, x.o, %3$s AS s'
                  ' FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(%4$s) = ''array'''
                  ' THEN %4$s ELSE pg_catalog.jsonb_build_array(%4$s) END) WITH ORDINALITY AS x (v, o)) AS x) AS x'
                  ' WHERE x.k IS NOT NULL%5$s ORDER BY x.o)',
                  key, elem, s, j,
                  CASE WHEN n = 1 THEN ''
                       ELSE format(' AND pg_catalog.num_nulls(%s) = 0', array_to_string(guards, ', ')) END);
END;
$$;

COMMENT ON FUNCTION graph._end_expr(oid, text[], oid, text[], text) IS
'Internal: the SQL expression (text[]) giving the keys a row references through several columns or a JSON path.';
