"""A graph replica's subscription over its life (README "Scaling out"), by real
logical replication between two databases of a cluster this module starts
(wal_level = logical) and stops: src publishes, rep subscribes, registers the
same tables and keeps its own log and graph.

- ALTER SUBSCRIPTION ... REFRESH PUBLICATION that adds a registered table gives it
  its replica capture in that statement (the event trigger
  graphsync_follow_subscription), and the changes replicated to it reach the graph.
- ALTER SUBSCRIPTION ... DISABLE keeps replica capture; what the publisher wrote
  meanwhile is captured once each after ENABLE.
- DROP SUBSCRIPTION (and a REFRESH that removes a table) takes the replica capture
  of the tables no subscription applies to any more away in that statement: health
  stays clean, the graph stays.
- Issue 8: the event trigger runs as the superuser who runs CREATE/ALTER
  SUBSCRIPTION; it runs no code a table owner controls (the owner's casts of a
  retyped column's type, operators, policy, triggers -- an impostor holding a
  replica trigger's name included --, objects planted in public and in the
  schema first on the search path), neither does the apply worker's capture.
"""

import tempfile
import time

import psycopg
import pytest

import install
import pgcluster
from conftest import connect, skip_without_server_binaries, wait_until
from owner_traps import MOOD_TRAPS

pytestmark = pytest.mark.local_only(reason="starts a cluster with wal_level = logical on this machine with"
                                           " tools/pgcluster.py")

SOURCES = """
CREATE SCHEMA sub;
CREATE TABLE sub.a (id int PRIMARY KEY, name text NOT NULL, parent int);
CREATE TABLE sub.b (id int PRIMARY KEY, title text NOT NULL, a_id int);
"""
REGISTER = """
SELECT graph.add_table('sub.a', columns => '{name}');
SELECT graph.add_table('sub.b', columns => '{title}');
SELECT graph.add_edge('sub.a', 'parent', 'sub.a', label => 'child_of');
SELECT graph.add_edge('sub.b', 'a_id', 'sub.a', label => 'about');
SELECT graph.build();
"""
ROW_TRIGGERS = ("graphsync_replica_capture_delete", "graphsync_replica_capture_insert",
                "graphsync_replica_capture_update")


@pytest.fixture(scope="module")
def cluster():
    """(src DSN, rep DSN, the cluster's postgres DSN)."""
    skip_without_server_binaries()
    directory = tempfile.mkdtemp(prefix="graphsync-subscribe-")
    try:
        pgcluster.start(directory, {"wal_level": "logical"})
        with connect(pgcluster.dsn_for(directory)) as c:
            c.execute("CREATE DATABASE src")
            c.execute("CREATE DATABASE rep")
        rep = pgcluster.dsn_for(directory, "rep")
        with connect(rep) as r:
            install.install(r)
        yield pgcluster.dsn_for(directory, "src"), rep, pgcluster.dsn_for(directory)
    finally:
        pgcluster.stop(directory)


def subscribe(src, rep, name, publication, src_dsn):
    """CREATE SUBSCRIPTION in rep (its slot made apart: in one cluster CREATE
    SUBSCRIPTION would wait on itself)."""
    src.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    rep.execute(f"CREATE SUBSCRIPTION {name} CONNECTION '{src_dsn}'"
                f" PUBLICATION {publication} WITH (create_slot = false, slot_name = '{name}')")


def unsubscribe(src, rep, name):
    rep.execute(f"ALTER SUBSCRIPTION {name} DISABLE")
    rep.execute(f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
    rep.execute(f"DROP SUBSCRIPTION {name}")
    assert wait_until(lambda: not src.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                                              (name,)).fetchone()[0],
                      timeout=60, interval=0.05), f"the slot {name} is still active after 60 s"
    src.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def rows(c, table):
    return c.execute(f"SELECT coalesce(array_agg(t ORDER BY t), '{{}}')::text FROM {table} AS t").fetchone()[0]


def wait_for(src, rep, tables, timeout=120):
    assert wait_until(lambda: all(rows(src, t) == rows(rep, t) for t in tables), timeout, interval=0.1), \
        f"{tables} not replicated after {timeout} s"


def row_triggers(c, table):
    """The replica capture triggers on ``table`` calling its row function, enabled REPLICA."""
    return sorted(r[0] for r in c.execute(
        "SELECT t.tgname FROM pg_trigger AS t WHERE t.tgrelid = %s::regclass AND t.tgenabled = 'R'"
        " AND t.tgfoid = pg_catalog.to_regprocedure(pg_catalog.format('graph.%%I()', '_capture_row_'"
        " || %s::regclass::oid))",
        (table, table)))


