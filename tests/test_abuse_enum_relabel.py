"""The owner of an enum type that keys another role's table relabels its values.

graphsync keys a node by its key's text as capture rendered it, and graph._nodes'
policy shows a reader a node of a table under row-level security when the reader can
see a row whose key renders the same text now (for a key of a type a role made: every
visible row's key, read as the caller, rendered). ``ALTER TYPE ... RENAME VALUE``
changes the text of every stored value of an enum at once, without a write or a
capture. So the owner of the enum -- here the reader itself, whose type the table's
owner used for its key -- swapped two labels: the reader's visible row ('b') rendered
'a', and the node 'a', captured from a row the policy hides from it, showed with that
hidden row's properties (found in review). The same relabel made every captured text
of the enum stale for everyone.

The DDL follower (graph._follow_ddl, through graph._refuse_enum_relabel) now refuses
(55000) an ALTER TYPE that changed a label of an enum a registered table renders in
captured text (a key, property, filter, tenant, edge end, weight or label column, a
join table's key; directly, through a domain or an array), for every role, superusers
too; ADD VALUE and relabels of enums no registered table renders stay allowed.
"""

import psycopg
import pytest

from conftest import as_role, connect, rows_read

OWNER, READER = "gs_er_owner", "gs_er_reader"
CALLS = """SELECT coalesce(sum(f.calls), 0)::int FROM pg_catalog.pg_stat_xact_user_functions AS f
           WHERE f.schemaname = 'graph' AND f.funcname = %s"""


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for r in (OWNER, READER):
            c.execute(f"DROP ROLE IF EXISTS {r}")
            c.execute(f"CREATE ROLE {r} LOGIN")
        c.execute(f"CREATE SCHEMA er_types AUTHORIZATION {READER}")
        c.execute(f"CREATE SCHEMA er AUTHORIZATION {OWNER}")
    with as_role(db, READER) as r:
        r.execute("CREATE TYPE er_types.code AS ENUM ('a', 'b'); GRANT USAGE ON SCHEMA er_types TO PUBLIC")
        r.execute("CREATE TYPE er_types.dk AS ENUM ('x', 'y'); CREATE DOMAIN er_types.dkd AS er_types.dk")
        r.execute("CREATE TYPE er_types.tag AS ENUM ('t1', 't2')")
        r.execute("CREATE TYPE er_types.kind AS ENUM ('likes', 'hates')")
        r.execute("CREATE TYPE er_types.free AS ENUM ('f1', 'f2')")
        r.execute("CREATE TYPE er_types.mood AS ENUM ('calm', 'wild'); CREATE TYPE er_types.pair AS (m er_types.mood)")
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE er.t (k er_types.code PRIMARY KEY, team text NOT NULL, note text NOT NULL)")
        o.execute("INSERT INTO er.t VALUES ('a', 'red', 'hidden red note'), ('b', 'blue', 'blue note')")
        o.execute("ALTER TABLE er.t ENABLE ROW LEVEL SECURITY; CREATE POLICY blue ON er.t USING (team = 'blue')")
        o.execute(f"GRANT USAGE ON SCHEMA er TO {READER}; GRANT SELECT ON er.t TO {READER}")
        o.execute("CREATE TABLE er.d (k er_types.dkd PRIMARY KEY)")
        o.execute("CREATE TABLE er.arr (id int PRIMARY KEY, tags er_types.tag[])")
        o.execute("CREATE TABLE er.p (id int PRIMARY KEY, boss int, kind er_types.kind)")
        o.execute("CREATE TABLE er.c (id int PRIMARY KEY, pr er_types.pair); INSERT INTO er.c VALUES (1, ROW('calm'))")
        o.execute("CREATE TABLE er.unregistered (id int PRIMARY KEY, f er_types.free)")
        o.execute("INSERT INTO er.d VALUES ('x'); INSERT INTO er.arr VALUES (1, '{t1}');"
                  " INSERT INTO er.p VALUES (1, NULL, NULL), (2, 1, 'likes');"
                  " INSERT INTO er.unregistered VALUES (1, 'f1')")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('er.t', columns => '{note}'); SELECT graph.add_table('er.d');"
                  " SELECT graph.add_table('er.arr', columns => '{tags}'); SELECT graph.add_table('er.p');"
                  " SELECT graph.add_table('er.c', columns => '{pr}');"
                  " SELECT graph.add_edge('er.p', 'boss', 'er.p', label_column => 'kind'); SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_edge('er.p', 'boss', 'er.p')")
        for t in ("er.t", "er.d", "er.arr", "er.p", "er.c"):
            c.execute("SELECT graph.remove_table(%s)", (t,))
        c.execute("DROP SCHEMA er CASCADE; DROP SCHEMA er_types CASCADE")
        for r in (OWNER, READER):
            c.execute(f"DROP OWNED BY {r}")
            c.execute(f"DROP ROLE {r}")


