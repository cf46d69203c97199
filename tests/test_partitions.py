"""Partitioned tables and inheritance parents: registering the parent captures
writes made through it and directly to any partition or child, present or
created/attached later, exactly once, under the parent's oid. Rows that join or
leave without an INSERT or DELETE (attach of a table holding rows, detach, drop,
TRUNCATE of one partition, NO INHERIT) mark the table for a rebuild, which
maintenance does. The DDL runs as the tables' owner, neither superuser nor
graph_admin."""

import pytest

from conftest import apply, as_role, connect, health, table_owner, verify


@pytest.fixture(scope="module")
def owner(db):
    with table_owner(db, "gs_part_") as role:
        yield role


def log_rows(conn, since):
    return conn.execute("SELECT op, table_oid::regclass::text, pk FROM graph._sync_log WHERE id > %s ORDER BY id",
                        (since,)).fetchall()


def high_water(conn):
    return conn.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]


def maintain(conn):
    return conn.execute("SELECT status, rebuilt, reason FROM graph.run_scheduled_maintenance()").fetchone()


@pytest.fixture
def events(db, owner):
    """ev.accounts (node table) and ev.events partitioned by range of day, with an
    edge events.account -> accounts: owned by ``owner``, registered by an admin."""
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS ev CASCADE")
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
    with as_role(db, owner) as app:
        app.execute("""
            CREATE SCHEMA ev;
            CREATE TABLE ev.accounts (id int PRIMARY KEY, name text);
            CREATE TABLE ev.events (id int, day int, account int, note text, PRIMARY KEY (id, day))
                PARTITION BY RANGE (day);
            CREATE TABLE ev.events_0 PARTITION OF ev.events FOR VALUES FROM (0) TO (10);
            CREATE TABLE ev.events_1 PARTITION OF ev.events FOR VALUES FROM (10) TO (20) PARTITION BY RANGE (day);
            CREATE TABLE ev.events_1a PARTITION OF ev.events_1 FOR VALUES FROM (10) TO (15);
            CREATE TABLE ev.events_1b PARTITION OF ev.events_1 FOR VALUES FROM (15) TO (20);
            INSERT INTO ev.accounts SELECT g, 'a' || g FROM generate_series(1, 5) g;
            INSERT INTO ev.events SELECT g, g % 20, 1 + g % 5, 'n' FROM generate_series(1, 30) g;
        """)
    with connect(db) as c:
        # replica capture (row triggers for logical replication's apply worker) on every
        # captured table, as on a subscriber: members present and later get it too
        c.execute("SELECT graph.enable_replica_capture()")
        c.execute("SELECT graph.add_table('ev.accounts', columns => '{name}')")
        c.execute("SELECT graph.add_table('ev.events', columns => '{note}')")
        c.execute("SELECT graph.add_edge('ev.events', 'account', 'ev.accounts', label => 'of')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS ev CASCADE")
        c.execute("SELECT graph.build()")


def test_statement_triggers_fire_once_for_the_named_table(events, owner):
    """A statement through the parent fires the parent's statement triggers only (its
    transition tables hold the rows routed to every partition); one naming a
    partition fires that partition's only. So each row is logged exactly once."""
    with as_role(events, owner) as app, connect(events) as admin:
        start = high_water(admin)
        app.execute("INSERT INTO ev.events VALUES (101, 1, 1, 'a'), (102, 12, 2, 'b'), (103, 17, 3, 'c')")
        assert log_rows(admin, start) == [("I", "ev.events", "(101,1)"), ("I", "ev.events", "(102,12)"),
                                          ("I", "ev.events", "(103,17)")]
        start = high_water(admin)
        app.execute("INSERT INTO ev.events_1a VALUES (104, 11, 1, 'd')")
        app.execute("INSERT INTO ev.events_1 VALUES (105, 16, 1, 'e')")
        assert log_rows(admin, start) == [("I", "ev.events", "(104,11)"), ("I", "ev.events", "(105,16)")]
        start = high_water(admin)
        app.execute("UPDATE ev.events SET note = 'x' WHERE id IN (101, 102)")
        app.execute("DELETE FROM ev.events_1b WHERE id = 103")
        assert log_rows(admin, start) == [("U", "ev.events", "(101,1)"), ("U", "ev.events", "(102,12)"),
                                          ("D", "ev.events", "(103,17)")]
        apply(admin)
        assert verify(admin) == []