def logged(c, mark):
    return sorted(c.execute("SELECT op, table_name, pk FROM graph._sync_log WHERE id > %s", (mark,)).fetchall())


def mark(c):
    return c.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]


def clean(c):
    """Health as after a clean run: no drift, no trigger missing or disabled."""
    return c.execute("SELECT schema_state, schema_drift, missing_trigger_count, disabled_trigger_count"
                     " FROM graph.sync_health()").fetchone() == ("current", None, 0, 0)


def graph_of(c):
    """The graph's nodes and edges, by table and key (node numbers differ between builds)."""
    nodes = sorted(c.execute("SELECT table_oid::regclass::text, pk FROM graph._nodes WHERE alive").fetchall())
    edges = sorted(c.execute(
        "SELECT node_table::text, node_id, depth FROM graph.traverse('sub.a', '1', direction => 'any',"
        " max_depth => 5)").fetchall())
    return nodes, edges


@pytest.fixture(scope="module")
def life(cluster):
    """src publishes sub.a only; rep registered sub.a and sub.b, then subscribed."""
    src_dsn, rep_dsn, _ = cluster
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        s.execute(SOURCES)
        s.execute("INSERT INTO sub.a SELECT g, 'a' || g, nullif(g / 2, 0) FROM generate_series(1, 20) g")
        s.execute("INSERT INTO sub.b SELECT g, 'b' || g, 1 + g % 20 FROM generate_series(1, 10) g")
        s.execute("CREATE PUBLICATION life FOR TABLE sub.a")
        r.execute(SOURCES)
        r.execute(REGISTER)
        subscribe(s, r, "life", "life", src_dsn)
        yield src_dsn, rep_dsn
        # (the DROP SUBSCRIPTION test unsubscribes)


def test_create_subscription_gives_the_subscribed_registered_table_replica_capture(life):
    src_dsn, rep_dsn = life
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        assert row_triggers(r, "sub.a") == list(ROW_TRIGGERS)
        assert row_triggers(r, "sub.b") == []  # registered, not subscribed: none
        wait_for(s, r, ["sub.a"])
        assert clean(r)


def test_refresh_publication_adding_a_registered_table_gives_it_replica_capture(life):
    """The REFRESH itself installs it (before the apply worker can apply a change to
    the table); the initial copy is logged once per row (statement triggers), later
    changes by the row triggers, and the graph equals the sources."""
    src_dsn, rep_dsn = life
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        s.execute("ALTER PUBLICATION life ADD TABLE sub.b")
        before = mark(r)
        r.execute("ALTER SUBSCRIPTION life REFRESH PUBLICATION")  # not in a transaction block
        assert row_triggers(r, "sub.b") == list(ROW_TRIGGERS)  # made by the REFRESH itself
        assert r.execute("SELECT count(*) FROM pg_subscription_rel WHERE srrelid = 'sub.b'::regclass"
                         ).fetchone() == (1,)
        assert clean(r)
        wait_for(s, r, ["sub.a", "sub.b"])
        copied = logged(r, before)
        assert [x for x in copied if x[1] == "sub.b"] == [("I", "sub.b", str(i)) for i in sorted(
            range(1, 11), key=str)]
        at = mark(r)
        s.execute("INSERT INTO sub.b VALUES (11, 'b11', 3), (12, 'b12', 4)")
        s.execute("UPDATE sub.b SET a_id = 5 WHERE id = 1")
        s.execute("UPDATE sub.b SET title = 'b2 again' WHERE id = 2")
        s.execute("DELETE FROM sub.b WHERE id = 3")
        wait_for(s, r, ["sub.a", "sub.b"])
        assert logged(r, at) == [("D", "sub.b", "3"), ("I", "sub.b", "11"), ("I", "sub.b", "12"),
                                 ("U", "sub.b", "1"), ("U", "sub.b", "2")]
        r.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall() == []
        nodes, _ = graph_of(r)
        assert [k for t, k in nodes if t == "sub.b"] == sorted(str(i) for i in (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12))
        assert ("sub.b", "11", 2) in graph_of(r)[1]  # b11 -> a3 -> a1 (child_of): reached from a1


