-- graph._as_key_expr(tbl, col, alias, key_typ, key_mod, io): the SQL expression
-- giving the text of column col of alias (a row of table tbl) as a key column of
-- type key_typ (typmod key_mod) would render the same value, where a built-in
-- conversion does that and cannot fail or lose anything (the rules listed in
-- graph._captured_expr: numeric(p,s), numeric, the integer types, uuid from
-- text); otherwise the value's own text. io: that own text is the type's output
-- function (what record_out gives a field of a composite key), else
-- graph._value_expr's form. Every conversion sits behind a pg_typeof guard and
-- is computed from the built-in text form, so a retyped column never fails to
-- plan or calls a cast. graph._captured_expr (one-column endpoints) and
-- graph._end_expr (endpoints of several columns) build on it.
-- Reads: pg_attribute, pg_type.
CREATE OR REPLACE FUNCTION graph._as_key_expr(
    tbl oid, col text, alias text, key_typ oid, key_mod integer, io boolean
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref text := format('%I.%I', alias, col);
    plain text := CASE WHEN io
                       THEN format('CASE WHEN pg_catalog.num_nulls(%1$s) OPERATOR(pg_catalog.=) 0 THEN pg_catalog.format(''%%s'', %1$s) END',
                                   ref)
                       ELSE graph._value_expr(tbl, col, alias) END;
    x text;
    k_typ oid := key_typ;
    k_mod integer := key_mod;
    s_typ oid;
    s_mod integer;
    k_base oid;
    s_base oid;
    prec integer;
    scale integer;
    conv text;
    numbers oid [] := '{int2,int4,int8,numeric,float4,float8}'::regtype [];
BEGIN
    SELECT a.atttypid, a.atttypmod INTO s_typ, s_mod
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF k_typ IS NULL OR s_typ IS NULL OR (s_typ = k_typ AND s_mod = k_mod)
       OR NOT graph._builtin_type(s_typ) OR NOT graph._builtin_type(k_typ) THEN
        RETURN plain;
    END IF;
    -- Domains are looked through, and their typmods when the column has none.
    s_base := graph._base_type(s_typ);
    s_mod := graph._base_typmod(s_typ, s_mod);
    k_base := graph._base_type(k_typ);
    k_mod := graph._base_typmod(k_typ, k_mod);
    IF s_base = k_base AND s_mod = k_mod THEN
        RETURN plain;
    END IF;
    x := format('(%s)::pg_catalog.text', ref);
    IF k_base = 'numeric'::regtype AND k_mod >= 4 AND s_base = ANY (numbers) THEN
        prec := ((k_mod - 4) >> 16) & 65535;
        scale := (((k_mod - 4) & 2047) # 1024) - 1024;
        conv := format('CASE WHEN pg_catalog.abs((%1$s)::pg_catalog.numeric) OPERATOR(pg_catalog.<) %2$L::pg_catalog.numeric'
                       ' AND pg_catalog.round((%1$s)::pg_catalog.numeric, %3$s) OPERATOR(pg_catalog.=) (%1$s)::pg_catalog.numeric'
                       ' THEN ((%1$s)::pg_catalog.numeric(%4$s, %3$s))::pg_catalog.text ELSE %1$s END',
                       x, '1e' || (prec - scale), scale, prec);
    ELSIF k_base = 'numeric'::regtype AND k_mod < 0 AND s_base IN ('float4'::regtype, 'float8'::regtype) THEN
        conv := format('((%s)::pg_catalog.numeric)::pg_catalog.text', x);
    ELSIF k_base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
          AND s_base IN ('numeric'::regtype, 'float4'::regtype, 'float8'::regtype) THEN
        conv := format('CASE WHEN (%1$s)::pg_catalog.numeric OPERATOR(pg_catalog.>=) %2$s'
                       ' AND (%1$s)::pg_catalog.numeric OPERATOR(pg_catalog.<=) %3$s'
                       ' AND pg_catalog.trunc((%1$s)::pg_catalog.numeric) OPERATOR(pg_catalog.=) (%1$s)::pg_catalog.numeric'
                       ' THEN (((%1$s)::pg_catalog.numeric)::%4$s)::pg_catalog.text ELSE %1$s END',
                       x,
                       CASE k_base WHEN 'int2'::regtype THEN '-32768' WHEN 'int4'::regtype THEN '-2147483648'
                                   ELSE '-9223372036854775808' END,
                       CASE k_base WHEN 'int2'::regtype THEN '32767' WHEN 'int4'::regtype THEN '2147483647'
                                   ELSE '9223372036854775807' END,
                       k_base::regtype);
    ELSIF k_base = 'uuid'::regtype
          AND s_base IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype) THEN
        conv := format('CASE WHEN %1$s OPERATOR(pg_catalog.~*) %2$L THEN ((%1$s)::pg_catalog.uuid)::pg_catalog.text ELSE %1$s END',
                       x, '^([0-9a-f]{4}(-?[0-9a-f]{4}){7}|\{[0-9a-f]{4}(-?[0-9a-f]{4}){7}\})$');
    ELSE
        RETURN plain;
    END IF;
    RETURN format('CASE WHEN pg_catalog.pg_typeof(%s) OPERATOR(pg_catalog.=) %L::pg_catalog.regtype THEN %s ELSE %s END',
                  ref, s_typ, conv, plain);
END;
$$;

COMMENT ON FUNCTION graph._as_key_expr(oid, text, text, oid, integer, boolean) IS
'Internal: the SQL expression giving a column''s text as a key column of another type renders the same value (built-in conversions only).';
