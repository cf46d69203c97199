"""A table owner swaps names under a privileged lock: no table of another role is locked.

graphsync locks registered tables by name (LOCK TABLE has no form taking an oid):
maintenance (run_scheduled_maintenance, vacuum: as the admin or pg_cron's
superuser) before its source check and rebuild, and graph._hold_sources (SECURITY
DEFINER, the installing superuser's) before an admin's or superuser's read or
build. PostgreSQL resolves the name again when the lock it waited for is granted.
The owner of a registered table who also owns the schema it lives in and another
schema holding someone else's table of the same name held the registered table
locked, renamed the two schemas so that the name the lock waited on named the other
role's table, and committed: the privileged caller locked that table (SHARE UPDATE
EXCLUSIVE for the definer: the other role's VACUUM, ANALYZE and DDL held off until
the caller's transaction ended) and left the registered table unlocked (found in
review; both tests failed before the fix). A lock now holds only when the name still
names the table it was taken for; otherwise it is given back (its subtransaction
rolled back) and taken again under the table's new name.
"""

import threading
import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import as_role, blocked_by, connect, wait_until


@pytest.fixture
def swap(db):
    """(owner, victim, registered oid, victim's table oid, schema names): the owner's
    registered table sa.t, the victim's table sb.t in schema sb, which the owner
    also owns (the victim may create in it)."""
    suffix = uuid.uuid4().hex[:8]
    owner, victim = "gs_sw_own_" + suffix, "gs_sw_vic_" + suffix
    sa, sb, sx = "sw_a_" + suffix, "sw_b_" + suffix, "sw_x_" + suffix
    with connect(db) as c:
        for r in (owner, victim):
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r)))
        # (renaming a schema takes CREATE on the database: an application's owner)
        c.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(c.info.dbname),
                                                                      sql.Identifier(owner)))
        for s in (sa, sb):
            c.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(s), sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(sql.Identifier(sb), sql.Identifier(victim)))
        c.execute(sql.SQL("CREATE TABLE {}.t (id int PRIMARY KEY, note text)").format(sql.Identifier(sa)))
        c.execute(sql.SQL("ALTER TABLE {}.t OWNER TO {}").format(sql.Identifier(sa), sql.Identifier(owner)))
        c.execute(sql.SQL("INSERT INTO {}.t VALUES (1, 'a'), (2, 'b')").format(sql.Identifier(sa)))
        c.execute("SELECT graph.add_table(%s::regclass, columns => '{note}')", (sa + ".t",))
        registered = c.execute("SELECT %s::regclass::oid", (sa + ".t",)).fetchone()[0]
    with as_role(db, victim) as v:
        v.execute(sql.SQL("CREATE TABLE {}.t (id int PRIMARY KEY, secret text)").format(sql.Identifier(sb)))
        other = v.execute("SELECT %s::regclass::oid", (sb + ".t",)).fetchone()[0]
    try:
        yield owner, victim, registered, other, (sa, sb, sx)
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table(%s::oid::regclass)", (registered,))
            for s in (sa, sb, sx):
                c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))
            for r in (owner, victim):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


def locks_held(conn, pid, rel):
    """The lock modes backend ``pid`` holds on relation ``rel``."""
    return sorted(r[0] for r in conn.execute(
        "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND pid = %s AND relation = %s AND granted",
        (pid, rel)).fetchall())


def swap_while_waited(db, swap, privileged_call):
    """The owner holds its table locked; ``privileged_call(conn)`` runs in a transaction
    left open on another connection (a superuser's) and waits for that lock; the
    owner renames sa to sx and sb to sa and commits. Returns (what the call raised or
    None, the caller's locks on the victim's table, its locks on the registered one)."""
    owner, _, registered, other, (sa, sb, sx) = swap
    outcome = {}
    with as_role(db, owner) as o, connect(db) as p, connect(db) as watch:
        o.execute("BEGIN")
        o.execute(sql.SQL("LOCK TABLE {}.t IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(sa)))
        opid, ppid = o.info.backend_pid, p.info.backend_pid
        p.execute("BEGIN")

        def call():
            try:
                privileged_call(p)
            except psycopg.Error as exc:
                outcome["error"] = exc

        t = threading.Thread(target=call)
        t.start()
        try:
            assert wait_until(lambda: blocked_by(watch, ppid, opid)), "the privileged call never waited"
            o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sa), sql.Identifier(sx)))
            o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sb), sql.Identifier(sa)))
            o.execute("COMMIT")
        finally:
            t.join(60)
        assert not t.is_alive()
        on_other = locks_held(watch, ppid, other)
        on_registered = locks_held(watch, ppid, registered)
        p.execute("ROLLBACK")
    return outcome.get("error"), on_other, on_registered


