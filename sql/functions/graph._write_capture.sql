-- graph._write_capture(tbl, per_row): (re)generate the capture trigger function
-- of table tbl, graph._capture_<oid> (statement level), or with per_row
-- graph._capture_row_<oid> (row level, for logical replication's apply worker:
-- see "A row-level function" below), from the registry; drop it (and with it the
-- triggers that call it) when tbl is no longer registered as a node table or an
-- edge source. Returns whether the function exists now. graph._install_capture
-- calls it and attaches the triggers. This is the one generator of capture SQL:
-- both functions choose their columns, render their values and check their
-- trigger's table by the same code; they differ only in the pieces chosen on
-- per_row below (the statements, the SET clauses, the apply-worker check).
--
-- What a captured row holds (the format sync/changes.py reads):
--   pk, old_pk, new_pk  the key text (graph._key_expr)
--   properties          the registered and filter columns of a node table, typed
--                       JSON for built-in types, text otherwise (graph._object_expr)
--   old_row, new_row    the columns the graph needs besides (tenant, edge endpoints,
--                       weight, label), as text (graph._captured_expr: an endpoint
--                       as its target's key type renders it), and under the key ""
--                       the endpoints computed from several columns or JSON and the
--                       row filter results (graph._carried_expr)
-- An UPDATE that changes none of them logs nothing. No value is rendered by a
-- cast or operator a table owner could have written: type output functions only.
--
-- How the generated body builds a log row: the format() call at the end fills
-- its placeholders with these expressions, in this order (the body is then passed
-- to CREATE FUNCTION as one quoted literal, never between dollar quotes: it holds
-- names the table's owner chose):
--   %1$s  fn     the function's name, graph._capture_<oid of tbl>
--   %2$s  ident  "<oid>, '<name>'": the values of table_oid and table_name
--   %3$s  k_n    the key text of a new row         (alias n, a row of new_rows)
--   %4$s  p_n    the properties object of a new row
--   %5$s  r_n    the captured-columns object of a new row
--   %6$s  k_o    the key text of an old row         (alias o, a row of old_rows)
--   %7$s  r_o    the captured-columns object of an old row
--   %8$s  p_o    the properties object of an old row: only compared, so that an
--                UPDATE that changes no property and no captured column logs nothing
--   %9$s         (unused: the function's SET clauses, search_path, jit and enable_mergejoin off,
--                and graph._output_settings() pinning text output unless every
--                rendered column (key, properties, captured columns) is of a type
--                no setting renders differently and it embeds no row filter or
--                computed endpoint (lean: a filter's literals read as
--                standard_conforming_strings on says) (every capture function pins
--                search_path, as every SECURITY DEFINER function must; its body is
--                schema-qualified too), written by the CREATE FUNCTION statement)
--   %10$L %11$L  tbl's oid, for the check on TG_RELID, and name, a TRUNCATE's
--                table_name
--   %12$s        the statements below (ops), made by placeholders 2 to 8, 10, 11 and
--   %13$s-%18$s  fk_n, fp_n, fr_n, fk_o, fr_o, fp_o: k, p, r of a single row
--                (see fast; else the same as k, p, r)
--   %19$s %20$s  guard_n, guard_o: the type check of a row (else true), a
--                constant the planner computes (graph._type_of)
--   %21$s        guard_d: the type check of an old row's key and captured
--                columns, the only ones a DELETE renders (else true)
-- p_o and p_n are a NULL jsonb for a table that is no node table (a join table).
-- new_rows and old_rows are the statement's transition tables. PostgreSQL
-- appends an updated row's old and new version to them together, so the UPDATE
-- branch pairs them by position (row_number() over each, one hash join on it).
-- An UPDATE's old and new row are logged when the key changed or is NULL, or
-- else when p or r differ. A single-row UPDATE (most OLTP writes) takes a
-- statement of its own with the same outcome and neither join nor window.
-- The one exception: a row the UPDATE moves to another partition is deleted
-- (its old version appended) and then inserted there, and a BEFORE INSERT
-- trigger of that partition that returns NULL drops the insert, leaving an old
-- version with no new one after it: positions pair no longer. So an UPDATE of
-- several rows whose two tables differ in their counts is logged as a 'D' per
-- old row and an 'I' per new row (what the statement did; replay counts a key's
-- rows, so a key deleted and inserted again stays alive), and a single-row
-- UPDATE with no new row logs the row's 'D' (tests/test_abuse_capture_moves.py).
-- Each statement so writes one graph._sync_log row per row it changed:
--   op  pk    old_pk  new_pk  properties  old_row  new_row  needs_vacuum
--   I   k_n   NULL    k_n     p_n         NULL     r_n      false
--   U   k_n   k_o     k_n     p_n         r_o      r_n      false
--   D   k_o   k_o     NULL    NULL        r_o      NULL     false
-- and a TRUNCATE one 'T' row: no key, no values, needs_vacuum true, its id noted
-- in graph._sync_log_attention (migration 385: the log has no index of the rows
-- that need attention, which every captured row would pay for). table_oid and
-- table_name of I, U and D rows are tbl's (ident); id, xid and created_at take
-- their defaults (xid: the writer's transaction); error_message stays NULL until
-- replay fails on the row. Migration 001 documents each column.
--
-- Every statement of a capture function runs as a cursor (OPEN logged FOR ...
-- RETURNING NULL, MOVE, CLOSE), not as a plain statement: PostgreSQL quotes a
-- plain statement's text in the CONTEXT of an error raised while it runs, a
-- cursor's not. So an error raised while capture logs (a value over the 256 MB a
-- JSON string may hold, a statement timeout or cancel, out of memory or disk)
-- reaches the writing application as "PL/pgSQL function graph._capture_<oid>()
-- line N at MOVE": its SQLSTATE and message, not graphsync's query. MOVE sets
-- FOUND and ROW_COUNT as the plain statement did. What PostgreSQL still reports
-- with the text: an error while the cursor opens, i.e. a wait for a lock on the
-- log cut short (only DDL on graph._sync_log conflicts: an upgrade, an admin's
-- VACUUM FULL) or a cancel while a statement is planned (its first run in a
-- session). Cost: ~13,000 instructions a single-row statement, ~1 us (the
-- portal; benchmarks/CAPTURE.md); a bulk statement's RETURNING rows (one NULL
-- each) are kept until MOVE, beside the transition tables PostgreSQL keeps
-- anyway. Catching errors instead would give every writing statement a
-- subtransaction, and a subtransaction id (past 64 in one transaction, every
-- other session's snapshots slow down).
--
-- The capture function is SECURITY DEFINER, owned by graph_capture, a NOLOGIN
-- role that may only insert into graph._sync_log (and use its sequence) and
-- graph._sync_log_attention: a
-- writer of a registered table needs no right on the log, and nothing that
-- could run inside capture runs with more. Run as the trigger of any table but
-- tbl and its partitions and inheritance children, it logs nothing and lets the
-- write go on, so EXECUTE granted by mistake cannot forge log rows of tbl, and a
-- partition detached from tbl (or a child made NO INHERIT) whose capture
-- triggers the DDL's role could not drop (another role owns it: they stay until
-- that role drops them) is written as any table is. Before the fifty-third stop
-- it refused (42501): every write of such a former member failed
-- (tests/test_abuse_partition_follow.py). EXECUTE is
-- graph_admin's, tbl's owner's and its partitions' and children's owners' only
-- (graph._grant_capture), so each can attach it to a partition or child it
-- creates (graph._follow_ddl runs as that owner) and no other role can create a
-- trigger calling it (firing a
-- trigger needs no EXECUTE: writers need none). Rows of a member carry tbl's oid and name; a TRUNCATE of
-- a member alone logs a marker under the member's oid (no node has it) with
-- needs_vacuum, so the next rebuild drops the rows it took.
-- Each SET clause of a function costs every call of it (PostgreSQL 15 saves and
-- restores every setting around the call), and a capture function is called by
-- every writing statement. Every capture function pins search_path, and jit and
-- enable_mergejoin off: its statements serve every statement size with plans
-- kept for the session, made for the row count of their first run (a first run
-- of millions of rows would otherwise leave a JIT-compiled plan to every later
-- single-row write), and a merge join sorts text keys where a hash join does
-- not. The two booleans cost less per call than a statement that counts the
-- rows first (see ops). The settings that shape text output
-- (graph._output_settings(), so a key is captured the same whatever the
-- writer's session says) are pinned only where a rendered column's type reads
-- them (a retyped column regenerates capture through graph._follow_ddl).
--
-- SECURITY DEFINER itself, owned by graph_sync (which may create functions in
-- schema graph and hand them to graph_capture), so a graph_admin member needs no
-- CREATE on schema graph. The session user must be a member of graph_admin (or
-- a superuser) or own tbl (a DDL event on its own table regenerates capture);
-- anyone else gets 42501. Handing a function to graph_capture needs that role
-- to have CREATE on schema graph for the moment of the ALTER ... OWNER: the
-- grant is made and revoked inside this call, under a lock (graph._locks), so at rest
-- graph_capture holds nothing but its INSERT.
--
-- A row-level function (per_row). PostgreSQL's logical replication apply
-- worker fires ROW triggers only, never statement triggers, for the INSERT,
-- UPDATE and DELETE it applies (TRUNCATE does fire statement triggers there; the
-- initial table synchronization runs a COPY, which fires both). So a graph
-- replica (a database that subscribes to the source tables and keeps its own
-- log and graph) would see the initial copy and nothing after it. The triggers
-- that call graph._capture_row_<oid> (graphsync_replica_capture_<event>, on each
-- captured table and its regular-table members; graph._trigger_states) are
-- AFTER ... FOR EACH ROW, enabled REPLICA: they fire only in sessions whose
-- session_replication_role is replica, so the primary's ordinary writes never
-- call them. graph._install_capture generates it only where replica capture is
-- wanted (graph._replica_capture_wanted: graph.enable_replica_capture() was
-- called, or tbl is a table of a subscription of this database).
-- Exactly once: in a replica-role session the statement triggers (enabled
-- ALWAYS) fire too, except in the apply path of a replication worker. So the
-- body logs only when its backend is a logical replication worker (apply or
-- table synchronization worker: its pid is in pg_stat_get_subscription(NULL),
-- which any role may read, unlike pg_stat_get_activity's backend_type, which
-- graph_capture is shown NULL for) that is not running a COPY
-- (pg_stat_get_progress_info('COPY'), whose pid column every role sees: the
-- initial copy of a table synchronization, which the statement triggers
-- capture); everywhere else it returns at once. What it logs is what the
-- statement path logs for a statement of that one row, by the same expressions
-- in their checked forms (no fast forms), over the trigger's OLD and NEW (the
-- same placeholders %2$s to %8$s; the table above, for one row). A row filter
-- that raises marks only that row with the error, where the statement path marks
-- every row of the statement. It pins search_path (and the output settings
-- unless lean), not jit and enable_mergejoin: its statements read one row.
-- Touches: the function graph._capture_<oid> or graph._capture_row_<oid> (and,
-- when dropped, its triggers).
CREATE OR REPLACE FUNCTION graph._write_capture(tbl oid, per_row boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off  -- one table's rows by index, however few the statistics say there are
SET jit = off  -- (a statement with no index to use costs more then, and must buy no JIT
SET max_parallel_workers_per_gather = 0  -- compilation and no parallel workers for it)
AS $$
DECLARE
    fn text := format('graph.%I', CASE WHEN per_row THEN '_capture_row_' ELSE '_capture_' END || tbl);
    node graph._node_tables;
    key_cols text [];
    prop_cols text [];
    row_cols text [];
    k_o text; k_n text; p_o text; p_n text; r_o text; r_n text;
    tbl_name text;  -- tbl as regclass text (schema-qualified: the pinned search_path)
    ident text;
    existed boolean;
    plain_text boolean;
    read_cols text [];
    r_o0 text;
    r_n0 text;
    r_o1 text;
    r_n1 text;
    filtered boolean;
    lean boolean;
    fast boolean;
    fk_o text; fk_n text; fp_o text; fp_n text; fr_o text; fr_n text;
    guard_o text; guard_n text; guard_d text;
    ops text;
    pairing text;
    body text;  -- the generated function's body
    level text;
    -- Types whose output function reads no setting (not DateStyle, TimeZone,
    -- IntervalStyle, extra_float_digits, bytea_output nor lc_monetary). Domains,
    -- arrays and composites are not listed: a column of those keeps the settings
    -- pinned.
    settings_free oid [] := '{int2,int4,int8,oid,numeric,text,varchar,bpchar,name,bool,uuid}'::regtype [];
BEGIN
    IF NOT (pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER')
            OR coalesce((SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'USAGE')
                         FROM pg_catalog.pg_class AS c WHERE c.oid = tbl), false))
    THEN
        RAISE EXCEPTION 'permission denied: % is not a member of graph_admin', session_user
            USING ERRCODE = '42501';
    END IF;
    -- One writer at a time: the grant below changes schema graph's privileges.
    -- A row of graph._locks, not an advisory lock, which any role could hold
    -- (migration 421).
    PERFORM FROM graph._locks AS l WHERE l.name = 'capture' FOR UPDATE;
    -- Replica capture only where wanted (graph._replica_capture_wanted): else
    -- the row function goes, and with it its triggers.
    IF per_row AND NOT graph._replica_capture_wanted(tbl) THEN
        IF pg_catalog.to_regprocedure(fn || '()') IS NOT NULL THEN  -- quietly, as below
            level := pg_catalog.current_setting('client_min_messages');
            PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
            EXECUTE format('DROP FUNCTION %s() CASCADE', fn);
            PERFORM pg_catalog.set_config('client_min_messages', level, true);
        END IF;
        RETURN false;
    END IF;
    SELECT * INTO node FROM graph._node_tables WHERE table_oid = tbl;
    SELECT array_agg(DISTINCT c ORDER BY c) INTO row_cols FROM (
        SELECT node.tenant_column AS c
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'fk' AND e.from_table = tbl
        UNION ALL SELECT unnest(ARRAY[e.from_column, e.to_column, e.weight_column, e.label_column])
        FROM graph._edge_sources AS e WHERE e.kind = 'join' AND e.via_table = tbl
    ) AS cols WHERE c IS NOT NULL;

    IF node.table_oid IS NULL AND NOT EXISTS (
        SELECT FROM graph._edge_sources AS e WHERE coalesce(e.via_table, e.from_table) = tbl
    ) THEN
        -- not DROP ... IF EXISTS, and the CASCADE to the table's triggers said
        -- quietly: their NOTICEs ("does not exist, skipping", "drop cascades to")
        -- reached the caller of remove_table and the like
        IF pg_catalog.to_regprocedure(fn || '()') IS NOT NULL THEN
            level := pg_catalog.current_setting('client_min_messages');
            PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
            EXECUTE format('DROP FUNCTION %s() CASCADE', fn);
            PERFORM pg_catalog.set_config('client_min_messages', level, true);
        END IF;
        RETURN false;
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

    k_o := graph._key_expr(tbl, key_cols, 'o');
    k_n := graph._key_expr(tbl, key_cols, 'n');
    p_o := graph._object_expr(tbl, prop_cols, 'o', false);
    p_n := graph._object_expr(tbl, prop_cols, 'n', false);
    r_o := graph._object_expr(tbl, row_cols, 'o', true);
    r_n := graph._object_expr(tbl, row_cols, 'n', true);
    r_o0 := r_o;
    r_n0 := r_n;
    filtered := node.row_filter IS NOT NULL OR EXISTS (
        SELECT FROM graph._edge_sources AS e
        WHERE coalesce(e.via_table, e.from_table) = tbl AND e.row_filter IS NOT NULL);
    -- Computed endpoints and row filter results, under the key "" (graph._carried_expr).
    IF graph._carried_expr(tbl, 'o') IS NOT NULL THEN
        r_o := format('(%s || %s)', r_o, graph._carried_expr(tbl, 'o'));
        r_n := format('(%s || %s)', r_n, graph._carried_expr(tbl, 'n'));
        SELECT array_agg(DISTINCT c) INTO read_cols FROM (
            SELECT unnest(coalesce(e.from_columns, '{}') || coalesce(e.to_columns, '{}') || e.row_filter_columns) AS c
            FROM graph._edge_sources AS e WHERE coalesce(e.via_table, e.from_table) = tbl
            UNION ALL SELECT unnest(node.row_filter_columns)
        ) AS x;
        row_cols := row_cols || coalesce(read_cols, '{}');
    END IF;
    tbl_name := tbl::regclass::text;
    ident := format('%s, %L', tbl, tbl_name);
    -- Whether every column rendered has a type whose text form no setting
    -- changes: then the output settings need not be pinned on each call.
    SELECT count(*) = count(*) FILTER (WHERE a.atttypid = ANY (settings_free))
           AND count(*) = cardinality(ARRAY(SELECT DISTINCT unnest(key_cols || prop_cols || row_cols)))
    INTO plain_text
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname = ANY (key_cols || prop_cols || row_cols);
    existed := pg_catalog.to_regprocedure(fn || '()') IS NOT NULL;
    -- Whether the function's body is made only of graph._key_expr,
    -- graph._object_expr and graph._captured_expr over plain columns (no output
    -- setting to pin, no row filter, no computed endpoint: graph._carried_expr is
    -- an expression of its own), which may then log a single row by the
    -- unchecked forms (see fast). Every capture function pins search_path (a
    -- SECURITY DEFINER function must); its statements also name every function,
    -- operator, type and table schema-qualified, so nothing in it would resolve
    -- through the caller's search_path even without the pin.
    lean := plain_text AND graph._carried_expr(tbl, 'o') IS NULL;
    -- The single-row statements' expressions. Each rendering above checks the
    -- column's type before it uses a built-in cast or typed JSON (an owner's
    -- cast must never run: a column retyped while DDL was not followed), and
    -- planning those checks and their fallbacks is most of a single-row
    -- statement's cost. So a lean function whose every column is rendered plainly
    -- (its own ::text, typed JSON: no key conversion) checks the types once per
    -- plan (guard_o, guard_n: folded by the planner) and
    -- logs the rows with the unchecked forms, which equal what the checked
    -- ones give for those types. A statement whose types fail the check (the
    -- function is stale) is logged by the bulk statements, with the checked forms.
    -- (r_n compared with the same object made of graph._value_expr: no conversion;
    -- graph._captured_expr reads the registry, and add_schema generates hundreds.)
    fast := false;
    IF lean AND NOT per_row THEN
        SELECT format('pg_catalog.jsonb_build_object(%s)',
                      coalesce(string_agg(format('%L, %s', u.c, graph._value_expr(tbl, u.c, 'n')), ', '
                                          ORDER BY u.o), '')) = r_n
        INTO fast FROM unnest(row_cols) WITH ORDINALITY AS u (c, o);
    END IF;
    IF fast THEN
        -- One comparison of arrays of the columns' types as the parser resolved
        -- them: graph._type_of (an immutable pg_typeof) of a typed NULL, which
        -- the planner folds, and then the comparison, to a constant of the plan:
        -- true leaves no filter; false a plan that reads no row. pg_typeof() of
        -- the column itself ran at every execution, each call's start costing
        -- ~2,000 instructions per statement.
        SELECT format('ARRAY[%s] OPERATOR(pg_catalog.=) %L::pg_catalog.regtype []',
                      string_agg(format('graph._type_of(CASE WHEN false THEN o.%I END)', a.attname), ', ' ORDER BY a.attnum),
                      array_agg(a.atttypid ORDER BY a.attnum)::text),
               format('ARRAY[%s] OPERATOR(pg_catalog.=) %L::pg_catalog.regtype []',
                      string_agg(format('graph._type_of(CASE WHEN false THEN n.%I END)', a.attname), ', ' ORDER BY a.attnum),
                      array_agg(a.atttypid ORDER BY a.attnum)::text)
        INTO guard_o, guard_n
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname = ANY (key_cols || prop_cols || row_cols);
        -- A DELETE renders no property: its check leaves out the columns that
        -- are properties only (each pg_typeof() call costs its start, ~2,000
        -- instructions per statement).
        SELECT format('ARRAY[%s] OPERATOR(pg_catalog.=) %L::pg_catalog.regtype []',
                      string_agg(format('graph._type_of(CASE WHEN false THEN o.%I END)', a.attname), ', ' ORDER BY a.attnum),
                      array_agg(a.atttypid ORDER BY a.attnum)::text)
        INTO guard_d
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname = ANY (key_cols || row_cols);
        fk_o := CASE WHEN cardinality(key_cols) = 1 THEN format('(o.%I)::pg_catalog.text', key_cols[1]) ELSE k_o END;
        fk_n := CASE WHEN cardinality(key_cols) = 1 THEN format('(n.%I)::pg_catalog.text', key_cols[1]) ELSE k_n END;
        -- An object of text values (the captured columns; properties whose
        -- columns are all text or varchar) is made by jsonb_object(keys,
        -- values): the keys one constant array, the values one array, and no
        -- type of a value looked up per call, as jsonb_build_object does for
        -- each argument. The two give equal jsonb.
        IF node.table_oid IS NULL THEN
            fp_o := p_o;
            fp_n := p_n;
        ELSIF cardinality(prop_cols) > 0 AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = tbl AND a.attname = ANY (prop_cols)
              AND a.atttypid <> ALL ('{text,varchar}'::regtype [])
        ) THEN
            SELECT format('pg_catalog.jsonb_object(%L::pg_catalog.text [], ARRAY[%s])', prop_cols::text,
                          string_agg(format('(o.%I)::pg_catalog.text', c), ', ' ORDER BY o)),
                   format('pg_catalog.jsonb_object(%L::pg_catalog.text [], ARRAY[%s])', prop_cols::text,
                          string_agg(format('(n.%I)::pg_catalog.text', c), ', ' ORDER BY o))
            INTO fp_o, fp_n FROM unnest(prop_cols) WITH ORDINALITY AS u (c, o);
        ELSE
            SELECT format('pg_catalog.jsonb_build_object(%s)', coalesce(string_agg(format('%L, o.%I', c, c), ', '
                                                                                   ORDER BY o), '')),
                   format('pg_catalog.jsonb_build_object(%s)', coalesce(string_agg(format('%L, n.%I', c, c), ', '
                                                                                   ORDER BY o), ''))
            INTO fp_o, fp_n FROM unnest(prop_cols) WITH ORDINALITY AS u (c, o);
        END IF;
        IF cardinality(row_cols) = 0 THEN
            fr_o := 'pg_catalog.jsonb_build_object()';
            fr_n := fr_o;
        ELSE
            SELECT format('pg_catalog.jsonb_object(%L::pg_catalog.text [], ARRAY[%s])', row_cols::text,
                          string_agg(format('(o.%I)::pg_catalog.text', c), ', ' ORDER BY o)),
                   format('pg_catalog.jsonb_object(%L::pg_catalog.text [], ARRAY[%s])', row_cols::text,
                          string_agg(format('(n.%I)::pg_catalog.text', c), ', ' ORDER BY o))
            INTO fr_o, fr_n FROM unnest(row_cols) WITH ORDINALITY AS u (c, o);
        END IF;
    ELSE
        guard_o := 'true';
        guard_n := 'true';
        guard_d := 'true';
        fk_o := k_o; fk_n := k_n; fp_o := p_o; fp_n := p_n; fr_o := r_o; fr_n := r_n;
    END IF;
    -- What each statement logs (placeholders as above; %13$s to %21$s the
    -- single-row forms and the type checks), one text: a row filter is the one
    -- thing capture evaluates that can raise (a cast of a bad value, a division
    -- by zero): then the statement is logged again, by the same text, with the
    -- error in place of each filter result (graph._carried_expr's fallback), so
    -- the write goes on and replay records the error on those log rows, where
    -- sync_health() shows it. The savepoint that costs is taken only for tables
    -- with a filter.
    --
    -- An INSERT or DELETE is logged by one statement whatever its row count
    -- (most OLTP writes: one row, one statement): the unchecked forms, under the
    -- type check (guard_n, guard_o, guard_d: one comparison of two arrays of
    -- graph._type_of() of typed NULLs, a constant the planner computes, so a kept
    -- plan carries no check to evaluate). Types are the columns', so the check
    -- passes for every row or for none; when it logs nothing (no row, or a stale
    -- function) the checked forms log the rows. An UPDATE first counts its old
    -- rows up to two under the check (a cursor moved forward two rows, and
    -- ROW_COUNT): one row is logged by a statement that
    -- pairs its old and new row with neither window nor hash (under the check
    -- again: its plan may be made later than the count's); two take the
    -- positional pairing with the unchecked forms; none (no row, or a stale
    -- function) the same pairing with the checked forms. The pairing is a FULL JOIN so that it is a
    -- hash join whatever row count planned it first (merge joins are off; a
    -- nested loop kept from a two-row statement would compare every old row with
    -- every new one of a later large one); both sides hold as many rows, so
    -- every row is matched. The new side of an UPDATE needs no check of
    -- its own: both sides are rows of one relation. p and r are compared with
    -- <>, not IS DISTINCT FROM (which looks its operator up through search_path):
    -- r is never NULL, p is NULL on both sides (a join table) or on neither, and a
    -- NULL <> NULL in the OR logs nothing, as two equal values do.
    IF per_row THEN
        -- The row function's statements (see "A row-level function" above): the
        -- checked forms over the trigger's OLD and NEW, one row each.
        ops := $o$
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
        SELECT 'I', %2$s, %3$s, %3$s, %4$s, %5$s FROM (SELECT NEW.*) AS n
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
        SELECT 'D', %2$s, %6$s, %6$s, %7$s FROM (SELECT OLD.*) AS o
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        OPEN logged FOR INSERT INTO graph._sync_log
            (op, table_oid, table_name, pk, old_pk, new_pk, properties, old_row, new_row)
        SELECT 'U', %2$s, n.k, o.k, n.k, n.p, o.r, n.r
        FROM (SELECT %6$s AS k, %8$s AS p, %7$s AS r FROM (SELECT OLD.*) AS o) AS o,
             (SELECT %3$s AS k, %4$s AS p, %5$s AS r FROM (SELECT NEW.*) AS n) AS n
        WHERE o.k IS NULL OR n.k IS NULL OR o.k OPERATOR(pg_catalog.<>) n.k
           OR o.p OPERATOR(pg_catalog.<>) n.p OR o.r OPERATOR(pg_catalog.<>) n.r
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
    END IF;
$o$;
    ELSE
    -- An UPDATE's rows paired by position (above): one statement, with the
    -- unchecked forms when two rows were counted and the checked ones when none.
    -- Its %1$s to %6$s become the placeholders of ops giving the old row's key,
    -- properties and row and the new row's; %%2$s becomes ops' own (the table).
    pairing := $p$                OPEN logged FOR INSERT INTO graph._sync_log
                    (op, table_oid, table_name, pk, old_pk, new_pk, properties, old_row, new_row)
                SELECT 'U', %%2$s, n.k, o.k, n.k, n.p, o.r, n.r
                FROM (SELECT %1$s AS k, %2$s AS p, %3$s AS r, pg_catalog.row_number() OVER () AS i
                      FROM old_rows AS o) AS o
                FULL JOIN (SELECT %4$s AS k, %5$s AS p, %6$s AS r, pg_catalog.row_number() OVER () AS i
                      FROM new_rows AS n) AS n ON n.i OPERATOR(pg_catalog.=) o.i
                WHERE o.k IS NULL OR n.k IS NULL OR o.k OPERATOR(pg_catalog.<>) n.k
                   OR o.p OPERATOR(pg_catalog.<>) n.p OR o.r OPERATOR(pg_catalog.<>) n.r
                RETURNING NULL::pg_catalog.int4;
                MOVE logged;
                CLOSE logged;$p$;
    ops := $o$
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
        SELECT 'I', %2$s, %13$s, %13$s, %14$s, %15$s FROM new_rows AS n WHERE %19$s
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
        IF NOT FOUND THEN
            OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
            SELECT 'I', %2$s, %3$s, %3$s, %4$s, %5$s FROM new_rows AS n
            RETURNING NULL::pg_catalog.int4;
            MOVE logged;
            CLOSE logged;
        END IF;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
        SELECT 'D', %2$s, %16$s, %16$s, %17$s FROM old_rows AS o WHERE %21$s
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
        IF NOT FOUND THEN
            OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
            SELECT 'D', %2$s, %6$s, %6$s, %7$s FROM old_rows AS o
            RETURNING NULL::pg_catalog.int4;
            MOVE logged;
            CLOSE logged;
        END IF;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        OPEN logged FOR SELECT FROM old_rows AS o WHERE %20$s LIMIT 2;
        MOVE FORWARD 2 FROM logged;
        GET DIAGNOSTICS changed = ROW_COUNT;
        CLOSE logged;
        IF changed OPERATOR(pg_catalog.=) 1 THEN
            OPEN logged FOR INSERT INTO graph._sync_log
                (op, table_oid, table_name, pk, old_pk, new_pk, properties, old_row, new_row)
            SELECT 'U', %2$s, n.k, o.k, n.k, n.p, o.r, n.r
            FROM (SELECT %16$s AS k, %18$s AS p, %17$s AS r FROM old_rows AS o WHERE %20$s OFFSET 0) AS o,
                 (SELECT %13$s AS k, %14$s AS p, %15$s AS r FROM new_rows AS n OFFSET 0) AS n
            WHERE o.k IS NULL OR n.k IS NULL OR o.k OPERATOR(pg_catalog.<>) n.k
               OR o.p OPERATOR(pg_catalog.<>) n.p OR o.r OPERATOR(pg_catalog.<>) n.r
            RETURNING NULL::pg_catalog.int4;
            MOVE logged;
            CLOSE logged;
            IF NOT FOUND THEN
                -- nothing changed, or no new row (its insert dropped, see above): then
                -- the old row's 'D'. Asked only here, so that an UPDATE that logs its
                -- row pays nothing for it (a join keeping the old row cost each 6k
                -- instructions more: benchmarks/CAPTURE.md).
                OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
                SELECT 'D', %2$s, %16$s, %16$s, %17$s FROM old_rows AS o
                WHERE %20$s AND NOT EXISTS (SELECT FROM new_rows)
                RETURNING NULL::pg_catalog.int4;
                MOVE logged;
                CLOSE logged;
            END IF;
        ELSE
            -- An old row without its new one: a row moved to another partition whose
            -- insert a BEFORE trigger there dropped. Positions no longer pair the rows.
            OPEN logged FOR SELECT FROM (SELECT pg_catalog.count(*) AS c FROM old_rows) AS o,
                                        (SELECT pg_catalog.count(*) AS c FROM new_rows) AS n
                WHERE o.c OPERATOR(pg_catalog.<>) n.c;
            MOVE logged;
            CLOSE logged;
            IF FOUND THEN
                OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, old_pk, old_row)
                SELECT 'D', %2$s, %6$s, %6$s, %7$s FROM old_rows AS o
                RETURNING NULL::pg_catalog.int4;
                MOVE logged;
                CLOSE logged;
                OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
                SELECT 'I', %2$s, %3$s, %3$s, %4$s, %5$s FROM new_rows AS n
                RETURNING NULL::pg_catalog.int4;
                MOVE logged;
                CLOSE logged;
            ELSIF changed OPERATOR(pg_catalog.=) 2 THEN
$o$ || format(pairing, '%16$s', '%18$s', '%17$s', '%13$s', '%14$s', '%15$s') || $o$
            ELSE
$o$ || format(pairing, '%6$s', '%8$s', '%7$s', '%3$s', '%4$s', '%5$s') || $o$
            END IF;
        END IF;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        OPEN logged FOR INSERT INTO graph._sync_log (op, table_oid, table_name, needs_vacuum)
        VALUES ('T', TG_RELID,
                CASE WHEN TG_RELID OPERATOR(pg_catalog.=) %10$L::pg_catalog.oid THEN %11$L
                     ELSE pg_catalog.format('%%I.%%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) END, true)
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
        OPEN logged FOR INSERT INTO graph._sync_log_attention (id)
        VALUES (pg_catalog.currval('graph._sync_log_id_seq'::pg_catalog.regclass))
        RETURNING NULL::pg_catalog.int4;
        MOVE logged;
        CLOSE logged;
    END IF;
$o$;
    END IF;
    IF filtered THEN
        r_n1 := format('(%s || %s)', r_n0, graph._carried_expr(tbl, 'n', true));
        r_o1 := format('(%s || %s)', r_o0, graph._carried_expr(tbl, 'o', true));
        ops := format($o$
    BEGIN
%s
    EXCEPTION WHEN data_exception THEN
%s
    END;
$o$, format(ops, fn, ident, k_n, p_n, r_n, k_o, r_o, p_o, NULL, tbl, tbl_name, NULL,
                         k_n, p_n, r_n, k_o, r_o, p_o, 'true', 'true', 'true'),
             format(ops, fn, ident, k_n, p_n, r_n1, k_o, r_o1, p_o, NULL, tbl, tbl_name, NULL,
                    k_n, p_n, r_n1, k_o, r_o1, p_o, 'true', 'true', 'true'));
    ELSE
        ops := format(ops, fn, ident, k_n, p_n, r_n, k_o, r_o, p_o, NULL, tbl, tbl_name, NULL,
                      fk_n, fp_n, fr_n, fk_o, fr_o, fp_o, guard_n, guard_o, guard_d);
    END IF;

    -- The body is one quoted literal (%L), never written between dollar quotes: it
    -- holds the table's name and its columns' names, which are the owner's to choose,
    -- and a name holding the dollar quote's tag ended the body there, the rest of the
    -- name run as SQL by this definer (tests/test_abuse_capture_names.py).
    body := format($b$
%13$sBEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) %10$L::pg_catalog.oid THEN
        -- Fired on a partition or inheritance child of the table, on a former
        -- one, or forged.
        OPEN logged FOR
            WITH RECURSIVE up (relid) AS (
                SELECT TG_RELID
                UNION
                SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.relid
            )
            SELECT FROM up WHERE up.relid OPERATOR(pg_catalog.=) %10$L::pg_catalog.oid LIMIT 1;
        MOVE logged;
        CLOSE logged;
        IF NOT FOUND THEN
            -- Not a table of this table's tree (any more): nothing to capture there.
            RETURN NULL;
        END IF;
    END IF;
%14$s%12$s    RETURN NULL;
END;
$b$, fn, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       tbl, tbl_name, ops,
       E'DECLARE\n    logged refcursor;\n' || CASE WHEN per_row THEN '' ELSE E'    changed bigint;\n' END,
       CASE WHEN per_row THEN $g$    -- Only a replication worker's apply: elsewhere the statement triggers capture.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_stat_get_subscription(NULL) AS w
                   WHERE w.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
       OR EXISTS (SELECT FROM pg_catalog.pg_stat_get_progress_info('COPY') AS p
                  WHERE p.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
$g$ ELSE $g$    IF TG_OP OPERATOR(pg_catalog.<>) 'TRUNCATE'
       AND pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
       AND (pg_catalog.to_regclass('pg_temp.new_rows') IS NOT NULL
            OR pg_catalog.to_regclass('pg_temp.old_rows') IS NOT NULL) THEN
        -- A temporary relation of a transition table's name: the transition tables of
        -- graphsync's triggers hide it, but a trigger without them (the table owner's
        -- own) had the statements below read it, a view's functions run as graph_capture.
        -- (A session without a temporary schema pays the first test only, some 0.1 us.)
        OPEN logged FOR SELECT FROM pg_catalog.pg_trigger AS g
            WHERE g.tgrelid OPERATOR(pg_catalog.=) TG_RELID AND g.tgname OPERATOR(pg_catalog.=) TG_NAME
              AND (TG_OP OPERATOR(pg_catalog.=) 'DELETE' OR g.tgnewtable OPERATOR(pg_catalog.=) 'new_rows')
              AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR g.tgoldtable OPERATOR(pg_catalog.=) 'old_rows');
        MOVE logged;
        CLOSE logged;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'graphsync: trigger % on % does not declare the transition tables capture reads',
                TG_NAME, TG_RELID::pg_catalog.regclass USING ERRCODE = '42501';
        END IF;
    END IF;
$g$ END);
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
%2$s
AS %3$L;
REVOKE ALL ON FUNCTION %1$s() FROM PUBLIC;
$f$, fn,
       'SET search_path = pg_catalog, pg_temp'
       || CASE WHEN per_row THEN '' ELSE E'\nSET jit = off\nSET enable_mergejoin = off' END
       || CASE WHEN lean THEN '' ELSE E'\n' || graph._output_settings() END,
       body);

    IF NOT existed THEN
        GRANT CREATE ON SCHEMA graph TO graph_capture;
        EXECUTE format('ALTER FUNCTION %s() OWNER TO graph_capture', fn);
        REVOKE CREATE ON SCHEMA graph FROM graph_capture;
    END IF;
    PERFORM graph._grant_capture(ARRAY[tbl]);  -- EXECUTE: graph_admin's and the family's owners'
    RETURN true;
END;
$$;

COMMENT ON FUNCTION graph._write_capture(oid, boolean) IS
'Internal: (re)generate a table''s capture function (per_row: its row-level one for logical replication''s apply worker), owned by graph_capture, or drop it when the table is no longer registered; whether it exists.';
