"""An UPDATE that moves rows to another partition, whose insert a trigger drops.

A row an UPDATE moves to another partition is deleted from its partition and
inserted into the other; PostgreSQL appends the old version to the statement's old
transition table when the delete is done, and the new version to the new one when
the insert is. A row-level BEFORE INSERT trigger of the destination partition that
returns NULL (the tables' owner's, neither superuser nor graph_admin; or an
application's trigger that any writer's UPDATE may meet) drops the insert: the row is
gone, its old version is in the old transition table, and no new version follows it.
Capture paired old and new rows by their position, so:

- a one-row UPDATE paired the old row with nothing and logged nothing: the row was
  gone from the table, its node stayed in the graph, and sync_health() said there
  was nothing to do;
- in a statement of several rows every later row's old version was paired with the
  next row's new one (a key change logged for rows that kept theirs, the wrong
  properties), and the last with nothing, a log row replay fails on, which under the
  default policy stops replay for every table.

Now an UPDATE whose transition tables differ in their row counts is logged as the
deletion of each old row and the insertion of each new one, which is what the
statement did; one that moves a single row it cannot insert logs its deletion (seen
failing before: both cases)."""

import pytest

from conftest import apply, as_role, connect, health, table_owner, verify


@pytest.fixture(scope="module")
def owner(db):
    with table_owner(db, "gs_mv_") as role:
        yield role


@pytest.fixture
def moves(db, owner):
    """mv.accounts (node table) and mv.events partitioned by day, with an edge
    events.account -> accounts, owned by ``owner``; the partition of days 10 to 19
    drops the insert of id 1 and of id 3 (the owner's BEFORE INSERT trigger)."""
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS mv CASCADE")
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
    with as_role(db, owner) as app:
        app.execute("""
            CREATE SCHEMA mv;
            CREATE TABLE mv.accounts (id int PRIMARY KEY, name text);
            CREATE TABLE mv.events (id int, day int, account int, note text, PRIMARY KEY (id, day))
                PARTITION BY RANGE (day);
            CREATE TABLE mv.events_0 PARTITION OF mv.events FOR VALUES FROM (0) TO (10);
            CREATE TABLE mv.events_1 PARTITION OF mv.events FOR VALUES FROM (10) TO (20);
            INSERT INTO mv.accounts SELECT g, 'a' || g FROM generate_series(1, 5) g;
            INSERT INTO mv.events SELECT g, g, g, 'n' || g FROM generate_series(1, 5) g;
            CREATE FUNCTION mv.drop_some() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id IN (1, 3) THEN
                    RETURN NULL;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER drop_some BEFORE INSERT ON mv.events_1 FOR EACH ROW EXECUTE FUNCTION mv.drop_some();
        """)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('mv.accounts', columns => '{name}')")
        c.execute("SELECT graph.add_table('mv.events', columns => '{note}')")
        c.execute("SELECT graph.add_edge('mv.events', 'account', 'mv.accounts', label => 'of')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS mv CASCADE")
        c.execute("SELECT graph.build()")


def _settled(db):
    with connect(db) as admin:
        result = apply(admin)
        h = health(admin)
        return result["failed"], verify(admin), h["failed_sync_rows"], h["next_action"]


def test_a_moved_row_whose_insert_a_trigger_drops_is_captured_as_deleted(moves, owner):
    with as_role(moves, owner) as app:
        app.execute("UPDATE mv.events SET day = 11 WHERE id = 1")
        assert app.execute("SELECT count(*) FROM mv.events WHERE id = 1").fetchone()[0] == 0
    assert _settled(moves) == (0, [], 0, "nothing to do")


def test_a_statement_moving_rows_some_of_whose_inserts_are_dropped_logs_every_other_row_as_it_is(moves, owner):
    with as_role(moves, owner) as app:
        # ids 1 and 3 are dropped; 2, 4 and 5 move (key (id, 10 + id)) and 4 changes its account too
        app.execute("UPDATE mv.events SET day = 10 + id, account = CASE WHEN id = 4 THEN 1 ELSE account END,"
                    " note = 'moved'")
        assert app.execute("SELECT id, day, account FROM mv.events ORDER BY id").fetchall() == [
            (2, 12, 2), (4, 14, 1), (5, 15, 5)]
    # (five of the ten nodes are tombstones now: maintenance is recommended, nothing else)
    assert _settled(moves)[:3] == (0, [], 0)