def test_a_definers_lock_never_lands_on_a_table_a_schema_rename_gave_the_name(db, swap):
    """graph._hold_sources (the superuser's definer) waiting for the owner's lock on
    its registered table: after the owner's schema swap the name it waited on named
    the victim's table, which the superuser locked for the caller."""
    registered = swap[2]
    error, on_other, on_registered = swap_while_waited(
        db, swap, lambda p: p.execute("SELECT graph._hold_sources(ARRAY[%s::oid], true)", (registered,)))
    assert on_other == [], "the victim's table was locked by the definer (%s)" % on_other
    assert error is None, error
    assert on_registered == ["ShareUpdateExclusiveLock"]


@pytest.mark.parametrize("doing, mode", [("install", "ShareRowExclusiveLock"), ("drop", "AccessExclusiveLock")])
def test_the_capture_lock_never_lands_on_a_table_a_schema_rename_gave_the_name(db, swap, doing, mode):
    """graph._lock_for_capture (the superuser's definer a registration calls before its
    registry write) locks by name through the same retry as graph._hold_sources
    (graph._lock_tables): after the owner's schema swap its lock is given back from
    the victim's table and taken on the registered one, in the trigger DDL's mode."""
    registered = swap[2]
    error, on_other, on_registered = swap_while_waited(
        db, swap, lambda p: p.execute("SELECT graph._lock_for_capture(ARRAY[%s::oid], %s)", (registered, doing)))
    assert on_other == [], "the victim's table was locked by the definer (%s)" % on_other
    assert error is None, error
    assert on_registered == [mode]


def test_maintenance_never_locks_a_table_a_schema_rename_gave_the_name(db, swap):
    """Maintenance's rebuild (graph.vacuum(), as a superuser here, as pg_cron's job
    runs it) locks its sources by name: after the owner's schema swap it held the
    victim's table, not the registered one."""
    error, on_other, on_registered = swap_while_waited(db, swap, lambda p: p.execute("SELECT graph.vacuum()"))
    assert on_other == [], "the victim's table was locked by maintenance (%s)" % on_other
    assert error is None, error
    assert "AccessShareLock" in on_registered


def test_the_lock_by_oid_helper_locks_only_what_its_caller_could(db, swap):
    """graph._lock_by_oid (PUBLIC's: the DDL follower locks a renamed schema's tables
    with it as the DDL's role) takes its locks as its caller: the owner may lock its
    own table through it, and the victim's table (in a schema the owner owns, on
    which it holds no right) no more than by LOCK TABLE itself (42501, nothing held).
    A lock mode that is none is 22023 (no text becomes SQL), a relation that is no
    table NULL, nothing locked."""
    owner, _, registered, other, _ = swap
    with as_role(db, owner) as o, connect(db) as watch:
        pid = o.info.backend_pid
        for mode, held in (("ACCESS EXCLUSIVE", "AccessExclusiveLock"),
                           ("SHARE UPDATE EXCLUSIVE", "ShareUpdateExclusiveLock")):
            with o.transaction(force_rollback=True):
                assert o.execute("SELECT graph._lock_by_oid(%s, %s, false)", (registered, mode)).fetchone()[0] is True
                assert locks_held(watch, pid, registered) == [held]
        for call in (sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.Identifier(swap[4][1], "t")),
                     sql.SQL("SELECT graph._lock_by_oid({}, 'ACCESS SHARE', true)").format(other)):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with o.transaction():
                    o.execute(call)
            assert locks_held(watch, pid, other) == []
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            o.execute("SELECT graph._lock_by_oid(%s, 'ACCESS SHARE MODE; SELECT 1; --', false)", (registered,))
        assert locks_held(watch, pid, registered) == []
        with o.transaction(force_rollback=True):
            view = o.execute("SELECT 'pg_catalog.pg_roles'::regclass::oid").fetchone()[0]
            assert o.execute("SELECT graph._lock_by_oid(%s, 'ACCESS SHARE', false)", (view,)).fetchone()[0] is None
            assert locks_held(watch, pid, view) == []


