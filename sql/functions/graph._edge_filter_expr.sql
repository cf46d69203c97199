-- graph._edge_filter_expr(edge_source_id, alias): the SQL expression (boolean,
-- never NULL) of whether alias, a row of the edge source's carrying table, passes
-- the source's registered row filter; 'true' without one. What a read runs, as
-- its caller, to ask which edges the join-table rows it can see carry
-- (reads/edge_rows.py): a visible row that fails the filter carries no edge.
-- A read cannot check the filter again as graph._filter_expr does (the check
-- makes a temporary table; a read writes nothing, also on a hot standby), so it
-- takes the filter as registration checked and stored it (graph._check_filter's
-- deparsed expression and the columns it reads) and checks, reading only the
-- catalog, that it still applies to the table as it is now: each column it reads
-- is there, of PostgreSQL's own (base) type or an enum (graph._filter_type_ok,
-- graph._check_filter's rule), and the expression parses over those types (on
-- no row, in a subtransaction). Otherwise 'false' with a WARNING, as capture does: no row
-- passes, so the caller walks none of the source's edges until the filter is
-- registered again. Rendered by graph._filter_row_expr (never an owner's code).
-- Reads: graph._edge_sources, the catalog.
CREATE OR REPLACE FUNCTION graph._edge_filter_expr(edge_source_id integer, alias text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    e graph._edge_sources;
    carrier oid;
    typed text;
    foreign_name text;
BEGIN
    SELECT s.* INTO e FROM graph._edge_sources AS s WHERE s.edge_source_id = _edge_filter_expr.edge_source_id;
    IF NOT FOUND THEN
        RETURN 'false';
    ELSIF e.row_filter IS NULL THEN
        RETURN 'true';
    END IF;
    carrier := coalesce(e.via_table, e.from_table);
    -- A name of anyone's code but PostgreSQL's: not parsed at all (parsing runs the
    -- input functions of the literals' types; graph._filter_foreign_name). A filter
    -- written to the registry is checked there as registration checks it
    -- (graph._check_registration); this keeps a row written before that from running.
    foreign_name := graph._filter_foreign_name(carrier::pg_catalog.regclass, e.row_filter);
    IF foreign_name IS NOT NULL THEN
        RAISE WARNING 'graphsync: the row filter % of % names %, not PostgreSQL''s own: no row passes it until it'
            ' is registered again', e.row_filter, carrier::regclass, foreign_name;
        RETURN 'false';
    END IF;
    -- Each column the filter reads, NULL as a value of its base type (what
    -- graph._filter_row_expr hands the filter); NULL when one is gone or of another type.
    SELECT CASE WHEN count(a.attname) = cardinality(e.row_filter_columns)
                     AND coalesce(bool_and(graph._filter_type_ok(a.atttypid)), true)
                THEN coalesce(string_agg(format('NULL::%s AS %I', pg_catalog.format_type(b.oid, NULL), a.attname),
                                         ', '), 'NULL AS _gs_none') END
    INTO typed
    FROM pg_catalog.pg_attribute AS a
    JOIN pg_catalog.pg_type AS b ON b.oid = graph._base_type(a.atttypid)
    WHERE a.attrelid = carrier AND a.attname = ANY (e.row_filter_columns) AND a.attnum > 0 AND NOT a.attisdropped;
    IF typed IS NULL THEN
        RAISE WARNING 'graphsync: the row filter % of % no longer applies to its columns: no row passes it until it'
            ' is registered again', e.row_filter, carrier::regclass;
        RETURN 'false';
    END IF;
    BEGIN
        EXECUTE format('SELECT (%s) FROM (SELECT %s) AS _gs_row LIMIT 0', e.row_filter, typed);
    EXCEPTION
        WHEN invalid_object_definition OR undefined_column OR datatype_mismatch OR invalid_parameter_value
             OR undefined_table OR undefined_function OR undefined_object OR cannot_coerce
             OR ambiguous_function THEN
            RAISE WARNING 'graphsync: the row filter % of % no longer checks (%): no row passes it until it is'
                ' registered again', e.row_filter, carrier::regclass, SQLERRM;
            RETURN 'false';
    END;
    RETURN graph._filter_row_expr(carrier, e.row_filter, e.row_filter_columns, alias);
END;
$$;

COMMENT ON FUNCTION graph._edge_filter_expr(integer, text) IS
'Internal: the SQL expression of whether a row passes an edge source''s stored row filter, checked against the catalog only (what a read runs as its caller; never an owner''s code).';