def test_disable_keeps_replica_capture_and_enable_captures_what_came_meanwhile(life):
    src_dsn, rep_dsn = life
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        wait_for(s, r, ["sub.a", "sub.b"])
        r.execute("ALTER SUBSCRIPTION life DISABLE")
        assert row_triggers(r, "sub.a") == list(ROW_TRIGGERS) == row_triggers(r, "sub.b")
        assert clean(r)
        at = mark(r)
        s.execute("INSERT INTO sub.a VALUES (30, 'a30', 1)")
        s.execute("UPDATE sub.b SET title = 'b4 later' WHERE id = 4")
        s.execute("DELETE FROM sub.a WHERE id = 20")
        time.sleep(1)
        assert rows(r, "sub.a") != rows(s, "sub.a") and mark(r) == at  # nothing applied while disabled
        r.execute("ALTER SUBSCRIPTION life ENABLE")
        assert clean(r)
        wait_for(s, r, ["sub.a", "sub.b"])
        assert logged(r, at) == [("D", "sub.a", "20"), ("I", "sub.a", "30"), ("U", "sub.b", "4")]
        r.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall() == []


def test_drop_subscription_takes_replica_capture_away_and_leaves_health_clean(life):
    """A table no subscription applies to carries no replica capture (README: a
    database that subscribes to nothing has none). DROP SUBSCRIPTION takes it away
    in that statement, so health does not report the row triggers as strays; the
    statement capture and the graph stay, and ordinary writes are captured."""
    src_dsn, rep_dsn = life
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        wait_for(s, r, ["sub.a", "sub.b"])
        # A REFRESH that removes a table from the subscription takes its replica capture.
        s.execute("ALTER PUBLICATION life DROP TABLE sub.b")
        r.execute("ALTER SUBSCRIPTION life REFRESH PUBLICATION")
        assert row_triggers(r, "sub.b") == [] and row_triggers(r, "sub.a") == list(ROW_TRIGGERS)
        assert clean(r)
        r.execute("SELECT graph.apply_sync()")
        graph = graph_of(r)
        unsubscribe(s, r, "life")
        assert row_triggers(r, "sub.a") == [] and row_triggers(r, "sub.b") == []
        assert r.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_capture\\_row\\_%'").fetchone() == (0,)
        assert clean(r)
        assert graph_of(r) == graph
        at = mark(r)
        r.execute("INSERT INTO sub.a VALUES (40, 'a40', 1)")  # rep is a primary of its own now
        assert logged(r, at) == [("I", "sub.a", "40")]
        r.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall() == []
        assert clean(r)


# -- issue 8: the subscription path runs no code a table owner controls ----------

