"""What a read costs while the source tables change, counted, not timed.

Under the default freshness a read that finds a few rows committed since its
last read folds them onto the view it kept (reads/freshness.py). Its START
statement (reads/start.py) reads those rows and looks up, in the same snapshot,
the nodes of the keys they name, so the fold runs no statement of its own; a read
that finds its snapshot to be the one of its backend's last START runs START_SAME
alone, and one that does not runs START after it. A lookup of its own for the keys
(RESOLVE) shows here as one more statement per read.

The reader reads in read-only transactions, so that it folds (a read-write one
may apply the pending rows, at most about once a second); each folded answer is
compared with the answer after the rows are applied -- over updates that move an
edge to another node, to a key no node has, and to a node inserted in the same
transaction."""

import json

import pytest
from psycopg import sql

from conftest import apply, connect

SCHEMA = """
DROP SCHEMA IF EXISTS uw CASCADE;
CREATE SCHEMA uw;
CREATE TABLE uw.n (id int PRIMARY KEY, name text);
CREATE TABLE uw.e (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL);
INSERT INTO uw.n SELECT g, 'n' || g FROM generate_series(1, 40) g;
INSERT INTO uw.e SELECT g, g, g % 40 + 1 FROM generate_series(1, 40) g;
SELECT graph.add_table('uw.n', columns => '{name}');
SELECT graph.add_edge('uw.n', 'src', 'uw.n', to_column => 'dst', via_table => 'uw.e', label => 'next');
SELECT graph.build();
"""

COUNTS = """
CREATE OR REPLACE FUNCTION pg_temp.read_counts() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
db = sys.modules.get("graphsync.db")
f = sys.modules.get("graphsync.reads.freshness")
v = sys.modules.get("graphsync.reads.view")
out = {"statements": db.COUNTS["statements"], "rows_folded": f.STATS["rows_folded"] if f else 0}
for k in ("rekeys", "rekeys_refused", "folds"):
    out[k] = f.STATS.get(k, 0) if f else 0
for k in ("copies", "full_arrays", "adjacency_builds", "overlay_rows", "refreshes"):
    out[k] = v.STATS[k] if v else 0
s = sys.modules.get("graphsync.reads.start")
out["same"] = s.STATS["same"] if s else 0
a = sys.modules.get("graphsync.sync.apply")
out["bounded_passes"] = getattr(a, "STATS", {}).get("bounded_passes", 0)
return json.dumps(out)
$$
"""

READ = "SELECT node_id, depth FROM graph.traverse('uw.n', %s, max_depth => 2) ORDER BY 1, 2"


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def counts(c):
    return json.loads(c.execute("SELECT pg_temp.read_counts()").fetchone()[0])


def test_a_read_that_folds_a_few_rows_runs_no_statement_of_its_own(graph_db):
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        seeds = [str(i) for i in range(1, 41, 3)]
        for seed in seeds:  # warm: the backend keeps its view
            reader.execute(READ, (seed,)).fetchall()
        writes = [
            "UPDATE uw.e SET dst = 7 WHERE id = 1",  # to another node
            "UPDATE uw.e SET dst = 9999 WHERE id = 2",  # to a key no node has
            "INSERT INTO uw.n VALUES (41, 'new'); UPDATE uw.e SET dst = 41 WHERE id = 3",  # to a new node
            "UPDATE uw.e SET src = 5 WHERE id = 4",
            "DELETE FROM uw.e WHERE id = 5",
            "INSERT INTO uw.e VALUES (100, 41, 1)",
        ]
        writer.execute(writes[0])
        reader.execute(READ, ("1",)).fetchall()  # the first read that finds rows pending
        per_read = []
        folded = {}
        for sql in writes[1:] + ["UPDATE uw.e SET dst = 8 WHERE id = 1"]:
            with writer.transaction():
                for statement in sql.split(";"):
                    writer.execute(statement)
            before = counts(reader)
            statements = []
            for seed in ("1", "2", "3", "4"):
                at = counts(reader)["statements"]
                folded[seed] = reader.execute(READ, (seed,)).fetchall()
                statements.append(counts(reader)["statements"] - at)
            after = counts(reader)
            per_read.append(statements)
            assert after["rows_folded"] > before["rows_folded"], (sql, per_read, before, after)  # it folded
        # The read that folds runs START; after the first round, START_SAME first (the backend's
        # last read kept its view and something committed since). The reads that find nothing new
        # run START_SAME alone. Nothing else: no statement of the fold's own (RESOLVE).
        assert per_read == [[1, 1, 1, 1]] + [[2, 1, 1, 1]] * (len(per_read) - 1), per_read
        assert ("41", 1) in folded["3"]  # the node inserted with the edge, folded
        assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] > 0
        apply(admin)
        for seed, rows in folded.items():
            assert reader.execute(READ, (seed,)).fetchall() == rows, seed  # the applied graph agrees


def test_a_row_committed_late_below_the_rows_folded_is_folded(graph_db):
    """A read folds the rows committed since its last read from the highest log id
    its kept view holds and, below it, the rows of transactions from its snapshot's
    xmin on (graph._pending_rows' ``after``): a transaction that took a lower log
    id and commits after a read folded higher ones is still folded."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reach = "SELECT node_id FROM graph.traverse('uw.n', '20', max_depth => 1) WHERE depth = 1 ORDER BY 1"
        before = [r[0] for r in reader.execute(reach).fetchall()]
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (200, 20, 30)")  # the lower log id, committed last
        writer.execute("INSERT INTO uw.e VALUES (201, 20, 31)")
        got = sorted(r[0] for r in reader.execute(reach).fetchall())
        assert got == sorted(before + ["31"])
        writer.execute("INSERT INTO uw.e VALUES (202, 20, 32)")
        assert sorted(r[0] for r in reader.execute(reach).fetchall()) == sorted(before + ["31", "32"])
        folded = counts(reader)["rows_folded"]
        late.execute("COMMIT")
        assert sorted(r[0] for r in reader.execute(reach).fetchall()) == sorted(before + ["30", "31", "32"])
        assert counts(reader)["rows_folded"] == folded + 1  # only the late row, onto the kept view
        apply(admin)
        assert sorted(r[0] for r in reader.execute(reach).fetchall()) == sorted(before + ["30", "31", "32"])


# The xmax a new snapshot has: a read's cost counts only while it stays (no transaction
# ended meanwhile, autovacuum's included).
XMAX = "SELECT pg_snapshot_xmax(pg_current_snapshot())"
SNAPSHOT = "SELECT pg_current_snapshot()::text"

VISITED = ("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
           " WHERE relid = 'graph._sync_log'::regclass")


def log_rows_visited(reader, sql):
    """The graph._sync_log rows one read (``sql``) visits, counted in its own
    read-only transaction."""
    reader.execute("BEGIN READ ONLY")
    before = reader.execute(VISITED).fetchone()
    reader.execute(sql).fetchone()
    after = reader.execute(VISITED).fetchone()
    reader.execute("COMMIT")
    return (after[0] if after else 0) - (before[0] if before else 0)


def test_a_read_reads_only_the_rows_committed_since_its_last_read(graph_db):
    """With 300 rows pending that a backend folded already, a read after one more
    commit reads that row from the log, not the 300 again, and does not count them
    either: graph._read_sync, which counts every pending row, is not called by a read
    that keeps its folded view and may not apply (reads/start.py, _READ_SYNC_KEPT).
    The log rows it visits are the new row and a probe or two (before: 301 and
    more, the count's; earlier still the 300 a second time, filtered by the kept
    view's snapshot)."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        writer.execute("INSERT INTO uw.e SELECT g, 1 + g % 40, 1 + (g * 7) % 40 FROM generate_series(1000, 1299) g")
        reach = "SELECT count(*) FROM graph.traverse('uw.n', '1', max_depth => 2)"
        reader.execute("BEGIN READ ONLY")
        reader.execute(reach).fetchone()
        reader.execute("COMMIT")
        writer.execute("INSERT INTO uw.e VALUES (1300, 1, 2)")
        folded = counts(reader)["rows_folded"]
        visited = log_rows_visited(reader, reach)
        assert counts(reader)["rows_folded"] == folded + 1  # the new row, onto the kept view
        assert 1 <= visited <= 20, visited  # the new row and a probe or two (before: the count's 301 too)
        apply(admin)


def test_a_read_finds_the_rows_committed_since_by_index_whatever_the_logs_statistics(graph_db):
    """START reads the rows committed since its backend's kept view by their transactions'
    xids (reads/start.py, _NEW_ROWS), in START's plan, which no setting of graphsync's
    shapes. When the log's statistics say its xid has one distinct value (a transaction
    that logged most of its rows, a bulk load pending: forced here), = ANY of the xids
    looked like most of the log to the planner, and the plan read the log whole at
    every read under writes; with the range every one of them lies within, ends the
    planner does not know, it reads the index on xid: the new row and a probe or two."""
    with connect(graph_db) as admin, connect(graph_db) as writer:
        apply(admin)
        writer.execute("INSERT INTO uw.e SELECT g, 1 + g % 40, 1 + (g * 7) % 40 FROM generate_series(20000, 20899) g")
        try:
            admin.execute("ALTER TABLE graph._sync_log ALTER COLUMN xid SET (n_distinct = 1)")
            admin.execute("ANALYZE graph._sync_log")
            with connect(graph_db) as reader:
                reach = "SELECT count(*) FROM graph.traverse('uw.n', '1', max_depth => 2)"
                reader.execute("BEGIN READ ONLY")
                reader.execute(reach).fetchone()  # folds the 900 rows: the view is kept
                reader.execute("COMMIT")
                for i in range(3):
                    writer.execute("INSERT INTO uw.e VALUES (%s, 1, 2)", (20900 + i,))
                    visited = log_rows_visited(reader, reach)
                    assert 1 <= visited <= 20, visited
        finally:
            admin.execute("ALTER TABLE graph._sync_log ALTER COLUMN xid RESET (n_distinct)")
            admin.execute("ANALYZE graph._sync_log")
            admin.execute("DELETE FROM uw.e WHERE id >= 20000")
            apply(admin)


def test_a_read_in_an_imported_older_snapshot_leaves_out_the_rows_its_kept_view_holds(graph_db):
    """A backend's kept folded view holds a row committed after a snapshot another
    connection exported. A read of that backend in a transaction that imported the
    older snapshot (SET TRANSACTION SNAPSHOT) shows the graph as that snapshot sees it
    -- without the row -- as a new backend does, not the kept view: the rows START read
    since the view's snapshot are none, but the view is newer than the read's own."""
    reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '25', max_depth => 1) ORDER BY 1, 2"
    with connect(graph_db) as admin, connect(graph_db) as exporter, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        apply(admin)
        exporter.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = exporter.execute("SELECT pg_export_snapshot()").fetchone()[0]
        writer.execute("INSERT INTO uw.e VALUES (7300, 25, 39)")
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        for _ in range(2):
            assert ("39", 1) in reader.execute(reach).fetchall()  # the view kept holds it
        try:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            reader.execute("SET TRANSACTION SNAPSHOT %s" % sql.quote(snapshot))
            got = reader.execute(reach).fetchall()
            reader.execute("COMMIT")
            with connect(graph_db) as fresh:
                fresh.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                fresh.execute("SET TRANSACTION SNAPSHOT %s" % sql.quote(snapshot))
                want = fresh.execute(reach).fetchall()
                fresh.execute("COMMIT")
            assert ("39", 1) not in want
            assert got == want
            assert ("39", 1) in reader.execute(reach).fetchall()  # its own snapshot again
        finally:
            exporter.execute("COMMIT")
            writer.execute("DELETE FROM uw.e WHERE id = 7300")
            apply(admin)


