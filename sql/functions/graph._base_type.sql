-- graph._base_type(typ): the type under every domain over it: typ itself when it
-- is no domain, NULL for no such type (or domains nested more than 32 deep).
-- pg_type.typbasetype names the type one domain down, which may be a domain
-- again, and a value cast to a domain runs its CHECK constraints, any function
-- the domain's owner wrote among them: whatever graphsync casts a value to
-- ("its base type") is this type, so no domain's code runs (tests/test_abuse.py).
-- Reads: pg_type.
CREATE OR REPLACE FUNCTION graph._base_type(typ oid)
RETURNS oid
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pg_catalog.pg_type;
BEGIN
    FOR depth IN 1..32 LOOP
        SELECT * INTO t FROM pg_catalog.pg_type AS y WHERE y.oid = typ;
        IF NOT FOUND THEN
            RETURN NULL;
        ELSIF t.typtype <> 'd' THEN
            RETURN typ;
        END IF;
        typ := t.typbasetype;
    END LOOP;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION graph._base_type(oid) IS
'Internal: the type under every domain over a type (the type itself when it is no domain).';
