-- 449-recheck-registered-filters: every row filter in the registry is checked again
-- as registration checks it (graph._check_filter). An edge source's filter that does
-- not pass is replaced by false (no row carries an edge, as reconcile does when a
-- filter's column is dropped) with a WARNING naming it, until a new one is
-- registered; a node table's is named in a WARNING and kept (capture, build and
-- verify check it again each time: no row passes it, and a build refuses it, 55000).
--
-- graph_admin may write the registry's tables by hand. The registry's trigger
-- (graph._check_registration) checks a filter written so; one written before the
-- trigger was never checked. A read asking, as its caller, which edges the join rows
-- it sees carry checks a stored edge filter against the catalog only
-- (graph._edge_filter_expr: the names in it are PostgreSQL's own, its columns are
-- there, it parses), not that it is immutable, which takes a temporary table and
-- index a read cannot make. So a volatile function of PostgreSQL's own planted
-- before the trigger (pg_catalog.query_to_xml('SELECT adm.f()', ...)) ran, with the
-- SQL it was handed, as every reader that join table's row-level security applies
-- to (tests/test_abuse.py). An edge filter that no longer checks for another reason
-- (a column retyped to a type of its owner's) passed no row already.
DO $$
DECLARE
    r record;
BEGIN
    IF pg_catalog.to_regprocedure('graph._check_filter(regclass, text, text[], text[])') IS NULL THEN
        RETURN;  -- a fresh install: no registered filter
    END IF;
    FOR r IN
        SELECT 'node' AS kind, n.table_oid AS id, n.table_oid AS tbl, n.row_filter
        FROM graph._node_tables AS n WHERE n.row_filter IS NOT NULL
        UNION ALL
        SELECT 'edge', e.edge_source_id, coalesce(e.via_table, e.from_table), e.row_filter
        FROM graph._edge_sources AS e WHERE e.row_filter IS NOT NULL
    LOOP
        BEGIN
            PERFORM graph._check_filter(r.tbl::pg_catalog.regclass, r.row_filter);
        EXCEPTION
            WHEN OTHERS THEN
                IF r.kind = 'node' THEN
                    RAISE WARNING 'graphsync: the row filter % of table % does not check (%): no row passes it'
                        ' until a new one is registered', r.row_filter, r.tbl::pg_catalog.regclass, SQLERRM;
                ELSE
                    RAISE WARNING 'graphsync: the row filter % of edge source % (%) does not check (%): it is now'
                        ' false (no row carries an edge) until a new one is registered', r.row_filter, r.id,
                        r.tbl::pg_catalog.regclass, SQLERRM;
                    UPDATE graph._edge_sources SET row_filter = 'false', row_filter_columns = '{}'
                    WHERE edge_source_id = r.id;
                END IF;
        END;
    END LOOP;
END;
$$;