SCANS = ("SELECT coalesce(idx_scan, 0), coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables"
         " WHERE relid = 'graph._sync_log'::regclass")

# How many xids one snapshot (later) sees as ended that an earlier one saw as not yet
# begun or running: the transactions whose rows a read at the later snapshot folds onto
# a view kept from the earlier one.
ENDED_BETWEEN = """
SELECT count(*) FROM generate_series(pg_snapshot_xmin(%(earlier)s::pg_snapshot)::text::bigint,
                                     pg_snapshot_xmax(%(later)s::pg_snapshot)::text::bigint - 1) AS g (x)
WHERE pg_visible_in_snapshot(g.x::text::xid8, %(later)s::pg_snapshot)
  AND NOT pg_visible_in_snapshot(g.x::text::xid8, %(earlier)s::pg_snapshot)"""


def test_a_read_folding_the_rows_committed_since_its_last_read_scans_the_log_once(graph_db):
    """A read that keeps a folded view finds the rows its snapshot did not see by one
    index scan of the log, on xid from that snapshot's xmin on (graph._pending_columns
    over graph._pending_by_xid, migration 422): every such row's transaction is at or
    above it. Before, it read graph._pending_visible twice -- the rows above the
    highest log id the view held, and those below it from the xmin on -- through
    three scans (some 60 plan nodes set up for one row: 67-74 us against 21-28 a call,
    issue 9). One probe of the index a transaction ended since: the writer's, and any
    other that took an xid in between (autovacuum's analyze, another database's), which
    the read's statement sees between the snapshots taken just before and after it."""
    snapshot = "SELECT pg_current_snapshot()::text"
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '23', max_depth => 2)"
        writer.execute("INSERT INTO uw.e VALUES (7000, 23, 36)")
        reader.execute("BEGIN READ ONLY")
        last_before = reader.execute(snapshot).fetchone()[0]
        reader.execute(reach).fetchall()  # folds 7000: the view is kept
        last_after = reader.execute(snapshot).fetchone()[0]
        reader.execute("COMMIT")
        for i, dst in enumerate((37, 38, 39)):
            writer.execute("INSERT INTO uw.e VALUES (%s, 23, %s)", (7001 + i, dst))
            folded = counts(reader)["rows_folded"]
            reader.execute("BEGIN READ ONLY")
            before = reader.execute(SCANS).fetchone() or (0, 0)
            now_before = reader.execute(snapshot).fetchone()[0]
            got = reader.execute(reach).fetchall()
            now_after = reader.execute(snapshot).fetchone()[0]
            after = reader.execute(SCANS).fetchone() or (0, 0)
            fewest = reader.execute(ENDED_BETWEEN, {"later": now_before, "earlier": last_after}).fetchone()[0]
            most = reader.execute(ENDED_BETWEEN, {"later": now_after, "earlier": last_before}).fetchone()[0]
            reader.execute("COMMIT")
            assert (str(dst), 1) in got
            assert counts(reader)["rows_folded"] == folded + 1  # the new row, onto the kept view
            assert after[1] == before[1]  # no sequential scan
            assert 1 <= fewest <= after[0] - before[0] <= most  # one probe per transaction ended
            last_before, last_after = now_before, now_after
        apply(admin)


def test_a_late_commit_with_an_xid_above_the_kept_views_xmax_is_folded(graph_db):
    """A snapshot's xip names only the running transactions below its xmax (the last
    completed xid + 1): a transaction T that took its xid after U's but its log id
    before U's, running when a read folded U's row, is in no xip of that read's
    snapshot and holds a lower log id than every row the read folded. When T
    commits, the next read folds T's row onto the kept view: it looks rows up by
    xid from the snapshot's xmin on, not by the xip (nor by ids above those it
    folded)."""
    with connect(graph_db) as admin, connect(graph_db) as t, connect(graph_db) as u, \
            connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '24', max_depth => 1) ORDER BY 1"
        above = []
        for attempt in range(3):
            u.execute("BEGIN")
            u.execute("SELECT pg_current_xact_id()")  # U's xid first ...
            t.execute("BEGIN")
            t_xid = t.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
            t.execute("INSERT INTO uw.e VALUES (%s, 24, 25)", (7100 + 2 * attempt,))  # ... T's log id ...
            u.execute("INSERT INTO uw.e VALUES (%s, 24, 26)", (7101 + 2 * attempt,))  # ... then U's
            u.execute("COMMIT")
            reader.execute("BEGIN READ ONLY")
            got = reader.execute(reach).fetchall()  # folds U's row; T runs
            seen_xmax = reader.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()[0]
            reader.execute("COMMIT")
            assert ("26", 1) in got
            above.append(t_xid >= seen_xmax)
            folded = counts(reader)["rows_folded"]
            t.execute("COMMIT")
            reader.execute("BEGIN READ ONLY")
            got = reader.execute(reach).fetchall()
            reader.execute("COMMIT")
            assert ("25", 1) in got
            assert counts(reader)["rows_folded"] == folded + 1  # T's row, onto the kept view
            with connect(graph_db) as fresh:  # what a new backend folds
                fresh.execute("SET default_transaction_read_only = on")
                assert got == fresh.execute(reach).fetchall()
            apply(admin)
        assert any(above), above  # (another transaction ending in between raises the xmax over T's)


@pytest.mark.parametrize("how", ["apply", "build", "read"])
def test_a_late_commit_with_an_xid_above_the_applied_snapshots_xmax_is_pending(graph_db, how):
    """A snapshot's xip lists only running transactions below its xmax (the last
    completed xid + 1): a transaction T with a higher xid, running when the apply took
    done_snapshot, is in no xip, and its log row can have a lower id than a row the
    apply applied (U: a lower xid, its log id taken after T's). When T commits its row
    is pending by definition (not visible in done_snapshot), and was found neither
    above applied_sync_id nor among the xip's transactions: a read missed it until
    the next apply. The replay cursor now keeps its snapshots with every transaction
    running when they were taken named in the xip (db.complete_snapshot), so the
    lookups of graph._pending_log, graph._pending_visible, graph._read_sync and
    START find it; and a read folds it. So does the apply a read runs that stops at its
    kept view's snapshot, taken while T ran (``read``: db.read_bound)."""
    with connect(graph_db) as admin, connect(graph_db) as t, connect(graph_db) as u, \
            connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute(READ, ("1",)).fetchall()
        if how == "read":  # the fold below needs "the last apply under a second ago", which a
            # loaded machine let lapse (the read then applied U's row, and made no bounded pass
            # after); committed before U's and T's xids, so below both
            admin.execute("UPDATE graph._sync_state SET last_apply_at = now() + interval '1 hour'")
        u.execute("BEGIN")
        u.execute("SELECT pg_current_xact_id()")  # U's xid first ...
        t.execute("BEGIN")
        late = {"apply": 500, "build": 502, "read": 504}[how]
        t.execute("INSERT INTO uw.n VALUES (%s, 't')", (late,))  # ... T's xid and log id ...
        if how == "read":  # an edge between base nodes: a view that folded it may be kept across an apply
            u.execute("INSERT INTO uw.e VALUES (%s, 1, 2)", (late + 1,))  # ... then U's log id
        else:
            u.execute("INSERT INTO uw.n VALUES (%s, 'u')", (late + 1,))  # ... then U's log id
        u.execute("COMMIT")
        if how == "apply":  # applies U's row; T runs, above the snapshot's xmax
            apply(admin)
        elif how == "build":  # a build reads U's row; the same
            admin.execute("SELECT graph.build()")
        else:  # the reader folds U's row (the last apply "under a second ago", above), then applies it
            reader.execute(READ, ("1",)).fetchall()  # (no commit since U's: T above its xmax)
            admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
            passes = counts(reader)["bounded_passes"]
            reader.execute(READ, ("1",)).fetchall()
            assert counts(reader)["bounded_passes"] == passes + 1
        t.execute("COMMIT")
        by_definition = admin.execute(
            "SELECT count(*) FROM graph._sync_state AS s JOIN graph._sync_log AS l"
            " ON NOT pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)").fetchone()[0]
        assert by_definition == 1
        found = admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]
        visible = admin.execute("SELECT count(*) FROM graph._pending_visible").fetchone()[0]
        committed = admin.execute("SELECT committed_rows FROM graph._read_sync(false)").fetchone()[0]
        read = admin.execute("SELECT count(*) FROM graph.traverse('uw.n', %s, max_depth => 0)",
                             (str(late),)).fetchone()[0]
        apply(admin)
        assert (found, visible, committed, read) == (by_definition, 1, 1, 1)


