"""Health an operator can trust: each recommendation of sync_health() from a
condition created on a real server; maintenance and reconcile never say
'succeeded' while they left work undone; reconcile() updates the source check
health reports; retry_failed() reports what it retried.

Covered in other modules: failed rows -> retry_failed (test_maintenance_failed_rows),
TRUNCATE markers, tombstones and overlay pressure -> maintenance_recommended and
'nothing to do' (test_maintenance), each kind of drift -> reconcile_recommended
(test_drift), the scheduled pg_cron job: ok, waiting, failing, late, never ran,
inactive (test_cron)."""

import psycopg
import pytest

from conftest import apply, connect, health, maintain, reconcile, retry, verify

# A sabotaged graph table: rows of the keys in public.cursed cannot be written
# to graph._nodes (replay or build fails on them), or are written with forged
# properties (public.forged), so the graph cannot equal its source.
SABOTAGE = """
CREATE TABLE public.cursed (pk text PRIMARY KEY);
CREATE TABLE public.forged (pk text PRIMARY KEY);
CREATE FUNCTION public.sabotage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alive AND EXISTS (SELECT FROM public.cursed WHERE pk = NEW.pk) THEN
        RAISE EXCEPTION 'node % is cursed', NEW.pk;
    END IF;
    IF EXISTS (SELECT FROM public.forged WHERE pk = NEW.pk) THEN
        NEW.properties := '{"name": "forged"}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sabotage BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.sabotage();
CREATE FUNCTION public.break_build() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'disk on fire'; END $$;
"""
BREAK_BUILD = """CREATE TRIGGER break_build BEFORE INSERT ON graph._csr
                 FOR EACH ROW EXECUTE FUNCTION public.break_build()"""
MEND_BUILD = "DROP TRIGGER break_build ON graph._csr"


def flags(h):
    return (h["apply_sync_recommended"], h["maintenance_recommended"], h["reconcile_recommended"])


@pytest.fixture(scope="module")
def sabotage(db):
    with connect(db) as c:
        c.execute(SABOTAGE)
    return db


@pytest.fixture
def people(sabotage):
    """A fresh registered table with a self-referencing edge, a quiet graph
    (nothing pending, no job rows) and no sabotage armed, per test."""
    with connect(sabotage) as c:
        c.execute("DROP TRIGGER IF EXISTS break_build ON graph._csr")
        c.execute("TRUNCATE public.cursed, public.forged")
        c.execute("DROP TABLE IF EXISTS people CASCADE")
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute("CREATE TABLE people (id int PRIMARY KEY, name text, boss int)")
        c.execute("INSERT INTO people SELECT g, 'p' || g, NULLIF(g / 2, 0) FROM generate_series(1, 20) g")
        c.execute("SELECT graph.add_table('people', columns => '{name}')")
        c.execute("SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM graph._sync_log")
        c.execute("DELETE FROM graph._maintenance_jobs")
        h = health(c)
        assert h["next_action"] == "nothing to do" and flags(h) == (False, False, False), h
    yield sabotage
    with connect(sabotage) as c:
        c.execute("DROP TRIGGER IF EXISTS break_build ON graph._csr")
        c.execute("TRUNCATE public.cursed, public.forged")


def test_pending_rows_recommend_apply_sync(people):
    with connect(people) as c:
        c.execute("INSERT INTO people VALUES (100, 'new', 1)")
        h = health(c)
        assert h["pending_sync_rows"] == 1
        assert flags(h) == (True, False, False)
        assert h["next_action"] == "run graph.apply_sync() (or let maintenance or a read apply it)"
        apply(c)
        h = health(c)
        assert flags(h) == (False, False, False) and h["next_action"] == "nothing to do"


