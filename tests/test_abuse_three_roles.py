"""Three roles attack every function of schema graph they may call: a table owner
(not graph_admin), a plain reader (no graph grant: reads are every role's, see
README "Privileges") and a graph_admin member who is not a superuser.

Every function whose name does not start with '_', and every '_' function one of the
three may EXECUTE, is called as each role with hostile but plausible arguments: a
regclass of a table the role may not SELECT (of a schema it may not use, by oid) with
a key of it, a row of a table it reads that its row-level security hides, another
tenant's seed, the highest bounds, NULLs, another role's name. Each call runs in a
transaction rolled back afterwards (the world stays the same for the next). After it:

- no key or property of a row the role may not SELECT is in its rows, error fields or
  notices, and no row names a table it may not SELECT; the same call with a key no row
  has ends the same way (same SQLSTATE and message, as many rows), so nothing tells a
  hidden row exists;
- no role gained anything: the three and graphsync's own roles are no superuser and
  have the attributes and memberships they had, the three own what they owned, and no
  function of the owner ran as anyone but the owner (or the reader planning its own
  read of the owner's table, as a SELECT would): spy.foreign, a sequence, counts a
  rolled-back call too;
- an error carries a SQLSTATE other than XX000, and the connection lives.

Found: a non-superuser admin's traverse(hydrate => true) and export label_property of
own.policed, whose row-level security policy calls the owner's function, ran that
function as the admin (the policy runs as the reader); such a read now refuses the
admin (42501, reads/nodes.checked_source), as graph._source_name refuses the
code the planner runs (test_abuse_planned_code.py).
"""

from __future__ import annotations

import os
import re

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import as_role, connect
from owner_traps import MOOD_TRAPS

OWNER, READER, ADMIN = "gs3_owner", "gs3_reader", "gs3_admin"
ROLES = (OWNER, READER, ADMIN)
SERVICE_ROLES = ("graph_sync", "graph_capture", "graph_views", "graph_admin")

