-- graph._install_capture(tbl): (re)generate the capture trigger function of
-- tbl from the registry and attach its statement-level triggers; drop them
-- when tbl is no longer registered as a node table or an edge source.
-- Rows are captured with the columns the graph needs: properties (typed) for
-- node tables, and keys, tenant, edge endpoint, weight and label columns as
-- text in old_row/new_row. An UPDATE that changes none of them logs nothing.
-- The capture function pins the settings that shape text output
-- (graph._output_settings()), so a key is captured the same whatever the
-- writer's session says; sql/output-settings.sql pins the same ones on every
-- function that renders source values. SECURITY DEFINER: owned by the installer, so a
-- graph_admin member needs no CREATE on schema graph (callers check that the
-- registering role may SELECT and TRIGGER the table). It also turns JIT off
-- (transition tables have no statistics: a bulk UPDATE's plan looked costly
-- enough to spend a third of its time compiling) and merge joins (a sort on
-- text keys where a hash join does).
-- Touches: pg_trigger of tbl, the function graph._capture_<oid>.
CREATE OR REPLACE FUNCTION graph._install_capture(tbl oid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn text := format('graph.%I', '_capture_' || tbl);
    node graph._node_tables;
    key_cols text [];
    prop_cols text [];
    row_cols text [];
    k_o text; k_n text; p_o text; p_n text; r_o text; r_n text;
    ident text := format('%s, %L', tbl, tbl::regclass::text);
    ev text;
    ref text;
BEGIN
    SELECT * INTO node FROM graph._node_tables WHERE table_oid = tbl;
    SELECT array_agg(DISTINCT c ORDER BY c) INTO row_cols FROM (
        SELECT node.tenant_column AS c
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'fk' AND e.from_table = tbl
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.to_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = tbl
    ) AS cols WHERE c IS NOT NULL;

    IF node.table_oid IS NULL AND row_cols IS NULL THEN
        EXECUTE format('DROP FUNCTION IF EXISTS %s() CASCADE', fn);
        RETURN;
    END IF;

    IF node.table_oid IS NOT NULL THEN
        key_cols := node.id_columns;
        SELECT coalesce(array_agg(c ORDER BY o), '{}') INTO prop_cols FROM (
            SELECT c, min(o) AS o
            FROM unnest(node.columns || node.filter_columns) WITH ORDINALITY AS u (c, o)
            GROUP BY c
        ) AS p;
    ELSE
        SELECT e.via_id_columns INTO key_cols
        FROM graph._edge_sources AS e WHERE e.via_table = tbl LIMIT 1;
    END IF;
    row_cols := coalesce(row_cols, '{}');

    k_o := graph._key_expr(key_cols, 'o');
    k_n := graph._key_expr(key_cols, 'n');
    p_o := graph._object_expr(prop_cols, 'o', false);
    p_n := graph._object_expr(prop_cols, 'n', false);
    r_o := graph._object_expr(row_cols, 'o', true);
    r_n := graph._object_expr(row_cols, 'n', true);

    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
%9$s
SET jit = off
SET enable_mergejoin = off
AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
        SELECT 'I', %2$s, %3$s, %3$s, %4$s, %5$s FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
        SELECT 'D', %2$s, %6$s, %6$s, %7$s FROM old_rows AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        -- One hash full join on the key pairs old and new rows; rows whose key
        -- changed (unmatched on both sides) are paired by their order.
        WITH j AS MATERIALIZED (
            SELECT o.k AS ok, o.p AS op, o.r AS orow, n.k AS nk, n.p AS np, n.r AS nrow
            FROM (SELECT %6$s AS k, %8$s AS p, %7$s AS r FROM old_rows AS o) AS o
            FULL JOIN (SELECT %3$s AS k, %4$s AS p, %5$s AS r FROM new_rows AS n) AS n
                ON n.k = o.k
        ),
        o2 AS (SELECT j.*, row_number() OVER () AS rn FROM j WHERE j.nk IS NULL),
        n2 AS (SELECT j.*, row_number() OVER () AS rn FROM j WHERE j.ok IS NULL)
        INSERT INTO graph._sync_log
            (op, table_oid, table_name, pk, old_pk, new_pk, properties, old_row, new_row)
        SELECT 'U', %2$s, j.nk, j.ok, j.nk, j.np, j.orow, j.nrow
        FROM j
        WHERE j.ok IS NOT NULL AND j.nk IS NOT NULL AND (j.op, j.orow) IS DISTINCT FROM (j.np, j.nrow)
        UNION ALL
        SELECT 'U', %2$s, n2.nk, o2.ok, n2.nk, n2.np, o2.orow, n2.nrow
        FROM o2 JOIN n2 ON n2.rn = o2.rn;
    ELSIF TG_OP = 'TRUNCATE' THEN
        INSERT INTO graph._sync_log (op, table_oid, table_name, needs_vacuum)
        VALUES ('T', %2$s, true);
    END IF;
    RETURN NULL;
END;
$body$;
REVOKE ALL ON FUNCTION %1$s() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION %1$s() TO graph_admin;
$f$, fn, ident, k_n, p_n, r_n, k_o, r_o, p_o, graph._output_settings());

    FOR ev, ref IN VALUES
        ('insert', 'REFERENCING NEW TABLE AS new_rows'),
        ('update', 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'),
        ('delete', 'REFERENCING OLD TABLE AS old_rows'),
        ('truncate', '')
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                       WHERE t.tgrelid = tbl AND t.tgname = 'graphsync_capture_' || ev) THEN
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT '
                           'EXECUTE FUNCTION %s()',
                           'graphsync_capture_' || ev, upper(ev), tbl::regclass, ref, fn);
        END IF;
    END LOOP;
END;
$$;
