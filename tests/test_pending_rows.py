"""The pending log rows a read folds (graph._pending_log, graph._pending_rows,
graph._read_sync): which rows, what finding them scans, and who gets them.

- A read with rows pending finds them through the log's btree indexes (id above
  the applied position, xid for the transactions the applied snapshot counted as
  running): counted, not timed, with the backend's own table counters
  (pg_stat_xact_user_tables), on a log of thousands of applied rows that a scan
  from the applied snapshot's xmin would visit.
- A transaction that took a low log id and commits after a pass applied higher
  ones is pending, folded and then applied.
- Rows of a table whose row-level security applies to the reading role never
  come back from graph._pending_rows, even called directly; a read-write read
  applies them first; a read-only one reads the applied graph for that table and
  says so in a WARNING that quotes no value.

Real roles, each reading through its own connection."""

import psycopg
import pytest

from conftest import apply, connect, pending_count

T1, T2, BYPASS = "gs_pend_t1", "gs_pend_t2", "gs_pend_bypass"

SCHEMA = f"""
DROP SCHEMA IF EXISTS ps CASCADE;
CREATE SCHEMA ps;
CREATE TABLE ps.docs (tenant int NOT NULL, id int PRIMARY KEY, title text NOT NULL, parent_id int REFERENCES ps.docs);
CREATE TABLE ps.notes (id int PRIMARY KEY, body text NOT NULL, doc_id int REFERENCES ps.docs);
INSERT INTO ps.docs VALUES (1, 1, 'one', NULL), (2, 2, 'two', NULL);
INSERT INTO ps.notes VALUES (1, 'note one', 1);
SELECT graph.add_table('ps.docs', columns => '{{title}}');
SELECT graph.add_table('ps.notes', columns => '{{body}}');
SELECT graph.add_edge('ps.docs', 'parent_id', 'ps.docs', label => 'parent');
SELECT graph.add_edge('ps.notes', 'doc_id', 'ps.docs', label => 'on');
SELECT graph.build();
DROP ROLE IF EXISTS {T1}; DROP ROLE IF EXISTS {T2}; DROP ROLE IF EXISTS {BYPASS};
CREATE ROLE {T1} LOGIN; CREATE ROLE {T2} LOGIN; CREATE ROLE {BYPASS} LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA ps TO {T1}, {T2}, {BYPASS};
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ps TO {T1}, {T2}, {BYPASS};
ALTER TABLE ps.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_tenant ON ps.docs
    USING (tenant = CASE current_user WHEN '{T1}' THEN 1 WHEN '{T2}' THEN 2 END);
CREATE POLICY bypass_all ON ps.docs TO {BYPASS} USING (true);
"""

PENDING = ("SELECT table_oid::regclass::text, new_pk, new_row, properties"
           " FROM graph._pending_rows(current_user::regrole, 1000)")
DOCS = ("SELECT node_id FROM graph.traverse('ps.docs', '1', max_depth => 1, direction => 'in')"
        " WHERE node_table = 'ps.docs'::regclass ORDER BY 1")


@pytest.fixture(scope="module")
def ps_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def as_role(dsn, role):
    c = connect(dsn)
    c.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role)))
    warnings = []
    # the fields, read in the handler (the notice is gone after it)
    c.add_notice_handler(lambda d: warnings.append((d.message_primary, d.message_detail, d.message_hint))
                         if d.severity_nonlocalized == "WARNING" else None)
    c.warnings = warnings
    return c


def test_pending_rows_never_hand_out_rows_of_a_table_whose_row_security_applies(ps_db):
    with connect(ps_db) as w, as_role(ps_db, T1) as t1, as_role(ps_db, BYPASS) as by:
        w.execute("INSERT INTO ps.docs VALUES (2, 20, 'secret of tenant two', 1)")
        w.execute("INSERT INTO ps.notes VALUES (20, 'a note anyone may read', 1)")
        try:
            rows = t1.execute(PENDING).fetchall()
            assert not any("secret" in str(r) for r in rows), rows
            assert [r[:2] for r in rows] == [("ps.notes", "20")]  # a table without row-level security
            assert ("ps.docs", "20") in [r[:2] for r in by.execute(PENDING).fetchall()]  # BYPASSRLS
            assert ("ps.docs", "20") in [r[:2] for r in w.execute(PENDING).fetchall()]  # the owner
        finally:
            apply(w)


def test_a_read_write_read_applies_rows_of_such_a_table_first(ps_db):
    with connect(ps_db) as w, as_role(ps_db, T1) as t1:
        apply(w)  # the last apply is less than a second old: a read would fold a few rows
        w.execute("INSERT INTO ps.docs VALUES (1, 30, 'child of one', 1)")
        assert t1.execute(DOCS).fetchall() == [("1",), ("30",)]
        assert pending_count(w) == 0 and t1.warnings == []


