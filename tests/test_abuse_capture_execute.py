"""EXECUTE on a capture function is graph_admin's, its table's owner's and its members' owners'.

A generated capture function (graph._capture_<oid>, graph._capture_row_<oid>) was
EXECUTE to PUBLIC, so that the table's owner could attach it to a partition or child
it creates (the DDL follower attaches as that owner, and CREATE TRIGGER needs
EXECUTE). Any role could then create a trigger of its own calling another table's
capture function, which held up graph.remove_table's DROP FUNCTION ... CASCADE
(tests/test_abuse_capture_toggle.py). Firing a trigger needs no EXECUTE, only
creating one does: a plain writer still writes and is captured. An owner change
(ALTER TABLE ... OWNER TO) moves the grant to the new owner. The owner of a partition or
child holds it too: it may create a sub-partition or grandchild, which the follower
attaches capture to as that owner."""

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
            # the former owner still owns the partition ce.events_0: its owner holds EXECUTE too
            assert sorted(_grantees(c, "ce.events")) == sorted(["graph_admin", new, owner])
            c.execute(sql.SQL("ALTER TABLE ce.events_0 OWNER TO {}").format(sql.Identifier(new)))
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


@pytest.fixture
def handed_over(db):
    """Schema cr and its partitioned cr.events, owned by a role of its own (``first``),
    registered by the superuser; yields (dsn, first, heir): ``heir`` a second owner role
    that owns nothing yet."""
    with table_owner(db, "gs_ce_first_") as first, table_owner(db, "gs_ce_heir_") as heir:
        with as_role(db, first) as app:
            app.execute("""
                CREATE SCHEMA cr;
                CREATE TABLE cr.events (id int, day int, note text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
                CREATE TABLE cr.events_0 PARTITION OF cr.events FOR VALUES FROM (0) TO (10);
            """)
        with connect(db) as c:
            c.execute("SELECT graph.add_table('cr.events', columns => '{note}')")
            c.execute("SELECT graph.build()")
            assert sorted(_grantees(c, "cr.events")) == sorted(["graph_admin", first])
        try:
            yield db, first, heir
        finally:
            with connect(db) as c:
                c.execute("DROP SCHEMA IF EXISTS cr, cr_old CASCADE")
                c.execute("SELECT graph.build()")


def _capture_health(c):
    h = c.execute("SELECT missing_trigger_count, disabled_trigger_count, schema_state"
                  " FROM graph.sync_health()").fetchone()
    return {"missing": h[0], "disabled": h[1], "schema_state": h[2]}


def test_reassign_owned_moves_the_grant(handed_over):
    """REASSIGN OWNED BY fires no event trigger (PostgreSQL 15 runs no event trigger
    for it), so the ALTER TABLE ... OWNER TO path never re-granted: the new owner's
    first partition was created with a WARNING per capture trigger it could not attach
    (it held no EXECUTE on the parent's capture functions), health showed them missing,
    and the former owner kept EXECUTE. Now the follower gives EXECUTE to the owner of
    each captured table it attaches capture for before attaching."""
    db, first, heir = handed_over
    with connect(db) as c:
        fn = _fn(c, "cr.events")
        c.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(first), sql.Identifier(heir)))
    warnings = []
    with as_role(db, heir) as app:
        app.add_notice_handler(lambda d: warnings.append(d.severity_nonlocalized + ": " + d.message_primary))
        app.execute("CREATE TABLE cr.events_1 PARTITION OF cr.events FOR VALUES FROM (10) TO (20)")
        app.execute("INSERT INTO cr.events VALUES (1, 11, 'h')")
    assert [w for w in warnings if w.startswith("WARNING")] == []
    with connect(db) as c:
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cr.events_1'::regclass"
                         " AND tgname LIKE 'graphsync\\_capture\\_%%'").fetchone()[0] >= 3
        assert _inserts(c, "cr.events") == 1
        assert _capture_health(c) == {"missing": 0, "disabled": 0, "schema_state": "current"}
        assert sorted(_grantees(c, "cr.events")) == sorted(["graph_admin", heir])
    with as_role(db, first) as old:
        old.execute("CREATE SCHEMA cr_old; CREATE TABLE cr_old.mine (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            old.execute(f"CREATE TRIGGER t AFTER INSERT ON cr_old.mine REFERENCING NEW TABLE AS new_rows"
                        f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")


def test_reassign_then_drop_owned_moves_the_grant(handed_over):
    """The usual way to retire a role, REASSIGN OWNED BY it then DROP OWNED BY it: the
    DROP OWNED (which fires the event trigger) revoked the former owner's EXECUTE but
    gave the new owner none, until its next followed DDL of the table. Now DROP OWNED
    has the capture functions' grants brought in step with their tables' owners."""
    db, first, heir = handed_over
    with connect(db) as c:
        c.execute(sql.SQL("REASSIGN OWNED BY {0} TO {1}; DROP OWNED BY {0}").format(
            sql.Identifier(first), sql.Identifier(heir)))
        assert sorted(_grantees(c, "cr.events")) == sorted(["graph_admin", heir])


def test_reconcile_after_reassign_owned_moves_the_grant(handed_over):
    """After REASSIGN OWNED BY alone (no event trigger, no DDL of the table since), an
    admin's graph.reconcile() brings the grants in step with the tables' owners: the
    former owner's EXECUTE revoked, the new owner's given."""
    db, first, heir = handed_over
    with connect(db) as c:
        c.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(first), sql.Identifier(heir)))
        c.execute("SELECT graph.reconcile()")
        assert sorted(_grantees(c, "cr.events")) == sorted(["graph_admin", heir])


