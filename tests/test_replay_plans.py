"""Replay's bookkeeping and plans on a real server: the kept overlay count
(graph._sync_state.overlay_count, migration 095), plans that do not follow a
misleading ANALYZE of the graph tables taken while an apply is under way, and the
log rows replay, the pending counts and a column rename read while a transaction
holds an xid open (counted, not timed)."""

import psycopg
import pytest

from conftest import ROOT, apply, connect, rows_read, verify

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()

COUNTS = """SELECT (SELECT overlay_count FROM graph._sync_state), (SELECT count(*) FROM graph._edge_overlay)"""


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 20) g")
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
    return db


def kept_and_counted(c):
    kept, counted = c.execute(COUNTS).fetchone()
    assert kept == counted
    return kept


def write_contacts(c, lo, hi):
    c.execute("""INSERT INTO app.contacts SELECT g, 1 + g %% 2, 'c' || g, NULL, 1 + g %% 20
                 FROM generate_series(%s::int, %s::int) g""", (lo, hi))


def reads(c, statement, params=None):
    """(the rows ``statement`` returns, the log rows it reads), in a transaction rolled back after."""
    with c.transaction(force_rollback=True):
        before = rows_read(c, "graph._sync_log")
        rows = c.execute(statement, params).fetchall()
        return rows, rows_read(c, "graph._sync_log") - before


APPLY = "SELECT inserts FROM graph.apply_sync()"


def test_overlay_count_follows_apply_build_truncate_and_rollback(app):
    with connect(app) as c:
        assert kept_and_counted(c) == 0
        write_contacts(c, 1, 50)
        apply(c)
        assert kept_and_counted(c) == 50  # contact -> company
        # A rolled back apply rolls its count back with its rows.
        write_contacts(c, 51, 60)
        with c.transaction(force_rollback=True):
            apply(c)
            assert kept_and_counted(c) == 60
        assert kept_and_counted(c) == 50
        # A TRUNCATE cuts edges but adds no overlay row; the rows after it do.
        c.execute("TRUNCATE app.relations")
        c.execute("UPDATE app.contacts SET company_id = 7 WHERE id <= 5")
        apply(c)
        assert kept_and_counted(c) == 50 + 10 + 10  # the 10 rolled back, 5 moves (- and +)
        c.execute("SELECT graph.build()")
        assert kept_and_counted(c) == 0
        assert verify(c) == []


def test_an_edge_added_and_removed_in_one_batch_writes_no_overlay_row(app):
    with connect(app) as c:
        before = kept_and_counted(c)
        write_contacts(c, 501, 510)  # each works at a company
        c.execute("UPDATE app.contacts SET company_id = NULL WHERE id BETWEEN 501 AND 504")
        c.execute("UPDATE app.contacts SET company_id = 3 WHERE id = 505")
        c.execute("DELETE FROM app.contacts WHERE id BETWEEN 506 AND 508")
        c.execute("INSERT INTO app.relations (source_id, target_id, type) VALUES (509, 510, 'knows')")
        c.execute("DELETE FROM app.relations WHERE source_id = 509")
        apply(c)
        # Left: 505's new edge, 509's and 510's (the relation went again); the dead contacts are tombstones.
        assert kept_and_counted(c) == before + 3
        assert c.execute("""SELECT count(*) FROM graph._node_rows AS n JOIN pg_class AS t ON t.oid = n.table_oid
                            WHERE t.relname = 'contacts' AND n.pk IN ('506', '507', '508')
                                  AND NOT n.alive""").fetchone()[0] == 3
        assert verify(c) == []


