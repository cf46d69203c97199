"""pg_cron: graph.schedule_maintenance() really runs maintenance.

pg_cron runs jobs only from the database named by cron.database_name
('graphsync' in the throwaway cluster, tools/pgcluster.py, which creates it empty
with the cluster so pg_cron's launcher has a database to connect to). In the
tests' own cluster this module installs graphsync into that database and empties
it again afterwards, but for pg_cron, which it leaves there (without jobs, runs or
grants) for the next module that schedules jobs (crondb); on a server given by
GRAPHSYNC_DSN it creates the database from the installed template when it does
not exist, and drops it afterwards.
pg_cron before 1.5 schedules at most once a minute, so the test waits up to WAIT
seconds for a run.

The tests' own cluster is set up as the README's pg_cron setup prescribes, on a
server that asks every TCP connection for a scram-sha-256 password: jobs run in
background workers (cron.use_background_workers = on). A second cluster, without
background workers, shows what happens otherwise: every job fails to connect, and
sync_health() says so. The states of the scheduled job (graph._cron_job_state) are
each created here: waiting, ok, late, inactive and never_ran on real records of
real runs ('late' and 'never_ran' by moving those records back in time: pg_cron
runs at most once a minute), failing from real failed runs."""

import os
import tempfile
import time

import psycopg
import pytest

import install
from conftest import ROOT, apply, connect, health, pgcluster, rows_read, skip_without_server_binaries, verify

WAIT = 300  # seconds: a minute boundary, the run, and slack for a machine at load 15+
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
            c.execute("GRANT USAGE ON SCHEMA cron TO graph_admin")  # the README's pg_cron setup
            c.execute(SCHEMA)
            c.execute("INSERT INTO app.workspaces VALUES (1, 'acme')")
            c.execute("INSERT INTO app.contacts SELECT g, 1, 'c' || g, NULL, NULL FROM generate_series(1, 20) g")
            c.execute(REGISTER)
            c.execute("SELECT graph.build()")
        yield dsn
    finally:
        with connect(dsn) as c:
            c.execute("SELECT cron.unschedule(jobid) FROM cron.job")
            if exists:  # back to empty, as pgcluster made it, but for pg_cron
                # pg_cron is not dropped: its launcher, connected to this database all
                # along, then runs no job of the pg_cron the next module creates again
                # (tests/test_admin_role.py after this module waited in vain, in some
                # runs). The launcher (pg_cron 1.4) keeps cron.job's oid until that
                # table's own invalidation reaches it; the uninstall's thousands of
                # catalog invalidations, right after the DROP, can overflow the queue
                # before the idle launcher reads it: reset, it loses the DROP's and keeps
                # the dropped table's oid, and no job of the new table runs. (A DROP
                # EXTENSION committed in one transaction with 3,000 other catalog changes
                # did the same.) So pg_cron stays, as CREATE EXTENSION leaves it: no
                # jobs, runs or grants.
                c.execute("DELETE FROM cron.job_run_details")
                c.execute("REVOKE USAGE ON SCHEMA cron FROM graph_admin, graph_sync")
                c.execute("DROP SCHEMA IF EXISTS app CASCADE")
                install.uninstall(c)
        if not exists:
            server.drop_database(name)


