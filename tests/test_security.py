"""No privilege escalation (issue 8, part 1), on a real server with real roles.

- A table owner's code -- casts to text/json/jsonb and from text, an operator, a
  domain CHECK -- never runs as a role with more privileges than the owner, whatever
  graphsync does with the owner's columns (key, property, filter, tenant, edge
  endpoint, weight, label, a column retyped to the owner's type), run by a
  superuser or a graph_admin member with the owner's schema first in search_path.
- SECURITY DEFINER code is owned by graph_capture / graph_sync, never a superuser.
- graph_admin cannot change the code tables or put triggers on graph tables.
- A mistaken GRANT EXECUTE ON ALL FUNCTIONS opens no internal helper.
- Objects planted in public and in a schema first on the caller's search_path are
  never called by any public graph function.
- Keys compare as their type does: an edge endpoint equal to the target key under
  the key's type links to that node; verify() reports what cannot link (phantom_edge).
"""

import psycopg
import pytest

from conftest import apply, as_role, connect, verify
from owner_traps import MOOD_TRAPS

OWNER, ADMIN, MALLORY = "gs_sec_owner", "gs_sec_admin", "gs_sec_mallory"
# see sql/privileges.sql
SUPERUSER_DEFINERS = {"_enable_capture_trigger", "set_setting", "_hold_sources", "_lock_for_capture"}
HOSTILE_PATH = "SET search_path = own, evil, public, pg_catalog"
# What every capture function pins: search_path (a SECURITY DEFINER function must),
# and jit and merge joins off (its plans are kept for every statement size).
CAPTURE_PINS = ["search_path=pg_catalog, pg_temp", "jit=off", "enable_mergejoin=off"]


# The owner's code: every function records who runs it; one run by anyone but the
# owner counts in spy.foreign (a sequence: a rolled-back call still counts) and,
# when that role is a superuser, makes the owner a superuser.
SPY = """
CREATE SCHEMA spy;
GRANT USAGE ON SCHEMA spy TO PUBLIC;
CREATE TABLE spy.calls (who name, sess name, super boolean, what text);
GRANT INSERT, SELECT ON spy.calls TO PUBLIC;
CREATE SEQUENCE spy.foreign;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE spy.foreign TO PUBLIC;
"""

OWNER_CODE = """
CREATE FUNCTION own.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    super boolean := (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user);
BEGIN
    IF current_user <> 'gs_sec_owner' THEN
        PERFORM pg_catalog.nextval('spy.foreign');
    END IF;
    INSERT INTO spy.calls VALUES (current_user, session_user, super, what);
    IF super THEN
        EXECUTE 'ALTER ROLE gs_sec_owner SUPERUSER';
    END IF;
    RETURN true;
END $$;
""" + MOOD_TRAPS + """CREATE FUNCTION own.weight_ok(numeric) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('weight CHECK'); RETURN true; END $$;
CREATE DOMAIN own.weight AS numeric CHECK (own.weight_ok(VALUE));

CREATE TABLE own.moods (m own.mood PRIMARY KEY, note own.mood);
CREATE TABLE own.people (id int PRIMARY KEY, feeling own.mood, team own.mood, status text, name text);
CREATE TABLE own.links (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, w own.weight, kind own.mood);
INSERT INTO own.moods VALUES ('sad', 'ok'), ('ok', 'ok'), ('happy', 'sad');
INSERT INTO own.people VALUES (1, 'happy', 'ok', 'ok', 'ann'), (2, 'sad', 'ok', 'sad', 'bob'),
                              (3, 'happy', 'sad', 'happy', 'cy');
INSERT INTO own.links VALUES (1, 1, 2, 2.5, 'happy'), (2, 2, 3, 1, 'sad');
GRANT USAGE ON SCHEMA own TO gs_sec_admin;
GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA own TO gs_sec_admin;
"""

REGISTER = """
SELECT graph.add_table('own.moods', columns => '{note}');
SELECT graph.add_table('own.people', columns => '{feeling,status,name}', tenant_column => 'team');
SELECT graph.add_filter_column('own.people', 'feeling');
SELECT graph.add_edge('own.people', 'feeling', 'own.moods', label => 'feels');
SELECT graph.add_edge('own.people', 'a', 'own.people', to_column => 'b', via_table => 'own.links',
                      weight_column => 'w', label_column => 'kind');
"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, ADMIN, MALLORY):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE ROLE {MALLORY} LOGIN")
        c.execute(SPY)
        c.execute(f"CREATE SCHEMA own AUTHORIZATION {OWNER}")
        c.execute(f"CREATE SCHEMA mal AUTHORIZATION {MALLORY}")
        c.execute(f"CREATE SCHEMA adm AUTHORIZATION {ADMIN}")
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
    with as_role(db, ADMIN) as a:
        a.execute(REGISTER)
        a.execute("SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA own, mal, adm, spy CASCADE")
        for role in (OWNER, ADMIN, MALLORY):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def foreign_calls(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM spy.foreign").fetchone()[0]


def owner_is_superuser(c):
    return c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone()[0]


def test_the_owners_code_is_a_working_trap(world):
    """The plants work: a superuser who casts the owner's type with this search_path
    runs the owner's function as superuser (and the owner becomes one)."""
    with connect(world) as c:
        before = foreign_calls(c)
        with c.transaction():
            c.execute(HOSTILE_PATH)
            assert c.execute("SELECT 'happy'::own.mood::text").fetchone() == ("Xhappy",)
            assert c.execute("SELECT 'ok'::own.mood = 'ok'::own.mood").fetchone() == (True,)
            assert owner_is_superuser(c)
            raise psycopg.Rollback()  # the trap sprang: undo the escalation it made
        assert foreign_calls(c) == before + 2
        assert not owner_is_superuser(c)