@pytest.fixture
def planted(db, swap):
    """The owner's second table of the registered one's name, in its other schema sb,
    holding an index whose predicate calls the owner's IMMUTABLE function: planning a
    read of it runs the function (graph._source_name refuses such a registered table
    to a privileged caller; this one is not registered). Each run as another role
    takes a number of the owner's sequence ``hits`` (numbers survive a rollback)."""
    owner, victim, registered, other, (sa, sb, sx) = swap
    with connect(db) as c:  # the victim's table makes way for the owner's own
        c.execute(sql.SQL("DROP TABLE {}.t").format(sql.Identifier(sb)))
    with as_role(db, owner) as o:
        o.execute(sql.SQL("CREATE SEQUENCE {}.hits").format(sql.Identifier(sb)))
        o.execute(sql.SQL("GRANT USAGE ON SCHEMA {0} TO PUBLIC; GRANT USAGE ON SEQUENCE {0}.hits TO PUBLIC")
                  .format(sql.Identifier(sb)))
        hits = o.execute("SELECT %s::regclass::oid", (sb + ".hits",)).fetchone()[0]
        o.execute(sql.SQL("""CREATE FUNCTION {}.ran(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
            BEGIN
                IF current_user <> {} THEN PERFORM pg_catalog.nextval({}::oid::regclass); END IF;
                RETURN true;
            END $f$""").format(sql.Identifier(sb), sql.Literal(owner), sql.Literal(hits)))
        o.execute(sql.SQL("CREATE TABLE {0}.t (id int PRIMARY KEY, note text)").format(sql.Identifier(sb)))
        o.execute(sql.SQL("CREATE INDEX ON {0}.t (id) WHERE {0}.ran(1)").format(sql.Identifier(sb)))
    return hits


def test_no_schema_swap_between_a_privileged_check_and_its_read(db, swap, planted):
    """A superuser's (or admin's) read checks a registered table by oid
    (graph._source_name, under graph._lock_sources' lock) and then reads it by the name
    that returned. Renaming a schema takes no lock on its tables: the owner swapped
    its two schemas' names in between, and the superuser's statement planned the
    owner's other table, whose index predicate ran the owner's function as the
    superuser (a loop of swaps won that race within a few dozen builds). A rename
    of a schema holding a registered table now locks that table (ACCESS EXCLUSIVE,
    graph._follow_ddl, which fails the DDL when it cannot), so it waits for the
    read's lock: the name stays the table's until the read's transaction ends."""
    owner, _, registered, _, (sa, sb, sx) = swap
    hits = planted
    with connect(db) as p, as_role(db, owner) as o:
        p.execute("BEGIN")
        p.execute("SELECT graph._lock_sources(ARRAY[%s::oid], true)", (registered,))
        name = p.execute("SELECT graph._source_name(%s)", (registered,)).fetchone()[0]
        o.execute("SET lock_timeout = '300ms'")
        swapped = True
        try:
            with o.transaction():
                o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sa), sql.Identifier(sx)))
                o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sb), sql.Identifier(sa)))
                o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sx), sql.Identifier(sb)))
        except psycopg.errors.LockNotAvailable:
            swapped = False
        p.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name))).fetchone()
        read = p.execute("SELECT %s::regclass::oid", (name,)).fetchone()[0]
        p.execute("COMMIT")
        ran = p.execute("SELECT pg_sequence_last_value(%s::oid::regclass)", (hits,)).fetchone()[0]
    assert ran is None, "the owner's function ran as the superuser (%s times)" % ran
    assert read == registered
    assert not swapped, "the schemas' names were swapped under the superuser's read"


