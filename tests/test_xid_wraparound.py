"""The 32-bit transaction counter wrapping around into a new epoch in the middle of
graphsync's work.

PostgreSQL numbers transactions with a 32-bit counter and an epoch (an xid8 is
epoch << 32 | xid). The log keeps each row's 64-bit xid (txid_current()); pg_locks,
pg_stat_activity's backend_xid and a row version's xmin carry the 32 bits alone.
Where graphsync reads one beside the other (sync/apply.py's passes and the reads'
START through db.RUNNING and db.NAMED, db.complete_snapshot's fresh xid, the
pending rows by xid) a value taken before the wrap is compared with one taken
after it. The tests' server runs in epoch 1 (tools/pgcluster.py, XID_EPOCH), where
a 32-bit xid read as a 64-bit one fails any test that meets it, but it would need
some four billion transactions to reach the next epoch. So this module runs a
cluster of its own and moves its counter to a few thousand transactions before the
wrap for each test (tools/pgcluster.py, move_xid_counter), every row frozen first:
a row version written before the jump would otherwise look as if it were written in
the future, and vanish."""

from __future__ import annotations

import tempfile

import psycopg
import pytest

import install
from conftest import ROOT, apply, connect, pending_count, pgcluster, skip_without_server_binaries, verify
from test_random_concurrency import READ_COUNTS

pytestmark = pytest.mark.local_only(reason="moves the transaction counter of a cluster of its own (pg_resetwal)")

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()
EPOCH = 1 << 32
# Transactions a test may run before its counter wraps: the jump leaves this many.
BEFORE_WRAP = 3000


class Cluster:
    """A throwaway cluster whose transaction counter can be moved (``near_wrap``)."""

    def __init__(self, directory: str):
        self.directory = directory
        pgcluster.start(directory)
        self.dsn = pgcluster.dsn_for(directory, "wrap")
        with connect(pgcluster.dsn_for(directory)) as c:
            c.execute("CREATE DATABASE wrap")

    def _databases(self) -> list[str]:
        with connect(pgcluster.dsn_for(self.directory)) as c:
            return [r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datallowconn")]

    def _vacuum(self, freeze: bool) -> None:
        for name in self._databases():
            with connect(pgcluster.dsn_for(self.directory, name)) as c:
                c.execute("VACUUM (FREEZE)" if freeze else "VACUUM")

    def near_wrap(self, before: int) -> int:
        """Move the counter to ``before`` transactions short of the next epoch; the
        first xid8 of that epoch. Every row version is frozen first, and after the
        restart every table's relfrozenxid, now ahead of the counter, is set right by
        a VACUUM (which warns about them)."""
        self._vacuum(freeze=True)
        with connect(self.dsn) as c:
            epoch = c.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0] // EPOCH
        pgcluster.stop(self.directory, remove=False)
        pgcluster.move_xid_counter(self.directory, epoch, EPOCH - before)
        pgcluster.restart(self.directory)
        self._vacuum(freeze=False)
        with connect(self.dsn) as c:
            now = c.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        assert 0 < (epoch + 1) * EPOCH - now <= before
        return (epoch + 1) * EPOCH

    def stop(self) -> None:
        pgcluster.stop(self.directory)


@pytest.fixture(scope="module")
def cluster():
    skip_without_server_binaries()
    c = Cluster(tempfile.mkdtemp(prefix="graphsync-wraptest-"))
    try:
        with connect(c.dsn) as conn:
            install.install(conn)
            conn.execute(SCHEMA)
            conn.execute("CREATE UNLOGGED TABLE public.burn (i int)")
            conn.execute("INSERT INTO app.workspaces VALUES (1, 'acme')")
            conn.execute("INSERT INTO app.companies SELECT g, 1, 'co' || g FROM generate_series(1, 5) g")
            conn.execute("INSERT INTO app.contacts SELECT g, 1, 'c' || g, NULL, 1 + g % 5"
                         " FROM generate_series(1, 50) g")
            conn.execute(REGISTER)
            conn.execute("SELECT graph.build()")
        yield c
    finally:
        c.stop()


def burn_past(conn, xid8: int, beyond: int = 50) -> None:
    """Use up transaction ids until the next one is ``beyond`` past ``xid8`` (short
    of it when negative): a subtransaction that writes takes one each."""
    now = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
    conn.execute("""DO $$ BEGIN FOR i IN 1..%s LOOP
                        BEGIN INSERT INTO public.burn VALUES (i); EXCEPTION WHEN division_by_zero THEN END;
                    END LOOP; END $$""" % int(xid8 + beyond - now))
    assert conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0] >= xid8 + beyond


