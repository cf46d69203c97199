-- graph._functions_named(names, asked_by): every function of schema graph with one of
-- the names (every overload of each), in oid order, for the install scripts that set
-- something on functions chosen by name (sql/output-settings.sql, sql/plan-settings.sql,
-- sql/privileges.sql), so that none restates a signature. A name that matches no
-- function is an error (42883) naming the script (asked_by) and the names: a renamed or
-- dropped function must not leave a script quietly doing nothing.
CREATE OR REPLACE FUNCTION graph._functions_named(names text[], asked_by text)
RETURNS SETOF regprocedure
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text [];
BEGIN
    missing := ARRAY(
        SELECT n FROM pg_catalog.unnest(names) AS n
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                          WHERE p.pronamespace = 'graph'::pg_catalog.regnamespace AND p.proname = n)
    );
    IF missing <> '{}' THEN
        RAISE EXCEPTION '% names functions schema graph does not have: %', asked_by, missing
            USING ERRCODE = '42883';
    END IF;
    RETURN QUERY
    SELECT p.oid::pg_catalog.regprocedure FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'graph'::pg_catalog.regnamespace AND p.proname = ANY (names)
    ORDER BY p.oid;
END;
$$;

COMMENT ON FUNCTION graph._functions_named(text[], text) IS
'Internal (install): the functions of schema graph with these names, every overload, for the scripts that set something on functions by name; an error for a name that matches none.';
