"""graph.max_staleness: a read whose transaction wrote nothing reads the applied graph
as it is when every row committed max_staleness before the read is applied
(graph._sync_state.done_at, migration 414), and otherwise applies or folds as its
graph.query_freshness says. Real server, real roles, real concurrent connections;
the bound is measured against the server's clock, so the tests wait past it
rather than fake it."""

import time

import psycopg
import pytest

from conftest import apply, connect
from test_random_concurrency import READ_COUNTS
from test_reads_start import COUNTS, counts

READER, OWNER, ADMIN = "gs_stale_reader", "gs_stale_owner", "gs_stale_admin"

SCHEMA = f"""
DROP SCHEMA IF EXISTS st CASCADE;
CREATE SCHEMA st;
CREATE TABLE st.item (id int PRIMARY KEY, parent int REFERENCES st.item);
INSERT INTO st.item VALUES (1, NULL), (2, 1), (3, 1);
SELECT graph.add_table('st.item');
SELECT graph.add_edge('st.item', 'parent', 'st.item');
SELECT graph.build();
DROP ROLE IF EXISTS {READER};
CREATE ROLE {READER};
GRANT USAGE ON SCHEMA st TO {READER};
GRANT SELECT ON st.item TO {READER};
DO $$ BEGIN CREATE ROLE {OWNER}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE {ADMIN} IN ROLE graph_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA st TO {OWNER}, {ADMIN};
GRANT SELECT ON st.item TO {ADMIN};
ALTER TABLE st.item OWNER TO {OWNER};
"""

# The children of item 1 (the edges point from a child to its parent).
CHILDREN = ("SELECT node_id FROM graph.traverse('st.item', '1', max_depth => 1, direction => 'in')"
            " WHERE depth = 1 ORDER BY node_id::int")


def children(conn):
    return [r[0] for r in conn.execute(CHILDREN).fetchall()]


def state(conn):
    return conn.execute("SELECT done_at, target_at, last_apply_at FROM graph._sync_state").fetchone()


def age(conn, by):
    """Make the applied graph look ``by`` older (done_at moved back, as time passing would)."""
    conn.execute("UPDATE graph._sync_state SET done_at = done_at - %s::interval", (by,))


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


@pytest.fixture
def fresh(graph_db):
    """Items 1-3 applied, nothing pending; items added by the test removed after (and
    3's parent 1 again)."""
    with connect(graph_db) as c:
        c.execute("DELETE FROM st.item WHERE id > 3")
        apply(c)
    yield graph_db
    with connect(graph_db) as c:
        c.execute("DELETE FROM st.item WHERE id > 3")
        c.execute("UPDATE st.item SET parent = 1 WHERE id = 3 AND parent <> 1")
        apply(c)


def test_a_recent_applied_graph_is_read_as_it_is_and_an_older_one_is_caught_up(fresh):
    """Within the bound a read neither applies nor folds the row committed since the
    last apply (START alone, at rest); past it, the read is as fresh as without the
    setting; RESET, a read sees every committed row as before. (The graph is made
    older than the bound by moving done_at back, not by waiting: a bound of an hour
    that no slow machine crosses by accident.)"""
    with connect(fresh) as writer, connect(fresh) as reader:
        reader.execute(f"SET ROLE {READER}")
        reader.execute("SET graph.max_staleness = '1 hour'")
        assert children(reader) == ["2", "3"]
        apply(writer)  # done_at: now
        writer.execute("INSERT INTO st.item VALUES (4, 1)")
        reader.execute("RESET ROLE")
        reader.execute(COUNTS)
        reader.execute(f"SET ROLE {READER}")
        before = counts(reader)
        assert children(reader) == ["2", "3"]  # the applied graph, item 4 not applied yet
        after = counts(reader)
        assert after["start_quiet"] - before["start_quiet"] == 1
        assert after["statements"] - before["statements"] == 1  # START, nothing else
        assert after["start_applied"] == before["start_applied"]
        assert writer.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (1,)
        age(writer, "61 minutes")  # the applied graph is now older than the bound
        assert children(reader) == ["2", "3", "4"]
        apply(writer)
        writer.execute("INSERT INTO st.item VALUES (5, 1)")
        assert children(reader) == ["2", "3", "4"]
        reader.execute("RESET graph.max_staleness")
        assert children(reader) == ["2", "3", "4", "5"]


