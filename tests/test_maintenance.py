"""run_scheduled_maintenance(), vacuum(), pruning, status(): on a real server,
with real concurrent sessions."""

import threading
import time

import psycopg
import pytest

from conftest import ROOT, apply, connect, health, maintain, pending_count, rows_read, verify

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 50) g")
        c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, NULL, 1 + g % 50
                     FROM generate_series(1, 3000) g""")
        c.execute("""INSERT INTO app.relations (source_id, target_id, type, weight)
                     SELECT 1 + g % 3000, 1 + (g * 7) % 3000, 'knows', g % 4
                     FROM generate_series(1, 20000) g""")
        c.execute(REGISTER)
        c.execute("ALTER DATABASE " + c.info.dbname + " SET graph.verify_interval = 'off'")
    with connect(db) as c:
        result = maintain(c)
        assert result["status"] == "succeeded" and result["rebuilt"], result
        assert "the registration changed" in result["reason"]
    return db


def test_a_quiet_run_does_nothing_and_says_so(app):
    with connect(app) as c:
        maintain(c)
        result = maintain(c)
        assert result["status"] == "succeeded"
        assert result["rebuilt"] is False and result["rows_applied"] == 0
        assert "no rebuild needed" in result["reason"]
        job = c.execute("""SELECT kind, status, phase, finished_at >= started_at, rebuilt, reason, error
                           FROM graph._maintenance_jobs WHERE job_id = %s""", (result["job_id"],)).fetchone()
        assert job == ("scheduled", "succeeded", "prune", True, False, result["reason"], None)
        h = health(c)
        assert h["last_maintenance_status"] == "succeeded" and h["next_action"] == "nothing to do"


def test_admin_calls_tell_their_caller_nothing_of_graphsyncs_temporary_tables(app):
    """build(), verify() and maintenance (which verifies, then checks the sources)
    each fill temporary tables of the transaction: a second use of one in the same
    transaction once sent the caller PostgreSQL's NOTICE 'relation "_gs_src_nodes"
    already exists, skipping' -- noise naming graphsync's internals."""
    with connect(app) as c:
        seen = []
        c.add_notice_handler(lambda d: seen.append(d.message_primary))
        with c.transaction():
            c.execute("SELECT * FROM graph.build()").fetchall()
            assert verify(c) == [] and verify(c) == []
            c.execute("SELECT * FROM graph.build()").fetchall()
        c.execute("SET graph.verify_interval = '0'")  # a superuser's session setting counts
        result = maintain(c)
        assert result["status"] == "succeeded" and "source check: no differences" in result["reason"], result
        assert [m for m in seen if "_gs_" in m or "already exists" in m] == []


def test_concurrent_runs_never_overlap(app):
    with connect(app) as a, connect(app) as b:
        a.execute("INSERT INTO app.workspaces VALUES (3, 'initech')")
        with a.transaction():
            first = maintain(a)  # holds the maintenance lock until commit
            assert first["status"] == "succeeded" and first["rows_applied"] == 1
            second = maintain(b)
            assert second["status"] == "skipped"
            assert "another maintenance run" in second["reason"]
        assert b.execute("SELECT status FROM graph._maintenance_jobs WHERE job_id = %s",
                         (second["job_id"],)).fetchone() == ("skipped",)
        # vacuum waits for a run under way instead of skipping it
        done = []
        with a.transaction():
            maintain(a)
            t = threading.Thread(target=lambda: done.append(maintain(b, "graph.vacuum")))
            t.start()
            t.join(1.0)
            assert t.is_alive(), "vacuum must wait for the run under way"
        t.join(60)
        assert done and done[0]["status"] == "succeeded" and done[0]["rebuilt"]


def test_vacuum_forces_a_rebuild_with_progress_notices(app):
    with connect(app) as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        before = c.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        result = maintain(c, "graph.vacuum")
        assert result["status"] == "succeeded" and result["rebuilt"]
        assert result["generation"] == before + 1
        assert "forced by graph.vacuum()" in result["reason"]
        assert any("rebuilding the base" in n for n in notices)
        assert any(n.startswith("graphsync build: reading") for n in notices)
        assert any("writing generation" in n for n in notices)
        assert c.execute("SELECT kind FROM graph._maintenance_jobs WHERE job_id = %s",
                         (result["job_id"],)).fetchone() == ("vacuum",)
        assert verify(c) == []


def test_truncate_markers_make_maintenance_rebuild(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.deals VALUES (1, 1, 'd', 10, 5), (2, 1, 'e', 20, 6)")
        c.execute("TRUNCATE app.deals")
        apply(c)
        h = health(c)
        assert h["needs_vacuum"] is True and h["needs_rebuild"] is True
        assert "TRUNCATE marker" in h["rebuild_reasons"] and h["maintenance_recommended"]
        result = maintain(c)
        assert result["rebuilt"] and "TRUNCATE marker" in result["reason"]
        h = health(c)
        assert h["needs_vacuum"] is False and h["needs_rebuild"] is False
        assert verify(c) == []


def test_tombstones_make_maintenance_rebuild(app):
    with connect(app) as c:
        c.execute("SET graph.rebuild_tombstone_fraction = 0.01")
        c.execute("DELETE FROM app.relations WHERE source_id BETWEEN 2900 AND 3000 OR target_id BETWEEN 2900 AND 3000")
        c.execute("DELETE FROM app.contacts WHERE id BETWEEN 2900 AND 3000")
        apply(c)
        h = health(c)
        assert h["tombstone_count"] == 101 and h["needs_rebuild"]
        result = maintain(c)
        assert result["rebuilt"] and "tombstones" in result["reason"]
        assert health(c)["tombstone_count"] == 0
        c.execute("RESET graph.rebuild_tombstone_fraction")
        assert verify(c) == []


def test_edge_buffer_full_read_only_then_maintenance_recovers_everything(app):
    with connect(app) as c:
        maintain(c)
        c.execute("SET graph.edge_buffer_size = 200")
        c.execute("SET graph.rebuild_overlay_fraction = 1")  # only a full buffer forces a rebuild
        c.execute("""INSERT INTO app.relations (source_id, target_id, type)
                     SELECT 1 + g % 500, 1 + g % 700, 'flood' FROM generate_series(1, 300) g""")
        flood_rows = pending_count(c)
        c.execute("SELECT graph._apply_for_read()")  # a read's apply: it never rebuilds
        h = health(c)
        assert h["read_only"] is True and h["read_only_reason"] == "edge_buffer_full"
        assert h["pending_sync_rows"] > 0 and h["needs_rebuild"]
        assert "read-only" in h["rebuild_reasons"]
        # writes keep coming while the graph is read-only; nothing is lost
        c.execute("INSERT INTO app.contacts VALUES (9001, 1, 'late', NULL, 3)")
        c.execute("UPDATE app.contacts SET name = 'renamed' WHERE id = 7")
        assert pending_count(c) == h["pending_sync_rows"] + 2 and flood_rows > 0
        result = maintain(c)
        assert result["status"] == "succeeded" and result["rebuilt"]
        assert "read-only (edge_buffer_full)" in result["reason"]
        h = health(c)
        assert h["read_only"] is False and h["pending_sync_rows"] == 0 and h["edge_buffer_used"] == 0
        assert verify(c) == []
        c.execute("INSERT INTO app.relations (source_id, target_id, type) VALUES (1, 2, 'writable again')")
        assert apply(c)["stopped"] is None
        assert verify(c) == []
        c.execute("RESET graph.edge_buffer_size")
        c.execute("RESET graph.rebuild_overlay_fraction")


def test_overlay_pressure_makes_maintenance_rebuild(app):
    with connect(app) as c:
        maintain(c, "graph.vacuum")
        c.execute("SET graph.edge_buffer_size = 1000")
        c.execute("""INSERT INTO app.relations (source_id, target_id, type)
                     SELECT 1 + g % 400, 1 + g % 300, 'pressure' FROM generate_series(1, 300) g""")
        apply(c)
        h = health(c)
        assert h["edge_buffer_used"] == 600 and "edge overlay 600 of 1000" in h["rebuild_reasons"]
        result = maintain(c)
        assert result["rebuilt"] and "edge overlay" in result["reason"]
        assert health(c)["edge_buffer_used"] == 0
        c.execute("RESET graph.edge_buffer_size")


def test_a_failed_run_is_recorded_and_the_graph_keeps_serving(app):
    with connect(app) as c:
        maintain(c)
        generation = c.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        c.execute("""CREATE FUNCTION public.break_build() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$""")
        c.execute("""CREATE TRIGGER break_build BEFORE INSERT ON graph._csr
                     FOR EACH ROW EXECUTE FUNCTION public.break_build()""")
        c.execute("INSERT INTO app.workspaces VALUES (40, 'applied before the failure')")
        try:
            result = maintain(c, "graph.vacuum")
        finally:
            c.execute("DROP TRIGGER break_build ON graph._csr")
            c.execute("DROP FUNCTION public.break_build()")
        assert result["status"] == "failed" and "disk on fire" in result["error"]
        assert result["rows_applied"] == 1  # the apply phase committed before the rebuild failed
        job = c.execute("SELECT status, phase, error FROM graph._maintenance_jobs WHERE job_id = %s",
                        (result["job_id"],)).fetchone()
        assert job[0] == "failed" and job[1] == "rebuild" and "disk on fire" in job[2]
        h = health(c)
        assert h["last_maintenance_status"] == "failed" and "disk on fire" in h["last_maintenance_error"]
        assert c.execute("SELECT generation FROM graph._sync_state").fetchone()[0] == generation
        assert c.execute("SELECT count(*) FROM graph._csr WHERE generation = %s",
                         (generation,)).fetchone()[0] == 1  # the old base ('out' row) still serves
        assert verify(c) == []
        assert maintain(c, "graph.vacuum")["status"] == "succeeded"


def test_pruning_keeps_every_unapplied_row_including_open_transactions(app):
    with connect(app) as admin, connect(app) as a, connect(app) as b, connect(app) as d:
        maintain(admin)
        admin.execute("SET graph.log_retention = '0'")
        assert admin.execute("SELECT graph.prune_sync_log()").fetchone()[0] >= 0
        assert admin.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == 0
        a.execute("BEGIN")
        a.execute("INSERT INTO app.workspaces VALUES (50, 'a: open across an apply')")
        b.execute("INSERT INTO app.workspaces VALUES (51, 'b: committed and applied')")
        b.execute("INSERT INTO app.workspaces VALUES (52, 'b: committed and applied')")
        assert apply(admin)["inserts"] == 2  # a is still open: its row is invisible
        a.execute("INSERT INTO app.workspaces VALUES (53, 'a: second row')")
        a.execute("COMMIT")  # a committed after the cursor moved past b: a's rows are pending
        d.execute("BEGIN")
        d.execute("INSERT INTO app.workspaces VALUES (54, 'd: still open while pruning')")
        assert pending_count(admin) == 2
        assert admin.execute("SELECT graph.prune_sync_log()").fetchone()[0] == 2  # b's rows
        keys = {r[0] for r in admin.execute(
            "SELECT new_pk FROM graph._sync_log WHERE table_oid = 'app.workspaces'::regclass")}
        assert keys == {"50", "53"}
        result = maintain(admin)  # applies a's rows, then may prune them: they are applied
        assert result["rows_applied"] == 2 and result["rows_pruned"] == 2
        d.execute("COMMIT")
        assert admin.execute("SELECT new_pk FROM graph._sync_log").fetchall() == [("54",)]
        assert apply(admin)["inserts"] == 1
        assert verify(admin) == []
        admin.execute("RESET graph.log_retention")


def test_pruning_respects_retention_and_keeps_failed_rows(app):
    with connect(app) as c:
        maintain(c)
        c.execute("SELECT graph.prune_sync_log('0')")
        c.execute("INSERT INTO app.workspaces VALUES (60, 'recent')")
        c.execute("""WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message, created_at)
                     VALUES ('I', 'app.workspaces'::regclass, 'app.workspaces', '61', 'kept: failed',
                             now() - interval '2 days') RETURNING id)
                     INSERT INTO graph._sync_log_attention SELECT id FROM f""")
        c.execute("SET graph.sync_error_policy = 'skip'")
        apply(c)
        c.execute("RESET graph.sync_error_policy")
        assert c.execute("SELECT graph.prune_sync_log('1 hour')").fetchone()[0] == 0  # recent row kept
        assert c.execute("SELECT graph.prune_sync_log('0')").fetchone()[0] == 1
        left = c.execute("SELECT pk, error_message IS NOT NULL FROM graph._sync_log").fetchall()
        assert left == [("61", True)]
        c.execute("DELETE FROM graph._sync_log")


def test_pruning_reads_what_it_prunes_not_what_the_log_keeps(app):
    """graph.log_retention keeps an hour of applied rows (millions under a steady write
    load) and maintenance prunes every run: a prune reads the log and the record of
    applied changes along their primary keys up to the first row it must keep, not the
    whole of either. Old rows after a younger one (a long transaction's) wait for the
    next run; a failed row, a pending one and a TRUNCATE marker are kept wherever they are."""
    with connect(app) as c, connect(app) as late:
        maintain(c)
        c.execute("SELECT graph.prune_sync_log('0')")
        late.execute("BEGIN")
        late.execute("INSERT INTO app.workspaces VALUES (70, 'pending: open across the prune')")
        c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, NULL, 1 + g % 50
                     FROM generate_series(100001, 100300) g""")  # 300 rows, to be made old
        c.execute("""WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message)
                     VALUES ('I', 'app.workspaces'::regclass, 'app.workspaces', '71', 'kept: failed')
                     RETURNING id)
                     INSERT INTO graph._sync_log_attention SELECT id FROM f""")
        c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, NULL, 1 + g % 50
                     FROM generate_series(100301, 120300) g""")  # 20,000 recent rows, kept
        c.execute("UPDATE app.contacts SET name = 'old again' WHERE id = 100001")  # old, after recent ones
        c.execute("""WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message)
                     VALUES ('I', 'app.workspaces'::regclass, 'app.workspaces', '72', 'kept: failed, recent')
                     RETURNING id)
                     INSERT INTO graph._sync_log_attention SELECT id FROM f""")
        c.execute("SET graph.sync_error_policy = 'skip'")
        apply(c)
        c.execute("RESET graph.sync_error_policy")
        c.execute("""UPDATE graph._sync_log SET created_at = now() - interval '2 hours'
                     WHERE table_oid = 'app.contacts'::regclass AND new_pk::int BETWEEN 100001 AND 100300
                        OR pk = '71'""")
        c.execute("""UPDATE graph._change_log_rows SET created_at = now() - interval '2 hours'
                     WHERE table_oid = 'app.contacts'::regclass AND op = 'I'
                       AND node_id::int BETWEEN 100001 AND 100300""")
        late.execute("UPDATE graph._sync_log SET created_at = now() - interval '2 hours' WHERE pk = '70'")
        late.execute("COMMIT")
        kept = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        changes = c.execute("SELECT count(*) FROM graph._change_log_rows").fetchone()[0]
        assert kept > 20300 and changes > 20300
        # Past a kept plan's first five custom plans, before and after an ANALYZE, and with
        # the plans PostgreSQL may choose (a generic one; no bitmap scans).
        for i in range(12):
            if i == 6:
                c.execute("ANALYZE graph._sync_log, graph._change_log_rows")
            c.execute("SET plan_cache_mode = %s" % ("force_generic_plan" if i % 3 == 1 else "auto"))
            c.execute("SET enable_bitmapscan = %s" % ("off" if i % 3 == 2 else "on"))
            c.execute("SET enable_nestloop = %s" % ("off" if i in (3, 10) else "on"))
            with c.transaction(force_rollback=True):
                log, change_log = rows_read(c, "graph._sync_log"), rows_read(c, "graph._change_log_rows")
                assert c.execute("SELECT graph.prune_sync_log()").fetchone()[0] == 300
                log, change_log = (rows_read(c, "graph._sync_log") - log,
                                   rows_read(c, "graph._change_log_rows") - change_log)
                assert log < 1000, "a prune read %d log rows" % log
                assert change_log < 1000, "a prune read %d rows of applied changes" % change_log
                assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == kept - 300
                left = c.execute("""SELECT pk FROM graph._sync_log WHERE created_at < now() - interval '1 hour'
                                    ORDER BY pk""").fetchall()
                assert left == [("100001",), ("70",), ("71",)]  # after recent rows, pending, failed
                assert c.execute("SELECT count(*) FROM graph._change_log_rows").fetchone()[0] == changes - 300
        c.execute("RESET plan_cache_mode")
        c.execute("RESET enable_bitmapscan")
        c.execute("RESET enable_nestloop")
        late.execute("DELETE FROM app.workspaces WHERE id = 70")
        apply(c)
        c.execute("DELETE FROM graph._sync_log")
        assert verify(c) == []


@pytest.mark.parametrize("freshness", ["off", "apply_pending_sync"])
def test_rebuild_while_others_write_and_read(app, freshness):
    """Writers and readers run while maintenance rebuilds several times: no
    reader ever errors, every write reaches the graph."""
    stop = threading.Event()
    errors, reads, writes = [], [0], [0]

    def writer(seed):
        with connect(app) as w:
            i = 0
            while not stop.is_set():
                i += 1
                key = 100000 + seed * 100000 + (0 if freshness == "off" else 50000) + i
                try:
                    with w.transaction():
                        w.execute("INSERT INTO app.contacts VALUES (%s, 1, 'w', NULL, %s)", (key, 1 + i % 50))
                        w.execute("INSERT INTO app.relations (source_id, target_id, type) VALUES (%s, %s, 'w')",
                                  (key, 1 + i % 2000))
                        w.execute("UPDATE app.contacts SET name = 'u' || %s WHERE id = %s", (i, 1 + i % 2000))
                        if i % 3 == 0:
                            w.execute("DELETE FROM app.relations WHERE id = (SELECT min(id) FROM app.relations)")
                    writes[0] += 1
                except psycopg.Error as exc:  # writers must never fail either
                    errors.append(("writer", repr(exc)))
                    return

    def reader(freshness):
        with connect(app) as r:
            r.execute("SET graph.query_freshness = %s" % freshness)
            traverse = r.execute("SELECT to_regproc('graph.traverse') IS NOT NULL").fetchone()[0]
            while not stop.is_set():
                try:
                    r.execute("SELECT * FROM graph.sync_health()").fetchone()
                    r.execute("SELECT * FROM graph.status()").fetchone()
                    n = r.execute("""SELECT count(*) FROM graph._nodes AS n
                                     JOIN graph._csr AS c ON c.direction = 'out'
                                     WHERE n.alive AND n.node_id < c.node_count""").fetchone()[0]
                    assert n > 0
                    if traverse:
                        r.execute("SELECT count(*) FROM graph.traverse('app.contacts', '1')").fetchone()
                    reads[0] += 1
                except psycopg.errors.UndefinedFunction:
                    traverse = False  # graph.traverse has another signature: read the tables only
                except Exception as exc:
                    errors.append(("reader", repr(exc)))
                    return

    threads = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
    threads += [threading.Thread(target=reader, args=(freshness,)) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        with connect(app) as m:
            rebuilt = 0
            deadline = time.monotonic() + 60
            while rebuilt < 3 and time.monotonic() < deadline:
                result = maintain(m, "graph.vacuum")
                assert result["status"] == "succeeded", result
                rebuilt += result["rebuilt"]
                maintain(m)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == []
    assert rebuilt == 3 and writes[0] > 0 and reads[0] > 0
    with connect(app) as c:
        apply(c)
        assert verify(c) == []


def test_status_reports_sizes_and_generation(app):
    with connect(app) as c:
        maintain(c, "graph.vacuum")
        cur = c.execute("SELECT * FROM graph.status()")
        s = dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
        state = c.execute("SELECT generation, last_build_at FROM graph._sync_state").fetchone()
        assert (s["generation"], s["last_build_at"]) == state
        assert s["node_count"] == c.execute("SELECT count(*) FROM graph._nodes WHERE alive").fetchone()[0]
        assert s["base_edges"] == c.execute(
            "SELECT edge_count FROM graph._csr WHERE direction = 'out'").fetchone()[0]
        assert s["base_bytes"] > 0 and s["cache_bytes"] >= 0 and s["node_tables"] == 6
        assert s["last_rebuild_by_maintenance_at"] is not None
        if c.execute("SELECT to_regproc('graph.traverse') IS NOT NULL").fetchone()[0]:
            c.execute("SELECT count(*) FROM graph.traverse('app.contacts', '1')")
            cached = c.execute("SELECT cache_bytes FROM graph.status()").fetchone()[0]
            assert cached > 0  # this backend now holds the base it read
