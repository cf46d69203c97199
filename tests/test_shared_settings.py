"""Shared state is changed only by admins: a 'shared' setting (batch and buffer
sizes, error policy, rebuild thresholds, retentions, the source check) takes
effect from a session or role only when the session user is an admin (a
superuser or a graph_admin member); for anyone else it is the database's value
(ALTER DATABASE ... SET) or the default. 'session' settings (query_freshness,
tenant) keep working for everyone.

Real roles log in: a plain reader and a non-superuser graph_admin member. A
reader's read applies pending rows through the SECURITY DEFINER
graph._read_sync, which is where a reader's session value used to govern the
graph everyone shares."""

from __future__ import annotations

import sys
import time

import psycopg
import pytest
from psycopg import sql

from conftest import ROOT, as_role, connect, rows_read

sys.path.insert(0, str(ROOT / "plpython"))

from graphsync import settings  # noqa: E402

READER, ADMIN = "gs_set_reader", "gs_set_admin"

# A valid value other than the default, for every shared setting.
OTHER = {
    "graph.sync_batch_size": "7",
    "graph.edge_buffer_size": "3",
    "graph.sync_error_policy": "skip",
    "graph.rebuild_backlog_rows": "5",
    "graph.rebuild_overlay_fraction": "0.9",
    "graph.rebuild_tombstone_fraction": "0.9",
    "graph.verify_interval": "5 minutes",
    "graph.log_retention": "2 days",
    "graph.job_retention": "3 days",
    "graph.notify_queue_limit": "0.9",
    "graph.read_apply": "admins",
}
SHARED = sorted(n for n, s in settings.SETTINGS.items() if s.scope == "shared")

# Counts the batches an apply commits: each one saves the cursor in graph._sync_state.
COUNT_SAVES = """
CREATE SEQUENCE public.state_saves;
GRANT USAGE ON SEQUENCE public.state_saves TO PUBLIC;
CREATE FUNCTION public.count_save() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.state_saves'); RETURN NULL; END $$;
CREATE TRIGGER count_save AFTER UPDATE OF target_position ON graph._sync_state
FOR EACH ROW WHEN (NEW.target_position > 0) EXECUTE FUNCTION public.count_save();
"""