# Every function of schema graph one of the three may call (test_the_list_is_every_callable_function
# keeps it complete): the public API, the helpers EXECUTE is granted on to PUBLIC, and
# those graph_admin may execute.
FUNCTIONS = """
graph.add_edge(regclass,text,regclass,text,text,boolean,text,text,regclass,text[],text[],text[],text)
graph.add_filter_column(regclass,text)
graph.add_schema(regnamespace,boolean,regclass[])
graph.add_table(regclass,text[],text[],text,text)
graph.alter_edge(integer,text,boolean,text,boolean)
graph.alter_table(regclass,text[],text[],text[],text[],text,boolean)
graph.apply_sync(integer)
graph.build()
graph.changed_nodes(bigint,integer)
graph.component_of(regclass,text,text)
graph.component_stats(text)
graph.connected_components(text)
graph.dangling_references(integer)
graph.duplicate_edges(integer)
graph.enable_replica_capture(boolean)
graph.export_dot(regclass,text,integer,text,text[],regclass[],jsonb,text,integer,text,regclass[],text[])
graph.export_graphml(regclass,text,integer,text,text[],regclass[],jsonb,text,integer,text,regclass[],text[])
graph.export_mermaid(regclass,text,integer,text,text[],regclass[],jsonb,text,integer,text,regclass[],text[])
graph.prune_sync_log(interval)
graph.reconcile()
graph.remove_edge(regclass,text,regclass,regclass,text[],text[],text[])
graph.remove_filter_column(regclass,text)
graph.remove_table(regclass,boolean)
graph.retry_failed()
graph.run_scheduled_maintenance()
graph.schedule_maintenance(text)
graph.search(text,text,regclass[],text,boolean,integer,text)
graph.set_setting(text,text)
graph.shortest_path(regclass,text,regclass,text,integer,text,text[],text)
graph.status()
graph.sync_health()
graph.traverse(regclass,text,integer,text,text[],regclass[],jsonb,text,text,integer,boolean,regclass[],text[])
graph.traverse_search(text,text,regclass[],text,boolean,integer,integer,text,text[],regclass[],jsonb,text,text,integer,boolean)
graph.unschedule_maintenance()
graph.vacuum()
graph.verify()
graph.weighted_shortest_path(regclass,text,regclass,text,text,text[],text,text)
graph._as_key_expr(oid,text,text,oid,integer,boolean)
graph._attach_capture(oid)
graph._attach_capture(oid[])
graph._attach_capture(oid[],oid[])
graph._base_type(oid)
graph._base_typmod(oid,integer)
graph._builtin_type(oid)
graph._captured_expr(oid,text,text)
graph._component_of(regclass,text,text)
graph._component_stats(text)
graph._components(text)
graph._edge_filter_expr(integer,text)
graph._row_passes(text,anyelement)
graph._end_expr(oid,text[],oid,text[],text)
graph._error_message(text)
graph._export(text,regclass,text,integer,text,text[],regclass[],jsonb,text,integer,text,regclass[],text[])
graph._filter_foreign_name(regclass,text)
graph._filter_type_ok(oid)
graph._filter_row_expr(oid,text,text[],text)
graph._follow_registry(oid[])
graph._followed_tables(oid[])
graph._named_members_only(oid,oid[])
graph._grant_capture(oid[])
graph._health_masked()
graph._import_package()
graph._key_expr(oid,text[],text)
graph._label_visible(text,name,text,timestamp with time zone)
graph._leads_index(oid,smallint)
graph._hold_sources(oid[],boolean)
graph._lock_sources(oid[],boolean)
graph._lock_for_capture(oid[],text)
graph._lock_by_oid(oid,text,boolean)
graph._lock_tables(oid[],text,text,text,text)
graph._node_changes(bigint,bigint)
graph._node_ids_held(bigint,bigint)
graph._node_runs(bigint)
graph._note_capture_off(oid[],boolean)
graph._note_leftover_capture(oid,oid[])
graph._object_expr(oid,text[],text,boolean)
graph._pending_columns(regrole,integer,pg_snapshot)
graph._pending_ids()
graph._pending_keys(oid[],text[],text[],text,text)
graph._pending_rows(regrole,integer,pg_snapshot)
graph._read_sync(boolean,regrole,boolean)
graph._refuse_enum_relabel(oid[])
graph._registration_lock_wait()
graph._retry_failed()
graph._row_scope()
graph._row_visible(oid,text,name,text,timestamp with time zone)
graph._run_as_definer(bigint)
graph._search(text,text,regclass[],text,boolean,integer,text)
graph._server_setting(text)
graph._setting(text)
graph._shortest_path(regclass,text,regclass,text,integer,text,text[],text)
graph._source_name(oid)
graph._traverse(oid,text,integer,text,text[],oid[],jsonb,text,text,integer,boolean,oid[],text[])
graph._trigger_states()
graph._trigger_states(oid)
graph._trigger_states(oid[])
graph._trigger_states(oid[],oid[])
graph._value_expr(oid,text,text)
graph._weighted_shortest_path(regclass,text,regclass,text,text,text[],text,text)
graph._functions_named(text[],text)
graph._output_settings()
graph._require_admin()
graph._session_is_admin()
graph._table_key(regclass)
graph._check_table(regclass)
graph._check_columns(regclass,text[])
graph._check_row_security(oid[],text)
graph._node_table(regclass,text)
graph._filter_expr(oid,text,text,boolean)
graph._carried_expr(oid,text,boolean)
graph._check_end(regclass,text[],regclass,text[],text)
graph._check_filter(regclass,text,text[],text[])
graph._deparse_filter(oid)
graph._replica_capture_wanted(oid)
graph._replica_capture_applied()
graph._type_of(anyelement)
graph._write_capture(oid,boolean)
graph._install_capture(oid[])
graph._install_capture(oid)
graph._install_capture_bounded(oid[],text)
graph._trigger_impostors(oid[])
graph._captured_tables(oid)
graph._captured_tables()
graph._map_capture(oid)
graph._map_capture(oid,oid[])
graph._enable_capture_trigger(oid,text,boolean)
graph._registered_column_roles(oid)
graph._registered_column_roles()
graph._source_nodes(text)
graph._source_edges(text)
graph._after_build(pg_snapshot)
graph._pending_log()
graph._apply_for_read()
graph._schema_drift()
graph._rebuild_reasons(text)
graph._rebuild_reasons()
graph._cron_check()
graph._cron_job_state()
graph._health(boolean)
graph._apply_sync(integer)
graph._build()
graph._verify()
graph._reconcile()
graph._run_scheduled_maintenance()
graph._vacuum()
graph._status()
graph._add_schema(regnamespace,boolean,regclass[])
graph._dangling_references(integer)
graph._duplicate_edges(integer)
""".strip().splitlines()

SPY = """
CREATE SCHEMA spy;
GRANT USAGE ON SCHEMA spy TO PUBLIC;
CREATE TABLE spy.calls (who name, what text);
GRANT INSERT, SELECT ON spy.calls TO PUBLIC;
CREATE SEQUENCE spy.foreign;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE spy.foreign TO PUBLIC;
"""

# The owner's code. own.spy counts a call by anyone but the owner in spy.foreign (the
# index function run by the reader planning its own read of own.trapped excepted: a
# SELECT of it runs it too) and, run by a superuser, makes the owner one.
OWNER_CODE = f"""
CREATE FUNCTION own.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> '{OWNER}' AND NOT (what IN ('index', 'policy') AND current_user = '{READER}') THEN
        PERFORM pg_catalog.nextval('spy.foreign');
    END IF;
    INSERT INTO spy.calls VALUES (current_user, what);
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN true;
END $$;
""" + MOOD_TRAPS + f"""
CREATE FUNCTION own.f(a int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM own.spy('index'); RETURN a; END $$;
CREATE TABLE own.private (id text PRIMARY KEY, name text);
INSERT INTO own.private VALUES ('PRIV-1', 'PRIVNAME');
CREATE TABLE own.shared (id text PRIMARY KEY, name text, ws text NOT NULL, mood own.mood,
                         private_id text, secret_id text);
INSERT INTO own.shared VALUES ('a1', 'alpha', 'acme', 'ok', 'PRIV-1', 'S3CR3T-1'),
                              ('a2', 'beta', 'acme', 'sad', NULL, NULL),
                              ('g1', 'gamma', 'globex', 'happy', NULL, 'S3CR3T-2'),
                              ('HIDDEN-g1', 'HIDDENNAME', 'hidden', 'ok', 'PRIV-1', 'S3CR3T-1');
ALTER TABLE own.shared ENABLE ROW LEVEL SECURITY;
CREATE POLICY seen ON own.shared USING (ws <> 'hidden');
CREATE TABLE own.trapped (id int PRIMARY KEY, name text, a int, shared_id text);
INSERT INTO own.trapped VALUES (1, 'trap', 1, 'a1');
CREATE TABLE own.policed (id int PRIMARY KEY, name text, shared_id text);
INSERT INTO own.policed VALUES (1, 'policed', 'a2');
ALTER TABLE own.policed ENABLE ROW LEVEL SECURITY;
CREATE POLICY spied ON own.policed USING (own.spy('policy'));
GRANT USAGE ON SCHEMA own TO PUBLIC;
GRANT SELECT ON own.shared, own.trapped, own.policed TO {READER}, {ADMIN};
"""