OWNER = "gs_sub_owner"
HOSTILE_PATH = "SET search_path = own, public, pg_catalog"
TRAP_SOURCES = """
CREATE SCHEMA own;
CREATE TYPE own.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE own.people (id int PRIMARY KEY, feeling own.mood, name text, team text);
CREATE TABLE own.extra (id int PRIMARY KEY, note text);
"""
# The owner's code: own.spy records who runs it; a run by anyone but the owner counts
# in spy.foreign (a sequence: a rolled-back run still counts) and, run by a
# superuser, makes the owner one.
SPY = f"""
CREATE SCHEMA spy;
GRANT USAGE ON SCHEMA spy TO PUBLIC;
CREATE TABLE spy.calls (who name, what text);
GRANT INSERT, SELECT ON spy.calls TO PUBLIC;
CREATE SEQUENCE spy.foreign;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE spy.foreign TO PUBLIC;
CREATE SCHEMA own AUTHORIZATION {OWNER};
GRANT CREATE ON SCHEMA public TO {OWNER};
"""
OWNER_CODE = f"""
CREATE FUNCTION own.spy(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_user OPERATOR(pg_catalog.<>) '{OWNER}' THEN
        PERFORM pg_catalog.nextval('spy.foreign');
    END IF;
    INSERT INTO spy.calls VALUES (current_user, what);
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION own.spy_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('trigger ' || TG_NAME); RETURN NULL; END $$;
""" + MOOD_TRAPS + """CREATE TABLE own.people (id int PRIMARY KEY, feeling own.mood, name text, team text);
CREATE TABLE own.extra (id int PRIMARY KEY, note text);
-- the owner's policy, and its triggers: an ordinary one, and impostors holding the
-- replica capture triggers' names, enabled REPLICA (they would run in the apply worker)
ALTER TABLE own.people ENABLE ROW LEVEL SECURITY;
ALTER TABLE own.extra ENABLE ROW LEVEL SECURITY;
CREATE POLICY watch ON own.people USING (own.spy('policy people'));
CREATE POLICY watch ON own.extra USING (own.spy('policy extra'));
CREATE TRIGGER audit BEFORE INSERT OR UPDATE OR DELETE ON own.people FOR EACH ROW EXECUTE FUNCTION own.spy_trigger();
CREATE TRIGGER graphsync_replica_capture_insert AFTER INSERT ON own.people
    FOR EACH ROW EXECUTE FUNCTION own.spy_trigger();
CREATE TRIGGER graphsync_replica_capture_update AFTER UPDATE ON own.extra
    FOR EACH ROW EXECUTE FUNCTION own.spy_trigger();
ALTER TABLE own.people ENABLE REPLICA TRIGGER graphsync_replica_capture_insert;
ALTER TABLE own.extra ENABLE REPLICA TRIGGER graphsync_replica_capture_update;
"""
# Objects planted where an unqualified name would find them: the schema first on the
# search path and public (functions and operators graphsync's SQL uses, on text,
# oid, name and the owner's type).
PLANTED = """
CREATE FUNCTION {s}.format(text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.format'); RETURN $1; END $$;
CREATE FUNCTION {s}.format(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.format'); RETURN $1; END $$;
CREATE FUNCTION {s}.quote_ident(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.quote_ident'); RETURN $1; END $$;
CREATE FUNCTION {s}.to_regprocedure(text) RETURNS regprocedure LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.to_regprocedure'); RETURN NULL; END $$;
CREATE FUNCTION {s}.pg_has_role(name, name, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.pg_has_role'); RETURN true; END $$;
CREATE FUNCTION {s}.current_database() RETURNS name LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.current_database'); RETURN 'x'; END $$;
CREATE FUNCTION {s}.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.text ='); RETURN pg_catalog.texteq($1, $2); END $$;
CREATE OPERATOR {s}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = {s}.text_eq);
CREATE FUNCTION {s}.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.oid ='); RETURN pg_catalog.oideq($1, $2); END $$;
CREATE OPERATOR {s}.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = {s}.oid_eq);
CREATE FUNCTION {s}.cat(text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('{s}.||'); RETURN pg_catalog.textcat($1, $2); END $$;
CREATE OPERATOR {s}.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = {s}.cat);
CREATE TABLE {s}.pg_trigger (tgname name);
"""


