-- graph._captured_expr(tbl, col, alias): the SQL expression giving the text a
-- captured row image holds for column col of alias, a row of table tbl; build
-- and verify read edge endpoints, tenants, weights and labels with the same
-- expression, so replay and the source read agree.
--
-- Keys compare as their type does. An edge endpoint links to the node whose
-- key equals it under the key column's type, but keys are text: numeric 1.50
-- and numeric(10,1) 1.5 are equal numbers with different texts. So a column
-- that is an edge endpoint is rendered as the target's key column would render
-- the same value, when the two types differ and the conversion is built-in and
-- cannot fail or lose anything:
--   key numeric(p,s)    from an integer, numeric or float column: the value as
--                       numeric(p,s) when that type holds it exactly
--   key numeric         from a float column: the value as numeric
--   key smallint/integer/bigint from a numeric or float column: the value as
--                       that integer type when it is a whole number in range
--   key uuid            from a text column holding a valid uuid in any case or
--                       layout: the uuid's canonical (lower-case) form
-- Otherwise the value keeps its own text (graph._value_expr): integer types,
-- and text, varchar and char, render alike already. What this does not cover
-- (an unconstrained numeric key and a numeric(p,s) column, a citext or other
-- non-built-in key type, whose equality is the type's own code) can still give
-- an edge to a key no row has while a row equal to it exists: graph.verify()
-- reports such an edge as phantom_edge.
-- A column that is also a tenant or label column, or an endpoint of edges to
-- targets with different key types, keeps its own text. Every conversion sits
-- behind the pg_typeof guard of graph._value_expr, and is computed from the
-- built-in text form, so a retyped column never fails to plan or calls a cast.
-- Reads: the registry, pg_attribute, pg_type.
CREATE OR REPLACE FUNCTION graph._captured_expr(tbl oid, col text, alias text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plain text := graph._value_expr(tbl, col, alias);
    ref text := format('%I.%I', alias, col);
    x text;
    kinds bigint;
    k_typ oid;
    k_mod integer;
    s_typ oid;
    s_mod integer;
    k_base oid;
    s_base oid;
    prec integer;
    scale integer;
    conv text;
    numbers oid [] := '{int2,int4,int8,numeric,float4,float8}'::regtype [];
BEGIN
    IF EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = tbl AND n.tenant_column = col)
       OR EXISTS (SELECT FROM graph._edge_sources AS e
                  WHERE coalesce(e.via_table, e.from_table) = tbl AND e.label_column = col) THEN
        RETURN plain;
    END IF;
    SELECT count(DISTINCT (a.atttypid, a.atttypmod)), min(a.atttypid), min(a.atttypmod)
    INTO kinds, k_typ, k_mod
    FROM (
        SELECT e.to_table AS target FROM graph._edge_sources AS e
        WHERE e.kind = 'fk' AND e.from_table = tbl AND e.from_column = col
        UNION ALL
        SELECT e.from_table FROM graph._edge_sources AS e
        WHERE e.kind = 'join' AND e.via_table = tbl AND e.from_column = col
        UNION ALL
        SELECT e.to_table FROM graph._edge_sources AS e
        WHERE e.kind = 'join' AND e.via_table = tbl AND e.to_column = col
    ) AS ends
    JOIN graph._node_tables AS n ON n.table_oid = ends.target
    JOIN pg_catalog.pg_attribute AS a
        ON a.attrelid = n.table_oid AND a.attname = n.id_columns[1] AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT a.atttypid, a.atttypmod INTO s_typ, s_mod
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF kinds <> 1 OR s_typ IS NULL OR (s_typ = k_typ AND s_mod = k_mod)
       OR NOT graph._builtin_type(s_typ) OR NOT graph._builtin_type(k_typ) THEN
        RETURN plain;
    END IF;
    -- Domains are looked through; a domain's own typmod counts when the column has none.
    SELECT coalesce(nullif(t.typbasetype, 0), t.oid), CASE WHEN s_mod < 0 THEN t.typtypmod ELSE s_mod END
    INTO s_base, s_mod FROM pg_catalog.pg_type AS t WHERE t.oid = s_typ;
    SELECT coalesce(nullif(t.typbasetype, 0), t.oid), CASE WHEN k_mod < 0 THEN t.typtypmod ELSE k_mod END
    INTO k_base, k_mod FROM pg_catalog.pg_type AS t WHERE t.oid = k_typ;
    IF s_base = k_base AND s_mod = k_mod THEN
        RETURN plain;
    END IF;
    x := format('(%s)::pg_catalog.text', ref);
    IF k_base = 'numeric'::regtype AND k_mod >= 4 AND s_base = ANY (numbers) THEN
        prec := ((k_mod - 4) >> 16) & 65535;
        scale := (((k_mod - 4) & 2047) # 1024) - 1024;
        conv := format('CASE WHEN pg_catalog.abs((%1$s)::pg_catalog.numeric) < %2$L::pg_catalog.numeric'
                       ' AND pg_catalog.round((%1$s)::pg_catalog.numeric, %3$s) = (%1$s)::pg_catalog.numeric'
                       ' THEN ((%1$s)::pg_catalog.numeric(%4$s, %3$s))::pg_catalog.text ELSE %1$s END',
                       x, '1e' || (prec - scale), scale, prec);
    ELSIF k_base = 'numeric'::regtype AND k_mod < 0 AND s_base IN ('float4'::regtype, 'float8'::regtype) THEN
        conv := format('((%s)::pg_catalog.numeric)::pg_catalog.text', x);
    ELSIF k_base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
          AND s_base IN ('numeric'::regtype, 'float4'::regtype, 'float8'::regtype) THEN
        conv := format('CASE WHEN (%1$s)::pg_catalog.numeric BETWEEN %2$s AND %3$s'
                       ' AND pg_catalog.trunc((%1$s)::pg_catalog.numeric) = (%1$s)::pg_catalog.numeric'
                       ' THEN (((%1$s)::pg_catalog.numeric)::%4$s)::pg_catalog.text ELSE %1$s END',
                       x,
                       CASE k_base WHEN 'int2'::regtype THEN '-32768' WHEN 'int4'::regtype THEN '-2147483648'
                                   ELSE '-9223372036854775808' END,
                       CASE k_base WHEN 'int2'::regtype THEN '32767' WHEN 'int4'::regtype THEN '2147483647'
                                   ELSE '9223372036854775807' END,
                       k_base::regtype);
    ELSIF k_base = 'uuid'::regtype
          AND s_base IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype) THEN
        conv := format('CASE WHEN %1$s ~* %2$L THEN ((%1$s)::pg_catalog.uuid)::pg_catalog.text ELSE %1$s END',
                       x, '^([0-9a-f]{4}(-?[0-9a-f]{4}){7}|\{[0-9a-f]{4}(-?[0-9a-f]{4}){7}\})$');
    ELSE
        RETURN plain;
    END IF;
    RETURN format('CASE WHEN pg_catalog.pg_typeof(%s) = %L::pg_catalog.regtype THEN %s ELSE %s END',
                  ref, s_typ, conv, plain);
END;
$$;

COMMENT ON FUNCTION graph._captured_expr(oid, text, text) IS
'Internal: the text a captured row image holds for a column; edge endpoints rendered as their target key type renders the value.';