def test_a_read_only_graph_recommends_maintenance_not_apply(people):
    with connect(people) as c:
        c.execute("SET graph.edge_buffer_size = 10")
        c.execute("INSERT INTO people SELECT g, 'flood', 1 FROM generate_series(200, 230) g")
        c.execute("SELECT graph._apply_for_read()")  # a read's apply: it never rebuilds
        h = health(c)
        assert h["read_only"] and h["pending_sync_rows"] > 0
        # applying cannot help a read-only graph; maintenance rebuilds it
        assert flags(h) == (False, True, False)
        assert h["next_action"].startswith("run graph.run_scheduled_maintenance(): ")
        assert "read-only (edge_buffer_full)" in h["next_action"]
        c.execute("RESET graph.edge_buffer_size")
        assert maintain(c)["status"] == "succeeded"
        h = health(c)
        assert flags(h) == (False, False, False) and h["next_action"] == "nothing to do"
        assert verify(c) == []


def test_a_registration_change_recommends_maintenance(people):
    with connect(people) as c:
        c.execute("SELECT graph.add_filter_column('people', 'name')")
        h = health(c)
        assert h["build_required"] and h["needs_rebuild"]
        assert flags(h) == (False, True, False)
        assert h["next_action"] == "run graph.run_scheduled_maintenance(): " + h["rebuild_reasons"]
        assert "registration changed" in h["rebuild_reasons"]
        assert maintain(c)["rebuilt"]
        assert health(c)["next_action"] == "nothing to do"


def test_a_failed_run_recommends_maintenance_and_says_which_phase(people):
    with connect(people) as c:
        c.execute(BREAK_BUILD)
        m = maintain(c, "graph.vacuum")
        assert m["status"] == "failed" and "disk on fire" in m["error"]
        h = health(c)
        assert h["last_maintenance_status"] == "failed" and not h["needs_rebuild"]
        assert flags(h) == (False, True, False)  # before the fix: only needs_rebuild counted
        assert h["next_action"] == ("the last vacuum run failed in phase rebuild: " + h["last_maintenance_error"]
                                    + "; fix the cause, then run graph.vacuum()")
        c.execute(MEND_BUILD)
        assert maintain(c, "graph.vacuum")["status"] == "succeeded"
        h = health(c)
        assert flags(h) == (False, False, False) and h["next_action"] == "nothing to do"


def test_differences_left_by_a_failed_rebuild_recommend_reconcile_and_reconcile_updates_the_check(people):
    with connect(people) as c:
        # a write capture misses: its log row taken back (a trigger switched off and on again
        # is a rebuild reason of its own, capture_off: tests/test_abuse_capture_toggle.py)
        with c.transaction():
            c.execute("UPDATE people SET name = 'unseen' WHERE id = 5")
            c.execute("DELETE FROM graph._sync_log WHERE xid = pg_current_xact_id()::text::bigint")
        c.execute("SET graph.verify_interval = '0'")
        c.execute(BREAK_BUILD)
        m = maintain(c)
        assert (m["status"], m["differences"], m["rebuilt"]) == ("failed", 1, False)
        h = health(c)
        assert h["last_verify_differences"] == 1
        assert h["reconcile_recommended"] and h["maintenance_recommended"]
        assert h["next_action"] == "run graph.reconcile(): 1 source difference(s) found"
        checked = h["last_verify_at"]
        c.execute(MEND_BUILD)
        assert ("repaired_stale_property", "public.people") in {(r[0], r[1]) for r in reconcile(c)}
        h = health(c)
        assert h["last_verify_at"] > checked  # reconcile's comparison is the last check now
        assert h["last_verify_differences"] == 1  # what it found; it rebuilt, so nothing is recommended
        assert flags(h) == (False, False, False) and h["next_action"] == "nothing to do"
        assert h["last_maintenance_status"] == "succeeded"
        checked = h["last_verify_at"]
        assert reconcile(c) == [("nothing_to_repair", None, 0, "the graph equals the sources")]
        h = health(c)
        assert h["last_verify_at"] > checked and h["last_verify_differences"] == 0