def test_the_first_read_that_finds_rows_pending_counts_them_once(graph_db):
    """A backend whose last read found nothing pending starts the next one with
    START_QUIET, then START_AT_REST, whose freshness step counts the pending rows;
    when it says the read folds them, START_FOLLOW reads them with that step's answer
    (reads/start.py) and does not count them again: 300 rows pending, the log rows
    the read visits are the count's 300 and the 300 it folds, and a probe or two
    (before: 900, the freshness step counting them twice)."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reach = "SELECT count(*) FROM graph.traverse('uw.n', '1', max_depth => 2)"
        reader.execute(reach).fetchone()  # nothing pending: the next read starts quiet
        writer.execute("INSERT INTO uw.e SELECT g, 1 + g % 40, 1 + (g * 7) % 40 FROM generate_series(2000, 2299) g")
        folded = counts(reader)["rows_folded"]
        visited = log_rows_visited(reader, reach)
        assert counts(reader)["rows_folded"] == folded + 300
        assert 600 <= visited <= 600 + 20, visited
        apply(admin)


REACH = "SELECT node_id, depth FROM graph.traverse('uw.n', %s, max_depth => 2)"


def reach(c, seeds=("30", "31", "32", "34")):
    """What ``c`` reads from each seed, as sets (the order of a node's edges may differ
    between a view kept across an apply and a fresh fold: freshness.rekeyed)."""
    return {s: sorted(c.execute(REACH, (s,)).fetchall()) for s in seeds}


def fresh_fold(graph_db):
    """What a new backend reads, folding every pending row from the applied graph."""
    with connect(graph_db) as fresh:
        fresh.execute("SET default_transaction_read_only = on")
        return reach(fresh)


def counted_read(reader, graph_db):
    """What ``reader`` reads (reach), which must be a fresh backend's fold, and how far
    its counts (COUNTS) moved by it."""
    before = counts(reader)
    got = reach(reader)
    after = counts(reader)
    assert got == fresh_fold(graph_db)
    return got, {k: after[k] - before[k] for k in after}


def test_a_folded_view_is_kept_across_an_apply_of_rows_it_folded(graph_db):
    """Issue 9: rows X folded by a reader, then another backend applies rows A within
    X (its snapshot was taken before the reader's last read): the reader's next read
    keeps its folded view, re-keyed onto the new applied graph (freshness.rekeyed),
    and folds only the rows committed since -- none here, then one -- with no copy of
    the graph, no fold from the applied graph and no full arrays. Before, it folded
    every row still pending from the applied graph, on a copy (failed then: a fold
    and a copy more). Its answers are a fresh backend's, which folds from scratch."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader, \
            connect(graph_db) as applier:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        reach(reader)
        writer.execute("UPDATE uw.e SET dst = 25 WHERE id = 30")
        writer.execute("INSERT INTO uw.e VALUES (300, 31, 20)")
        reach(reader)  # folds them
        applier.execute("BEGIN")
        apply(applier)  # its snapshot: the two rows (A)
        writer.execute("DELETE FROM uw.e WHERE id = 32")  # committed after it: pending after the apply
        got = reach(reader)  # folds the delete (X: all three), the apply not committed yet
        applier.execute("COMMIT")
        again, moved = counted_read(reader, graph_db)
        assert again == got
        assert moved["rows_folded"] == 0  # the delete is not folded again
        assert moved["folds"] == moved["copies"] == moved["full_arrays"] == 0
        assert counts(reader)["full_arrays"] == 0
        assert moved["rekeys"] == 1
        writer.execute("UPDATE uw.e SET dst = 26 WHERE id = 33")
        got, moved = counted_read(reader, graph_db)
        assert moved["rows_folded"] == 1  # the new row alone, onto the kept view
        assert moved["copies"] == 0
        apply(admin)
        assert reach(reader) == fresh_fold(graph_db)


def test_a_folded_view_is_kept_across_an_apply_that_began_after_its_last_read(graph_db):
    """Issue 9: an apply whose transaction began after the reader's last read (an
    applier every 100 ms, most of the time) counts its own subtransactions as seen in
    the snapshot it keeps (db.complete_snapshot: they hold no log row), which the
    reader's last snapshot does not see: the reader's next read refused its folded view
    and copied the applied graph (failed before: a refusal and a copy). The snapshot is
    now compared as taken (graph._sync_state.done_seen_below, migration 423): the view
    is kept. Not knowing it (NULL, an apply of the release before) refuses the view, as
    before. Every answer is a fresh backend's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        reach(reader)
        writer.execute("UPDATE uw.e SET dst = 27 WHERE id = 30")
        writer.execute("INSERT INTO uw.e VALUES (340, 31, 21)")
        reach(reader)  # folds them
        apply(admin)  # begins after that read: its own xids are ones the reader never saw
        below, snapshot = admin.execute("SELECT done_seen_below, pg_snapshot_xmax(done_snapshot)::text::bigint"
                                        " FROM graph._sync_state").fetchone()
        assert below is not None and below < snapshot  # its subtransactions lie in between
        writer.execute("INSERT INTO uw.e VALUES (341, 34, 22)")  # pending after it (else the read adopts the graph)
        moved = counted_read(reader, graph_db)[1]
        assert moved["rekeys"] == 1
        assert moved["rekeys_refused"] == 0
        assert moved["copies"] == 0 and moved["rows_folded"] == 1
        writer.execute("UPDATE uw.e SET dst = 28 WHERE id = 33")
        reach(reader)  # folds it
        apply(admin)
        admin.execute("UPDATE graph._sync_state SET done_seen_below = NULL")  # as an older release left it
        writer.execute("INSERT INTO uw.e VALUES (342, 35, 23)")
        moved = counted_read(reader, graph_db)[1]
        assert moved["rekeys_refused"] == 1
        assert moved["copies"] == 1


def test_a_folded_view_is_not_kept_across_an_apply_of_rows_it_had_not_folded(graph_db):
    """The apply's snapshot saw a row the reader's last read did not: A is not within
    X, the view is not kept (rekeys_refused), the read starts again and folds what is
    pending from the applied graph, which holds that row."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reach(reader)
        writer.execute("UPDATE uw.e SET dst = 27 WHERE id = 34")
        reach(reader)  # folds it
        writer.execute("INSERT INTO uw.e VALUES (301, 31, 7)")  # not folded by the reader ...
        apply(admin)  # ... but applied
        writer.execute("UPDATE uw.e SET dst = 28 WHERE id = 35")  # pending
        got, moved = counted_read(reader, graph_db)
        assert ("7", 1) in got["31"]  # the row applied
        assert moved["rekeys"] == 0, moved
        assert moved["rekeys_refused"] == 1, moved
        apply(admin)
        assert reach(reader) == fresh_fold(graph_db)


def test_a_read_that_keeps_its_folded_view_across_an_apply_reads_none_of_its_overlay_rows(graph_db):
    """Issue 9: a read that keeps its folded view across another backend's apply
    (rekeyed) refreshes of the applied graph only what rekeyed() compares, not the
    overlay rows the apply wrote (some thousands a read under unthrottled writers: half
    of such a read); the backend reads them when it next needs the applied graph itself
    -- here a read whose view is refused (an apply of a row it had not folded), which
    copies it. Every answer is a fresh backend's. Failed before: the rekeying read
    read the apply's overlay rows."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader, \
            connect(graph_db) as applier:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reach(reader)
        writer.execute("UPDATE uw.e SET dst = 21 WHERE id = 30")
        writer.execute("INSERT INTO uw.e VALUES (310, 31, 22)")
        reach(reader)  # folds them
        applier.execute("BEGIN")
        apply(applier)  # A: the two rows, which the reader folded
        writer.execute("UPDATE uw.e SET dst = 23 WHERE id = 37")
        reach(reader)
        applier.execute("COMMIT")
        got, moved = counted_read(reader, graph_db)
        assert moved["rekeys"] == 1
        assert moved["refreshes"] == 1
        assert moved["overlay_rows"] == 0, moved  # none of A's three
        writer.execute("INSERT INTO uw.e VALUES (311, 34, 24)")  # not folded by the reader ...
        apply(admin)  # ... but applied: the view is refused, the applied graph copied
        writer.execute("UPDATE uw.e SET dst = 25 WHERE id = 35")  # pending: the read folds
        got, moved = counted_read(reader, graph_db)
        assert ("24", 1) in got["34"] and ("22", 1) in got["31"]
        assert moved["rekeys_refused"] == 1
        assert moved["overlay_rows"] >= 3 + 2  # both applies' rows, read now
        apply(admin)
        assert reach(reader) == fresh_fold(graph_db)


def test_a_backend_copying_the_applied_graph_read_after_read_makes_its_adjacency_twice(graph_db):
    """Issue 9: a backend whose reads fold onto copies of the applied graph (here its
    own uncommitted row, which is never kept; under writes, every read whose folded
    view cannot be kept) walks each copy's adjacency, which was made from the
    overlay's counts in every copy (O(overlay edges) in Python: 50-200 ms a read at
    tens of thousands). The first copy makes it, the applied graph at the second, and
    each copy after copies it: none in the 20 reads after the first four (failed
    before: 20)."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        writer.execute("UPDATE uw.e SET dst = 26 WHERE id = 30")  # an overlay row
        apply(admin)
        reader.execute(COUNTS)
        with reader.transaction(force_rollback=True):
            reader.execute("INSERT INTO uw.e VALUES (320, 31, 25)")  # its own row
            answers = [reach(reader)]  # four reads: the first copy makes it, the applied graph at the second
            before = counts(reader)
            answers += [reach(reader) for _ in range(5)]
            after = counts(reader)
        assert before["adjacency_builds"] == 2
        assert after["copies"] - before["copies"] == 5 * 4  # reach() reads four seeds
        assert after["adjacency_builds"] == before["adjacency_builds"], (before, after)
        assert all(a == answers[0] for a in answers)
        assert ("25", 1) in answers[0]["31"] and ("26", 1) in answers[0]["30"]
        with connect(graph_db) as fresh:
            with fresh.transaction(force_rollback=True):
                fresh.execute("INSERT INTO uw.e VALUES (320, 31, 25)")
                assert reach(fresh) == answers[0]


# Makes the next graph_view.current() of this backend return a view newer than its
# key (View.exact false), as when an apply commits between START and the refresh.
INEXACT_TAKEN = """
CREATE OR REPLACE FUNCTION pg_temp.inexact_taken() RETURNS int LANGUAGE plpython3u AS $$
return GD.get("inexact", 0)
$$"""
INEXACT_ONCE = """
DO LANGUAGE plpython3u $$
import copy
import graphsync.reads.view as view
real = getattr(view.current, "real", view.current)
left = [1]
def once(*args, **kwargs):
    v = real(*args, **kwargs)
    if left[0]:
        left[0] -= 1
        v = copy.copy(v)
        v.exact = False
        GD["inexact"] = GD.get("inexact", 0) + 1
    return v
once.real = real
view.current = once
$$
"""