def test_writes_through_the_parent_and_to_partitions_present_and_later(events, owner):
    with as_role(events, owner) as app, connect(events) as admin:
        start = high_water(admin)
        app.execute("INSERT INTO ev.events VALUES (201, 2, 1, 'p')")
        app.execute("INSERT INTO ev.events_0 VALUES (202, 3, 2, 'direct')")
        app.execute("UPDATE ev.events_0 SET account = 3 WHERE id = 202")
        app.execute("UPDATE ev.events SET day = 13 WHERE id = 201")  # moves to another partition
        app.execute("DELETE FROM ev.events_1a WHERE id = 11")
        # a partition created later, and an empty table attached later
        app.execute("CREATE TABLE ev.events_2 PARTITION OF ev.events FOR VALUES FROM (20) TO (30)")
        app.execute("CREATE TABLE ev.events_3 (id int, day int, account int, note text, PRIMARY KEY (id, day))")
        app.execute("ALTER TABLE ev.events ATTACH PARTITION ev.events_3 FOR VALUES FROM (30) TO (40)")
        app.execute("INSERT INTO ev.events_2 VALUES (203, 21, 4, 'later')")
        app.execute("INSERT INTO ev.events_3 VALUES (204, 31, 5, 'attached')")
        app.execute("INSERT INTO ev.events VALUES (205, 35, 1, 'via parent')")
        app.execute("UPDATE ev.events_3 SET note = 'changed' WHERE id = 204")
        # writes made as a logical replication subscriber makes them (a superuser's setting)
        admin.execute("SET session_replication_role = replica")
        admin.execute("INSERT INTO ev.events_2 VALUES (206, 22, 1, 'replica')")
        admin.execute("RESET session_replication_role")
        states = admin.execute("SELECT member_oid::regclass::text, count(*) FROM graph._trigger_states()"
                               " WHERE table_oid = 'ev.events'::regclass AND state = 'ok' GROUP BY 1 ORDER BY 1"
                               ).fetchall()
        # 4 statement triggers on each; 3 row triggers (logical replication's apply) on the regular tables
        assert states == [(t, 4 if t in ("ev.events", "ev.events_1") else 7)
                          for t in ("ev.events", "ev.events_0", "ev.events_1", "ev.events_1a",
                                    "ev.events_1b", "ev.events_2", "ev.events_3")]
        # every row under the registered parent's oid, whichever table the statement named
        assert {r[1] for r in log_rows(admin, start)} == {"ev.events"}
        assert len(log_rows(admin, start)) == 10  # one per row written, none twice
        apply(admin)
        assert verify(admin) == []
        h = health(admin)
        assert not h["needs_rebuild"] and h["schema_state"] == "current", h


def test_rows_that_join_or_leave_without_dml_are_rebuilt(events, owner):
    with as_role(events, owner) as app, connect(events) as admin:
        # attach a table that already holds rows
        app.execute("CREATE TABLE ev.events_old (id int, day int, account int, note text, PRIMARY KEY (id, day))")
        app.execute("INSERT INTO ev.events_old VALUES (301, 45, 1, 'old'), (302, 46, 2, 'old')")
        app.execute("ALTER TABLE ev.events ATTACH PARTITION ev.events_old FOR VALUES FROM (40) TO (50)")
        apply(admin)
        assert {d[0] for d in verify(admin)} == {"members_changed", "missing_node", "missing_edge"}
        h = health(admin)
        assert h["needs_rebuild"] and "members_changed" in h["rebuild_reasons"], h
        assert maintain(admin)[:2] == ("succeeded", True)
        assert verify(admin) == []

        # detach one: its rows leave; writes to it are no longer captured
        app.execute("ALTER TABLE ev.events DETACH PARTITION ev.events_0")
        assert admin.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ev.events_0'::regclass"
                             ).fetchone()[0] == 0
        start = high_water(admin)
        app.execute("INSERT INTO ev.events_0 VALUES (303, 1, 1, 'outside')")
        assert log_rows(admin, start) == []
        apply(admin)
        assert "extra_node" in {d[0] for d in verify(admin)}
        assert maintain(admin)[:2] == ("succeeded", True)
        assert verify(admin) == []

        # TRUNCATE of one partition, and DROP of another
        app.execute("TRUNCATE ev.events_1a")
        app.execute("DROP TABLE ev.events_old")
        h = health(admin)
        assert h["needs_rebuild"] and h["needs_vacuum"], h
        apply(admin)
        assert maintain(admin)[:2] == ("succeeded", True)
        assert verify(admin) == []
        assert health(admin)["schema_state"] == "current"


def test_a_ddl_concerns_a_table_through_its_members_only_when_it_names_neither_it_nor_a_partitioned_table(events):
    """graph._named_members_only, the one rule by which the DDL follower compares,
    records, grants and attaches for the members a DDL named rather than the whole
    tree: a partition (or several) named alone, yes; the table itself, or any
    partitioned table among them (an ATTACH or DETACH names the parent it changes,
    here a sub-partitioned partition), no. A NULL element names nothing."""
    cases = [
        (["ev.events_0"], True),
        (["ev.events_0", "ev.events_1a"], True),
        (["ev.events_1a", None], True),
        ([], True),
        (["ev.events"], False),
        (["ev.events_0", "ev.events"], False),
        (["ev.events_1"], False),  # partitioned itself
        (["ev.events_0", "ev.events_1"], False),
        (["ev.accounts", "ev.events_0"], True),  # another table, not partitioned
    ]
    with connect(events) as c:
        for named, want in cases:
            got = c.execute("SELECT graph._named_members_only('ev.events'::regclass,"
                            " ARRAY(SELECT r::regclass::oid FROM unnest(%s::text[]) WITH ORDINALITY AS u (r, i)"
                            " ORDER BY i))", (named,)).fetchone()[0]
            assert got is want, named


