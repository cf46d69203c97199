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
-- The conversions are graph._as_key_expr's. Reads: the registry, pg_attribute.
CREATE OR REPLACE FUNCTION graph._captured_expr(tbl oid, col text, alias text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kinds bigint;
    k_typ oid;
    k_mod integer;
BEGIN
    IF EXISTS (SELECT FROM graph._node_tables AS n WHERE n.table_oid = tbl AND n.tenant_column = col)
       OR EXISTS (SELECT FROM graph._edge_sources AS e
                  WHERE coalesce(e.via_table, e.from_table) = tbl AND e.label_column = col) THEN
        RETURN graph._value_expr(tbl, col, alias);
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
    IF kinds <> 1 THEN
        RETURN graph._value_expr(tbl, col, alias);
    END IF;
    RETURN graph._as_key_expr(tbl, col, alias, k_typ, k_mod, false);
END;
$$;

COMMENT ON FUNCTION graph._captured_expr(oid, text, text) IS
'Internal: the text a captured row image holds for a column; edge endpoints rendered as their target key type renders the value.';