def test_a_read_that_starts_again_for_a_newer_graph_keeps_its_folded_view(graph_db):
    """Issue 9: a read whose refreshed graph is newer than its START's snapshot (an
    apply committed in between) starts again (view.Moved). It dropped the backend's
    folded view then, and folded every pending row again on a copy of the applied graph
    (some thousands under unthrottled writers); it keeps it now, and the second START
    reads onto it only the rows committed since. Failed before: a copy, and the three
    rows folded again."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reach(reader)
        writer.execute("UPDATE uw.e SET dst = 27 WHERE id = 30")
        writer.execute("INSERT INTO uw.e VALUES (330, 31, 28)")
        reach(reader)  # folds them onto a copy, and keeps the view
        writer.execute("UPDATE uw.e SET dst = 29 WHERE id = 38")
        reader.execute(INEXACT_ONCE)
        got, moved = counted_read(reader, graph_db)
        assert moved["copies"] == 0, moved
        assert moved["rows_folded"] == 1, moved  # the new row alone
        apply(admin)
        assert reach(reader) == fresh_fold(graph_db)


def secured_graph(su, schema, roles, visible, edges):
    """A graph of its own in ``schema``, owned by the first of ``roles`` (owner, a
    non-superuser admin, a plain reader; made anew): 2 * ``visible`` nodes, of which a
    row-level security policy shows the first ``visible`` (ws = 1), and ``edges`` edges
    among those, g from 1 + g % visible to 1 + 7g % visible, through a join table;
    admin and reader may SELECT both tables. Built."""
    owner, admin, reader = roles
    su.execute(sql.SQL("""
        DROP SCHEMA IF EXISTS {s} CASCADE;
        DROP ROLE IF EXISTS {o}; DROP ROLE IF EXISTS {a}; DROP ROLE IF EXISTS {r};
        CREATE ROLE {o}; CREATE ROLE {a} IN ROLE graph_admin; CREATE ROLE {r};
        CREATE SCHEMA {s} AUTHORIZATION {o};
        SET ROLE {o};
        CREATE TABLE {s}.n (id int PRIMARY KEY, ws int NOT NULL);
        CREATE TABLE {s}.e (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL);
        INSERT INTO {s}.n SELECT g, CASE WHEN g <= {v} THEN 1 ELSE 2 END FROM generate_series(1, 2 * {v}) g;
        INSERT INTO {s}.e SELECT g, 1 + g % {v}, 1 + (g * 7) % {v} FROM generate_series(1, {m}) g;
        ALTER TABLE {s}.n ENABLE ROW LEVEL SECURITY;
        CREATE POLICY ws1 ON {s}.n FOR SELECT USING (ws = 1);
        GRANT USAGE ON SCHEMA {s} TO {a}, {r};
        GRANT SELECT ON {s}.n, {s}.e TO {a}, {r};
        RESET ROLE;
        SELECT graph.add_table({n});
        SELECT graph.add_edge({n}, 'src', {n}, to_column => 'dst', via_table => {e});
        SELECT graph.build();""").format(
        s=sql.Identifier(schema), o=sql.Identifier(owner), a=sql.Identifier(admin), r=sql.Identifier(reader),
        v=sql.Literal(visible), m=sql.Literal(edges), n=sql.Literal(schema + ".n"), e=sql.Literal(schema + ".e")))


RS_OWNER, RS_ADMIN, RS_READER = "uw_rs_owner", "uw_rs_admin", "uw_rs_reader"


def test_a_folded_view_kept_through_a_start_again_serves_no_other_role(graph_db):
    """The folded view a read keeps when it starts again for a newer graph (above) is
    the reading role's: one backend serving several roles in turn (a pool), a
    non-superuser admin's read folds edges onto nodes a plain reader's row-level
    security policy hides (the admin sees them), then the reader's read, in that
    backend, starts again the same way: it folds for itself (the view is named by its
    caller and the tables it may read), its answers are a fresh reader backend's and
    name no hidden node; the table owner writes the rows."""
    with connect(graph_db) as su, connect(graph_db) as writer, connect(graph_db) as shared, \
            connect(graph_db) as fresh:
        secured_graph(su, "uw5", (RS_OWNER, RS_ADMIN, RS_READER), 20, 40)
        writer.execute(f"SET ROLE {RS_OWNER}")
        walk = "SELECT node_id, depth FROM graph.traverse('uw5.n', %s, max_depth => 2) ORDER BY 1, 2"
        seeds = [str(i) for i in range(1, 9)]
        shared.execute(INEXACT_TAKEN)
        for c in (shared, fresh):
            c.execute("SET default_transaction_read_only = on")  # folds, never applies
        shared.execute(f"SET ROLE {RS_ADMIN}")
        shared.execute(walk, ("1",)).fetchall()
        writer.execute("UPDATE uw5.e SET dst = 21 + id % 20 WHERE id <= 8")  # onto hidden nodes
        admin_saw = [shared.execute(walk, (s,)).fetchall() for s in seeds]  # folded, kept: the admin's
        assert any(int(node) > 20 for rows in admin_saw for node, _ in rows)
        writer.execute("UPDATE uw5.e SET dst = 3 WHERE id = 9")
        shared.execute("RESET ROLE")
        shared.execute(INEXACT_ONCE)  # (as the session's superuser: the reader's read is the next)
        shared.execute(f"SET ROLE {RS_READER}")
        fresh.execute(f"SET ROLE {RS_READER}")
        got = [shared.execute(walk, (s,)).fetchall() for s in seeds]
        assert got == [fresh.execute(walk, (s,)).fetchall() for s in seeds]
        assert all(int(node) <= 20 for rows in got for node, _ in rows)
        assert any(len(rows) > 1 for rows in got)
        shared.execute("RESET ROLE")
        assert shared.execute("SELECT pg_temp.inexact_taken()").fetchone()[0] == 1  # it started again
        shared.execute(f"SET ROLE {RS_READER}")
        apply(su)
        assert [shared.execute(walk, (s,)).fetchall() for s in seeds] == got


def spread_graph(admin, schema, nodes, edges):
    """A graph of its own in ``schema``: ``nodes`` nodes, edge g from 1 + g % nodes to
    1 + 7g % nodes through a join table, built. Returns a depth-2 traversal of it
    (its seed a parameter), ordered."""
    admin.execute(sql.SQL("""
        DROP SCHEMA IF EXISTS {s} CASCADE;
        CREATE SCHEMA {s};
        CREATE TABLE {s}.n (id int PRIMARY KEY);
        CREATE TABLE {s}.e (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL);
        INSERT INTO {s}.n SELECT g FROM generate_series(1, {nodes}) g;
        INSERT INTO {s}.e SELECT g, 1 + g % {nodes}, 1 + (g * 7) % {nodes} FROM generate_series(1, {edges}) g;
        SELECT graph.add_table({n});
        SELECT graph.add_edge({n}, 'src', {n}, to_column => 'dst', via_table => {e});
        SELECT graph.build();""").format(s=sql.Identifier(schema), nodes=sql.Literal(nodes), edges=sql.Literal(edges),
                                         n=sql.Literal(schema + ".n"), e=sql.Literal(schema + ".e")))
    return sql.SQL("SELECT node_id, depth FROM graph.traverse({n}, %s, max_depth => 2) ORDER BY 1, 2").format(
        n=sql.Literal(schema + ".n"))


def test_a_fold_of_a_few_thousand_rows_builds_no_full_arrays(graph_db):
    """A fold of 3,000 edge changes on a graph of 64,000 edges adds them to the kept
    overlay node by node, O(changes) (freshness.in_arrays_above: past one change per
    16 edges); it made full arrays, O(edges), past one per 128 before (failed then:
    an adjacency built from full arrays). Its answers are the applied graph's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        walk = spread_graph(admin, "uw2", 4000, 64000)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reader.execute(walk, ("1",)).fetchall()
        writer.execute("UPDATE uw2.e SET dst = 1 + (id * 13) % 4000 WHERE id <= 1500")  # 3,000 edge changes
        before = counts(reader)
        got = [reader.execute(walk, (s,)).fetchall() for s in ("1", "2", "14")]
        after = counts(reader)
        assert after["rows_folded"] == before["rows_folded"] + 1500
        assert after["adjacency_builds"] == before["adjacency_builds"]
        assert after["full_arrays"] == before["full_arrays"] == 0
        apply(admin)
        assert [reader.execute(walk, (s,)).fetchall() for s in ("1", "2", "14")] == got



def test_a_fold_of_a_few_rows_looks_their_ends_up_in_the_key_index_the_backend_holds(graph_db):
    """Once a backend holds the base's key index (a fold of many keys built it:
    freshness.KEYS_BY_INDEX), a fold of a few hundred rows looks their ends up there
    rather than by a statement of its own (RESOLVE). A reader that folds 100 join-row
    updates onto its kept view then runs no RESOLVE, where it runs one while it holds
    no index (before: one in both cases). Its answers are the applied graph's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        walk = spread_graph(admin, "uw3", 3000, 6000)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        seeds = ("1", "2", "14")

        def statements_per_fold(r):
            """Statements of one read folding 100 updates (more than START looks up the
            keys of: reads.start.KEYS_IN_START) onto the view the reader kept."""
            writer.execute("UPDATE uw3.e SET dst = 1 + (id * %s) %% 3000 WHERE id <= 100", (r,))
            before = counts(reader)
            reader.execute(walk, (seeds[r % 3],)).fetchall()
            after = counts(reader)
            assert after["rows_folded"] == before["rows_folded"] + 100, (before, after)
            return after["statements"] - before["statements"]

        reader.execute(walk, ("1",)).fetchall()
        statements_per_fold(11)  # the first fold after the read: from the applied view
        # START and RESOLVE; START_SAME before them once the backend's last read kept its view
        assert [statements_per_fold(r) for r in (13, 17)] == [2, 3]
        # 1,200 updates, 2,400 ends: the fold builds the index of the base's keys
        writer.execute("UPDATE uw3.e SET dst = 1 + (id * 19) % 3000 WHERE id > 100 AND id <= 1300")
        reader.execute(walk, ("1",)).fetchall()
        apply(admin)
        reader.execute(walk, ("1",)).fetchall()
        statements_per_fold(23)
        # START alone (the read before folded from the applied view: nothing kept for START_SAME),
        # then START_SAME and START; no RESOLVE
        assert [statements_per_fold(r) for r in (29, 31, 37)] == [1, 2, 2]
        got = [reader.execute(walk, (s,)).fetchall() for s in seeds]
        apply(admin)
        assert [reader.execute(walk, (s,)).fetchall() for s in seeds] == got


KEY_INDEX = """
CREATE OR REPLACE FUNCTION pg_temp.key_index() RETURNS int[] LANGUAGE plpython3u AS $$
import sys
cache = sys.modules["graphsync.sync.base"]._cache.get("keys")
return [cache.resolved if cache else 0, int(sys.modules["graphsync.reads.nodes"].index_held())]
$$"""


@pytest.mark.parametrize("nodes", [3000, 40000])
def test_a_reader_folding_a_few_hundred_rows_a_read_builds_the_key_index_once(graph_db, nodes):
    """A reader under heavy writes folds a few hundred rows every read, each fold
    fewer ends than build the base's key index (freshness.KEYS_BY_INDEX), so each
    looked its keys up in graph._nodes (RESOLVE, a statement of its own: some 300
    probes, 2-3 ms at 200k nodes), read after read. Once its folds have asked
    graph._nodes for KEYS_BY_INDEX keys and one INDEX_SHARE-th of the base
    (nodes.index_due), a fold builds the index, and the folds
    after it run no RESOLVE
    (before: every fold did). At 40,000 nodes that is after 2,000 keys, not a
    sixteenth of the base (2,500: a reader under unthrottled writers asked RESOLVE
    for the first seconds of every generation). Its answers are the applied graph's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        walk = spread_graph(admin, "uw5", nodes, 2 * nodes)
        reader.execute(COUNTS)
        reader.execute(KEY_INDEX)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        seeds = ("1", "2", "14")
        reader.execute(walk, ("1",)).fetchall()
        asked = []  # the keys asked of graph._nodes before each fold, and whether the index was held after

        def statements_per_fold(r):
            """Statements of one read folding 100 updates, some 300 keys (more rows than
            START looks up the keys of: reads.start.KEYS_IN_START)."""
            writer.execute("UPDATE uw5.e SET dst = 1 + (id * %s) %% 3000 WHERE id <= 100", (r,))
            before, resolved = counts(reader), reader.execute("SELECT pg_temp.key_index()").fetchone()[0][0]
            reader.execute(walk, (seeds[r % 3],)).fetchall()
            after = counts(reader)
            asked.append((resolved, reader.execute("SELECT pg_temp.key_index()").fetchone()[0][1]))
            assert after["rows_folded"] == before["rows_folded"] + 100, (before, after)
            return after["statements"] - before["statements"]

        # RESOLVE, some 250 keys a fold, 1,750 in seven
        [statements_per_fold(r) for r in range(3, 10)]
        apply(admin)  # (a kept view holds at most 1,000 rows: graph._read_sync's rule)
        reader.execute(walk, ("1",)).fetchall()
        # past 2,000 keys a fold builds the index; those after it run START_SAME and START alone
        then = [statements_per_fold(r) for r in range(10, 16)]
        assert then[-3:] == [2, 2, 2], then
        # each fold before the one that built it asked graph._nodes (RESOLVE), none after it;
        # the keys asked before it, and one fold's more, passed 2,000
        at = next(i for i, (_, held) in enumerate(asked) if held)
        before = [resolved for resolved, _ in asked[:at + 1]]
        assert before == sorted(set(before)) and 2000 - 300 < before[-1] <= 2000, asked
        assert all(held for _, held in asked[at:]), asked
        assert reader.execute("SELECT pg_temp.key_index()").fetchone()[0][0] == before[-1]
        answers = [reader.execute(walk, (s,)).fetchall() for s in seeds]
        apply(admin)
        assert [reader.execute(walk, (s,)).fetchall() for s in seeds] == answers
        # (the larger graph left behind would change the later tests' base)
        admin.execute("SELECT graph.remove_table('uw5.n', cascade => true)")
        admin.execute("DROP SCHEMA uw5 CASCADE")
        admin.execute("SELECT graph.build()")


PENDING_KEYS_CALLS = ("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
                      " WHERE funcid = 'graph._pending_keys(oid[], text[], text[], text, text)'::regprocedure")


