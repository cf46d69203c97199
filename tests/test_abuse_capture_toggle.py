"""A capture trigger switched off and on again leaves a record for a rebuild.

sync_health() reports a capture trigger that is disabled, missing or enabled
otherwise than ALWAYS, while it is so. A registered table's owner (neither superuser
nor graph_admin) who disabled graphsync's trigger, wrote, and enabled it again
(``ENABLE ALWAYS TRIGGER``), or dropped it and created it again under its name, in one
transaction or not, had the write never captured and health say there was nothing to
do: the graph lacked the row until someone ran verify() (seen failing, both ways, on a
table and on a partition). So had one who renamed the trigger first (ALTER TRIGGER ...
RENAME), then disabled or dropped it under its new name, and named it back after: the
follower knew graphsync's triggers by name only (seen failing, both ways).

Now the DDL follower records, when a schema change leaves one of a registered
table's statement capture triggers off, a ``capture_off`` schema event for a rebuild:
health shows it (needs_rebuild) until a build, which reads the write."""

import psycopg
import pytest

from conftest import apply, as_role, connect, health, maintain, table_owner, verify


@pytest.fixture(scope="module")
def owner(db):
    with table_owner(db, "gs_tg_") as role:
        yield role


@pytest.fixture
def tables(db, owner):
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS tg CASCADE")
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
    with as_role(db, owner) as app:
        app.execute("""
            CREATE SCHEMA tg;
            CREATE TABLE tg.people (id int PRIMARY KEY, name text);
            CREATE TABLE tg.events (id int, day int, note text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
            CREATE TABLE tg.events_0 PARTITION OF tg.events FOR VALUES FROM (0) TO (10);
            INSERT INTO tg.people VALUES (1, 'a');
            INSERT INTO tg.events VALUES (1, 1, 'e');
        """)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('tg.people', columns => '{name}')")
        c.execute("SELECT graph.add_table('tg.events', columns => '{note}')")
        c.execute("SELECT graph.build()")
        fn = c.execute("SELECT format('graph.%I()', '_capture_' || 'tg.people'::regclass::oid)").fetchone()[0]
    yield db, fn
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS tg CASCADE")
        c.execute("SELECT graph.build()")


def _member_trigger(db, member):
    with connect(db) as c:
        return c.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass"
                         " AND tgname LIKE 'graphsync\\_capture\\_insert%%'", (member,)).fetchone()[0]


def _toggles(db, fn):
    member = _member_trigger(db, "tg.events_0")
    return {
        "disable on the table": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "ALTER TABLE tg.people DISABLE TRIGGER graphsync_capture_insert"],
            ["ALTER TABLE tg.people ENABLE ALWAYS TRIGGER graphsync_capture_insert"]),
        "disable on a partition": ("tg.events_0", "INSERT INTO tg.events_0 VALUES (2, 2, 'unseen')", [
            f"ALTER TABLE tg.events_0 DISABLE TRIGGER {member}"],
            [f"ALTER TABLE tg.events_0 ENABLE ALWAYS TRIGGER {member}"]),
        "drop and create again": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "DROP TRIGGER graphsync_capture_insert ON tg.people"],
            [f"CREATE TRIGGER graphsync_capture_insert AFTER INSERT ON tg.people REFERENCING NEW TABLE AS new_rows"
             f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}",
             "ALTER TABLE tg.people ENABLE ALWAYS TRIGGER graphsync_capture_insert"]),
        # renamed first, the trigger is no longer graphsync's by name while it is off
        "rename and disable": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "ALTER TRIGGER graphsync_capture_insert ON tg.people RENAME TO quiet",
            "ALTER TABLE tg.people DISABLE TRIGGER quiet"],
            ["ALTER TABLE tg.people ENABLE ALWAYS TRIGGER quiet",
             "ALTER TRIGGER quiet ON tg.people RENAME TO graphsync_capture_insert"]),
        "rename and drop": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "ALTER TRIGGER graphsync_capture_insert ON tg.people RENAME TO quiet",
            "DROP TRIGGER quiet ON tg.people"],
            [f"CREATE TRIGGER graphsync_capture_insert AFTER INSERT ON tg.people REFERENCING NEW TABLE AS new_rows"
             f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}",
             "ALTER TABLE tg.people ENABLE ALWAYS TRIGGER graphsync_capture_insert"]),
        # replaced in place by a trigger of the owner's function, then put back
        "replace and put back": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "CREATE OR REPLACE FUNCTION tg.nothing() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
            "CREATE OR REPLACE TRIGGER graphsync_capture_insert AFTER INSERT ON tg.people"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tg.nothing()"],
            ["CREATE OR REPLACE TRIGGER graphsync_capture_insert AFTER INSERT ON tg.people"
             f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}",
             "ALTER TABLE tg.people ENABLE ALWAYS TRIGGER graphsync_capture_insert"]),
        # renamed first, then replaced in place under its new name, and back
        "rename and replace": ("tg.people", "INSERT INTO tg.people VALUES (2, 'unseen')", [
            "CREATE OR REPLACE FUNCTION tg.nothing() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
            "ALTER TRIGGER graphsync_capture_insert ON tg.people RENAME TO quiet",
            "CREATE OR REPLACE TRIGGER quiet AFTER INSERT ON tg.people"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tg.nothing()"],
            ["CREATE OR REPLACE TRIGGER quiet AFTER INSERT ON tg.people"
             f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}",
             "ALTER TRIGGER quiet ON tg.people RENAME TO graphsync_capture_insert",
             "ALTER TABLE tg.people ENABLE ALWAYS TRIGGER graphsync_capture_insert"]),
    }


