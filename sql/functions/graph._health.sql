-- graph._health(reveal): health, the row of graph.sync_health() (type
-- graph.sync_health_row, migration 290; see graph.sync_health for what each
-- column holds), and last_failed_id: the id of the latest failed log row (NULL:
-- none), for graph.sync_health to show its message to a role that may read its
-- table (graph._failed_visible). reveal false: last_error names the failed row
-- and its table but not its message, last_maintenance_error and schedule_error
-- say only that there is an error, and next_action quotes none of them.
-- reveal true: everything, whichever table it quotes.
-- SECURITY DEFINER, owned by graph_sync, and executable only by graph_admin (and
-- superusers): EXECUTE is checked against the role running the call
-- (current_user), so code of another role that an admin calls -- a SECURITY
-- DEFINER function -- may not run it, whoever the session user is
-- (migration 285). Every other role gets graph._health_masked(). reveal counts
-- only when the session user is an admin too (graph._session_is_admin; and
-- graph._cron_job_state hides pg_cron's message from anyone else): a mistaken
-- GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph reveals nothing to the sessions
-- of the role it names.
-- Reads: graph._sync_state, graph._sync_log, graph._node_rows,
-- graph._maintenance_jobs, graph._maintenance_schedule, graph._integrity, the catalog, cron.job
-- and cron.job_run_details when pg_cron is installed.
CREATE OR REPLACE FUNCTION graph._health(
    reveal boolean,
    OUT health graph.sync_health_row,
    OUT last_failed_id bigint
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h graph.sync_health_row;
    s graph._sync_state;
    reasons text [];
    cron record;
    verify_rebuilt boolean;
    maintenance_phase text;
    maintenance_kind text;
    check_job bigint;
    check_error text;
    check_unread text;
    unread_count integer;
    rebuild_drift text;
    triggers_drifted boolean;
    held_by integer;
    scans_were text;
    jit_was text;
    held_as text;
    filter_raised_in text;
    unfit_in text;
    unfit_tables text;
BEGIN
    reveal := reveal AND graph._session_is_admin();
    -- Schema drift, read once (each read checks every captured table's columns,
    -- keys and capture triggers in the catalog): the columns that quote it, and
    -- the drift a rebuild repairs, which graph._rebuild_reasons() would read again.
    SELECT string_agg(format('%s: %s%s (%s)', d.kind, d.table_name,
                             coalesce('.' || d.column_name, ''), d.detail), '; '
                      ORDER BY d.table_name, d.kind),
           bool_or(d.repair = 'reconcile'),
           string_agg(format('%s (%s%s)', d.table_name, d.detail,
                             CASE WHEN d.kind = 'trigger_impostor' THEN ': held by another function' ELSE '' END),
                      '; ' ORDER BY d.table_name, d.kind) FILTER (WHERE d.kind IN ('trigger_missing', 'trigger_impostor')),
           string_agg(d.table_name || coalesce('.' || d.column_name, '') || ' ' || d.kind, ', ')
               FILTER (WHERE d.repair = 'rebuild'),
           coalesce(bool_or(d.kind IN ('trigger_disabled', 'trigger_missing', 'trigger_impostor')), false)
    INTO h.schema_drift, h.reconcile_recommended, h.missing_triggers, rebuild_drift, triggers_drifted
    FROM graph._schema_drift() AS d;
    -- Set here, not in DECLARE: an error of a declaration's initializer is
    -- raised outside this block and would skip its EXCEPTION clause.
    reasons := graph._rebuild_reasons(rebuild_drift);
    cron := graph._cron_job_state();
    SELECT * INTO s FROM graph._sync_state;
    -- A backend whose open transaction wrote the state row (an apply, or a read
    -- that applied, not ended yet: it holds ROW EXCLUSIVE on graph._sync_state and
    -- waits for no lock) while no apply committed for a minute: replay waits for
    -- it (see next_action). (The row's xmax does not tell: a read's apply locks the
    -- row in one subtransaction and writes it in another, which makes it a
    -- multixact.)
    IF s.last_apply_at < pg_catalog.now() - interval '1 minute' THEN
        SELECT l.pid INTO held_by FROM pg_catalog.pg_locks AS l
        WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                            WHERE d.datname = pg_catalog.current_database())
          AND l.relation = 'graph._sync_state'::pg_catalog.regclass
          AND l.pid <> pg_catalog.pg_backend_pid()
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks AS w WHERE w.pid = l.pid AND NOT w.granted)
        ORDER BY l.pid
        LIMIT 1;
        -- Else a backend that holds the state row (an apply, a maintenance run) and
        -- waits for a lock: replay waits for the backend at the head of that wait,
        -- one that waits for nothing -- e.g. a table owner's schema change of a
        -- registered table left uncommitted, whose table a rebuild reads (held_as
        -- names the registered tables it holds ACCESS EXCLUSIVE).
        IF held_by IS NULL THEN
            SELECT b.pid INTO held_by FROM pg_catalog.pg_locks AS l
            CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(l.pid)) AS b (pid)
            WHERE l.locktype = 'relation' AND l.mode IN ('RowShareLock', 'RowExclusiveLock') AND l.granted
              AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                WHERE d.datname = pg_catalog.current_database())
              AND l.relation = 'graph._sync_state'::pg_catalog.regclass
              AND l.pid <> pg_catalog.pg_backend_pid()
              AND EXISTS (SELECT FROM pg_catalog.pg_locks AS w WHERE w.pid = l.pid AND NOT w.granted)
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks AS w WHERE w.pid = b.pid AND NOT w.granted)
            ORDER BY b.pid
            LIMIT 1;
            IF held_by IS NOT NULL THEN
                SELECT coalesce(' (it holds ' || string_agg(x.relation::pg_catalog.regclass::text, ', '
                                                            ORDER BY x.relation::pg_catalog.regclass::text)
                                || ' locked: a schema change not committed?)', '')
                INTO held_as
                FROM pg_catalog.pg_locks AS x
                WHERE x.pid = held_by AND x.locktype = 'relation' AND x.granted
                  AND x.mode = 'AccessExclusiveLock'
                  AND x.relation IN (SELECT t.table_oid FROM graph._captured_tables(NULL) AS t);
            END IF;
        END IF;
    END IF;
    h.query_freshness := graph._setting('graph.query_freshness');
    h.sync_batch_size := graph._setting('graph.sync_batch_size')::bigint;
    h.sync_error_policy := graph._setting('graph.sync_error_policy');
    h.read_apply := graph._setting('graph.read_apply');
    -- Whether the pg_cron job really runs (graph._cron_job_state). pg_cron's
    -- message of a failed run is for admins, like a run's error.
    h.schedule_state := cron.state;
    h.schedule_last_success_at := cron.last_success_at;
    h.schedule_error := CASE WHEN cron.error IS NULL OR reveal THEN cron.error
                             ELSE 'the job failed; details visible to graph_admin' END;
    h.sync_mode := coalesce(nullif(concat_ws(' + ',
        CASE WHEN h.query_freshness = 'apply_pending_sync' THEN 'on_read' END,
        CASE WHEN cron.jobid IS NOT NULL AND cron.state <> 'inactive' THEN 'scheduled' END), ''), 'manual');

    h.applied_sync_id := s.applied_sync_id;
    -- Change notifications (migration 100): where graph.changed_nodes() stands,
    -- and how many NOTIFY graphsync a too full queue made replay skip.
    h.last_change_sync_id := s.change_position;
    h.notifications_skipped := s.notifications_skipped;
    SELECT count(*), now() - min(p.created_at) INTO h.pending_sync_rows, h.oldest_pending_age
    FROM graph._pending_log() AS p;
    -- The log's latest id and the rows of it that need attention, and the
    -- tombstones, through their indexes whatever the statistics said when these plans
    -- were made: kept for the session, the plans a connection made while the log was
    -- empty read every row of it at each call after, and those it made while the graph
    -- was a page of nodes read every node (tests/test_operation_costs.py). The latest
    -- id as the last entry of the key: max() was planned as an aggregate of every
    -- entry for a log of a row or two. The settings are given back for what follows
    -- (and by the function's SET clause on an error).
    scans_were := pg_catalog.current_setting('enable_seqscan');
    jit_was := pg_catalog.current_setting('jit');
    PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
    PERFORM pg_catalog.set_config('jit', 'off', true);
    SELECT l.id INTO h.max_sync_log_id FROM graph._sync_log AS l ORDER BY l.id DESC LIMIT 1;
    -- With the table of the latest row a row filter raised on at capture
    -- (changes.CAPTURED_FILTER_ERROR): its error is in the logged row, so no retry
    -- applies it; a build reads the row again (see next_action).
    -- And of the latest row that names a key too long for graph._nodes' index
    -- (changes.UNFIT_KEY_ERROR): no node can hold it, so no retry applies it either.
    SELECT count(*), (pg_catalog.array_agg(l.table_name ORDER BY l.id DESC)
                      FILTER (WHERE pg_catalog.starts_with(l.error_message,
                                                'the row filter raised an error when this row was captured')))[1],
           (pg_catalog.array_agg(l.table_name ORDER BY l.id DESC)
            FILTER (WHERE pg_catalog.starts_with(l.error_message, 'a key this row names is too long to index')))[1]
    INTO h.failed_sync_rows, filter_raised_in, unfit_in FROM graph._sync_log AS l
    WHERE l.error_message IS NOT NULL AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a));
    -- An error message may quote the row's values: revealed to admins; graph.sync_health
    -- shows it to a role that may read the row's table (graph._failed_visible).
    SELECT CASE WHEN reveal THEN format('log row %s: %s', l.id, l.error_message)
                ELSE format('log row %s of table %s failed; details visible to graph_admin', l.id, l.table_name)
           END, l.id INTO h.last_error, last_failed_id
    FROM graph._sync_log AS l WHERE l.error_message IS NOT NULL AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a))
    ORDER BY l.id DESC LIMIT 1;
    h.needs_vacuum := EXISTS (SELECT FROM graph._sync_log AS l WHERE l.needs_vacuum AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a)));
    SELECT count(*) INTO h.tombstone_count FROM graph._node_rows AS n WHERE n.touched AND NOT n.alive;
    PERFORM pg_catalog.set_config('enable_seqscan', scans_were, true);
    PERFORM pg_catalog.set_config('jit', jit_was, true);

    -- graphsync's capture triggers, recognised by their function, on each captured
    -- table and its partitions and children (graph._trigger_states): disabled counts
    -- those that would not fire in every session_replication_role (not enabled
    -- ALWAYS); missing counts those gone or whose name another trigger holds.
    -- graph._schema_drift() reports each such trigger (kind 'trigger_' || its
    -- state): with none there, both counts are 0 without reading the triggers again.
    IF triggers_drifted THEN
        SELECT count(*) FILTER (WHERE t.state = 'disabled'),
               count(*) FILTER (WHERE t.state IN ('missing', 'impostor'))
        INTO h.disabled_trigger_count, h.missing_trigger_count
        FROM graph._trigger_states() AS t;
    ELSE
        h.disabled_trigger_count := 0;
        h.missing_trigger_count := 0;
    END IF;
    -- missing_triggers: read with the drift above.

    -- the overlay's rows, counted as replay and build write them (migration 095)
    h.edge_buffer_used := s.overlay_count;
    h.edge_buffer_size := graph._setting('graph.edge_buffer_size')::bigint;
    -- tombstone_count: read with the log's rows above.
    h.needs_rebuild := cardinality(reasons) > 0;
    h.rebuild_reasons := nullif(array_to_string(reasons, '; '), '');
    h.read_only := s.read_only;
    h.read_only_reason := s.read_only_reason;
    -- or a table's registration the schema-change follower changed (migration 437)
    h.build_required := s.build_required OR EXISTS (SELECT FROM graph._column_renames AS r WHERE r.build_required);
    h.generation := s.generation;

    -- schema_drift and reconcile_recommended: read with the drift above.
    h.schema_state := CASE WHEN h.schema_drift IS NULL THEN 'current' ELSE 'drifted' END;

    -- A run's error may quote any source value: admins only.
    SELECT j.started_at, j.status,
           CASE WHEN j.error IS NULL OR reveal THEN j.error
                ELSE 'the run failed; details visible to graph_admin' END,
           j.phase, j.kind
    INTO h.last_maintenance_at, h.last_maintenance_status, h.last_maintenance_error, maintenance_phase,
         maintenance_kind
    FROM graph._maintenance_jobs AS j
    WHERE j.status NOT IN ('skipped', 'running')
    ORDER BY j.job_id DESC LIMIT 1;
    SELECT j.started_at, j.differences, j.rebuilt
    INTO h.last_verify_at, h.last_verify_differences, verify_rebuilt
    FROM graph._maintenance_jobs AS j
    WHERE j.differences IS NOT NULL
    ORDER BY j.job_id DESC LIMIT 1;
    -- The latest source check, or run whose check failed (migration 428's index),
    -- when it failed, or could not read some tables (check_failures, migration
    -- 436): the runs within graph.verify_interval after it check nothing and end
    -- 'partial', a reason no other column shows (last_verify_at only stops moving,
    -- and counts the differences of the tables read); any table's owner can make
    -- its own table's check fail (a row its filter raises on). Which tables, and
    -- each error's SQLSTATE, for everyone (catalog names); the messages, which may
    -- quote a row's values, for admins only. A table whose row filter raised on a
    -- row: what a rebuild made of the row (rebuilt: the run's rebuild went on, the
    -- row failing the filter), the filter for admins only (as ops/jobs.py words it).
    SELECT j.job_id, CASE WHEN j.error IS NULL OR reveal THEN j.error
                          ELSE 'details visible to graph_admin' END,
           (SELECT string_agg(format('%s (SQLSTATE %s%s)%s', f.value ->> 'table', f.value ->> 'sqlstate',
                                     CASE WHEN f.value ->> 'message' IS NULL OR reveal THEN
                                         coalesce(': ' || (f.value ->> 'message'), '') ELSE '' END,
                                     CASE WHEN f.value ->> 'row_filter' IS NULL THEN ''
                                          ELSE format(', whose row filter %sraised on a row%s',
                                                      CASE WHEN reveal THEN (f.value ->> 'row_filter') || ' '
                                                           ELSE '' END,
                                                      CASE WHEN f.value @> '{"rebuilt": true}' THEN
                                                          ' (the run''s rebuild went on, the row taken as'
                                                          ' failing the filter)'
                                                           ELSE ' (a rebuild takes the row as failing the filter)'
                                                      END) END),
                              ', ' ORDER BY f.ordinality)
            FROM jsonb_array_elements(j.check_failures) WITH ORDINALITY AS f (value, ordinality)),
           jsonb_array_length(j.check_failures)
    INTO check_job, check_error, check_unread, unread_count
    FROM (SELECT j.job_id, j.differences, j.error, j.check_failures FROM graph._maintenance_jobs AS j
          WHERE j.differences IS NOT NULL OR (j.status = 'failed' AND j.phase = 'verify')
          ORDER BY j.job_id DESC LIMIT 1) AS j
    WHERE j.differences IS NULL OR j.check_failures IS NOT NULL;
    IF check_unread IS NOT NULL THEN
        check_unread := format('the source check of maintenance run %s could not read %s: %s not checked'
                               ' against the graph until a check reads %s (every other table was)',
                               check_job, check_unread,
                               CASE WHEN unread_count = 1 THEN 'it is' ELSE 'they are' END,
                               CASE WHEN unread_count = 1 THEN 'it' ELSE 'them' END);
    END IF;

    SELECT i.dangling_references, i.duplicate_edges, i.checked_at
    INTO h.dangling_references, h.duplicate_edges, h.integrity_checked_at
    FROM graph._integrity AS i;

    -- The keys the last build left out, too long for graph._nodes' index (migration
    -- 465): how many of which table (catalog names).
    SELECT string_agg(format('%s key%s of %s', k.value, CASE WHEN k.value::bigint = 1 THEN '' ELSE 's' END,
                             k.key::pg_catalog.oid::pg_catalog.regclass), ', '
                      ORDER BY k.key::pg_catalog.oid::pg_catalog.regclass::text)
    INTO unfit_tables FROM jsonb_each_text(s.unfit_keys) AS k;

    h.reconcile_recommended := coalesce(h.reconcile_recommended, false)
        OR coalesce(h.last_verify_differences > 0 AND NOT verify_rebuilt, false);
    h.apply_sync_recommended := h.pending_sync_rows > 0 AND NOT s.read_only;
    -- Maintenance is due when a rebuild is, when the last run failed, when the
    -- latest source check failed, and whenever the scheduled job does not
    -- actually run it.
    h.maintenance_recommended := h.needs_rebuild OR coalesce(h.last_maintenance_status = 'failed', false)
        OR check_job IS NOT NULL OR cron.state IN ('failing', 'late', 'never_ran', 'inactive');
    h.next_action := CASE
        -- differences found while some table went unchecked: reconcile's rebuild
        -- reads that table too, and fails on it until it is fixed
        WHEN h.reconcile_recommended AND h.schema_drift IS NULL AND check_unread IS NOT NULL THEN
            format('%s; fix the cause, then run graph.reconcile(): %s source difference(s) found in the'
                   ' tables checked (its rebuild reads every table)', check_unread, h.last_verify_differences)
        -- Keys the last build left out: no drift that a reconcile or a rebuild repairs
        -- (graph.verify() reports them as unfit_key, which a source check does not count).
        WHEN unfit_tables IS NOT NULL AND h.schema_drift IS NULL AND check_unread IS NULL THEN
            format('the last build left out %s: a key too long to index in graph._nodes (a btree entry holds'
                   ' some 2.7 kB that compression does not shorten) cannot be a node, nor the edges that end'
                   ' there; graph.verify() shows those rows as unfit_key%s, and no retry, reconcile or rebuild'
                   ' adds them: shorten those keys (or remove the rows), then run graph.build()',
                   unfit_tables, CASE WHEN h.last_verify_differences > 0 AND NOT verify_rebuilt THEN
                       format(' (the last source check found %s other difference(s))', h.last_verify_differences)
                       ELSE '' END)
        WHEN h.reconcile_recommended THEN 'run graph.reconcile(): '
            || coalesce(h.schema_drift, h.last_verify_differences || ' source difference(s) found')
        -- A build reads every row again (a row its filter still raises on as failing
        -- the filter) and clears the failed rows, those of other causes too.
        WHEN h.failed_sync_rows > 0 AND filter_raised_in IS NOT NULL THEN
            format('fix the row of %s that its row filter raised on (or the filter), then run graph.build():'
                   ' no retry applies a log row whose filter raised when it was captured (the error is in'
                   ' the logged row); a build reads the rows again and clears the failed log rows (%s)',
                   filter_raised_in, h.last_error)
        WHEN h.failed_sync_rows > 0 AND unfit_in IS NOT NULL THEN
            format('a log row of %s names a key too long to index in graph._nodes (a btree entry holds some'
                   ' 2.7 kB that compression does not shorten): no node can hold it, so no retry applies the row;'
                   ' shorten the key (or remove the row), then run graph.build(), which reads the rows again,'
                   ' leaves out the keys still too long and clears the failed log rows (%s)',
                   unfit_in, h.last_error)
        WHEN h.failed_sync_rows > 0 THEN
            'fix the cause of the failed log rows (' || h.last_error || '), then run graph.retry_failed()'
        WHEN cron.state IN ('failing', 'late', 'never_ran', 'inactive') THEN
            CASE WHEN cron.error IS NULL OR reveal THEN cron.action
                 ELSE format('scheduled maintenance does not run (pg_cron job %s is %s); '
                             'graph_admin sees why', cron.jobid, cron.state) END
            || '; until then run graph.run_scheduled_maintenance() by hand'
        -- A partial maintenance run left what other columns show (failed rows,
        -- drift, the job); differences a reconcile left show only here.
        WHEN h.last_maintenance_status = 'failed'
             OR (h.last_maintenance_status = 'partial' AND maintenance_kind = 'reconcile') THEN
            format('the last %s run %s: %s; fix the cause, then run %s', maintenance_kind,
                   CASE h.last_maintenance_status WHEN 'failed' THEN 'failed in phase ' || maintenance_phase
                                                  ELSE 'left work undone' END,
                   h.last_maintenance_error,
                   CASE maintenance_kind WHEN 'reconcile' THEN 'graph.reconcile()'
                                         WHEN 'vacuum' THEN 'graph.vacuum()'
                                         ELSE 'graph.run_scheduled_maintenance()' END)
        WHEN check_unread IS NOT NULL THEN
            check_unread || '; fix the cause, then run graph.run_scheduled_maintenance() with'
                ' graph.verify_interval = ''0'' (or let it check again after graph.verify_interval)'
        WHEN check_job IS NOT NULL THEN
            format('the source check of maintenance run %s failed (%s): no source is checked against the graph'
                   ' until one succeeds; fix the cause, then run graph.run_scheduled_maintenance() with'
                   ' graph.verify_interval = ''0'' (or let it check again after graph.verify_interval)',
                   check_job, check_error)
        WHEN h.needs_rebuild THEN 'run graph.run_scheduled_maintenance(): ' || h.rebuild_reasons
        WHEN h.pending_sync_rows > 0 AND held_as IS NOT NULL THEN
            format('replay waits for backend %s, whose open transaction holds a lock an apply or maintenance'
                   ' run holding graph._sync_state waits for%s: it goes on when that transaction ends;'
                   ' SELECT pg_terminate_backend(%s) ends it', held_by, held_as, held_by)
        WHEN h.pending_sync_rows > 0 AND held_by IS NOT NULL THEN
            format('replay waits for backend %s, whose open transaction holds graph._sync_state (an apply, or a'
                   ' read that applied, not ended): it goes on when that transaction ends; SELECT'
                   ' pg_terminate_backend(%s) ends it (graph.read_apply = ''admins'' keeps readers from holding it)',
                   held_by, held_by)
        WHEN h.pending_sync_rows > 0 THEN 'run graph.apply_sync() (or let maintenance or a read apply it)'
        WHEN cron.state = 'unknown' THEN cron.action
        ELSE 'nothing to do'
    END;
    health := h;
    RETURN;
END;
$$;

COMMENT ON FUNCTION graph._health(boolean) IS
'Internal (health): the row of graph.sync_health() (graph.sync_health_row), with failed rows'', runs'' and pg_cron''s errors when reveal (admins only: EXECUTE), and the latest failed log row''s id.';