def test_a_read_past_the_bound_is_caught_up_though_nothing_ended_since_the_last_read(fresh):
    """Within the bound a read at rest takes the applied graph as it is: an answer that
    time alone ends. Reads at rest in one snapshot take the last START_QUIET's answer
    (reads/start.py, START_SAME), but never one given for a recent apply: the first read
    past the bound, in the very snapshot of the reads before it (nothing committed
    since), shows the row committed since the apply."""
    with connect(fresh) as writer, connect(fresh) as reader:
        reader.execute(f"SET ROLE {READER}")
        reader.execute("SET graph.max_staleness = '3 seconds'")
        apply(writer)  # done_at: now
        applied = time.monotonic()
        writer.execute("INSERT INTO st.item VALUES (4, 1)")
        for _ in range(4):
            assert children(reader) == ["2", "3"]
        assert time.monotonic() - applied < 3
        time.sleep(max(0.0, 3.5 - (time.monotonic() - applied)))
        assert children(reader) == ["2", "3", "4"]


def test_a_transaction_that_wrote_sees_its_own_rows_whatever_the_bound(fresh):
    with connect(fresh) as c:
        apply(c)
        c.execute("SET graph.max_staleness = '1 hour'")
        with c.transaction():
            c.execute("INSERT INTO st.item VALUES (6, 1)")
            assert children(c) == ["2", "3", "6"]
        assert children(c) == ["2", "3"]  # committed now, within the bound: not applied yet
        c.execute("RESET graph.max_staleness")
        assert children(c) == ["2", "3", "6"]


def test_a_pass_finished_by_a_later_call_counts_from_when_it_began(fresh):
    """A pass that apply_sync(max_batches => 1) began and a later call finished holds
    the rows committed before its snapshot, not those committed before the call that
    finished it: done_at is the time the pass began (target_at, saved with it), and a
    row committed in between is still read past a bound that the finishing call's time
    would have met."""
    with connect(fresh) as admin, connect(fresh) as reader:
        admin.execute("INSERT INTO st.item VALUES (7, 1), (8, 1), (9, 1)")
        admin.execute("SET graph.sync_batch_size = 1")
        with admin.transaction():
            began = admin.execute("SELECT now()").fetchone()[0]
            assert admin.execute("SELECT batches FROM graph.apply_sync(max_batches => 1)").fetchone() == (1,)
        done_at, target_at, _ = state(admin)
        assert target_at == began and done_at < began
        admin.execute("INSERT INTO st.item VALUES (10, 1)")  # after the pass's snapshot
        time.sleep(1.5)
        admin.execute("SELECT * FROM graph.apply_sync(max_batches => 5)")  # finishes the pass, begins none
        done_at, target_at, last_apply_at = state(admin)
        assert (done_at, target_at) == (began, None) and last_apply_at > began
        assert admin.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (1,)
        reader.execute("SET graph.max_staleness = '1 second'")
        assert children(reader) == ["2", "3", "7", "8", "9", "10"]
        admin.execute("RESET graph.sync_batch_size")


def test_a_build_is_as_recent_as_its_transaction(fresh):
    with connect(fresh) as c:
        with c.transaction():
            began = c.execute("SELECT now()").fetchone()[0]
            c.execute("SELECT graph.build()")
        assert state(c)[:2] == (began, None)
        c.execute("INSERT INTO st.item VALUES (11, 1)")
        c.execute("SET graph.max_staleness = '1 hour'")
        assert children(c) == ["2", "3"]
        c.execute("SET graph.max_staleness = '0'")
        assert children(c) == ["2", "3", "11"]


def test_an_unknown_applied_time_is_never_recent(fresh):
    """After the upgrade that added done_at (NULL until the next apply or build) a read
    cannot tell how old the applied graph is: it catches up as without the setting."""
    with connect(fresh) as c:
        c.execute("INSERT INTO st.item VALUES (12, 1)")
        c.execute("UPDATE graph._sync_state SET done_at = NULL")
        c.execute("SET graph.max_staleness = '1 day'")
        assert children(c) == ["2", "3", "12"]


