"""Which source tables a maintenance run locks, for how long, and how a rebuild or a
source check that maintenance, reconcile or an apply runs names itself when it fails
(real sessions, real roles; each interleaving set up through pg_locks, never timed).

A run whose source check or rebuild is due locks its sources (SHARE UPDATE
EXCLUSIVE, bounded) before its apply phase takes graph._sync_state's row. A run
that then skipped its check (a failing log row held the apply, rows still
pending) kept those locks to its end: a table owner's VACUUM, CREATE INDEX or
ALTER TABLE waited for a read that never came. A rebuild run by maintenance or by
an apply that folds a backlog named graph.build() in its errors and warnings, a
call nobody made, and a source check graph.verify(); and one whose lock was refused
before the apply (for the check) said 'source check' when the check did not run and
the rebuild failed."""

import threading
import uuid

import psycopg
import pytest

from conftest import apply, as_role, blocked_by, connect, wait_until
from failed_rows import CURE, POISON, register, unregister

TABLE = "ml_people"

@pytest.fixture
def world(db):
    with connect(db) as c:
        register(c, TABLE, "SELECT g, 'p' || g, NULLIF(g / 3, 0) FROM generate_series(1, 20) AS g")
        c.execute("DELETE FROM graph._maintenance_jobs")
    yield db
    with connect(db) as c:
        c.execute(CURE)
        unregister(c, TABLE)
        c.execute("DELETE FROM graph._maintenance_jobs")


def _run(conn, statement, out):
    try:
        out["got"] = conn.execute(statement).fetchone()
    except psycopg.Error as exc:
        out["got"] = exc


def test_a_run_that_skips_its_check_holds_no_source_lock_while_it_goes_on(world):
    """The check is due, but a log row that fails to apply (policy 'stop') holds the
    apply, so rows stay pending and the run skips its check: it reads no source, and
    must hold no lock of one while it goes on (parked here at its prune, on an old
    job row the test holds): a table owner's SHARE UPDATE EXCLUSIVE lock (VACUUM,
    CREATE INDEX CONCURRENTLY, ANALYZE) is granted at once. It held SHARE UPDATE
    EXCLUSIVE, taken for the check before its apply, to its end."""
    with connect(world) as su:
        su.execute("SET graph.sync_error_policy = 'stop'")
        su.execute("SET graph.verify_interval = 'off'")
        old = su.execute("SELECT job_id FROM graph.run_scheduled_maintenance()").fetchone()[0]
        su.execute("UPDATE graph._maintenance_jobs SET started_at = now() - interval '2 days' WHERE job_id = %s",
                   (old,))
        su.execute(POISON)
        su.execute(f"INSERT INTO {TABLE} VALUES (666, 'poison', 1)")
        assert apply(su)["stopped"] == "failed_row"  # it fails again at every apply
    out = {}
    with connect(world) as holder, connect(world) as run, connect(world) as look, connect(world) as owner:
        run.execute("SET statement_timeout = '60s'")  # a guard against a hang, not a timing
        run.execute("SET graph.sync_error_policy = 'stop'")
        run.execute("SET graph.verify_interval = '0'")  # the check is due
        run.execute("SET graph.job_retention = '1 day'")  # the old job row is pruned
        holder.execute("BEGIN")
        holder.execute("SELECT FROM graph._maintenance_jobs WHERE job_id = %s FOR UPDATE", (old,))
        t = threading.Thread(target=_run, args=(
            run, "SELECT status, reason, error, differences FROM graph.run_scheduled_maintenance()", out))
        t.start()
        try:
            assert wait_until(lambda: blocked_by(look, run.info.backend_pid, holder.info.backend_pid)), \
                "the run never reached its prune"
            held = look.execute("SELECT l.mode FROM pg_catalog.pg_locks AS l WHERE l.pid = %s AND l.granted"
                                " AND l.locktype = 'relation' AND l.relation = %s::regclass",
                                (run.info.backend_pid, TABLE)).fetchall()
            granted = True
            try:
                with owner.transaction():
                    owner.execute(f"LOCK TABLE {TABLE} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT")
            except psycopg.errors.LockNotAvailable:
                granted = False
        finally:
            holder.execute("ROLLBACK")
            t.join()
    got = out["got"]
    assert not isinstance(got, Exception), got
    status, reason, _error, differences = got
    assert status == "partial" and "apply stopped: failed_row" in reason and differences is None, got
    assert held == [], held
    assert granted, held


def _admin(dsn):
    role = "gs_ml_admin_" + uuid.uuid4().hex[:8]
    with connect(dsn) as c:
        c.execute(f"CREATE ROLE {role} LOGIN IN ROLE graph_admin")
        c.execute(f"GRANT SELECT ON {TABLE} TO {role}")
    return role


