-- graph._check_registration(column, ...): the trigger of the registry's tables
-- (migration 426) refusing (42501) a row that names, in one of the given oid
-- columns, a table the role writing it (current_user) may not SELECT or put
-- triggers on -- the rule of graph._check_table, which registration applies --
-- when that table is new to the row (an INSERT, or an UPDATE changing it); a
-- superuser and graph_sync (its SECURITY DEFINER functions follow the owner's DDL)
-- pass. An oid no table holds is refused (42P01): oids are handed out in order, and
-- rows naming the next ones named whatever table its owner created next; a row that
-- keeps a dropped table's oid (the registry keeps such rows until reconcile) is no
-- new name. And a row filter new to a row of graph._node_tables or
-- graph._edge_sources (or its columns changed) is checked as registration checks
-- it (graph._check_filter, 42P17 and the rest of its errors) and stored as that
-- deparses it: every place that uses a filter checks it again, but a read, which
-- cannot make the check's temporary table, only against the catalog, and an
-- admin's planted filter calling its own function ran as a plain reader whose
-- join table's row-level security made its read ask the filter (found in
-- review). SECURITY INVOKER: the privileges are the writer's.
CREATE OR REPLACE FUNCTION graph._check_registration()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col text;
    tbl oid;
    filter text;
    checked text;
    cols text [];
    new_row jsonb := pg_catalog.to_jsonb(NEW);
    old_row jsonb := pg_catalog.to_jsonb(OLD);  -- NULL for an INSERT
BEGIN
    IF current_user = 'graph_sync'
       OR (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RETURN NEW;
    END IF;
    FOREACH col IN ARRAY TG_ARGV LOOP
        tbl := (new_row OPERATOR(pg_catalog.->>) col)::pg_catalog.oid;
        IF tbl IS NULL
           OR (TG_OP = 'UPDATE' AND tbl = (old_row OPERATOR(pg_catalog.->>) col)::pg_catalog.oid) THEN
            CONTINUE;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = tbl) THEN
            -- an oid no table holds yet: oids are handed out in order, and a row naming
            -- the next ones named the table its owner created next
            RAISE EXCEPTION 'relation with OID % does not exist', tbl USING ERRCODE = '42P01';
        END IF;
        IF NOT (pg_catalog.has_table_privilege(tbl, 'SELECT') AND pg_catalog.has_table_privilege(tbl, 'TRIGGER')) THEN
            RAISE EXCEPTION 'permission denied for table %: a registration needs SELECT and TRIGGER on it',
                tbl::pg_catalog.regclass
                USING ERRCODE = '42501',
                      HINT = 'Register tables with graph.add_table and graph.add_edge, as a role with those rights.';
        END IF;
    END LOOP;
    IF TG_TABLE_NAME IN ('_node_tables', '_edge_sources') THEN
        filter := new_row OPERATOR(pg_catalog.->>) 'row_filter';
        IF filter IS NOT NULL
           AND (TG_OP = 'INSERT'
                OR (new_row OPERATOR(pg_catalog.->) 'row_filter')
                   OPERATOR(pg_catalog.<>) (old_row OPERATOR(pg_catalog.->) 'row_filter')
                OR (new_row OPERATOR(pg_catalog.->) 'row_filter_columns')
                   OPERATOR(pg_catalog.<>) (old_row OPERATOR(pg_catalog.->) 'row_filter_columns')) THEN
            tbl := CASE TG_TABLE_NAME
                       WHEN '_node_tables' THEN (new_row OPERATOR(pg_catalog.->>) 'table_oid')::pg_catalog.oid
                       ELSE coalesce(new_row OPERATOR(pg_catalog.->>) 'via_table',
                                     new_row OPERATOR(pg_catalog.->>) 'from_table')::pg_catalog.oid
                   END;
            SELECT f.expression, f.columns INTO checked, cols
            FROM graph._check_filter(tbl::pg_catalog.regclass, filter) AS f;
            NEW.row_filter := checked;
            NEW.row_filter_columns := cols;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION graph._check_registration() IS
'Internal: trigger of the registry''s tables refusing a row naming a table its writer may not SELECT and put triggers on (migration 426), and checking a row filter written to it as registration does.';