def test_a_read_only_read_leaves_them_out_and_says_so(ps_db):
    with connect(ps_db) as w, as_role(ps_db, T1) as t1, as_role(ps_db, BYPASS) as by:
        w.execute("INSERT INTO ps.docs VALUES (1, 31, 'secret title 31', 1)")
        w.execute("INSERT INTO ps.notes VALUES (31, 'note 31', 1)")
        try:
            for c in (t1, by):
                c.execute("BEGIN READ ONLY")
            try:
                one = t1.execute("SELECT node_table::text, node_id FROM graph.traverse('ps.docs', '1',"
                                 " max_depth => 1, direction => 'in')").fetchall()
                bypass = by.execute("SELECT node_table::text, node_id FROM graph.traverse('ps.docs', '1',"
                                    " max_depth => 1, direction => 'in')").fetchall()
            finally:
                for c in (t1, by):
                    c.execute("ROLLBACK")
            assert ("ps.notes", "31") in one and ("ps.docs", "31") not in one  # folded / left out
            assert ("ps.docs", "31") in bypass and by.warnings == []
            assert len(t1.warnings) == 1
            primary, detail, hint = t1.warnings[0]
            assert "row-level security" in primary and hint
            assert "31" not in " ".join(filter(None, (primary, detail, hint)))  # no key, no value
            assert pending_count(w) == 2  # nothing applied
        finally:
            apply(w)
        assert ("ps.docs", "31") in t1.execute("SELECT node_table::text, node_id FROM graph.traverse("
                                               "'ps.docs', '1', max_depth => 1, direction => 'in')").fetchall()


def test_a_read_finds_the_pending_rows_without_scanning_the_applied_log(ps_db):
    """A transaction that took a low log id, still running while thousands of rows
    are applied, commits: the read folds its row and the one after it, visiting a
    handful of log rows, not the thousands a scan from the applied snapshot's xmin
    (which that transaction holds back) visits."""
    with connect(ps_db) as w, connect(ps_db) as slow, connect(ps_db) as r:
        slow.execute("BEGIN")
        slow.execute("INSERT INTO ps.notes VALUES (100, 'slow', 2)")
        w.execute("INSERT INTO ps.notes SELECT g, 'bulk', 1 FROM generate_series(1000, 4999) g")
        apply(w)
        slow.execute("COMMIT")
        w.execute("INSERT INTO ps.notes VALUES (101, 'after', 2)")
        assert pending_count(w) == 2
        r.execute("BEGIN READ ONLY")
        before = r.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM"
                           " pg_stat_xact_user_tables WHERE relid = 'graph._sync_log'::regclass").fetchone()
        found = r.execute("SELECT node_id FROM graph.traverse('ps.docs', '2', max_depth => 1, direction => 'in')"
                          " WHERE node_table = 'ps.notes'::regclass ORDER BY 1").fetchall()
        after = r.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM"
                          " pg_stat_xact_user_tables WHERE relid = 'graph._sync_log'::regclass").fetchone()
        r.execute("COMMIT")
        assert found == [("100",), ("101",)]
        visited = (after[0] if after else 0) - (before[0] if before else 0)
        assert 0 < visited <= 20, visited  # the pending rows, read once or twice, and a probe or two
        apply(w)
        assert pending_count(w) == 0
        assert [x[0] for x in r.execute(
            "SELECT node_id FROM graph.traverse('ps.docs', '2', max_depth => 1, direction => 'in')"
            " WHERE node_table = 'ps.notes'::regclass ORDER BY 1")] == ["100", "101"]


# The pending rows by their definition (graph._sync_state's header): not visible in
# done_snapshot, not applied by a half-done pass, not read by the last build in its own
# transaction -- a scan of the log from done_snapshot's xmin, as graph._pending_log()
# was before it went by index.
BY_DEFINITION = """
SELECT l.id FROM graph._sync_state AS s JOIN graph._sync_log AS l
    ON l.xid >= pg_snapshot_xmin(s.done_snapshot)::text::bigint
   AND NOT pg_visible_in_snapshot(l.xid::text::xid8, s.done_snapshot)
   AND NOT (s.target_snapshot IS NOT NULL AND l.id <= s.target_position
            AND pg_visible_in_snapshot(l.xid::text::xid8, s.target_snapshot))
   AND NOT (l.xid = s.build_xid AND l.id <= s.build_position)
ORDER BY l.id
"""