def wait_for_run(conn, jobid, after=0):
    """The first finished run of ``jobid`` with runid > ``after``: (runid, status, message)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        run = conn.execute("""SELECT runid, status, return_message FROM cron.job_run_details
                              WHERE jobid = %s AND runid > %s AND status IN ('succeeded', 'failed')
                              ORDER BY runid LIMIT 1""", (jobid, after)).fetchone()
        if run:
            return run
        time.sleep(1)
    raise AssertionError(f"pg_cron ran no job within {WAIT} s")


def test_a_scheduled_job_runs_maintenance_and_the_graph_catches_up(server, crondb):
    if server.directory:  # our cluster: TCP connections need a scram password, as in production
        params = psycopg.conninfo.conninfo_to_dict(server.admin_dsn)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=params["port"], user="postgres", dbname="postgres")
        with connect(crondb) as c:
            assert c.execute("SHOW cron.use_background_workers").fetchone() == ("on",)
    with connect(crondb) as c:
        jobid = c.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
        job = c.execute("SELECT schedule, command, database FROM cron.job WHERE jobid = %s", (jobid,)).fetchone()
        assert job == ("* * * * *", "SELECT graph.run_scheduled_maintenance()", c.info.dbname)
        state, runs = c.execute("""SELECT s.state, (SELECT count(*) FROM cron.job_run_details)
                                   FROM graph._cron_job_state() AS s""").fetchone()
        if runs == 0:  # not yet at a minute boundary
            assert state == "waiting"
        assert "scheduled" in c.execute("SELECT sync_mode FROM graph.sync_health()").fetchone()[0]
        c.execute("INSERT INTO app.contacts SELECT g, 1, 'late' || g, NULL, NULL FROM generate_series(100, 150) g")
        c.execute("UPDATE app.contacts SET name = 'renamed' WHERE id = 3")
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == 52
        _, status, message = wait_for_run(c, jobid)
        assert status == "succeeded", message
        h = c.execute("""SELECT pending_sync_rows, last_maintenance_status, sync_mode
                         FROM graph.sync_health()""").fetchone()
        assert h[0] == 0 and h[1] == "succeeded"
        job = c.execute("""SELECT kind, status, rows_applied, run_by FROM graph._maintenance_jobs
                           ORDER BY job_id LIMIT 1""").fetchone()
        assert job == ("scheduled", "succeeded", 52, "postgres")
        assert verify(c) == []
        h = health(c)
        assert (h["schedule_state"], h["schedule_error"]) == ("ok", None)
        assert h["schedule_last_success_at"] is not None and h["next_action"] == "nothing to do"
        assert h["maintenance_recommended"] is False

        # pg_cron stops running it (its records moved back in time, as if the last run
        # were ten minutes ago): health says so, and a run by hand is 'partial'
        c.execute("""UPDATE cron.job_run_details SET start_time = start_time - interval '10 minutes',
                         end_time = end_time - interval '10 minutes' WHERE jobid = %s""", (jobid,))
        c.execute("UPDATE graph._maintenance_schedule SET scheduled_at = scheduled_at - interval '10 minutes'")
        h = health(c)
        assert h["schedule_state"] == "late" and h["maintenance_recommended"]
        assert h["next_action"].startswith(f"pg_cron has not run job {jobid} (* * * * *) successfully since ")
        assert f"cron.database_name = '{c.info.dbname}') and the server log" in h["next_action"]
        assert h["next_action"].endswith("; until then run graph.run_scheduled_maintenance() by hand")
        m = c.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] == "partial" and m[1].startswith("scheduled maintenance does not run: pg_cron has not run")

        # switched off
        c.execute("SELECT cron.alter_job(%s, active => false)", (jobid,))
        h = health(c)
        assert h["schedule_state"] == "inactive" and "scheduled" not in h["sync_mode"]
        assert h["maintenance_recommended"]
        assert f"SELECT cron.alter_job({jobid}, active => true)" in h["next_action"]
        assert c.execute("SELECT graph.unschedule_maintenance()").fetchone() == (True,)
        h = health(c)
        assert h["schedule_state"] == "not_scheduled" and h["next_action"] == "nothing to do"
        assert c.execute("SELECT count(*) FROM graph._maintenance_schedule").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM cron.job").fetchone() == (0,)
        assert c.execute("SELECT graph.unschedule_maintenance()").fetchone() == (False,)


def at_least_seconds_before_a_minute_boundary(seconds):
    """Sleep until the next minute boundary is ``seconds`` away or more (pg_cron
    starts every-minute jobs at the boundary)."""
    while 60 - time.time() % 60 < seconds or time.time() % 60 < 2:
        time.sleep(0.5)


def test_a_job_scheduled_long_ago_that_never_ran(crondb):
    with connect(crondb) as c:
        at_least_seconds_before_a_minute_boundary(15)
        jobid = c.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
        try:
            c.execute("UPDATE graph._maintenance_schedule SET scheduled_at = now() - interval '10 minutes'")
            assert c.execute("SELECT count(*) FROM cron.job_run_details WHERE jobid = %s",
                             (jobid,)).fetchone() == (0,)
            h = health(c)
            assert h["schedule_state"] == "never_ran" and h["schedule_last_success_at"] is None
            assert "scheduled" in h["sync_mode"] and h["maintenance_recommended"]
            assert h["next_action"].startswith(f"pg_cron has never run job {jobid} (* * * * *) since it was"
                                               " scheduled at ")
            # rescheduled on the same schedule: still the same job that never ran
            assert c.execute("SELECT graph.schedule_maintenance()").fetchone() == (jobid,)
            assert health(c)["schedule_state"] == "never_ran"
            # a new schedule starts the clock again
            c.execute("SELECT graph.schedule_maintenance('5 minutes')")
            assert health(c)["schedule_state"] == "waiting"
        finally:
            c.execute("SELECT graph.unschedule_maintenance()")


def test_health_reads_the_jobs_last_runs_not_its_whole_history(crondb):
    """pg_cron keeps every run in cron.job_run_details until someone deletes them (a
    job a minute: half a million rows a year). Health finds the job's last runs by
    the table's primary key, newest first, not by reading all of them."""
    with connect(crondb) as c:
        jobid = c.execute("SELECT graph.schedule_maintenance('5 minutes')").fetchone()[0]
        try:
            c.execute("""INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status,
                                                           return_message, start_time, end_time)
                         SELECT %s, 1, current_database(), 'postgres', 'SELECT graph.run_scheduled_maintenance()',
                                'succeeded', '1 row', now() - g * interval '5 minutes' - interval '30 seconds',
                                now() - g * interval '5 minutes'
                         FROM generate_series(30000, 1, -1) AS g""", (jobid,))
            c.execute("ANALYZE cron.job_run_details")
            last = c.execute("SELECT max(end_time) FROM cron.job_run_details WHERE jobid = %s", (jobid,)).fetchone()[0]
            with c.transaction():
                before = rows_read(c, "cron.job_run_details")
                h = health(c)
                read = rows_read(c, "cron.job_run_details") - before
            assert (h["schedule_state"], h["schedule_last_success_at"]) == ("ok", last)
            assert read < 1000, "health read %d rows of the job's history" % read
        finally:
            c.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (jobid,))
            c.execute("SELECT graph.unschedule_maintenance()")