def test_an_update_that_leaves_a_node_as_it_was_does_not_write_it(app):
    """An update of edge columns only changes edges: the node keeps its row version
    and its change_id; an update of a property still writes it (a new row version,
    the same change_id: see the next test)."""
    node = """SELECT n.ctid::text, n.change_id FROM graph._node_rows AS n
              WHERE n.table_oid = 'app.contacts'::regclass AND n.pk = %s"""
    company = node.replace("app.contacts", "app.companies")
    with connect(app) as c:
        write_contacts(c, 701, 703)
        apply(c)
        before = {pk: c.execute(node, (pk,)).fetchone() for pk in ("701", "702", "703")}
        target = c.execute(company, ("9",)).fetchone()
        edges = kept_and_counted(c)
        c.execute("UPDATE app.contacts SET company_id = 9 WHERE id IN (701, 702)")
        c.execute("UPDATE app.contacts SET name = 'renamed' WHERE id IN (702, 703)")
        result = apply(c)
        assert result["updates"] == 4 and result["failed"] == 0
        after = {pk: c.execute(node, (pk,)).fetchone() for pk in ("701", "702", "703")}
        assert after["701"] == before["701"]
        # A node only an edge names (the company the contacts moved to) is not written either.
        assert c.execute(company, ("9",)).fetchone() == target
        assert after["702"][0] != before["702"][0] and after["703"][0] != before["703"][0]
        assert after["702"][1] == before["702"][1] and after["703"][1] == before["703"][1]
        assert kept_and_counted(c) == edges + 4  # two edges moved
        assert verify(c) == []


def test_a_node_that_stays_alive_is_updated_in_place(app):
    """A node whose properties change and that stays alive keeps its change_id and its
    touched flag (reads keep alive flags and tables only: reads/view.py), so replay
    changes no indexed column of graph._node_rows, and the new row version is a HOT
    update where its page has room (fillfactor, migration 439): no index entries.
    A node that dies takes a new change_id and is a touched tombstone."""
    nodes = """SELECT n.pk, n.change_id, n.touched, n.alive FROM graph._node_rows AS n
               WHERE n.table_oid = 'app.contacts'::regclass AND n.pk IN ('651', '652', '653', '654', '655')"""
    with connect(app) as c:
        write_contacts(c, 651, 655)
        apply(c)
        c.execute("SELECT graph.build()")  # base nodes: not touched, no change_id
        before = {r[0]: r[1:] for r in c.execute(nodes)}
        assert before == dict.fromkeys(before, (None, False, True)) and len(before) == 5
        c.execute("UPDATE app.contacts SET name = name || '*' WHERE id BETWEEN 651 AND 654")
        c.execute("DELETE FROM app.contacts WHERE id = 655")
        with c.transaction():  # the statistics of this transaction alone
            result = apply(c)
            updated, hot = c.execute("""SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
                                        WHERE relid = 'graph._node_rows'::regclass""").fetchone()
        assert result["updates"] == 4 and result["deletes"] == 1 and result["failed"] == 0
        assert hot >= 4, (updated, hot)  # the four contacts' new versions (before: none was HOT)
        after = {r[0]: r[1:] for r in c.execute(nodes)}
        assert {pk: after[pk] for pk in ("651", "652", "653", "654")} == dict.fromkeys(
            ("651", "652", "653", "654"), (None, False, True))
        assert after["655"][0] is not None and after["655"][1:] == (True, False)
        assert c.execute("""SELECT properties->>'name' FROM graph._node_rows
                            WHERE table_oid = 'app.contacts'::regclass AND pk = '651'""").fetchone()[0] == "c651*"
        assert verify(c) == []


def test_the_tombstone_count_reads_an_index_of_tombstones_only(app):
    """graph._nodes indexes the tombstones (migration 220), not every touched node:
    a node replay writes alive takes no entry, the count reads the index."""
    with connect(app) as c:
        write_contacts(c, 601, 620)
        c.execute("DELETE FROM app.contacts WHERE id BETWEEN 601 AND 605")
        apply(c)
        assert c.execute("""SELECT indexdef FROM pg_indexes WHERE schemaname = 'graph' AND tablename = '_node_rows'
                            AND indexdef LIKE '%WHERE%touched%'""").fetchall() == [
            ("CREATE INDEX _nodes_tombstone_idx ON graph._node_rows USING btree (node_id)"
             " WHERE (touched AND (NOT alive))",)]
        with c.transaction(force_rollback=True):
            c.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in c.execute(
                "EXPLAIN SELECT count(*) FROM graph._node_rows AS n WHERE n.touched AND NOT n.alive"))
            assert "_nodes_tombstone_idx" in plan
            tombstones = c.execute("SELECT count(*) FROM graph._nodes WHERE touched AND NOT alive").fetchone()[0]
            c.execute("SET LOCAL enable_indexscan = off")
            c.execute("SET LOCAL enable_bitmapscan = off")
            c.execute("SET LOCAL enable_indexonlyscan = off")
            c.execute("SET LOCAL enable_seqscan = on")
            assert c.execute("SELECT count(*) FROM graph._nodes WHERE touched AND NOT alive").fetchone()[0] \
                == tombstones >= 5
        assert verify(c) == []


