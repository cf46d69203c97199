"""A role that sets the schema-change follower's flag itself changes the registry
without moving the version reads key their caches on.

While the follower renames a table's registered columns (ops/follow.py,
Follower.rename) the registry's statement triggers (graph._bump_graph_version)
leave graph._sync_state and graph._graph_version alone: the rename is counted in
graph._column_renames instead (migration 431). They believed a custom setting,
graphsync.following_rename, which any role may SET in its own session: a graph
admin who set it before a registration call changed the registry with no version
move, and every other backend kept serving its cached view (registry included:
reads/view.py) of the graph as it was. The follower now marks its own statements
with a row only graphsync's definer role may write (migration 438).

Real roles and sessions: ADMIN is a member of graph_admin, not a superuser; OWNER
owns ff.items and is no admin.
"""

import psycopg
import pytest

from conftest import as_role, connect, verify

ADMIN = "gs_ff_admin"
OWNER = "gs_ff_owner"

# The version a read keys its cached view on (reads/view.py, KEY).
KEY = """SELECT v.version + (SELECT coalesce(sum(r.renames), 0)::bigint FROM graph._column_renames AS r)
         FROM graph._graph_version AS v"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (ADMIN, OWNER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN NOSUPERUSER IN ROLE graph_admin")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE SCHEMA ff AUTHORIZATION {OWNER}")
        c.execute(f"GRANT USAGE ON SCHEMA ff TO {ADMIN}")
    with as_role(db, OWNER) as o:
        for t in ("items", "spare"):
            o.execute(f"CREATE TABLE ff.{t} (id int PRIMARY KEY, name text, parent int, note text, extra text)")
            o.execute(f"INSERT INTO ff.{t} SELECT g, 'n' || g, NULLIF(g / 2, 0), 'x', 'e'"
                      " FROM generate_series(1, 10) g")
            o.execute(f"GRANT SELECT, TRIGGER ON ff.{t} TO {ADMIN}")
    with connect(db) as c:
        for t in ("items", "spare"):
            c.execute(f"SELECT graph.add_table('ff.{t}', columns => '{{name,note,extra}}')")
            c.execute(f"SELECT graph.add_edge('ff.{t}', 'parent', 'ff.{t}')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA ff CASCADE")
        for role in (ADMIN, OWNER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def version(dsn):
    with connect(dsn) as c:
        return c.execute(KEY).fetchone()[0]


def forged(dsn, role):
    """``role``'s session, not autocommit, with the follower's flag set by hand."""
    s = psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=role))
    s.execute("SET graphsync.following_rename = 'on'")
    return s


@pytest.mark.parametrize("call", [
    "SELECT graph.add_filter_column('ff.items', 'name')",
    "SELECT graph.alter_table('ff.items', remove_properties => '{extra}')",
    "UPDATE graph._node_tables SET columns = columns WHERE table_oid = 'ff.items'::regclass",
])
def test_an_admins_own_flag_does_not_keep_the_version(world, call):
    before = version(world)
    with forged(world, ADMIN) as a:
        a.execute(call)
        a.commit()
    assert version(world) != before  # else every backend keeps its view of the old registry


def test_a_read_in_another_session_sees_the_registry_an_admin_changed(world):
    """The consequence, end to end: a reader's kept view (registry included) is
    refreshed when the version moves, and only then: a filter column registered
    meanwhile was unknown to it (22023) while a new session's read took it."""
    read = "SELECT count(*) FROM graph.traverse('ff.spare', '1', direction => 'any', filter => %s)"
    with connect(world) as reader:
        reader.execute(read, ('{}',))
        with forged(world, ADMIN) as a:
            a.execute("SELECT graph.add_filter_column('ff.spare', 'name')")
            a.commit()
        with connect(world) as fresh:
            expected = fresh.execute(read, ('{"name": "n1"}',)).fetchone()[0]
        assert reader.execute(read, ('{"name": "n1"}',)).fetchone()[0] == expected


@pytest.mark.parametrize("ddl", ["ALTER TABLE ff.items DROP COLUMN note", "DROP TABLE ff.spare"])
def test_an_owners_own_flag_does_not_keep_the_version(world, ddl):
    """The owner's DDL is followed whatever the owner's session set: the follower
    counts the change in its table's row of graph._column_renames (migration 437),
    so the version moves when it commits; the state row it leaves alone, as the
    owner may leave the transaction open (tests/test_abuse_open_rename.py)."""
    before = version(world)
    with forged(world, OWNER) as o:
        o.execute(ddl)
        with connect(world) as other:
            other.execute("SELECT FROM graph._sync_state FOR UPDATE NOWAIT")  # not held by the owner
        assert version(world) == before  # not committed
        o.commit()
    assert version(world) != before
    with connect(world) as c:
        c.execute("SELECT graph.build()")
        assert verify(c) == []


def test_the_followers_mark_is_graphsyncs_alone(world):
    with as_role(world, ADMIN) as a:
        for sql in ("INSERT INTO graph._following_renames VALUES (pg_current_xact_id())",
                    "DELETE FROM graph._following_renames"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                a.execute(sql)
    with as_role(world, OWNER) as o:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            o.execute("INSERT INTO graph._following_renames VALUES (pg_current_xact_id())")


def test_an_admins_reconcile_follows_a_rename_it_may_not_mark(world):
    """graph.reconcile() by a graph admin (no superuser) follows a rename made while
    the event trigger was off: the follower asks whether it may write its mark
    first (an INSERT the caller may not make fails whatever its WHERE says: the run
    failed, 'permission denied for table _following_renames'), and without it the
    rename moves the version as any change of the registry does."""
    with connect(world) as su:
        su.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
        try:
            with as_role(world, OWNER) as o:
                o.execute("ALTER TABLE ff.items RENAME COLUMN name TO name_x")
        finally:
            su.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
    before = version(world)
    try:
        with as_role(world, ADMIN) as a:
            rows = a.execute("SELECT action, detail FROM graph.reconcile()").fetchall()
            assert not [r for r in rows if r[0] == "failed"], rows
            assert a.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'ff.items'::regclass"
                             ).fetchone()[0] == ["name_x"]
        assert version(world) != before
    finally:
        with as_role(world, OWNER) as o:
            o.execute("ALTER TABLE ff.items RENAME COLUMN name_x TO name")
        with connect(world) as c:
            c.execute("SELECT graph.build()")
            assert verify(c) == []
