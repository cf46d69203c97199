"""The sync pipeline on a real server: capture, build, replay, verify."""

import psycopg
import pytest

from conftest import ROOT, apply, connect, verify

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()


@pytest.fixture(scope="module")
def app(db):
    """The sample schema, with rows before registration, registered and built."""
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 20) g")
        c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, NULL,
                         CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 20 END
                     FROM generate_series(1, 100) g""")
        c.execute("""INSERT INTO app.relations (source_id, target_id, type, weight)
                     SELECT 1 + g % 100, 1 + (g * 7) % 100, 'knows', g % 4 FROM generate_series(1, 150) g""")
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
    return db


def test_build_backfills_rows_that_existed_before_registration(app):
    with connect(app) as c:
        assert verify(c) == []
        nodes = c.execute("SELECT count(*) FROM graph._nodes WHERE alive").fetchone()[0]
        assert nodes == 2 + 20 + 100
        # 80 contacts with a company, 20 companies in a workspace, 150 relations both ways
        edges = c.execute("SELECT edge_count FROM graph._csr WHERE direction = 'out'").fetchone()[0]
        assert edges == 80 + 20 + 300


def test_each_operation_is_captured_and_replayed(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.contacts VALUES (1001, 1, 'new', 'n@x', 3), (1002, 2, 'x', NULL, 4)")
        c.execute("UPDATE app.contacts SET company_id = 4, name = 'moved' WHERE id = 1")
        c.execute("UPDATE app.contacts SET email = 'e@x' WHERE id = 2")
        c.execute("DELETE FROM app.relations WHERE id IN (SELECT id FROM app.relations LIMIT 3)")
        c.execute("DELETE FROM app.deals")
        c.execute("INSERT INTO app.deals VALUES (1, 1, 'd', 10.5, 1001)")
        c.execute("DELETE FROM app.contacts WHERE id = 1002")
        ops = dict(c.execute("SELECT op, count(*) FROM graph._sync_log GROUP BY op").fetchall())
        assert set(ops) == {"I", "U", "D"}
        result = apply(c)
        assert result["inserts"] >= 2 and result["updates"] >= 2 and result["deletes"] >= 4
        assert result["stopped"] is None
        assert verify(c) == []


def test_update_that_changes_the_key(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.projects VALUES (500, 1, 'p'), (501, 1, 'q')")
        c.execute("INSERT INTO app.tasks VALUES (900, 1, 't', 'open', 500, 3)")
        apply(c)
        c.execute("UPDATE app.tasks SET id = 901 WHERE id = 900")
        row = c.execute("SELECT op, old_pk, new_pk FROM graph._sync_log ORDER BY id DESC LIMIT 1").fetchone()
        assert row == ("U", "900", "901")
        apply(c)
        assert verify(c) == []
        alive = dict(c.execute("""SELECT pk, alive FROM graph._nodes
                                  WHERE table_oid = 'app.tasks'::regclass""").fetchall())
        assert alive == {"900": False, "901": True}


def test_multi_row_statements_including_key_shifts(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.projects SELECT g, 2, 'bulk' || g FROM generate_series(600, 699) g")
        c.execute("""INSERT INTO app.tasks SELECT g, 2, 'bt', 'open', 600 + g % 100, 1 + g % 100
                     FROM generate_series(1000, 1999) g""")
        c.execute("UPDATE app.tasks SET id = id + 1000 WHERE id BETWEEN 1000 AND 1999")
        c.execute("UPDATE app.tasks SET status = 'done', project_id = NULL WHERE id % 3 = 0")
        c.execute("DELETE FROM app.tasks WHERE id % 7 = 0")
        apply(c)
        assert verify(c) == []


def test_key_updates_that_overlap_and_swap(conn):
    conn.execute("""CREATE TABLE swap (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED,
                                       v text, ref int)""")
    conn.execute("INSERT INTO swap SELECT g, 'v' || g, 1 + g % 10 FROM generate_series(1, 10) g")
    conn.execute("SELECT graph.add_table('swap', columns => '{v}')")
    conn.execute("SELECT graph.add_edge('swap', 'ref', 'swap')")
    conn.execute("SELECT graph.build()")
    conn.execute("UPDATE swap SET id = CASE id WHEN 1 THEN 2 WHEN 2 THEN 1 END WHERE id IN (1, 2)")
    conn.execute("UPDATE swap SET id = id + 3 WHERE id > 5")  # 6..10 -> 9..13, overlapping
    apply(conn)
    assert verify(conn) == []


def test_an_update_of_uncaptured_columns_logs_nothing(conn):
    conn.execute("CREATE TABLE quiet (id int PRIMARY KEY, name text, note text)")
    conn.execute("SELECT graph.add_table('quiet', columns => '{name}')")
    conn.execute("INSERT INTO quiet VALUES (1, 'a', 'x')")
    before = conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
    conn.execute("UPDATE quiet SET note = 'y'")
    assert conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == before
    conn.execute("UPDATE quiet SET name = 'b'")
    assert conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == before + 1


def test_truncate_tombstones_nodes_and_edges(app):
    with connect(app) as c:
        c.execute("TRUNCATE app.relations")
        row = c.execute("SELECT op, needs_vacuum FROM graph._sync_log ORDER BY id DESC LIMIT 1").fetchone()
        assert row == ("T", True)
        assert apply(c)["truncates"] == 1
        assert verify(c) == []
        c.execute("INSERT INTO app.relations (source_id, target_id, type) VALUES (1, 2, 'after')")
        apply(c)
        assert verify(c) == []
        c.execute("TRUNCATE app.deals, app.tasks")
        apply(c)
        assert verify(c) == []


def test_composite_keys(conn):
    conn.execute("CREATE TABLE memberships (org text, member int, role text, PRIMARY KEY (org, member))")
    conn.execute("INSERT INTO memberships VALUES ('a,b', 1, 'x'), ('c', 2, 'y')")
    conn.execute("SELECT graph.add_table('memberships', columns => '{role}')")
    conn.execute("SELECT graph.build()")
    assert verify(conn) == []
    conn.execute("INSERT INTO memberships VALUES ('d \"q\"', 3, 'z')")
    conn.execute("UPDATE memberships SET member = 9 WHERE org = 'c'")
    conn.execute("DELETE FROM memberships WHERE org = 'a,b'")
    apply(conn)
    assert verify(conn) == []
    pks = {r[0] for r in conn.execute(
        "SELECT pk FROM graph._nodes WHERE alive AND table_oid = 'memberships'::regclass")}
    assert pks == {'("d ""q""",3)', "(c,9)"}