def test_a_stranger_calling_grant_capture_holds_up_no_capture_generation(events, owner):
    """graph._grant_capture is SECURITY DEFINER and PUBLIC's (the DDL follower calls it as
    the DDL's role). Where a capture function's grant is out of step with its table's owner
    (after REASSIGN OWNED BY, which fires no ALTER TABLE), a role with no right on any
    table called it in a transaction it kept open: the call took graph._locks' 'capture'
    row FOR UPDATE (and the function's catalog row) for that role's transaction, and every
    registration and capture generation of anyone waited for it (an admin's add_table of
    another table ran into its lock_timeout). Such a caller now changes nothing: only a
    session of graph_admin or of the table's owner's roles mends the grant."""
    with table_owner(events, "gs_ce_heir_") as heir, table_owner(events, "gs_ce_stranger_") as stranger:
        with connect(events) as c:
            c.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(owner), sql.Identifier(heir)))
            # the grant stays with the old owner: out of step
            assert sorted(_grantees(c, "ce.people")) == sorted(["graph_admin", owner])
            people = c.execute("SELECT 'ce.people'::regclass::oid::int").fetchone()[0]
            c.execute("CREATE TABLE public.gs_ce_more (id int PRIMARY KEY, name text)")
        try:
            with psycopg.connect(psycopg.conninfo.make_conninfo(events, user=stranger)) as s:
                s.execute("SELECT graph._grant_capture(%s::oid[])", ([people],))
                # (the stranger's transaction stays open)
                with connect(events) as c:
                    c.execute("SET lock_timeout = '5s'")
                    c.execute("SELECT graph.add_table('public.gs_ce_more', columns => '{name}')")
                s.rollback()
            with connect(events) as c:
                assert sorted(_grantees(c, "ce.people")) == sorted(["graph_admin", owner])
            # the new owner's session mends it
            with as_role(events, heir) as h:
                h.execute("SELECT graph._grant_capture(%s::oid[])", ([people],))
            with connect(events) as c:
                assert sorted(_grantees(c, "ce.people")) == sorted(["graph_admin", heir])
        finally:
            with connect(events) as c:
                c.execute("SELECT graph.remove_table(n.table_oid::regclass) FROM graph._node_tables AS n"
                          " WHERE n.table_oid = 'public.gs_ce_more'::regclass")
                c.execute("DROP TABLE public.gs_ce_more")
                c.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(heir), sql.Identifier(owner)))


@pytest.fixture
def family(db, owner):
    """Schema cm, owned by ``owner``: cm.events partitioned, its partition cm.events_a
    partitioned again, cm.people with an inheritance child cm.people_kid, both registered
    by the superuser; then cm.events_a and cm.people_kid given to a role of their own
    (yielded: ``z``), which may create tables in cm. Yields (dsn, z)."""
    with table_owner(db, "gs_ce_member_") as z:
        with as_role(db, owner) as app:
            app.execute("""
                CREATE SCHEMA cm;
                CREATE TABLE cm.events (id int, day int, note text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
                CREATE TABLE cm.events_a PARTITION OF cm.events FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (day);
                CREATE TABLE cm.events_a0 PARTITION OF cm.events_a FOR VALUES FROM (0) TO (5);
                CREATE TABLE cm.people (id int PRIMARY KEY, name text);
                CREATE TABLE cm.people_kid (extra text) INHERITS (cm.people);
            """)
        with connect(db) as c:
            c.execute("SELECT graph.add_table('cm.events', columns => '{note}')")
            c.execute("SELECT graph.add_table('cm.people', columns => '{name}')")
            c.execute("SELECT graph.build()")
            c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA cm TO {}").format(sql.Identifier(z)))
            c.execute(sql.SQL("ALTER TABLE cm.events_a OWNER TO {}").format(sql.Identifier(z)))
            c.execute(sql.SQL("ALTER TABLE cm.people_kid OWNER TO {}").format(sql.Identifier(z)))
        try:
            yield db, z
        finally:
            with connect(db) as c:
                c.execute("DROP SCHEMA IF EXISTS cm, cm_z CASCADE")
                c.execute("SELECT graph.build()")


def _warnings(conn):
    got = []
    conn.add_notice_handler(lambda d: got.append(d.severity_nonlocalized + ": " + d.message_primary))
    return got