def test_a_reader_holding_the_key_index_has_start_look_up_no_key(graph_db):
    """START looks up the keys a few pending rows name (reads.start.KEYS_IN_START:
    graph._pending_keys, which reads each row's images as JSON and probes graph._nodes
    for every end) so that their fold runs no statement of its own: some 1.7 ms of a
    5 ms read folding 50 rows at 200k nodes. Once the backend holds the base's key
    index (built by a fold of many rows) the fold finds the ends there, and START
    calls it no more (before: every read folding up to 64 rows did); the fold still
    runs no statement for ends that are base nodes, and looks up by RESOLVE a node
    added since the base. Its answers are the applied graph's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        walk = spread_graph(admin, "uw7", 3000, 6000)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        reader.execute("SET track_functions = 'all'")
        reader.execute(walk, ("1",)).fetchall()

        def read(write, seed):
            """(graph._pending_keys calls, statements) of one read folding ``write``'s rows, its answer."""
            writer.execute(write)
            reader.execute("BEGIN")
            calls, before = reader.execute(PENDING_KEYS_CALLS).fetchone()[0], counts(reader)
            got = reader.execute(walk, (seed,)).fetchall()
            costs = (reader.execute(PENDING_KEYS_CALLS).fetchone()[0] - calls,
                     counts(reader)["statements"] - before["statements"])
            reader.execute("COMMIT")
            return costs, got

        update = "UPDATE uw7.e SET dst = 1 + (dst * %d) %% 3000 WHERE id > 5000 AND id <= 5010"
        read(update % 3, "2")  # the first fold: a copy of the applied graph
        read(update % 5, "3")  # START alone (nothing kept for START_SAME yet)
        (calls, statements), _ = read(update % 9, "14")
        # START_SAME, then START, which looked the keys up: no index held, no RESOLVE
        assert (calls, statements) == (1, 2), (calls, statements)
        # 1,200 updates, 4,800 ends: the fold builds the index of the base's keys
        writer.execute("UPDATE uw7.e SET dst = 1 + (id * 19) % 3000 WHERE id > 100 AND id <= 1300")
        reader.execute(walk, ("1",)).fetchall()
        apply(admin)
        reader.execute(walk, ("1",)).fetchall()
        read(update % 17, "1")  # the first fold after the apply: a copy
        read(update % 23, "2")
        for r, seed in ((7, "2"), (11, "14"), (13, "3")):
            (calls, held), got = read(update % r, seed)
            assert (calls, held) == (0, statements), (calls, held, statements)  # no RESOLVE either
        with connect(graph_db) as fresh:
            fresh.execute("SET default_transaction_read_only = on")
            assert got == fresh.execute(walk, ("3",)).fetchall()
        # a node added since the base: the fold looks it up by a statement (RESOLVE)
        admin.execute("INSERT INTO uw7.n VALUES (3001)")
        (calls, more), got = read("UPDATE uw7.e SET dst = 3001 WHERE id = 2", "3")
        assert (calls, more) == (0, statements + 1), (calls, more, statements)
        with connect(graph_db) as fresh:
            fresh.execute("SET default_transaction_read_only = on")
            assert got == fresh.execute(walk, ("3",)).fetchall()
        apply(admin)
        assert got == admin.execute(walk, ("3",)).fetchall()


