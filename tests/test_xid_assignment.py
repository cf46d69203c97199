"""A writer between its xid's assignment and its xid's lock, while an apply, a build or
a read's apply completes its snapshot (db.complete_snapshot).

PostgreSQL puts a transaction's new xid in the process array, then takes the lock on
it. An apply that looked for running transactions only in pg_locks missed one in
between, took its xid for one that holds no log row, and marked it applied: its rows,
logged and committed a moment later, were never applied (found by the random
concurrency test on a loaded machine). Here the writer's backend is held at that point
by a debugger (gdb, a breakpoint on XactLockTableInsert), so the window is there every
time, not by chance."""

import contextlib
import shutil
import subprocess
import threading
import time

import pytest

from conftest import apply, connect, pending_count, verify

SCHEMA = """
DROP SCHEMA IF EXISTS xa CASCADE;
CREATE SCHEMA xa;
CREATE TABLE xa.items (id int PRIMARY KEY, parent_id int);
INSERT INTO xa.items VALUES (1, NULL);
SELECT graph.add_table('xa.items');
SELECT graph.add_edge('xa.items', 'parent_id', 'xa.items', label => 'parent');
SELECT graph.build();
"""


@contextlib.contextmanager
def held_before_its_xid_lock(server, writer, folder, statement, params=()):
    """Run ``statement`` (with ``params``) on the connection ``writer`` in a thread, its
    backend held by gdb where it has an xid and no lock on it yet; released (and the
    statement's transaction committed) on leaving."""
    assert shutil.which("gdb"), "these tests need gdb: make setup installs it (Makefile, APT_PKGS)"
    armed, hit, release, log = (folder / n for n in ("armed", "hit", "release", "gdb.log"))
    pid = server.host_pid(writer.info.backend_pid)
    with open(log, "w") as out:
        gdb = subprocess.Popen(
            ["gdb", "-q", "-nx", "-batch", "-p", str(pid), "-ex", "break XactLockTableInsert",
             "-ex", f"shell touch {armed}", "-ex", "continue", "-ex", f"shell touch {hit}",
             "-ex", f"shell while [ ! -e {release} ]; do sleep 0.02; done", "-ex", "detach"],
            stdout=out, stderr=subprocess.STDOUT)
    failure = []

    def write():
        try:
            writer.execute(statement, params)
        except Exception as exc:  # reported below
            failure.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    try:
        _wait_for(armed, gdb, log)
        thread.start()
        _wait_for(hit, gdb, log)
        yield
    finally:
        release.touch()
        try:
            gdb.wait(60)
        finally:
            if gdb.poll() is None:
                gdb.kill()
        thread.join(60)
    assert not thread.is_alive() and not failure, (failure, log.read_text())


def _wait_for(path, gdb, log):
    deadline = time.monotonic() + 60
    while not path.exists():
        assert gdb.poll() is None and time.monotonic() < deadline, f"gdb: {log.read_text()}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def xa_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def _build(c):
    c.execute("SELECT graph.build()")


def _read_that_applies(c):
    # A read in a read-write transaction applies what is pending when the last apply
    # is a second old (graph._apply_for_read): here, everything committed.
    c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    c.execute("SELECT count(*) FROM graph.traverse('xa.items', '1', max_depth => 1)").fetchone()


@pytest.mark.parametrize("run", [apply, _build, _read_that_applies], ids=["apply_sync", "build", "read_apply"])
def test_a_writer_between_its_xid_and_its_xid_lock_is_not_taken_for_applied(server, xa_db, tmp_path, run):
    with connect(xa_db) as admin, connect(xa_db) as writer:
        key = admin.execute("SELECT coalesce(max(id), 1) + 1 FROM xa.items").fetchone()[0]
        with held_before_its_xid_lock(server, writer, tmp_path, "INSERT INTO xa.items VALUES (%s, 1)", (key,)):
            state = admin.execute(
                "SELECT a.backend_xid::text, (SELECT count(*) FROM pg_locks AS l WHERE l.pid = a.pid"
                " AND l.locktype = 'transactionid') FROM pg_stat_activity AS a WHERE a.pid = %s",
                (writer.info.backend_pid,)).fetchone()
            assert state[0] is not None and state[1] == 0, f"the writer is not in the window: {state}"
            run(admin)
        assert admin.execute("SELECT count(*) FROM xa.items WHERE id = %s", (key,)).fetchone()[0] == 1
        assert pending_count(admin) == 1, "the writer's row is not pending after it committed"
        apply(admin)
        assert verify(admin) == []
