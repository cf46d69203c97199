"""EXECUTE on a capture function is graph_admin's and the captured table's owner's only.

A generated capture function (graph._capture_<oid>, graph._capture_row_<oid>) was
EXECUTE to PUBLIC, so that the table's owner could attach it to a partition or child
it creates (the DDL follower attaches as that owner, and CREATE TRIGGER needs
EXECUTE). Any role could then create a trigger of its own calling another table's
capture function, which held up graph.remove_table's DROP FUNCTION ... CASCADE
(tests/test_abuse_capture_toggle.py). Firing a trigger needs no EXECUTE, only
creating one does: a plain writer still writes and is captured. An owner change
(ALTER TABLE ... OWNER TO) moves the grant to the new owner."""

import psycopg
import pytest
from psycopg import sql

from conftest import as_role, connect, table_owner


@pytest.fixture(scope="module")
def owner(db):
    with table_owner(db, "gs_ce_") as role:
        yield role


@pytest.fixture
def events(db, owner):
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS ce CASCADE")
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
    with as_role(db, owner) as app:
        app.execute("""
            CREATE SCHEMA ce;
            CREATE TABLE ce.events (id int, day int, note text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
            CREATE TABLE ce.events_0 PARTITION OF ce.events FOR VALUES FROM (0) TO (10);
            CREATE TABLE ce.people (id int PRIMARY KEY, name text);
        """)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('ce.events', columns => '{note}')")
        c.execute("SELECT graph.add_table('ce.people', columns => '{name}')")
        c.execute("SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS ce CASCADE")
        c.execute("SELECT graph.build()")


def _fn(c, table):
    return c.execute("SELECT format('graph.%%I()', '_capture_' || %s::regclass::oid)", (table,)).fetchone()[0]


def _grantees(c, table):
    """Who holds EXECUTE on ``table``'s capture function, granted (owner aside)."""
    return c.execute("""
        SELECT coalesce(array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
                                  ORDER BY 1), '{}')
        FROM pg_proc AS p CROSS JOIN aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
        WHERE p.oid = %s::regprocedure AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner""",
                     (_fn(c, table),)).fetchone()[0]


def _inserts(c, table):
    return c.execute("SELECT count(*) FROM graph._sync_log WHERE table_oid = %s::regclass AND op = 'I'",
                     (table,)).fetchone()[0]


def test_execute_is_graph_admins_and_the_owners_only(events, owner):
    with connect(events) as c:
        assert sorted(_grantees(c, "ce.events")) == sorted(["graph_admin", owner])
        assert sorted(_grantees(c, "ce.people")) == sorted(["graph_admin", owner])


def test_the_owner_captures_a_partition_and_a_child_it_creates(events, owner):
    with as_role(events, owner) as app:
        app.execute("CREATE TABLE ce.events_1 PARTITION OF ce.events FOR VALUES FROM (10) TO (20)")
        app.execute("INSERT INTO ce.events VALUES (1, 11, 'p')")
        app.execute("CREATE TABLE ce.people_kid (extra text) INHERITS (ce.people)")
        app.execute("INSERT INTO ce.people_kid VALUES (7, 'k', 'x')")
    with connect(events) as c:
        assert _inserts(c, "ce.events") == 1 and _inserts(c, "ce.people") == 1
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('ce.events_1'::regclass,"
                         " 'ce.people_kid'::regclass) AND tgname LIKE 'graphsync\\_capture\\_%%'").fetchone()[0] >= 6


def test_an_owner_change_moves_the_grant(events, owner):
    with table_owner(events, "gs_ce_new_") as new:
        with connect(events) as c:
            fn = _fn(c, "ce.events")
            c.execute(sql.SQL("ALTER TABLE ce.events OWNER TO {}").format(sql.Identifier(new)))
            c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA ce TO {}").format(sql.Identifier(new)))
            assert sorted(_grantees(c, "ce.events")) == sorted(["graph_admin", new])
        with as_role(events, new) as app:
            app.execute("CREATE TABLE ce.events_2 PARTITION OF ce.events FOR VALUES FROM (20) TO (30)")
            app.execute("INSERT INTO ce.events VALUES (2, 21, 'n')")
        with connect(events) as c:
            assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ce.events_2'::regclass"
                             " AND tgname LIKE 'graphsync\\_capture\\_%%'").fetchone()[0] >= 3
            assert _inserts(c, "ce.events") == 1
        with as_role(events, owner) as old:
            old.execute("CREATE TABLE ce.mine (id int)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                old.execute(f"CREATE TRIGGER t AFTER INSERT ON ce.mine REFERENCING NEW TABLE AS new_rows"
                            f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
        with connect(events) as c:
            c.execute("DROP TABLE IF EXISTS ce.mine")
            c.execute("DROP SCHEMA ce CASCADE")


def test_a_graph_admin_member_registers_and_attaches(events, owner):
    with table_owner(events, "gs_ce_admin_") as admin:
        with connect(events) as c:
            c.execute(sql.SQL("GRANT graph_admin TO {}").format(sql.Identifier(admin)))
        with as_role(events, owner) as app:
            app.execute("CREATE TABLE ce.things (id int PRIMARY KEY, label text)")
            app.execute(sql.SQL("GRANT USAGE ON SCHEMA ce TO {0}; GRANT SELECT, TRIGGER ON ce.things TO {0}")
                        .format(sql.Identifier(admin)))
        with as_role(events, admin) as a:
            a.execute("SELECT graph.add_table('ce.things', columns => '{label}')")
            assert sorted(_grantees(a, "ce.things")) == sorted(["graph_admin", owner])
        with as_role(events, owner) as app:
            app.execute("INSERT INTO ce.things VALUES (1, 'a')")
        with connect(events) as c:
            assert _inserts(c, "ce.things") == 1


def test_a_plain_writer_is_captured(events, owner):
    with table_owner(events, "gs_ce_w_") as writer:
        with as_role(events, owner) as app:
            app.execute(sql.SQL("GRANT USAGE ON SCHEMA ce TO {0}; GRANT INSERT ON ce.people TO {0}")
                        .format(sql.Identifier(writer)))
        with as_role(events, writer) as w:
            w.execute("INSERT INTO ce.people VALUES (42, 'w')")
        with connect(events) as c:
            assert _inserts(c, "ce.people") == 1
