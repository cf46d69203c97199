"""A table owner's names never become SQL that graphsync runs.

graph._write_capture (SECURITY DEFINER, graph_sync) generates a table's capture
function and creates it by one EXECUTE: its body held the table's name (a literal of
its RAISE, and each log row's table_name) and the registered columns' names
(identifiers and JSON keys), all quoted by format('%I' / '%L'), but the body itself
was written between the dollar quotes $body$ ... $body$, which end at the first
``$body$`` whatever quotes surround it. The schema-change follower regenerates
capture as graph_sync whenever the owner renames a registered table, its schema or a
registered column. So an owner outside graph_admin who named its table
``$body$;SELECT own.f() AS x,$body$`` (with check_function_bodies off in its own
session, so that the cut body passed) had the follower run ``SELECT own.f()`` as
graph_sync, which holds graph_admin's table rights, BYPASSRLS and CREATE on schema
graph (found in review; seen failing). The body is now passed as one quoted literal.

A row filter's string constant reached the body the same way (no statement of its
own: a filter holds no ';'), and one holding the tag broke capture.

Real roles: OWNER owns pn.items and schema pnf, and is no graph_admin member; the
table was registered by a superuser; ADMIN is a graph_admin member, no superuser.
"""

import psycopg
import pytest

from conftest import as_role, connect, verify

OWNER = "gs_pn_owner"
ADMIN = "gs_pn_admin"
PAYLOAD = "$body$;SELECT pnf.seen_by() AS x,$body$"