def test_a_rebuild_maintenance_runs_names_maintenance_not_build(world):
    """A graph_admin member that row-level security applies to cannot rebuild (the
    read must see every row): graph.vacuum()'s rebuild failed saying 'graph.build()
    must read every row', a call the admin never made. It names graph.vacuum()'s
    rebuild now."""
    role = _admin(world)
    try:
        with connect(world) as su:
            su.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
            su.execute(f"CREATE POLICY ml_all ON {TABLE} USING (true)")
        with as_role(world, role) as a:
            a.execute("SET graph.verify_interval = 'off'")
            status, error = a.execute("SELECT status, error FROM graph.vacuum()").fetchone()
        assert status == "failed" and "row-level security" in error, error
        assert "graph.vacuum()'s rebuild" in error and "graph.build()" not in error, error
    finally:
        with connect(world) as su:
            su.execute(f"DROP POLICY IF EXISTS ml_all ON {TABLE}")
            su.execute(f"ALTER TABLE {TABLE} DISABLE ROW LEVEL SECURITY")
            su.execute(f"DROP OWNED BY {role}")
            su.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("call", ["graph.apply_sync()", "graph.run_scheduled_maintenance()", "graph.retry_failed()"])
def test_an_apply_that_rebuilds_a_backlog_names_its_call_when_the_rebuild_fails(world, call):
    """An apply that folds a backlog into a rebuild (graph.rebuild_backlog_rows) and
    cannot lock a source table in time (a writer holds it IN SHARE MODE) replays the
    backlog instead, with a WARNING that said 'graph.build(): could not lock table':
    the WARNING names the call made and its rebuild of a backlog now."""
    with connect(world) as su:
        su.execute(f"INSERT INTO {TABLE} SELECT g, 'b' || g, 1 FROM generate_series(21, 400) AS g")
    seen = []
    with connect(world) as writer, connect(world) as c:
        c.add_notice_handler(lambda d: seen.append((d.severity_nonlocalized, d.message_primary)))
        c.execute("SET graph.rebuild_backlog_rows = 1")
        c.execute("SET graph.verify_interval = 'off'")
        c.execute("SET lock_timeout = '300ms'")  # the bound a source's lock is waited for
        writer.execute("BEGIN")
        writer.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")
        try:
            res = c.execute(f"SELECT * FROM {call}").fetchall()
        finally:
            writer.execute("ROLLBACK")
    failed = [m for s, m in seen if s == "WARNING" and "could not lock table" in m]
    assert len(failed) == 1, (seen, res)
    said = "%s's rebuild of a backlog: could not lock table public.%s within 300ms" % (call, TABLE)
    assert said in failed[0], failed
    assert "graph.build()" not in failed[0], failed


def test_a_rebuild_whose_lock_was_refused_before_the_check_names_the_rebuild(world):
    """graph.vacuum() with its check due locks its sources first, for the check; a
    writer holding a table IN SHARE MODE refuses it (bounded). A log row failing to
    apply for the first time then held the apply, so the check did not run, and the
    rebuild failed with the refusal as it was: 'source check: could not lock'. It
    names the rebuild now."""
    with connect(world) as su:
        su.execute(POISON)
        su.execute(f"INSERT INTO {TABLE} VALUES (666, 'poison', 1)")  # not applied yet
    with connect(world) as writer, connect(world) as c:
        c.execute("SET graph.sync_error_policy = 'stop'")
        c.execute("SET graph.verify_interval = '0'")
        c.execute("SET lock_timeout = '300ms'")
        writer.execute("BEGIN")
        writer.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")
        try:
            job_id, status, reason, error = c.execute(
                "SELECT job_id, status, reason, error FROM graph.vacuum()").fetchone()
        finally:
            writer.execute("ROLLBACK")
        assert status == "failed" and "apply stopped: failed_row" in reason, (status, reason, error)
        assert "graph.vacuum()'s rebuild: could not lock table %s within 300ms" % ("public." + TABLE) in error, error
        assert "source check" not in error, error
        assert c.execute("SELECT phase FROM graph._maintenance_jobs WHERE job_id = %s",
                         (job_id,)).fetchone() == ("rebuild",)


# A TRUNCATE's apply fails (its nodes cannot die) until CURE_TRUNCATE.
POISON_TRUNCATE = """
CREATE OR REPLACE FUNCTION public.ml_no_death() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.alive AND NOT NEW.alive THEN RAISE EXCEPTION 'these nodes may not die'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ml_no_death BEFORE UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.ml_no_death();
"""
CURE_TRUNCATE = "DROP TRIGGER IF EXISTS ml_no_death ON graph._node_rows"