def test_a_rolled_back_write_leaves_no_log_row(app):
    with connect(app) as c:
        before = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException):
            with c.transaction():
                c.execute("INSERT INTO app.workspaces VALUES (77, 'gone')")
                c.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == before


def test_out_of_order_commit_is_not_skipped(app):
    """A takes a lower log id and commits after B's higher id was applied."""
    with connect(app) as a, connect(app) as b, connect(app) as admin:
        apply(admin)
        a.execute("BEGIN")
        a.execute("INSERT INTO app.workspaces VALUES (10, 'first-id-late-commit')")
        b.execute("INSERT INTO app.workspaces VALUES (11, 'second-id-early-commit')")
        ids = admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]
        assert ids == 1  # A's row is invisible until it commits
        assert apply(admin)["inserts"] == 1
        a.execute("COMMIT")
        a_id, b_id = [r[0] for r in admin.execute(
            "SELECT id FROM graph._sync_log WHERE new_pk IN ('10', '11')"
            " AND table_oid = 'app.workspaces'::regclass ORDER BY new_pk")]
        assert a_id < b_id
        assert apply(admin)["inserts"] == 1
        assert verify(admin) == []


def test_concurrent_apply_never_applies_a_row_twice(app):
    with connect(app) as w, connect(app) as x, connect(app) as y:
        w.execute("INSERT INTO app.relations (source_id, target_id, type) "
                  "SELECT 1 + g % 50, 1 + g % 60, 'burst' FROM generate_series(1, 2000) g")
        x.execute("BEGIN")
        first = x.execute("SELECT inserts FROM graph.apply_sync()").fetchone()[0]
        y_result = []
        import threading
        t = threading.Thread(target=lambda: y_result.append(
            y.execute("SELECT inserts FROM graph.apply_sync()").fetchone()[0]))
        t.start()
        t.join(0.5)
        assert t.is_alive(), "the second apply_sync must wait for the first"
        x.execute("COMMIT")
        t.join(30)
        assert first == 2000 and y_result == [0]
        assert verify(w) == []