def test_overlay_count_after_failed_rows_and_a_full_edge_buffer(app):
    with connect(app) as c:
        c.execute("SELECT graph.build()")
        # A batch whose last row cannot be applied: the batch rolls back (its edges
        # too) and is retried row by row; the count stays that of the rows written.
        write_contacts(c, 101, 110)
        c.execute("""INSERT INTO graph._sync_log (op, table_oid, table_name, new_pk)
                     VALUES ('I', 'app.contacts'::regclass, 'app.contacts', '999999')""")
        c.execute("SET graph.sync_error_policy = 'skip'")
        result = apply(c)
        assert result["failed"] == 1
        assert kept_and_counted(c) == 10
        c.execute("SELECT graph.build()")
        # The buffer fills in the middle of a batch: nothing of that batch stays.
        c.execute("SET graph.edge_buffer_size = 25")
        c.execute("SET graph.sync_batch_size = 4")
        write_contacts(c, 201, 230)
        c.execute("SELECT graph._apply_for_read()")  # a read's apply: it never rebuilds
        assert c.execute("SELECT read_only_reason FROM graph._sync_state").fetchone() == ("edge_buffer_full",)
        assert kept_and_counted(c) == 24  # 6 batches of 4 edges fit, the 7th does not
        c.execute("RESET graph.edge_buffer_size")
        c.execute("SELECT graph.build()")
        assert kept_and_counted(c) == 0
        write_contacts(c, 231, 232)
        apply(c)
        assert kept_and_counted(c) == 2
        c.execute("SELECT graph.retry_failed()")
        assert kept_and_counted(c) == 2


def test_an_analyze_in_the_middle_of_an_apply_does_not_turn_lookups_into_scans(app):
    """An ANALYZE from another session while an apply has written many uncommitted
    nodes records graph._nodes as almost empty in many pages. The rest of the apply
    must still find nodes by index, not scan graph._nodes for every batch."""
    with connect(app) as c, connect(app) as other:
        c.execute("SELECT graph.build()")
        c.execute("SET graph.sync_batch_size = 5000")
        write_contacts(c, 1000, 30999)  # 30,000 log rows
        c.execute("UPDATE app.contacts SET name = name || '*' WHERE id >= 1000")
        with c.transaction(force_rollback=True):
            c.execute("SELECT graph.apply_sync(max_batches => 6)")  # the inserts, uncommitted
            other.execute("ANALYZE graph._node_rows, graph._edge_overlay, graph._sync_log")
            assert other.execute("SELECT reltuples < 1000 FROM pg_class WHERE oid = 'graph._node_rows'::regclass"
                                 ).fetchone()[0]
            before = c.execute("""SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_all_tables
                                  WHERE relid = 'graph._node_rows'::regclass""").fetchone()[0]
            c.execute("SET LOCAL statement_timeout = '60s'")  # a scan per key takes far longer
            result = apply(c)  # the updates: 30,000 lookups of existing nodes
            assert result["updates"] == 30000
            read = c.execute("""SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_all_tables
                                WHERE relid = 'graph._node_rows'::regclass""").fetchone()[0]
            assert read - before < 30000, "replay scanned graph._nodes instead of looking nodes up"
            assert verify(c) == []