def test_a_schema_holding_a_registered_table_is_renamed_only_by_a_role_that_may_lock_it(db, swap):
    """The schema's owner renaming it takes its registered tables' lock as itself: the
    victim's registered table in the owner's schema keeps the rename out (42501),
    while the table's owner may lock its own (and the rename is followed)."""
    owner, victim, registered, other, (sa, sb, sx) = swap
    with connect(db) as c:
        c.execute("SELECT graph.add_table(%s::oid::regclass, columns => '{secret}')", (other,))
    try:
        with as_role(db, owner) as o:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sb), sql.Identifier(sx)))
            assert o.execute("SELECT %s::oid::regclass::text", (other,)).fetchone()[0] == sb + ".t"
            o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sa), sql.Identifier(sx)))
        with connect(db) as c:
            assert c.execute("SELECT table_name FROM graph._node_tables WHERE table_oid = %s",
                             (registered,)).fetchone()[0] == sx + ".t"
            c.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sx), sql.Identifier(sa)))
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table(%s::oid::regclass)", (other,))


def test_an_admin_the_owner_revoked_select_from_plans_nothing_unchecked(db, swap, planted):
    """graph._lock_sources locks only the tables the caller may SELECT, and
    graph._source_name then checked an unlocked table and returned its name: an admin
    the owner had revoked SELECT from (a build reads every source) planned the table
    with the index the owner created after the check, its function run as the admin
    (planning comes before the permission check). Such a caller is now refused
    (42501) by graph._source_name, before the name is read."""
    owner, _, registered, _, (sa, sb, sx) = swap
    hits = planted
    adm = "gs_sw_adm_" + uuid.uuid4().hex[:8]
    with connect(db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(adm)))
    try:
        with as_role(db, owner) as o:
            o.execute(sql.SQL("REVOKE ALL ON {0}.t FROM PUBLIC; GRANT USAGE ON SCHEMA {0} TO PUBLIC")
                      .format(sql.Identifier(sa)))
        with as_role(db, adm) as a, as_role(db, owner) as o:
            a.execute("BEGIN")
            try:
                name = a.execute("SELECT graph._source_name(%s)", (registered,)).fetchone()[0]
            except psycopg.errors.InsufficientPrivilege:
                name = None
            a.execute("ROLLBACK")
            o.execute(sql.SQL("CREATE INDEX ON {}.t (id) WHERE {}.ran(1)").format(sql.Identifier(sa),
                                                                                  sql.Identifier(sb)))
            if name is not None:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    a.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name)))
        with connect(db) as c:
            ran = c.execute("SELECT pg_sequence_last_value(%s::oid::regclass)", (hits,)).fetchone()[0]
        assert ran is None, "the owner's function ran as the admin (%s times)" % ran
        assert name is None, "graph._source_name gave the admin a table it may not lock"
    finally:
        with connect(db) as c:
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(adm)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(adm)))


def test_a_rename_back_to_the_registrys_stale_name_waits_for_a_privileged_read_too(db, swap, planted):
    """A rename the registry could not follow (here: the event triggers disabled for
    it; a follower that fails turns into a WARNING) leaves the registry's name stale,
    and renaming the schema back to that name brings the table in step: the lock was
    taken only for tables out of step, so that rename, swapped with the owner's other
    schema, went under a privileged read unlocked. Every registered table of an
    altered schema is locked now."""
    owner, _, registered, _, (sa, sb, sx) = swap
    hits = planted
    with connect(db) as c:
        c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
        try:
            c.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sa), sql.Identifier(sx)))
        finally:
            c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
    try:
        with connect(db) as p, as_role(db, owner) as o:
            p.execute("BEGIN")
            p.execute("SELECT graph._lock_sources(ARRAY[%s::oid], true)", (registered,))
            name = p.execute("SELECT graph._source_name(%s)", (registered,)).fetchone()[0]
            assert name == sx + ".t"
            o.execute("SET lock_timeout = '300ms'")
            swapped = True
            try:
                with o.transaction():  # sx back to the registry's sa; sb to sx
                    o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sx), sql.Identifier(sa)))
                    o.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sb), sql.Identifier(sx)))
            except psycopg.errors.LockNotAvailable:
                swapped = False
            p.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name))).fetchone()
            p.execute("COMMIT")
            ran = p.execute("SELECT pg_sequence_last_value(%s::oid::regclass)", (hits,)).fetchone()[0]
        assert ran is None, "the owner's function ran as the superuser (%s times)" % ran
        assert not swapped
    finally:
        with connect(db) as c:  # (after a swap: the owner's other schema under the name the fixture drops)
            if not c.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (sb,)).fetchone():
                c.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(sx), sql.Identifier(sb)))
