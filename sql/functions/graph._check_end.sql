-- graph._check_end(tbl, cols, key_table, json_path, what): raise unless columns
-- cols of table tbl can hold the key of key_table's nodes, part by part:
--   42703  a column tbl does not have
--   42P10  not as many columns as the key has (what names the endpoint)
--   42804  of a key of several columns, a column whose type is not the key
--          column's: the same base type,
--          both numbers (integer, numeric, float), or text types, or a text
--          type holding a uuid key (compared as the key's type: the value is
--          rendered as the key renders it, graph._as_key_expr); with json_path,
--          the last column is not jsonb. (One column keeps what earlier
--          releases allowed, any type: graph.verify() reports a reference that
--          equals a key only under the key's type as phantom_edge.)
--   0A000  json_path with a key part of a type JSON values are not read as
--          (graph._end_expr: uuid, the integer types, text, varchar)
-- Reads: the registry, pg_attribute, pg_type.
CREATE OR REPLACE FUNCTION graph._check_end(
    tbl regclass, cols text[], key_table regclass, json_path text[], what text
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_cols text [] := (SELECT n.id_columns FROM graph._node_tables AS n WHERE n.table_oid = key_table);
    texts oid [] := '{text,varchar,bpchar,name}'::regtype [];
    numbers oid [] := '{int2,int4,int8,numeric,float4,float8}'::regtype [];
    p record;
BEGIN
    PERFORM graph._check_columns(tbl, cols);
    IF cardinality(cols) IS DISTINCT FROM cardinality(key_cols) THEN
        RAISE EXCEPTION '% has % column(s) but the key of % has %', what, coalesce(cardinality(cols), 0),
            key_table, cardinality(key_cols)
            USING ERRCODE = '42P10',
                  HINT = format('Pass one column per key column of %s, in its order: %s.', key_table,
                                array_to_string(key_cols, ', '));
    END IF;
    FOR p IN
        SELECT u.c, u.o, s.atttypid AS s_typ, k.atttypid AS k_typ,
               graph._base_type(s.atttypid) AS s_base,
               graph._base_type(k.atttypid) AS k_base
        FROM unnest(cols) WITH ORDINALITY AS u (c, o)
        JOIN pg_catalog.pg_attribute AS s ON s.attrelid = tbl AND s.attname = u.c AND s.attnum > 0
        JOIN pg_catalog.pg_attribute AS k ON k.attrelid = key_table AND k.attname = key_cols[u.o] AND k.attnum > 0
        WHERE NOT s.attisdropped AND NOT k.attisdropped
        ORDER BY u.o
    LOOP
        IF json_path IS NOT NULL AND p.o = cardinality(cols) THEN
            IF p.s_typ <> 'jsonb'::regtype THEN
                RAISE EXCEPTION 'column % of % is of type %, not jsonb: json_path needs a jsonb column',
                    quote_ident(p.c), tbl, p.s_typ::regtype USING ERRCODE = '42804';
            END IF;
            IF p.k_base NOT IN ('uuid'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                'text'::regtype, 'varchar'::regtype) THEN
                RAISE EXCEPTION 'key column % of % is of type %: a key read from JSON must be uuid, smallint,'
                    ' integer, bigint, text or varchar', quote_ident(key_cols[p.o]), key_table, p.k_typ::regtype
                    USING ERRCODE = '0A000';
            END IF;
        ELSIF cardinality(cols) > 1 AND NOT (p.s_base = p.k_base
                   OR (p.s_base = ANY (numbers) AND p.k_base = ANY (numbers))
                   OR (p.s_base = ANY (texts) AND (p.k_base = ANY (texts) OR p.k_base = 'uuid'::regtype))) THEN
            RAISE EXCEPTION 'column % of % is of type %, which does not compare with key column % of % (%)',
                quote_ident(p.c), tbl, p.s_typ::regtype, quote_ident(key_cols[p.o]), key_table, p.k_typ::regtype
                USING ERRCODE = '42804';
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION graph._check_end(regclass, text[], regclass, text[], text) IS
'Internal: raise unless some columns of a table can hold another table''s key (arity 42P10, types 42804, JSON 0A000).';
