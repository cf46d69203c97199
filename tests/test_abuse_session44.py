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


def test_a_read_in_an_older_imported_snapshot_shows_no_edge_committed_after_it(db, reader):
    """A transaction that imports an older snapshot (SET TRANSACTION SNAPSHOT) reads the
    graph as of that snapshot. The backend's kept graph, refreshed by an earlier read
    past it, was taken for it: the read showed an edge whose row that snapshot does not
    see (a new backend did not)."""
    with connect(db) as admin, connect(db) as exporter, as_role(db, reader) as b:
        assert b.execute(READ).fetchall() == [("1",), ("2",)]
        exporter.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snapshot = exporter.execute("SELECT pg_export_snapshot()").fetchone()[0]
        admin.execute("INSERT INTO ss44.links (src, dst, rel) VALUES (1, 3, 'a')")
        apply(admin)
        assert b.execute(READ).fetchall() == [("1",), ("2",), ("3",)]
        for c in (b, fresh := as_role(db, reader)):
            c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            c.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            assert c.execute("SELECT count(*) FROM ss44.links").fetchone()[0] == 1
            assert c.execute(READ).fetchall() == [("1",), ("2",)]
            c.execute("ROLLBACK")
        fresh.close()
        exporter.execute("ROLLBACK")
        assert b.execute(READ).fetchall() == [("1",), ("2",), ("3",)]


# A table whose owner's SECURITY DEFINER function (its application's API) archives
# it under another name; another role calling it is a session the schema-change follower
# cannot follow (neither the owner's nor graph_admin's), so the registry keeps the old
# name (follow_failed) until graph.reconcile(). That role may create in the schema: it
# gives the freed name to a view whose query calls its function, which records who runs
# it (and could do anything with that role's rights).
RENAMED = """
DROP SCHEMA IF EXISTS ss44r CASCADE;
CREATE SCHEMA ss44r;
CREATE TABLE ss44r.people (member name NOT NULL, id int PRIMARY KEY, name text NOT NULL);
INSERT INTO ss44r.people VALUES (:'reader', 1, 'ann'), ('nobody', 2, 'bob');
CREATE TABLE ss44r.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL);
INSERT INTO ss44r.links VALUES (1, 1, 2);
SELECT graph.add_table('ss44r.people', columns => '{name}');
SELECT graph.add_edge('ss44r.people', 'src', 'ss44r.people', to_column => 'dst', via_table => 'ss44r.links');
SELECT graph.build();
"""
RENAMED_OWNER = """
ALTER TABLE ss44r.people ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON ss44r.people FOR SELECT USING (member = current_user);
CREATE FUNCTION ss44r.archive() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ALTER TABLE ss44r.people RENAME TO people_v1;
END $$;
"""
TAKE_THE_NAME = """
CREATE TABLE ss44r.calls (who name);
GRANT INSERT ON ss44r.calls TO PUBLIC;
CREATE FUNCTION ss44r.spy() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ss44r.calls VALUES (current_user);
    RETURN 1;
END $$;
CREATE VIEW ss44r.people AS
    SELECT current_user AS member, g AS id, 'forged ' || ss44r.spy() AS name FROM generate_series(1, 2) AS g;
GRANT SELECT ON ss44r.people TO PUBLIC;
"""


@pytest.fixture
def renamed(db):
    suffix = uuid.uuid4().hex[:8]
    owner, reader, mallory = "gs_ss44o_" + suffix, "gs_ss44r_" + suffix, "gs_ss44m_" + suffix
    with connect(db) as c:
        for r in (owner, reader, mallory):
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r)))
        c.execute(RENAMED.replace(":'reader'", sql.Literal(reader).as_string(c)))
        c.execute(sql.SQL("ALTER TABLE ss44r.people OWNER TO {0}; ALTER TABLE ss44r.links OWNER TO {0}")
                  .format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA ss44r TO {}, {}").format(
            sql.Identifier(owner), sql.Identifier(mallory)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA ss44r TO {}").format(sql.Identifier(reader)))
    with as_role(db, owner) as o:
        o.execute(RENAMED_OWNER)
        o.execute(sql.SQL("GRANT SELECT ON ss44r.people, ss44r.links TO {}").format(sql.Identifier(reader)))
        o.execute(sql.SQL("GRANT EXECUTE ON FUNCTION ss44r.archive() TO {}").format(sql.Identifier(mallory)))
    try:
        yield reader, mallory
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
            c.execute("DROP SCHEMA ss44r CASCADE")
            for r in (owner, reader, mallory):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


def _archive_and_take_the_name(db, mallory):
    with as_role(db, mallory) as m:
        m.execute("SELECT ss44r.archive()")
        with connect(db) as c:  # the registry kept the old name
            assert c.execute("SELECT table_name FROM graph._node_tables").fetchone()[0] == "ss44r.people"
        m.execute(TAKE_THE_NAME)


PEOPLE = "(SELECT table_oid::regclass FROM graph._node_tables)"
HYDRATED = f"SELECT node_id, node ->> 'name' FROM graph.traverse({PEOPLE}, '1', hydrate => true) ORDER BY node_id"


def test_a_kept_hydrate_statement_reads_no_view_that_took_the_registered_tables_name(db, renamed):
    """A hydrating read keeps its statement for the backend, naming the table. The
    table renamed without the registry following and a view given the old name, a
    superuser's backend that had hydrated before read the view: its function ran as
    the superuser (graph._source_name checked the registered table, by oid)."""
    reader, mallory = renamed
    with connect(db) as su:
        assert su.execute(HYDRATED).fetchall() == [("1", "ann"), ("2", "bob")]
        _archive_and_take_the_name(db, mallory)
        assert su.execute(HYDRATED).fetchall() == [("1", "ann"), ("2", "bob")]
        assert su.execute("SELECT who FROM ss44r.calls").fetchall() == []


COMPONENTS = "SELECT size FROM graph.component_stats() ORDER BY size"


def test_a_kept_row_statement_reads_no_view_that_took_the_registered_tables_name(db, renamed):
    """The same for the statement a read keeps that asks a secured table which rows the
    caller can see (the component functions, weighted paths): a reader's backend read
    the view another role gave the old name, whose function ran as the reader."""
    reader, mallory = renamed
    with as_role(db, reader) as r:
        assert r.execute(COMPONENTS).fetchall() == [(1,)]
        _archive_and_take_the_name(db, mallory)
        assert r.execute(COMPONENTS).fetchall() == [(1,)]
    with connect(db) as c:
        assert c.execute("SELECT who FROM ss44r.calls").fetchall() == []
