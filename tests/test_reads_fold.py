"""Reads that fold pending log rows in memory (reads/freshness.py): a fold of many
rows (full arrays, keys looked up in the backend's index of the base's keys)
reads what replay then applies, and a folded view is kept exactly as long as the
pending rows stay the same -- a new commit, a late commit with a lower log id, a
transaction's own rows rolled back to a savepoint each make the next read fold
again. Real sessions: a reader whose every transaction is read-only cannot apply
and folds; a writer; an admin who applies."""

import pytest

from conftest import apply, connect
from test_reads_incremental import FOLD_STATS, fold_stats

SCHEMA = """
DROP SCHEMA IF EXISTS rf CASCADE;
CREATE SCHEMA rf;
CREATE TABLE rf.n (id int PRIMARY KEY);
CREATE TABLE rf.l (id serial PRIMARY KEY, src int NOT NULL, dst int NOT NULL, w float8, kind text NOT NULL);
INSERT INTO rf.n SELECT g FROM generate_series(1, 3000) g;
SELECT setseed(0.5);
INSERT INTO rf.l (src, dst, w, kind)
SELECT 1 + floor(random() * 3000)::int, 1 + floor(random() * 3000)::int, 1 + floor(random() * 5),
       (ARRAY['a', 'b'])[1 + g % 2]
FROM generate_series(1, 5000) g;
SELECT graph.add_table('rf.n');
SELECT graph.add_edge('rf.n', 'src', 'rf.n', to_column => 'dst', via_table => 'rf.l',
                      weight_column => 'w', label_column => 'kind');
SELECT graph.build();
"""

SEEDS = ["1", "7", "100", "2500"]


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def walk(conn, seed, direction="out", edge_types=None):
    """Rows of a traversal: exact for 'out' (the edge order is the one replay keeps),
    (node, depth) for the other directions (a node reached by two edges at one
    depth may name either parent)."""
    rows = conn.execute(
        "SELECT node_id, depth, parent_id, edge_label FROM graph.traverse('rf.n', %s, max_depth => 2,"
        " direction => %s, edge_types => %s, max_nodes => 100000)", [seed, direction, edge_types]).fetchall()
    if direction == "out":
        return [tuple(r) for r in rows]
    return sorted((r[0], r[1]) for r in rows)


def reads(conn):
    return {(s, d, str(t)): walk(conn, s, d, t) for s in SEEDS for d in ("out", "in", "any")
            for t in (None, ["a"])}


def test_a_fold_of_many_rows_reads_what_replay_applies(graph_db):
    with connect(graph_db) as admin, connect(graph_db) as reader:
        reader.execute("SET default_transaction_read_only = on")  # cannot apply: folds
        admin.execute("""INSERT INTO rf.n SELECT g FROM generate_series(3001, 3200) g""")
        admin.execute("""INSERT INTO rf.l (src, dst, w, kind)
                         SELECT 1 + (g * 7919) % 3200, 1 + (g * 104729) % 3200, 1 + g % 4,
                                (ARRAY['a', 'b', 'c'])[1 + g % 3]
                         FROM generate_series(1, 12000) g""")
        admin.execute("DELETE FROM rf.l WHERE id % 17 = 0 AND id <= 5000")
        admin.execute("UPDATE rf.l SET dst = 1 + (dst * 31) % 3000 WHERE id % 23 = 0 AND id <= 5000")
        admin.execute("DELETE FROM rf.n WHERE id IN (7, 8, 9)")  # tombstones, some with edges
        pending = admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]
        assert pending > 12_000
        folded = reads(reader)
        assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == pending
        assert reader.execute("SELECT count(*) FROM graph.traverse('rf.n', '3100', max_depth => 0)"
                              ).fetchone()[0] == 1  # a node only the pending rows hold
        apply(admin)
        reader.execute("SET default_transaction_read_only = off")
        assert reads(reader) == folded
        with connect(graph_db) as fresh:  # a backend that never folded
            assert reads(fresh) == folded


def test_a_folded_view_is_kept_only_while_the_pending_rows_stay(graph_db):
    reach = ("SELECT node_id FROM graph.traverse('rf.n', '3000', max_depth => 1) WHERE depth = 1"
             " ORDER BY 1")
    with connect(graph_db) as admin, connect(graph_db) as reader, connect(graph_db) as late:
        admin.execute("DELETE FROM rf.l WHERE src = 3000")
        apply(admin)
        reader.execute("SET default_transaction_read_only = on")

        def seen():
            return [r[0] for r in reader.execute(reach).fetchall()]

        assert seen() == []
        admin.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2001, 'a')")
        assert seen() == ["2001"]
        assert seen() == ["2001"]  # kept
        admin.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2002, 'a')")
        assert seen() == ["2001", "2002"]
        late.execute("BEGIN")
        late.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2003, 'a')")  # a lower log id
        admin.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2004, 'a')")
        assert seen() == ["2001", "2002", "2004"]
        late.execute("COMMIT")
        assert seen() == ["2001", "2002", "2003", "2004"]
        apply(admin)
        reader.execute("SET default_transaction_read_only = off")
        # A transaction's own rows: folded (committed ones are applied, none pending).
        reader.execute("BEGIN")
        reader.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2005, 'a')")
        assert seen() == ["2001", "2002", "2003", "2004", "2005"]
        reader.execute("SAVEPOINT s")
        reader.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2006, 'a')")
        assert seen() == ["2001", "2002", "2003", "2004", "2005", "2006"]
        reader.execute("ROLLBACK TO SAVEPOINT s")
        reader.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2007, 'a')")  # as many own rows
        assert seen() == ["2001", "2002", "2003", "2004", "2005", "2007"]
        reader.execute("ROLLBACK")
        assert seen() == ["2001", "2002", "2003", "2004"]


def test_a_view_folded_into_full_arrays_is_kept_while_nothing_new_commits(graph_db):
    """A fold of many rows (full arrays: it cannot be folded onto) is kept for the
    reads after it while the pending rows stay: they fold nothing. A new commit
    folds all pending rows again, from the applied view."""
    with connect(graph_db) as admin, connect(graph_db) as reader:
        apply(admin)
        reader.execute(FOLD_STATS)
        reader.execute("SET default_transaction_read_only = on")
        admin.execute("""INSERT INTO rf.l (src, dst, w, kind)
                         SELECT 1 + (g * 37) % 3000, 1 + (g * 101) % 3000, 1, 'a' FROM generate_series(1, 1500) g""")
        first = reads(reader)
        before = fold_stats(reader)
        assert reads(reader) == first
        assert fold_stats(reader) == before  # nothing folded again
        admin.execute("INSERT INTO rf.l (src, dst, kind) VALUES (3000, 2001, 'z')")  # a new label
        second = walk(reader, "3000", edge_types=["z"])
        after = fold_stats(reader)
        assert after["folds"] == before["folds"] + 1 and after["rows_folded"] == before["rows_folded"] + 1501
        assert second == [("3000", 0, None, None), ("2001", 1, "3000", "z")]
        apply(admin)
        reader.execute("SET default_transaction_read_only = off")
        assert walk(reader, "3000", edge_types=["z"]) == second  # what replay applied