def test_a_member_owner_captures_a_sub_partition_and_a_grandchild_it_creates(family, owner):
    """A partition (or child) of a registered table may have an owner of its own. Since
    EXECUTE on capture functions was the table's owner's only (migration 469), that
    owner's sub-partition of it (or grandchild) was created with a WARNING per capture
    trigger the follower could not attach as that role (no EXECUTE for CREATE TRIGGER),
    health showed them missing, and its rows were not captured until graph.reconcile().
    Now the owners of a table's partitions and children hold EXECUTE too."""
    db, z = family
    with connect(db) as c:
        assert sorted(_grantees(c, "cm.events")) == sorted(["graph_admin", owner, z])
        assert sorted(_grantees(c, "cm.people")) == sorted(["graph_admin", owner, z])
    with as_role(db, z) as app:
        warnings = _warnings(app)
        app.execute("CREATE TABLE cm.events_a1 PARTITION OF cm.events_a FOR VALUES FROM (5) TO (10)")
        app.execute("INSERT INTO cm.events_a VALUES (1, 7, 'z')")
        app.execute("CREATE TABLE cm.people_grandkid (more text) INHERITS (cm.people_kid)")
        app.execute("INSERT INTO cm.people_grandkid VALUES (2, 'g', 'x', 'y')")
    assert [w for w in warnings if w.startswith("WARNING")] == []
    with connect(db) as c:
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('cm.events_a1'::regclass,"
                         " 'cm.people_grandkid'::regclass) AND tgname LIKE 'graphsync\\_capture\\_%%'"
                         ).fetchone()[0] >= 6
        assert _inserts(c, "cm.events") == 1 and _inserts(c, "cm.people") == 1
        assert _capture_health(c) == {"missing": 0, "disabled": 0, "schema_state": "current"}


def test_a_member_owner_cannot_capture_a_table_outside_the_family(family, owner):
    """The member's owner holds EXECUTE, so it may create a trigger calling the capture
    function on a table of its own elsewhere; the function logs nothing there (it
    refused with 42501 before the fifty-third stop), so nothing is forged into the log.
    A partition detached from the family takes its owner's EXECUTE with it."""
    db, z = family
    with connect(db) as c:
        fn = _fn(c, "cm.events")
    with as_role(db, z) as app:
        app.execute("CREATE SCHEMA cm_z; CREATE TABLE cm_z.mine (id int, day int, note text)")
        app.execute(f"CREATE TRIGGER t AFTER INSERT ON cm_z.mine REFERENCING NEW TABLE AS new_rows"
                    f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
        app.execute("INSERT INTO cm_z.mine VALUES (1, 1, 'forged')")
        app.execute("DROP TRIGGER t ON cm_z.mine")
    with connect(db) as c:
        assert _inserts(c, "cm.events") == 0
        c.execute("ALTER TABLE cm.events DETACH PARTITION cm.events_a")
        assert sorted(_grantees(c, "cm.events")) == sorted(["graph_admin", owner])
        assert sorted(_grantees(c, "cm.people")) == sorted(["graph_admin", owner, z])


def test_a_member_handed_over_by_reassign_owned_is_captured(family, owner):
    """REASSIGN OWNED BY fires no event trigger: the member's new owner holds no EXECUTE
    until its own next DDL in the family, whose follower call to graph._grant_capture
    (in that owner's session: a member's owner may mend its family's grants) gives it
    before the capture triggers are attached."""
    db, z = family
    with table_owner(db, "gs_ce_member_heir_") as heir:
        with connect(db) as c:
            c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA cm TO {}").format(sql.Identifier(heir)))
            c.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(z), sql.Identifier(heir)))
            assert sorted(_grantees(c, "cm.events")) == sorted(["graph_admin", owner, z])
        with as_role(db, heir) as app:
            warnings = _warnings(app)
            app.execute("CREATE TABLE cm.events_a1 PARTITION OF cm.events_a FOR VALUES FROM (5) TO (10)")
            app.execute("INSERT INTO cm.events_a VALUES (1, 7, 'h')")
        assert [w for w in warnings if w.startswith("WARNING")] == []
        with connect(db) as c:
            assert _inserts(c, "cm.events") == 1
            assert _capture_health(c) == {"missing": 0, "disabled": 0, "schema_state": "current"}
            assert sorted(_grantees(c, "cm.events")) == sorted(["graph_admin", owner, heir])
            c.execute("DROP SCHEMA cm CASCADE")


def test_a_member_owner_dropping_its_member_gives_up_execute(family, owner):
    """A member's owner that drops its member owns nothing in the family any more: the
    follower's call (in its session, as it holds a grant out of step) revokes its EXECUTE,
    so it cannot create a trigger calling the capture function on a table of its own."""
    db, z = family
    with connect(db) as c:
        fn = _fn(c, "cm.people")
    with as_role(db, z) as app:
        app.execute("DROP TABLE cm.people_kid")
    with connect(db) as c:
        assert sorted(_grantees(c, "cm.people")) == sorted(["graph_admin", owner])
        assert sorted(_grantees(c, "cm.events")) == sorted(["graph_admin", owner, z])
    with as_role(db, z) as app:
        app.execute("CREATE SCHEMA cm_z; CREATE TABLE cm_z.mine (id int, name text)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(f"CREATE TRIGGER t AFTER INSERT ON cm_z.mine REFERENCING NEW TABLE AS new_rows"
                        f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