def _graph_work(conn, retyped):
    """Everything graphsync does with source values, run on ``conn``."""
    conn.execute(HOSTILE_PATH)
    apply(conn)
    conn.execute("SELECT * FROM graph.build()")
    assert verify(conn) == []
    conn.execute("SELECT * FROM graph.vacuum()").fetchone()
    conn.execute("SELECT * FROM graph.run_scheduled_maintenance()").fetchone()
    conn.execute("SELECT * FROM graph.reconcile()").fetchall()
    conn.execute("SELECT * FROM graph.retry_failed()").fetchone()
    found = {r[0] for r in conn.execute("SELECT node_id FROM graph.search('feeling', 'happy')")}
    assert found == {"1", "3"}
    assert {r[0] for r in conn.execute("SELECT node_id FROM graph.search('feeling', 'hap', mode => 'prefix')")} \
        == {"1", "3"}
    assert {r[0] for r in conn.execute(
        "SELECT node_id FROM graph.search('feeling', 'HAPPY', case_sensitive => false, tenant => 'ok')")} == {"1"}
    conn.execute("SELECT * FROM graph.search('note', 'ok', mode => 'contains')").fetchall()
    conn.execute("SELECT * FROM graph.search('status', 'ok')").fetchall()
    rows = conn.execute("SELECT c.relname::text, node_id, node FROM graph.traverse('own.people', '1',"
                        " hydrate => true, direction => 'any') JOIN pg_class AS c ON c.oid = node_table").fetchall()
    nodes = {("own." + t, i): n for t, i, n in rows}
    assert nodes[("own.people", "1")]["feeling"] == "happy"
    assert ("own.moods", "happy") in nodes and nodes[("own.moods", "happy")] == {"m": "happy", "note": "sad"}
    conn.execute("SELECT * FROM graph.traverse('own.moods', 'happy', direction => 'in', hydrate => true,"
                 " filter => '{\"feeling\": \"happy\"}')").fetchall()
    conn.execute("SELECT * FROM graph.traverse_search('feeling', 'sad', hydrate => true)").fetchall()
    assert conn.execute("SELECT count(*) FROM graph.shortest_path('own.people', '1', 'own.people', '3')"
                        ).fetchone()[0] == 3
    assert conn.execute("SELECT max(total_cost) FROM graph.weighted_shortest_path('own.people', '1',"
                        " 'own.people', '3')").fetchone()[0] == pytest.approx(3.5)
    conn.execute("SELECT * FROM graph.connected_components()").fetchall()
    conn.execute("SELECT * FROM graph.component_of('own.moods', 'happy')").fetchall()
    conn.execute("SELECT * FROM graph.sync_health()").fetchone()
    conn.execute("SELECT * FROM graph.status()").fetchone()
    conn.execute("RESET search_path")


def _owner_writes(dsn, n):
    with as_role(dsn, OWNER) as o:
        o.execute(HOSTILE_PATH)
        o.execute("INSERT INTO own.people VALUES (%s, 'ok', 'sad', 'ok', 'ok')", (n,))
        o.execute("UPDATE own.people SET feeling = 'sad', team = 'happy' WHERE id = %s", (n,))
        o.execute("UPDATE own.moods SET note = 'happy' WHERE m = 'ok'")
        o.execute("INSERT INTO own.links VALUES (%s, 3, %s, 4, 'ok')", (n, n))
        o.execute("UPDATE own.links SET w = 5, kind = 'sad' WHERE id = %s", (n,))
        o.execute("DELETE FROM own.links WHERE id = %s", (n,))
        o.execute("DELETE FROM own.people WHERE id = %s", (n,))


@pytest.mark.parametrize("who", ["superuser", ADMIN])
def test_owner_code_never_runs_with_more_privileges_than_the_owner(world, who):
    with connect(world) as c:
        before = foreign_calls(c)
    _owner_writes(world, 100)  # capture runs on the owner's writes
    with (connect(world) if who == "superuser" else as_role(world, ADMIN)) as conn:
        _graph_work(conn, retyped=False)
    with connect(world) as c:
        assert foreign_calls(c) == before
        assert c.execute("SELECT DISTINCT who FROM spy.calls WHERE who <> %s", (OWNER,)).fetchall() == []
        assert not owner_is_superuser(c)


def test_a_column_retyped_to_the_owners_type_still_runs_none_of_its_code(world):
    with connect(world) as c:
        before = foreign_calls(c)
    with as_role(world, OWNER) as o:  # the USING cast runs as the owner: that is the owner's business
        o.execute("ALTER TABLE own.people ALTER COLUMN status TYPE own.mood USING status::own.mood")
        o.execute("ALTER TABLE own.people ALTER COLUMN name TYPE own.mood USING 'ok'::own.mood")
    with connect(world) as c:
        c.execute("DELETE FROM spy.calls")  # the owner's own calls above
    _owner_writes(world, 101)  # capture generated for text columns meets the owner's type
    for who in ("superuser", ADMIN):
        with (connect(world) if who == "superuser" else as_role(world, ADMIN)) as conn:
            _graph_work(conn, retyped=True)
    with connect(world) as c:
        assert foreign_calls(c) == before
        assert c.execute("SELECT DISTINCT who FROM spy.calls WHERE who <> %s", (OWNER,)).fetchall() == []
        assert not owner_is_superuser(c)
        c.execute("SELECT * FROM graph.reconcile()").fetchall()
        assert verify(c) == []


def test_a_stale_capture_function_meets_the_owners_type_and_runs_none_of_its_code(world):
    """With DDL not followed (a superuser disabled the event triggers), a column the
    owner retypes to its own type, which has casts to text and JSON, meets the capture
    function generated for text. That function logs a single
    row with unchecked ::text and typed JSON after one type check: the check fails,
    the row is logged by the bulk statements' checked forms (the type's output
    function), and the owner's casts never run as graph_capture."""
    with connect(world) as c:
        c.execute("CREATE TABLE own.stale (id int PRIMARY KEY, word text, tag text)")
        c.execute(f"ALTER TABLE own.stale OWNER TO {OWNER}")
        c.execute("SELECT graph.add_table('own.stale', columns => '{word}', tenant_column => 'tag')")
        assert c.execute("SELECT proconfig FROM pg_proc WHERE oid = ('graph._capture_'"
                         " || 'own.stale'::regclass::oid)::regproc").fetchone() == (
            CAPTURE_PINS,)  # the pins only, no output setting: a plain table's function (the single-row path)
        followers = [r[0] for r in c.execute("SELECT evtname FROM pg_event_trigger"
                                             " WHERE evtname LIKE 'graphsync%' AND evtenabled = 'A'")]
        assert followers
        before = foreign_calls(c)
        for name in followers:
            c.execute(f"ALTER EVENT TRIGGER {name} DISABLE")
        try:
            with as_role(world, OWNER) as o:
                o.execute("INSERT INTO own.stale VALUES (1, 'ok', 'ok')")  # plans capture for text
                o.execute("ALTER TABLE own.stale ALTER COLUMN word TYPE own.mood USING word::own.mood,"
                          " ALTER COLUMN tag TYPE own.mood USING tag::own.mood")
            with connect(world) as c2:
                c2.execute("DELETE FROM spy.calls")  # the owner's own calls above
            with as_role(world, OWNER) as o:
                o.execute("INSERT INTO own.stale VALUES (2, 'happy', 'sad')")
                o.execute("UPDATE own.stale SET word = 'sad' WHERE id = 2")
                o.execute("INSERT INTO own.stale VALUES (3, 'ok', 'ok'), (4, 'sad', 'ok')")
                o.execute("DELETE FROM own.stale WHERE id = 3")
        finally:
            for name in followers:
                c.execute(f"ALTER EVENT TRIGGER {name} ENABLE ALWAYS")
        assert foreign_calls(c) == before
        assert c.execute("SELECT DISTINCT who FROM spy.calls WHERE who <> %s", (OWNER,)).fetchall() == []
        logged = c.execute("""SELECT op, pk, properties, new_row FROM graph._sync_log
                              WHERE table_oid = 'own.stale'::regclass ORDER BY id""").fetchall()
        assert logged == [
            ("I", "1", {"word": "ok"}, {"tag": "ok"}),
            ("I", "2", {"word": "happy"}, {"tag": "sad"}),
            ("U", "2", {"word": "sad"}, {"tag": "sad"}),
            ("I", "3", {"word": "ok"}, {"tag": "ok"}),
            ("I", "4", {"word": "sad"}, {"tag": "ok"}),
            ("D", "3", None, None),
        ]
        c.execute("DELETE FROM graph._sync_log WHERE table_oid = 'own.stale'::regclass")
        c.execute("SELECT graph.remove_table('own.stale')")
        c.execute("DROP TABLE own.stale")



