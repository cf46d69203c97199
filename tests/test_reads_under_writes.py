"""What a read costs while the source tables change, counted, not timed.

Under the default freshness a read that finds a few rows committed since its
last read folds them onto the view it kept (reads/freshness.py). Its START
statement (reads/start.py) reads those rows and looks up, in the same snapshot,
the nodes of the keys they name, so the fold runs no statement of its own: a
read under writes runs one statement, as a read at rest does. A lookup of its
own for the keys (RESOLVE) shows here as a second statement per read.

The reader reads in read-only transactions, so that it folds (a read-write one
may apply the pending rows, at most about once a second); each folded answer is
compared with the answer after the rows are applied -- over updates that move an
edge to another node, to a key no node has, and to a node inserted in the same
transaction."""

import json

import pytest

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
return json.dumps({"statements": db.COUNTS["statements"], "rows_folded": f.STATS["rows_folded"] if f else 0})
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


def test_a_read_that_folds_a_few_rows_runs_one_statement(graph_db):
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
            for seed in ("1", "2", "3", "4"):
                folded[seed] = reader.execute(READ, (seed,)).fetchall()
            after = counts(reader)
            per_read.append((after["statements"] - before["statements"]) / 4)
            assert after["rows_folded"] > before["rows_folded"], (sql, per_read, before, after)  # it folded
        assert per_read == [1.0] * len(per_read)  # START, nothing else
        assert ("41", 1) in folded["3"]  # the node inserted with the edge, folded
        assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] > 0
        apply(admin)
        for seed, rows in folded.items():
            assert reader.execute(READ, (seed,)).fetchall() == rows, seed  # the applied graph agrees
