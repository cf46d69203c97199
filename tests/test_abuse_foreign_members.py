"""A foreign table a table owner makes a child of its registered table runs none of its
code as a superuser who reads the table through graphsync.

A read of a table reads its inheritance children, and a child may be a foreign table
(``CREATE FOREIGN TABLE ... INHERITS``). Reading one runs a query on the foreign
server under the reader's user mapping, and the owner of a foreign server may create a
user mapping for any role, a superuser's included. A table owner outside graph_admin
that may use postgres_fdw (USAGE on the wrapper: with it, a non-superuser must give a
password to connect, so it is no superuser's power by itself) made a server pointing at
this database, a mapping for the superuser naming the superuser itself (no password: a
superuser needs none), and a foreign child of its registered table reading its own view
that calls its function. A superuser's ``graph.build()``, ``verify()`` (so maintenance
under pg_cron), ``traverse(hydrate => true)`` and ``search`` read the child: the
function ran, on the loopback connection, as the superuser (found in review; seen
failing). Now graph._source_name refuses (42501) a superuser or graph_admin caller a
table with a foreign table among its children (or partitions) when the foreign table or
its server belongs to a role that is neither a superuser nor the caller, as it refuses
one whose indexes call such a role's function (tests/test_abuse_planned_code.py).

Real roles: OWNER owns schema fo and its tables, and may use postgres_fdw; ADMIN is a
graph_admin member, no superuser. Skipped where postgres_fdw is not installed.
"""

import psycopg
import pytest

from conftest import as_role, connect

OWNER, ADMIN = "gs_fm_owner", "gs_fm_admin"

# The owner's function counts each run by a superuser or the admin (a sequence: a run
# in a transaction rolled back counts too).
OWNER_CODE = f"""
CREATE FUNCTION fo.spy() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
       OR current_user = '{ADMIN}' THEN
        PERFORM pg_catalog.nextval('spy_fm.runs');
    END IF;
    RETURN true;
END $$;
CREATE TABLE fo.items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO fo.items VALUES (1, 'one');
CREATE TABLE fo.src (id int, name text);
INSERT INTO fo.src VALUES (2, 'two');
CREATE VIEW fo.trap AS SELECT s.id, s.name FROM fo.src AS s WHERE fo.spy();
GRANT USAGE ON SCHEMA fo TO {ADMIN};
GRANT SELECT, TRIGGER ON fo.items TO {ADMIN};
"""

READS = {
    "build": "SELECT graph.build()",
    "verify": "SELECT * FROM graph.verify()",
    "hydrate": "SELECT * FROM graph.traverse('fo.items', '1', max_depth => 0, hydrate => true)",
    "search": "SELECT * FROM graph.search('name', 'one')",
}


def runs(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM spy_fm.runs").fetchone()[0]


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        if not c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgres_fdw'").fetchone():
            pytest.skip("postgres_fdw is not installed")
        for role in (OWNER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        c.execute(f"GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {OWNER}")
        c.execute("CREATE SCHEMA spy_fm; CREATE SEQUENCE spy_fm.runs;"
                  " GRANT USAGE ON SCHEMA spy_fm TO PUBLIC; GRANT ALL ON SEQUENCE spy_fm.runs TO PUBLIC")
        c.execute(f"CREATE SCHEMA fo AUTHORIZATION {OWNER}")
        # The server as the server itself is reached: its socket (trusted) and port.
        socket_dir, port, dbname, superuser = c.execute(
            "SELECT split_part(current_setting('unix_socket_directories'), ',', 1),"
            " current_setting('port'), current_database(), current_user").fetchone()
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('fo.items', columns => '{name}'); SELECT graph.build()")
    with as_role(db, OWNER) as o:
        o.execute(psycopg.sql.SQL(
            "CREATE SERVER fo_loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host {}, port {}, dbname {})").format(
            socket_dir.strip(), port, dbname))
        o.execute(psycopg.sql.SQL("CREATE USER MAPPING FOR {} SERVER fo_loop OPTIONS (user {})").format(
            psycopg.sql.Identifier(superuser), superuser))
        o.execute("CREATE FOREIGN TABLE fo.extra () INHERITS (fo.items)"
                  " SERVER fo_loop OPTIONS (schema_name 'fo', table_name 'trap')")
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('fo.items', cascade => true)")
        c.execute("DROP SCHEMA fo CASCADE; DROP SCHEMA spy_fm CASCADE; DROP SERVER fo_loop CASCADE")
        for role in (OWNER, ADMIN):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")
        c.execute("SELECT graph.build()")


def test_the_plant_runs_the_owners_code_as_a_superuser_who_selects(world):
    """The trap works: the superuser's own SELECT of fo.items reads the foreign child,
    whose remote query runs the owner's function as the superuser."""
    with connect(world) as c:
        before = runs(c)
        assert sorted(c.execute("SELECT id FROM fo.items").fetchall()) == [(1,), (2,)]
        assert runs(c) > before


def attempt(dsn, role, read):
    """Run ``READS[read]`` in a new backend as ``role`` (None: the superuser); its
    (SQLSTATE, message), or None. graph.verify() reports a table it may not read as a
    ``check_failed`` row with the refusal's SQLSTATE and message instead of raising."""
    with connect(dsn) if role is None else as_role(dsn, role) as conn:
        try:
            rows = conn.execute(READS[read]).fetchall()
        except psycopg.Error as exc:
            return exc.sqlstate, str(exc)
    failed = [r[3] for r in rows if read == "verify" and r[0] == "check_failed"]
    return (failed[0]["sqlstate"], failed[0]["message"]) if failed else None


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("role", [None, ADMIN], ids=["superuser", "admin"])
def test_a_privileged_read_never_reads_an_owners_foreign_child(world, role, read):
    """Refused (42501) before anything is planned, naming the foreign table and its
    owner; the owner's function never ran. (The admin has no user mapping: its read
    failed otherwise, at the connection, before the fix.)"""
    with connect(world) as c:
        before = runs(c)
    got = attempt(world, role, read)
    assert got is not None and got[0] == "42501", got
    assert "fo.extra" in got[1] and OWNER in got[1], got
    with connect(world) as c:
        assert runs(c) == before


def test_a_foreign_child_a_superuser_owns_is_read_as_before(world):
    """A foreign table a superuser took over (its server too) runs nobody's code but
    what the superuser checked: such a table is read as before."""
    with connect(world) as c:
        c.execute("ALTER FOREIGN TABLE fo.extra OWNER TO CURRENT_USER; ALTER SERVER fo_loop OWNER TO CURRENT_USER")
        try:
            c.execute("SELECT graph.build()")
            rows = c.execute(READS["hydrate"]).fetchall()
            assert [r[1] for r in rows] == ["1"]
        finally:
            c.execute(f"ALTER FOREIGN TABLE fo.extra OWNER TO {OWNER}; ALTER SERVER fo_loop OWNER TO {OWNER}")


def test_a_superusers_foreign_child_on_an_owners_server_is_refused(world):
    """The server's owner chooses where the query goes and creates the user mappings
    (the superuser's included): a foreign table a superuser took over is refused all
    the same while its server is the owner's."""
    with connect(world) as c:
        c.execute("ALTER FOREIGN TABLE fo.extra OWNER TO CURRENT_USER")
        try:
            got = attempt(world, None, "hydrate")
            assert got is not None and got[0] == "42501", got
            assert f"on server fo_loop of role {OWNER}" in got[1], got
        finally:
            c.execute(f"ALTER FOREIGN TABLE fo.extra OWNER TO {OWNER}")