def test_a_stale_property_column_of_the_owners_type_runs_none_of_its_code_on_delete(world):
    """A DELETE renders the old row's key and captured columns, no property: its
    single-statement form checks only those columns' types. A property column the
    owner retyped to its own type (DDL not followed) leaves that check passing, and
    the DELETE is logged by the unchecked forms, which never name the property: the
    owner's casts never run as graph_capture, and the row logged is the same."""
    with connect(world) as c:
        c.execute("CREATE TABLE own.stale_d (id int PRIMARY KEY, word text, tag text)")
        c.execute(f"ALTER TABLE own.stale_d OWNER TO {OWNER}")
        c.execute("SELECT graph.add_table('own.stale_d', columns => '{word}', tenant_column => 'tag')")
        followers = [r[0] for r in c.execute("SELECT evtname FROM pg_event_trigger"
                                             " WHERE evtname LIKE 'graphsync%' AND evtenabled = 'A'")]
        before = foreign_calls(c)
        for name in followers:
            c.execute(f"ALTER EVENT TRIGGER {name} DISABLE")
        try:
            with as_role(world, OWNER) as o:
                o.execute("INSERT INTO own.stale_d VALUES (1, 'ok', 't1'), (2, 'sad', 't2')")
                o.execute("DELETE FROM own.stale_d WHERE id = 1")  # plans the DELETE for text
                o.execute("ALTER TABLE own.stale_d ALTER COLUMN word TYPE own.mood USING word::own.mood")
            with connect(world) as c2:
                c2.execute("DELETE FROM spy.calls")  # the owner's own calls above
            with as_role(world, OWNER) as o:
                o.execute("DELETE FROM own.stale_d WHERE id = 2")
        finally:
            for name in followers:
                c.execute(f"ALTER EVENT TRIGGER {name} ENABLE ALWAYS")
        assert foreign_calls(c) == before
        assert c.execute("SELECT DISTINCT who FROM spy.calls WHERE who <> %s", (OWNER,)).fetchall() == []
        logged = c.execute("""SELECT op, pk, old_pk, properties, old_row FROM graph._sync_log
                              WHERE table_oid = 'own.stale_d'::regclass AND op = 'D' ORDER BY id""").fetchall()
        assert logged == [("D", "1", "1", None, {"tag": "t1"}), ("D", "2", "2", None, {"tag": "t2"})]
        c.execute("DELETE FROM graph._sync_log WHERE table_oid = 'own.stale_d'::regclass")
        c.execute("SELECT graph.remove_table('own.stale_d')")
        c.execute("DROP TABLE own.stale_d")


# -- who SECURITY DEFINER code runs as -------------------------------------------

def test_definer_functions_are_owned_by_graph_sync_and_graph_capture(world):
    with connect(world) as c:
        owners = c.execute("""
            SELECT p.proname LIKE '\\_capture\\_%%', p.proowner::regrole::text, count(*)
            FROM pg_proc AS p WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
              AND p.proname NOT IN (SELECT unnest(%s::text[]))
            GROUP BY 1, 2 ORDER BY 1""", (list(SUPERUSER_DEFINERS),)).fetchall()
        assert [(cap, owner) for cap, owner, _ in owners] == [(False, "graph_sync"), (True, "graph_capture")]
        # The only exceptions: narrow helpers whose one statement needs an owner's
        # right no role can be granted (ALTER TABLE ... ENABLE TRIGGER on someone's
        # table, ALTER DATABASE ... SET; each checks its session user), and the lock
        # of the planned-code check (LOCK TABLE ... IN SHARE UPDATE EXCLUSIVE MODE of
        # registered tables only, EXECUTE graph_admin's alone: graph._hold_sources).
        assert {r[0] for r in c.execute("""
            SELECT p.proname::text FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
            WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef AND r.rolsuper""")} <= SUPERUSER_DEFINERS
        roles = c.execute("""SELECT rolname, rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb
                             FROM pg_roles WHERE rolname IN ('graph_sync', 'graph_capture') ORDER BY 1""").fetchall()
        assert roles == [("graph_capture", False), ("graph_sync", False)]
        # graph_capture may append to the log and nothing else, even right after a
        # registration handed it a new function.
        c.execute("CREATE TABLE own.fresh (id int PRIMARY KEY)")
        c.execute("SELECT graph.add_table('own.fresh')")
        assert c.execute("SELECT p.proowner::regrole::text FROM pg_proc AS p WHERE p.oid = "
                         "('graph._capture_' || 'own.fresh'::regclass::oid)::regproc").fetchone() == ("graph_capture",)
        privileges = c.execute("""
            SELECT c.relname::text, a.privilege_type FROM pg_class AS c, aclexplode(c.relacl) AS a
            WHERE c.relnamespace = 'graph'::regnamespace AND a.grantee = 'graph_capture'::regrole
            ORDER BY 1, 2""").fetchall()
        # ... and note the id of a TRUNCATE marker (migration 385; an id there flags
        # nothing by itself: readers test the row's own flags).
        assert [p for p in privileges if p[0] != "_sync_log_id_seq"] == [
            ("_sync_log", "INSERT"), ("_sync_log_attention", "INSERT")]
        assert c.execute("SELECT pg_has_role('graph_capture', 'graph_admin', 'MEMBER')").fetchone() == (False,)
        assert c.execute("SELECT has_schema_privilege('graph_capture', 'graph', 'CREATE')").fetchone() == (False,)
        c.execute("SELECT graph.remove_table('own.fresh')")
        c.execute("DROP TABLE own.fresh")


