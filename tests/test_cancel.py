"""Cancel means stop: pg_cancel_backend, statement_timeout, lock_timeout and
pg_terminate_backend end apply_sync(), build(), maintenance, reconcile(),
retry_failed() and reads with the standard SQLSTATE, never caught and retried (nor,
in a read, taken for a reason to fold instead), and never recorded as a failed log
row; the next call finishes the work and the graph equals its sources.

Each call works on a real server through many pending log rows in small batches.
To land the interruption at a known point inside that work (the middle of a batch,
where a swallowed cancel used to be retried row by row), a trigger on
graph._nodes sleeps when the call's session writes one chosen node; another
connection waits until pg_stat_activity shows the call sleeping there, then
interrupts it. "Promptly" is a generous bound on the time from the first cancel
to the end of the call: it tells "stopped" from "ran on" (a swallowed cancel meets
the sleep again, and the next cancel then lands on a healthy row).
"""

import contextlib
import threading
import time

import psycopg
import pytest
from psycopg import errors, sql

from conftest import apply, connect, pending_count, verify

ROWS = 5_000
SLEEP_AT = "1000"  # the node whose write sleeps, a fifth of the way in
BATCH = 100
PROMPTLY = 10.0  # seconds from the first cancel to the end of the call

SLEEPER = """
CREATE OR REPLACE FUNCTION public.sleeper() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.pk = current_setting('graphsync_test.sleep_at', true) THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sleeper BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.sleeper();
"""
SLEEP = "SET graphsync_test.sleep_at = '%s'" % SLEEP_AT

POISON = """
CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alive AND NEW.table_oid = 'public.people'::regclass AND NEW.pk::int % 20 = 0
       AND NEW.pk::int BETWEEN 901 AND 1000 THEN  -- one batch, SLEEP_AT in it
        RAISE EXCEPTION 'every twentieth person is cursed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""


class Call(threading.Thread):
    """One statement run on its own connection in the background."""

    def __init__(self, dsn, statement, setup=()):
        super().__init__(daemon=True)
        self.conn = connect(dsn)
        self.notices = []  # a swallowed cancel shows as "log row N failed: canceling ..."
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary))
        self.conn.execute("SELECT FROM graph.status()")  # the package is loaded: timeouts time the call
        for s in setup:
            self.conn.execute(s)
        self.pid = self.conn.info.backend_pid
        self.statement = statement
        self.error = self.rows = self.ended = None
        self.started = time.monotonic()
        self.start()

    def run(self):
        try:
            self.rows = self.conn.execute(self.statement).fetchall()
        except psycopg.Error as exc:
            self.error = exc
        finally:
            self.ended = time.monotonic()

    def wait_sleeping(self, watcher):
        """Wait until the call sleeps in the sleeper trigger (pg_stat_activity)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT wait_event, query FROM pg_stat_activity WHERE pid = %s", [self.pid]).fetchone()
            if row and row[0] == "PgSleep" and self.statement in row[1]:
                return
            assert self.is_alive(), "the call ended before it slept: %r" % (self.error or self.rows)
            time.sleep(0.02)
        raise AssertionError("the call never reached the sleeping node")

    def interrupt(self, watcher, how="pg_cancel_backend"):
        """Send ``how`` to the call, again every 0.2 s while it keeps running (a
        swallowed cancel meets the next one); seconds from the first to the end."""
        first = time.monotonic()
        while self.is_alive() and time.monotonic() - first < 2 * PROMPTLY:
            watcher.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(how)), [self.pid])
            self.join(0.2)
        self.join(60)
        return self.ended - first

    def close(self):
        self.join(60)
        self.conn.close()


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        name = sql.Identifier(c.info.dbname)
        c.execute(sql.SQL("ALTER DATABASE {} SET graph.sync_batch_size = %d" % BATCH).format(name))
        c.execute(sql.SQL("ALTER DATABASE {} SET graph.edge_buffer_size = 1000000").format(name))
        c.execute("CREATE TABLE people (id int PRIMARY KEY, name text, boss int)")
        c.execute("SELECT graph.add_table('people', columns => '{name}')")
        c.execute("SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to')")
        c.execute("SELECT graph.build()")
    return db


