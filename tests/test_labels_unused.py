"""Labels no edge uses any more leave graph._labels at the next rebuild (a
maintenance run's, graph.build(), reconcile's, vacuum's): a writer cycling
through many distinct values of a label column grew graph._labels without
bound before (every value ever written kept its row and number).

A label becomes unused only at a rebuild: until then the base or the overlay
(whose '-' rows keep the label of the edge they remove) still holds it. The
rebuild drops, in its own transaction, under graph._sync_state's row lock
that replay takes before it numbers a label, every label neither its new base
nor a registered edge source's fixed label uses. Replay of a new use of such
a label, committed while the rebuild runs, numbers it again after the rebuild
commits, whichever of the two takes the lock first (real concurrent sessions
below). A read that looks label names up in a statement that sees a newer
generation than its base runs again (view.Renumbered), so it never shows an
edge of the old base with a label that went."""

import threading

import pytest

from conftest import apply, as_role, blocked_by, connect, maintain, verify, wait_until

SCHEMA = """
CREATE TABLE spots (id int PRIMARY KEY);
CREATE TABLE links (id int PRIMARY KEY, a int, b int, kind text);
INSERT INTO spots SELECT generate_series(1, 60);
SELECT graph.add_table('spots');
SELECT graph.add_edge('spots', 'a', 'spots', to_column => 'b', via_table => 'links',
                      label => 'link', label_column => 'kind');
"""


@pytest.fixture
def graph_db(db):
    with connect(db) as c:
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute("DROP TABLE IF EXISTS spots, links CASCADE")
        c.execute(SCHEMA)
        c.execute("INSERT INTO links SELECT g, g, g + 1, 'k' || g FROM generate_series(1, 50) AS g")
        c.execute("SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute("DROP TABLE IF EXISTS spots, links CASCADE")


def labels(c):
    return {r[0] for r in c.execute("SELECT label FROM graph._labels")}


def kinds(c, src, edge_types):
    return c.execute("SELECT node_id, edge_label FROM graph.traverse('spots', %s, max_depth => 1,"
                     " edge_types => %s) WHERE depth = 1", [str(src), edge_types]).fetchall()


def test_labels_no_edge_uses_are_gone_after_maintenance(graph_db):
    """The maintenance run's rebuild by an admin who is no superuser (graph._label_rows'
    row-level security lets graph_admin delete)."""
    admin = "a_labels_unused"
    with connect(graph_db) as c:
        c.execute(f"DROP ROLE IF EXISTS {admin}")
        c.execute(f"CREATE ROLE {admin} LOGIN NOSUPERUSER IN ROLE graph_admin")
        c.execute(f"GRANT SELECT ON spots, links TO {admin}")
    try:
        with connect(graph_db) as c:
            assert {"k1", "k49", "k50", "link"} <= labels(c)
            c.execute("DELETE FROM links WHERE id < 50")
            apply(c)
            assert "k1" in labels(c)  # the overlay's '-' rows still hold them
            assert verify(c) == []
        with as_role(graph_db, admin) as a:
            a.execute("SET graph.edge_buffer_size = 60")  # 49 overlay rows: past half of it, a rebuild is due
            m = maintain(a)
            assert m["status"] == "succeeded" and m["rebuilt"], m
    finally:
        with connect(graph_db) as c:
            c.execute(f"DROP OWNED BY {admin}")
            c.execute(f"DROP ROLE {admin}")
    with connect(graph_db) as c:
        # k50's edge remains; 'link', the source's own label, stays whether used or not
        assert labels(c) == {"k50", "link"}
        assert verify(c) == []
        assert kinds(c, 50, ["k50"]) == [("51", "k50")]
        # the label comes back with a new number, as a label never seen would
        c.execute("INSERT INTO links VALUES (1, 1, 2, 'k1')")
        apply(c)
        assert kinds(c, 1, ["k1"]) == [("2", "k1")]
        assert verify(c) == []
        c.execute("SELECT graph.build()")
        assert labels(c) == {"k1", "k50", "link"}
        assert kinds(c, 1, ["k1"]) == [("2", "k1")]


@pytest.mark.parametrize("first", ["rebuild", "replay"])
def test_replay_of_a_label_a_concurrent_rebuild_drops(graph_db, first):
    """Label k7 is unused but not dropped yet when a writer uses it again.
    rebuild first: the rebuild (dropping k7) holds the state row; replay of the new
    use waits, then numbers k7 anew. replay first: replay holds the state row with
    the new use's overlay row numbered k7; the rebuild waits, then reads the link,
    and keeps k7."""
    with connect(graph_db) as c:
        c.execute("DELETE FROM links WHERE id = 7")
        apply(c)
    with connect(graph_db) as holder, connect(graph_db) as writer, connect(graph_db) as other, \
            connect(graph_db) as watch:
        holder.execute("BEGIN")
        if first == "rebuild":
            holder.execute("SELECT graph.build()")  # drops k7: no edge of the new base uses it
            assert "k7" not in {r[0] for r in holder.execute("SELECT label FROM graph._labels")}
        writer.execute("INSERT INTO links VALUES (7, 7, 8, 'k7')")  # committed (autocommit)
        if first == "replay":
            assert holder.execute("SELECT inserts FROM graph.apply_sync()").fetchone()[0] == 1
        call = "SELECT graph.apply_sync()" if first == "rebuild" else "SELECT graph.build()"
        done, failed = [], []

        def run():
            try:
                other.execute(call)
                done.append(True)
            except Exception as exc:  # reported by the main thread
                failed.append(exc)

        pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        holder_pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]
        thread = threading.Thread(target=run)
        thread.start()
        try:
            assert wait_until(lambda: blocked_by(watch, pid, holder_pid)), "no wait for the state row"
        finally:
            holder.execute("COMMIT")
            thread.join()
        assert not failed and done, failed
        assert "k7" in labels(watch)
        assert kinds(watch, 7, ["k7"]) == [("8", "k7")]
        assert verify(watch) == []
        watch.execute("SELECT graph.build()")
        assert kinds(watch, 7, ["k7"]) == [("8", "k7")]
        assert verify(watch) == []


