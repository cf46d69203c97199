-- graph._base_type(typ): the type under every domain over it: typ itself when it
-- is no domain, NULL for no such type (or domains nested more than 32 deep).
-- pg_type.typbasetype names the type one domain down, which may be a domain
-- again, and a value cast to a domain runs its CHECK constraints, any function
-- the domain's owner wrote among them: whatever graphsync casts a value to
-- ("its base type") is this type, so no domain's code runs (tests/test_abuse.py).
-- An array of a domain is no domain, but casting to it runs the element domain's
-- CHECK on every element: its base type is the array of the element's base type
-- (ab.wt[] -> numeric[]; tests/test_abuse_domain_arrays.py). A composite holding a
-- domain stays itself: graphsync casts to no type that is not built in.
-- Reads: pg_type.
CREATE OR REPLACE FUNCTION graph._base_type(typ oid)
RETURNS oid
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.pg_type;
    elem oid;
BEGIN
    FOR depth IN 1..32 LOOP
        SELECT * INTO t FROM pg_catalog.pg_type AS y WHERE y.oid = typ;
        IF NOT FOUND THEN
            RETURN NULL;
        ELSIF t.typtype <> 'd' THEN
            IF t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A' THEN  -- an array
                elem := graph._base_type(t.typelem);
                IF elem IS DISTINCT FROM t.typelem THEN
                    RETURN (SELECT NULLIF(e.typarray, 0) FROM pg_catalog.pg_type AS e WHERE e.oid = elem);
                END IF;
            END IF;
            RETURN typ;
        END IF;
        typ := t.typbasetype;
    END LOOP;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION graph._base_type(oid) IS
'Internal: the type under every domain over a type (the type itself when it is no domain).';