def test_a_bad_bound_is_refused_by_the_read_that_meets_it(fresh):
    with connect(fresh) as c:
        c.execute("SET graph.max_staleness = 'soon'")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="graph.max_staleness must be an interval"):
            children(c)
        c.execute("SET graph.max_staleness = '-5 minutes'")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="not '-5 minutes'"):
            children(c)
        c.execute("SET graph.max_staleness = ''")
        assert children(c) == ["2", "3"]


def test_the_bounds_a_backend_found_valid_are_kept_up_to_a_few(fresh):
    """START checks a bound once per distinct text; a session that sets many keeps
    at most STALENESS_KEPT of them (the backend's memory), and still reads."""
    with connect(fresh) as c:
        c.execute("""CREATE FUNCTION pg_temp.kept() RETURNS int LANGUAGE plpython3u AS $$
                     import sys
                     return len(sys.modules["graphsync.reads.start"]._staleness_ok) $$""")
        for i in range(200):
            c.execute("SELECT set_config('graph.max_staleness', %s, false)", ("%d seconds" % (i + 1),))
            assert children(c) == ["2", "3"]
        kept = c.execute("SELECT pg_temp.kept()").fetchone()[0]
        c.execute("""CREATE FUNCTION pg_temp.limit() RETURNS int LANGUAGE plpython3u AS $$
                     import sys
                     return sys.modules["graphsync.reads.start"].STALENESS_KEPT $$""")
        limit = c.execute("SELECT pg_temp.limit()").fetchone()[0]
        assert 2 < kept <= limit + 2 < 200


def test_scheduled_maintenance_dates_the_graph_it_applies(fresh):
    """The README's setup with maintenance alone (every minute, a bound of two): each
    run applies, and dates the applied graph by its transaction's start."""
    with connect(fresh) as c:
        c.execute("INSERT INTO st.item VALUES (13, 1)")
        with c.transaction():
            began = c.execute("SELECT now()").fetchone()[0]
            assert c.execute("SELECT rows_applied FROM graph.run_scheduled_maintenance()").fetchone() == (1,)
        assert state(c)[0] == began
        c.execute("INSERT INTO st.item VALUES (14, 1)")
        c.execute("SET graph.max_staleness = '2 minutes'")
        assert children(c) == ["2", "3", "13"]


def test_error_on_pending_errs_only_past_the_bound(fresh):
    """'error_on_pending' with a bound: rows pending within it are the staleness the
    caller accepted (the applied graph, no error); past it, 55000 as without one."""
    with connect(fresh) as c:
        apply(c)
        c.execute("INSERT INTO st.item VALUES (15, 1)")
        c.execute("SET graph.query_freshness = 'error_on_pending'")
        c.execute("SET graph.max_staleness = '1 hour'")
        assert children(c) == ["2", "3"]
        age(c, "2 hours")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="not applied yet"):
            children(c)


def test_an_apply_in_an_older_imported_snapshot_dates_nothing(fresh):
    """Under REPEATABLE READ an apply's pass takes the transaction's snapshot, which SET
    TRANSACTION SNAPSHOT may bring from a transaction that began long before this one:
    dated by this transaction's start, the graph would look more recent than it is, and a
    bounded read would leave out a row committed well before its bound. Such an apply
    dates nothing (done_at NULL): the next bounded read catches up."""
    with connect(fresh) as old, connect(fresh) as w, connect(fresh) as admin, connect(fresh) as reader:
        old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snapshot = old.execute("SELECT pg_export_snapshot()").fetchone()[0]
        w.execute("INSERT INTO st.item VALUES (16, 1)")
        time.sleep(1.5)
        with admin.transaction():
            admin.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            admin.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            assert admin.execute("SELECT inserts FROM graph.apply_sync()").fetchone() == (0,)  # 16: not in it
        old.execute("ROLLBACK")
        assert state(admin)[0] is None
        reader.execute("SET graph.max_staleness = '1 second'")
        assert children(reader) == ["2", "3", "16"]
        apply(admin)  # READ COMMITTED: dated again
        assert state(admin)[0] is not None