def test_an_apply_that_grows_a_small_graph_keeps_looking_nodes_up(app):
    """Plans kept from the first batches of an apply, made while graph._nodes was
    small (a scan is cheaper than a probe there), must not keep scanning it for
    every key while the apply grows it."""
    with connect(app) as c:
        c.execute("SELECT graph.build()")
        c.execute("VACUUM ANALYZE graph._node_rows")
        c.execute("SET graph.sync_batch_size = 1000")
        write_contacts(c, 40000, 59999)  # 20,000 log rows: 20 batches
        c.execute("UPDATE app.contacts SET name = name || '*' WHERE id BETWEEN 40000 AND 59999")
        with c.transaction(force_rollback=True):
            before = c.execute("""SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_all_tables
                                  WHERE relid = 'graph._node_rows'::regclass""").fetchone()[0]
            c.execute("SET LOCAL statement_timeout = '60s'")
            result = apply(c)
            assert result["inserts"] == 20000 and result["updates"] == 20000
            read = c.execute("""SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_all_tables
                                WHERE relid = 'graph._node_rows'::regclass""").fetchone()[0]
            assert read - before < 20000, "replay scanned graph._nodes instead of looking nodes up"
            assert verify(c) == []


def test_a_pass_starts_without_reading_the_applied_rows_the_log_keeps(app):
    """Applied log rows stay for graph.log_retention (an hour by default: millions of
    rows under a steady write load). A pass finds where it starts -- the lowest id of
    a row whose transaction is not older than done_snapshot's xmin -- by the log's xid
    index, not by walking the primary key from the oldest row kept."""
    with connect(app) as c:
        c.execute("SELECT graph.build()")
        write_contacts(c, 70000, 89999)  # 20,000 rows, applied and kept
        apply(c)
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] >= 20000
        c.execute("ANALYZE graph._sync_log")
        for i in range(7):  # past the kept plan's first five custom plans (each apply rolls back)
            write_contacts(c, 90000 + i * 10, 90009 + i * 10)
            inserts, read = reads(c, APPLY)
            assert inserts == [(10 * (i + 1),)]
            assert read < 1000, "the pass's start read %d log rows" % read
        apply(c)
        assert verify(c) == []


def test_a_pass_over_a_backlog_starts_without_reading_the_backlog(app):
    """With few applied rows kept, the pass's start is found among the log's first
    rows by id: a bounded apply of a large backlog reads about one batch of it."""
    with connect(app) as c:
        c.execute("SELECT graph.build()")
        c.execute("SELECT graph.prune_sync_log(retention => '0')")
        write_contacts(c, 100000, 119999)  # 20,000 rows pending
        c.execute("SET graph.sync_batch_size = 100")
        inserts, read = reads(c, "SELECT inserts FROM graph.apply_sync(max_batches => 1)")
        assert inserts == [(100,)]
        assert read < 1000, "the pass's start read %d log rows" % read
        c.execute("RESET graph.sync_batch_size")
        apply(c)
        assert verify(c) == []


def test_an_apply_with_nothing_pending_reads_none_of_the_applied_rows_the_log_keeps(app):
    """When no row of the log belongs to a transaction not older than done_snapshot's
    xmin (every row applied: the applier's loop once the writers pause), a pass has
    nothing to read. It read the whole log along its primary key from the first row
    (the pass started at id 0), in every idle apply."""
    with connect(app) as c:
        c.execute("SELECT graph.build()")
        write_contacts(c, 130000, 149999)  # 20,000 rows, applied and kept
        apply(c)
        apply(c)  # done_snapshot's xmin now passes every row of the log
        for _ in range(7):  # past the kept plans' first five custom plans
            inserts, read = reads(c, APPLY)
            assert inserts == [(0,)]
            assert read < 1000, "an apply with nothing pending read %d log rows" % read
        write_contacts(c, 150000, 150009)
        assert apply(c)["inserts"] == 10
        assert verify(c) == []