def test_maintenance_is_partial_never_succeeded_while_capture_is_broken(people):
    with connect(people) as c:
        c.execute("ALTER TABLE people DISABLE TRIGGER graphsync_capture_update")
        m = maintain(c)
        assert m["status"] == "partial", m  # was 'succeeded'
        assert "schema drift needs graph.reconcile(): trigger_disabled public.people" in m["error"]
        job = c.execute("SELECT status, error FROM graph._maintenance_jobs WHERE job_id = %s",
                        (m["job_id"],)).fetchone()
        assert job == ("partial", m["error"])
        h = health(c)
        assert h["last_maintenance_status"] == "partial" and h["last_maintenance_error"] == m["error"]
        assert h["reconcile_recommended"] and h["next_action"].startswith("run graph.reconcile(): ")
        reconcile(c)
        assert maintain(c)["status"] == "succeeded"
        assert health(c)["next_action"] == "nothing to do"


def test_maintenance_is_partial_while_drift_blocks_a_due_rebuild(people):
    with connect(people) as c:
        c.execute("SELECT graph.add_filter_column('people', 'boss')")  # a rebuild is due
        c.execute("ALTER TABLE people DROP CONSTRAINT people_pkey")  # and drift blocks it: no key
        m = maintain(c)
        assert m["status"] == "partial" and m["rebuilt"] is False, m
        assert "schema drift needs graph.reconcile(): key_changed public.people.id" in m["error"]
        assert "rebuild due but not done (the registration changed" in m["error"]
        c.execute("ALTER TABLE people ADD PRIMARY KEY (id)")
        m = maintain(c)
        assert m["status"] == "succeeded", m
        assert verify(c) == []


def test_maintenance_is_partial_while_rows_fail_and_succeeds_once_retried(people):
    with connect(people) as c:
        c.execute("INSERT INTO public.cursed VALUES ('666')")
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        m = maintain(c)
        assert m["status"] == "partial" and m["failed_rows"] == 1
        assert "1 log rows failed to apply" in m["error"] and "node 666 is cursed" in m["error"]
        c.execute("TRUNCATE public.cursed")
        assert retry(c)["still_failed"] == 0
        assert maintain(c)["status"] == "succeeded"


def test_reconcile_is_partial_when_differences_remain_after_its_rebuild(people):
    with connect(people) as c:
        c.execute("INSERT INTO public.forged VALUES ('7')")  # every write of node 7 is forged
        c.execute("UPDATE people SET name = 'real' WHERE id = 7")
        apply(c)
        done = reconcile(c)
        assert ("repaired_stale_property", "public.people") in {(r[0], r[1]) for r in done}
        assert ("still_stale_property", "public.people") in {(r[0], r[1]) for r in done}
        job = c.execute("""SELECT status, error, differences, rebuilt FROM graph._maintenance_jobs
                           ORDER BY job_id DESC LIMIT 1""").fetchone()
        assert job[0] == "partial", job  # was 'succeeded'
        assert "1 differences from the sources remain after the rebuild" in job[1]
        assert job[2:] == (1, True)
        h = health(c)
        assert h["last_maintenance_status"] == "partial" and not h["reconcile_recommended"]
        assert h["next_action"] == ("the last reconcile run left work undone: " + job[1]
                                    + "; fix the cause, then run graph.reconcile()")
        c.execute("TRUNCATE public.forged")
        reconcile(c)
        h = health(c)
        assert h["last_maintenance_status"] == "succeeded" and h["next_action"] == "nothing to do"
        assert verify(c) == []


