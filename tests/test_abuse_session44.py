"""What a backend keeps for the reads of later calls, across roles, settings and rollbacks."""

import time
import uuid

import pytest
from psycopg import sql

from conftest import apply, as_role, connect

SCHEMA = """
DROP SCHEMA IF EXISTS ss44 CASCADE;
CREATE SCHEMA ss44;
CREATE TABLE ss44.items (id int PRIMARY KEY);
CREATE TABLE ss44.links (id serial PRIMARY KEY, src int, dst int, rel text);
INSERT INTO ss44.items VALUES (1), (2), (3);
INSERT INTO ss44.links (src, dst, rel) VALUES (1, 2, 'a');
SELECT graph.add_table('ss44.items');
SELECT graph.add_edge('ss44.items', 'src', 'ss44.items', to_column => 'dst', via_table => 'ss44.links',
                      label_column => 'rel');
SELECT graph.build();
"""


@pytest.fixture
def reader(db):
    role = "gs_ss44_" + uuid.uuid4().hex[:8]
    with connect(db) as admin:
        admin.execute(SCHEMA)
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA ss44 TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON ss44.items, ss44.links TO {}").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        with connect(db) as admin:
            admin.execute("SELECT graph.remove_table('ss44.items', true)")
            admin.execute("DROP SCHEMA ss44 CASCADE")
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


ASK = "SELECT node_id, edge_label FROM graph.traverse('ss44.items', '1', edge_types => %s) ORDER BY node_id"


@pytest.mark.parametrize("undo", [["ROLLBACK"], ["ROLLBACK TO SAVEPOINT s", "COMMIT"]])
def test_a_label_a_rolled_back_apply_added_is_not_kept(db, reader, undo):
    """A read that applied pending rows in the reader's transaction showed the label
    they added (its graph._labels row, of an id from a sequence); the transaction (or
    the savepoint) rolled back, the label went with it, and the next apply gave it
    another id. The backend kept the name under the rolled-back id, and every later
    read asking for that label by name found no edge of it, until a rebuild."""
    with connect(db) as admin, as_role(db, reader) as b:
        assert b.execute(ASK, (["a"],)).fetchall() == [("1", None), ("2", "a")]
        admin.execute("INSERT INTO ss44.links (src, dst, rel) VALUES (1, 3, 'zz')")
        time.sleep(1.1)  # the last apply a second old: the reader's read applies
        b.execute("BEGIN")
        b.execute("SAVEPOINT s")
        assert b.execute(ASK, (["zz"],)).fetchall() == [("1", None), ("3", "zz")]
        assert b.execute("SELECT count(*) FROM graph._labels WHERE label = 'zz'").fetchone()[0] == 1  # applied
        for statement in undo:
            b.execute(statement)
        assert b.execute("SELECT count(*) FROM graph._labels WHERE label = 'zz'").fetchone()[0] == 0
        apply(admin)
        assert b.execute(ASK, (["zz"],)).fetchall() == [("1", None), ("3", "zz")]
        with as_role(db, reader) as fresh:
            assert fresh.execute(ASK, (["zz"],)).fetchall() == [("1", None), ("3", "zz")]


READ = "SELECT node_id FROM graph.traverse('ss44.items', '1') ORDER BY node_id"


def test_an_edge_a_savepoint_took_back_is_not_kept_after_the_commit(db, reader):
    """A read applied a pending row in the reader's transaction, which a rollback to a
    savepoint took back before the transaction committed. The backend kept the graph
    holding that row's edge (its transaction committed), and after the row was
    deleted and both changes applied, showed the edge for ever."""
    with connect(db) as admin, as_role(db, reader) as b:
        assert b.execute(READ).fetchall() == [("1",), ("2",)]
        admin.execute("INSERT INTO ss44.links (src, dst, rel) VALUES (1, 3, 'a')")
        time.sleep(1.1)  # the last apply a second old: the reader's read applies
        b.execute("BEGIN")
        b.execute("SAVEPOINT s")
        assert b.execute(READ).fetchall() == [("1",), ("2",), ("3",)]
        b.execute("ROLLBACK TO SAVEPOINT s")
        b.execute("COMMIT")
        admin.execute("DELETE FROM ss44.links WHERE dst = 3")
        apply(admin)
        assert b.execute(READ).fetchall() == [("1",), ("2",)]