def test_a_plpython_definer_owned_by_graph_sync_works_for_any_role(world):
    with as_role(world, MALLORY) as m:
        assert m.execute("SELECT node_tables FROM graph.status()").fetchone()[0] >= 2
        assert m.execute("SELECT next_action FROM graph.sync_health()").fetchone()[0]


# -- the code that runs inside the server --------------------------------------

@pytest.mark.parametrize("sql", [
    "INSERT INTO graph._py_modules VALUES ('graphsync.evil', false, 'import os')",
    "UPDATE graph._py_modules SET source = source || chr(10) || 'import os' WHERE name = 'graphsync'",
    "DELETE FROM graph._py_modules WHERE name = 'graphsync.db'",
    "TRUNCATE graph._py_modules",
    "UPDATE graph._py_modules SET code = NULL WHERE name = 'graphsync'",
    "UPDATE graph._py_modules SET code = code, code_key = 'x' WHERE name = 'graphsync.db'",
    "UPDATE graph._py_modules SET code_xid = xmin WHERE name = 'graphsync.db'",
    "SELECT graph._compile_package()",
    "DELETE FROM graph._migrations",
    "UPDATE graph._migrations SET checksum = 'x'",
    "INSERT INTO graph._migrations (name, checksum) VALUES ('999-evil.sql', 'x')",
    "UPDATE graph._version SET version = '0'",
    "CREATE TRIGGER evil AFTER INSERT ON graph._sync_log FOR EACH STATEMENT EXECUTE FUNCTION adm.evil()",
    "CREATE TRIGGER evil AFTER INSERT ON graph._node_rows FOR EACH STATEMENT EXECUTE FUNCTION adm.evil()",
    "CREATE TABLE adm.fk (id bigint REFERENCES graph._node_rows)",
])
def test_a_graph_admin_member_cannot_change_the_code_or_hook_graph_tables(world, sql):
    with as_role(world, ADMIN) as a:
        a.execute("CREATE OR REPLACE FUNCTION adm.evil() RETURNS trigger LANGUAGE plpgsql AS"
                  " $$BEGIN RETURN NULL; END$$")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            a.execute(sql)
        assert a.execute("SELECT count(*) FROM graph._py_modules WHERE name = 'graphsync'").fetchone() == (1,)


# -- a mistaken GRANT EXECUTE ON ALL FUNCTIONS -----------------------------------

def test_a_mistaken_grant_on_all_functions_opens_no_internal_helper(world):
    with connect(world) as c:
        people = c.execute("SELECT 'own.people'::regclass::oid").fetchone()[0]
        log_rows = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
        c.execute("SELECT graph.enable_replica_capture()")  # the row-level capture functions too
        c.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph TO {MALLORY}")
    try:
        with as_role(world, MALLORY) as m:
            m.execute("CREATE TABLE mal.fake (id int PRIMARY KEY, feeling text, team text, status text, name text)")
            for sql in [f"SELECT graph._write_capture({people})", f"SELECT graph._install_capture({people})",
                        "SELECT graph.add_table('mal.fake')", "SELECT * FROM graph.apply_sync()",
                        "SELECT * FROM graph.build()", "SELECT * FROM graph.verify()",
                        "SELECT graph._after_build(pg_current_snapshot())", "SELECT * FROM graph.reconcile()",
                        "SELECT * FROM graph.retry_failed()", "SELECT graph.prune_sync_log('0')",
                        f"SELECT graph.remove_table('{people}'::oid::regclass)"]:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    m.execute(sql)
            # A capture function attached to another table forges nothing: it logs
            # nothing there (the count below; it refused with 42501 before the
            # fifty-third stop).
            m.execute(f"CREATE TRIGGER forge AFTER INSERT ON mal.fake REFERENCING NEW TABLE AS new_rows"
                      f" FOR EACH STATEMENT EXECUTE FUNCTION graph._capture_{people}()")
            m.execute("INSERT INTO mal.fake VALUES (999, 'happy', 'ok', 'ok', 'forged')")
            # Nor does the row-level one (logical replication's), fired however it is enabled.
            m.execute("DROP TRIGGER forge ON mal.fake")
            m.execute(f"CREATE TRIGGER forge AFTER INSERT ON mal.fake FOR EACH ROW"
                      f" EXECUTE FUNCTION graph._capture_row_{people}()")
            m.execute("ALTER TABLE mal.fake ENABLE ALWAYS TRIGGER forge")
            m.execute("INSERT INTO mal.fake VALUES (998, 'happy', 'ok', 'ok', 'forged')")
            m.execute("DROP TABLE mal.fake")
        with connect(world) as c:
            assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == log_rows
    finally:
        with connect(world) as c:
            c.execute(f"REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA graph FROM {MALLORY}")
            c.execute("SELECT graph.enable_replica_capture(enabled => false)")


# -- objects planted where a caller's search_path looks -------------------------