@pytest.mark.parametrize("how", ["disable on the table", "disable on a partition", "drop and create again",
                                 "rename and disable", "rename and drop", "replace and put back",
                                 "rename and replace"])
@pytest.mark.parametrize("one_transaction", [True, False], ids=["one transaction", "three"])
def test_a_write_made_while_the_owner_had_capture_off_is_shown_and_rebuilt(tables, owner, how, one_transaction):
    db, fn = tables
    _table, write, off, on = _toggles(db, fn)[how]
    with as_role(db, owner) as app:
        with app.transaction() if one_transaction else _nothing():
            for statement in off:
                app.execute(statement)
            app.execute(write)
            for statement in on:
                app.execute(statement)
    with connect(db) as admin:
        apply(admin)
        assert verify(admin) != []  # the write is not in the graph: nothing captured it
        h = health(admin)
        assert h["disabled_trigger_count"] == 0 and h["missing_trigger_count"] == 0  # on again
        assert h["needs_rebuild"] and "capture was switched off" in h["schema_drift"], h
        maintain(admin)
        assert verify(admin) == []
        h = health(admin)
        assert not h["needs_rebuild"] and h["schema_state"] == "current", h


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _grant_as_before_469(db, fn, role):
    """EXECUTE on a capture function for another role, as every role had it before
    migration 469 (a trigger it made then is still there): now only graph_admin and
    the table's owner have it (tests/test_abuse_capture_execute.py)."""
    with connect(db) as c:
        c.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {role}")