def _reset(c):
    c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
    c.execute("TRUNCATE people")
    c.execute("SELECT graph.build()")
    c.execute("DELETE FROM graph._sync_log")


@pytest.fixture
def pending(graph_db):
    """ROWS committed log rows waiting for apply_sync(), and the sleeper trigger."""
    with connect(graph_db) as c:
        _reset(c)
        c.execute("""INSERT INTO people SELECT g, 'p' || g, CASE WHEN g > 1 THEN g / 2 END
                     FROM generate_series(1, %s) AS g""", [ROWS])
        c.execute(SLEEPER)
    yield graph_db
    with connect(graph_db) as c:
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        c.execute("DROP TRIGGER IF EXISTS sleeper ON graph._node_rows")


def _failed_rows(c):
    return c.execute("SELECT id, error_message FROM graph._sync_log"
                     " WHERE error_message IS NOT NULL ORDER BY id").fetchall()


def _interrupted(dsn, watcher, statement, setup=(), how="pg_cancel_backend"):
    """Run ``statement`` until it sleeps at SLEEP_AT, interrupt it; (call, seconds
    from the first interruption to the end)."""
    call = Call(dsn, statement, [SLEEP, *setup])
    call.wait_sleeping(watcher)
    took = call.interrupt(watcher, how)
    call.close()
    return call, took


def _timed_out(dsn, statement, timeout, setup=()):
    """Run ``statement`` under statement_timeout; (call, seconds it ran)."""
    call = Call(dsn, statement, [SLEEP, "SET statement_timeout = '%s'" % timeout, *setup])
    call.join(120)
    call.close()
    return call, call.ended - call.started


def _assert_stopped(call, took, expected=errors.QueryCanceled, bound=PROMPTLY):
    assert isinstance(call.error, expected), "the call did not stop: %r" % (call.error or call.rows)
    assert took < bound, "stopped only after %.1f s" % took
    # Not even for a moment was a cancel taken for a row's failure (the transaction
    # rolled back, but the WARNING the call sent on its way says so).
    assert not [n for n in call.notices if "cancel" in n or "timeout" in n], call.notices


def _assert_recovers(c):
    """Nothing was recorded as failed, and the next apply finishes the work."""
    c.execute("DROP TRIGGER IF EXISTS sleeper ON graph._node_rows")
    assert _failed_rows(c) == []
    result = apply(c)
    assert (result["failed"], result["stopped"]) == (0, None)
    assert pending_count(c) == 0
    assert verify(c) == []
    assert c.execute("SELECT count(*) FROM graph._nodes WHERE alive").fetchone()[0] == \
        c.execute("SELECT count(*) FROM people").fetchone()[0]


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_pg_cancel_backend_stops_apply_sync_and_marks_no_row_failed(pending, policy):
    with connect(pending) as watcher:
        call, took = _interrupted(pending, watcher, "SELECT * FROM graph.apply_sync()",
                                  ["SET graph.sync_error_policy = '%s'" % policy])
        _assert_stopped(call, took)
        assert "canceling statement due to user request" in str(call.error)
        assert pending_count(watcher) == ROWS  # rolled back as a whole
        _assert_recovers(watcher)


def test_statement_timeout_stops_apply_sync(pending):
    with connect(pending) as watcher:
        call, took = _timed_out(pending, "SELECT * FROM graph.apply_sync()", "3s")
        _assert_stopped(call, took, bound=3 + PROMPTLY)
        assert "statement timeout" in str(call.error)
        _assert_recovers(watcher)


def test_pg_terminate_backend_ends_apply_sync(pending):
    with connect(pending) as watcher:
        call, took = _interrupted(pending, watcher, "SELECT * FROM graph.apply_sync()",
                                  how="pg_terminate_backend")
        _assert_stopped(call, took, psycopg.OperationalError)
        assert call.conn.closed or call.conn.broken
        _assert_recovers(watcher)


