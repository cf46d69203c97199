-- graph._filter_foreign_name(tbl, row_filter): the first qualified name in the text
-- of row_filter that may name code or a type of anyone's but PostgreSQL's, NULL when
-- there is none. graph._check_filter asks it before it parses a filter at all.
-- Why before: parsing runs code. A literal read as an array, composite or range whose
-- element, column or subtype is a domain goes through the container's input
-- function, which runs the domain's CHECK, as whoever parses: a filter an admin wrote
-- into the registry ('{x}'::adm.checked[] IS NOT NULL) ran the admin's function as a
-- superuser's build() and verify(), before the check after parsing refused it (found
-- in review; tests/test_abuse_filter_literals.py). Filters are parsed under the
-- search_path pg_catalog, pg_temp, where no name of a role's own type, function or
-- operator resolves unqualified (the session's temporary types are the session's),
-- so a filter reaches such an object only by a qualified name. Allowed: a name
-- qualified by pg_catalog; a schema.name that is an enum type (PostgreSQL's input and
-- operators) under a column of tbl (graphsync deparses filters over enum columns
-- with the enum's qualified name), not followed by '('; a schema.name after COLLATE
-- that is a collation (no code). Anything else with a '.' outside strings, quoted
-- identifiers, comments and numbers is returned: another qualified name, a
-- three-part name, a field selection; and an unqualified name of a type in the
-- session's temporary schema.
-- The text is split into tokens as PostgreSQL's scanner does where it matters to
-- that: string constants (standard, E'' escapes, B''/X'', N'', U&'', with backslash
-- escapes as standard_conforming_strings says), quoted identifiers, dollar quotes,
-- nested comments, numbers. Reads: pg_type, pg_attribute, pg_collation.
CREATE OR REPLACE FUNCTION graph._filter_foreign_name(tbl regclass, row_filter text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f text := row_filter;
    n integer := pg_catalog.length(row_filter);
    pos integer := 1;
    j integer;
    depth integer;
    c text;
    m text;
    kinds text [] := '{}';   -- 'i' identifier, '.' a dot, '(' an open parenthesis, 'o' anything else
    vals text [] := '{}';
    escapes boolean;
    plain_escapes boolean := pg_catalog.current_setting('standard_conforming_strings') <> 'on';
    prefix text;
    k integer;
    name text;
    -- PostgreSQL's identifier characters: ASCII letters, '_', every character past
    -- ASCII (and after the first, digits and '$'); a dollar quote's tag takes no '$'.
    -- (E'' strings: what they mean does not depend on standard_conforming_strings.)
    ident text := E'[^\\u0001-\\u0040\\u005b-\\u005e\\u0060\\u007b-\\u007f][^\\u0001-\\u0023\\u0025-\\u002f\\u003a-\\u0040\\u005b-\\u005e\\u0060\\u007b-\\u007f]*';
    dolq text := E'^\\$(?:[^\\u0001-\\u0040\\u005b-\\u005e\\u0060\\u007b-\\u007f][^\\u0001-\\u002f\\u003a-\\u0040\\u005b-\\u005e\\u0060\\u007b-\\u007f]*)?\\$';
BEGIN
    IF f IS NULL THEN
        RETURN NULL;
    END IF;
    WHILE pos <= n LOOP
        c := pg_catalog.substr(f, pos, 1);
        IF c IN (' ', E'\t', E'\n', E'\r', E'\f') THEN
            pos := pos + 1;
        ELSIF pg_catalog.substr(f, pos, 2) = '--' THEN
            j := pg_catalog.strpos(pg_catalog.substr(f, pos), E'\n');
            k := pg_catalog.strpos(pg_catalog.substr(f, pos), E'\r');
            j := CASE WHEN j = 0 THEN k WHEN k = 0 THEN j ELSE least(j, k) END;
            pos := CASE WHEN j = 0 THEN n + 1 ELSE pos + j END;
        ELSIF pg_catalog.substr(f, pos, 2) = '/*' THEN
            depth := 1;
            pos := pos + 2;
            WHILE pos <= n AND depth > 0 LOOP
                IF pg_catalog.substr(f, pos, 2) = '/*' THEN
                    depth := depth + 1;
                    pos := pos + 2;
                ELSIF pg_catalog.substr(f, pos, 2) = '*/' THEN
                    depth := depth - 1;
                    pos := pos + 2;
                ELSE
                    pos := pos + 1;
                END IF;
            END LOOP;
        ELSIF c = '''' THEN
            -- a string constant; the identifier just before it, when adjacent, may be its prefix
            prefix := CASE WHEN pg_catalog.cardinality(kinds) > 0 AND kinds[pg_catalog.cardinality(kinds)] = 'i'
                                AND vals[pg_catalog.cardinality(vals)] IN ('e', 'b', 'x', 'n')
                                AND pos > 1 AND pg_catalog.lower(pg_catalog.substr(f, pos - 1, 1))
                                                = vals[pg_catalog.cardinality(vals)]
                           THEN vals[pg_catalog.cardinality(vals)] END;
            escapes := prefix = 'e' OR (plain_escapes AND prefix IS DISTINCT FROM 'b' AND prefix IS DISTINCT FROM 'x'
                                        AND NOT (pg_catalog.cardinality(kinds) > 1 AND vals[pg_catalog.cardinality(vals)] = '&'
                                                 AND kinds[pg_catalog.cardinality(kinds) - 1] = 'i'
                                                 AND vals[pg_catalog.cardinality(vals) - 1] = 'u'
                                                 AND pg_catalog.substr(f, pos - 2, 2) IN ('u&', 'U&')));
            pos := pos + 1;
            LOOP
                EXIT WHEN pos > n;
                c := pg_catalog.substr(f, pos, 1);
                IF c = E'\\' AND escapes THEN
                    pos := pos + 2;
                ELSIF c = '''' AND pg_catalog.substr(f, pos + 1, 1) = '''' THEN
                    pos := pos + 2;
                ELSIF c = '''' THEN
                    pos := pos + 1;
                    EXIT;
                ELSE
                    pos := pos + 1;
                END IF;
            END LOOP;
            kinds := kinds || 'o'::text;
            vals := vals || ''''::text;
        ELSIF c = '"' THEN
            j := pos + 1;
            m := '';
            LOOP
                EXIT WHEN j > n;
                IF pg_catalog.substr(f, j, 2) = '""' THEN
                    m := m || '"';
                    j := j + 2;
                ELSIF pg_catalog.substr(f, j, 1) = '"' THEN
                    j := j + 1;
                    EXIT;
                ELSE
                    m := m || pg_catalog.substr(f, j, 1);
                    j := j + 1;
                END IF;
            END LOOP;
            pos := j;
            kinds := kinds || 'i'::text;
            vals := vals || m;
        ELSIF c = '$' AND pg_catalog.substr(f, pos) ~ dolq THEN
            m := pg_catalog.substring(pg_catalog.substr(f, pos), dolq);
            j := pg_catalog.strpos(pg_catalog.substr(f, pos + pg_catalog.length(m)), m);
            pos := CASE WHEN j = 0 THEN n + 1 ELSE pos + pg_catalog.length(m) + j - 1 + pg_catalog.length(m) END;
            kinds := kinds || 'o'::text;
            vals := vals || '$'::text;
        ELSIF pg_catalog.ascii(c) BETWEEN 48 AND 57
              OR (c = '.' AND pg_catalog.ascii(pg_catalog.substr(f, pos + 1, 1)) BETWEEN 48 AND 57) THEN
            m := pg_catalog.substring(pg_catalog.substr(f, pos), E'^[0-9]*(?:\\.[0-9]*)?(?:[eE][+-]?[0-9]+)?');
            IF pg_catalog.right(m, 1) = '.' AND pg_catalog.substr(f, pos + pg_catalog.length(m), 1) = '.' THEN
                m := pg_catalog.rtrim(m, '.');  -- 1..2: an integer and two dots, as PostgreSQL reads it
            END IF;
            pos := pos + pg_catalog.length(m);
            kinds := kinds || 'o'::text;
            vals := vals || m;
        ELSIF c ~ ('^' || ident || '$') AND pg_catalog.length(c) = 1 AND c <> '$' THEN
            m := pg_catalog.substring(pg_catalog.substr(f, pos), '^' || ident);
            pos := pos + pg_catalog.length(m);
            kinds := kinds || 'i'::text;
            -- unquoted: ASCII letters fold to lower case
            vals := vals || pg_catalog.translate(m, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
        ELSE
            pos := pos + 1;
            kinds := kinds || CASE c WHEN '.' THEN '.' WHEN '(' THEN '(' ELSE 'o' END;
            vals := vals || c;
        END IF;
    END LOOP;
    -- An unqualified name of a type is looked up in pg_catalog, then in the session's
    -- temporary schema: a temporary table's row type (or a temporary domain or type) of
    -- whoever runs SQL in this session, whose columns may be of a domain holding its
    -- function, read as a literal's type would run it. Such a name is refused too.
    FOR k IN 1 .. pg_catalog.cardinality(kinds) LOOP
        IF kinds[k] = 'i' AND (k = 1 OR kinds[k - 1] <> '.')
           AND (k = pg_catalog.cardinality(kinds) OR kinds[k + 1] <> '.')
           AND EXISTS (SELECT FROM pg_catalog.pg_type AS t
                       WHERE t.oid = pg_catalog.to_regtype(pg_catalog.quote_ident(vals[k]))
                         AND t.typnamespace = pg_catalog.pg_my_temp_schema()) THEN
            RETURN 'pg_temp.' || pg_catalog.quote_ident(vals[k]);
        END IF;
    END LOOP;
    FOR k IN 1 .. pg_catalog.cardinality(kinds) LOOP
        CONTINUE WHEN kinds[k] <> '.';
        name := coalesce(vals[k - 1], '') || '.' || coalesce(vals[k + 1], '');
        -- pg_catalog.<anything>: PostgreSQL's own (no role but a superuser creates there)
        CONTINUE WHEN k > 1 AND kinds[k - 1] = 'i' AND vals[k - 1] = 'pg_catalog'
                      AND (k < 3 OR kinds[k - 2] <> '.');
        IF k > 1 AND k < pg_catalog.cardinality(kinds) AND kinds[k - 1] = 'i' AND kinds[k + 1] = 'i'
           AND (k < 3 OR kinds[k - 2] <> '.') AND (k + 2 > pg_catalog.cardinality(kinds) OR kinds[k + 2] NOT IN ('.', '(')) THEN
            name := pg_catalog.quote_ident(vals[k - 1]) || '.' || pg_catalog.quote_ident(vals[k + 1]);
            -- an enum of one of tbl's columns
            CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                                  JOIN pg_catalog.pg_type AS t ON t.oid = graph._base_type(a.atttypid)
                                  WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
                                    AND t.typtype = 'e' AND t.oid = pg_catalog.to_regtype(name));
            -- a collation
            CONTINUE WHEN k > 2 AND kinds[k - 2] = 'i' AND vals[k - 2] = 'collate'
                          AND pg_catalog.to_regcollation(name) IS NOT NULL;
        END IF;
        RETURN name;
    END LOOP;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION graph._filter_foreign_name(regclass, text) IS
'Internal: the first qualified name in a row filter''s text that may name anything but PostgreSQL''s own code (an enum of the table''s columns and a collation aside), read before the filter is parsed.';