# Same names and argument types as what graphsync uses, in public (by a superuser)
# and in schema evil (by the attacker), which the attacker and the superuser both
# put first in their search_path. Each counts its call in hostile.calls (a
# sequence: not rolled back) and raises.
PLANTS = [
    ("FUNCTION", "now()", "timestamptz"),
    ("FUNCTION", "current_setting(text)", "text"),
    ("FUNCTION", "current_setting(text, boolean)", "text"),
    ("FUNCTION", "set_config(text, text, boolean)", "text"),
    ("FUNCTION", "format(text, text)", "text"),
    ("FUNCTION", "format(text, text, text)", "text"),
    ("FUNCTION", "jsonb_build_object(text, text)", "jsonb"),
    ("FUNCTION", "lower(text)", "text"),
    ("FUNCTION", "quote_ident(text)", "text"),
    ("FUNCTION", "to_regclass(text)", "regclass"),
    ("FUNCTION", "has_table_privilege(oid, text)", "boolean"),
    ("FUNCTION", "pg_has_role(name, name, text)", "boolean"),
    ("FUNCTION", "pg_current_snapshot()", "pg_snapshot"),
    ("FUNCTION", "pg_visible_in_snapshot(xid8, pg_snapshot)", "boolean"),
    ("FUNCTION", "pg_advisory_xact_lock(bigint)", "void"),
    ("FUNCTION", "nextval(regclass)", "bigint"),
    ("SETOF", "unnest(text[])", "text"),
    ("SETOF", "unnest(oid[])", "oid"),
    ("SETOF", "unnest(bigint[])", "bigint"),
    ("SETOF", "unnest(anyarray)", "anyelement"),
    ("OPERATOR", "= (text, text)", None),
    ("OPERATOR", "= (oid, oid)", None),
    ("OPERATOR", "= (bigint, bigint)", None),
    ("OPERATOR", "= (integer, integer)", None),
    ("OPERATOR", "= (regtype, regtype)", None),
    ("OPERATOR", "= (jsonb, jsonb)", None),
    ("OPERATOR", "> (bigint, bigint)", None),
    ("OPERATOR", "< (bigint, bigint)", None),
    ("OPERATOR", "~~ (text, text)", None),
    # what the capture functions compare (written OPERATOR(pg_catalog.x) there,
    # besides the pinned search_path)
    ("OPERATOR", "<> (text, text)", None),
    ("OPERATOR", "<> (oid, oid)", None),
    ("OPERATOR", "<> (jsonb, jsonb)", None),
    ("OPERATOR", "<> (boolean, boolean)", None),
    ("OPERATOR", "= (bigint, integer)", None),
    ("OPERATOR", "> (bigint, integer)", None),
    # replay's reading of the log (xid + 0 >= ...: apply.FETCH, BACKLOG)
    ("OPERATOR", "+ (bigint, integer)", None),
    ("OPERATOR", ">= (bigint, bigint)", None),
    ("AGGREGATE", "array_agg(text)", None),
    ("AGGREGATE", "string_agg(text, text)", None),
    ("AGGREGATE", "count(*)", None),
]


def _plant(c, schema):
    c.execute(f"CREATE FUNCTION {schema}.hostile_fire(what text) RETURNS boolean LANGUAGE plpgsql AS $$"
              f" BEGIN PERFORM pg_catalog.nextval('hostile.calls'); RAISE EXCEPTION 'hostile % called', what;"
              f" END $$")
    for i, (kind, sig, returns) in enumerate(PLANTS):
        name, args = sig.split("(", 1)
        args = args.rstrip(")")
        if kind in ("FUNCTION", "SETOF"):
            c.execute(f"CREATE FUNCTION {schema}.{name}({args}) RETURNS {'SETOF ' if kind == 'SETOF' else ''}"
                      f"{returns} LANGUAGE plpgsql AS $$ BEGIN PERFORM {schema}.hostile_fire('{sig}');"
                      f" RETURN{' NEXT NULL' if kind == 'SETOF' else '' if returns == 'void' else ' NULL'}; END $$")
        elif kind == "OPERATOR":
            op = name.strip()
            left, right = (a.strip() for a in args.split(","))
            c.execute(f"CREATE FUNCTION {schema}.op_{i}({left}, {right}) RETURNS boolean LANGUAGE plpgsql AS"
                      f" $$ BEGIN RETURN {schema}.hostile_fire('{sig}'); END $$")
            c.execute(f"CREATE OPERATOR {schema}.{op} (LEFTARG = {left}, RIGHTARG = {right},"
                      f" FUNCTION = {schema}.op_{i})")
        else:
            c.execute(f"CREATE FUNCTION {schema}.agg_{i}(state text) RETURNS text LANGUAGE plpgsql AS"
                      f" $$ BEGIN PERFORM {schema}.hostile_fire('{sig}'); RETURN NULL; END $$")
            if args == "*":
                c.execute(f"CREATE AGGREGATE {schema}.{name}(*) (SFUNC = {schema}.agg_{i}, STYPE = text)")
            else:
                c.execute(f"CREATE FUNCTION {schema}.aggs_{i}(state text, {args}) RETURNS text LANGUAGE plpgsql AS"
                          f" $$ BEGIN PERFORM {schema}.hostile_fire('{sig}'); RETURN NULL; END $$")
                c.execute(f"CREATE AGGREGATE {schema}.{name}({args}) (SFUNC = {schema}.aggs_{i}, STYPE = text)")


