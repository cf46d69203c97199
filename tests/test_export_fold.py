"""An export folds pending rows as a traversal does. It reads twice in one read
(reads/export.py: the traversal, then the edges among the nodes it found), and the two
reads ask the labels of different tables (access.label_carriers): the second found the
backend's folded view kept by the first, read for the first one's labels, would not
fold onto it, and started the read again -- which did the same, ten times, and failed
with 40001 ("the graph changed 10 times while this read started") whenever a row was
pending and the read folded it."""

import pytest

from conftest import apply, connect

SCHEMA = """
DROP SCHEMA IF EXISTS m CASCADE;
CREATE SCHEMA m;
CREATE TABLE m.items (id int PRIMARY KEY);
CREATE TABLE m.links (id serial PRIMARY KEY, src int, dst int, rel text);
INSERT INTO m.items VALUES (1), (2);
INSERT INTO m.links (src, dst, rel) VALUES (1, 2, 'r');
SELECT graph.add_table('m.items');
SELECT graph.add_edge('m.items', 'src', 'm.items', to_column => 'dst', via_table => 'm.links',
                      label_column => 'rel');
SELECT graph.build();
"""


@pytest.mark.parametrize("fn", ["export_dot", "export_graphml", "export_mermaid"])
def test_an_export_that_folds_a_pending_row_answers(db, fn):
    with connect(db) as admin, connect(db) as reader:
        admin.execute(SCHEMA)
        reader.execute("SET default_transaction_read_only = on")  # cannot apply: folds
        admin.execute("INSERT INTO m.items VALUES (3)")  # one pending row
        assert reader.execute("SELECT count(*) FROM graph.traverse('m.items', '1', max_depth => 0)"
                              ).fetchone()[0] == 1  # a traversal alone folds it
        folded = reader.execute(f"SELECT graph.{fn}('m.items', '1', max_depth => 1)").fetchone()[0]
        alone = reader.execute(f"SELECT graph.{fn}('m.items', '3', max_depth => 0)").fetchone()[0]
        apply(admin)
        assert reader.execute(f"SELECT graph.{fn}('m.items', '1', max_depth => 1)").fetchone()[0] == folded
        assert reader.execute(f"SELECT graph.{fn}('m.items', '3', max_depth => 0)").fetchone()[0] == alone


def test_a_reader_that_folds_after_a_recent_apply_exports(db):
    """A read-write reader folds too while the last apply is less than a second old."""
    with connect(db) as admin, connect(db) as reader:
        admin.execute(SCHEMA)
        admin.execute("INSERT INTO m.items VALUES (3)")
        apply(admin)
        admin.execute("INSERT INTO m.items VALUES (4)")
        assert "4" in reader.execute("SELECT graph.export_dot('m.items', '4', max_depth => 0)").fetchone()[0]