def foreign_calls(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM spy.foreign").fetchone()[0]


@pytest.fixture(scope="module")
def trap(cluster):
    src_dsn, rep_dsn, _ = cluster
    with connect(src_dsn) as s, connect(rep_dsn) as r:
        r.execute(f"DROP ROLE IF EXISTS {OWNER}")
        r.execute(f"CREATE ROLE {OWNER} LOGIN")
        s.execute(TRAP_SOURCES)
        s.execute("INSERT INTO own.people VALUES (1, 'happy', 'ok', 't1'), (2, 'sad', 'happy', 't2')")
        s.execute("INSERT INTO own.extra VALUES (1, 'e1')")
        s.execute("CREATE PUBLICATION trap FOR TABLE own.people")
        r.execute(SPY)
    with psycopg.connect(psycopg.conninfo.make_conninfo(rep_dsn, user=OWNER), autocommit=True) as o:
        o.execute(OWNER_CODE)
        o.execute(PLANTED.format(s="own"))
        o.execute(PLANTED.format(s="public"))
        o.execute(f"ALTER ROLE {OWNER} SET search_path = own, public, pg_catalog")
    with connect(rep_dsn) as r:
        r.execute("SELECT graph.add_table('own.people', columns => '{feeling,name}', tenant_column => 'team')")
        r.execute("SELECT graph.add_table('own.extra', columns => '{note}')")
        r.execute("SELECT graph.build()")
    with psycopg.connect(psycopg.conninfo.make_conninfo(rep_dsn, user=OWNER), autocommit=True) as o:
        # a column retyped to the owner's type (the USING cast runs as the owner: its business)
        o.execute("ALTER TABLE own.people ALTER COLUMN name TYPE own.mood USING name::own.mood")
    with connect(rep_dsn) as r:
        r.execute("DELETE FROM spy.calls")  # the owner's own calls so far
        assert foreign_calls(r) == 0
    yield src_dsn, rep_dsn


def test_the_owners_code_is_a_working_trap(trap):
    """A superuser who casts the owner's type with the hostile search_path runs the
    owner's function as superuser (and the owner would become one)."""
    _, rep_dsn = trap
    with connect(rep_dsn) as c:
        with c.transaction():
            c.execute(HOSTILE_PATH)
            assert c.execute("SELECT 'happy'::own.mood::text, format('a%s', 'b'), 'x' = 'x'").fetchone() == (
                "Xhappy", "a%s", True)
            assert c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone() == (True,)
            assert foreign_calls(c) >= 3
            raise psycopg.Rollback()  # the trap sprang: undo the escalation it made
        assert c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone() == (False,)


def test_subscribing_refreshing_and_dropping_run_no_owner_code(trap):
    """CREATE SUBSCRIPTION, ALTER SUBSCRIPTION ... REFRESH PUBLICATION (adding a
    table), DISABLE/ENABLE and DROP SUBSCRIPTION, run by a superuser whose search
    path starts with the owner's schema: the event trigger replaces the impostors,
    installs replica capture and takes it away, and the apply worker's capture logs
    the replicated rows of the retyped column (the type's output function), without
    running a single function of the owner's as anyone else. (r runs the commands
    with the hostile path; c looks, with pg_catalog alone on its path: public's
    format(text, text) is a closer match than pg_catalog's variadic one, so the
    default path would run the plant.)"""
    src_dsn, rep_dsn = trap
    with connect(src_dsn) as s, connect(rep_dsn) as r, connect(rep_dsn) as c:
        c.execute("SET search_path = pg_catalog, pg_temp")
        before = foreign_calls(c)
        warnings = []
        r.add_notice_handler(lambda d: warnings.append((d.severity_nonlocalized, d.message_primary)))
        r.execute(HOSTILE_PATH)
        subscribe(s, r, "trap", "trap", src_dsn)
        assert row_triggers(c, "own.people") == list(ROW_TRIGGERS)  # the impostor replaced, with a WARNING
        assert [w for w in warnings if w[0] == "WARNING"] == [
            ("WARNING", "graphsync: replacing trigger graphsync_replica_capture_insert on own.people: it calls"
                        " own.spy_trigger(), not graphsync's capture function graph._capture_row_%s()"
                        % c.execute("SELECT 'own.people'::regclass::oid").fetchone()[0])]
        assert row_triggers(c, "own.extra") == []
        wait_for(s, c, ["own.people"])
        s.execute("ALTER PUBLICATION trap ADD TABLE own.extra")
        r.execute("ALTER SUBSCRIPTION trap REFRESH PUBLICATION")
        assert row_triggers(c, "own.extra") == list(ROW_TRIGGERS)  # its impostor too
        wait_for(s, c, ["own.people", "own.extra"])
        at = mark(c)
        s.execute("INSERT INTO own.people VALUES (3, 'ok', 'sad', 't1')")
        s.execute("UPDATE own.people SET feeling = 'sad', name = 'ok' WHERE id = 1")
        s.execute("DELETE FROM own.people WHERE id = 2")
        s.execute("UPDATE own.extra SET note = 'e1 again' WHERE id = 1")
        wait_for(s, c, ["own.people", "own.extra"])
        assert logged(c, at) == [("D", "own.people", "2"), ("I", "own.people", "3"), ("U", "own.extra", "1"),
                                 ("U", "own.people", "1")]
        assert c.execute("SELECT properties FROM graph._sync_log WHERE id > %s AND op = 'I'", (at,)
                         ).fetchone() == ({"feeling": "ok", "name": "sad"},)  # output functions, not the casts
        r.execute("ALTER SUBSCRIPTION trap DISABLE")
        r.execute("ALTER SUBSCRIPTION trap ENABLE")
        r.execute("SELECT graph.apply_sync()")
        r.execute("SELECT graph.build()")  # the retyped column: a rebuild is due
        assert r.execute("SELECT difference, table_name, id FROM graph.verify()").fetchall() == []
        assert clean(c)
        unsubscribe(s, r, "trap")
        assert row_triggers(c, "own.people") == [] and row_triggers(c, "own.extra") == []
        assert clean(c)
        assert foreign_calls(c) == before, c.execute("SELECT who, what FROM spy.calls").fetchall()
        assert c.execute("SELECT DISTINCT who FROM spy.calls WHERE who <> %s", (OWNER,)).fetchall() == []
        assert c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone() == (False,)