SECRET = """
CREATE SCHEMA sec;
CREATE TABLE sec.secret (id text PRIMARY KEY, name text, ws text NOT NULL);
INSERT INTO sec.secret VALUES ('S3CR3T-1', 'TOPSECRET', 'acme'), ('S3CR3T-2', 'TOPSECRET', 'globex');
SELECT graph.add_table('sec.secret', columns => '{name}', tenant_column => 'ws');
SELECT graph.add_table('own.private', columns => '{name}');
SELECT graph.add_table('own.shared', columns => '{name,mood}', tenant_column => 'ws');
SELECT graph.add_table('own.trapped', columns => '{name}');
SELECT graph.add_table('own.policed', columns => '{name}');
SELECT graph.add_edge('own.policed', 'shared_id', 'own.shared', label => 'polices');
SELECT graph.add_edge('own.shared', 'private_id', 'own.private', label => 'keeps');
SELECT graph.add_edge('own.shared', 'secret_id', 'sec.secret', label => 'knows');
SELECT graph.add_edge('own.trapped', 'shared_id', 'own.shared', label => 'traps');
SELECT graph.build();
"""

# Rows committed after the build: pending in the log (reads fold or apply them).
PENDING = {
    None: "INSERT INTO sec.secret VALUES ('S3CR3T-3', 'TOPSECRET', 'acme')",
    OWNER: ("INSERT INTO own.shared VALUES ('HIDDEN-g2', 'HIDDENNAME', 'hidden', 'sad', 'PRIV-2', 'S3CR3T-3');"
            " INSERT INTO own.private VALUES ('PRIV-2', 'PRIVNAME')"),
}

# What each role may not see: the keys and properties of sec.secret (nobody may use
# schema sec), of own.private and of own.shared's hidden rows (the owner's, row-level
# security hides them from the others; the owner is exempt).
HIDDEN_FROM_ALL = ("S3CR3T-1", "S3CR3T-2", "S3CR3T-3", "TOPSECRET")
HIDDEN_BY_OWNER = ("PRIV-1", "PRIV-2", "PRIVNAME", "HIDDEN-g1", "HIDDEN-g2", "HIDDENNAME")
MARKERS = {OWNER: HIDDEN_FROM_ALL, READER: HIDDEN_FROM_ALL + HIDDEN_BY_OWNER,
           # graph_admin members see every node of the tables they may SELECT, whatever the
           # tables' row-level security, and every change (README "Read security",
           # changed_nodes), and read the log that holds every captured row: nothing is hidden
           # from them in the graph; what this file asks of them is that they gain nothing.
           ADMIN: ()}
UNREADABLE = {OWNER: ("sec.secret",), READER: ("sec.secret", "own.private"), ADMIN: ()}

# (name, table, key, a key no row has, roles for which the key is hidden): the
# hostile argument sets every function is called with.
TARGETS = [
    ("secret", "sec.secret", "S3CR3T-1", "S3CR3T-9", ROLES),
    ("private", "own.private", "PRIV-1", "PRIV-9", (READER,)),
    ("hidden row", "own.shared", "HIDDEN-g1", "HIDDEN-g9", (READER,)),
]

# The reads whose rows name nodes (a table name elsewhere is the catalog's, which every role reads).
READ_RESULT = re.compile(r"graph\.(traverse|traverse_search|shortest_path|weighted_shortest_path|component_of"
                         r"|connected_components|search|changed_nodes)\(")

LOG = os.environ.get("ABUSE_LOG")
FOREIGN = "SELECT s.last_value::text || s.is_called::text FROM spy.foreign AS s"