def test_a_reader_folding_a_few_rows_a_read_builds_the_key_index_from_the_keys_start_looked_up(graph_db):
    """START looks up the keys of the few rows a read folds (graph._pending_keys), so
    the fold asks graph._nodes for none of them. Those lookups count towards the base's
    key index as the fold's own do (nodes.index_due): once they pass 2,000 (and a
    128th of the base), a fold builds the index, and START looks up no key from then
    on. Before, a reader under 200 commits/s, folding a row or two a read, never
    built it, and START looked up every read's keys for as long as the writes went on
    (some 0.2 ms of a 2.4 ms read at 200k nodes). Its answers stay the applied graph's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        walk = spread_graph(admin, "uw8", 3000, 6000)
        reader.execute(COUNTS)
        reader.execute(KEY_INDEX)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        reader.execute("SET track_functions = 'all'")
        reader.execute(walk, ("1",)).fetchall()
        seen = []  # (graph._pending_keys calls, keys asked so far, index held) after each read
        for r in range(150):
            writer.execute("UPDATE uw8.e SET dst = 1 + (dst * %s) %% 3000 WHERE id > %s AND id <= %s",
                           (r % 7 + 2, 4000 + 5 * (r % 50), 4005 + 5 * (r % 50)))
            reader.execute("BEGIN")
            calls = reader.execute(PENDING_KEYS_CALLS).fetchone()[0]
            reader.execute(walk, (str(1 + r % 40),)).fetchall()
            calls = reader.execute(PENDING_KEYS_CALLS).fetchone()[0] - calls
            reader.execute("COMMIT")
            seen.append((calls, *reader.execute("SELECT pg_temp.key_index()").fetchone()[0]))
        at = next((i for i, (_, _, held) in enumerate(seen) if held), None)
        assert at is not None, seen[-3:]
        # START looked up the keys of every read before the index, of none after it
        assert all(calls == 1 for calls, _, _ in seen[2:at]), seen[:at]
        assert all(calls == 0 and held for calls, _, held in seen[at + 1:]), seen[at:]
        # built once the keys START looked up (15 a read at most) passed 2,000
        assert 2000 - 50 < seen[at - 1][1] <= 2000, seen[at - 1:at + 1]
        answers = [reader.execute(walk, (s,)).fetchall() for s in ("1", "2", "14")]
        apply(admin)
        assert [reader.execute(walk, (s,)).fetchall() for s in ("1", "2", "14")] == answers


KI_OWNER, KI_ADMIN, KI_READER = "gs_ki_owner", "gs_ki_admin", "gs_ki_reader"


def test_a_key_index_another_role_built_shows_a_reader_no_node_its_policy_hides(graph_db):
    """One backend serving several roles in turn (a pool): a non-superuser admin's
    read folds a large backlog and so builds the base's key index, with every key;
    then the table owner (neither admin nor superuser) moves edges onto nodes its
    row-level security policy hides from a plain reader, and the reader, in that
    backend, folds them through the index the admin's read built. The ends get the
    hidden nodes' real ids there (a statement as the reader finds no node); the
    reader's own row mask must still keep every hidden node out: its answers are
    those of a backend that holds no index and those it gets after the rows are
    applied, and name no hidden node. (The code before gave the same answers by a
    statement of its own: the fold's statement count tells the index was used.)"""
    with connect(graph_db) as su, connect(graph_db) as writer, connect(graph_db) as shared, \
            connect(graph_db) as fresh:
        secured_graph(su, "uw4", (KI_OWNER, KI_ADMIN, KI_READER), 1500, 6000)
        writer.execute(f"SET ROLE {KI_OWNER}")
        walk = "SELECT node_id, depth FROM graph.traverse('uw4.n', %s, max_depth => 2) ORDER BY 1, 2"
        for c in (shared, fresh):
            c.execute(COUNTS)
            c.execute("SET default_transaction_read_only = on")  # folds, never applies
        shared.execute(f"SET ROLE {KI_ADMIN}")
        shared.execute(walk, ("1",)).fetchall()
        # 1,200 updates, 2,400 ends: the admin's fold builds the index of the base's keys
        writer.execute("UPDATE uw4.e SET dst = 1 + (id * 11) % 1500 WHERE id > 100 AND id <= 1300")
        assert shared.execute(walk, ("1",)).fetchall()
        apply(su)
        shared.execute("RESET ROLE")
        shared.execute(f"SET ROLE {KI_READER}")
        fresh.execute(f"SET ROLE {KI_READER}")
        seeds = [str(i) for i in range(2, 12)]
        for c in (shared, fresh):
            c.execute(walk, ("1",)).fetchall()  # nothing pending: the reader's keys, its row mask
        # the owner moves 100 edges from visible nodes (2..101) onto hidden ones (1501..3000)
        writer.execute("UPDATE uw4.e SET dst = 1501 + (id * 13) % 1500 WHERE id <= 100")
        got, statements = {}, {}
        for name, c in (("shared", shared), ("fresh", fresh)):
            got[name], statements[name] = [], []
            for s in seeds:
                before = counts(c)
                got[name].append(c.execute(walk, (s,)).fetchall())
                after = counts(c)
                statements[name].append(after["statements"] - before["statements"])
                assert after["rows_folded"] == before["rows_folded"] + (100 if s == seeds[0] else 0), (name, s)
        # what the fold adds to a read: less in the shared backend, which looked the ends up
        # in the index (no RESOLVE) and holds no temporary node for a hidden end, than in
        # the fresh one (before the index served small folds: as much in both)
        added = {name: n[0] - n[1] for name, n in statements.items()}
        assert added["shared"] < added["fresh"], statements
        assert got["shared"] == got["fresh"]
        assert all(int(node) <= 1500 for rows in got["shared"] for node, _ in rows)
        assert any(len(rows) > 1 for rows in got["shared"])
        apply(su)
        assert [shared.execute(walk, (s,)).fetchall() for s in seeds] == got["shared"]


LA_OWNER, LA_ADMIN, LA_READER = "gs_la_owner", "gs_la_admin", "gs_la_reader"
LENT = """
CREATE OR REPLACE FUNCTION pg_temp.lent_ends() RETURNS bigint LANGUAGE plpython3u AS $$
import sys
m = sys.modules.get("graphsync.sync.base_keys")
return m.STATS["lent"] if m else 0
$$
"""


def test_a_plain_readers_apply_uses_the_key_index_an_admins_read_built_and_shows_no_hidden_node(graph_db):
    """One backend serving several roles in turn (a pool): a non-superuser admin's read
    folds a large backlog and builds the base's key index, every key in it; then a
    plain reader's read, in that backend, applies the 1,200 rows the table owner
    committed since -- 100 of them move edges onto nodes the reader's row-level
    security policy hides -- as the definer (graph._read_sync), finding their ends in
    that index (sync/base_keys.lend). The graph it leaves is what a rebuild gives, and
    the reader's answers name no hidden node: the index only gave replay node ids."""
    with connect(graph_db) as su, connect(graph_db) as writer, connect(graph_db) as shared:
        secured_graph(su, "uw9", (LA_OWNER, LA_ADMIN, LA_READER), 1500, 6000)
        writer.execute(f"SET ROLE {LA_OWNER}")
        walk = "SELECT node_id, depth FROM graph.traverse('uw9.n', %s, max_depth => 2) ORDER BY 1, 2"
        shared.execute(LENT)
        shared.execute(f"SET ROLE {LA_ADMIN}")
        shared.execute("SET default_transaction_read_only = on")  # folds, never applies
        shared.execute(walk, ("1",)).fetchall()
        writer.execute("UPDATE uw9.e SET dst = 1 + (id * 11) % 1500 WHERE id > 100 AND id <= 1300")
        assert shared.execute(walk, ("1",)).fetchall()  # 2,400 ends: the index is built
        apply(su)
        shared.execute("RESET default_transaction_read_only")
        shared.execute("RESET ROLE")
        shared.execute(f"SET ROLE {LA_READER}")
        shared.execute(walk, ("1",)).fetchall()
        lent = shared.execute("SELECT pg_temp.lent_ends()").fetchone()[0]
        writer.execute("UPDATE uw9.e SET dst = 1501 + (id * 13) % 1500 WHERE id <= 100")
        writer.execute("UPDATE uw9.e SET dst = 1 + (id * 17) % 1500 WHERE id > 1300 AND id <= 2400")
        got = [shared.execute(walk, (str(s),)).fetchall() for s in range(2, 12)]  # the first applies
        assert su.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
        assert shared.execute("SELECT pg_temp.lent_ends()").fetchone()[0] > lent + 1000
        assert su.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall() == []
        assert all(int(node) <= 1500 for rows in got for node, _ in rows)
        assert any(len(rows) > 1 for rows in got)


def test_a_folded_view_is_kept_across_a_half_done_pass(graph_db):
    """An apply that stops before the end of its pass (apply_sync(max_batches => 1),
    a batch of 600 of 900 pending rows) leaves the pass half done: a reader keeps
    its folded view across it, by the pass's target snapshot, which sees every row
    applied (START's ``bound``), and folds nothing again; its answers stay the
    applied graph's. (Between whole passes only, it folded the 300 rows left.)"""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")
        reach(reader)
        writer.execute("INSERT INTO uw.e SELECT g, 30 + g % 5, 1 + (g * 11) % 40 FROM generate_series(5000, 5899) g")
        got = reach(reader)  # folds the 900 rows
        pending = "SELECT count(*) FROM graph._pending_log()"
        assert admin.execute(pending).fetchone()[0] == 900
        admin.execute("BEGIN")
        admin.execute("SET LOCAL graph.sync_batch_size = 600")
        admin.execute("SELECT * FROM graph.apply_sync(max_batches => 1)")
        # a commit after the apply's: the reader's next snapshot sees the apply's
        # transaction (and its subtransactions) running (see freshness.rekeyed)
        writer.execute("UPDATE uw.e SET dst = 3 WHERE id = 5899")
        got = reach(reader)
        admin.execute("COMMIT")
        assert admin.execute(pending).fetchone()[0] == 301
        before = counts(reader)
        assert reach(reader) == got
        after = counts(reader)
        assert after["rows_folded"] == before["rows_folded"]
        assert after["copies"] == before["copies"]
        assert after["rekeys"] == before["rekeys"] + 1
        apply(admin)
        assert admin.execute(pending).fetchone()[0] == 0
        assert reach(reader) == got


def test_a_folded_view_is_not_kept_across_an_apply_that_failed_a_row_it_folded(graph_db):
    """A row the apply records as failed (sync_error_policy 'skip') was folded by the
    reader but is not in the applied graph, nor pending: the apply bumps
    graph._sync_state.replay_breaks (migration 406), the view's lineage no longer
    matches, and the read folds what is pending from the applied graph -- without the
    failed row's edge, as a fresh backend. (With replay_breaks out of the lineage the
    view was kept, edge and all: this test failed.)"""
    seeds = ("36",)
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        target = admin.execute("SELECT node_id FROM graph._nodes WHERE pk = '39' AND table_oid = 'uw.n'::regclass"
                               ).fetchone()[0]
        admin.execute("""CREATE FUNCTION pg_temp.poison() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN IF NEW.dst = %d THEN RAISE EXCEPTION 'edge to 39 is cursed'; END IF; RETURN NEW;
                         END $$""" % target)
        admin.execute("CREATE TRIGGER poison BEFORE INSERT ON graph._edge_overlay"
                      " FOR EACH ROW EXECUTE FUNCTION pg_temp.poison()")
        try:
            reader.execute(COUNTS)
            reader.execute("SET default_transaction_read_only = on")
            reach(reader, seeds)
            writer.execute("UPDATE uw.e SET dst = 39 WHERE id = 36")  # its edge fails to apply
            assert ("39", 1) in reach(reader, seeds)["36"]  # folded
            breaks = "SELECT replay_breaks FROM graph._sync_state"
            before_breaks = admin.execute(breaks).fetchone()[0]
            admin.execute("BEGIN")
            admin.execute("SET LOCAL graph.sync_error_policy = 'skip'")
            assert apply(admin)["failed"] == 1
            writer.execute("UPDATE uw.e SET dst = 2 WHERE id = 37")  # the reader's next snapshot: after the apply's
            reach(reader, seeds)
            admin.execute("COMMIT")
            assert admin.execute(breaks).fetchone()[0] == before_breaks + 1
            before = counts(reader)
            got = reach(reader, seeds)
            after = counts(reader)
            with connect(graph_db) as fresh:
                fresh.execute("SET default_transaction_read_only = on")
                assert got == reach(fresh, seeds)
            assert ("39", 1) not in got["36"]
            assert after["rekeys"] == before["rekeys"]
        finally:
            admin.execute("DROP TRIGGER IF EXISTS poison ON graph._edge_overlay")
        apply(admin)


START_STATS = """
CREATE OR REPLACE FUNCTION pg_temp.start_stats() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
s = sys.modules.get("graphsync.reads.start")
return json.dumps(dict(s.STATS) if s else {})
$$
"""


def test_a_read_that_keeps_its_view_applies_when_the_last_apply_is_a_second_old(graph_db):
    """A read-write read whose backend keeps a folded view skips the freshness step's
    count only while that step would fold anyway (reads/start.py, _READ_SYNC_KEPT):
    with the last apply under a second old it folds the new row without calling it
    (``kept``); with the last apply older it calls it, which applies (``applied``),
    as a read that kept no view does; in a read-only transaction it folds."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(START_STATS)
        stats = lambda: json.loads(reader.execute("SELECT pg_temp.start_stats()").fetchone()[0])  # noqa: E731
        reach = "SELECT count(*) FROM graph.traverse('uw.n', '1', max_depth => 2)"
        pending = "SELECT committed_rows FROM graph._read_sync(false)"
        recent = "UPDATE graph._sync_state SET last_apply_at = now()"
        writer.execute("INSERT INTO uw.e VALUES (3000, 1, 2)")
        admin.execute(recent)
        reader.execute(reach).fetchone()  # folds it: the view is kept
        writer.execute("INSERT INTO uw.e VALUES (3001, 1, 3)")
        admin.execute(recent)
        before = stats()
        reader.execute(reach).fetchone()
        after = stats()
        assert (after["kept"], after["applied"]) == (before["kept"] + 1, before["applied"])
        assert admin.execute(pending).fetchone()[0] == 2
        writer.execute("INSERT INTO uw.e VALUES (3002, 1, 4)")
        admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
        reader.execute("BEGIN READ ONLY")
        reader.execute(reach).fetchone()  # read-only: folds, whatever the last apply
        reader.execute("COMMIT")
        before = stats()
        assert (before["kept"], before["applied"]) == (after["kept"] + 1, after["applied"])
        writer.execute("INSERT INTO uw.e VALUES (3003, 1, 5)")
        reader.execute(reach).fetchone()  # read-write, last apply an hour old: applies
        after = stats()
        assert (after["kept"], after["applied"]) == (before["kept"], before["applied"] + 1)
        # up to its kept view's snapshot (db.read_bound): the row committed since is folded
        assert admin.execute(pending).fetchone()[0] == 1
        assert reader.execute(reach).fetchone() == admin.execute(reach).fetchone()



def test_reads_at_rest_pass_by_the_applied_snapshots_transactions_that_hold_no_pending_row(graph_db):
    """The "nothing pending" test of a read at rest (reads/start.py) fails while a
    transaction named in the applied snapshot's xip has committed since: it could hold
    rows the apply did not see. One that wrote no log row (a write to a table graphsync
    does not capture, here; of another database, or one an apply named completing its
    snapshot, alike) made every later read at rest run START_AT_REST and
    graph._read_sync's count until the next apply, which no read makes while nothing is
    pending. graph._read_sync now names the committed ones it found to hold no pending
    row (settled_xids) and the reads pass them by: the second read after the commit
    finds nothing pending in its own test, the later ones run START_QUIET alone. A
    transaction of the xip that holds a pending row still fails the test when it
    commits, and the read shows its row."""
    with connect(graph_db) as admin, connect(graph_db) as other, connect(graph_db) as late, \
            connect(graph_db) as writer, connect(graph_db) as reader:
        admin.execute("CREATE TABLE IF NOT EXISTS uw.uncaptured (i int)")
        apply(admin)
        reader.execute(START_STATS)
        stats = lambda: json.loads(reader.execute("SELECT pg_temp.start_stats()").fetchone()[0])  # noqa: E731
        reach = "SELECT node_id FROM graph.traverse('uw.n', '1', max_depth => 1) WHERE depth = 1 ORDER BY 1"
        reader.execute(reach).fetchall()  # at rest: START_QUIET
        other.execute("BEGIN")
        other.execute("INSERT INTO uw.uncaptured VALUES (1)")  # an xid, no log row
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (4100, 1, 30)")  # a log row: its id below the next one's
        writer.execute("INSERT INTO uw.e VALUES (4101, 1, 31)")  # committed: the apply applies it
        apply(admin)  # its snapshot names other's and late's transactions
        other.execute("COMMIT")
        before = stats()
        first = [tuple(r) for r in reader.execute(reach).fetchall()]
        reader.execute(reach).fetchall()
        between = stats()
        for _ in range(4):
            reader.execute(reach).fetchall()
        after = stats()
        assert ("31",) in first and ("30",) not in first
        # START_QUIET, and once two of them saw one snapshot, START_SAME (reads/start.py)
        at_rest = after["quiet"] + after["same_at_rest"] - between["quiet"] - between["same_at_rest"]
        assert (at_rest, after["at_rest"] - between["at_rest"]) == (4, 0)
        assert after["quiet"] > between["quiet"]
        assert (between["settled"] - before["settled"], between["at_rest"] - before["at_rest"]) == (1, 1)
        late.execute("COMMIT")
        assert ("30",) in [tuple(r) for r in reader.execute(reach).fetchall()]
        assert stats()["quiet"] == after["quiet"] + 1  # START_QUIET's test failed: START_AT_REST, then the row
        admin.execute("DROP TABLE uw.uncaptured; DELETE FROM uw.e WHERE id IN (4100, 4101)")
        apply(admin)


def test_a_repeatable_read_settles_no_transaction_its_snapshot_does_not_see(graph_db):
    """graph._read_sync names a transaction of the applied snapshot's xip settled only
    when its count saw every row of it: in a repeatable read transaction the count's
    snapshot is the transaction's, older than a commit that pg_xact_status already
    reports. A transaction that committed a pending row after a reader's repeatable read
    snapshot was taken is not passed by: the reader's next read, in a transaction of its
    own, shows the row."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        apply(admin)
        reach = "SELECT node_id FROM graph.traverse('uw.n', '1', max_depth => 1) WHERE depth = 1 ORDER BY 1"
        reader.execute(reach).fetchall()
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (4200, 1, 32)")  # a log row: its id below the next one's
        writer.execute("INSERT INTO uw.e VALUES (4201, 1, 33)")
        apply(admin)  # applies 4201; its snapshot names late's transaction
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        reader.execute("SELECT 1")  # the transaction's snapshot: late's transaction is running
        late.execute("COMMIT")
        inside = [tuple(r) for r in reader.execute(reach).fetchall()]
        reader.execute("COMMIT")
        assert ("33",) in inside and ("32",) not in inside  # as its snapshot sees the tables
        assert ("32",) in [tuple(r) for r in reader.execute(reach).fetchall()]
        admin.execute("DELETE FROM uw.e WHERE id IN (4200, 4201)")
        apply(admin)

def differences(c):
    """graph.verify()'s rows: where the applied graph differs from a rebuild's."""
    return sorted(c.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall())


PENDING_LOG = "SELECT count(*) FROM graph._pending_log()"
AGED = "UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'"


def keeping_a_view(admin, writer, reader, writes):
    """Everything applied, ``writer`` runs ``writes`` and ``reader`` folds them (the last
    apply under a second ago): its backend keeps the folded view. Returns what
    graph.verify() showed after the apply (a row an earlier test failed on purpose)."""
    apply(admin)
    known = differences(admin)
    reader.execute(COUNTS)
    reach(reader)
    for statement in writes:
        writer.execute(statement)
    admin.execute("UPDATE graph._sync_state SET last_apply_at = now()")
    reach(reader)
    return known


def test_a_reads_apply_stops_at_its_kept_views_snapshot_and_keeps_the_view(graph_db):
    """Issue 9: the apply a read runs (its backend keeps a folded view, the last apply
    is over a second old) applies the rows the view's snapshot S1 saw, not those
    committed since (db.read_bound): the read keeps its view across the
    apply (freshness.rekeyed) and folds onto it only the rows committed since -- no copy
    of the applied graph, none of the overlay rows read. Before, the apply went to its
    own moment, the view was refused and the applied graph copied (this test failed).
    A transaction running at S1 (``late``, a lower log id) and a delete committed after
    it stay pending and are applied by the next apply; the applied snapshot is dated no
    later than S1 (graph._sync_state.done_at: a staleness bound trusts it). Every
    answer is a fresh backend's; the graph after the next apply is a rebuild's."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (8000, 30, 11)")  # running at S1, its log id the lowest
        # the reader folds the two: the view is kept, its snapshot S1
        known = keeping_a_view(admin, writer, reader, ["INSERT INTO uw.e VALUES (8002, 31, 12)",
                                                       "INSERT INTO uw.e VALUES (8001, 32, 13)"])
        taken = admin.execute("SELECT clock_timestamp()").fetchone()[0]
        late.execute("COMMIT")
        writer.execute("DELETE FROM uw.e WHERE id = 34")
        admin.execute(AGED)
        got, moved = counted_read(reader, graph_db)  # applies, then folds onto the view late's row and the delete
        assert (moved["rekeys"], moved["rekeys_refused"]) == (1, 0)
        assert moved["bounded_passes"] == 1
        assert moved["copies"] == 0
        assert moved["overlay_rows"] == 0, moved
        assert moved["rows_folded"] == 2, moved
        assert admin.execute(PENDING_LOG).fetchone()[0] == 2
        assert admin.execute("SELECT done_at <= %s FROM graph._sync_state", (taken,)).fetchone()[0]
        apply(admin)
        assert admin.execute(PENDING_LOG).fetchone()[0] == 0
        assert reach(reader) == got
        assert differences(admin) == known  # (a row an earlier test failed on purpose)


def test_a_reads_apply_that_stopped_at_its_views_snapshot_and_rolled_back_leaves_nothing_behind(graph_db):
    """A read in a transaction that rolls back after its apply stopped at the kept
    view's snapshot (and the read kept the view, leaving the apply's overlay rows
    unread: view.current's lazy refresh with the transaction's own writes): the next
    reads see the rows pending again, and every answer is a fresh backend's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        known = keeping_a_view(admin, writer, reader, ["INSERT INTO uw.e VALUES (8299, 32, 17)",
                                                       "INSERT INTO uw.e VALUES (8300, 30, 18)"])
        writer.execute("INSERT INTO uw.e VALUES (8301, 31, 19)")
        admin.execute(AGED)
        before = counts(reader)
        reader.execute("BEGIN")
        got = reach(reader)  # applies the two
        assert counts(reader)["bounded_passes"] == before["bounded_passes"] + 1
        reader.execute("ROLLBACK")
        assert got == fresh_fold(graph_db)
        assert admin.execute(PENDING_LOG).fetchone()[0] == 3
        assert reach(reader) == got
        writer.execute("DELETE FROM uw.e WHERE id = 8300")
        assert reach(reader) == fresh_fold(graph_db)
        apply(admin)
        assert reach(reader) == fresh_fold(graph_db)
        assert differences(admin) == known  # (a row an earlier test failed on purpose)