# One call with valid arguments of every public function of schema graph, in an
# order that leaves each something to work on. Each entry: (function name, SQL,
# SQLSTATEs it may end with besides success).
CALLS = [
    ("add_table", "SELECT graph.add_table('hz.a', columns => '{name}', tenant_column => 'team')", ()),
    ("add_table", "SELECT graph.add_table('hz.b', columns => '{name}')", ()),
    ("add_edge", "SELECT graph.add_edge('hz.a', 'b_id', 'hz.b', label => 'ab')", ()),
    ("add_edge", "SELECT graph.add_edge('hz.a', 'x', 'hz.a', to_column => 'y', via_table => 'hz.j',"
                 " weight_column => 'w', label_column => 'kind')", ()),
    ("add_filter_column", "SELECT graph.add_filter_column('hz.a', 'kind')", ()),
    ("add_schema", "SELECT * FROM graph.add_schema('hz', preview => true)", ()),
    ("add_schema", "SELECT * FROM graph.add_schema('hz')", ()),
    ("alter_table", "SELECT graph.alter_table('hz.b', add_filter_columns => '{name}')", ()),
    ("remove_filter_column", "SELECT graph.remove_filter_column('hz.b', 'name')", ()),
    ("alter_edge", "SELECT graph.alter_edge((SELECT pg_catalog.min(edge_source_id) FROM graph._edge_sources),"
                   " label => 'ab2', bidirectional => true)", ()),
    ("build", "SELECT * FROM graph.build()", ()),
    ("apply_sync", "SELECT * FROM graph.apply_sync()", ()),
    ("changed_nodes", "SELECT * FROM graph.changed_nodes(0, max_rows => 5)", ("55000",)),
    ("changed_nodes", "SELECT * FROM graph.changed_nodes((SELECT h.change_horizon FROM graph._sync_state AS h))", ()),
    ("verify", "SELECT * FROM graph.verify()", ()),
    ("dangling_references", "SELECT * FROM graph.dangling_references()", ()),
    ("duplicate_edges", "SELECT * FROM graph.duplicate_edges(max_rows => 10)", ()),
    ("traverse", "SELECT * FROM graph.traverse('hz.a', '1', hydrate => true, filter => '{\"kind\": \"k\"}',"
                 " tenant => 't1', direction => 'any')", ()),
    ("traverse", "SELECT * FROM graph.traverse(seed_tables => '{hz.a,hz.b}', seed_ids => '{1,1}')", ()),
    ("search", "SELECT * FROM graph.search('name', 'a1')", ()),
    ("search", "SELECT * FROM graph.search('name', 'A', mode => 'prefix', case_sensitive => false, tenant => 't1')",
     ()),
    ("traverse_search", "SELECT * FROM graph.traverse_search('name', 'a', mode => 'contains', hydrate => true)", ()),
    ("shortest_path", "SELECT * FROM graph.shortest_path('hz.a', '1', 'hz.a', '3', direction => 'any')", ()),
    ("weighted_shortest_path", "SELECT * FROM graph.weighted_shortest_path('hz.a', '1', 'hz.a', '3')", ()),
    ("connected_components", "SELECT * FROM graph.connected_components()", ()),
    ("component_stats", "SELECT * FROM graph.component_stats()", ()),
    ("component_of", "SELECT * FROM graph.component_of('hz.b', '1')", ()),
    ("export_dot", "SELECT graph.export_dot('hz.a', '1', direction => 'any', label_property => 'name')", ()),
    ("export_mermaid", "SELECT graph.export_mermaid(seed_tables => '{hz.a,hz.b}', seed_ids => '{1,1}',"
                       " filter => '{\"kind\": \"k\"}', tenant => 't1')", ()),
    ("export_graphml", "SELECT graph.export_graphml('hz.a', '1', edge_types => '{next}', label_property => 'name')",
     ()),
    ("sync_health", "SELECT * FROM graph.sync_health()", ()),
    ("status", "SELECT * FROM graph.status()", ()),
    ("run_scheduled_maintenance", "SELECT * FROM graph.run_scheduled_maintenance()", ()),
    ("vacuum", "SELECT * FROM graph.vacuum()", ()),
    ("reconcile", "SELECT * FROM graph.reconcile()", ()),
    ("retry_failed", "SELECT * FROM graph.retry_failed()", ()),
    ("prune_sync_log", "SELECT graph.prune_sync_log('0 seconds')", ()),
    ("set_setting", "SELECT graph.set_setting('graph.sync_batch_size', '5000')", ()),
    ("enable_replica_capture", "SELECT graph.enable_replica_capture()", ()),
    ("enable_replica_capture", "SELECT graph.enable_replica_capture(enabled => false)", ()),
    ("schedule_maintenance", "SELECT graph.schedule_maintenance()", ("55000",)),
    ("unschedule_maintenance", "SELECT graph.unschedule_maintenance()", ("55000",)),
    ("remove_edge", "SELECT graph.remove_edge('hz.a', 'x', 'hz.a', via_table => 'hz.j')", ()),
    ("remove_table", "SELECT graph.remove_table('hz.a', cascade => true)", ()),
    ("remove_table", "SELECT graph.remove_table('hz.b')", ()),
    ("remove_table", "SELECT graph.remove_table('hz.j')", ()),
]

HZ = """
CREATE SCHEMA hz;
CREATE TABLE hz.b (id int PRIMARY KEY, name text);
CREATE TABLE hz.a (id int PRIMARY KEY, name text, team text, kind text, b_id int);
CREATE TABLE hz.j (id int PRIMARY KEY, x int NOT NULL, y int NOT NULL, w float8, kind text);
GRANT USAGE ON SCHEMA hz TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hz TO PUBLIC;
INSERT INTO hz.b VALUES (1, 'b1'), (2, 'b2');
INSERT INTO hz.a VALUES (1, 'a1', 't1', 'k', 1), (2, 'a2', 't1', 'k', 2), (3, 'a3', 't2', 'j', NULL);
INSERT INTO hz.a SELECT g, 'x' || g, 't1', 'k', NULL FROM generate_series(-199, -100) AS g;
INSERT INTO hz.j VALUES (1, 1, 2, 1.5, 'next'), (2, 2, 3, 2, 'next');
"""


# How many tables' base keys replay read in this backend (sync/base_keys.py).
BASE_KEYS_LOADS = """
CREATE FUNCTION pg_temp.base_keys_loads() RETURNS bigint LANGUAGE plpython3u AS $$
import sys
m = sys.modules.get("graphsync.sync.base_keys")
return m.STATS["loads"] if m else 0
$$
"""