POISON = """
CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.pk = '666' AND NEW.alive THEN RAISE EXCEPTION 'node 666 is cursed'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""


def saves(conn):
    return conn.execute(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.state_saves").fetchone()[0]


def read(conn):
    return conn.execute("SELECT count(*) FROM graph.traverse('items', '1', max_depth => 100,"
                        " direction => 'in')").fetchone()[0]


def state(conn):
    return conn.execute("SELECT read_only, read_only_reason FROM graph._sync_state").fetchone()


def pending(conn):
    return conn.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]


def dbname(dsn):
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]


def reset_database(conn, dsn):
    conn.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(dbname(dsn))))


@pytest.fixture(scope="module")
def roles(db):
    with connect(db) as c:
        for role in (READER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute("CREATE TABLE items (id int PRIMARY KEY, name text, parent int)")
        c.execute(f"GRANT SELECT ON items TO {READER}, {ADMIN}")
        c.execute("SELECT graph.add_table('items', columns => '{name}')")
        c.execute("SELECT graph.add_edge('items', 'parent', 'items')")
        c.execute(COUNT_SAVES)
    yield db
    with connect(db) as c:
        reset_database(c, db)
        for role in (READER, ADMIN):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.fixture
def items(roles):
    """items 1..10 as a chain, built, no pending rows, no database-level settings."""
    with connect(roles) as c:
        reset_database(c, roles)
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        c.execute("TRUNCATE items")
        c.execute("INSERT INTO items SELECT g, 'i' || g, nullif(g - 1, 0) FROM generate_series(1, 10) g")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM graph._sync_log")
        c.execute("SELECT setval('public.state_saves', 1, false)")
    yield roles
    with connect(roles) as c:
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")
        reset_database(c, roles)


def write_chain(conn, first, count):
    """count new items from first on, each pointing at the one before: edge rows."""
    conn.execute("INSERT INTO items SELECT g, 'i' || g, g - 1 FROM generate_series(%s::int, %s::int) g",
                 [first, first + count - 1])


def test_every_shared_setting_is_covered():
    assert sorted(OTHER) == SHARED


def test_a_readers_edge_buffer_size_does_not_turn_the_graph_read_only(items):
    with connect(items) as c:
        write_chain(c, 11, 5)
    time.sleep(1.2)  # a read applies (rather than folds) once the last apply is a second old
    with as_role(items, READER) as r:
        r.execute("SET graph.edge_buffer_size = 1")
        assert read(r) == 15  # the read applied the five rows
    with connect(items) as c:
        assert state(c) == (False, None) and pending(c) == 0


def test_a_readers_batch_size_does_not_change_how_the_read_applies(items):
    with connect(items) as c:
        write_chain(c, 11, 5)
    time.sleep(1.2)  # a read applies (rather than folds) once the last apply is a second old
    with as_role(items, READER) as r:
        r.execute("SET graph.sync_batch_size = 1")
        assert read(r) == 15
    with connect(items) as c:
        assert pending(c) == 0 and saves(c) == 1  # one batch of five, not five of one


def test_a_readers_error_policy_does_not_skip_a_failing_row(items):
    with connect(items) as c:
        c.execute(POISON)
        c.execute("INSERT INTO items VALUES (666, 'cursed', 10), (11, 'after', 666)")
    time.sleep(1.2)  # a read applies (rather than folds) once the last apply is a second old
    with as_role(items, READER) as r:
        r.execute("SET graph.sync_error_policy = 'skip'")
        read(r)
    with connect(items) as c:
        # 'stop' (the default) holds the failing row and the one after it.
        assert pending(c) == 2
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE error_message IS NOT NULL"
                         ).fetchone()[0] == 1


def test_a_readers_bad_value_of_a_shared_setting_breaks_nothing(items):
    with connect(items) as c:
        write_chain(c, 11, 2)
    with as_role(items, READER) as r:
        r.execute("SET graph.sync_batch_size = 'lots'")
        assert read(r) == 12
        assert r.execute("SELECT sync_batch_size FROM graph.sync_health()").fetchone() == (10000,)


@pytest.mark.parametrize("name", SHARED)
def test_a_readers_session_or_role_value_is_not_in_force_an_admins_is(items, name):
    default = settings.SETTINGS[name].default
    with connect(items) as c:
        c.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(sql.Identifier(READER), sql.SQL(name), OTHER[name]))
    try:
        with as_role(items, READER) as r:
            assert r.execute("SELECT current_setting(%s)", [name]).fetchone() == (OTHER[name],)
            assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (default,)
            r.execute("SELECT set_config(%s, %s, false)", [name, OTHER[name]])
            assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (default,)
    finally:
        with connect(items) as c:
            c.execute(sql.SQL("ALTER ROLE {} RESET {}").format(sql.Identifier(READER), sql.SQL(name)))
    with as_role(items, ADMIN) as a:
        a.execute("SELECT set_config(%s, %s, false)", [name, OTHER[name]])
        assert a.execute("SELECT graph._setting(%s)", [name]).fetchone() == (OTHER[name],)


@pytest.mark.parametrize("name", SHARED)
def test_the_database_value_is_in_force_for_everyone(items, name):
    with connect(items) as c:
        c.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
            sql.Identifier(dbname(items)), sql.SQL(name), OTHER[name]))
    for role in (READER, ADMIN):
        with as_role(items, role) as r:
            assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (OTHER[name],)
    with as_role(items, READER) as r:  # and a reader's own SET does not override it
        r.execute("SELECT set_config(%s, %s, false)", [name, settings.SETTINGS[name].default])
        assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (OTHER[name],)


def test_a_database_owner_outside_graph_admin_cannot_set_a_shared_value(items):
    """The database's value is in force for everyone, so only an admin may set it:
    the database's owner, when it is neither a superuser nor in graph_admin (an
    application role that owns its database), is refused both ways, and the value
    in force stays."""
    with connect(items) as c:
        owner = c.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                          ).fetchone()[0]
        c.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname(items)),
                                                                  sql.Identifier(READER)))
    try:
        with as_role(items, READER) as r:
            for name in SHARED:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(dbname(items)), sql.SQL(name), OTHER[name]))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute("SELECT graph.set_setting(%s, %s)", [name, OTHER[name]])
                assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (settings.SETTINGS[name].default,)
    finally:
        with connect(items) as c:
            c.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname(items)),
                                                                      sql.Identifier(owner)))


def test_a_database_edge_buffer_size_governs_a_readers_apply(items):
    with connect(items) as c:
        c.execute(sql.SQL("ALTER DATABASE {} SET graph.edge_buffer_size = 1").format(
            sql.Identifier(dbname(items))))
        write_chain(c, 11, 5)
    with as_role(items, READER) as r:
        r.execute("SET graph.edge_buffer_size = 100000")  # changes nothing shared
        assert read(r) == 15  # folded in memory
    with connect(items) as c:
        assert state(c) == (True, "edge_buffer_full") and pending(c) == 5


def test_an_admins_session_value_governs_its_apply(items):
    with connect(items) as c:
        write_chain(c, 11, 5)
    with as_role(items, ADMIN) as a:
        a.execute("SET graph.sync_batch_size = 2")
        assert a.execute("SELECT batches FROM graph.apply_sync()").fetchone() == (3,)


def test_session_settings_work_for_everyone(items):
    with connect(items) as c:
        write_chain(c, 11, 2)
    with as_role(items, READER) as r:
        r.execute("SET graph.query_freshness = 'off'")
        assert r.execute("SELECT graph._setting('graph.query_freshness')").fetchone() == ("off",)
        assert read(r) == 10  # the applied graph only: nothing applied
        r.execute("SET graph.tenant = 'acme'")
        assert r.execute("SELECT graph._setting('graph.tenant')").fetchone() == ("acme",)
    with connect(items) as c:
        assert pending(c) == 2


def test_a_non_superuser_admin_sets_a_shared_setting_for_everyone(items):
    with as_role(items, ADMIN) as a:
        assert a.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        a.execute("SELECT graph.set_setting('graph.sync_batch_size', '2')")
        with connect(items) as c:
            write_chain(c, 11, 5)
    time.sleep(1.2)  # a read applies (rather than folds) once the last apply is a second old
    with as_role(items, READER) as r:
        assert r.execute("SELECT graph._setting('graph.sync_batch_size')").fetchone() == ("2",)
        assert read(r) == 15
    with connect(items) as c:
        assert pending(c) == 0 and saves(c) == 3  # the reader's read applied in batches of two


def _alter_system(conn, name, value):
    """ALTER SYSTEM SET (or RESET, value None) and reload; new sessions see it."""
    if value is None:
        conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.SQL(name)))
    else:
        conn.execute(sql.SQL("SET {} = {}").format(sql.SQL(name), sql.Literal(value)))  # a placeholder to set
        conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.SQL(name), sql.Literal(value)))
    conn.execute("SELECT pg_reload_conf()")


@pytest.mark.parametrize("name", SHARED)
def test_the_servers_value_is_in_force_for_everyone(items, name):
    """A value set for the whole server (postgresql.conf, ALTER SYSTEM) takes effect
    for readers too, whatever they SET; a database value still comes first."""
    default = settings.SETTINGS[name].default
    with connect(items) as c:
        _alter_system(c, name, OTHER[name])
    try:
        for role in (READER, ADMIN):
            with as_role(items, role) as r:
                assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (OTHER[name],), role
        with as_role(items, READER) as r:
            r.execute("SELECT set_config(%s, %s, false)", [name, default])
            assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (OTHER[name],)
        with connect(items) as c:
            c.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(dbname(items)), sql.SQL(name), sql.Literal(default)))
        with as_role(items, READER) as r:
            assert r.execute("SELECT graph._setting(%s)", [name]).fetchone() == (default,)
    finally:
        with connect(items) as c:
            _alter_system(c, name, None)


def test_a_servers_edge_buffer_size_governs_a_readers_apply(items):
    with connect(items) as c:
        _alter_system(c, "graph.edge_buffer_size", "1")
    try:
        with connect(items) as c:
            write_chain(c, 11, 5)
        with as_role(items, READER) as r:
            r.execute("SET graph.edge_buffer_size = 100000")  # changes nothing shared
            assert read(r) == 15  # folded in memory
        with connect(items) as c:
            assert state(c) == (True, "edge_buffer_full") and pending(c) == 5
    finally:
        with connect(items) as c:
            _alter_system(c, "graph.edge_buffer_size", None)


def test_the_servers_files_show_nothing_but_graph_settings(items):
    """graph._server_setting runs as graph_sync with the right to read the server's
    configuration files (superusers' only): a table owner, a plain reader and a
    non-superuser admin each ask it for a non-graphsync value written with ALTER
    SYSTEM, under its own name and under names shaped to slip past the graph.* check,
    and get NULL every time; a graph.* value written the same way they do see."""
    owner = "gs_set_owner"
    with connect(items) as c:
        c.execute(f"DROP ROLE IF EXISTS {owner}")
        c.execute(f"CREATE ROLE {owner} LOGIN")
        c.execute(f"GRANT CREATE ON SCHEMA public TO {owner}")
        _alter_system(c, "work_mem", "7MB")
        _alter_system(c, "graph.sync_batch_size", "7")
    try:
        with as_role(items, owner) as o:
            o.execute("CREATE TABLE public.owned (id int PRIMARY KEY)")
        for role in (owner, READER, ADMIN):
            with as_role(items, role) as r:
                for name in ("work_mem", "graph.x\nwork_mem", "work_mem\ngraph.x", "graph.*", "GRAPH.WORK_MEM"):
                    assert r.execute("SELECT graph._server_setting(%s)", [name]).fetchone() == (None,), (role, name)
                assert r.execute("SELECT graph._server_setting('graph.sync_batch_size')").fetchone() == ("7",), role
    finally:
        with connect(items) as c:
            _alter_system(c, "work_mem", None)
            _alter_system(c, "graph.sync_batch_size", None)
            c.execute("DROP TABLE IF EXISTS public.owned")
            c.execute(f"DROP OWNED BY {owner}")
            c.execute(f"DROP ROLE {owner}")


# Session settings a reader may choose that would shape the plans of replay's
# statements: no index scans (a log read whole), JIT at any cost (every statement
# compiled: 21 times as long for 2,000 rows), no hash or merge joins.
HOSTILE_PLANS = ("SET enable_indexscan = off", "SET enable_indexonlyscan = off", "SET enable_bitmapscan = off",
                 "SET enable_tidscan = off", "SET jit = on", "SET jit_above_cost = 0",
                 "SET enable_hashjoin = off", "SET enable_mergejoin = off", "SET random_page_cost = 1000")


def test_a_readers_planner_settings_do_not_shape_the_reads_apply(items):
    """A read's apply holds graph._sync_state until the reader's transaction ends and
    runs replay for everyone: a reader's planner settings must not shape it. With
    20,000 applied rows kept in the log, a plain reader who turned index scans off
    made its read's freshness step read all of them (and its apply, with JIT at cost
    0, compile every statement); graph._apply_for_read now runs with PostgreSQL's
    defaults (JIT off), and graph._read_sync with index scans on."""
    with connect(items) as c:
        write_chain(c, 11, 20_000)
        c.execute("SELECT graph.apply_sync()")
        write_chain(c, 20_011, 5)
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")  # a read applies
    with psycopg.connect(psycopg.conninfo.make_conninfo(items, user=READER)) as r:
        for setting in HOSTILE_PLANS:
            r.execute(setting)
        before = rows_read(r, "graph._sync_log")
        assert r.execute("SELECT committed_rows, applied FROM graph._read_sync(true, %s::regrole)",
                         (READER,)).fetchone() == (5, True)
        assert rows_read(r, "graph._sync_log") - before < 1_000
        r.commit()
    with connect(items) as c:
        assert pending(c) == 0
        config = dict(s.split("=", 1) for s in c.execute(
            "SELECT proconfig FROM pg_proc WHERE oid = 'graph._apply_for_read()'::regprocedure").fetchone()[0])
        defaults = dict(c.execute("""SELECT name, CASE name WHEN 'jit' THEN 'off' ELSE boot_val END FROM pg_settings
                                     WHERE category LIKE 'Query Tuning%' AND context = 'user'""").fetchall())
    assert len(defaults) > 40
    assert {name: config.get(name) for name in defaults} == defaults
    assert config["max_parallel_workers_per_gather"] == "0"


def test_a_reader_that_keeps_its_transaction_open_holds_an_apply_unless_reads_apply_for_admins_only(items):
    """A read that applies holds the state row until the reader's transaction ends: a
    plain reader idle in transaction after such a read makes an admin's apply_sync()
    wait (health's next_action names the reader's backend). With graph.read_apply =
    'admins' (set by an admin, for the database) the
    reader's read folds the same rows instead (its answer is the same), takes no
    lock, and the admin's apply runs at once; an admin's read still applies."""
    for mode in ("everyone", "admins"):
        with connect(items) as c:
            c.execute("SELECT graph.set_setting('graph.read_apply', %s)", [mode])
            c.execute("SELECT graph.apply_sync()")
            write_chain(c, 11 if mode == "everyone" else 16, 5)
            c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")  # a read applies
        with psycopg.connect(psycopg.conninfo.make_conninfo(items, user=READER)) as r:
            r.execute("SET graph.read_apply = 'everyone'")  # a reader's own value changes nothing
            assert read(r) == (15 if mode == "everyone" else 20)  # every committed row, applied or folded
            with connect(items) as c:  # the reader is idle in transaction now
                c.execute("SET statement_timeout = '2s'")
                write_chain(c, 100 if mode == "everyone" else 101, 1)
                if mode == "everyone":
                    # health names the backend replay waits for
                    action = c.execute("SELECT next_action FROM graph.sync_health()").fetchone()[0]
                    assert action.startswith(f"replay waits for backend {r.info.backend_pid},"), action
                    with pytest.raises(psycopg.errors.QueryCanceled):
                        c.execute("SELECT graph.apply_sync()")
                else:
                    c.execute("SELECT graph.apply_sync()")
                    assert pending(c) == 0
            r.rollback()
        with connect(items) as c:
            action = c.execute("SELECT next_action FROM graph.sync_health()").fetchone()[0]
            assert not action.startswith("replay waits"), action
    with connect(items) as c:
        c.execute("SELECT graph.apply_sync()")
        write_chain(c, 200, 1)
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    with psycopg.connect(psycopg.conninfo.make_conninfo(items, user=ADMIN)) as a:
        assert a.execute("SELECT applied FROM graph._read_sync(true)").fetchone() == (True,)
        a.commit()