def test_members_that_join_or_leave_below_a_member_are_followed(events, owner):
    """The DDL follower compares the whole tree with the members recorded only where the
    DDL names the table or a partitioned table of its tree (an ATTACH or DETACH names
    the parent it changes), and otherwise the relations it names: a sub-partition
    detached from a partition, and attached again, and an inheritance grandchild
    created under a child and leaving it, are each followed."""
    def members(admin):
        return {r[0] for r in admin.execute("SELECT member_oid::regclass::text FROM graph._capture_members"
                                            " WHERE table_oid = 'ev.events'::regclass").fetchall()}

    def triggers(admin, table):
        return admin.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass"
                             " AND tgname LIKE 'graphsync%%'", (table,)).fetchone()[0]

    with as_role(events, owner) as app, connect(events) as admin:
        assert "ev.events_1b" in members(admin)
        app.execute("ALTER TABLE ev.events_1 DETACH PARTITION ev.events_1b")
        assert "ev.events_1b" not in members(admin) and triggers(admin, "ev.events_1b") == 0
        start = high_water(admin)
        app.execute("INSERT INTO ev.events_1b VALUES (401, 16, 1, 'outside')")
        assert log_rows(admin, start) == []
        assert "members_changed" in health(admin)["schema_drift"]
        app.execute("ALTER TABLE ev.events_1 ATTACH PARTITION ev.events_1b FOR VALUES FROM (15) TO (20)")
        assert "ev.events_1b" in members(admin) and triggers(admin, "ev.events_1b") > 0
        start = high_water(admin)
        app.execute("INSERT INTO ev.events_1b VALUES (402, 17, 1, 'inside')")
        assert log_rows(admin, start) == [("I", "ev.events", "(402,17)")]
        apply(admin)
        assert maintain(admin)[:2] == ("succeeded", True)
        assert verify(admin) == []
    with connect(events) as c:
        c.execute("DROP SCHEMA IF EXISTS inh2 CASCADE")
    with as_role(events, owner) as app, connect(events) as admin:
        app.execute("""
            CREATE SCHEMA inh2;
            CREATE TABLE inh2.items (id int PRIMARY KEY, name text);
            CREATE TABLE inh2.books (isbn text) INHERITS (inh2.items);
        """)
        admin.execute("SELECT graph.add_table('inh2.items', columns => '{name}')")
        app.execute("CREATE TABLE inh2.novels (pages int) INHERITS (inh2.books)")  # a grandchild
        assert triggers(admin, "inh2.novels") > 0
        start = high_water(admin)
        app.execute("INSERT INTO inh2.novels VALUES (1, 'n', 'x', 10)")
        assert [r[:2] for r in log_rows(admin, start)] == [("I", "inh2.items")]
        app.execute("ALTER TABLE inh2.novels NO INHERIT inh2.books")  # it leaves, named itself
        assert triggers(admin, "inh2.novels") == 0
        start = high_water(admin)
        app.execute("INSERT INTO inh2.novels VALUES (2, 'm', 'y', 20)")
        assert log_rows(admin, start) == []
        admin.execute("SELECT graph.remove_table('inh2.items')")
        admin.execute("DROP SCHEMA inh2 CASCADE")


def test_inheritance_children(db, owner):
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS inh CASCADE")
    with as_role(db, owner) as app, connect(db) as admin:
        app.execute("""
            CREATE SCHEMA inh;
            CREATE TABLE inh.items (id int PRIMARY KEY, name text, parent int);
            CREATE TABLE inh.books (isbn text) INHERITS (inh.items);
            INSERT INTO inh.items VALUES (1, 'root', NULL);
            INSERT INTO inh.books VALUES (2, 'book', 1, 'x');
        """)
        admin.execute("SELECT graph.add_table('inh.items', columns => '{name}')")
        admin.execute("SELECT graph.add_edge('inh.items', 'parent', 'inh.items', label => 'in')")
        admin.execute("SELECT graph.build()")
        assert verify(admin) == []
        start = high_water(admin)
        app.execute("INSERT INTO inh.books VALUES (3, 'book 2', 1, 'y')")
        app.execute("UPDATE inh.items SET name = name || '!'")  # reaches the child's rows
        app.execute("DELETE FROM inh.items WHERE id = 2")       # a child's row, through the parent
        assert [r[0] for r in log_rows(admin, start)] == ["I", "U", "U", "U", "D"]
        app.execute("CREATE TABLE inh.films (minutes int) INHERITS (inh.items)")  # a child created later
        app.execute("INSERT INTO inh.films VALUES (4, 'film', 3, 90)")
        app.execute("UPDATE inh.films SET parent = 1")
        apply(admin)
        assert verify(admin) == []
        app.execute("ALTER TABLE inh.books NO INHERIT inh.items")  # its rows leave
        app.execute("INSERT INTO inh.books VALUES (5, 'not an item', 1, 'z')")
        assert "members_changed" in health(admin)["schema_drift"]
        apply(admin)
        assert maintain(admin)[:2] == ("succeeded", True)
        assert verify(admin) == []
        admin.execute("DROP SCHEMA inh CASCADE")
        admin.execute("SELECT graph.build()")
