"""Transactions that mix application writes with admin calls, and keys that a
deferrable constraint lets two rows share for a moment: each ends with the graph
equal to its sources (verify() empty), every edge counted once."""

import psycopg
import pytest

from conftest import apply, connect, verify

SCHEMA = """
CREATE TABLE people (id int PRIMARY KEY, name text, boss int);
CREATE TABLE items (
    id int PRIMARY KEY DEFERRABLE INITIALLY IMMEDIATE, name text, owner int,
    CONSTRAINT items_name_key UNIQUE (name) DEFERRABLE INITIALLY IMMEDIATE
);
SELECT graph.add_table('people', columns => '{name}');
SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to');
SELECT graph.add_table('items', columns => '{name}');
SELECT graph.add_edge('items', 'owner', 'people', label => 'owned_by');
"""


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("SELECT graph.build()")
    return db


@pytest.fixture
def conn(graph_db):
    """A connection to a graph holding people 1..3 (2 and 3 report to 1) and
    items 1..3 owned by them, everything applied."""
    with connect(graph_db) as c:
        c.execute("TRUNCATE people, items")
        c.execute("INSERT INTO people VALUES (1, 'ann', NULL), (2, 'bob', 1), (3, 'cy', 1)")
        c.execute("INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        yield c


def overlay_count(c, label):
    """Net edges of ``label`` the overlay adds to the base."""
    return c.execute(
        """SELECT coalesce(sum(CASE WHEN o.op = '+' THEN 1 ELSE -1 END), 0)
           FROM graph._edge_overlay AS o JOIN graph._labels AS l USING (label_id)
           WHERE l.label = %s""", [label]).fetchone()[0]


def settle(c):
    """Apply everything; the graph must equal the sources, nothing failed."""
    result = apply(c)
    assert (result["failed"], result["stopped"]) == (0, None)
    assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
    assert verify(c) == []


# Admin calls inside a writing transaction ----------------------------------------


def test_build_inside_the_transaction_that_wrote_does_not_replay_those_writes(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        conn.execute("UPDATE people SET boss = 3, name = 'bobby' WHERE id = 2")
        conn.execute("DELETE FROM items WHERE id = 3")
        conn.execute("SELECT graph.build()")
    # The base holds the three writes; replaying them again would double the new
    # edges and cut the old ones twice.
    settle(conn)
    assert overlay_count(conn, "reports_to") == 0  # nothing left to overlay


def test_writes_after_the_build_in_the_same_transaction_are_replayed(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        conn.execute("SELECT graph.build()")
        conn.execute("INSERT INTO people VALUES (5, 'eve', 4)")
        conn.execute("UPDATE people SET boss = 5 WHERE id = 4")
        conn.execute("DELETE FROM people WHERE id = 3")
    settle(conn)
    assert conn.execute("SELECT count(*) FROM graph._nodes WHERE alive AND pk IN ('4', '5')"
                        " AND table_oid = 'people'::regclass").fetchone()[0] == 2


def test_build_twice_in_one_transaction(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        conn.execute("SELECT graph.build()")
        conn.execute("INSERT INTO people VALUES (5, 'eve', 4)")
        conn.execute("SELECT graph.build()")
        conn.execute("INSERT INTO people VALUES (6, 'fay', 5)")
    settle(conn)


def test_truncate_then_build_in_one_transaction(conn):
    with conn.transaction():
        conn.execute("TRUNCATE items")
        conn.execute("INSERT INTO items VALUES (7, 'g', 2)")
        conn.execute("SELECT graph.build()")
        conn.execute("INSERT INTO items VALUES (8, 'h', 3)")
    settle(conn)
    assert conn.execute("SELECT count(*) FROM graph._sync_log WHERE needs_vacuum").fetchone()[0] == 0


def test_build_rolled_back_to_a_savepoint_leaves_the_writes_to_replay(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        with pytest.raises(psycopg.errors.RaiseException):
            with conn.transaction():  # a savepoint
                conn.execute("SELECT graph.build()")
                conn.execute("DO $$ BEGIN RAISE EXCEPTION 'undo the build'; END $$")
        conn.execute("INSERT INTO people VALUES (5, 'eve', 4)")
    settle(conn)


def test_a_build_of_another_transaction_does_not_skip_these_rows(conn, graph_db):
    """The build's record of its own rows names its transaction only."""
    with connect(graph_db) as other:
        other.execute("BEGIN")
        other.execute("INSERT INTO people VALUES (9, 'ivy', 1)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        conn.execute("SELECT graph.build()")
        conn.execute("COMMIT")
        other.execute("COMMIT")
    settle(conn)


def test_apply_sync_in_the_middle_of_a_writing_transaction(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        result = apply(conn)  # its own rows are not committed: nothing to apply
        assert result["inserts"] == 0
        conn.execute("INSERT INTO people VALUES (5, 'eve', 4)")
        apply(conn)
    settle(conn)


def test_retry_failed_in_the_middle_of_a_writing_transaction(conn):
    conn.execute("""
        CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.pk = '13' AND NEW.alive THEN RAISE EXCEPTION 'node 13 is cursed'; END IF;
            RETURN NEW;
        END $$""")
    conn.execute("""CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
                    FOR EACH ROW EXECUTE FUNCTION public.poison()""")
    try:
        conn.execute("SET graph.sync_error_policy = 'skip'")
        conn.execute("INSERT INTO people VALUES (13, 'unlucky', 1), (14, 'lucky', 13)")
        assert apply(conn)["failed"] == 1
        conn.execute("DROP TRIGGER poison ON graph._node_rows")
        with conn.transaction():
            conn.execute("UPDATE people SET name = 'fine now', boss = 2 WHERE id = 13")
            conn.execute("SELECT * FROM graph.retry_failed()")
            conn.execute("INSERT INTO people VALUES (15, 'later', 13)")
        settle(conn)
    finally:
        conn.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        conn.execute("RESET graph.sync_error_policy")


def test_maintenance_inside_a_writing_transaction(conn):
    with conn.transaction():
        conn.execute("INSERT INTO people VALUES (4, 'dee', 2)")
        conn.execute("SELECT * FROM graph.vacuum()")
        conn.execute("INSERT INTO people VALUES (5, 'eve', 4)")
    settle(conn)


# A deferrable key duplicated for a moment ----------------------------------------


def test_swapping_two_keys_in_two_statements(conn):
    with conn.transaction():
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("UPDATE items SET id = 2 WHERE name = 'a'")  # two rows have id 2 now
        conn.execute("UPDATE items SET id = 1 WHERE name = 'b'")
    assert conn.execute("SELECT id, name FROM items ORDER BY id").fetchall() == [(1, "b"), (2, "a"), (3, "c")]
    settle(conn)


def test_swapping_two_keys_in_one_statement(conn):
    with conn.transaction():
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("UPDATE items SET id = 3 - id WHERE id IN (1, 2)")
    settle(conn)


def test_rotating_three_keys(conn):
    with conn.transaction():
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("UPDATE items SET id = 2 WHERE name = 'a'")
        conn.execute("UPDATE items SET id = 3 WHERE name = 'b'")
        conn.execute("UPDATE items SET id = 1 WHERE name = 'c'")
    settle(conn)


def test_inserting_the_new_version_before_deleting_the_old(conn):
    with conn.transaction():
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("INSERT INTO items VALUES (2, 'b2', 3)")  # id 2 twice
        conn.execute("DELETE FROM items WHERE name = 'b'")
    assert conn.execute("SELECT name, owner FROM items WHERE id = 2").fetchone() == ("b2", 3)
    settle(conn)
    assert conn.execute("""SELECT alive, properties->>'name' FROM graph._nodes
                           WHERE table_oid = 'items'::regclass AND pk = '2'""").fetchone() == (True, "b2")


def test_a_unique_key_other_than_the_primary_key_duplicated(graph_db):
    """The registered key may be any unique key; here a table keyed by its name."""
    with connect(graph_db) as c:
        c.execute("""CREATE TABLE tags (
                         name text PRIMARY KEY DEFERRABLE, color text)""")
        c.execute("SELECT graph.add_table('tags', columns => '{color}')")
        c.execute("INSERT INTO tags VALUES ('red', 'r'), ('blue', 'b')")
        c.execute("SELECT graph.build()")
        with c.transaction():
            c.execute("SET CONSTRAINTS ALL DEFERRED")
            c.execute("INSERT INTO tags VALUES ('red', 'r2')")
            c.execute("DELETE FROM tags WHERE color = 'r'")
            c.execute("UPDATE tags SET name = 'red' WHERE name = 'blue'")  # red three times
            c.execute("DELETE FROM tags WHERE color = 'r2'")
            c.execute("INSERT INTO tags VALUES ('blue', 'b2')")
        settle(c)
        c.execute("SELECT graph.remove_table('tags')")
        c.execute("DROP TABLE tags")


def test_duplicated_key_applied_in_two_passes(conn):
    """A pass may end inside the transaction (max_batches): the count of rows that
    hold a key carries over between passes."""
    conn.execute("SET graph.sync_batch_size = 1")
    try:
        with conn.transaction():
            conn.execute("SET CONSTRAINTS ALL DEFERRED")
            conn.execute("INSERT INTO items VALUES (2, 'b2', 3)")
            conn.execute("DELETE FROM items WHERE name = 'b'")
        conn.execute("SELECT graph.apply_sync(max_batches => 1)")
        assert conn.execute("""SELECT alive FROM graph._nodes
                               WHERE table_oid = 'items'::regclass AND pk = '2'""").fetchone() == (True,)
    finally:
        conn.execute("RESET graph.sync_batch_size")
    settle(conn)


def test_a_read_inside_the_transaction_sees_the_duplicated_key_alive(conn):
    with conn.transaction():
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("INSERT INTO items VALUES (2, 'b2', 3)")
        conn.execute("DELETE FROM items WHERE name = 'b'")
        rows = conn.execute("""SELECT node_table::text, node_id FROM graph.traverse('people', '3',
                                   direction => 'in', max_depth => 1)""").fetchall()
        assert ("items", "2") in rows
    settle(conn)