def test_a_retry_that_rebuilds_names_the_retry_not_build(world):
    """graph.retry_failed() with a failed TRUNCATE among its rows rebuilds; a
    graph_admin member that row-level security applies to is refused the read, and
    the retry failed saying 'graph.build() must read every row', a call the admin
    never made. It names graph.retry_failed()'s rebuild now."""
    role = _admin(world)
    try:
        with connect(world) as su:
            su.execute("SET graph.sync_error_policy = 'skip'")
            su.execute(POISON_TRUNCATE)
            try:
                su.execute(f"TRUNCATE {TABLE}")
                assert apply(su)["failed"] == 1
            finally:
                su.execute(CURE_TRUNCATE)
            su.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
            su.execute(f"CREATE POLICY ml_all ON {TABLE} USING (true)")
        with as_role(world, role) as a, pytest.raises(psycopg.Error) as raised:
            a.execute("SELECT * FROM graph.retry_failed()")
        text = raised.value.diag.message_primary or ""
        assert raised.value.sqlstate == "42501" and "row-level security" in text, text
        assert "graph.retry_failed()'s rebuild" in text and "graph.build()" not in text, text
    finally:
        with connect(world) as su:
            su.execute(f"DROP POLICY IF EXISTS ml_all ON {TABLE}")
            su.execute(f"ALTER TABLE {TABLE} DISABLE ROW LEVEL SECURITY")
            su.execute(f"DROP OWNED BY {role}")
            su.execute(f"DROP ROLE {role}")


def _refused_admin(dsn):
    """A graph_admin member that row-level security applies to on TABLE (a policy that
    shows every row): every read of the sources refuses it, naming the call."""
    role = _admin(dsn)
    with connect(dsn) as su:
        su.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        su.execute(f"CREATE POLICY ml_all ON {TABLE} USING (true)")
    return role


def _drop_refused_admin(dsn, role):
    with connect(dsn) as su:
        su.execute(f"DROP POLICY IF EXISTS ml_all ON {TABLE}")
        su.execute(f"ALTER TABLE {TABLE} DISABLE ROW LEVEL SECURITY")
        su.execute(f"DROP OWNED BY {role}")
        su.execute(f"DROP ROLE {role}")


def test_a_scheduled_runs_source_check_names_the_run_not_verify(world):
    """graph.run_scheduled_maintenance()'s source check reads the sources through
    graph.verify()'s read, and what that read raised said 'graph.verify() must read
    every row' in the run's error, its reason and check_failures: a call the DBA
    never made. It names the run's source check now."""
    role = _refused_admin(world)
    try:
        with as_role(world, role) as a:
            a.execute("SET graph.verify_interval = '0'")  # the check is due
            job_id, status, reason, error = a.execute(
                "SELECT job_id, status, reason, error FROM graph.run_scheduled_maintenance()").fetchone()
        with connect(world) as su:
            failures = su.execute("SELECT check_failures::text FROM graph._maintenance_jobs WHERE job_id = %s",
                                  (job_id,)).fetchone()[0]
        said = "graph.run_scheduled_maintenance()'s source check must read every row of table public." + TABLE
        assert status == "partial" and said in error, (status, reason, error)
        assert said in failures, failures
        assert "graph.verify()" not in error + reason + failures, (reason, error, failures)
    finally:
        _drop_refused_admin(world, role)


def test_a_reconcile_names_itself_in_its_backlog_rebuild_and_its_source_check(world):
    """graph.reconcile() applies (folding a backlog into a rebuild) and checks the
    sources: the rebuild's WARNING said 'graph.apply_sync()'s rebuild of a backlog'
    and the check's failure 'graph.verify() must read every row', two calls the DBA
    never made. Both name graph.reconcile() now."""
    role = _refused_admin(world)
    with connect(world) as su:
        su.execute(f"INSERT INTO {TABLE} SELECT g, 'b' || g, 1 FROM generate_series(21, 400) AS g")
    seen = []
    try:
        with as_role(world, role) as a:
            a.add_notice_handler(lambda d: seen.append((d.severity_nonlocalized, d.message_primary)))
            a.execute("SET graph.rebuild_backlog_rows = 1")
            actions = a.execute("SELECT action, detail FROM graph.reconcile()").fetchall()
        with connect(world) as su:
            status, error = su.execute("SELECT status, error FROM graph._maintenance_jobs"
                                       " WHERE kind = 'reconcile' ORDER BY job_id DESC LIMIT 1").fetchone()
    finally:
        _drop_refused_admin(world, role)
    warned = [m for s, m in seen if s == "WARNING" and "rebuilding the base instead of replaying failed" in m]
    assert len(warned) == 1, seen
    assert "graph.reconcile()'s rebuild of a backlog must read every row" in warned[0], warned
    assert "graph.apply_sync()" not in warned[0] and "graph.build()" not in warned[0], warned
    assert status == "partial", (status, error, actions)
    assert "graph.reconcile()'s source check must read every row of table public." + TABLE in error, error
    assert "graph.verify()" not in error, error
