-- graph._check_filter(tbl, row_filter, old_names, new_names): check a row filter
-- and return it as graphsync stores it: (expression, columns), the expression
-- as PostgreSQL deparses it (one expression, whatever text was passed) and the
-- columns of tbl it reads.
-- A row filter is a boolean expression over tbl's own columns that runs only
-- code shipped with PostgreSQL, and only immutable code: capture evaluates it
-- as graph_capture inside every write, build and verify as the admin, so it
-- must never run a function, operator, cast or domain check a table owner (or
-- anyone but PostgreSQL) wrote, nor depend on time, settings or other rows.
-- Parsed, and deparsed, with standard_conforming_strings on whatever the session
-- says (a backslash in a literal is itself: graph._output_settings pins it wherever
-- the stored text is read again), and with array_nulls on: a NULL in an array
-- literal is a NULL, as capture, build and verify read it (the follower re-reads
-- a stored filter in the session of the owner whose DDL it follows, where
-- '{a,NULL}' under array_nulls off became '{a,"NULL"}':
-- tests/test_abuse_filter_output_settings.py).
-- Checked in two steps, under the pinned search_path pg_catalog, pg_temp, on an
-- empty temporary table with tbl's column names and types:
--   1. parsed, not planned, as a temporary view over the copy: anything the
--      view's rule depends on besides the copy's columns, enum types and
--      collations is not PostgreSQL's own (built-in objects are pinned, and
--      pg_depend never records them) or another table, and is refused before
--      any planning could fold a call of it on constants (an owner's IMMUTABLE
--      function, implicit cast or domain check would run as the admin);
--   2. the predicate of a partial index on the copy: PostgreSQL's own rules
--      refuse subqueries, aggregates, window and set-returning functions and
--      anything not immutable.
-- Errors, each changing nothing:
--   22023  empty, or a ';' in it (one expression only)
--   42703  a column tbl does not have (PostgreSQL's own error)
--   42804  not boolean
--   42P17  a qualified name outside pg_catalog but an enum of tbl's columns or a
--          collation (graph._filter_foreign_name: refused before parsing, which
--          runs input functions), another table, a subquery, an aggregate, a window or set-returning
--          function, a function that is not immutable, or any function,
--          operator, type (enums aside) or other object not PostgreSQL's own;
--          a column whose (base) type is not PostgreSQL's own or an enum
CREATE OR REPLACE FUNCTION graph._check_filter(
    tbl regclass, row_filter text, old_names text[] DEFAULT '{}', new_names text[] DEFAULT '{}'
)
RETURNS TABLE (expression text, columns text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
SET array_nulls = on
AS $$
#variable_conflict use_column
DECLARE
    copy oid;
    idx oid;
    bad text;
    i integer;
    e_state text;
    e_detail text;
    e_hint text;
BEGIN
    IF row_filter IS NULL OR btrim(row_filter) = '' OR strpos(row_filter, ';') > 0 THEN
        RAISE EXCEPTION 'a row filter must be one boolean expression, not %',
            coalesce(quote_literal(row_filter), 'NULL') USING ERRCODE = '22023';
    END IF;
    -- Named before it is parsed: parsing runs the input function of a literal's type,
    -- and so the CHECK of a domain an array, composite or range of it holds (below).
    bad := graph._filter_foreign_name(tbl, row_filter);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'row filter % names %, which is not PostgreSQL''s own', row_filter, bad
            USING ERRCODE = '42P17',
            HINT = 'A row filter may name, besides the row''s columns, only PostgreSQL''s own functions,'
                   ' operators and types (pg_catalog), the enum types of the table''s columns and collations.';
    END IF;
    -- Not DROP ... IF EXISTS: its NOTICEs ("does not exist, skipping") reached the caller.
    IF pg_catalog.to_regclass('pg_temp._gs_filter_check') IS NOT NULL THEN
        DROP TABLE pg_temp._gs_filter_check CASCADE;
    END IF;
    -- The copy names each column and type from the catalog (LIKE would need SELECT on tbl).
    -- Parsing reads a literal compared with a column as a value of the column's type,
    -- through its input function: for an array of a domain (or a composite or range
    -- holding one) that runs the domain's CHECK, as the caller. So a column of a type
    -- a filter may not read (graph._filter_type_ok: an array of a domain is none of
    -- PostgreSQL's own) is copied as text: the filter reading it is refused, and nothing ran.
    EXECUTE format('CREATE TEMP TABLE _gs_filter_check (%s) ON COMMIT DROP',
                   (SELECT string_agg(format('%I %s', a.attname,
                                             CASE WHEN graph._filter_type_ok(a.atttypid)
                                                  THEN pg_catalog.format_type(a.atttypid, a.atttypmod)
                                                  ELSE 'pg_catalog.text' END),
                                      ', ' ORDER BY a.attnum)
                    FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped));
    FOR i IN 1 .. coalesce(cardinality(old_names), 0) LOOP
        EXECUTE format('ALTER TABLE pg_temp._gs_filter_check RENAME COLUMN %I TO %I', new_names[i],
                       '_gs_renamed_' || i);
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(old_names), 0) LOOP
        EXECUTE format('ALTER TABLE pg_temp._gs_filter_check RENAME COLUMN %I TO %I', '_gs_renamed_' || i,
                       old_names[i]);
    END LOOP;
    copy := 'pg_temp._gs_filter_check'::regclass;
    -- 1. Parsed only: what it names.
    BEGIN
        EXECUTE format('CREATE TEMP VIEW _gs_filter_view AS SELECT (%s) AS f FROM pg_temp._gs_filter_check',
                       row_filter);
    EXCEPTION
        WHEN undefined_table THEN
            RAISE EXCEPTION 'row filter % is not an expression over the columns of % alone: %', row_filter, tbl,
                SQLERRM USING ERRCODE = '42P17';
        WHEN OTHERS THEN
            -- PostgreSQL's own error (a column tbl lacks, a syntax error, ...), naming the filter
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_detail = PG_EXCEPTION_DETAIL,
                                    e_hint = PG_EXCEPTION_HINT;
            RAISE EXCEPTION 'row filter % of %: %', row_filter, tbl, SQLERRM
                USING ERRCODE = e_state, DETAIL = e_detail,
                HINT = CASE WHEN e_hint <> '' THEN e_hint
                            ELSE 'A row filter is one boolean expression over the columns of ' || tbl::text || '.' END;
    END;
    SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) INTO bad
    FROM pg_catalog.pg_rewrite AS r
    JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
    WHERE r.ev_class = 'pg_temp._gs_filter_view'::regclass
      AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (copy, r.ev_class))
      AND d.refclassid <> 'pg_catalog.pg_collation'::regclass
      AND NOT (d.refclassid = 'pg_catalog.pg_type'::regclass
               AND EXISTS (SELECT FROM pg_catalog.pg_type AS t WHERE t.oid = d.refobjid AND t.typtype = 'e'))
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'row filter % uses %, which is not PostgreSQL''s own or not a column of %', row_filter, bad,
            tbl USING ERRCODE = '42P17',
            HINT = 'A row filter may read only the row''s own columns and run only PostgreSQL''s own immutable'
                   ' functions and operators: capture runs it inside every write.';
    END IF;
    DROP VIEW pg_temp._gs_filter_view;
    -- 2. PostgreSQL's rules for an index predicate.
    BEGIN
        EXECUTE format('CREATE INDEX _gs_filter_check_idx ON pg_temp._gs_filter_check ((1)) WHERE %s', row_filter);
    EXCEPTION
        WHEN feature_not_supported OR grouping_error OR windowing_error THEN
            RAISE EXCEPTION 'row filter % is not an expression over the columns of % alone: %', row_filter, tbl,
                SQLERRM USING ERRCODE = '42P17',
                HINT = 'A row filter may use the row''s columns, constants and PostgreSQL''s own immutable'
                       ' functions and operators; no subquery, aggregate, window function or other table.';
        WHEN invalid_object_definition THEN
            RAISE EXCEPTION 'row filter % of % is not immutable: %', row_filter, tbl, SQLERRM
                USING ERRCODE = '42P17',
                HINT = 'A row filter must give the same answer at capture and at rebuild: no now(), random() or'
                       ' setting-dependent function (a soft delete is deleted_at IS NULL).';
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_detail = PG_EXCEPTION_DETAIL,
                                    e_hint = PG_EXCEPTION_HINT;
            RAISE EXCEPTION 'row filter % of %: %', row_filter, tbl, SQLERRM
                USING ERRCODE = e_state, DETAIL = e_detail,
                HINT = CASE WHEN e_hint <> '' THEN e_hint
                            ELSE 'A row filter is one boolean expression over the columns of ' || tbl::text || '.' END;
    END;
    idx := 'pg_temp._gs_filter_check_idx'::regclass;
    FOR i IN 1 .. coalesce(cardinality(old_names), 0) LOOP
        EXECUTE format('ALTER TABLE pg_temp._gs_filter_check RENAME COLUMN %I TO %I', old_names[i],
                       new_names[i]);
    END LOOP;
    -- The filter reads each column as a value of its base type (graph._filter_expr):
    -- that type's own code must be PostgreSQL's (graph._filter_type_ok: an owner's
    -- base or composite type brings its own equality and casts; an enum's are built in).
    SELECT format('column %s is of type %s', quote_ident(a.attname), pg_catalog.format_type(t.atttypid, NULL))
    INTO bad
    FROM pg_catalog.pg_depend AS d
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = copy AND a.attnum = d.refobjsubid
    -- the table's column of that name (the copy's type may be a stand-in, above)
    JOIN pg_catalog.pg_attribute AS t ON t.attrelid = tbl AND t.attname = a.attname AND t.attnum > 0
                                     AND NOT t.attisdropped
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = idx
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = copy AND d.refobjsubid > 0
      AND NOT graph._filter_type_ok(t.atttypid)
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'row filter % reads %, which is not a type of PostgreSQL''s own or an enum', row_filter, bad
            USING ERRCODE = '42P17';
    END IF;
    RETURN QUERY
    SELECT graph._deparse_filter(x.indexrelid),  -- under graphsync's output settings, not the caller's
           coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                     FROM pg_catalog.pg_attribute AS a
                     WHERE a.attrelid = copy AND a.attnum IN (
                         SELECT d.refobjsubid FROM pg_catalog.pg_depend AS d
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = idx
                           AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = copy
                           AND d.refobjsubid > 0)), '{}')
    FROM pg_catalog.pg_index AS x WHERE x.indexrelid = idx;
    DROP TABLE pg_temp._gs_filter_check;
END;
$$;

COMMENT ON FUNCTION graph._check_filter(regclass, text, text[], text[]) IS
'Internal: check a row filter (boolean, over the table''s own columns, PostgreSQL''s immutable code only) and return it deparsed with the columns it reads.';