def test_every_admin_sees_the_job_alike_and_health_says_when_it_cannot_see_it(crondb):
    """pg_cron's row-level security shows a role only its own jobs; graphsync reads
    them as graph_sync (BYPASSRLS), so an admin that did not schedule the job judges
    it as health does. Without USAGE on schema cron (the README's GRANT) health
    cannot tell, and says so: never a silent not_scheduled."""
    with connect(crondb) as c:
        c.execute("DROP ROLE IF EXISTS gs_cron_other")
        c.execute("CREATE ROLE gs_cron_other LOGIN IN ROLE graph_admin")
        at_least_seconds_before_a_minute_boundary(10)
        c.execute("SELECT graph.schedule_maintenance()")
        params = psycopg.conninfo.conninfo_to_dict(crondb)
        params["user"] = "gs_cron_other"
        direct = c.execute("SELECT has_schema_privilege('graph_sync', 'cron', 'USAGE')"
                           " AND NOT has_schema_privilege('graph_admin', 'cron', 'USAGE')").fetchone()[0]
        try:
            with psycopg.connect(psycopg.conninfo.make_conninfo(**params), autocommit=True) as o:
                assert o.execute("SELECT count(*) FROM cron.job").fetchone() == (0,)  # pg_cron's view
                assert o.execute("SELECT state FROM graph._cron_job_state()").fetchone() == ("waiting",)
                assert health(o)["schedule_state"] == health(c)["schedule_state"] == "waiting"
                c.execute("REVOKE USAGE ON SCHEMA cron FROM graph_admin, graph_sync")
                h = health(o)
                assert h["schedule_state"] == "unknown" and "scheduled" not in h["sync_mode"]
                assert h["next_action"] == ("whether scheduled maintenance runs is unknown: role graph_sync cannot"
                                            " read every row of pg_cron's job tables (permission denied for"
                                            " schema cron)")
        finally:
            c.execute("GRANT USAGE ON SCHEMA cron TO " + ("graph_sync" if direct else "graph_admin"))
            c.execute("SELECT graph.unschedule_maintenance()")
            c.execute("DROP ROLE gs_cron_other")


def test_a_job_of_that_name_that_graphsync_did_not_schedule_is_not_judged(crondb):
    """Any role with USAGE on schema cron may name a job of its own
    graphsync_maintenance in this database. Health counted every such job: a role
    outside graph_admin put its job's failure messages (its own text: 'run ALTER
    ROLE ...') in every admin's sync_health(), or made health say 'ok' where no
    maintenance was scheduled. Only jobs running graphsync's command as a superuser
    or a member of graph_admin are graphsync's."""
    with connect(crondb) as c:
        c.execute("DROP ROLE IF EXISTS gs_cron_spoof")
        c.execute("CREATE ROLE gs_cron_spoof LOGIN")
        c.execute("GRANT USAGE ON SCHEMA cron TO gs_cron_spoof")
        c.execute("DROP ROLE IF EXISTS gs_cron_admin")
        c.execute("CREATE ROLE gs_cron_admin LOGIN IN ROLE graph_admin")
        spoof = psycopg.conninfo.make_conninfo(crondb, user="gs_cron_spoof")
        fake = []
        try:
            with connect(spoof) as o:
                for command in ("SELECT 1", "SELECT graph.run_scheduled_maintenance()"):
                    fake.append(o.execute("SELECT cron.schedule('graphsync_maintenance', '0 0 1 1 *', %s)",
                                          (command,)).fetchone()[0])
            # an admin's job with another command (a graph_admin member who is no superuser,
            # USAGE on cron by the README's GRANT): not graphsync's either
            with connect(psycopg.conninfo.make_conninfo(crondb, user="gs_cron_admin")) as admin:
                fake.append(admin.execute("""SELECT cron.schedule('graphsync_maintenance', '0 0 1 1 *',
                                                                  'SELECT 2')""").fetchone()[0])
            for status in ("failed", "succeeded"):
                c.execute("""INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status,
                                                               return_message, start_time, end_time)
                             SELECT j.jobid, 1, j.database, j.username, j.command, %s,
                                    'ERROR: graphsync needs ALTER ROLE gs_cron_spoof SUPERUSER',
                                    now() - interval '1 minute', now()
                             FROM cron.job AS j WHERE j.jobid = ANY (%s)""", (status, fake))
                h = health(c)
                assert (h["schedule_state"], h["schedule_error"]) == ("not_scheduled", None), status
                assert "gs_cron_spoof" not in h["next_action"] and "scheduled" not in h["sync_mode"]
            jobid = c.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
            state = c.execute("SELECT state, jobid FROM graph._cron_job_state()").fetchone()
            assert state in (("waiting", jobid), ("ok", jobid))  # ok: at a minute boundary, a run began
        finally:
            c.execute("SELECT graph.unschedule_maintenance()")
            c.execute("DELETE FROM cron.job_run_details WHERE jobid = ANY (%s)", (fake,))
            c.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid = ANY (%s)", (fake,))
            c.execute("REVOKE USAGE ON SCHEMA cron FROM gs_cron_spoof")
            c.execute("DROP ROLE gs_cron_spoof")
            c.execute("DROP OWNED BY gs_cron_admin")
            c.execute("DROP ROLE gs_cron_admin")