STATE = """
SELECT (SELECT s.last_value::text || s.is_called::text FROM spy.foreign AS s) AS foreign_calls,
       (SELECT pg_catalog.array_agg(pg_catalog.concat_ws(':', r.rolname, r.rolsuper, r.rolcreaterole,
                                                         r.rolcreatedb, r.rolbypassrls, r.rolreplication,
                                                         r.rolinherit, r.rolcanlogin,
                                                         (SELECT pg_catalog.string_agg(m.roleid::regrole::text, ','
                                                                                       ORDER BY 1)
                                                          FROM pg_catalog.pg_auth_members AS m
                                                          WHERE m.member = r.oid))
                                      ORDER BY r.rolname)
        FROM pg_catalog.pg_roles AS r
        WHERE r.rolname = ANY (%(roles)s)) AS roles,
       (SELECT pg_catalog.array_agg(pg_catalog.concat_ws(':', r.rolname,
                                    (SELECT count(*) FROM pg_catalog.pg_class AS o
                                     WHERE o.relowner = r.oid AND o.relpersistence <> 't'
                                     AND o.relnamespace::regnamespace::text !~ '^pg_toast_temp'),
                                    (SELECT count(*) FROM pg_catalog.pg_proc WHERE proowner = r.oid),
                                    (SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspowner = r.oid),
                                    (SELECT count(*) FROM pg_catalog.pg_type AS o WHERE o.typowner = r.oid
                                     AND o.typnamespace::regnamespace::text !~ '^pg_(toast_)?temp'),
                                    (SELECT count(*) FROM pg_catalog.pg_trigger AS t
                                     JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid WHERE p.proowner = r.oid))
                                    ORDER BY r.rolname)
        FROM pg_catalog.pg_roles AS r WHERE r.rolname = ANY (%(owners)s)) AS owned
"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in ROLES:
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(SPY)
        c.execute(f"CREATE SCHEMA own AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
    with connect(db) as c:
        c.execute(SECRET)
    with as_role(db, OWNER) as o:
        # planted after the build (a superuser's build would refuse the table: test_abuse_planned_code.py)
        o.execute("CREATE INDEX ON own.trapped ((a + own.f(7)))")
        o.execute(PENDING[OWNER])
    with connect(db) as c:
        c.execute(PENDING[None])
        su = c.execute("SELECT current_user::text").fetchone()[0]
        oids = dict(c.execute("SELECT r::text, r::oid::int FROM unnest(%s::regclass[]) AS r",
                              (["sec.secret", "own.private", "own.shared", "own.trapped"],)).fetchall())
        sec_ns = c.execute("SELECT 'sec'::regnamespace::oid::int").fetchone()[0]
        snapshot = c.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
    conns = {role: as_role(db, role) for role in ROLES}
    for c in conns.values():
        c.execute("SET statement_timeout = '20s'")
    with connect(db) as c:
        baseline = c.execute(STATE, {"roles": list(ROLES + SERVICE_ROLES), "owners": list(ROLES)}).fetchone()
    yield {"dsn": db, "su": su, "oids": oids, "sec_ns": sec_ns, "snapshot": snapshot,
           "conns": conns, "baseline": baseline}
    for c in conns.values():
        c.close()
    with connect(db) as c:
        for role in ROLES:
            c.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def signature(c, fn):
    """(proname, [argument type names]) of ``fn``, a regprocedure text."""
    name, types = c.execute("SELECT p.proname::text, array(SELECT format_type(t, NULL) FROM"
                            " unnest(p.proargtypes) AS t) FROM pg_proc AS p WHERE p.oid = %s::regprocedure",
                            (fn,)).fetchone()
    return name, list(types)


def hostile(world, typ, table, key):
    """(SQL, parameter) of an argument of type ``typ`` aimed at (table, key)."""
    oid = world["oids"][table]
    values = {
        "regclass": ("%s::oid::regclass", oid),
        "oid": ("%s::oid", oid),
        "regclass[]": ("%s::oid[]::regclass[]", [oid]),
        "oid[]": ("%s::oid[]", [oid]),
        "text": ("%s::text", key),
        "anyelement": ("%s::text", key),
        "text[]": ("%s::text[]", [key]),
        "integer": ("%s::integer", 2147483647),
        "bigint": ("%s::bigint", 9223372036854775807),
        "smallint": ("%s::smallint", 32767),
        "boolean": ("%s::boolean", True),
        "jsonb": ("%s::jsonb", Jsonb({"name": "TOPSECRET", "id": key})),
        "regrole": ("%s::regrole", world["su"]),
        "name": ("%s::name", world["su"]),
        "regnamespace": ("%s::oid::regnamespace", world["sec_ns"]),
        "pg_snapshot": ("%s::pg_snapshot", world["snapshot"]),
        "timestamp with time zone": ("%s::timestamptz", "-infinity"),
        "interval": ("%s::interval", "0"),
    }
    return values[typ]


def generic_calls(world, fn, types):
    """The hostile argument sets of ``fn`` built from its argument types: one per
    target (with its twin: the key no row has), and every argument NULL."""
    calls = []
    for name, table, key, ghost, hidden_for in TARGETS:
        pair = []
        for k in (key, ghost):
            args = [hostile(world, t, table, k) for t in types]
            pair.append((f"SELECT * FROM {fn.split('(')[0]}({', '.join(a[0] for a in args)})",
                         [a[1] for a in args]))
        calls.append((name, pair[0], pair[1], key, ghost, hidden_for))
    if types:
        calls.append(("nulls", (f"SELECT * FROM {fn.split('(')[0]}({', '.join('NULL::' + t for t in types)})",
                                []), None, None, None, ()))
    return calls


# Calls aimed where a read is most likely to leak, per public read: (name, SQL, its twin
# with a key no row has (or None), key, twin key). {sec}: sec.secret's oid, {priv}:
# own.private's, {shared}: own.shared's.
READS = [
    ("another tenant's seed, huge bounds", "SELECT * FROM graph.traverse({shared}::oid::regclass, 'g1',"
     " max_depth => 1000, direction => 'any', tenant => 'acme', max_nodes => 1000000, hydrate => true)", None),
    ("seed of a hidden row", "SELECT * FROM graph.traverse({shared}::oid::regclass, '{key}', direction => 'any',"
     " hydrate => true)", ("HIDDEN-g1", "HIDDEN-g9")),
    ("seed of the secret table", "SELECT * FROM graph.traverse({sec}::oid::regclass, '{key}', direction => 'any')",
     ("S3CR3T-1", "S3CR3T-9")),
    ("many seeds, one secret", "SELECT * FROM graph.traverse(seed_tables => ARRAY[{shared}, {sec}]::oid[]::regclass[],"
     " seed_ids => '{{a1,{key}}}', direction => 'any', max_depth => 1000)", ("S3CR3T-1", "S3CR3T-9")),
    ("filter on a secret property", "SELECT * FROM graph.traverse({shared}::oid::regclass, 'a1', direction => 'any',"
     " filter => '{{\"name\": \"{key}\"}}')",
     ("TOPSECRET", "NOSUCHNAME")),
    ("path to a secret node", "SELECT * FROM graph.shortest_path({shared}::oid::regclass, 'a1', {sec}::oid::regclass,"
     " '{key}', max_depth => 1000, direction => 'any')", ("S3CR3T-1", "S3CR3T-9")),
    ("path through a hidden node", "SELECT * FROM graph.shortest_path({shared}::oid::regclass, 'a2',"
     " {shared}::oid::regclass, '{key}', direction => 'any')", ("HIDDEN-g1", "HIDDEN-g9")),
    ("weighted path to a private node", "SELECT * FROM graph.weighted_shortest_path({shared}::oid::regclass, 'a1',"
     " {priv}::oid::regclass, '{key}', direction => 'any')", ("PRIV-1", "PRIV-9")),
    ("component of a secret node", "SELECT * FROM graph.component_of({sec}::oid::regclass, '{key}')",
     ("S3CR3T-1", "S3CR3T-9")),
    ("component of a hidden node", "SELECT * FROM graph.component_of({shared}::oid::regclass, '{key}')",
     ("HIDDEN-g1", "HIDDEN-g9")),
    ("components of another tenant", "SELECT * FROM graph.connected_components('globex')", None),
    ("component sizes", "SELECT * FROM graph.component_stats()", None),
    ("search a secret value", "SELECT * FROM graph.search('name', '{key}')", ("TOPSECRET", "NOSUCHNAME")),
    ("search by prefix", "SELECT * FROM graph.search('name', '{key}', mode => 'prefix', case_sensitive => false,"
     " max_rows => 100000)", ("HIDDENN", "NOSUCHN")),
    ("search the secret table", "SELECT * FROM graph.search('name', '{key}', table_filter =>"
     " ARRAY[{sec}]::oid[]::regclass[])", ("TOPSECRET", "NOSUCHNAME")),
    ("traverse_search a hidden value", "SELECT * FROM graph.traverse_search('name', '{key}', direction => 'any',"
     " max_seeds => 100000, max_depth => 1000, hydrate => true)", ("HIDDENNAME", "NOSUCHNAME")),
    ("export a hidden neighbourhood", "SELECT graph.export_graphml({shared}::oid::regclass, 'a1', direction => 'any',"
     " label_property => 'name', max_depth => 1000)", None),
    ("export from a secret seed", "SELECT graph.export_dot({sec}::oid::regclass, '{key}', direction => 'any',"
     " label_property => 'name')", ("S3CR3T-1", "S3CR3T-9")),
    ("hydrate a policed table", "SELECT * FROM graph.traverse('own.policed', '1', direction => 'any',"
     " hydrate => true)", None),
    ("search a policed table", "SELECT * FROM graph.search('name', 'policed')", None),
    ("export a policed table", "SELECT graph.export_mermaid('own.policed', '1', label_property => 'name')", None),
    ("hydrate a trapped table", "SELECT * FROM graph.traverse('own.trapped', '1', hydrate => true)", None),
    ("hydrate the owner's enum", "SELECT * FROM graph.traverse({shared}::oid::regclass, 'a1', direction => 'any',"
     " hydrate => true, max_depth => 1000)", None),
    ("filter on the owner's enum", "SELECT * FROM graph.traverse({shared}::oid::regclass, 'a1', direction => 'any',"
     " filter => '{{\"mood\": \"ok\"}}')", None),
    ("search the owner's enum", "SELECT * FROM graph.search('mood', 'o', mode => 'prefix')", None),
    ("export the owner's enum", "SELECT graph.export_graphml({shared}::oid::regclass, 'a1', direction => 'any',"
     " label_property => 'mood')", None),
    ("pending rows as the owner", "SELECT * FROM graph._pending_rows('{owner}'::regrole, 2147483647,"
     " pg_current_snapshot())", None),
    ("pending columns as the owner", "SELECT * FROM graph._pending_columns('{owner}'::regrole, 2147483647,"
     " pg_current_snapshot())", None),
    ("read sync as the owner", "SELECT * FROM graph._read_sync(true, '{owner}'::regrole, true)", None),
    ("a hidden row as the owner", "SELECT * FROM graph._row_visible({shared}, '{key}', '{owner}',"
     " pg_current_snapshot()::text, statement_timestamp())", ("HIDDEN-g1", "HIDDEN-g9")),
    ("changes from the start", "SELECT * FROM graph.changed_nodes(0, 2147483647)", None),
    ("pending rows as the superuser", "SELECT * FROM graph._pending_rows('{su}'::regrole, 2147483647,"
     " pg_current_snapshot())", None),
    ("pending columns as the superuser", "SELECT * FROM graph._pending_columns('{su}'::regrole, 2147483647,"
     " pg_current_snapshot())", None),
    ("pending keys of the secret table", "SELECT * FROM graph._pending_keys(ARRAY[{sec}]::oid[], '{{id}}',"
     " '{{{key}}}', 'id', 'id')", ("S3CR3T-3", "S3CR3T-9")),
    ("is a secret row visible", "SELECT * FROM graph._row_visible({sec}, '{key}', '{su}', NULL, NULL)",
     ("S3CR3T-1", "S3CR3T-9")),
    ("is a hidden row visible", "SELECT * FROM graph._row_visible({shared}, '{key}', '{su}', NULL, NULL)",
     ("HIDDEN-g1", "HIDDEN-g9")),
    ("read sync as the superuser", "SELECT * FROM graph._read_sync(true, '{su}'::regrole, true)", None),
    ("node changes from the start", "SELECT * FROM graph._node_changes(0, 9223372036854775807)", None),
    ("health", "SELECT * FROM graph.sync_health()", None),
    ("health masked", "SELECT * FROM graph._health_masked()", None),
]


def outcome(world, c, sql, params):
    """Run ``sql`` in a savepoint of the open transaction: ('ok', rows) or
    ('error', (sqlstate, message, detail, hint)); and the notices it raised."""
    notices = []

    def note(d):
        notices.append(" ".join(str(x) for x in (d.message_primary, d.message_detail, d.message_hint) if x))

    c.add_notice_handler(note)
    try:
        with c.transaction():
            cur = c.execute(sql, params)
            rows = cur.fetchall() if cur.description is not None else []
        return ("ok", rows), notices
    except psycopg.Error as e:
        d = e.diag
        assert e.sqlstate is not None and not c.closed, f"{sql}: no SQLSTATE, connection closed: {e}"
        return ("error", (e.sqlstate, d.message_primary, d.message_detail, d.message_hint)), notices
    finally:
        c.remove_notice_handler(note)


def attack(world, role, sql, params, strip=()):
    """``sql`` as ``role``, rolled back; the outcome after the checks that hold for any call."""
    c = world["conns"][role]
    if c.closed or c.broken:
        c = world["conns"][role] = as_role(world["dsn"], role)
        c.execute("SET statement_timeout = '20s'")
    before = c.execute(FOREIGN).fetchone()[0]
    with c.transaction(force_rollback=True):
        result, notices = outcome(world, c, sql, params)
        state = c.execute(STATE, {"roles": list(ROLES + SERVICE_ROLES), "owners": list(ROLES)}).fetchone()
    where = f"{role}: {sql} {params}"
    if LOG:
        with open(LOG, "a") as f:
            f.write(f"{where}\t{result[0]}\t{result[1][0] if result[0] == 'error' else len(result[1])}\n")
    if result[0] == "error":
        assert result[1][0] != "XX000" and not result[1][0].startswith("58"), f"internal error: {where}: {result}"
    assert c.execute(FOREIGN).fetchone()[0] == before, f"the owner's code ran as another role: {where}: {result}"
    assert state[1] == world["baseline"][1], f"a role's attributes or memberships changed: {where}"
    assert state[2] == world["baseline"][2], f"a role owns something new: {where}"
    text = repr(result[1]) + " ".join(notices)
    leaked = [m for m in MARKERS[role] if m in text and not any(m in s for s in strip)]
    assert not leaked, f"{where} revealed {leaked}: {result} {notices}"
    if result[0] == "ok" and READ_RESULT.search(sql):
        cells = {str(v) for r in result[1] for v in (r if isinstance(r, tuple) else (r,))}
        assert not cells & set(UNREADABLE[role]), f"{where} returned rows of {cells & set(UNREADABLE[role])}"
    return result


def same(result, twin, key, ghost, rows=False):
    """The outcome with the key replaced by the twin's key no row has, and rows counted
    (``rows``: the rows themselves, the key replaced in them)."""
    def norm(r):
        if r[0] == "ok":
            if rows:
                return ("ok", sorted(repr(x).replace(key, ghost) for x in r[1]))
            return ("ok", len(r[1]))
        return ("error", tuple(None if x is None else x.replace(key, ghost) for x in r[1]))
    return norm(result) == norm(twin)


def strings(params):
    out = []
    for p in params:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, list):
            out.extend(str(x) for x in p)
        elif isinstance(p, Jsonb):
            out.extend(str(x) for x in p.obj.values())
    return out


def test_the_list_is_every_callable_function(world):
    """FUNCTIONS is every function of schema graph not named '_...', and every '_'
    function PUBLIC or one of the three roles may EXECUTE (but trigger and event
    trigger functions, which only a trigger can call)."""
    with connect(world["dsn"]) as c:
        live = {r[0] for r in c.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc AS p WHERE p.pronamespace = 'graph'::regnamespace"
            " AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)"
            " AND (p.proname !~ '^_' OR EXISTS (SELECT FROM unnest(%s::name[]) AS r"
            "                                   WHERE has_function_privilege(r, p.oid, 'EXECUTE')))",
            (list(ROLES),)).fetchall()}
    assert live == set(FUNCTIONS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_hostile_arguments(world, fn, role):
    with connect(world["dsn"]) as c:
        _, types = signature(c, fn)
    for name, call, twin, key, ghost, hidden_for in generic_calls(world, fn, types):
        result = attack(world, role, *call, strip=strings(call[1]))
        if twin is not None and role in hidden_for:
            other = attack(world, role, *twin, strip=strings(twin[1]))
            assert same(result, other, key, ghost), (
                f"{role}: {fn} tells {key} ({name}) from a key no row has: {result} / {other}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", READS, ids=[r[0] for r in READS])
def test_hostile_reads(world, case, role):
    name, sql, keys = case
    o = world["oids"]
    fill = {"sec": o["sec.secret"], "priv": o["own.private"], "shared": o["own.shared"], "su": world["su"],
            "owner": OWNER}
    if keys is None:
        attack(world, role, sql.format(**fill), ())
        return
    key, ghost = keys
    result = attack(world, role, sql.format(key=key, **fill), (), strip=(key,))
    other = attack(world, role, sql.format(key=ghost, **fill), (), strip=(ghost,))
    if any(m in key for m in MARKERS[role]):
        assert same(result, other, key, ghost, rows=True), (
            f"{role}: {name} tells {key} from a key no row has: {result} / {other}")


@pytest.mark.parametrize("role", ROLES)
def test_component_sizes_count_what_the_role_sees(world, role):
    """component_stats' sizes add up to the nodes connected_components lists for the
    role: of the tables it may SELECT, the rows their row-level security shows it (all
    of them to graph_admin members)."""
    c = world["conns"][role]
    with c.transaction(force_rollback=True):
        listed = c.execute("SELECT count(*) FROM graph.connected_components()").fetchone()[0]
        counted = c.execute("SELECT coalesce(sum(size), 0) FROM graph.component_stats()").fetchone()[0]
    if role == ADMIN:  # every row of own.shared, the one of own.trapped and own.policed (read by a superuser: traps)
        with connect(world["dsn"]) as s:
            seen = s.execute("SELECT count(*) + 2 FROM own.shared").fetchone()[0]
    else:
        tables = ["own.shared", "own.trapped", "own.policed"] + (["own.private"] if role == OWNER else [])
        with as_role(world["dsn"], role) as s:
            seen = s.execute("SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in tables)).fetchone()[0]
    assert counted == listed == seen


# Each check of attack() fails a call that breaks it.
CONTROLS = [
    (READER, "SELECT own.spy('mood::text')", "the owner's code ran as another role"),
    (ADMIN, "SELECT own.f(1)", "the owner's code ran as another role"),
    (OWNER, "CREATE TABLE own.more (a int)", "owns something new"),
    (ADMIN, "ALTER ROLE gs3_owner CREATEDB", "attributes or memberships"),
    (READER, "SELECT 'PRIV-2' AS id", "revealed"),
    (READER, "SELECT 'own.private'::regclass FROM graph.traverse('own.shared', 'a1')", "returned rows of"),
]


@pytest.mark.parametrize("case", CONTROLS, ids=[c[2] for c in CONTROLS])
def test_the_checks_can_fail(world, case):
    role, sql, message = case
    if role == ADMIN and "ALTER ROLE" in sql:  # an admin may not: a superuser's connection does it
        with pytest.raises(AssertionError, match=message):
            with connect(world["dsn"]) as c, c.transaction(force_rollback=True):
                c.execute(sql)
                state = c.execute(STATE, {"roles": list(ROLES + SERVICE_ROLES), "owners": list(ROLES)}).fetchone()
                assert state[1] == world["baseline"][1], "a role's attributes or memberships changed"
        return
    with pytest.raises(AssertionError, match=message):
        attack(world, role, sql, ())


@pytest.mark.parametrize("role", ROLES)
def test_a_filter_text_given_to_row_passes_runs_as_its_caller(world, role):
    """graph._row_passes (PUBLIC: a read's second try after a row filter raised runs the
    filter through it) evaluates whatever expression it is given; it must run it as the
    caller, never with more (not as its owner, graph_sync): the expression sees the
    caller as current_user, and a read of schema sec, which none of the three may use,
    is refused to each of them as their own SELECT would be."""
    row = " FROM pg_catalog.pg_namespace AS n LIMIT 1"
    who = attack(world, role, "SELECT graph._row_passes(%s, n)" + row, (f"current_user = '{role}'",))
    assert who == ("ok", [(True,)]), f"{role}: {who}"
    secret = attack(world, role, "SELECT graph._row_passes('(SELECT count(*) FROM sec.secret) >= 0', n)" + row, ())
    assert secret[0] == "error" and secret[1][0] == "42501", f"{role}: {secret}"


@pytest.mark.parametrize("role", ROLES)
def test_note_capture_off_records_only_what_the_catalog_shows(world, role):
    """graph._note_capture_off (SECURITY DEFINER, PUBLIC: the DDL follower calls it as the
    DDL's role) writes graph._schema_events, which forces rebuilds: called by each of the
    three with every registered table, its own and others' (capture on everywhere), as a
    drop or not, it must record nothing -- no role makes graphsync rebuild at will or
    report a capture_off that did not happen."""
    events = ("SELECT count(*) FROM graph._schema_events WHERE kind = 'capture_off' AND resolved_at IS NULL"
              " AND table_oid = ANY (%s::oid[])")
    with connect(world["dsn"]) as c:
        tables = [r[0] for r in c.execute("SELECT table_oid FROM graph._node_tables")]
        assert len(tables) >= 4 and c.execute(events, (tables,)).fetchone()[0] == 0
    with as_role(world["dsn"], role) as r:
        for dropped in (False, True):
            r.execute("SELECT graph._note_capture_off(%s::oid[], %s)", (tables, dropped))
    with connect(world["dsn"]) as c:
        assert c.execute(events, (tables,)).fetchone()[0] == 0, role


# The ACL of every function of schema graph, the generated capture functions among them.
ACLS = ("SELECT p.proname::text, coalesce(p.proacl::text, '') FROM pg_catalog.pg_proc AS p"
        " WHERE p.pronamespace = 'graph'::regnamespace ORDER BY p.oid")
# The roles a capture function grants EXECUTE to, its owner aside: per table oid.
CAPTURE_GRANTEES = """
SELECT n.table_oid::int, pg_catalog.pg_get_userbyid(k.relowner)::text,
       ARRAY(SELECT DISTINCT a.grantee::regrole::text
             FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
             WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1)
FROM graph._node_tables AS n
JOIN pg_catalog.pg_class AS k ON k.oid = n.table_oid
JOIN pg_catalog.pg_proc AS p ON p.pronamespace = 'graph'::regnamespace AND p.proname = '_capture_' || n.table_oid
ORDER BY 1
"""


def test_grant_capture_grants_nothing_to_whoever_calls_it(world):
    """graph._grant_capture (SECURITY DEFINER, PUBLIC: the DDL follower calls it as the
    DDL's role) writes the ACLs of the capture functions, whose EXECUTE is graph_admin's
    and the captured table's owner's only (migration 469): a role with EXECUTE may create
    a trigger calling another table's capture function. Registered tables of three
    owners (the superuser's sec.secret, the owner's own.*, the admin's gc.admins), each
    of the three calls it with every registered table's oid, together and one by one, and
    with what is no registered table (NULL, 0, an unregistered table of another role, one
    of its own): after each call every function's ACL in schema graph is what it was."""
    db = world["dsn"]
    own = {OWNER: "gc.loose_owner", READER: "gc.loose_reader", ADMIN: "gc.loose_admin"}
    with connect(db) as c:
        c.execute("CREATE SCHEMA gc")
        c.execute("CREATE TABLE gc.admins (id int PRIMARY KEY, name text)")
        c.execute(f"ALTER TABLE gc.admins OWNER TO {ADMIN}")
        for role, table in own.items():
            c.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
            c.execute(f"ALTER TABLE {table} OWNER TO {role}")
        c.execute("SELECT graph.add_table('gc.admins', columns => '{name}')")
    try:
        with connect(db) as c:
            tables = c.execute(CAPTURE_GRANTEES).fetchall()
            # every registered table's capture function as it must be: EXECUTE for
            # graph_admin and the table's owner, no one else
            assert {owner for _, owner, _ in tables} >= {world["su"], OWNER, ADMIN}, tables
            assert all(grantees == sorted({"graph_admin", owner}) for _, owner, grantees in tables), tables
            oids = [t[0] for t in tables]
            others = c.execute("SELECT 'spy.calls'::regclass::oid::int").fetchone()[0]
            loose = {role: c.execute("SELECT %s::regclass::oid::int", (t,)).fetchone()[0]
                     for role, t in own.items()}
            before = c.execute(ACLS).fetchall()
        with connect(db) as c:
            for role in ROLES:
                calls = [None, oids, [None], [0], [others], [loose[role]], [], *[[o] for o in oids]]
                with as_role(db, role) as r:
                    for arg in calls:
                        r.execute("SELECT graph._grant_capture(%s::oid[])", (arg,))
                        assert c.execute(ACLS).fetchall() == before, f"{role}: graph._grant_capture({arg})"
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table('gc.admins')")
            c.execute("DROP SCHEMA gc CASCADE")