# A read whose START and apply run in the caller's own settings (graph.traverse's pin
# DateStyle and TimeZone; graph.shortest_path's do not).
PATH = "SELECT count(*) FROM graph.shortest_path('st.item', '2', 'st.item', '1')"


ROLES = [READER, OWNER, ADMIN]
ROLE_IDS = ["plain_reader", "table_owner", "graph_admin"]


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("kept", [False, True], ids=["its_own_moment", "its_kept_views_snapshot"])
def test_a_readers_date_settings_never_date_the_applied_graph_later(fresh, kept, role):
    """The apply a read runs dates the snapshot it applied (done_at), which every read
    bounded by graph.max_staleness trusts. The time went through Python as text,
    rendered and read back in the reader's own settings: DateStyle SQL writes a time
    zone's abbreviation, and TimeZone 'EST-10' (POSIX: ten hours east, abbreviated EST)
    renders a time ten hours on as "EST", which reads back as US Eastern, five hours
    west: the graph was dated fifteen hours late, and bounded reads took it for recent
    and left out the rows committed since. The time is the apply's own moment's (NOW)
    or, when the reader keeps a folded view, that view's snapshot's, as its START wrote
    it (db.read_bound: the apply stops there). The same for a plain reader, the table's
    owner and a graph_admin member that is no superuser."""
    with connect(fresh) as admin, connect(fresh) as w, connect(fresh) as reader:
        reader.execute(READ_COUNTS)  # pg_temp.bounded_passes()
        reader.execute(f"SET ROLE {role}")
        reader.execute("SET datestyle = 'SQL, MDY'")
        reader.execute("SET timezone = 'EST-10'")
        reader.execute(PATH)  # (nothing pending)
        before = admin.execute("SELECT clock_timestamp()").fetchone()[0]
        if kept:  # the reader folds a row and keeps the view (the last apply is recent)
            w.execute("UPDATE st.item SET parent = 2 WHERE id = 3")
            admin.execute("UPDATE graph._sync_state SET last_apply_at = now()")
            reader.execute(PATH)
        w.execute("INSERT INTO st.item VALUES (18, 2)")
        admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
        passes = reader.execute("SELECT pg_temp.bounded_passes()").fetchone()[0]
        reader.execute(PATH)  # applies
        taken = admin.execute("SELECT clock_timestamp()").fetchone()[0]
        assert reader.execute("SELECT pg_temp.bounded_passes()").fetchone()[0] == passes + kept
        assert before <= state(admin)[0] <= taken
        assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == kept  # (18: after the view)
        reader.execute("SET graph.max_staleness = '1 hour'")
        assert children(reader) == (["2"] if kept else ["2", "3"])


def test_hostile_date_settings_of_the_tables_owner_and_an_admin_never_misdate_an_apply(fresh):
    """The table's owner writes, and tries to apply, and a graph_admin member that is no
    superuser applies, each in DateStyle SQL and TimeZone 'EST-10': the owner may not
    apply (42501), and the admin's apply dates the graph by the server's clock."""
    with connect(fresh) as admin, connect(fresh) as owner, connect(fresh) as member:
        for c, role in ((owner, OWNER), (member, ADMIN)):
            c.execute(f"SET ROLE {role}")
            c.execute("SET datestyle = 'SQL, MDY'")
            c.execute("SET timezone = 'EST-10'")
        owner.execute("INSERT INTO st.item VALUES (19, 1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("SELECT graph.apply_sync()")
        before = admin.execute("SELECT clock_timestamp()").fetchone()[0]
        assert member.execute("SELECT inserts FROM graph.apply_sync()").fetchone() == (1,)
        taken = admin.execute("SELECT clock_timestamp()").fetchone()[0]
        assert before <= state(admin)[0] <= taken
        member.execute("SET graph.max_staleness = '1 hour'")
        assert children(member) == ["2", "3", "19"]
