-- graph._filter_type_ok(typ): whether a row filter may read a column of type
-- typ: its base type (graph._base_type: under every domain) is one of
-- PostgreSQL's own (oid below 16384) or an enum, whose equality, ordering and
-- casts are built in. An owner's base, composite or range type brings its own
-- operators and casts, and an array of a domain is the domain owner's type
-- (graph._builtin_type): a filter reading one would run their code inside every
-- write. false for no such type. The one statement of the rule:
-- graph._check_filter applies it at registration, graph._edge_filter_expr again
-- at a read (as its caller). Reads: pg_type.
CREATE OR REPLACE FUNCTION graph._filter_type_ok(typ oid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    typ := graph._base_type(typ);  -- under every domain; NULL for no such type
    RETURN coalesce(typ < 16384 OR EXISTS (SELECT FROM pg_catalog.pg_type AS b WHERE b.oid = typ AND b.typtype = 'e'),
                    false);
END;
$$;

COMMENT ON FUNCTION graph._filter_type_ok(oid) IS
'Internal: whether a row filter may read a column of a type: its base type is PostgreSQL''s own or an enum.';
