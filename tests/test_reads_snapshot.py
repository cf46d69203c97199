"""A read sees one state: the applied graph as of one snapshot plus exactly the
pending log rows committed in that snapshot -- also when an apply commits while
the read runs (under READ COMMITTED every statement of a read has its own
snapshot; on a hot standby the replay of the primary's apply commits the same
way).

Real sessions on the primary: a reader whose transactions are read-only (it
cannot apply: it folds the pending rows, as a standby does), a writer, and an
admin whose apply commits while the reader's read runs. The admin's transaction
holds an ACCESS EXCLUSIVE lock on graph._sync_log until it commits: the read's
START statement has taken its snapshot (before the apply committed) when its
freshness step (graph._read_sync) waits for that lock, and counts the pending
rows after the commit. Before the fix such a read returned the graph from
before the apply without the rows it applied: the edge the writer deleted was
still there. Without timing: the test waits until the read waits for the lock."""

import threading

import pytest

from conftest import apply, connect, wait_until

SCHEMA = """
DROP SCHEMA IF EXISTS rs CASCADE;
CREATE SCHEMA rs;
CREATE TABLE rs.n (id int PRIMARY KEY);
CREATE TABLE rs.l (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL);
CREATE TABLE rs.hidden (id int PRIMARY KEY);
INSERT INTO rs.n SELECT g FROM generate_series(1, 6) g;
INSERT INTO rs.l VALUES (1, 1, 2), (2, 2, 3), (3, 3, 4), (4, 4, 5);
SELECT graph.add_table('rs.n');
SELECT graph.add_table('rs.hidden');
SELECT graph.add_edge('rs.n', 'src', 'rs.n', to_column => 'dst', via_table => 'rs.l');
SELECT graph.build();
DROP ROLE IF EXISTS rs_other;
CREATE ROLE rs_other;
GRANT USAGE ON SCHEMA rs TO rs_other;
GRANT SELECT ON rs.n, rs.l TO rs_other;
"""

WALK = "SELECT node_id FROM graph.traverse('rs.n', '1', max_depth => 10) ORDER BY depth, node_id"


@pytest.fixture
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def walk(conn):
    return [int(r[0]) for r in conn.execute(WALK).fetchall()]


def waiting_for_a_lock(admin, pid, timeout=60, done=lambda: False):
    """Until the backend ``pid`` waits for a lock, or ``done()`` (no timing: a deadline
    only for a hang)."""
    assert wait_until(lambda: admin.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                            [pid]).fetchone() == (True,) or done(), timeout, interval=0.01), \
        "the read never waited for graph._sync_log"


def read_while_an_apply_commits(db, reader, before_walk):
    """The reader's walk, made while an admin's apply commits: the walk's START
    takes its snapshot before, its freshness step counts after."""
    with connect(db) as admin:
        admin.execute("BEGIN")
        admin.execute("SELECT graph.apply_sync()")
        admin.execute("LOCK TABLE graph._sync_log IN ACCESS EXCLUSIVE MODE")
        out = {}

        def run():
            try:
                before_walk(reader)
                out["walk"] = walk(reader)
            except Exception as exc:  # reported by the test below
                out["error"] = exc

        t = threading.Thread(target=run)
        t.start()
        try:
            # A read whose snapshot sees nothing new since its backend's kept folded view
            # reads no log row (reads/start.py, _NEW_XIDS): it waits for no lock and
            # shows the kept view, what its snapshot (taken before the apply committed) sees.
            waiting_for_a_lock(admin, reader.info.backend_pid, done=lambda: not t.is_alive())
        finally:
            admin.execute("COMMIT")
            t.join()
        if "error" in out:
            raise out["error"]
        return out["walk"]


@pytest.mark.parametrize("between", ["same reader", "another role read", "another write"])
def test_a_read_racing_an_apply_sees_applied_plus_pending_of_one_snapshot(graph_db, between):
    with connect(graph_db) as writer, connect(graph_db) as reader:
        reader.execute("SET default_transaction_read_only = on")  # cannot apply: folds
        assert walk(reader) == [1, 2, 3, 4, 5]
        writer.execute("DELETE FROM rs.l WHERE id = 2")  # pending: 2 -> 3 is gone
        assert walk(reader) == [1, 2]  # folded, and the folded view kept
        if between == "another role read":
            # The reader's backend keeps the view it folded for another role (its
            # tables differ): the next read must not take the rows it read for that one.
            reader.execute("SET ROLE rs_other")
            assert walk(reader) == [1, 2]
            reader.execute("RESET ROLE")
        elif between == "another write":
            writer.execute("INSERT INTO rs.l VALUES (5, 1, 6)")  # pending too, folded onto the kept view
        expected = [1, 2, 6] if between == "another write" else [1, 2]
        assert read_while_an_apply_commits(graph_db, reader, lambda r: None) == expected
        assert writer.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (0,)
        assert walk(reader) == expected


def test_a_read_whose_view_refresh_races_an_apply_sees_one_snapshot(graph_db):
    """The read's START sees one applied graph, and its view is read (view.current)
    after an apply committed: the read starts again rather than fold START's
    pending rows onto the newer graph (which holds them) or read newer pending rows
    onto an older one."""
    with connect(graph_db) as writer, connect(graph_db) as reader:
        reader.execute("SET default_transaction_read_only = on")
        assert walk(reader) == [1, 2, 3, 4, 5]
        writer.execute("DELETE FROM rs.l WHERE id = 2")
        apply(writer)  # the reader's kept view is of an older graph version now
        writer.execute("INSERT INTO rs.l VALUES (5, 1, 3), (6, 3, 6)")  # pending
        with connect(graph_db) as admin:
            admin.execute("BEGIN")
            admin.execute("SELECT graph.apply_sync()")
            # The refresh of the reader's view reads graph._edge_cuts first; START does not.
            admin.execute("LOCK TABLE graph._edge_cuts IN ACCESS EXCLUSIVE MODE")
            out = {}
            t = threading.Thread(target=lambda: out.update(walk=walk(reader)))
            t.start()
            try:
                waiting_for_a_lock(admin, reader.info.backend_pid)
            finally:
                admin.execute("COMMIT")
                t.join()
        assert out["walk"] == [1, 2, 3, 4, 6, 5]
        assert walk(reader) == [1, 2, 3, 4, 6, 5]