def test_a_long_transaction_does_not_make_every_pass_read_the_rows_applied_since_it_began(app):
    """A transaction that took an xid and stays open (a long report that wrote, a
    session idle in transaction, another database's) holds every later snapshot's
    xmin back. A pass started at the lowest id of a row whose transaction is not older
    than done_snapshot's xmin: every row applied since that transaction began, read
    again (and filtered out) by every pass, idle applies too, until it ended. A pass
    now starts at the lowest id of a row done_snapshot does not see: a transaction it
    names running, or one that began after it."""
    with connect(app) as c, psycopg.connect(app) as long:
        c.execute("SELECT graph.build()")
        long.execute("SELECT txid_current()")  # an xid, its transaction left open
        write_contacts(c, 160000, 179999)  # 20,000 rows, applied and kept
        apply(c)
        apply(c)
        for _ in range(7):  # past the kept plans' first five custom plans
            inserts, read = reads(c, APPLY)
            assert inserts == [(0,)]
            assert read < 1000, "an idle apply read %d log rows" % read
        for i in range(7):
            write_contacts(c, 180000 + i * 10, 180009 + i * 10)
            inserts, read = reads(c, APPLY)
            assert inserts == [(10 * (i + 1),)]
            assert read < 1000, "the pass's start read %d log rows" % read
        long.execute("INSERT INTO app.contacts VALUES (190000, 1, 'late', NULL, 1)")  # its own row, found
        long.commit()
        assert apply(c)["inserts"] == 71
        assert verify(c) == []


def test_a_half_done_pass_under_a_long_transaction_reads_only_the_rows_pending(app):
    """A pass committed half-way (apply_sync(max_batches), or stopped by a failing
    row under sync_error_policy 'stop', which leaves it half done until the row is
    fixed): graph._pending_log() then finds the pending rows by xid >= xmin of
    done_snapshot. A transaction that holds an xid open holds that xmin back, and
    every count of the pending rows (sync_health, maintenance, a read's
    graph._read_sync, graph._pending_rows) read every log row applied since it
    began. And graph._pending_rows (a read's fold of them) was given, through
    graph._pending_ids, a generic plan of graph._pending_log() that an earlier call
    had made under the session's settings: with statistics, a scan of the whole log
    (some 75,000 of 80,000 rows), whatever its xid bounds."""
    with connect(app) as c, psycopg.connect(app) as long:
        apply(c)
        long.execute("SELECT txid_current()")  # an xid, its transaction left open
        write_contacts(c, 200000, 279999)  # 80,000 rows, applied and kept
        apply(c)
        apply(c)
        write_contacts(c, 280000, 280009)
        c.execute("SET graph.sync_batch_size = 4")
        c.execute("SELECT graph.apply_sync(max_batches => 1)")
        c.execute("ANALYZE graph._sync_log")  # statistics that see the applied rows (autovacuum's)
        c.execute("RESET graph.sync_batch_size")
        assert c.execute("SELECT target_snapshot IS NOT NULL FROM graph._sync_state").fetchone() == (True,)
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone() == (6,)
        for statement in ("SELECT count(*) FROM graph._pending_log()",
                          "SELECT pending_sync_rows FROM graph.sync_health()",
                          "SELECT * FROM graph._read_sync(false)",
                          "SELECT * FROM graph._pending_rows(current_user::regrole, 100000)"):
            for _ in range(7):  # past the kept plans' first five custom plans
                _, read = reads(c, statement)
                assert read < 1000, "%s read %d log rows for 6 pending" % (statement, read)
        long.rollback()
        apply(c)
        assert verify(c) == []