def log_xid(conn, table: str, key: int) -> int:
    return conn.execute("SELECT xid FROM graph._sync_log WHERE table_oid = %s::regclass AND new_pk = %s",
                        (table, str(key))).fetchone()[0]


def contacts_of(conn, company: int) -> set[str]:
    """The contacts a read finds working at ``company`` (the read folds or applies
    what is pending first, graph.query_freshness's default)."""
    return {r[0] for r in conn.execute(
        "SELECT node_id FROM graph.traverse('app.companies', %s, max_depth => 1, direction => 'in')"
        " WHERE depth = 1", (str(company),))}


def test_a_write_from_before_the_wrap_committed_after_rows_of_the_new_epoch_were_applied(cluster):
    """A writes before the wrap and commits after B, who wrote after it, was read and
    applied: A's row, its xid 32 bits short of B's epoch, is still pending for the
    reads and for replay, and is applied once."""
    wrap = cluster.near_wrap(BEFORE_WRAP)
    with connect(cluster.dsn) as a, connect(cluster.dsn) as b, connect(cluster.dsn) as reader, \
            connect(cluster.dsn) as admin:
        apply(admin)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies: applies are admin's
        a.execute("BEGIN")
        a.execute("INSERT INTO app.contacts VALUES (1001, 1, 'before the wrap', NULL, 2)")
        burn_past(admin, wrap)
        b.execute("INSERT INTO app.contacts VALUES (1002, 1, 'after the wrap', NULL, 2)")
        assert "1002" in contacts_of(reader, 2) and "1001" not in contacts_of(reader, 2)
        assert apply(admin)["inserts"] == 1
        a.execute("COMMIT")
        assert log_xid(admin, "app.contacts", 1001) < wrap <= log_xid(admin, "app.contacts", 1002)
        assert {"1001", "1002"} <= contacts_of(reader, 2)
        assert pending_count(admin) == 1
        assert apply(admin)["inserts"] == 1
        assert pending_count(admin) == 0
        assert verify(admin) == []
        # ... and the graph goes on: a change after all this is read and applied
        b.execute("UPDATE app.contacts SET company_id = 3 WHERE id = 1001")
        assert "1001" in contacts_of(reader, 3) and "1001" not in contacts_of(reader, 2)
        assert apply(admin)["updates"] == 1
        assert verify(admin) == []


@pytest.mark.parametrize("run", ["apply_sync", "read"])
def test_an_apply_in_a_transaction_whose_xid_precedes_the_wrap(cluster, run):
    """A transaction whose xid was assigned before the wrap applies (by apply_sync(),
    or by a read that applies) after it: the fresh xid it takes for the replay
    cursor (a subtransaction's, its 32 bits from the new epoch) is placed in the
    new epoch, not 4 billion transactions back; the rows committed around it, and
    its own, reach the graph once."""
    k = {"apply_sync": 2001, "read": 3001}[run]
    wrap = cluster.near_wrap(BEFORE_WRAP)
    with connect(cluster.dsn) as a, connect(cluster.dsn) as w, connect(cluster.dsn) as admin:
        apply(admin)
        a.execute("BEGIN")
        a.execute("INSERT INTO app.contacts VALUES (%s, 1, 'its own row', NULL, 4)", (k,))
        w.execute("BEGIN")
        w.execute("INSERT INTO app.contacts VALUES (%s, 1, 'still running at the wrap', NULL, 4)", (k + 1,))
        burn_past(admin, wrap)
        admin.execute("INSERT INTO app.contacts VALUES (%s, 1, 'after the wrap', NULL, 4)", (k + 2,))
        if run == "apply_sync":
            a.execute("SELECT * FROM graph.apply_sync()")
        else:
            a.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
            assert str(k + 2) in contacts_of(a, 4)
        w.execute("COMMIT")
        a.execute("COMMIT")
        assert log_xid(admin, "app.contacts", k) < wrap <= log_xid(admin, "app.contacts", k + 2)
        keys = [str(k + i) for i in range(3)]
        assert set(keys) <= contacts_of(admin, 4)
        apply(admin)
        assert pending_count(admin) == 0
        assert verify(admin) == []
        assert admin.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'app.contacts'::regclass"
                             " AND pk = ANY (%s) AND alive", (keys,)).fetchone()[0] == 3


