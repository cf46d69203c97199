"""A registered table its owner turns into a view runs none of the owner's code.

PostgreSQL 15 lets the owner of an empty table without triggers or indexes make it
a view (CREATE RULE "_RETURN" AS ON SELECT ... DO INSTEAD SELECT ...), keeping its
oid, so it stays registered; and the functions a view's query calls run as
whoever reads the view. Before, the owner dropped graphsync's capture triggers and
the key, emptied and vacuumed the table and made it a view calling its own
function: a superuser's graph.traverse(hydrate) or graph.search ran it at once, and
graph.build() or verify() ran it too when the rule committed while they waited for
the table's lock (between their check that the table is present and their read):
the owner made itself superuser (seen failing, all three). Now graphsync's event
trigger refuses the rule on a registered table (55000), and every statement that
reads a source names it through graph._source_name, which refuses a table that
became a view (42809) -- as one made with the event triggers disabled is."""

import psycopg
import pytest

from conftest import as_role, connect

OWNER = "gs_vw_owner"

SPY = """
CREATE SCHEMA spy_vw;
GRANT USAGE ON SCHEMA spy_vw TO PUBLIC;
CREATE TABLE spy_vw.calls (who name, what text);
GRANT INSERT, SELECT ON spy_vw.calls TO PUBLIC;
"""

# The owner's function: records who runs it; run by a superuser it makes the owner one.
EVIL = f"""
CREATE FUNCTION own_vw.evil(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spy_vw.calls VALUES (current_user, what);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN true;
END $$;
"""

VIEW_RULE = """CREATE RULE "_RETURN" AS ON SELECT TO own_vw.{t} DO INSTEAD
SELECT v.id, v.name, v.a, v.b FROM (VALUES (1, 'a'::text, 1, 2)) AS v (id, name, a, b) WHERE own_vw.evil('{t}')"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(f"DROP ROLE IF EXISTS {OWNER}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(SPY)
        c.execute(f"CREATE SCHEMA own_vw AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute(EVIL)
        o.execute("GRANT USAGE ON SCHEMA own_vw TO PUBLIC")
    yield db
    with connect(db) as c:
        for (t,) in c.execute("SELECT table_oid::regclass::text FROM graph._node_tables"
                              " WHERE table_oid::regclass::text LIKE 'own_vw.%' ORDER BY 1 DESC").fetchall():
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (t,))
        c.execute("DROP SCHEMA own_vw CASCADE; DROP SCHEMA spy_vw CASCADE")
        c.execute(f"DROP ROLE {OWNER}")
        c.execute("SELECT graph.build()")


def foreign_calls(c):
    return c.execute("SELECT who::text, what FROM spy_vw.calls WHERE who <> %s", (OWNER,)).fetchall()


def register(world, t, join=False):
    """own_vw.<t> (two rows, a property), registered and built; with ``join``, a join
    table own_vw.<t>_j of it instead of a node table of its own."""
    with connect(world) as c:
        c.execute(f"CREATE TABLE own_vw.{t} (id int PRIMARY KEY, name text, a int, b int)")
        c.execute(f"ALTER TABLE own_vw.{t} OWNER TO {OWNER}")
        c.execute(f"INSERT INTO own_vw.{t} VALUES (1, 'a', 1, 2), (2, 'b', 2, 1)")
        if join:
            c.execute(f"SELECT graph.add_table('own_vw.{t}', columns => '{{name}}')")
            c.execute(f"CREATE TABLE own_vw.{t}_j (id int PRIMARY KEY, name text, a int, b int)")
            c.execute(f"ALTER TABLE own_vw.{t}_j OWNER TO {OWNER}")
            c.execute(f"INSERT INTO own_vw.{t}_j VALUES (1, 'j', 1, 2)")
            c.execute(f"SELECT graph.add_edge('own_vw.{t}', 'a', 'own_vw.{t}', to_column => 'b',"
                      f" via_table => 'own_vw.{t}_j', label => 'j')")
        else:
            c.execute(f"SELECT graph.add_table('own_vw.{t}', columns => '{{name}}')")
        c.execute("SELECT graph.build()")
    return f"{t}_j" if join else t


def strip(o, t):
    """The owner's steps before the rule: no trigger, no row, no index (VACUUM clears
    relhastriggers and relhasindex)."""
    for (name,) in o.execute(f"SELECT tgname FROM pg_trigger WHERE tgrelid = 'own_vw.{t}'::regclass"
                             " AND NOT tgisinternal").fetchall():
        o.execute(f'DROP TRIGGER "{name}" ON own_vw.{t}')
    o.execute(f"DELETE FROM own_vw.{t}")
    o.execute(f"ALTER TABLE own_vw.{t} DROP CONSTRAINT {t}_pkey")
    o.execute(f"VACUUM own_vw.{t}")


@pytest.mark.parametrize("join", [False, True], ids=["node table", "join table"])
def test_the_owner_cannot_make_a_registered_table_a_view(world, join):
    t = register(world, "made" + ("_j" if join else ""), join)
    with as_role(world, OWNER) as o:
        strip(o, t)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                           match=f"own_vw.{t} is registered with graphsync and cannot become a view"):
            o.execute(VIEW_RULE.format(t=t))
        assert o.execute(f"SELECT relkind FROM pg_class WHERE oid = 'own_vw.{t}'::regclass").fetchone() == ("r",)
        # An unregistered table of the owner's becomes a view as before.
        o.execute("CREATE TABLE own_vw.free (id int, name text, a int, b int)")
        o.execute(VIEW_RULE.format(t="free"))
        assert o.execute("SELECT relkind FROM pg_class WHERE oid = 'own_vw.free'::regclass").fetchone() == ("v",)
        o.execute("DROP VIEW own_vw.free")


def test_a_table_made_a_view_with_the_event_triggers_off_is_never_read(world):
    """A registered table that became a view while the event trigger was disabled (a
    superuser's doing) or before it refused that: no read, build, verify or retry
    reads it, whoever calls them; each says it is no longer a table."""
    t = register(world, "old")
    with connect(world) as c:
        c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
        try:
            with as_role(world, OWNER) as o:
                strip(o, t)
                o.execute(VIEW_RULE.format(t=t))
        finally:
            c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
        assert c.execute(f"SELECT relkind FROM pg_class WHERE oid = 'own_vw.{t}'::regclass").fetchone() == ("v",)
        c.execute("DELETE FROM spy_vw.calls")
        refused = {}
        for call in (f"SELECT * FROM graph.traverse('own_vw.{t}', '1', hydrate => true)",
                     "SELECT * FROM graph.search('name', 'a')",
                     "SELECT * FROM graph.build()"):
            try:
                c.execute(call).fetchall()
            except psycopg.Error as exc:
                refused[call] = exc.sqlstate
        reported = c.execute("SELECT difference FROM graph.verify() WHERE table_name = %s", (f"own_vw.{t}",)).fetchall()
        assert foreign_calls(c) == []
        assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone()[0]
        assert set(refused.values()) <= {"42809", "55000"} and len(refused) == 3, refused
        # not a table any more: as if dropped; its capture trigger dropped first (strip),
        # which the follower's drop event recorded as capture switched off
        assert sorted(reported) == [("capture_off",), ("table_dropped",)]
        c.execute(f"SELECT graph.remove_table('own_vw.{t}', cascade => true)")
        c.execute(f"DROP VIEW own_vw.{t}")
        c.execute("SELECT graph.build()")