def test_retry_failed_reports_the_waiting_row_it_retried(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'stop'")
        c.execute("INSERT INTO public.cursed VALUES ('666')")
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        c.execute("INSERT INTO people VALUES (667, 'after', 666)")
        apply(c)
        poison = c.execute("SELECT id FROM graph._sync_log WHERE error_message IS NOT NULL").fetchone()[0]
        r = retry(c)  # the cause is still there: the waiting row is tried again and fails
        assert (r["retried"], r["succeeded"], r["still_failed"]) == (1, 0, 1)  # retried was 0
        assert r["failed_ids"] == [poison] and r["stopped"] == "failed_row"
        assert r["summary"].startswith("retried 1 log rows: 0 succeeded, 1 still fail (ids %d;" % poison)
        assert "node 666 is cursed" in r["summary"]
        c.execute("TRUNCATE public.cursed")
        r = retry(c)
        assert (r["retried"], r["succeeded"], r["still_failed"], r["applied_after"]) == (1, 1, 0, 2)
        assert r["failed_ids"] == [] and r["stopped"] is None
        assert r["summary"] == "retried 1 log rows: 1 succeeded, 0 still fail; then applied 2 pending log rows"
        assert verify(c) == []


def test_retry_failed_reports_which_skipped_rows_still_fail(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("INSERT INTO public.cursed VALUES ('666'), ('667')")
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        c.execute("INSERT INTO people VALUES (667, 'poison too', 1)")
        assert apply(c)["failed"] == 2
        ids = [r[0] for r in c.execute("""SELECT id FROM graph._sync_log WHERE error_message IS NOT NULL
                                          ORDER BY id""")]
        c.execute("DELETE FROM public.cursed WHERE pk = '666'")  # half the cure
        r = retry(c)
        assert (r["retried"], r["succeeded"], r["still_failed"]) == (2, 1, 1)
        assert r["failed_ids"] == [ids[1]]
        assert "node 667 is cursed" in r["summary"]
        h = health(c)
        assert h["failed_sync_rows"] == 1 and "retry_failed" in h["next_action"]
        c.execute("TRUNCATE public.cursed")
        r = retry(c)
        assert (r["retried"], r["succeeded"], r["still_failed"], r["failed_ids"]) == (1, 1, 0, [])
        assert verify(c) == []


def test_health_hides_a_failed_run_error_from_non_admins_but_not_the_recommendation(people):
    with connect(people) as c:
        c.execute("DROP ROLE IF EXISTS gs_health_reader")
        c.execute("CREATE ROLE gs_health_reader LOGIN")
        c.execute(BREAK_BUILD)
        assert maintain(c, "graph.vacuum")["status"] == "failed"
        try:
            params = psycopg.conninfo.conninfo_to_dict(people)
            params["user"] = "gs_health_reader"
            with psycopg.connect(psycopg.conninfo.make_conninfo(**params), autocommit=True) as r:
                h = health(r)
                assert h["last_maintenance_status"] == "failed" and h["maintenance_recommended"]
                assert "disk on fire" not in h["next_action"] and "disk on fire" not in h["last_maintenance_error"]
        finally:
            c.execute("DROP ROLE gs_health_reader")


# graph.sync_health()'s columns, in order, with their types: its API (monitors
# select them by name, psql shows them in this order).
SYNC_HEALTH_COLUMNS = [
    ("sync_mode", "text"), ("query_freshness", "text"), ("sync_batch_size", "bigint"),
    ("sync_error_policy", "text"), ("applied_sync_id", "bigint"), ("max_sync_log_id", "bigint"),
    ("pending_sync_rows", "bigint"), ("oldest_pending_age", "interval"), ("failed_sync_rows", "bigint"),
    ("last_error", "text"), ("disabled_trigger_count", "bigint"), ("missing_trigger_count", "bigint"),
    ("missing_triggers", "text"), ("edge_buffer_used", "bigint"), ("edge_buffer_size", "bigint"),
    ("tombstone_count", "bigint"), ("needs_vacuum", "boolean"), ("needs_rebuild", "boolean"),
    ("rebuild_reasons", "text"), ("read_only", "boolean"), ("read_only_reason", "text"),
    ("build_required", "boolean"), ("generation", "bigint"), ("schema_state", "text"), ("schema_drift", "text"),
    ("last_maintenance_at", "timestamp with time zone"), ("last_maintenance_status", "text"),
    ("last_maintenance_error", "text"), ("schedule_state", "text"),
    ("schedule_last_success_at", "timestamp with time zone"), ("schedule_error", "text"),
    ("last_verify_at", "timestamp with time zone"), ("last_verify_differences", "bigint"),
    ("dangling_references", "bigint"), ("duplicate_edges", "bigint"),
    ("integrity_checked_at", "timestamp with time zone"), ("apply_sync_recommended", "boolean"),
    ("maintenance_recommended", "boolean"), ("reconcile_recommended", "boolean"), ("next_action", "text"),
    ("last_change_sync_id", "bigint"), ("notifications_skipped", "bigint"), ("read_apply", "text"),
]
SYNC_HEALTH_COMMENT = (
    "One row of replay and drift health: sync mode and settings, applied position, pending/failed rows,"
    " triggers, buffer and tombstones, rebuild need, read-only state, schema drift, last maintenance and"
    " source check, next action, latest change number, skipped notifications.")


def result_columns(conn, query):
    """[(name, type)] of what ``query`` returns, read from a temporary view over it."""
    conn.execute(f"CREATE TEMP VIEW result_columns AS {query}")
    try:
        return conn.execute("""SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
                               FROM pg_attribute AS a
                               WHERE a.attrelid = 'pg_temp.result_columns'::regclass AND a.attnum > 0
                               ORDER BY a.attnum""").fetchall()
    finally:
        conn.execute("DROP VIEW pg_temp.result_columns")


def test_sync_health_keeps_its_columns_arguments_and_comment(db):
    """What monitors depend on: one function without arguments, its columns (names,
    types, order), its comment; the same columns for an admin and for any role."""
    with connect(db) as c:
        fns = c.execute("""SELECT p.oid::regprocedure::text, p.pronargs::int,
                                  obj_description(p.oid, 'pg_proc')
                           FROM pg_proc AS p
                           WHERE p.pronamespace = 'graph'::regnamespace AND p.proname = 'sync_health'""").fetchall()
        assert fns == [("graph.sync_health()", 0, SYNC_HEALTH_COMMENT)]
        assert result_columns(c, "SELECT * FROM graph.sync_health()") == SYNC_HEALTH_COLUMNS
        c.execute("DROP ROLE IF EXISTS gs_health_shape")
        c.execute("CREATE ROLE gs_health_shape")
        try:
            with c.transaction():
                c.execute("SET LOCAL ROLE gs_health_shape")
                cur = c.execute("SELECT * FROM graph.sync_health()")
                assert [d.name for d in cur.description] == [n for n, _ in SYNC_HEALTH_COLUMNS]
                assert len(cur.fetchall()) == 1
        finally:
            c.execute("DROP ROLE gs_health_shape")


def test_the_health_row_is_defined_once(db):
    """graph.sync_health, graph._health and graph._health_masked return one
    composite type, graph.sync_health_row: a column added to it is a column of
    sync_health() for every role, with no function edited. The type is the
    installer's, so no definer role (nor graph_admin) can alter it."""
    with connect(db) as c:
        assert c.execute("""SELECT t.typowner = (SELECT nspowner FROM pg_namespace WHERE nspname = 'graph'),
                                   t.typtype
                            FROM pg_type AS t WHERE t.oid = 'graph.sync_health_row'::regtype""").fetchone() == (
            True, "c")
        for role in ("graph_sync", "graph_admin", "graph_capture", "graph_views"):
            assert not c.execute("SELECT pg_has_role(%s, t.typowner, 'USAGE') FROM pg_type AS t"
                                 " WHERE t.oid = 'graph.sync_health_row'::regtype", (role,)).fetchone()[0], role
        assert c.execute("SELECT pg_get_function_result('graph.sync_health()'::regprocedure)").fetchone() == (
            "graph.sync_health_row",)
        for fn, args in (("graph._health(boolean)", "reveal boolean, "), ("graph._health_masked()", "")):
            assert c.execute("SELECT pg_get_function_arguments(%s::regprocedure)", (fn,)).fetchone() == (
                args + "OUT health graph.sync_health_row, OUT last_failed_id bigint",), fn
        c.execute("DROP ROLE IF EXISTS gs_health_shape")
        c.execute("CREATE ROLE gs_health_shape")
        try:
            with c.transaction():
                c.execute("ALTER TYPE graph.sync_health_row ADD ATTRIBUTE probe_column text")
                want = [n for n, _ in SYNC_HEALTH_COLUMNS] + ["probe_column"]
                cur = c.execute("SELECT * FROM graph.sync_health()")
                assert [d.name for d in cur.description] == want
                c.execute("SET LOCAL ROLE gs_health_shape")
                cur = c.execute("SELECT * FROM graph.sync_health()")
                assert [d.name for d in cur.description] == want
                raise psycopg.Rollback
        finally:
            c.execute("DROP ROLE gs_health_shape")
