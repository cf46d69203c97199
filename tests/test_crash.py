"""A server crash (kill -9 of the postmaster and every backend) in the middle of a
large graph.apply_sync(): nothing is half-applied, and the next apply applies
every row exactly once. server.kill() and server.restart() (tests/conftest.py) do it
to the local cluster's processes or, on the container backend, with docker kill and
docker start."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import TEMPLATE, apply, connect, verify

PARENTS = 1_000
CHILDREN = 100_000  # inserted: one log row and one '+' edge each
REPARENTED = 50_000  # parent changed: one log row, a '-' and a '+' edge each
RENAMED = CHILDREN - REPARENTED  # property changed only: one log row, no edge change
DELETED = 1_000  # one log row and one '-' edge each
LOG_ROWS = CHILDREN + REPARENTED + RENAMED + DELETED
EDGE_CHANGES = CHILDREN + 2 * REPARENTED + DELETED


def db_name(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]


def _server_running(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _graph_state(c) -> dict:
    """Everything apply_sync writes, as comparable values."""
    q = {
        "sync_state": "SELECT row(s.*)::text FROM graph._sync_state AS s",
        "health": "SELECT applied_sync_id, max_sync_log_id, pending_sync_rows, failed_sync_rows,"
                  " edge_buffer_used, read_only, generation FROM graph.sync_health()",
        "nodes": "SELECT count(*), md5(coalesce(string_agg(row(n.*)::text, ',' ORDER BY node_id), ''))"
                 " FROM graph._nodes AS n",
        "overlay": "SELECT count(*) FROM graph._edge_overlay",
        "cuts": "SELECT count(*) FROM graph._edge_cuts",
        "labels": "SELECT count(*) FROM graph._labels",
        "log_errors": "SELECT count(*) FROM graph._sync_log WHERE error_message IS NOT NULL",
    }
    return {k: c.execute(v).fetchone() for k, v in q.items()}


@pytest.fixture
def crashable(server, db):
    if server.directory is None:
        pytest.skip("GRAPHSYNC_DSN names an external server: the tests may not kill it")
    yield db
    # Whatever happened, leave the shared cluster running for the other modules.
    if not _server_running(server.admin_dsn):
        try:
            server.kill()  # whatever is left of it
        except (OSError, ValueError, AssertionError):
            pass
        server.restart()


def test_kill_9_during_apply_sync_leaves_nothing_half_applied(server, crashable):
    db = crashable
    with connect(db) as c:
        # Commits must reach the WAL before the crash (the cluster runs synchronous_commit=off).
        c.execute("SET synchronous_commit = on")
        c.execute(sql.SQL("ALTER DATABASE {} SET graph.edge_buffer_size = {}").format(
            sql.Identifier(db_name(db)), sql.Literal(str(2 * EDGE_CHANGES))))
        # The per-batch replay, not the rebuild a backlog this large against the graph
        # would get (graph.rebuild_backlog_rows; its crash is a build's).
        c.execute(sql.SQL("ALTER DATABASE {} SET graph.rebuild_backlog_rows = 2147483647").format(
            sql.Identifier(db_name(db))))
        c.execute("CREATE TABLE parent (id int PRIMARY KEY, name text)")
        c.execute("CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, v text)")
        c.execute(f"INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, {PARENTS}) g")
        c.execute("SELECT graph.add_table('parent', columns => '{name}')")
        c.execute("SELECT graph.add_table('child', columns => '{v}')")
        c.execute("SELECT graph.add_edge('child', 'parent_id', 'parent', label => 'child_of')")
        c.execute("SELECT graph.build()")
        log_before = c.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]

        c.execute(f"""INSERT INTO child SELECT g, 1 + g % {PARENTS}, 'v' || g
                      FROM generate_series(1, {CHILDREN}) g""")
        c.execute(f"UPDATE child SET parent_id = 1 + parent_id % {PARENTS} WHERE id <= {REPARENTED}")
        c.execute(f"UPDATE child SET v = v || '!' WHERE id > {REPARENTED}")
        c.execute(f"DELETE FROM child WHERE id > {CHILDREN - DELETED}")
        logged = c.execute("SELECT count(*) FROM graph._sync_log WHERE id > %s", (log_before,)).fetchone()[0]
        assert logged == LOG_ROWS
        before = _graph_state(c)
        assert before["health"][2] == LOG_ROWS  # all pending
        assert before["overlay"] == (0,)

    applier = connect(db)
    applier_pid = applier.info.backend_pid
    outcome: list = []

    def run_apply():
        try:
            outcome.append(applier.execute("SELECT * FROM graph.apply_sync()").fetchone())
        except psycopg.Error as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run_apply, daemon=True)
    with connect(db) as watcher:
        thread.start()
        deadline = time.monotonic() + 60
        while True:
            # In progress: active for 0.5 s, and it has already written edges to the overlay.
            busy = watcher.execute(
                """SELECT EXISTS (
                       SELECT FROM pg_stat_activity AS a
                       JOIN pg_locks AS l ON l.pid = a.pid
                       WHERE a.pid = %s AND a.state = 'active' AND a.query LIKE '%%graph.apply_sync()%%'
                         AND clock_timestamp() - a.query_start >= interval '0.5 s'
                         AND l.relation = 'graph._edge_overlay'::regclass
                         AND l.mode = 'RowExclusiveLock')""", (applier_pid,)).fetchone()[0]
            if busy:
                break
            assert thread.is_alive(), f"apply_sync finished before the crash could be injected: {outcome}"
            assert time.monotonic() < deadline, "apply_sync never got under way"
            time.sleep(0.02)
        server.kill()

    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.OperationalError), outcome
    applier.close()
    assert not _server_running(server.admin_dsn)

    server.restart()

    with connect(db) as c:
        after = _graph_state(c)
        assert after == before, "the killed apply_sync left part of its work behind"
        result = apply(c)
        assert result["stopped"] is None and result["failed"] == 0
        assert (result["inserts"], result["updates"], result["deletes"]) == (
            CHILDREN, REPARENTED + RENAMED, DELETED)
        assert verify(c) == []
        overlay = dict(c.execute("SELECT op, count(*) FROM graph._edge_overlay GROUP BY op").fetchall())
        assert overlay == {"+": CHILDREN + REPARENTED, "-": REPARENTED + DELETED}
        assert sum(overlay.values()) == EDGE_CHANGES
        nodes = dict(c.execute("""SELECT alive, count(*) FROM graph._nodes
                                  WHERE table_oid = 'child'::regclass GROUP BY alive""").fetchall())
        assert nodes == {True: CHILDREN - DELETED, False: DELETED}
        health = c.execute("SELECT pending_sync_rows, applied_sync_id, max_sync_log_id"
                           " FROM graph.sync_health()").fetchone()
        assert health[0] == 0 and health[1] == health[2]
        assert apply(c)["inserts"] == 0


def test_the_cluster_is_usable_after_the_crash(server, crashable):
    """Runs after the crash test: same port, template intact, new databases work."""
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server.create_database(name, TEMPLATE)
    try:
        with connect(dsn) as c:
            assert c.execute("SELECT count(*) FROM graph._migrations").fetchone()[0] >= 1
            c.execute("CREATE TABLE t (id int PRIMARY KEY)")
            c.execute("SELECT graph.add_table('t')")
            c.execute("INSERT INTO t SELECT generate_series(1, 10)")
            assert apply(c)["inserts"] == 10
            assert verify(c) == []
    finally:
        server.drop_database(name)

