-- graph._write_replica_capture(tbl): (re)generate the ROW-level capture function
-- of table tbl, graph._capture_row_<oid>, which captures the rows a logical
-- replication subscription applies to tbl; drop it (and with it the triggers
-- that call it) when tbl is no longer registered. Returns whether it exists now.
-- graph._install_capture calls it beside graph._write_capture, and the schema
-- change follower regenerates both.
--
-- Why a second capture path: PostgreSQL's logical replication apply worker
-- fires ROW triggers only, never statement triggers, for the INSERT, UPDATE and
-- DELETE it applies (TRUNCATE does fire statement triggers there; the initial
-- table synchronization runs a COPY, which fires both). graphsync captures with
-- statement triggers over transition tables (graph._write_capture), so a graph
-- replica (a database that subscribes to the source tables and keeps its own
-- log and graph) would see the initial copy and nothing after it. The triggers
-- that call this function (graphsync_replica_capture_<event>, on each captured
-- table and its regular-table members; graph._trigger_states) are AFTER ... FOR
-- EACH ROW, enabled REPLICA: they fire only in sessions whose
-- session_replication_role is replica, so the primary's ordinary writes never
-- call them (an enabled-state check per row inside PostgreSQL's trigger code,
-- no function call).
--
-- Exactly once: in a replica-role session the statement triggers (enabled
-- ALWAYS) fire too, except in the apply path of a replication worker. So the
-- body logs only when its backend is a logical replication worker (apply or
-- table synchronization worker: its pid is in pg_stat_get_subscription(NULL),
-- which any role may read, unlike pg_stat_get_activity's backend_type, which
-- graph_capture is shown NULL for) that is not running a COPY
-- (pg_stat_get_progress_info('COPY'), whose pid column every role sees: the
-- initial copy of a table synchronization, which the statement triggers
-- capture); everywhere else (a manual session with session_replication_role =
-- replica, the initial copy) it returns at once and the statement triggers
-- capture. The first lookup reads the few logical replication worker slots in
-- shared memory; the second the backend status snapshot PostgreSQL keeps for
-- the transaction.
--
-- What it logs is what the statement path logs for a statement of that one row
-- (graph._write_capture documents the format): the same expressions
-- (graph._key_expr, graph._object_expr, graph._captured_expr,
-- graph._carried_expr), in their checked forms, over the trigger's OLD and NEW:
--   INSERT  I  pk = new_pk = k_n, properties p_n, new_row r_n
--   UPDATE  U  pk = new_pk = k_n, old_pk k_o, properties p_n, old_row r_o,
--              new_row r_n; nothing when the key, p and r are all unchanged
--   DELETE  D  pk = old_pk = k_o, old_row r_o
-- A row filter that raises is logged as graph._write_capture logs it (the
-- error in place of the filter results), for that row alone: the statement path
-- logs every row of a statement so when any of its rows raises, this one logs
-- the other rows of a replicated statement with their results. table_oid and
-- table_name are tbl's, for its members' rows too.
--
-- SECURITY DEFINER, owned by graph_capture like the statement capture function,
-- pinning search_path (and the output settings unless every rendered column's
-- type ignores them), schema-qualified throughout; it refuses to run as the
-- trigger of any table but tbl and its members (42501). This generator is
-- SECURITY DEFINER owned by graph_sync, with graph._write_capture's checks:
-- the session user is a graph_admin member or owns tbl.
-- Touches: the function graph._capture_row_<oid> (and, when dropped, its triggers).
CREATE OR REPLACE FUNCTION graph._write_replica_capture(tbl oid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn text := format('graph.%I', '_capture_row_' || tbl);
    node graph._node_tables;
    key_cols text [];
    prop_cols text [];
    row_cols text [];
    read_cols text [];
    k_o text; k_n text; p_o text; p_n text; r_o text; r_n text; r_o1 text; r_n1 text;
    ident text;
    existed boolean;
    plain_text boolean;
    ops text;
    settings_free oid [] := '{int2,int4,int8,oid,numeric,text,varchar,bpchar,name,bool,uuid}'::regtype [];
BEGIN
    IF NOT (pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER')
            OR coalesce((SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'USAGE')
                         FROM pg_catalog.pg_class AS c WHERE c.oid = tbl), false))
    THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', session_user
            USING ERRCODE = '42501';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(7420152);  -- graph._write_capture's lock: the grant below
    SELECT * INTO node FROM graph._node_tables WHERE table_oid = tbl;
    IF node.table_oid IS NULL AND NOT EXISTS (
        SELECT FROM graph._edge_sources AS e WHERE coalesce(e.via_table, e.from_table) = tbl
    ) THEN
        EXECUTE format('DROP FUNCTION IF EXISTS %s() CASCADE', fn);
        RETURN false;
    END IF;
    -- The columns, as graph._write_capture chooses them.
    SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') INTO row_cols FROM (
        SELECT node.tenant_column AS c
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'fk' AND e.from_table = tbl
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.to_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = tbl
    ) AS cols WHERE c IS NOT NULL;
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
        -- prop_cols stays NULL: p_o and p_n are a NULL jsonb for a join table
    END IF;

    k_o := graph._key_expr(tbl, key_cols, 'o');
    k_n := graph._key_expr(tbl, key_cols, 'n');
    p_o := graph._object_expr(tbl, prop_cols, 'o', false);
    p_n := graph._object_expr(tbl, prop_cols, 'n', false);
    r_o := graph._object_expr(tbl, row_cols, 'o', true);
    r_n := graph._object_expr(tbl, row_cols, 'n', true);
    r_o1 := r_o;
    r_n1 := r_n;
    IF graph._carried_expr(tbl, 'o') IS NOT NULL THEN
        r_o := format('(%s || %s)', r_o1, graph._carried_expr(tbl, 'o'));
        r_n := format('(%s || %s)', r_n1, graph._carried_expr(tbl, 'n'));
        SELECT array_agg(DISTINCT c) INTO read_cols FROM (
            SELECT unnest(coalesce(e.from_columns, '{}') || coalesce(e.to_columns, '{}') || e.row_filter_columns) AS c
            FROM graph._edge_sources AS e WHERE coalesce(e.via_table, e.from_table) = tbl
            UNION ALL SELECT unnest(node.row_filter_columns)
        ) AS x;
        row_cols := row_cols || coalesce(read_cols, '{}');
    END IF;
    ident := format('%s, %L', tbl, tbl::regclass::text);
    SELECT count(*) = count(*) FILTER (WHERE a.atttypid = ANY (settings_free))
           AND count(*) = cardinality(ARRAY(SELECT DISTINCT unnest(key_cols || prop_cols || row_cols)))
    INTO plain_text
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname = ANY (key_cols || prop_cols || row_cols);
    existed := pg_catalog.to_regprocedure(fn || '()') IS NOT NULL;

    -- %1$s ident, %2$s-%7$s k_n p_n r_n k_o r_o p_o; n and o are the trigger's NEW and OLD.
    ops := $o$
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
        SELECT 'I', %1$s, %2$s, %2$s, %3$s, %4$s FROM (SELECT NEW.*) AS n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
        SELECT 'D', %1$s, %5$s, %5$s, %6$s FROM (SELECT OLD.*) AS o;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        INSERT INTO graph._sync_log
            (op, table_oid, table_name, pk, old_pk, new_pk, properties, old_row, new_row)
        SELECT 'U', %1$s, n.k, o.k, n.k, n.p, o.r, n.r
        FROM (SELECT %5$s AS k, %7$s AS p, %6$s AS r FROM (SELECT OLD.*) AS o) AS o,
             (SELECT %2$s AS k, %3$s AS p, %4$s AS r FROM (SELECT NEW.*) AS n) AS n
        WHERE o.k IS NULL OR n.k IS NULL OR o.k OPERATOR(pg_catalog.<>) n.k
           OR o.p OPERATOR(pg_catalog.<>) n.p OR o.r OPERATOR(pg_catalog.<>) n.r;
    END IF;