OWNER_CODE = """
CREATE SCHEMA pnf;
CREATE TABLE pnf.seen (who text);
CREATE SEQUENCE pnf.calls;  -- counts the calls, whatever rolls back
CREATE FUNCTION pnf.seen_by() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.nextval('pnf.calls');
    INSERT INTO pnf.seen VALUES (current_user);
    RETURN true;
END $$;
GRANT USAGE ON SCHEMA pnf TO PUBLIC;
GRANT INSERT ON pnf.seen TO PUBLIC;
GRANT USAGE ON SEQUENCE pnf.calls TO PUBLIC;
GRANT EXECUTE ON FUNCTION pnf.seen_by() TO PUBLIC;
"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN NOSUPERUSER IN ROLE graph_admin")
        c.execute(f"GRANT CREATE ON DATABASE {c.info.dbname} TO {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
        o.execute("CREATE SCHEMA pn")
        o.execute("CREATE TABLE pn.items (id int PRIMARY KEY, name text, parent int)")
        o.execute("INSERT INTO pn.items SELECT g, 'n' || g, NULLIF(g / 2, 0) FROM generate_series(1, 10) g")
        o.execute(f"GRANT USAGE ON SCHEMA pn TO {ADMIN}")
        o.execute(f"GRANT SELECT, TRIGGER ON pn.items TO {ADMIN}")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('pn.items', columns => '{name}')")
        c.execute("SELECT graph.add_edge('pn.items', 'parent', 'pn.items')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('pn.items', cascade => true)")
        for role in (OWNER, ADMIN):
            c.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def calls(conn):
    last, called = conn.execute("SELECT last_value, is_called FROM pnf.calls").fetchone()
    return last if called else 0


# (the rename, its undoing, the table's name after it, its parent column's name after it)
RENAMES = [
    pytest.param(f'ALTER TABLE pn.items RENAME TO "{PAYLOAD}"',
                 f'ALTER TABLE pn."{PAYLOAD}" RENAME TO items',
                 f'pn."{PAYLOAD}"', "parent", id="table"),
    pytest.param(f'ALTER SCHEMA pn RENAME TO "{PAYLOAD}"',
                 f'ALTER SCHEMA "{PAYLOAD}" RENAME TO pn',
                 f'"{PAYLOAD}".items', "parent", id="schema"),
    pytest.param(f'ALTER TABLE pn.items RENAME COLUMN name TO "{PAYLOAD}"',
                 f'ALTER TABLE pn.items RENAME COLUMN "{PAYLOAD}" TO name',
                 "pn.items", "parent", id="property column"),
    pytest.param(f'ALTER TABLE pn.items RENAME COLUMN parent TO "{PAYLOAD}"',
                 f'ALTER TABLE pn.items RENAME COLUMN "{PAYLOAD}" TO parent',
                 "pn.items", f'"{PAYLOAD}"', id="edge column"),
]


@pytest.mark.parametrize("bodies", ["off", "on"])
@pytest.mark.parametrize(("rename", "undo", "name", "parent"), RENAMES)
def test_an_owners_name_runs_nothing_and_is_followed(world, rename, undo, name, parent, bodies):
    with connect(world) as su:
        before = calls(su)
        last = su.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]
        try:
            with as_role(world, OWNER) as o:
                o.execute(f"SET check_function_bodies = {bodies}")
                o.execute(rename)
                assert calls(su) == before, su.execute("SELECT who FROM pnf.seen").fetchall()
                # followed, not switched off: the owner's next writes are captured
                o.execute(f"INSERT INTO {name} VALUES (11, 'n11', 5)")
                o.execute(f"UPDATE {name} SET {parent} = 2 WHERE id = 3")
                o.execute(f"DELETE FROM {name} WHERE id = 10")
            assert su.execute("SELECT count(*) FROM graph._schema_events"
                              " WHERE kind = 'follow_failed' AND resolved_at IS NULL").fetchone()[0] == 0
            logged = su.execute("SELECT table_name, count(*) FROM graph._sync_log WHERE id > %s"
                                " GROUP BY table_name", (last,)).fetchall()
            assert logged == [(name, 3)]
            su.execute("SELECT graph.apply_sync()")
            assert su.execute("SELECT count(*) FROM graph._sync_log WHERE id > %s"
                              " AND error_message IS NOT NULL", (last,)).fetchone()[0] == 0
            su.execute("SELECT graph.build()")
            assert verify(su) == []
        finally:
            with as_role(world, OWNER) as o:
                o.execute(undo)
                o.execute("DELETE FROM pn.items WHERE id = 11")
                o.execute("INSERT INTO pn.items VALUES (10, 'n10', 5) ON CONFLICT DO NOTHING")
                o.execute("UPDATE pn.items SET parent = 1 WHERE id = 3")
            su.execute("SELECT graph.reconcile()")
            su.execute("SELECT graph.build()")
        assert calls(su) == before
        assert su.execute("SELECT who FROM pnf.seen").fetchall() == []



@pytest.mark.parametrize("bodies", ["off", "on"])
def test_a_filter_constant_holding_the_tag_is_captured(world, bodies):
    """A row filter's string constant reaches the capture function's body as the
    filter deparses (graph._carried_expr). One holding the dollar quote's tag cut
    the body there: an admin's graph.alter_table failed with a syntax error, or,
    with check_function_bodies off, left a capture function that failed every write
    (seen failing). (A ';', which a statement of its own would need, is refused in
    a filter, as written and as deparsed: no SQL of the admin's ran.)"""
    weird = "a$body$ SET work_mem = $body$b"
    with connect(world) as su:
        last = su.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]
        try:
            with as_role(world, ADMIN) as a:
                a.execute(f"SET check_function_bodies = {bodies}")
                a.execute("SELECT graph.alter_table('pn.items', row_filter => %s)", (f"name <> '{weird}'",))
            with as_role(world, OWNER) as o:
                o.execute("INSERT INTO pn.items VALUES (11, %s, 5), (12, 'n12', 5)", (weird,))
            assert su.execute("SELECT pk FROM graph._sync_log WHERE id > %s ORDER BY pk",
                              (last,)).fetchall() == [("11",), ("12",)]
            su.execute("SELECT graph.apply_sync()")
            assert su.execute("SELECT count(*) FROM graph._sync_log WHERE id > %s"
                              " AND error_message IS NOT NULL", (last,)).fetchone()[0] == 0
            assert verify(su) == []
            # the filter holds: the row whose name is the constant is no node
            assert su.execute("SELECT pk FROM graph._nodes WHERE table_oid = 'pn.items'::regclass"
                              " AND alive AND pk IN ('11', '12')").fetchall() == [("12",)]
        finally:
            with as_role(world, OWNER) as o:
                o.execute("DELETE FROM pn.items WHERE id IN (11, 12)")
            su.execute("SELECT graph.alter_table('pn.items', clear_row_filter => true)")
            su.execute("SELECT graph.reconcile()")
            su.execute("SELECT graph.build()")