def test_a_column_rename_under_a_long_transaction_rewrites_only_the_rows_pending(app):
    """A rename of a registered column renames the keys of the log rows not applied
    yet (ops/follow.py, RENAME_LOG), found as those with xid >= xmin of
    done_snapshot. A transaction that holds an xid open holds that xmin back: the
    DDL read, and rewrote, every log row of the table applied since it began."""
    with connect(app) as c, psycopg.connect(app) as long:
        apply(c)
        long.execute("SELECT txid_current()")  # an xid, its transaction left open
        write_contacts(c, 300000, 319999)  # 20,000 rows, applied and kept
        apply(c)
        apply(c)
        write_contacts(c, 320000, 320009)  # pending, renamed by the DDL
        c.execute("ANALYZE graph._sync_log")  # statistics that see the applied rows (autovacuum's)
        try:
            with c.transaction():
                before = rows_read(c, "graph._sync_log")
                updated = c.execute("SELECT n_tup_upd FROM pg_stat_xact_all_tables"
                                    " WHERE relid = 'graph._sync_log'::regclass").fetchone()[0]
                c.execute("ALTER TABLE app.contacts RENAME COLUMN email TO mail")
                read = rows_read(c, "graph._sync_log") - before
                updated = c.execute("SELECT n_tup_upd FROM pg_stat_xact_all_tables"
                                    " WHERE relid = 'graph._sync_log'::regclass").fetchone()[0] - updated
            assert c.execute("""SELECT count(*) FROM graph._sync_log
                                WHERE properties ? 'mail' AND new_pk::int >= 320000""").fetchone() == (10,)
            assert updated < 1000, "the rename rewrote %d log rows for 10 pending" % updated
            assert read < 1000, "the rename read %d log rows for 10 pending" % read
        finally:
            long.rollback()
            c.execute("ALTER TABLE app.contacts RENAME COLUMN mail TO email")
        apply(c)
        c.execute("SELECT graph.build()")  # a renamed property: the nodes' names change at a rebuild
        assert verify(c) == []


def test_a_transaction_that_logged_a_row_early_and_committed_late_costs_its_pass_one_walk(app):
    """A transaction that wrote a log row and stayed open while others' rows were
    applied (a long batch job, a session idle in transaction): when it commits, its
    row, with an id below every row applied since, is pending, and the next pass
    starts just below it (PASS_START, by done_snapshot's xip). FETCH reads along the
    primary key from there: every row applied since that transaction wrote, read
    again (and left out) to find the rows after it -- and then once more, by a last
    FETCH that found nothing. A FETCH that returns fewer rows than a batch takes now
    ends the pass: one walk (a known cost, once for each such transaction that
    commits; README, How sync works)."""
    with connect(app) as c, psycopg.connect(app) as long:
        apply(c)
        long.execute("INSERT INTO app.contacts VALUES (400000, 1, 'early', NULL, 1)")  # its row, left open
        write_contacts(c, 400001, 420000)  # 20,000 rows, applied and kept
        apply(c)
        apply(c)
        long.commit()
        inserts, read = reads(c, APPLY)
        assert inserts == [(1,)]
        assert read < 21_000, "the pass read %d log rows for 1 pending" % read
        apply(c)
        assert verify(c) == []


def test_the_rows_a_kept_views_snapshot_did_not_see_are_read_without_the_rows_it_saw(app):
    """graph._pending_columns(seen) (START's read onto a kept folded view when more
    than 256 xids were handed out since its snapshot) reads the rows of transactions
    seen did not see. When at most 256 xids lie between seen's xmin and xmax it reads
    them by xid >= xmin(seen): a transaction holding an xid open holds that xmin, and
    a bulk transaction that committed just after it began is read again, whole, though
    seen saw it (and it is applied) -- O(its rows) for the few rows committed since."""
    with connect(app) as c, psycopg.connect(app) as long:
        apply(c)
        long.execute("SELECT txid_current()")  # an xid, its transaction left open
        write_contacts(c, 500000, 519999)  # one transaction, 20,000 rows
        apply(c)
        seen = c.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        xmin, xmax = (int(x) for x in seen.split(":")[:2])
        assert xmax - xmin <= 256
        write_contacts(c, 520000, 520002)  # committed since seen
        got, read = reads(c, "SELECT count(*) FROM graph._pending_rows(current_user::regrole, 100000, %s::pg_snapshot)",
                          (seen,))
        assert got == [(3,)]
        assert read < 1000, "read %d log rows for the 3 committed since" % read
        long.rollback()
        apply(c)
        assert verify(c) == []