def test_cancel_stops_build_and_keeps_the_old_base(pending):
    with connect(pending) as watcher:
        watcher.execute("DROP TRIGGER sleeper ON graph._node_rows")
        apply(watcher)
        watcher.execute(SLEEPER)
        generation = watcher.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        call, took = _interrupted(pending, watcher, "SELECT * FROM graph.build()")
        _assert_stopped(call, took)
        assert watcher.execute("SELECT generation FROM graph._sync_state").fetchone()[0] == generation
        _assert_recovers(watcher)


@pytest.mark.parametrize("statement", ["SELECT * FROM graph.run_scheduled_maintenance()",
                                       "SELECT * FROM graph.vacuum()",
                                       "SELECT * FROM graph.reconcile()"])
def test_cancel_stops_maintenance_instead_of_recording_a_failed_phase(pending, statement):
    with connect(pending) as watcher:
        jobs = watcher.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0]
        call, took = _interrupted(pending, watcher, statement)  # in its apply phase
        _assert_stopped(call, took)
        # The run rolled back with its job row: no 'failed' run blames a phase for the cancel.
        assert watcher.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0] == jobs
        _assert_recovers(watcher)


@pytest.mark.parametrize("statement", ["SELECT * FROM graph.vacuum()",
                                       "SELECT * FROM graph.reconcile()"])
def test_cancel_stops_maintenance_in_its_rebuild(pending, statement):
    with connect(pending) as watcher:
        watcher.execute("DROP TRIGGER sleeper ON graph._node_rows")
        apply(watcher)
        watcher.execute("UPDATE graph._sync_state SET build_required = true")  # reconcile rebuilds
        watcher.execute(SLEEPER)
        jobs = watcher.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0]
        call, took = _interrupted(pending, watcher, statement)
        _assert_stopped(call, took)
        assert watcher.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone()[0] == jobs
        watcher.execute("UPDATE graph._sync_state SET build_required = false")
        _assert_recovers(watcher)


def test_statement_timeout_stops_maintenance(pending):
    with connect(pending) as watcher:
        call, took = _timed_out(pending, "SELECT * FROM graph.run_scheduled_maintenance()", "3s")
        _assert_stopped(call, took, bound=3 + PROMPTLY)
        _assert_recovers(watcher)


def test_cancel_stops_retry_failed_and_keeps_each_rows_own_error(pending):
    with connect(pending) as watcher:
        watcher.execute("DROP TRIGGER sleeper ON graph._node_rows")
        watcher.execute(POISON)
        watcher.execute("SET graph.sync_error_policy = 'skip'")
        result = apply(watcher)
        assert result["failed"] == 5
        before = _failed_rows(watcher)
        assert {m for _, m in before} == {"every twentieth person is cursed"}
        watcher.execute("DROP TRIGGER poison ON graph._node_rows")
        watcher.execute(SLEEPER)
        call, took = _interrupted(pending, watcher, "SELECT * FROM graph.retry_failed()")
        _assert_stopped(call, took)
        assert _failed_rows(watcher) == before
        watcher.execute("DROP TRIGGER sleeper ON graph._node_rows")
        retried = watcher.execute("SELECT retried, succeeded, still_failed FROM graph.retry_failed()").fetchone()
        assert retried == (len(before), len(before), 0)
        _assert_recovers(watcher)


def test_statement_timeout_stops_a_read_that_applies_pending_rows(pending):
    with connect(pending) as watcher:
        call, took = _timed_out(
            pending, "SELECT count(*) FROM graph.traverse('people', '1', max_depth => 2)", "3s")
        _assert_stopped(call, took, bound=3 + PROMPTLY)
        _assert_recovers(watcher)


def test_cancel_stops_a_read_that_applies_pending_rows(pending):
    with connect(pending) as watcher:
        call, took = _interrupted(
            pending, watcher, "SELECT count(*) FROM graph.traverse('people', '1', max_depth => 2)")
        _assert_stopped(call, took)
        _assert_recovers(watcher)