def seen(r):
    return sorted(tuple(x) for x in r.execute(
        "SELECT pk, properties ->> 'note' FROM graph._nodes WHERE table_oid = 'er.t'::regclass").fetchall())


def labels(c, typ):
    return [x[0] for x in c.execute(
        "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = %s::regtype ORDER BY enumsortorder", (typ,))]


def refused(c, ddl, typ, table):
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        c.execute(ddl)
    assert typ in e.value.diag.message_primary and table in e.value.diag.message_primary, e.value.diag.message_primary
    assert "graph.remove_table" in e.value.diag.message_hint, e.value.diag.message_hint
    c.rollback()


def test_a_relabelled_enum_key_shows_no_hidden_rows_node(world):
    with as_role(world, READER) as r:
        assert seen(r) == [("b", "blue note")]
        refused(r, "ALTER TYPE er_types.code RENAME VALUE 'a' TO 'tmp'", "er_types.code", "er.t")
        # nor in a savepoint of a longer transaction, nor one label at a time
        r.execute("BEGIN; SAVEPOINT s")
        refused(r, "ALTER TYPE er_types.code RENAME VALUE 'b' TO 'c'", "er_types.code", "er.t")
        assert labels(r, "er_types.code") == ["a", "b"]
        assert r.execute("SELECT k::text, note FROM er.t").fetchall() == [("b", "blue note")]
        assert seen(r) == [("b", "blue note")]


def test_a_superuser_is_refused_too(world):
    with connect(world) as c:
        refused(c, "ALTER TYPE er_types.code RENAME VALUE 'a' TO 'z'", "er_types.code", "er.t")
        assert labels(c, "er_types.code") == ["a", "b"]


@pytest.mark.parametrize("typ, table, label", [
    ("er_types.dk", "er.d", "x"),          # a key of a domain over the enum
    ("er_types.tag", "er.arr", "t1"),      # a property of an array of it
    ("er_types.kind", "er.p", "likes"),    # an edge source's label column alone
    ("er_types.mood", "er.c", "calm"),     # a property of a composite type holding it
])
def test_an_enum_rendered_otherwise_is_refused(world, typ, table, label):
    with as_role(world, READER) as r:
        refused(r, f"ALTER TYPE {typ} RENAME VALUE '{label}' TO 'renamed'", typ, table)
        assert label in labels(r, typ)


def test_adding_values_is_allowed(world):
    with as_role(world, READER) as r:
        r.execute("BEGIN")
        r.execute("ALTER TYPE er_types.code ADD VALUE 'c'")
        r.execute("ALTER TYPE er_types.code ADD VALUE 'a0' BEFORE 'b'")
        # a value added in this transaction: no row can hold it yet
        r.execute("ALTER TYPE er_types.code RENAME VALUE 'c' TO 'd'")
        r.execute("ALTER TYPE er_types.code OWNER TO CURRENT_USER")
        assert labels(r, "er_types.code") == ["a", "a0", "b", "d"]
        r.rollback()


def test_an_enum_no_registered_table_renders_may_be_relabelled(world):
    with as_role(world, READER) as r:
        r.execute("BEGIN")
        r.execute("ALTER TYPE er_types.free RENAME VALUE 'f1' TO 'g1'")
        assert labels(r, "er_types.free") == ["g1", "f2"]
        r.rollback()


def test_other_ddl_pays_nothing_for_the_check(world):
    """A plain ALTER TABLE of a registered table never calls the check nor reads pg_enum."""
    with connect(world) as c:
        c.execute("SET track_functions = 'all'")
        c.execute("BEGIN")
        before = rows_read(c, "pg_catalog.pg_enum")
        c.execute("ALTER TABLE er.t ALTER COLUMN note SET STATISTICS 200")
        c.execute("COMMENT ON TABLE er.t IS 'x'")
        assert rows_read(c, "pg_catalog.pg_enum") - before == 0
        assert c.execute(CALLS, ("_refuse_enum_relabel",)).fetchone()[0] == 0
        # while an ALTER TYPE does call it
        c.execute("ALTER TYPE er_types.free ADD VALUE 'f3'")
        assert c.execute(CALLS, ("_refuse_enum_relabel",)).fetchone()[0] == 1
        c.rollback()