@pytest.mark.local_only(reason="starts a second cluster on this machine with tools/pgcluster.py")
def test_without_background_workers_a_scram_server_fails_every_job_and_health_says_so():
    """The README's pg_cron setup before cron.use_background_workers: pg_cron runs each
    job over a libpq connection to localhost, which a server with scram-sha-256 for
    TCP connections refuses without a password. Every run fails; health used to say
    all was well."""
    skip_without_server_binaries()
    directory = tempfile.mkdtemp(prefix="graphsync-scramtest-")
    try:
        pgcluster.start(directory, {"cron.use_background_workers": "off"})
        with connect(pgcluster.dsn_for(directory, pgcluster.CRON_DATABASE)) as c:
            c.execute("ALTER ROLE postgres PASSWORD 'a secret pg_cron does not have'")
            install.install(c)
            c.execute("CREATE EXTENSION pg_cron")
            c.execute("GRANT USAGE ON SCHEMA cron TO graph_admin")  # the README's pg_cron setup
            c.execute("CREATE ROLE gs_scram_admin LOGIN IN ROLE graph_admin")
            c.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            c.execute("GRANT SELECT ON t TO gs_scram_admin")
            c.execute("SELECT graph.add_table('t', columns => '{v}')")
            c.execute("SELECT graph.build()")
            notices = []
            c.add_notice_handler(lambda d: notices.append((d.message_primary, d.message_hint)))
            jobid = c.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
            assert any("over libpq as postgres" in m and "cron.use_background_workers = on" in hint
                       for m, hint in notices), notices
            c.execute("INSERT INTO t VALUES (1, 'waits for maintenance')")
            run = wait_for_run(c, jobid)
            assert run[1:] == ("failed", "connection failed")
            h = health(c)
            assert h["schedule_state"] == "failing" and h["schedule_error"] == "connection failed"
            assert h["maintenance_recommended"] and h["pending_sync_rows"] == 1
            assert h["next_action"].startswith(f"pg_cron job {jobid} fails (connection failed): pg_cron cannot"
                                               " connect to the server to run it; set"
                                               " cron.use_background_workers = on")
            assert c.execute("SELECT count(*) FROM graph._maintenance_jobs").fetchone() == (0,)
            # a run by hand did its work, but the schedule is broken: 'partial', whoever runs it
            admin = psycopg.conninfo.make_conninfo(c.info.dsn, user="gs_scram_admin")
            with psycopg.connect(admin, autocommit=True) as a:
                m = a.execute("SELECT status, rows_applied, error FROM graph.run_scheduled_maintenance()").fetchone()
            assert m[0] == "partial" and m[1] == 1
            assert m[2].startswith(f"scheduled maintenance does not run: pg_cron job {jobid} fails")
            m = c.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
            assert m[0] == "partial" and m[1].startswith(f"scheduled maintenance does not run: pg_cron job {jobid}")
    finally:
        pgcluster.stop(directory)


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


@pytest.mark.local_only(reason="starts a cluster on this machine with tools/pgcluster.py and reads its log file")
def test_a_new_cluster_has_the_database_pg_cron_connects_to():
    """pg_cron's launcher connects to cron.database_name as the server starts; while
    that database does not exist it exits and restarts every second (about 1,200
    errors in one test run's server log). tools/pgcluster.py creates it with the
    cluster: the launcher starts once and stays, and the log has no such error."""
    skip_without_server_binaries()
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
