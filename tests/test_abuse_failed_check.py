"""A table owner who makes maintenance's source check fail, on purpose, hides from
sync_health() that the graph is no longer checked against any source.

A source check (graph.verify() in maintenance's verify phase) reads every registered
table; one row on which a row filter raises made the whole check raise, so the
differences of every table went unseen. The check is per table now (migration 436,
tests/test_check_per_table.py): that table is named as not checked, the run ends
'partial', every other table is checked. Since migration 428 such a check counts
as a check: the runs within graph.verify_interval after it check nothing and end
'partial', naming it in their error. The owner of a registered table (no admin)
can make its own table's check fail at will: it owns the table, so it may write a
row its capture does not see (its triggers off for one statement, back on, ALWAYS,
in the same transaction: no drift is left for health to report).

Health must keep saying so to admins until a check succeeds: a partial run's other
reasons show in their own columns (failed rows, drift, the job), a failed check in
none -- last_verify_at only stops moving. A reader learns that maintenance is due,
never the check's message (it quotes the row's value).
"""

import time

import psycopg
import pytest

from conftest import apply, as_role, connect

OWNER, READER = "gs_fc_owner", "gs_fc_reader"
SECRET = "fc-secret-value"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, READER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(f"CREATE SCHEMA fc AUTHORIZATION {OWNER}")
        c.execute("CREATE TABLE public.fc_people (id int PRIMARY KEY, name text NOT NULL, boss int)")
        c.execute("INSERT INTO public.fc_people SELECT g, 'p' || g, NULLIF(g / 3, 0) FROM generate_series(1, 20) AS g")
        c.execute(f"GRANT SELECT ON public.fc_people TO {READER}")
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE fc.items (id int PRIMARY KEY, v text NOT NULL)")
        o.execute("INSERT INTO fc.items SELECT g, g::text FROM generate_series(1, 20) AS g")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('public.fc_people', columns => '{name}')")
        c.execute("SELECT graph.add_edge('public.fc_people', 'boss', 'public.fc_people')")
        # an admin's filter, which the owner's data makes raise
        c.execute("SELECT graph.add_table('fc.items', columns => '{v}', row_filter => 'v::int > 0')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM graph._maintenance_jobs")
    yield db
    with connect(db) as c:
        for t in ("fc.items", "public.fc_people"):
            c.execute("SELECT graph.remove_table(t, cascade => true) FROM pg_catalog.to_regclass(%s) AS t"
                      " WHERE t IN (SELECT table_oid FROM graph._node_tables)", (t,))
        c.execute("DROP TABLE public.fc_people")
        c.execute("DROP SCHEMA fc CASCADE")
        c.execute("DELETE FROM graph._maintenance_jobs")
        for role in (OWNER, READER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def _health(c):
    return c.execute("SELECT maintenance_recommended, next_action, last_maintenance_status"
                     " FROM graph.sync_health()").fetchone()


def _uncaptured(dsn, sql, args=()):
    """The owner writes fc.items with capture off for that statement alone."""
    with as_role(dsn, OWNER) as o, o.transaction():
        o.execute("ALTER TABLE fc.items DISABLE TRIGGER USER")
        o.execute(sql, args)
        names = [r[0] for r in o.execute(
            "SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = 'fc.items'::regclass"
            " AND tgname LIKE 'graphsync\\_capture\\_%' AND NOT tgisinternal")]
        o.execute("ALTER TABLE fc.items " + ", ".join("ENABLE ALWAYS TRIGGER %s" % n for n in names))


def test_a_source_check_an_owner_makes_fail_stays_in_health_until_a_check_succeeds(world):
    # one row capture never sees, the triggers back as they were (ALWAYS) at commit
    _uncaptured(world, "INSERT INTO fc.items VALUES (0, %s)", (SECRET,))
    with connect(world) as su:
        su.execute("SET graph.verify_interval = '1 day'")
        assert apply(su)["failed"] == 0
        first = su.execute("SELECT job_id, status, error FROM graph.run_scheduled_maintenance()").fetchone()
        # the check is per table: fc.items is named as not checked (every other table was)
        assert first[1] == "partial" and "fc.items" in first[2] and SECRET in first[2], first
        assert _health(su)[0] is True
        # the runs after it check nothing (migration 428) ...
        again = su.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert again[0] == "partial", again
        # ... and health must still say that the sources go unchecked, and why
        recommended, action, status = _health(su)
        assert status == "partial"
        assert recommended is True, action
        assert "source check" in action and "fc.items" in action and SECRET in action, action
        assert su.execute("SELECT schema_drift, failed_sync_rows, missing_trigger_count, disabled_trigger_count"
                          " FROM graph.sync_health()").fetchone() == (None, 0, 0, 0)
    with as_role(world, READER) as r:
        recommended, action, _status = _health(r)
        assert recommended is True, action
        assert "source check" in action and "fc.items" in action and SECRET not in action, action
    # the row fixed and the interval passed: the check runs, succeeds, and health is quiet again
    _uncaptured(world, "UPDATE fc.items SET v = '1' WHERE id = 0")
    with connect(world) as su:
        apply(su)
        su.execute("SET graph.verify_interval = '0'")
        m = su.execute("SELECT status, differences, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] == "succeeded" and m[1] >= 1, m
        su.execute("RESET graph.verify_interval")
        recommended, action, _status = _health(su)
        assert "source check" not in action, action



def _maintenance_behind_the_owners_lock(dsn, sql, lock_timeout=None):
    """``sql`` (a maintenance call) run by a superuser (with ``lock_timeout`` set, when
    given) while the owner holds fc.items locked in an open transaction: (its result
    or the error that ended it, seconds)."""
    with as_role(dsn, OWNER) as o:
        o.execute("BEGIN")
        o.execute("LOCK TABLE fc.items IN ACCESS EXCLUSIVE MODE")
        with connect(dsn) as su:
            su.execute("SET statement_timeout = '40s'")  # the test's own bound, far above graphsync's
            if lock_timeout is not None:
                su.execute("SELECT set_config('lock_timeout', %s, false)", [lock_timeout])
            started = time.monotonic()
            try:
                got = su.execute(sql).fetchone()
            except psycopg.Error as exc:
                got = exc
            took = time.monotonic() - started
        o.execute("ROLLBACK")
    return got, took


def test_an_owner_holding_its_table_locked_does_not_stall_maintenance(world):
    """A source check (and a rebuild) reads every registered table, and waited for each
    table's lock as long as it was held: the owner of any one of them, holding it
    locked in a transaction it leaves open, kept the scheduled run waiting in phase
    verify with the maintenance lock (every later run 'skipped'), its applied rows'
    state row locked, and health saying 'nothing to do'. Maintenance waits a bounded
    time for the sources' locks, then fails the phase naming the table, and health
    says so."""
    with connect(world) as su:
        su.execute("DELETE FROM graph._maintenance_jobs")
        apply(su)
    got, took = _maintenance_behind_the_owners_lock(
        world, "SELECT job_id, status, error FROM graph.run_scheduled_maintenance()")
    assert not isinstance(got, Exception), got
    assert got[1] == "failed" and "fc.items" in got[2], got
    assert took < 30, took
    with connect(world) as su:
        assert su.execute("SELECT phase FROM graph._maintenance_jobs WHERE job_id = %s", (got[0],)).fetchone() \
            == ("verify",)
        recommended, action, _status = _health(su)
        assert recommended is True and "fc.items" in action, action
        # a rebuild (vacuum's, or one the owner made due with a TRUNCATE) likewise
        su.execute("ALTER DATABASE " + su.info.dbname + " SET graph.verify_interval = 'off'")
    try:
        got, took = _maintenance_behind_the_owners_lock(world, "SELECT job_id, status, error FROM graph.vacuum()")
        assert not isinstance(got, Exception), got
        assert got[1] == "failed" and "fc.items" in got[2], got
        assert took < 30, took
    finally:
        with connect(world) as su:
            su.execute("ALTER DATABASE " + su.info.dbname + " RESET graph.verify_interval")
    with connect(world) as su, su.transaction():
        su.execute("SET graph.verify_interval = '0'")
        m = su.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] == "succeeded", m
        # the bounded wait was for the sources' locks alone: the caller's setting is back
        assert su.execute("SHOW lock_timeout").fetchone() == ("0",)


@pytest.mark.parametrize("lock_timeout, said", [(None, "within 10s"), ("300ms", "within 300ms"),
                                                ("1500", "within 1500ms")])
def test_a_lock_not_granted_in_time_is_said_with_the_bound_waited(world, lock_timeout, said):
    """Maintenance waits for each source table's lock at most 10 s, or the caller's
    lock_timeout when shorter; the failure said 'within 10s' whatever it waited. It
    states the bound it waited now."""
    with connect(world) as su:
        su.execute("DELETE FROM graph._maintenance_jobs")
        apply(su)
        su.execute(f"ALTER DATABASE {su.info.dbname} SET graph.verify_interval = '0'")
    try:
        got, _took = _maintenance_behind_the_owners_lock(
            world, "SELECT job_id, status, error FROM graph.run_scheduled_maintenance()", lock_timeout)
        assert not isinstance(got, Exception), got
        assert got[1] == "failed" and "could not lock table fc.items " + said + ":" in got[2], got
    finally:
        with connect(world) as su:
            su.execute(f"ALTER DATABASE {su.info.dbname} RESET graph.verify_interval")
            su.execute("DELETE FROM graph._maintenance_jobs")


def test_a_rebuild_an_owners_lock_fails_still_lets_the_run_prune(world):
    """A rebuild reads every registered table: the owner of one, holding it locked in
    a transaction it leaves open, fails the rebuild phase of every run while a rebuild
    is due (bounded, named: above). The run then skipped its later phases too, so no
    applied log row was pruned and no old base file removed for as long as the owner
    kept the lock: the log grew with every other table's writes. The run still fails
    in phase rebuild, and prunes first."""
    with connect(world) as su:
        su.execute("DELETE FROM graph._maintenance_jobs")
        su.execute("UPDATE public.fc_people SET name = name || '+'")
        assert apply(su)["failed"] == 0
        db = su.info.dbname
        su.execute(f"ALTER DATABASE {db} SET graph.verify_interval = 'off'")
        su.execute(f"ALTER DATABASE {db} SET graph.log_retention = '0'")
    try:
        got, took = _maintenance_behind_the_owners_lock(
            world, "SELECT job_id, status, error, rows_pruned FROM graph.vacuum()")
        assert not isinstance(got, Exception), got
        assert got[1] == "failed" and "rebuild" in got[2] and "fc.items" in got[2], got
        assert got[3] >= 20, got
        assert took < 30, took
        with connect(world) as su:
            assert su.execute("SELECT phase FROM graph._maintenance_jobs WHERE job_id = %s",
                              (got[0],)).fetchone() == ("rebuild",)
            recommended, action, status = _health(su)
            assert status == "failed" and "phase rebuild" in action and "fc.items" in action, action
    finally:
        with connect(world) as su:
            su.execute(f"ALTER DATABASE {db} RESET graph.verify_interval")
            su.execute(f"ALTER DATABASE {db} RESET graph.log_retention")
            su.execute("SELECT graph.build()")
            su.execute("DELETE FROM graph._maintenance_jobs")