def hostile_calls(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM hostile.calls").fetchone()[0]


def test_objects_planted_in_public_and_in_the_callers_first_schema_are_never_called(world):
    with connect(world) as c:
        public_api = {r[0] for r in c.execute("SELECT DISTINCT proname::text FROM pg_proc"
                                               " WHERE pronamespace = 'graph'::regnamespace AND proname !~ '^_'")}
        missing = public_api - {name for name, _, _ in CALLS}
        assert not missing, f"add a call of these public functions to CALLS: {sorted(missing)}"
        c.execute("CREATE SCHEMA hostile; CREATE SEQUENCE hostile.calls")
        c.execute("GRANT USAGE ON SCHEMA hostile TO PUBLIC; GRANT USAGE, UPDATE ON SEQUENCE hostile.calls TO PUBLIC")
        c.execute(f"CREATE SCHEMA evil AUTHORIZATION {MALLORY}")
        c.execute("GRANT USAGE ON SCHEMA evil TO PUBLIC")
        c.execute(HZ)
        _plant(c, "public")
    try:
        with as_role(world, MALLORY) as m:
            _plant(m, "evil")
            m.execute("SET search_path = evil, public, pg_catalog")
            # The plants work: unpinned SQL with this search_path calls them.
            for sql in ("SELECT now()", "SELECT 'a'::text = 'b'::text", "SELECT count(*) FROM hz.b",
                        "SELECT unnest('{a}'::text[])"):
                with pytest.raises(psycopg.errors.RaiseException, match="hostile"):
                    m.execute(sql)
        with connect(world) as c:
            baseline = hostile_calls(c)
            assert baseline == 4
        with connect(world) as su, as_role(world, MALLORY) as m:
            su.execute(BASE_KEYS_LOADS)
            su.execute("SET search_path = evil, public, pg_catalog")
            m.execute("SET search_path = evil, public, pg_catalog")
            for name, sql, allowed in CALLS:
                if name not in public_api:
                    continue
                try:
                    su.execute(sql).fetchall()
                except psycopg.Error as exc:
                    assert "hostile" not in str(exc), (name, str(exc))
                    assert exc.sqlstate in allowed, (name, exc.sqlstate, str(exc))
                if name == "build":
                    # Writes by the attacker run capture (SECURITY DEFINER) with its search_path.
                    m.execute("INSERT INTO hz.a VALUES (4, 'a4', 't1', 'k', 2)")
                    m.execute("UPDATE hz.a SET name = 'a44', b_id = 1 WHERE id OPERATOR(pg_catalog.=) 4")
                    m.execute("INSERT INTO hz.j VALUES (3, 3, 4, 0.5, 'next')")
                    m.execute("DELETE FROM hz.j WHERE id OPERATOR(pg_catalog.=) 1")
                    # Statements of several rows and of none take capture's other paths.
                    m.execute("INSERT INTO hz.a VALUES (5, 'a5', 't1', 'k', 1), (6, 'a6', 't2', 'j', NULL)")
                    m.execute("UPDATE hz.a SET name = 'a' OPERATOR(pg_catalog.||) id::pg_catalog.text, id = id"
                              " OPERATOR(pg_catalog.+) 10 WHERE id OPERATOR(pg_catalog.>=) 5")
                    m.execute("UPDATE hz.a SET kind = 'k' WHERE id OPERATOR(pg_catalog.=) 16")
                    m.execute("UPDATE hz.a SET name = 'none' WHERE id OPERATOR(pg_catalog.=) 99")
                    m.execute("DELETE FROM hz.a WHERE id OPERATOR(pg_catalog.>=) 15")
                    m.execute("DELETE FROM hz.a WHERE id OPERATOR(pg_catalog.=) 99")
                    # Enough edge ends of base nodes in one batch for replay to resolve them
                    # from the base's keys it reads (sync/base_keys.py), checked below.
                    m.execute("INSERT INTO hz.j SELECT g, -100 OPERATOR(pg_catalog.-) g, -150 OPERATOR(pg_catalog.-) g,"
                              " 1, 'next' FROM pg_catalog.generate_series(10, 49) AS g")
                    su.execute("SELECT * FROM graph.apply_sync()").fetchone()
                    assert su.execute("SELECT pg_temp.base_keys_loads()").fetchone()[0] == 1
                    assert su.execute("SELECT p.proconfig FROM pg_catalog.pg_proc AS p WHERE p.oid"
                                      " OPERATOR(pg_catalog.=) ('graph._capture_' OPERATOR(pg_catalog.||)"
                                      " 'hz.a'::pg_catalog.regclass::pg_catalog.oid)::pg_catalog.regproc"
                                      ).fetchone() == (CAPTURE_PINS,)  # the pins only
                    m.execute("SELECT * FROM graph.traverse('hz.a', '4')").fetchall()
                    m.execute("SELECT * FROM graph.search('name', 'a4')").fetchall()
                    m.execute("SELECT * FROM graph.sync_health()").fetchone()
                    m.execute("SELECT * FROM graph.status()").fetchone()
            su.execute("RESET search_path")
            assert hostile_calls(su) == baseline
    finally:
        with connect(world) as c:
            c.execute("DROP SCHEMA hz, evil, hostile CASCADE")
            for kind, sig, _ in PLANTS:
                name, args = sig.split("(", 1)
                if kind == "OPERATOR":
                    c.execute(f"DROP OPERATOR public.{name.strip()} ({args.rstrip(')')})")
                else:
                    c.execute(f"DROP {'FUNCTION' if kind == 'SETOF' else kind} public.{sig}")
            c.execute("DROP FUNCTION public.hostile_fire(text) CASCADE")


# -- keys compare as their type does --------------------------------------------

LINKS = [
    # key type, endpoint column type, key value, endpoint value
    ("numeric(10,1)", "numeric", "1.5", "1.50"),
    ("numeric(10,2)", "integer", "3.00", "3"),
    ("integer", "numeric", "5", "5.0"),
    ("bigint", "integer", "7", "7"),
    ("integer", "bigint", "7", "7"),
    ("text", "varchar(20)", "abc", "abc"),
    ("varchar(10)", "text", "abc", "abc"),
    ("uuid", "text", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
    ("uuid", "text", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"),
    ("integer", "double precision", "8", "8"),
    # Domains over domains: the modifier is the innermost domain's (graph._base_typmod)
    ("k.tenths_again", "numeric", "1.5", "1.50"),
    ("k.cents_again", "integer", "3.00", "3"),
    ("numeric(10,1)", "k.cents_again", "1.5", "1.50"),
]

# The domains LINKS names: each over a domain over a numeric with a modifier, which
# the outer domain does not carry (pg_type.typtypmod is the next domain's only).
DOMAINS = """
CREATE DOMAIN k.tenths AS numeric(10,1); CREATE DOMAIN k.tenths_again AS k.tenths;
CREATE DOMAIN k.cents AS numeric(10,2); CREATE DOMAIN k.cents_again AS k.cents
"""


@pytest.fixture
def keys(world):
    with connect(world) as c:
        c.execute("DROP SCHEMA IF EXISTS k CASCADE; CREATE SCHEMA k")
    yield world
    with connect(world) as c:
        for t in c.execute("SELECT table_oid::regclass::text FROM graph._node_tables"
                           " WHERE table_oid::regclass::text LIKE 'k.%' ORDER BY 1 DESC").fetchall():
            c.execute("SELECT graph.remove_table(%s, cascade => true)", t)
        c.execute("DROP SCHEMA k CASCADE")
        c.execute("SELECT graph.build()")


def _linked(c, table, id_):
    return {(r[0], r[1]) for r in c.execute(
        "SELECT node_table::text, node_id FROM graph.traverse(%s, %s, max_depth => 1) WHERE depth = 1",
        (table, id_)).fetchall()}


@pytest.mark.parametrize("key_type, end_type, key, end", LINKS)
def test_an_endpoint_equal_to_the_key_under_its_type_links_to_that_node(keys, key_type, end_type, key, end):
    """An endpoint of another type links to the key equal to it under the key's type
    (1.50 to a numeric(10,1) key 1.5), captured and built; a given id is the key under
    its type (traverse('k.t', '1.5') reaches 1.5 when the key holds 1.5)."""
    with connect(keys) as c:
        c.execute(DOMAINS)
        c.execute(f"CREATE TABLE k.t (k {key_type} PRIMARY KEY)")
        c.execute(f"CREATE TABLE k.s (id int PRIMARY KEY, ref {end_type})")
        c.execute(f"CREATE TABLE k.j (id int PRIMARY KEY, s int NOT NULL, t {end_type} NOT NULL)")
        c.execute("INSERT INTO k.t VALUES (%s)", (key,))
        node = c.execute("SELECT k::text FROM k.t").fetchone()[0]
        c.execute("INSERT INTO k.s VALUES (1, %s)", (end,))  # read by build
        c.execute("INSERT INTO k.j VALUES (1, 1, %s)", (end,))
        c.execute("SELECT graph.add_table('k.t'); SELECT graph.add_table('k.s')")
        c.execute("SELECT graph.add_edge('k.s', 'ref', 'k.t', label => 'fk')")
        c.execute("SELECT graph.add_edge('k.s', 's', 'k.t', to_column => 't', via_table => 'k.j', label => 'join')")
        c.execute("SELECT graph.build()")
        assert _linked(c, "k.s", "1") == {("k.t", node)}
        c.execute("INSERT INTO k.s VALUES (2, %s)", (end,))  # captured and replayed
        c.execute("INSERT INTO k.j VALUES (2, 2, %s)", (end,))
        apply(c)
        assert _linked(c, "k.s", "2") == {("k.t", node)}
        for given in (node, key):
            assert c.execute("SELECT count(*) FROM graph.traverse('k.t', %s, direction => 'in', max_depth => 1)"
                             " WHERE depth = 1", (given,)).fetchone()[0] == 2
        assert verify(c) == []


@pytest.mark.parametrize("key_type", ["numeric(10,2)", "k.cents", "k.cents_again"])
def test_a_given_id_is_read_as_the_key_under_every_domain(keys, key_type):
    """A given id is parsed as the key's type with its modifier, which for a domain
    over a domain is the inner domain's: '3' and '3.0' name the key 3.00 of a
    numeric(10,2) key however many domains lie over it (before, under two domains
    they were parsed as numeric and named no node)."""
    with connect(keys) as c:
        c.execute(DOMAINS)
        c.execute(f"CREATE TABLE k.t (k {key_type} PRIMARY KEY); INSERT INTO k.t VALUES (3)")
        c.execute("SELECT graph.add_table('k.t')")
        c.execute("SELECT graph.build()")
        for given in ("3", "3.0", "3.00", " 3"):
            assert c.execute("SELECT node_id, depth FROM graph.traverse('k.t', %s)", (given,)).fetchall() \
                == [("3.00", 0)], given


def test_a_value_the_key_type_does_not_hold_exactly_links_to_no_row(keys):
    with connect(keys) as c:
        c.execute("CREATE TABLE k.t (k numeric(10,1) PRIMARY KEY); INSERT INTO k.t VALUES (1.5)")
        c.execute("CREATE TABLE k.s (id int PRIMARY KEY, ref numeric, u text)")
        c.execute("CREATE TABLE k.u (k uuid PRIMARY KEY)")
        c.execute("SELECT graph.add_table('k.t'); SELECT graph.add_table('k.s'); SELECT graph.add_table('k.u')")
        c.execute("SELECT graph.add_edge('k.s', 'ref', 'k.t'); SELECT graph.add_edge('k.s', 'u', 'k.u')")
        c.execute("SELECT graph.build()")
        # 1.54 is not 1.5 as a numeric; a text that is no uuid never fails the write.
        c.execute("INSERT INTO k.s VALUES (1, 1.54, 'not a uuid'), (2, 1e30, '0')")
        apply(c)
        assert _linked(c, "k.s", "1") == set() and _linked(c, "k.s", "2") == set()
        assert c.execute("SELECT count(*) FROM graph.traverse('k.t', '1.5', direction => 'in')"
                         " WHERE depth = 1").fetchone() == (0,)
        assert verify(c) == []


def test_verify_reports_an_edge_to_a_key_no_row_has_while_an_equal_row_exists(keys):
    with connect(keys) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS citext")
        c.execute("CREATE TABLE k.ci (k citext PRIMARY KEY); INSERT INTO k.ci VALUES ('abc')")
        c.execute("CREATE TABLE k.num (k numeric PRIMARY KEY); INSERT INTO k.num VALUES (1.5)")
        c.execute("CREATE TABLE k.s (id int PRIMARY KEY, c text, n numeric(10,2))")
        c.execute("INSERT INTO k.s VALUES (1, 'ABC', 1.50), (2, 'nope', 9)")
        for t in ("k.ci", "k.num", "k.s"):
            c.execute("SELECT graph.add_table(%s)", (t,))
        c.execute("SELECT graph.add_edge('k.s', 'c', 'k.ci', label => 'ci')")
        c.execute("SELECT graph.add_edge('k.s', 'n', 'k.num', label => 'num')")
        c.execute("SELECT graph.build()")
        c.execute("INSERT INTO k.s VALUES (3, 'aBc', 1.5)")
        apply(c)
        found = {(r[1], r[2], r[3]["to_table"], r[3]["to_id"], r[3]["equal_row_id"])
                 for r in verify(c) if r[0] == "phantom_edge"}
        assert found == {("k.s", "1", "k.ci", "ABC", "abc"), ("k.s", "3", "k.ci", "aBc", "abc"),
                         ("k.s", "1", "k.num", "1.50", "1.5"), ("k.s", "3", "k.num", "1.50", "1.5")}
        assert {r[0] for r in verify(c)} == {"phantom_edge"}


def test_verify_reports_a_phantom_edge_to_a_composite_key_equal_under_its_types(keys):
    # A composite key (numeric, citext): an end whose fields equal a row's key under
    # each column's type, but render otherwise, links to no node; verify() names the
    # row it equals, field by field. Ends no row equals (one field off, junk) are no phantom.
    with connect(keys) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS citext")
        c.execute("CREATE TABLE k.ck (n numeric, c citext, PRIMARY KEY (n, c));"
                  " INSERT INTO k.ck VALUES (1.5, 'abc'), (2, 'x,y')")
        c.execute("CREATE TABLE k.s (id int PRIMARY KEY, n numeric(10,2), c citext)")
        c.execute("INSERT INTO k.s VALUES (1, 1.50, 'ABC'), (2, 1.50, 'abd'), (3, 2, 'X,Y'), (4, 1.5, 'abc')")
        c.execute("SELECT graph.add_table('k.ck'); SELECT graph.add_table('k.s')")
        c.execute("SELECT graph.add_edge('k.s', from_column => NULL, from_columns => '{n,c}', to_table => 'k.ck',"
                  " label => 'ck')")
        c.execute("SELECT graph.build()")
        found = {(r[1], r[2], r[3]["to_table"], r[3]["to_id"], r[3]["equal_row_id"])
                 for r in verify(c) if r[0] == "phantom_edge"}
        assert found == {("k.s", "1", "k.ck", "(1.50,ABC)", "(1.5,abc)"),
                         ("k.s", "4", "k.ck", "(1.50,abc)", "(1.5,abc)"),
                         ("k.s", "3", "k.ck", '(2.00,"X,Y")', '(2,"x,y")')}, found
        assert {r[0] for r in verify(c)} == {"phantom_edge"}