def test_statement_timeout_stops_a_read_that_folds_pending_rows(pending):
    with connect(pending) as watcher:
        # A read-only transaction cannot apply: the read folds the pending rows in memory.
        call, took = _timed_out(
            pending, "SELECT count(*) FROM graph.traverse('people', '1', max_depth => 2)", "50ms",
            ["SET default_transaction_read_only = on"])
        _assert_stopped(call, took, bound=PROMPTLY)
        _assert_recovers(watcher)


def _locked_out(dsn, locker, statement, setup=()):
    """Run ``statement`` under lock_timeout while ``locker`` holds graph._node_rows in
    SHARE mode (a read may read it, nothing may write it); (call, seconds it ran)."""
    locker.execute("BEGIN")
    locker.execute("LOCK TABLE graph._node_rows IN SHARE MODE")
    try:
        call = Call(dsn, statement, ["SET lock_timeout = '200ms'", *setup])
        call.join(120)
        call.close()
    finally:
        locker.execute("ROLLBACK")
    return call, call.ended - call.started


READ = "SELECT count(*) FROM graph.traverse('people', '1', max_depth => 2)"


@contextlib.contextmanager
def _readers(conn, *roles, admin=False):
    """Login roles ``roles`` that may SELECT people (members of graph_admin with
    ``admin``), dropped with what they own afterwards."""
    for role in roles:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN" + (" IN ROLE graph_admin" if admin else ""))
        conn.execute(f"GRANT SELECT ON people TO {role}")
    try:
        yield
    finally:
        for role in roles:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize(("statement", "role"), [
    ("SELECT * FROM graph.apply_sync()", None),
    ("SELECT * FROM graph.run_scheduled_maintenance()", None),
    (READ, None),  # a read that applies, by a superuser
    (READ, "gs_cancel_admin"),  # ... a graph_admin member
    (READ, "gs_cancel_reader"),  # ... a reader, whose read applies through SECURITY DEFINER code
], ids=["apply_sync", "maintenance", "read", "read_by_an_admin", "read_by_a_reader"])
def test_lock_timeout_stops_an_apply_and_a_read_that_applies(pending, statement, role):
    """A lock timeout is a timeout: the apply a call runs waits for graph._node_rows
    no longer than lock_timeout and then stops with 55P03, as PostgreSQL's own
    statements do -- neither recorded as a failure nor, in a read, taken for a
    reason to fold the pending rows instead, whoever reads."""
    with connect(pending) as watcher, connect(pending) as locker, \
            _readers(watcher, *([role] if role else []), admin="admin" in (role or "")):
        dsn = psycopg.conninfo.make_conninfo(pending, user=role) if role else pending
        call, took = _locked_out(dsn, locker, statement)
        _assert_stopped(call, took, expected=errors.LockNotAvailable)
        _assert_recovers(watcher)


def test_a_table_owners_lock_on_its_table_holds_up_no_read_that_applies(pending):
    """The apply a read runs reads the log and writes the graph, never a source table:
    the owner of a registered table, holding it in ACCESS EXCLUSIVE mode, makes no
    reader's apply wait, let alone time out; the read applies every pending row."""
    owner, reader = "gs_cancel_owner", "gs_cancel_reader"
    with connect(pending) as watcher, _readers(watcher, owner, reader):
        me = watcher.execute("SELECT current_user").fetchone()[0]
        watcher.execute(f"ALTER TABLE people OWNER TO {owner}")
        try:
            with psycopg.connect(psycopg.conninfo.make_conninfo(pending, user=owner)) as locker:
                locker.execute("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")
                call = Call(psycopg.conninfo.make_conninfo(pending, user=reader), READ,
                            ["SET lock_timeout = '200ms'"])
                call.join(120)
                call.close()
                locker.rollback()
            assert call.error is None and call.rows == [(1,)], call.error
            assert not call.notices, call.notices
            assert pending_count(watcher) == 0  # applied by the read
            _assert_recovers(watcher)
        finally:
            watcher.execute(f"ALTER TABLE people OWNER TO {me}")
