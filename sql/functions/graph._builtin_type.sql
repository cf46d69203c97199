-- graph._builtin_type(typ): whether values of type typ render (as text, or as
-- typed JSON through jsonb_build_object) with PostgreSQL's own code only.
-- Domains are looked through to their base type and arrays to their element
-- type; what remains must be a built-in type (oid below 16384). A type a role
-- created (enum, composite, range, domain over such a type) or an extension
-- type is not built in: its casts to text or json, and its operators, may be
-- functions a table owner wrote, so graphsync renders its values through the
-- type's output function instead (graph._value_expr). Only a superuser can
-- create an output function, so that one is safe to run for anyone.
-- An array of a domain is not built in either: it is no domain, so graphsync
-- would cast to it (and a value cast to it runs the element domain's CHECK on
-- every element), and the array type is the domain owner's, who may create casts
-- from it (to text, json, jsonb, the array of the base type) with functions of
-- its own (tests/test_abuse_domain_arrays.py).
-- Reads: pg_type.
CREATE OR REPLACE FUNCTION graph._builtin_type(typ oid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.pg_type;
BEGIN
    FOR depth IN 1..32 LOOP
        typ := graph._base_type(typ);  -- under every domain
        SELECT * INTO t FROM pg_catalog.pg_type AS y WHERE y.oid = typ;
        IF NOT FOUND THEN
            RETURN false;
        ELSIF t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A' THEN
            typ := t.typelem;
            IF EXISTS (SELECT FROM pg_catalog.pg_type AS e WHERE e.oid = typ AND e.typtype = 'd') THEN
                RETURN false;  -- an array of a domain
            END IF;
        ELSE
            RETURN typ < 16384;
        END IF;
    END LOOP;
    RETURN false;
END;
$$;

COMMENT ON FUNCTION graph._builtin_type(oid) IS
'Internal: whether values of a type (domains and arrays looked through; an array of a domain is not) render with built-in code only.';
