"""Nothing leaks: sync_health(), status() and the messages a read shows carry no
value of a table the role cannot read.

A failing log row's error quotes the source value (PostgreSQL's own "invalid
input syntax for type integer: ..."). Real roles log in: a reader that cannot
read the secret table, a peer that can, and a non-superuser graph_admin member."""

import psycopg
import pytest

from conftest import connect, row

READER, PEER, ADMIN = "gs_leak_reader", "gs_leak_peer", "gs_leak_admin"
SECRET = "s3cr3t-value"

# A failure whose message quotes the source value, as a type input error does.
POISON = """
CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.table_oid = 'public.secrets'::regclass AND NEW.alive THEN
        PERFORM (NEW.properties->>'name')::int;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""

# An error that escapes apply_sync as a whole (not a row's), quoting a source value.
ESCAPE = """
CREATE OR REPLACE FUNCTION public.escape() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'cannot record the failure of %', NEW.properties;
END $$;
CREATE TRIGGER escape BEFORE UPDATE OF error_message ON graph._sync_log
FOR EACH ROW EXECUTE FUNCTION public.escape();
"""


def as_role(dsn, role, notices=None):
    c = psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=role), autocommit=True)
    if notices is not None:
        c.add_notice_handler(lambda d: notices.append(
            " ".join(x for x in (d.severity, d.message_primary, d.message_detail, d.message_hint) if x)))
    return c


def shows(values, text):
    return [v for v in values if text in str(v)]


@pytest.fixture(scope="module")
def roles(db):
    with connect(db) as c:
        for role in (READER, PEER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(f"CREATE ROLE {PEER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
    yield db
    with connect(db) as c:
        c.execute("DROP TABLE IF EXISTS secrets, open_t CASCADE")
        for role in (READER, PEER, ADMIN):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.fixture
def tables(roles):
    """open_t (readable by the reader) and secrets (readable by the peer), registered
    and built; the next write to secrets fails to apply with its value in the error."""
    with connect(roles) as c:
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        c.execute("DROP TRIGGER IF EXISTS escape ON graph._sync_log")
        c.execute("DROP TABLE IF EXISTS secrets, open_t CASCADE")
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute("DELETE FROM graph._maintenance_jobs")
        c.execute("CREATE TABLE open_t (id int PRIMARY KEY, ref int)")
        c.execute("CREATE TABLE secrets (id int PRIMARY KEY, name text)")
        c.execute("INSERT INTO open_t VALUES (1, 2), (2, NULL)")
        c.execute(f"GRANT SELECT ON open_t TO {READER}, {PEER}, {ADMIN}")
        c.execute(f"GRANT SELECT ON secrets TO {PEER}, {ADMIN}")
        c.execute("SELECT graph.add_table('open_t')")
        c.execute("SELECT graph.add_table('secrets', columns => '{name}')")
        c.execute("SELECT graph.add_edge('open_t', 'ref', 'open_t')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM graph._sync_log")
        c.execute(POISON)
    yield roles
    with connect(roles) as c:
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        c.execute("DROP TRIGGER IF EXISTS escape ON graph._sync_log")


def read_open_t(conn):
    return conn.execute("SELECT node_id FROM graph.traverse('open_t', '1') ORDER BY depth").fetchall()


def test_a_read_that_applies_a_failing_row_shows_the_reader_no_value(tables):
    with connect(tables) as c:
        c.execute(f"INSERT INTO secrets VALUES (1, '{SECRET}')")
        failing = c.execute("SELECT max(id) FROM graph._sync_log").fetchone()[0]
    notices = []
    with as_role(tables, READER, notices) as r:
        assert read_open_t(r) == [("1",), ("2",)]  # the read applies the pending row
    with connect(tables) as c:
        # The row was applied by the read, and failed with the value in its error.
        error = c.execute("SELECT error_message FROM graph._sync_log WHERE id = %s", [failing]).fetchone()[0]
        assert SECRET in error
    assert shows(notices, SECRET) == []
    # An admin reading the same way is shown the row's error.
    with connect(tables) as c:
        c.execute("UPDATE graph._sync_log SET error_message = NULL")
    with connect(tables) as c:  # a read applies at most once a second: not a race with the last apply
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    admin_notices = []
    with as_role(tables, ADMIN, admin_notices) as a:
        read_open_t(a)
    assert shows(admin_notices, SECRET)


def test_health_and_status_show_a_failed_row_only_to_roles_that_may_read_it(tables):
    with connect(tables) as c:
        c.execute(f"INSERT INTO secrets VALUES (1, '{SECRET}')")
        assert c.execute("SELECT failed FROM graph.apply_sync()").fetchone() == (1,)
        failing = c.execute("SELECT id FROM graph._sync_log WHERE error_message IS NOT NULL").fetchone()[0]
    with as_role(tables, READER) as r:
        health = row(r, "SELECT * FROM graph.sync_health()")
        status = row(r, "SELECT * FROM graph.status()")
    assert shows(health.values(), SECRET) == [] and shows(status.values(), SECRET) == []
    assert health["failed_sync_rows"] == 1
    assert health["last_error"] == (f"log row {failing} of table public.secrets failed;"
                                    " details visible to graph_admin")
    assert "retry_failed" in health["next_action"]
    for role in (PEER, ADMIN):
        with as_role(tables, role) as p:
            health = row(p, "SELECT * FROM graph.sync_health()")
        assert SECRET in health["last_error"] and SECRET in health["next_action"]
    # Row-level security on the table: its values are not the peer's to see whole.
    with connect(tables) as c:
        c.execute("ALTER TABLE secrets ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY some_rows ON secrets USING (id > 1)")
    with as_role(tables, PEER) as p:
        assert SECRET not in row(p, "SELECT last_error FROM graph.sync_health()")["last_error"]
    with connect(tables) as c:
        c.execute("DROP POLICY some_rows ON secrets")
        c.execute("ALTER TABLE secrets DISABLE ROW LEVEL SECURITY")


def test_a_failed_maintenance_run_shows_its_error_to_admins_only(tables):
    with connect(tables) as c:
        c.execute("DROP TRIGGER poison ON graph._node_rows")
        c.execute(f"INSERT INTO secrets VALUES (1, '{SECRET}')")
        c.execute("SELECT graph.apply_sync()")
        c.execute(POISON)
        result = row(c, "SELECT status, error FROM graph.vacuum()")  # the rebuild meets the row
        assert result["status"] == "failed" and SECRET in result["error"]
    with as_role(tables, READER) as r:
        health = row(r, "SELECT * FROM graph.sync_health()")
        status = row(r, "SELECT * FROM graph.status()")
    assert shows(health.values(), SECRET) == [] and shows(status.values(), SECRET) == []
    assert health["last_maintenance_status"] == "failed"
    assert health["last_maintenance_error"] == "the run failed; details visible to graph_admin"
    with as_role(tables, PEER) as p:  # may read the table, but a run's error may quote any table
        assert SECRET not in row(p, "SELECT last_maintenance_error FROM graph.sync_health()")[
            "last_maintenance_error"]
    with as_role(tables, ADMIN) as a:
        assert SECRET in row(a, "SELECT last_maintenance_error FROM graph.sync_health()")[
            "last_maintenance_error"]


def test_an_apply_failing_inside_a_read_is_reported_without_its_message(tables):
    with connect(tables) as c:
        c.execute(ESCAPE)
        c.execute(f"INSERT INTO secrets VALUES (1, '{SECRET}')")
    notices = []
    with as_role(tables, READER, notices) as r:
        assert read_open_t(r) == [("1",), ("2",)]  # folded in memory instead
    assert notices and shows(notices, SECRET) == []
    assert any("could not apply pending log rows" in n for n in notices)
    with connect(tables) as c:
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 1  # nothing applied
    with connect(tables) as c:  # a read applies at most once a second: not a race with the last apply
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    admin_notices = []
    with as_role(tables, ADMIN, admin_notices) as a:
        read_open_t(a)
    assert shows(admin_notices, SECRET)