@pytest.mark.parametrize("since", ["an_apply", "many_xids"])
def test_a_reads_apply_goes_to_its_own_moment_when_its_views_snapshot_is_out_of_reach(graph_db, since):
    """The apply a read runs stops at its kept view's snapshot only when that sees
    everything applied and lies at most READ_BOUND_XIDS xids back (sync/apply.py,
    _bound_within): after another backend applied rows the view had not seen, or
    after more xids were handed out (each would be named in the applied snapshot's
    xip), it applies every committed row, as before; the read then starts again
    without its view. Nothing is left pending, every answer is a fresh backend's."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        known = keeping_a_view(admin, writer, reader, ["UPDATE uw.e SET dst = 14 WHERE id = 31"])
        edge = 8100 if since == "an_apply" else 8200
        writer.execute("INSERT INTO uw.e VALUES (%s, 32, 15)", (edge,))
        if since == "an_apply":
            apply(admin)  # applies the insert, which the view has not seen
            writer.execute("INSERT INTO uw.e VALUES (%s, 30, 16)", (edge + 1,))
        else:
            for _ in range(600):
                writer.execute("SELECT pg_current_xact_id()")
        admin.execute(AGED)
        got, moved = counted_read(reader, graph_db)
        assert moved["bounded_passes"] == 0
        assert admin.execute(PENDING_LOG).fetchone()[0] == 0
        assert ("15", 1) in got["32"]
        apply(admin)
        assert reach(reader) == got
        assert differences(admin) == known  # (a row an earlier test failed on purpose)


PENDING_CALLS = ("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
                 " WHERE funcid IN ('graph._pending_columns'::regproc, 'graph._read_sync'::regproc)")


def quiet_read_costs(reader, sql):
    """What one read (``sql``) in its own read-only transaction runs: the statements
    graphsync runs (db.COUNTS), the calls of graph._pending_columns and
    graph._read_sync (track_functions), the log rows it visits, what it returns."""
    reader.execute("BEGIN READ ONLY")
    calls, visited, before = (reader.execute(PENDING_CALLS).fetchone()[0], reader.execute(VISITED).fetchone(),
                              counts(reader))
    got = reader.execute(sql).fetchall()
    after = counts(reader)
    costs = {"statements": after["statements"] - before["statements"],
             "rows_folded": after["rows_folded"] - before["rows_folded"],
             "pending_calls": reader.execute(PENDING_CALLS).fetchone()[0] - calls,
             "log_rows": (reader.execute(VISITED).fetchone() or (0,))[0] - (visited[0] if visited else 0)}
    reader.execute("COMMIT")
    return costs, sorted(got)


def test_a_read_with_nothing_new_since_its_kept_view_reads_no_log_row(graph_db):
    """Under writes most reads find no row committed since their backend's last one
    (1,000 reads/s against 200 commits/s): such a read uses its kept folded view as
    it is. START tells it in its own snapshot (reads/start.py, _NEW_XIDS: the
    snapshot sees no transaction the view's last snapshot did not), or START_SAME (the
    snapshot is the one of that START), and calls neither graph._pending_columns nor
    graph._read_sync, nor visits a log row; one statement, nothing folded. Before:
    graph._pending_columns was called, and with a transaction running since before
    the view's snapshot (``late``) it visited the rows of every
    transaction from there on again (its xid index), the row folded last among them.
    A row committed since (``late``'s, below the rows folded), or another backend's
    apply, is still noticed and read: START reads late's row itself, by its
    transaction's xid (_NEW_ROWS), not through graph._pending_columns."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        apply(admin)
        reader.execute(COUNTS)
        reader.execute("SET track_functions = 'all'")
        reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '21', max_depth => 2)"
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (4000, 21, 33)")  # a lower log id, running
        writer.execute("INSERT INTO uw.e VALUES (4001, 21, 34)")
        # A read has nothing new when no transaction ended since the read before it (whose
        # snapshot the kept view holds) started: each read's costs count only when the
        # snapshot taken before that earlier read is still the snapshot after it (the whole
        # snapshot, not only its xmax: a transaction below the xmax ending changes its list
        # of running ones); up to 20 reads, for 3 that count (a busy server's background
        # transactions, autovacuum's, end when they will).
        mark = admin.execute(SNAPSHOT).fetchone()[0]
        reader.execute("BEGIN READ ONLY")
        folded = sorted(reader.execute(reach).fetchall())  # folds 4001: the view is kept
        reader.execute("COMMIT")
        assert ("34", 1) in folded and ("33", 1) not in folded
        quiet = []
        for _ in range(20):
            before = admin.execute(SNAPSHOT).fetchone()[0]
            costs, got = quiet_read_costs(reader, reach)
            assert got == folded
            if admin.execute(SNAPSHOT).fetchone()[0] == mark:
                quiet.append(costs)
            mark = before
            if len(quiet) == 3:
                break
        assert quiet and quiet == [{"statements": 1, "rows_folded": 0, "pending_calls": 0, "log_rows": 0}] * len(
            quiet), quiet
        late.execute("COMMIT")  # committed since the view's snapshot, below its rows
        mark = admin.execute(XMAX).fetchone()[0]
        costs, got = quiet_read_costs(reader, reach)
        with connect(graph_db) as fresh:  # a new backend folds every pending row
            fresh.execute("SET default_transaction_read_only = on")
            assert got == sorted(fresh.execute(reach).fetchall()) and ("33", 1) in got
        # START_SAME (something committed since), then START, which reads late's row by its xid
        assert (costs["statements"], costs["rows_folded"], costs["pending_calls"]) == (2, 1, 0), costs
        if admin.execute(XMAX).fetchone()[0] == mark:
            assert costs["log_rows"] == 1, costs
        costs, again = quiet_read_costs(reader, reach)
        assert again == got
        if admin.execute(XMAX).fetchone()[0] == mark:
            assert (costs["pending_calls"], costs["log_rows"]) == (0, 0), costs
        apply(admin)  # another backend's apply: noticed, the applied graph read
        writer.execute("DELETE FROM uw.e WHERE id = 4001")
        apply(admin)
        _, after_apply = quiet_read_costs(reader, reach)
        assert ("34", 1) not in after_apply and ("33", 1) in after_apply
        assert after_apply == sorted(admin.execute(reach).fetchall())


def test_a_read_takes_the_last_starts_answer_only_while_nothing_it_read_changed(graph_db):
    """A read that keeps its folded view and finds its snapshot to be the one of the
    backend's last busy START (START_SAME: no transaction with an xid ended since) takes
    that START's answer with nothing new to fold, in one cheap statement. Not when the
    caller, a session setting START reads, the isolation (a
    repeatable read snapshot is older than the catalogs privileges come from) or the
    caller's own writes differ: the read then runs START, and answers what a new
    backend answers with the same role and settings."""
    reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '25', max_depth => 2) ORDER BY 1, 2"
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        admin.execute("DROP ROLE IF EXISTS uw_other")
        admin.execute("CREATE ROLE uw_other")
        admin.execute("GRANT USAGE ON SCHEMA uw TO uw_other")
        admin.execute("GRANT SELECT ON uw.n, uw.e TO uw_other")
        try:
            apply(admin)
            reader.execute(COUNTS)
            reader.execute("SET default_transaction_read_only = on")  # folds, never applies
            writer.execute("INSERT INTO uw.e VALUES (7200, 25, 26)")
            reader.execute(reach).fetchall()
            mark = admin.execute(SNAPSHOT).fetchone()[0]
            kept = reader.execute(reach).fetchall()  # the busy START's answer is kept
            assert ("26", 1) in kept
            # A hit is owed only when no transaction ended from before the read before (whose
            # START, or the START it took the answer of, saw that snapshot) to after this one:
            # the whole snapshot compared, not only its xmax; up to 20 reads, for 3 that count.
            hits = []
            for _ in range(20):
                before, same = admin.execute(SNAPSHOT).fetchone()[0], counts(reader)["same"]
                assert reader.execute(reach).fetchall() == kept
                if admin.execute(SNAPSHOT).fetchone()[0] == mark:
                    hits.append(counts(reader)["same"] - same)
                mark = before
                if len(hits) == 3:
                    break
            assert hits and hits == [1] * len(hits), hits

            def fresh(*setup):
                with connect(graph_db) as f:
                    f.execute("SET default_transaction_read_only = on")
                    for statement in setup:
                        f.execute(statement)
                    return f.execute(reach).fetchall()

            changes = [("SET ROLE uw_other", "RESET ROLE"),
                       ("SET graph.tenant = 'nobody'", "RESET graph.tenant"),
                       ("SET graph.max_staleness = '1 hour'", "RESET graph.max_staleness")]
            for change, undo in changes:
                reader.execute(reach).fetchall()  # START again where the last read did not take it
                same = counts(reader)["same"]
                reader.execute(change)
                got = reader.execute(reach).fetchall()
                assert counts(reader)["same"] == same, change
                assert got == fresh(change), change
                reader.execute(undo)
            reader.execute(reach).fetchall()
            same = counts(reader)["same"]
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            assert reader.execute(reach).fetchall() == kept
            reader.execute("COMMIT")
            assert counts(reader)["same"] == same
            apply(admin)
        finally:
            reader.execute("RESET ALL")
            admin.execute("DROP OWNED BY uw_other")
            admin.execute("DROP ROLE uw_other")