def same_rows(c):
    """The pending rows by graph._pending_log(), by definition, by the views a read
    folds them through (graph._pending_visible, by a range of ids: migration 305;
    graph._pending_by_xid, by xid from a bound on: migration 422; a superuser may
    read every table) and by graph._read_sync's count, all the same."""
    by_index = [r[0] for r in c.execute("SELECT id FROM graph._pending_log()")]
    assert by_index == [r[0] for r in c.execute(BY_DEFINITION)]
    assert by_index == [r[0] for r in c.execute("SELECT id FROM graph._pending_visible ORDER BY id")]
    assert by_index == [r[0] for r in c.execute("SELECT id FROM graph._pending_by_xid WHERE xid >= 0 ORDER BY id")]
    # a snapshot that sees no transaction as seen: every pending row, through graph._pending_by_xid
    assert pending_columns(c, "1:1:") == pending_columns(c)
    # graph._read_sync counts them (by the same lookups, between passes) and names the highest
    counted, own, mark = c.execute("SELECT committed_rows, own_rows, pending_mark"
                                   " FROM graph._read_sync(false, current_user::regrole, false)").fetchone()
    assert counted + own == len(by_index)
    assert (mark is None and not by_index) or mark.endswith("/%d" % by_index[-1]), (mark, by_index)
    assert pending_columns(c) == c.execute(ROWS).fetchall()  # what reads read: the same rows
    return by_index


ROWS = ("SELECT id, op, table_oid, old_pk, new_pk, properties, old_row, new_row"
        " FROM graph._pending_rows(current_user::regrole, 1000)")


def pending_columns(c, seen=None):
    """graph._pending_columns' row as rows (graph._pending_rows'), by id."""
    ids, ops, tables, old_pks, new_pks, *joined = c.execute(
        "SELECT * FROM graph._pending_columns(current_user::regrole, 1000, %s)", (seen,)).fetchone()
    if ids is None:
        return []
    texts = [[t or None for t in j.split("\n")] for j in joined]
    return sorted(zip(ids, ops, tables, old_pks, new_pks, *texts, strict=True))


def test_the_pending_rows_by_index_are_the_pending_rows_by_definition(ps_db):
    """Around the states the index lookup reasons about: transactions the applied
    snapshot counted as running (committed since, still running, rolled back), the
    reader's own rows before and after an apply in its transaction, a pass committed
    half-way (graph.apply_sync(max_batches)), a build in a transaction that wrote."""
    with connect(ps_db) as w, connect(ps_db) as slow, connect(ps_db) as gone, connect(ps_db) as me:
        apply(w)
        assert same_rows(w) == []
        slow.execute("BEGIN")
        slow.execute("INSERT INTO ps.notes VALUES (200, 'slow', 1)")
        gone.execute("BEGIN")
        gone.execute("INSERT INTO ps.notes VALUES (201, 'rolled back', 1)")
        w.execute("INSERT INTO ps.notes SELECT g, 'bulk', 1 FROM generate_series(210, 219) g")
        apply(w)  # slow and gone are in its snapshot's xip
        w.execute("INSERT INTO ps.notes VALUES (220, 'after', 1)")
        assert len(same_rows(w)) == 1  # slow's row is not committed
        gone.execute("ROLLBACK")
        slow.execute("COMMIT")
        assert len(same_rows(w)) == 2
        # the reader's own rows, before and after an apply in its transaction
        me.execute("BEGIN")
        me.execute("INSERT INTO ps.notes VALUES (230, 'mine', 1)")
        assert len(same_rows(me)) == 3
        apply(me)
        assert len(same_rows(me)) == 1 and len(same_rows(w)) == 2  # its apply is not committed
        me.execute("COMMIT")
        assert len(same_rows(w)) == 1
        # a pass committed half-way
        w.execute("INSERT INTO ps.notes SELECT g, 'more', 1 FROM generate_series(240, 245) g")
        w.execute("SET graph.sync_batch_size = 2")
        try:
            w.execute("SELECT graph.apply_sync(max_batches => 2)")
            assert w.execute("SELECT target_snapshot IS NOT NULL FROM graph._sync_state").fetchone() == (True,)
            assert len(same_rows(w)) == 3
        finally:
            w.execute("RESET graph.sync_batch_size")
        apply(w)
        assert same_rows(w) == []
        # a build in a transaction that wrote, then wrote again
        me.execute("BEGIN")
        me.execute("INSERT INTO ps.notes VALUES (250, 'before the build', 1)")
        me.execute("SELECT graph.build()")
        me.execute("INSERT INTO ps.notes VALUES (251, 'after the build', 1)")
        assert len(same_rows(me)) == 1
        me.execute("COMMIT")
        assert len(same_rows(w)) == 1
        apply(w)
        assert same_rows(w) == []
