-- graph.alter_table(tbl, add_properties, remove_properties, add_filter_columns,
-- remove_filter_columns): change which columns of registered node table tbl are
-- kept as properties and as filter columns, without removing and registering
-- it again. Each array is optional (NULL: no change). Refused, changing
-- nothing: a table that is not registered (55000), a column tbl does not have
-- or a NULL one (42703, 22004), adding a property or filter column it has
-- already (42710), removing one it does not have (42703), the same column added
-- and removed in one call (22023). Regenerates the table's capture and flags a
-- rebuild: existing nodes take the new columns at the next graph.build() (or
-- maintenance run). Returns the table. Touches: graph._node_tables, the
-- capture function of tbl.
CREATE OR REPLACE FUNCTION graph.alter_table(
    tbl regclass,
    add_properties text[] DEFAULT NULL,
    remove_properties text[] DEFAULT NULL,
    add_filter_columns text[] DEFAULT NULL,
    remove_filter_columns text[] DEFAULT NULL
)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    node graph._node_tables;
    props text [];
    filters text [];
    c text;
BEGIN
    PERFORM graph._require_admin();
    node := graph._node_table(tbl, 'table');
    IF array_position(add_properties || remove_properties || add_filter_columns || remove_filter_columns,
                      NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'column names must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM graph._check_columns(tbl, coalesce(add_properties, '{}') || coalesce(add_filter_columns, '{}'));
    SELECT x INTO c FROM unnest(add_properties) AS x WHERE x = ANY (remove_properties)
    UNION ALL SELECT x FROM unnest(add_filter_columns) AS x WHERE x = ANY (remove_filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % is both added and removed', quote_ident(c) USING ERRCODE = '22023';
    END IF;
    SELECT x INTO c FROM unnest(add_properties) AS x WHERE x = ANY (node.columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is already a property', quote_ident(c), tbl USING ERRCODE = '42710';
    END IF;
    SELECT x INTO c FROM unnest(add_filter_columns) AS x WHERE x = ANY (node.filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is already a filter column', quote_ident(c), tbl USING ERRCODE = '42710';
    END IF;
    SELECT x INTO c FROM unnest(remove_properties) AS x WHERE NOT x = ANY (node.columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is not a property', quote_ident(c), tbl USING ERRCODE = '42703';
    END IF;
    SELECT x INTO c FROM unnest(remove_filter_columns) AS x WHERE NOT x = ANY (node.filter_columns) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column % of % is not a filter column', quote_ident(c), tbl USING ERRCODE = '42703';
    END IF;

    -- Kept in registration order, added ones last, each once.
    SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO props
    FROM (SELECT DISTINCT ON (x) x, o
          FROM unnest(node.columns || coalesce(add_properties, '{}')) WITH ORDINALITY AS u (x, o)
          WHERE NOT x = ANY (coalesce(remove_properties, '{}'))
          ORDER BY x, o) AS k;
    SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO filters
    FROM (SELECT DISTINCT ON (x) x, o
          FROM unnest(node.filter_columns || coalesce(add_filter_columns, '{}')) WITH ORDINALITY AS u (x, o)
          WHERE NOT x = ANY (coalesce(remove_filter_columns, '{}'))
          ORDER BY x, o) AS k;
    IF props = node.columns AND filters = node.filter_columns THEN
        RETURN tbl;
    END IF;
    UPDATE graph._node_tables AS n SET columns = props, filter_columns = filters WHERE n.table_oid = tbl;
    UPDATE graph._sync_state SET build_required = true;
    PERFORM graph._install_capture(tbl);
    RETURN tbl;
END;
$$;

COMMENT ON FUNCTION graph.alter_table(regclass, text[], text[], text[], text[]) IS
'Add or remove property and filter columns of a registered node table; regenerates capture and flags a rebuild.';