START_PLAN = """
CREATE OR REPLACE FUNCTION pg_temp.start_plan() RETURNS text LANGUAGE plpython3u AS $$
from graphsync.reads import freshness, start
args = [start.FRESHNESS.default, True, None, None, None, None, freshness.MAX_FOLD_ROWS + 1, *freshness.fold_from(),
        start.keys_in_start()]
plan = plpy.prepare("EXPLAIN (ANALYZE, FORMAT JSON) " + start.START, start.TYPES)
return plpy.execute(plan, args)[0]["QUERY PLAN"]
$$
"""


def plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child)


def test_starts_busy_form_runs_each_of_its_tests_once(graph_db):
    """START's busy form (reads/start.py, _PENDING) for a read with nothing new since
    its kept view: every subquery is fenced (OFFSET 0), so each test runs once --
    graph._node_tables is read by the caller's tables and by _WHOLE, which the kept
    test and the lineage share (_NAMES), twice -- and neither graph._pending_columns
    nor graph._pending_keys is called. Pulled up, the lineage's and the unchanged
    test's subqueries ran once per use of their column: graph._node_tables six times
    a read (and their plan nodes were set up nine); written out in the kept test and
    the lineage each, _WHOLE read it three times (the code before _NAMES failed here)."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute(START_PLAN)
        writer.execute("INSERT INTO uw.e VALUES (6000, 22, 35)")
        plans = []
        for _ in range(3):
            before = admin.execute(XMAX).fetchone()[0]
            reader.execute("BEGIN READ ONLY")
            reader.execute("SELECT count(*) FROM graph.traverse('uw.n', '22', max_depth => 2)").fetchone()  # kept
            reader.execute("COMMIT")
            reader.execute("BEGIN READ ONLY")
            plan = json.loads(reader.execute("SELECT pg_temp.start_plan()").fetchone()[0])[0]["Plan"]
            reader.execute("COMMIT")
            if admin.execute(XMAX).fetchone()[0] == before:  # no transaction ended from the read on (autovacuum's)
                plans.append(plan)
        assert plans
        for plan in plans:
            nodes = list(plan_nodes(plan))

            def ran(name, nodes=nodes):
                return [n for n in nodes
                        if name in (n.get("Relation Name"), n.get("Function Name")) and n["Actual Loops"] > 0]

            assert len(ran("_node_tables")) == 2, [n["Alias"] for n in ran("_node_tables")]
            assert ran("_pending_columns") == [] and ran("_read_sync") == [] and ran("_pending_keys") == []
            # _NEW_XIDS, once: the kept view's xip and the xids handed out since; no log row read
            assert (len(ran("pg_snapshot_xip")), len(ran("generate_series"))) == (1, 1)
            assert ran("_sync_log") == []
        writer.execute("DELETE FROM uw.e WHERE id = 6000")
        apply(admin)


def planned_in_reads(reader, sql, args):
    """The statements a read plans (PostgreSQL's planner statistics, one message each
    planning, as a superuser sees them), inside graphsync's read function: their first
    lines."""
    got = []

    def note(n):
        if n.message_primary == "PLANNER STATISTICS" and 'PL/Python function "_traverse"' in (n.context or ""):
            text = n.context.split('SQL statement "', 1)[-1]
            got.append(next((line.strip() for line in text.split("\n") if line.strip()), "")[:60])

    reader.add_notice_handler(note)
    try:
        reader.execute("SET log_planner_stats = on")
        reader.execute("SET client_min_messages = log")
        reader.execute("BEGIN READ ONLY")
        reader.execute(sql, args).fetchall()
        reader.execute("COMMIT")
    finally:
        reader.execute("RESET client_min_messages")
        reader.execute("RESET log_planner_stats")
        reader.remove_notice_handler(note)
    return got


GRAPH_ANALYZES = ("SELECT coalesce(sum(autoanalyze_count + analyze_count), 0) FROM pg_stat_all_tables"
                  " WHERE schemaname = 'graph'")


@pytest.mark.parametrize("rows", [1, 80])
def test_a_read_under_writes_plans_its_statements_once_per_backend(graph_db, rows):
    """Each read under writes runs START_SAME and START with other values (the kept
    view's snapshot, the rows it folded), and a fold of more rows than START looks up
    the keys of (reads/start.py: KEYS_IN_START) RESOLVE with other keys. PostgreSQL
    planned them anew for each read (a custom plan: the plan cache found a plan made
    for the values cheaper than its generic one, on their first five runs always),
    some 0.2-1 ms of a read folding a few hundred rows at 200k nodes (issue 9): every
    read function keeps one plan of each for the backend (sql/plan-settings.sql). At
    most one planning in the reads counted: an ANALYZE by autovacuum of a table a
    statement reads makes its plan again."""
    with connect(graph_db) as admin, connect(graph_db) as writer, connect(graph_db) as reader:
        apply(admin)
        reader.execute("SET default_transaction_read_only = on")
        reader.execute(READ, ("11",)).fetchall()  # the backend's first read plans everything
        planned = []
        analyzed = admin.execute(GRAPH_ANALYZES).fetchone()[0]
        for i in range(6):
            with writer.transaction():
                for j in range(rows):
                    writer.execute("UPDATE uw.e SET dst = %s WHERE id = %s", (1 + (i + j) % 40, 1 + j % 40))
            got = planned_in_reads(reader, READ, (str(11 + i),))
            if i >= 2:  # START and START_SAME ran in the two reads before: planned then
                planned += got
        # one planning allowed, or one per graph table autovacuum analyzed meanwhile (the
        # statements read graph._nodes and the log: an ANALYZE of each plans its reader again)
        analyzed = admin.execute(GRAPH_ANALYZES).fetchone()[0] - analyzed
        assert len(planned) <= max(1, analyzed), (planned, analyzed)
        with connect(graph_db) as fresh:
            fresh.execute("SET default_transaction_read_only = on")
            assert sorted(reader.execute(READ, ("16",)).fetchall()) == sorted(fresh.execute(READ, ("16",)).fetchall())


READ_SYNC_CALLS = ("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
                   " WHERE funcid = 'graph._read_sync'::regproc")


def test_a_read_while_another_backend_applies_does_not_count_the_pending_rows(graph_db):
    """A read that keeps a folded view of 1,000 rows or more (reads/start.py:
    FOLD_UNDER) calls graph._read_sync, which counts every pending row (O(pending):
    some milliseconds at a few thousand rows, a read under unthrottled writers)
    and applies them when it gets the state row. While another backend's apply
    holds the state row (its transaction running in the read's snapshot), that
    apply cannot happen, and the read folds onto its view the rows committed since
    its last read, as one with fewer rows does (before: it counted them all first).
    Its answer is what a new backend folds from the applied graph."""
    with connect(graph_db) as admin, connect(graph_db) as applier, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        walk = spread_graph(admin, "uw6", 3000, 6000)
        reader.execute(COUNTS)
        reader.execute("SET default_transaction_read_only = on")  # folds, never applies
        reader.execute("SET track_functions = 'all'")
        reader.execute(walk, ("1",)).fetchall()
        for r in (3, 5, 7):  # 1,200 rows folded onto the kept view, 400 a read
            writer.execute("UPDATE uw6.e SET dst = 1 + (id * %s) %% 3000 WHERE id <= 400", (r,))
            reader.execute(walk, (str(r),)).fetchall()

        def read(seed):
            """(graph._read_sync calls, log rows visited) of one read folding five rows
            committed since the read before, its answer."""
            writer.execute("UPDATE uw6.e SET dst = 1 + (dst * 11) % 3000 WHERE id > 5000 AND id <= 5005")
            reader.execute("BEGIN")
            calls, visited = reader.execute(READ_SYNC_CALLS).fetchone()[0], reader.execute(VISITED).fetchone()
            got = reader.execute(walk, (seed,)).fetchall()
            costs = (reader.execute(READ_SYNC_CALLS).fetchone()[0] - calls,
                     (reader.execute(VISITED).fetchone() or (0,))[0] - (visited[0] if visited else 0))
            reader.execute("COMMIT")
            return costs, got

        (calls, visited), _ = read("2")
        assert calls == 1 and visited > 1200, (calls, visited)  # counted every pending row
        applier.execute("BEGIN")
        applier.execute("SELECT graph.apply_sync()")  # holds the state row
        (calls, visited), got = read("14")
        assert (calls, visited) == (0, 5), (calls, visited)  # the five rows committed since
        with connect(graph_db) as fresh:
            fresh.execute("SET default_transaction_read_only = on")
            assert got == fresh.execute(walk, ("14",)).fetchall()
        applier.execute("COMMIT")
        _, after = read("14")
        apply(admin)
        assert after == admin.execute(walk, ("14",)).fetchall()


def test_a_read_folding_beside_a_long_transaction_reads_only_the_rows_committed_since(graph_db):
    """The rows a kept view's snapshot did not see are those of the transactions it
    saw running (its xip) and of every one from its xmax on. They were read from
    the snapshot's xmin on: a transaction running since long before (a long write,
    another backend's apply of seconds under unthrottled writers) holds every later
    snapshot's xmin, and each read visited again every row committed since it began,
    O(backlog) a read. Now, once more than 256 xids lie between that xmin and the
    xmax, the xip's and those from the xmax on: a read visits the rows committed since
    the read before it, and the long transaction's rows once it commits. Its answers
    are what a new backend folds."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as writer, \
            connect(graph_db) as reader:
        apply(admin)
        reader.execute("SET default_transaction_read_only = on")
        reach = "SELECT node_id, depth FROM graph.traverse('uw.n', '21', max_depth => 2) ORDER BY 1, 2"
        reader.execute(reach).fetchall()
        late.execute("BEGIN")
        late.execute("INSERT INTO uw.e VALUES (9100, 21, 30)")  # holds every later snapshot's xmin
        for _ in range(300):  # more than 256 xids between the xmin it holds and the xmax
            writer.execute("SELECT pg_current_xact_id()")
        reader.execute(reach).fetchall()
        visits = []
        for _ in range(4):
            writer.execute("UPDATE uw.e SET dst = dst % 40 + 1 WHERE id BETWEEN 10 AND 14")  # five rows
            visits.append(log_rows_visited(reader, reach))
        assert visits[1:] == [5, 5, 5], visits
        late.execute("COMMIT")
        writer.execute("UPDATE uw.e SET dst = dst % 40 + 1 WHERE id BETWEEN 10 AND 14")
        assert log_rows_visited(reader, reach) == 6  # late's row and the five
        got = reader.execute(reach).fetchall()
        with connect(graph_db) as fresh:
            fresh.execute("SET default_transaction_read_only = on")
            assert got == fresh.execute(reach).fetchall() and ("30", 1) in got
        apply(admin)
        assert reader.execute(reach).fetchall() == got
        writer.execute("DELETE FROM uw.e WHERE id = 9100")
        apply(admin)
