"""pg_cron: graph.schedule_maintenance() really runs maintenance.

pg_cron runs jobs only from the database named by cron.database_name
('graphsync' in the throwaway cluster, tools/pgcluster.py, which creates it empty
with the cluster so pg_cron's launcher has a database to connect to). In the
tests' own cluster this module installs graphsync into that database and empties
it again afterwards; on a server given by GRAPHSYNC_DSN it creates the database
from the installed template when it does not exist, and drops it afterwards.
pg_cron before 1.5 schedules at most once a minute, so the test waits up to WAIT
seconds for a run."""

import os
import tempfile
import time

import psycopg
import pytest

import install
from conftest import ROOT, apply, connect, pgcluster, verify

WAIT = 150  # seconds: a minute boundary, the run, and slack for a slow machine
SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()


@pytest.fixture(scope="module")
def crondb(server, template):
    with psycopg.connect(server.admin_dsn, autocommit=True) as c:
        preload = c.execute("SHOW shared_preload_libraries").fetchone()[0]
        name = c.execute("SELECT current_setting('cron.database_name', true)").fetchone()[0]
        if "pg_cron" not in preload or not name:
            pytest.skip("the server does not preload pg_cron")
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
    if exists and server.directory is None:
        pytest.skip(f"database {name} exists already; not touching it")
    if exists:
        # The empty database pgcluster made for pg_cron; its launcher is connected
        # to it, so it is used in place, not dropped and created again.
        dsn = server.dsn(name)
        with connect(dsn) as c:
            install.install(c)
    else:
        dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
            c.execute(SCHEMA)
            c.execute("INSERT INTO app.workspaces VALUES (1, 'acme')")
            c.execute("INSERT INTO app.contacts SELECT g, 1, 'c' || g, NULL, NULL FROM generate_series(1, 20) g")
            c.execute(REGISTER)
            c.execute("SELECT graph.build()")
        yield dsn
    finally:
        with connect(dsn) as c:
            c.execute("SELECT cron.unschedule(jobid) FROM cron.job")
            if exists:  # back to empty, as pgcluster made it
                c.execute("DROP EXTENSION pg_cron")
                c.execute("DROP SCHEMA IF EXISTS app CASCADE")
                install.uninstall(c)
        if not exists:
            server.drop_database(name)


def test_a_scheduled_job_runs_maintenance_and_the_graph_catches_up(crondb):
    with connect(crondb) as c:
        jobid = c.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
        job = c.execute("SELECT schedule, command, database FROM cron.job WHERE jobid = %s", (jobid,)).fetchone()
        assert job == ("* * * * *", "SELECT graph.run_scheduled_maintenance()", c.info.dbname)
        assert "scheduled" in c.execute("SELECT sync_mode FROM graph.sync_health()").fetchone()[0]
        c.execute("INSERT INTO app.contacts SELECT g, 1, 'late' || g, NULL, NULL FROM generate_series(100, 150) g")
        c.execute("UPDATE app.contacts SET name = 'renamed' WHERE id = 3")
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == 52
        deadline = time.monotonic() + WAIT
        run = None
        while time.monotonic() < deadline:
            run = c.execute("""SELECT status, return_message FROM cron.job_run_details
                               WHERE jobid = %s AND status IN ('succeeded', 'failed')
                               ORDER BY runid LIMIT 1""", (jobid,)).fetchone()
            if run:
                break
            time.sleep(1)
        assert run is not None, f"pg_cron ran no job within {WAIT} s"
        assert run[0] == "succeeded", run
        h = c.execute("""SELECT pending_sync_rows, last_maintenance_status, sync_mode
                         FROM graph.sync_health()""").fetchone()
        assert h[0] == 0 and h[1] == "succeeded"
        job = c.execute("""SELECT kind, status, rows_applied, run_by FROM graph._maintenance_jobs
                           ORDER BY job_id LIMIT 1""").fetchone()
        assert job == ("scheduled", "succeeded", 52, "postgres")
        assert verify(c) == []
        assert c.execute("SELECT graph.unschedule_maintenance()").fetchone() == (True,)
        assert c.execute("SELECT count(*) FROM cron.job").fetchone() == (0,)
        assert c.execute("SELECT graph.unschedule_maintenance()").fetchone() == (False,)


@pytest.mark.parametrize("every, schedule", [
    ("5 minutes", "*/5 * * * *"), ("1 hour", "0 * * * *"), ("6 hours", "0 */6 * * *"),
    ("1 day", "0 0 * * *"), ("*/10 * * * *", "*/10 * * * *")])
def test_intervals_become_cron_schedules(crondb, every, schedule):
    with connect(crondb) as c:
        jobid = c.execute("SELECT graph.schedule_maintenance(%s)", (every,)).fetchone()[0]
        assert c.execute("SELECT schedule FROM cron.job WHERE jobid = %s", (jobid,)).fetchone() == (schedule,)
        again = c.execute("SELECT graph.schedule_maintenance(%s)", (every,)).fetchone()[0]
        assert again == jobid and c.execute("SELECT count(*) FROM cron.job").fetchone() == (1,)
        assert c.execute("SELECT graph.unschedule_maintenance()").fetchone() == (True,)


@pytest.mark.parametrize("every", ["7 seconds", "90 minutes", "banana", "2 days"])
def test_intervals_pg_cron_cannot_run_are_refused(crondb, every):
    with connect(crondb) as c:
        version = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'").fetchone()[0]
        if every.endswith("seconds") and not version.startswith("1.4"):
            pytest.skip("pg_cron >= 1.5 runs jobs every few seconds")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            c.execute("SELECT graph.schedule_maintenance(%s)", (every,))


def test_without_pg_cron_the_error_says_what_to_do(db):
    with connect(db) as c:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as err:
            c.execute("SELECT graph.schedule_maintenance()")
        assert "pg_cron" in str(err.value) and err.value.diag.message_hint
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            c.execute("SELECT graph.unschedule_maintenance()")
        apply(c)


LAUNCHER = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"


def test_a_new_cluster_has_the_database_pg_cron_connects_to():
    """pg_cron's launcher connects to cron.database_name as the server starts; while
    that database does not exist it exits and restarts every second (about 1,200
    errors in one test run's server log). tools/pgcluster.py creates it with the
    cluster: the launcher starts once and stays, and the log has no such error."""
    try:
        pgcluster.pg_bindir()
    except SystemExit:
        pytest.skip("no PostgreSQL 15 server binaries here")
    directory = tempfile.mkdtemp(prefix="graphsync-crontest-")
    try:
        dsn = pgcluster.start(directory)
        with psycopg.connect(dsn, autocommit=True) as c:
            name = c.execute("SHOW cron.database_name").fetchone()[0]
            assert c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() == (1,)
            deadline = time.monotonic() + 30
            while (first := c.execute(LAUNCHER).fetchone()) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert first is not None, "pg_cron's launcher is not running"
            time.sleep(3)  # it would have restarted three times by now
            assert c.execute(LAUNCHER).fetchone() == first
        with open(os.path.join(directory, "server.log")) as f:
            log = f.read()
        assert "does not exist" not in log and "exited with exit code" not in log, log
    finally:
        pgcluster.stop(directory)