def test_a_transaction_running_across_the_wrap_above_a_kept_views_snapshot(cluster):
    """A reader folds a row and keeps its view, its snapshot taken before the wrap;
    T then takes an xid above that snapshot's xmax and runs across the wrap. The
    reader's next read applies up to its kept view's snapshot (db.read_bound), and
    the replay cursor it leaves names in its xip every transaction between that
    snapshot and a fresh xid of the new epoch that can hold a log row (db.NAMED:
    T's xid is running, and pg_locks and pg_stat_activity give it in 32 bits): T's
    row, committed after, is pending, read, and applied once."""
    wrap = cluster.near_wrap(BEFORE_WRAP)
    with connect(cluster.dsn) as admin, connect(cluster.dsn) as t, connect(cluster.dsn) as u, \
            connect(cluster.dsn) as reader:
        apply(admin)
        reader.execute(READ_COUNTS)  # pg_temp.bounded_passes()
        contacts_of(reader, 5)
        burn_past(admin, wrap, -100)  # a read applies up to a snapshot at most READ_BOUND_XIDS old
        # an edge between base nodes: the view that folds it may be kept across an apply
        u.execute("UPDATE app.contacts SET company_id = 5 WHERE id = 7")
        admin.execute("UPDATE graph._sync_state SET last_apply_at = now()")  # the next read folds
        assert "7" in contacts_of(reader, 5)  # folded (the last apply under a second ago)
        t.execute("BEGIN")
        t.execute("INSERT INTO app.contacts VALUES (4002, 1, 'runs across the wrap', NULL, 5)")
        burn_past(admin, wrap)
        admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
        passes = reader.execute("SELECT pg_temp.bounded_passes()").fetchone()[0]
        read = contacts_of(reader, 5)  # applies, up to the kept view's snapshot: T runs
        assert "7" in read and "4002" not in read
        assert reader.execute("SELECT pg_temp.bounded_passes()").fetchone()[0] == passes + 1
        t.execute("COMMIT")
        assert log_xid(admin, "app.contacts", 4002) < wrap
        assert admin.execute("SELECT pg_snapshot_xmax(done_snapshot)::text::bigint FROM graph._sync_state"
                             ).fetchone()[0] > wrap
        assert pending_count(admin) == 1
        assert "4002" in contacts_of(reader, 5)
        assert apply(admin)["inserts"] == 1
        assert verify(admin) == []


def test_an_enum_labelled_an_epoch_half_ago_can_still_be_altered(cluster):
    """graph._refuse_enum_relabel (graph._follow_ddl, on every ALTER TYPE) told the
    pg_enum rows of its own transaction by their 32-bit xmin, placed in the epoch
    of its own xid when less than 2^31 ahead of it, and asked pg_xact_status about
    that xid8. A row version keeps its 32-bit xmin when frozen, so a label written
    more than 2^31 transactions before (half of every epoch, on a server that has
    run for long) looked written after the transaction's xid, in the future, and
    pg_xact_status raised 22023: every role's ALTER TYPE of such an enum failed,
    ADD VALUE too, registered or not. Now: ADD VALUE goes through; a relabel of an
    enum a registered table renders is still refused (55000)."""
    with connect(cluster.dsn) as c:
        c.execute("CREATE TYPE public.wrap_free AS ENUM ('f1', 'f2')")
        c.execute("CREATE TYPE public.wrap_code AS ENUM ('a', 'b')")
        c.execute("CREATE TABLE public.wrap_t (k public.wrap_code PRIMARY KEY)")
        c.execute("INSERT INTO public.wrap_t VALUES ('a')")
        c.execute("SELECT graph.add_table('public.wrap_t')")
        labelled = c.execute("SELECT max(xmin::text::bigint) FROM pg_enum"
                             " WHERE enumtypid IN ('public.wrap_free'::regtype, 'public.wrap_code'::regtype)"
                             ).fetchone()[0]
    wrap = cluster.near_wrap(BEFORE_WRAP)
    with connect(cluster.dsn) as c:
        now = c.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        # the labels' 32-bit xmin, read from the counter's 32 bits, is less than 2^31 ahead
        assert 0 < (labelled - now) % EPOCH < 1 << 31 and now < wrap
        c.execute("ALTER TYPE public.wrap_free ADD VALUE 'f3'")
        c.execute("ALTER TYPE public.wrap_code ADD VALUE 'c'")
        assert [r[0] for r in c.execute("SELECT unnest(enum_range(NULL::public.wrap_free))::text")] == [
            "f1", "f2", "f3"]
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            c.execute("ALTER TYPE public.wrap_code RENAME VALUE 'a' TO 'z'")
        c.execute("ALTER TYPE public.wrap_free RENAME VALUE 'f1' TO 'f0'")  # no registered table renders it
        c.execute("SELECT graph.remove_table('public.wrap_t')")
        c.execute("DROP TABLE public.wrap_t; DROP TYPE public.wrap_code; DROP TYPE public.wrap_free")