def test_another_roles_disabled_trigger_calling_my_capture_records_nothing_for_my_table(tables, db):
    """graph._note_capture_off (SECURITY DEFINER, PUBLIC: the follower calls it as the
    DDL's role) counted, for a registered table t, any disabled trigger on any of the
    relations it was given that calls t's capture function (graphsync's own trigger,
    renamed and disabled). A capture function was EXECUTE to PUBLIC (before migration
    469), so another table owner put a trigger calling tg.people's on a table of its own, disabled it, and
    called the function with both tables: a capture_off record (a rebuild, and health
    out of step) for a table not its own, whose capture never was off (found in
    review). Only triggers on t and its partitions and children count now."""
    _, fn = tables
    events = ("SELECT count(*) FROM graph._schema_events WHERE kind = 'capture_off' AND resolved_at IS NULL"
              " AND table_oid = 'tg.people'::regclass")
    with connect(db) as c:
        people = c.execute("SELECT 'tg.people'::regclass::oid::bigint").fetchone()[0]
    with table_owner(db, "gs_tg_other_") as other:
        _grant_as_before_469(db, fn, other)
        with as_role(db, other) as o:
            o.execute("CREATE SCHEMA tg_other; CREATE TABLE tg_other.decoy (id int)")
            o.execute(f"CREATE TRIGGER decoy AFTER INSERT ON tg_other.decoy REFERENCING NEW TABLE AS new_rows"
                      f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
            o.execute("ALTER TABLE tg_other.decoy DISABLE TRIGGER decoy")
            for dropped in (False, True):  # (tg.people by oid: the other may not use schema tg)
                o.execute("SELECT graph._note_capture_off(ARRAY[%s, 'tg_other.decoy'::regclass]::oid[], %s)",
                          (people, dropped))
        with connect(db) as c:
            assert c.execute(events).fetchone()[0] == 0
            c.execute("DROP SCHEMA tg_other CASCADE")


def test_another_roles_trigger_calling_my_capture_is_no_drift_of_my_table(tables, db):
    """graph._trigger_states (SECURITY DEFINER, PUBLIC) reported as 'extra' any trigger
    calling a registered table's capture function, on any relation: another table
    owner's trigger on a table of its own calling tg.people's (EXECUTE was PUBLIC's before migration 469)
    made health report schema drift of tg.people (trigger_extra, reconcile
    recommended) that a non-superuser admin's reconcile could not repair, and had the
    owner's next capture repair try to drop it (found in review). Such a trigger
    captures nothing (the capture function refuses to run on a table that is not
    tg.people or a member of it), so it counts only on a relation whose owner has
    the registered table's owner's rights (a detached former partition's)."""
    _, fn = tables
    with table_owner(db, "gs_tg_other_") as other:
        _grant_as_before_469(db, fn, other)
        with as_role(db, other) as o:
            o.execute("CREATE SCHEMA tg_other; CREATE TABLE tg_other.decoy (id int)")
            o.execute(f"CREATE TRIGGER decoy AFTER INSERT ON tg_other.decoy REFERENCING NEW TABLE AS new_rows"
                      f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
        with connect(db) as c:
            drift = c.execute("SELECT kind, detail FROM graph._schema_drift()"
                              " WHERE table_oid = 'tg.people'::regclass").fetchall()
            states = c.execute("SELECT member_oid::regclass::text, trigger_name, state"
                               " FROM graph._trigger_states('tg.people'::regclass) WHERE state <> 'ok'").fetchall()
            c.execute("DROP SCHEMA tg_other CASCADE")
        assert drift == [] and states == []


def test_another_roles_trigger_on_my_capture_cannot_hold_up_removing_my_table(tables, db):
    """Another table owner's trigger on a table of its own calling tg.people's capture
    function would depend on that function, which graph.remove_table drops (DROP
    FUNCTION ... CASCADE): the drop waited for a lock on that other table, which its
    owner held in an open transaction for as long as it liked, and the admin's
    remove_table waited with it (found in review: with lock_timeout, 55P03; without,
    it hung). EXECUTE on a capture function was PUBLIC's; it is now graph_admin's and
    the captured table's owner's only, so that trigger cannot be created (42501), and
    remove_table does not wait on that role."""
    _, fn = tables
    with table_owner(db, "gs_tg_other_") as other:
        try:
            with as_role(db, other) as o:
                o.execute("CREATE SCHEMA tg_other; CREATE TABLE tg_other.decoy (id int)")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    o.execute(f"CREATE TRIGGER decoy AFTER INSERT ON tg_other.decoy REFERENCING NEW TABLE AS new_rows"
                              f" FOR EACH STATEMENT EXECUTE FUNCTION {fn}")
            with as_role(db, other) as holder, connect(db) as admin:
                holder.execute("BEGIN")
                holder.execute("LOCK TABLE tg_other.decoy IN ACCESS SHARE MODE")
                admin.execute("SET lock_timeout = '10s'")  # bounds a hang
                admin.execute("SELECT graph.remove_table('tg.people')")
                holder.execute("ROLLBACK")
        finally:
            with connect(db) as c:
                c.execute("DROP SCHEMA IF EXISTS tg_other CASCADE")


def test_a_capture_trigger_replaced_by_another_tables_capture_function_is_capture_off(db, owner):
    """A registered table that is an inheritance child of another registered table
    carries both tables' capture triggers; its owner replaced its own
    graphsync_capture_insert in place (CREATE OR REPLACE TRIGGER) by one calling the
    parent's capture function -- which runs there, the child being the parent's
    member --, wrote, and put graphsync's back: the write was logged for the parent
    twice and never for the child, and nothing recorded it (the DDL follower let any
    capture function pass, while graph._trigger_states calls a trigger of another
    table's function an impostor; seen failing: needs_rebuild false). The follower
    now asks graph._trigger_impostors, the test _trigger_states makes."""
    with as_role(db, owner) as app:
        app.execute("""
            DROP SCHEMA IF EXISTS tgi CASCADE;
            CREATE SCHEMA tgi;
            CREATE TABLE tgi.parent (id int PRIMARY KEY, name text);
            CREATE TABLE tgi.child (note text) INHERITS (tgi.parent);
            ALTER TABLE tgi.child ADD PRIMARY KEY (id);
            INSERT INTO tgi.child VALUES (1, 'a', 'x');
        """)
    try:
        with connect(db) as c:
            c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
            c.execute("SELECT graph.add_table('tgi.parent', columns => '{name}')")
            c.execute("SELECT graph.add_table('tgi.child', columns => '{note}')")
            c.execute("SELECT graph.build()")
            parent_fn, child_fn = c.execute(
                "SELECT format('graph.%I()', '_capture_' || 'tgi.parent'::regclass::oid),"
                " format('graph.%I()', '_capture_' || 'tgi.child'::regclass::oid)").fetchone()
        replace = ("CREATE OR REPLACE TRIGGER graphsync_capture_insert AFTER INSERT ON tgi.child"
                   " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {}")
        with as_role(db, owner) as app:
            app.execute(replace.format(parent_fn))
            app.execute("INSERT INTO tgi.child VALUES (2, 'b', 'unseen')")
            app.execute(replace.format(child_fn))
            app.execute("ALTER TABLE tgi.child ENABLE ALWAYS TRIGGER graphsync_capture_insert")
        with connect(db) as admin:
            apply(admin)
            assert verify(admin) != []  # the child's node is missing: nothing captured it for the child
            h = health(admin)
            assert h["disabled_trigger_count"] == 0 and h["missing_trigger_count"] == 0  # graphsync's again
            assert h["needs_rebuild"] and "capture was switched off" in h["schema_drift"], h
            maintain(admin)
            assert verify(admin) == []
    finally:
        with connect(db) as c:
            c.execute("DROP SCHEMA IF EXISTS tgi CASCADE")
            c.execute("SELECT graph.build()")