# A read's steps, paused between loading its view and asking a label's name: a
# plpython3u block of the reads' own code (view.current, View.know_labels), as the
# role READER, waiting for an advisory lock the test holds meanwhile.
READ_PAUSED = """
DO LANGUAGE plpython3u $do$
plpy.execute("SELECT graph._import_package()")
from graphsync.reads import view
plpy.execute("SET ROLE %(reader)s")
v = view.current(plpy)
plpy.execute("SELECT pg_advisory_lock_shared(%(lock)s)")  # the rebuild commits meanwhile
plpy.execute("SELECT pg_advisory_unlock_shared(%(lock)s)")
try:
    v.know_labels(plpy, [%(label_id)s])
except view.Renumbered:
    plpy.notice("renumbered")
else:
    plpy.notice("told %%r" %% (v.labels,))
plpy.execute("RESET ROLE")
$do$
"""


def test_a_read_holding_the_base_before_the_rebuild_runs_again(graph_db):
    """A reader (no admin: told label names as it asks) loaded generation G with
    k3's edge; a rebuild that dropped k3 commits before it asks k3's name. Asked
    then, k3 is gone: the read must run again on the new base (Renumbered), not
    show the edge with no label."""
    reader = "r_labels_unused"
    lock = 4454401
    with connect(graph_db) as c:
        c.execute(f"DROP ROLE IF EXISTS {reader}")
        c.execute(f"CREATE ROLE {reader}")
        c.execute(f"GRANT SELECT ON spots, links TO {reader}")
        k3 = c.execute("SELECT label_id FROM graph._labels WHERE label = 'k3'").fetchone()[0]
    try:
        with connect(graph_db) as held, connect(graph_db) as read, connect(graph_db) as c:
            held.execute("SELECT pg_advisory_lock(%s)", [lock])
            said = []
            read.add_notice_handler(lambda d: said.append(d.message_primary))
            pid = read.execute("SELECT pg_backend_pid()").fetchone()[0]
            held_pid = held.execute("SELECT pg_backend_pid()").fetchone()[0]
            thread = threading.Thread(target=read.execute, args=(
                READ_PAUSED % {"reader": reader, "lock": lock, "label_id": k3},))
            thread.start()
            try:
                assert wait_until(lambda: blocked_by(c, pid, held_pid)), "the read did not wait"
                c.execute("DELETE FROM links WHERE id = 3")
                apply(c)
                c.execute("SELECT graph.build()")  # drops k3
                assert "k3" not in labels(c)
            finally:
                held.execute("SELECT pg_advisory_unlock(%s)", [lock])
                thread.join()
            assert said == ["renumbered"], said
    finally:
        with connect(graph_db) as c:
            c.execute(f"DROP OWNED BY {reader}")
            c.execute(f"DROP ROLE {reader}")
