-- graph._base_typmod(typ, typmod): the type modifier a value of type typ with
-- modifier typmod has under every domain over it: typmod when it is one (>= 0),
-- else the modifier of the first domain down the chain that has one (numeric(6,2)
-- under a domain under a domain), else -1. A domain's own pg_type.typtypmod is its
-- base type's modifier only one domain down: a domain over a domain has none.
-- What graphsync renders as a key's text (graph._as_key_expr) and parses a given
-- id to (reads/nodes.py, KEY_TYPES) is the value at graph._base_type(typ) with
-- this modifier, as the column holds it: 1.5 written to a numeric(6,2) key is 1.50.
-- Reads: pg_type.
CREATE OR REPLACE FUNCTION graph._base_typmod(typ oid, typmod integer)
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.pg_type;
BEGIN
    IF typmod >= 0 THEN
        RETURN typmod;
    END IF;
    FOR depth IN 1..32 LOOP
        SELECT * INTO t FROM pg_catalog.pg_type AS y WHERE y.oid = typ;
        IF NOT FOUND OR t.typtype <> 'd' THEN
            RETURN -1;
        ELSIF t.typtypmod >= 0 THEN
            RETURN t.typtypmod;
        END IF;
        typ := t.typbasetype;
    END LOOP;
    RETURN -1;
END;
$$;

COMMENT ON FUNCTION graph._base_typmod(oid, integer) IS
'Internal: the type modifier under every domain over a type (the given one when it is >= 0, else the first domain''s down the chain, else -1).';