def test_the_row_level_capture_function_too(world):
    """The row-level capture function of a replica (graph._capture_row_<oid>, for
    logical replication's apply worker) comes from the same generator, and was
    regenerated as graph_sync by the same rename (seen failing)."""
    with connect(world) as su:
        before = calls(su)
        su.execute("SELECT graph.enable_replica_capture()")
        try:
            with as_role(world, OWNER) as o:
                o.execute("SET check_function_bodies = off")
                o.execute(f'ALTER TABLE pn.items RENAME TO "{PAYLOAD}"')
                assert calls(su) == before, su.execute("SELECT who FROM pnf.seen").fetchall()
            src = su.execute("SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = to_regprocedure("
                             "'graph._capture_row_' || %s::regclass::oid || '()')",
                             (f'pn."{PAYLOAD}"',)).fetchone()[0]
            assert PAYLOAD in src  # the table's new name, inside the body
            assert su.execute("SELECT count(*) FROM graph._schema_events"
                              " WHERE kind = 'follow_failed' AND resolved_at IS NULL").fetchone()[0] == 0
        finally:
            with as_role(world, OWNER) as o:
                o.execute(f'ALTER TABLE pn."{PAYLOAD}" RENAME TO items')
            su.execute("SELECT graph.enable_replica_capture(enabled => false)")
            su.execute("SELECT graph.reconcile()")
        assert calls(su) == before


PLANTED = "CREATE FUNCTION graph.add_table(tbl text) RETURNS text LANGUAGE sql AS $$ SELECT current_user::text $$"


@pytest.mark.parametrize("ddl", [
    PLANTED,
    "ALTER FUNCTION graph.status() SECURITY INVOKER",
    "CREATE AGGREGATE graph.add_edge(text) (SFUNC = pg_catalog.textcat, STYPE = text)",
    # a capture function made an invoker: it would run as whoever writes the table
    "CREATE OR REPLACE FUNCTION graph._capture_{oid}() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NULL; END $$",
])
def test_graph_sync_puts_no_function_of_its_own_in_schema_graph(world, ddl):
    """What SQL run as graph_sync could do next: it holds CREATE on schema graph
    (capture generation creates the capture functions) and owns definers a
    superuser calls. An overload graph.add_table(text) it created was what a
    superuser's graph.add_table('app.t') called (an unknown literal prefers text
    to regclass), as that superuser; it could make graph.status() an invoker and
    replace its body. Now graphsync's event trigger refuses (42501) a function,
    procedure or aggregate in schema graph created or altered by any role but a
    superuser, beyond the capture functions graph_sync generates (seen failing)."""
    with connect(world) as su:
        oid = su.execute("SELECT 'pn.items'::regclass::oid").fetchone()[0]
        su.execute("SET ROLE graph_sync")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            su.execute(ddl.replace("{oid}", str(oid)))
        su.execute("RESET ROLE")
        assert su.execute("SELECT prosecdef FROM pg_proc WHERE oid = to_regprocedure("
                          "'graph._capture_' || %s || '()')", (oid,)).fetchone()[0]
        assert su.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = 'graph'::regnamespace"
                          " AND proname IN ('add_table', 'add_edge')").fetchone()[0] == 2
        assert su.execute("SELECT prosecdef FROM pg_proc WHERE oid = 'graph.status()'::regprocedure"
                          ).fetchone()[0]


def test_graph_syncs_grant_option_plants_nothing(world):
    """graph_sync holds CREATE on schema graph WITH GRANT OPTION (it lends it to
    graph_capture for a moment): granted on to the table's owner, it let the owner
    plant the overload at leisure (seen failing)."""
    with connect(world) as su:
        su.execute("SET ROLE graph_sync")
        su.execute(f"GRANT CREATE ON SCHEMA graph TO {OWNER}")
        su.execute("RESET ROLE")
        try:
            with as_role(world, OWNER) as o:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    o.execute(PLANTED)
        finally:
            su.execute("SET ROLE graph_sync")
            su.execute(f"REVOKE CREATE ON SCHEMA graph FROM {OWNER} CASCADE")
            su.execute("RESET ROLE")
        assert su.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = 'graph'::regnamespace"
                          " AND proname = 'add_table'").fetchone()[0] == 1