def test_own_uncommitted_rows_are_left_for_a_later_pass(app):
    with connect(app) as c:
        with c.transaction():
            c.execute("INSERT INTO app.workspaces VALUES (20, 'mine')")
            apply(c)  # must not mark this transaction as applied
            c.execute("INSERT INTO app.workspaces VALUES (21, 'mine too')")
        apply(c)
        assert verify(c) == []


def test_edge_buffer_full_turns_read_only_and_build_recovers(app):
    with connect(app) as c:
        apply(c)
        c.execute("SET graph.edge_buffer_size = 50")
        c.execute("SELECT graph.build()")
        c.execute("INSERT INTO app.relations (source_id, target_id, type) "
                  "SELECT 1 + g % 90, 1 + g % 70, 'flood' FROM generate_series(1, 100) g")
        pending = c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]
        c.execute("SELECT graph._apply_for_read()")  # a read's apply: it never rebuilds
        health = c.execute("SELECT read_only, read_only_reason, edge_buffer_used, pending_sync_rows "
                           "FROM graph.sync_health()").fetchone()
        assert health[0] is True and health[1] == "edge_buffer_full"
        assert health[2] <= 50 and health[3] == pending  # every log row kept
        c.execute("SELECT graph._apply_for_read()")  # still read-only
        assert c.execute("SELECT read_only, pending_sync_rows FROM graph.sync_health()").fetchone() == (
            True, pending)
        c.execute("SELECT graph.build()")
        assert c.execute("SELECT read_only, pending_sync_rows FROM graph.sync_health()").fetchone() == (False, 0)
        assert verify(c) == []
        c.execute("RESET graph.edge_buffer_size")


COLLECTOR_ON = "DO LANGUAGE plpython3u $$import gc\nif not gc.isenabled(): plpy.error('collector off')$$"


def test_a_batch_stopped_by_a_lock_timeout_leaves_the_cycle_collector_on(conn, db):
    """Each batch pauses the backend's cycle collector (sync/apply.py, cycles_paused):
    a batch that raises (a lock timeout while it writes the change log) turns it on
    again, and the rows stay pending."""
    conn.execute("CREATE TABLE gcpause (id int PRIMARY KEY)")
    conn.execute("SELECT graph.add_table('gcpause')")
    conn.execute("SELECT graph.build()")
    conn.execute("INSERT INTO gcpause VALUES (1), (2)")
    with connect(db) as other, other.transaction():
        other.execute("LOCK TABLE graph._change_log_rows IN ACCESS EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '200ms'")
        try:
            with pytest.raises(psycopg.Error) as stopped:
                apply(conn)
        finally:
            conn.execute("RESET lock_timeout")
    assert stopped.value.sqlstate == "55P03"
    conn.execute(COLLECTOR_ON)
    assert apply(conn)["inserts"] == 2
    assert verify(conn) == []


def test_a_row_that_cannot_be_applied_is_recorded_not_swallowed(conn):
    conn.execute("CREATE TABLE poison (id int PRIMARY KEY)")
    conn.execute("SELECT graph.add_table('poison')")
    conn.execute("SELECT graph.build()")
    conn.execute("INSERT INTO poison VALUES (1)")
    conn.execute("""INSERT INTO graph._sync_log (op, table_oid, table_name, pk)
                    VALUES ('I', 'poison'::regclass, 'poison', NULL)""")
    conn.execute("INSERT INTO poison VALUES (2)")
    result = apply(conn)
    assert result["failed"] == 1 and result["stopped"] == "failed_row" and result["inserts"] == 1
    # each batch pauses the backend's cycle collector (sync/apply.py, cycles_paused): on again
    # after one that stopped at a failing row
    conn.execute(COLLECTOR_ON)
    health = conn.execute("SELECT failed_sync_rows, last_error, pending_sync_rows FROM graph.sync_health()").fetchone()
    assert health[0] == 1 and "no new key" in health[1] and health[2] == 2
    conn.execute("DELETE FROM graph._sync_log WHERE pk IS NULL AND op = 'I'")
    apply(conn)
    assert verify(conn) == []