$o$;
    IF node.row_filter IS NOT NULL OR EXISTS (
        SELECT FROM graph._edge_sources AS e
        WHERE coalesce(e.via_table, e.from_table) = tbl AND e.row_filter IS NOT NULL)
    THEN
        -- A filter that raises: log the row with the error in place of the filter results.
        ops := format(E'    BEGIN\n%s    EXCEPTION WHEN data_exception THEN\n%s    END;\n',
                      format(ops, ident, k_n, p_n, r_n, k_o, r_o, p_o),
                      format(ops, ident, k_n, p_n, format('(%s || %s)', r_n1, graph._carried_expr(tbl, 'n', true)),
                             k_o, format('(%s || %s)', r_o1, graph._carried_expr(tbl, 'o', true)), p_o));
    ELSE
        ops := format(ops, ident, k_n, p_n, r_n, k_o, r_o, p_o);
    END IF;

    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
%2$s
AS $body$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %3$L::pg_catalog.oid THEN
        -- Fired on a partition or inheritance child of the table, or forged.
        IF NOT EXISTS (
            WITH RECURSIVE up (relid) AS (
                SELECT TG_RELID
                UNION
                SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.relid
            )
            SELECT FROM up WHERE up.relid OPERATOR(pg_catalog.=) %3$L::pg_catalog.oid
        ) THEN
            RAISE EXCEPTION 'graphsync: this capture function belongs to table %%', %4$L
                USING ERRCODE = '42501';
        END IF;
    END IF;
    -- Only a replication worker's apply: elsewhere the statement triggers capture.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_stat_get_subscription(NULL) AS w
                   WHERE w.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
       OR EXISTS (SELECT FROM pg_catalog.pg_stat_get_progress_info('COPY') AS p
                  WHERE p.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
%5$s    RETURN NULL;
END;
$body$;
REVOKE ALL ON FUNCTION %1$s() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION %1$s() TO graph_admin;
GRANT EXECUTE ON FUNCTION %1$s() TO PUBLIC;
$f$, fn,
       'SET search_path = pg_catalog, pg_temp'
       || CASE WHEN plain_text THEN '' ELSE E'\n' || graph._output_settings() END,
       tbl, tbl::regclass::text, ops);

    IF NOT existed THEN
        GRANT CREATE ON SCHEMA graph TO graph_capture;
        EXECUTE format('ALTER FUNCTION %s() OWNER TO graph_capture', fn);
        REVOKE CREATE ON SCHEMA graph FROM graph_capture;
    END IF;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION graph._write_replica_capture(oid) IS
'Internal: (re)generate a table''s row-level capture function for logical replication''s apply worker, owned by graph_capture, or drop it when the table is no longer registered; whether it exists.';
