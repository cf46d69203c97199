"""A row filter an admin writes into the registry runs none of its code as anyone else.

graph_admin may write graph._node_tables and graph._edge_sources directly; a filter it
writes there is checked as registration checks it (graph._check_registration), and
the filter text stored there is checked again wherever it is used
(graph._check_filter: parsed over a copy of the table's columns, then refused when it
names anything not PostgreSQL's own). But parsing already runs code: a literal read
as an array, composite or range holding a domain goes through the container's input
function, which runs the domain's CHECK on each element. An admin's filter
``'{x}'::adm.checked[] IS NOT NULL``, ``adm.checked[]`` an array of its own domain
whose CHECK calls its own function, had that function run by a superuser's
graph.build() and verify() (and so by maintenance under pg_cron), and by graph_sync
when capture was generated from the registry (found in review; seen failing). The
function ran before the refusal, so what it did outside the transaction (a
sequence, a file, a program) stayed done. A filter is now refused (42P17) before it
is parsed when it names anything outside pg_catalog but an enum type of the table's
own columns or a collation (graph._filter_foreign_name); a read's check of a join
table's stored filter (graph._edge_filter_expr), which plans the filter as the
reader, asks the same first.
"""

import uuid

import psycopg
import pytest

import install
from conftest import as_role, connect

ADMIN_CODE = """
CREATE TABLE {a}.calls (who text, superuser boolean);
GRANT INSERT ON {a}.calls TO PUBLIC;
CREATE SEQUENCE {a}.by_superuser;  -- counts calls by a superuser, whatever rolls back
CREATE SEQUENCE {a}.by_others;     -- ... and by any role but the admin (graph_sync)
GRANT USAGE ON SEQUENCE {a}.by_superuser, {a}.by_others TO PUBLIC;
CREATE FUNCTION {a}.record() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        PERFORM pg_catalog.nextval('{a}.by_superuser');
    END IF;
    IF current_user OPERATOR(pg_catalog.<>) '{a}' THEN
        PERFORM pg_catalog.nextval('{a}.by_others');
    END IF;
    INSERT INTO {a}.calls VALUES (current_user,
        (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user));
    RETURN true;
END $$;
-- IMMUTABLE, as a domain's CHECK may call it (a lie: it records who runs it)
CREATE FUNCTION {a}.spy(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN {a}.record(); END $$;
CREATE DOMAIN {a}.checked AS text CHECK ({a}.spy(VALUE));
CREATE TYPE {a}.holder AS (v {a}.checked);
GRANT USAGE ON SCHEMA {a} TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {a} TO PUBLIC;
"""

FILTERS = [
    "'{{x}}'::{a}.checked[] IS NOT NULL",          # array_in runs the element domain's CHECK
    "CAST('(x)' AS {a}.holder) IS NOT NULL",       # record_in runs the column domain's CHECK
    "'{{x}}' :: \"{a}\" . /* . */ \"checked\" [] IS NULL OR true",  # spaced out, quoted
]


@pytest.fixture
def admin_world(fresh_db):
    """A table owner's table registered by a non-superuser admin, with a join table;
    the admin owns a schema of its own with a spy function behind a domain."""
    suffix = uuid.uuid4().hex[:8]
    owner, admin = "gs_flo_" + suffix, "gs_fla_" + suffix
    with connect(fresh_db) as c:
        install.install(c)
        c.execute(f"CREATE ROLE {owner} LOGIN")
        c.execute(f"CREATE ROLE {admin} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE SCHEMA {owner} AUTHORIZATION {owner}")
        c.execute(f"CREATE SCHEMA {admin} AUTHORIZATION {admin}")
    with as_role(fresh_db, owner) as o:
        o.execute(f"CREATE TABLE {owner}.docs (id int PRIMARY KEY, title text)")
        o.execute(f"CREATE TABLE {owner}.links (a int, b int, kind text, PRIMARY KEY (a, b))")
        o.execute(f"INSERT INTO {owner}.docs VALUES (1, 'one'), (2, 'two')")
        o.execute(f"INSERT INTO {owner}.links VALUES (1, 2, 'k')")
        o.execute(f"GRANT USAGE ON SCHEMA {owner} TO {admin}")
        o.execute(f"GRANT SELECT, TRIGGER ON {owner}.docs, {owner}.links TO {admin}")
    with as_role(fresh_db, admin) as a:
        a.execute(f"SELECT graph.add_table('{owner}.docs', columns => '{{title}}')")
        a.execute(f"SELECT graph.add_edge('{owner}.docs', 'a', '{owner}.docs', 'b', via_table => '{owner}.links',"
                  f" label => 'link')")
        a.execute(ADMIN_CODE.format(a=admin))
        assert a.execute(f"SELECT '{{x}}'::{admin}.checked[] IS NOT NULL").fetchone() == (True,)  # the plant works
        a.execute(f"DELETE FROM {admin}.calls")
    with connect(fresh_db) as c:
        c.execute("SELECT graph.build()")
    return fresh_db, owner, admin


def _runs(dsn, admin):
    with connect(dsn) as c:
        who = sorted({r[0] for r in c.execute(f"SELECT who FROM {admin}.calls")})
        counts = [(n if called else 0) for n, called in (
            c.execute(f"SELECT last_value, is_called FROM {admin}.{s}").fetchone()
            for s in ("by_superuser", "by_others"))]
        return who, counts[0], counts[1]


def _plant(dsn, owner, admin, row_filter, edge):
    """The admin's write of ``row_filter`` into the registry is refused
    (graph._check_registration checks it as registration does: 42P17 for a name of
    its code, 42704 for a type no name finds), running nothing; the row is then
    written by a superuser, whom that check trusts, as a row written before it was."""
    sql = (f"UPDATE graph._edge_sources SET row_filter = %s, row_filter_columns = '{{kind}}'"
           f" WHERE via_table = '{owner}.links'::regclass" if edge else
           f"UPDATE graph._node_tables SET row_filter = %s, row_filter_columns = '{{title}}'"
           f" WHERE table_oid = '{owner}.docs'::regclass")
    with as_role(dsn, admin) as a:
        with pytest.raises(psycopg.Error) as refused:
            a.execute(sql, (row_filter,))
        assert refused.value.sqlstate in ("42P17", "42704"), refused.value
    assert _runs(dsn, admin) == ([], 0, 0)
    with connect(dsn) as su:
        su.execute(sql, (row_filter,))


@pytest.mark.parametrize("edge", [False, True], ids=["node_table", "edge_source"])
@pytest.mark.parametrize("row_filter", FILTERS)
def test_a_planted_filter_literal_runs_nothing_as_a_superuser(admin_world, row_filter, edge):
    dsn, owner, admin = admin_world
    _plant(dsn, owner, admin, row_filter.format(a=admin), edge)
    with connect(dsn) as su:  # capture generated again from the planted row (as graph_sync), at an upgrade
        su.execute(f"SELECT graph._install_capture('{owner}.links'::regclass::oid)")
    with connect(dsn) as su:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="no longer checks"):
            su.execute("SELECT graph.build()")
        failed = su.execute("SELECT table_name, detail ->> 'sqlstate' FROM graph.verify()"
                            " WHERE difference = 'check_failed'").fetchall()
        assert failed == [(f"{owner}.links" if edge else f"{owner}.docs", "55000")], failed
        su.execute("SELECT * FROM graph.run_scheduled_maintenance()")
    who, by_superuser, by_others = _runs(dsn, admin)
    assert (by_superuser, by_others, who) == (0, 0, [])
    # capture generated again from the planted row (as graph_sync), and a write
    with as_role(dsn, admin) as a:
        a.execute("SELECT * FROM graph.reconcile()")
        a.execute(f"SELECT graph._install_capture('{owner}.docs'::regclass::oid)")
        a.execute(f"SELECT graph._install_capture('{owner}.links'::regclass::oid)")
    with as_role(dsn, owner) as o:
        o.execute(f"INSERT INTO {owner}.docs VALUES (3, 'three')")
        o.execute(f"INSERT INTO {owner}.links VALUES (2, 3, 'k')")
        # the owner's own DDL, followed by the event trigger
        o.execute(f"ALTER TABLE {owner}.docs ADD COLUMN extra int")
        o.execute(f"ALTER TABLE {owner}.links ADD COLUMN extra int")
    with connect(dsn) as su:  # a superuser's maintenance DDL renaming the filter's column, followed
        su.execute(f"ALTER TABLE {owner}.docs RENAME COLUMN title TO heading")
        su.execute(f"ALTER TABLE {owner}.links RENAME COLUMN kind TO sort")
    who, by_superuser, by_others = _runs(dsn, admin)
    assert (by_superuser, by_others, who) == (0, 0, [])  # graph_sync generating capture ran it before


def test_a_filter_naming_the_admins_code_is_refused_before_it_is_parsed(admin_world):
    """The same filters given to alter_table and alter_edge are refused (42P17), as
    filters calling the admin's function always were, without running the CHECK,
    even as the admin itself."""
    dsn, owner, admin = admin_world
    with as_role(dsn, admin) as a:
        for row_filter in FILTERS:
            with pytest.raises(psycopg.errors.InvalidObjectDefinition, match=admin):
                a.execute(f"SELECT graph.alter_table('{owner}.docs', row_filter => %s)",
                          (row_filter.format(a=admin),))
    assert _runs(dsn, admin) == ([], 0, 0)


def test_filters_over_enum_columns_still_register(admin_world):
    """What graphsync itself stores: a filter over an enum column deparses with the
    enum's qualified name, and checks again (capture, build, verify) as before."""
    dsn, owner, admin = admin_world
    with as_role(dsn, owner) as o:
        o.execute(f"GRANT USAGE ON SCHEMA {owner} TO PUBLIC")  # capture, generated as graph_sync, names the enum
        o.execute(f"CREATE TYPE {owner}.mood AS ENUM ('blue', 'red')")
        o.execute(f"ALTER TABLE {owner}.docs ADD COLUMN mood {owner}.mood DEFAULT 'blue'")
        o.execute(f"INSERT INTO {owner}.docs VALUES (5, 'five', 'red')")
    with as_role(dsn, admin) as a:
        a.execute(f"SELECT graph.alter_table('{owner}.docs', row_filter => 'mood = ''blue'' AND"
                  f" title > ''a'' COLLATE \"C\"')")
        stored = a.execute(f"SELECT row_filter FROM graph._node_tables WHERE table_oid = '{owner}.docs'::regclass"
                           ).fetchone()[0]
        assert f"{owner}.mood" in stored, stored
    with connect(dsn) as su:
        su.execute("SELECT graph.build()")
        assert su.execute(f"SELECT pk FROM graph._nodes WHERE table_oid = '{owner}.docs'::regclass ORDER BY pk"
                          ).fetchall() == [("1",), ("2",)]
        assert su.execute("SELECT count(*) FROM graph.verify()").fetchone() == (0,)
    # a name outside pg_catalog that is no enum of the table's columns is refused
    with as_role(dsn, admin) as a:
        a.execute(f"CREATE TYPE {admin}.mood AS ENUM ('blue')")
        with pytest.raises(psycopg.errors.InvalidObjectDefinition, match=f"{admin}.mood"):
            a.execute(f"SELECT graph.alter_table('{owner}.docs', row_filter => '''blue''::{admin}.mood IS NOT NULL')")


LEXED = [
    # (filter, what graph._filter_foreign_name returns; {a}: the admin's schema, {o}: the owner's)
    ("title = 'a.b' AND id > 1.5 AND id < .5e3 AND id <> 1.", None),
    ("title = E'it\\'s {a}.x' AND title <> $q$ {a}.x $q$ AND title <> $$ $q$ $$", None),
    ("title /* {a}.x /* nested */ {a}.y */ = 'x' -- {a}.z", None),
    ("title = pg_catalog.lower(title) AND id OPERATOR(pg_catalog.=) 1", None),
    ("\"pg_catalog\".\"lower\"(title) = title COLLATE \"C\"", None),
    ("title = 'x' AND {a}.spy(title)", "{a}.spy"),
    ("id OPERATOR({a}.===) 1", "{a}.="),
    ("title = E'\\\\' AND '{{x}}'::{a}.checked[] IS NULL", "{a}.checked"),  # E'\\' ends where PostgreSQL ends it
    ("title = B'1' AND '(x)'::{A}.\"holder\" IS NULL", "{a}.holder"),
    ("(title).x = 'y'", ").x"),
    ("x.pg_catalog.lower(title) = ''", "x.pg_catalog"),
    ("{o}.docs.title = ''", "{o}.docs"),
    ("pg_temp.f(title)", "pg_temp.f"),
    ("title = $q$x$q$||{a}.f()", "{a}.f"),
    ("title = $1$a$ x $a$ || {a}.f()", "{a}.f"),  # a parameter, then a dollar quote
    ("t\u00e9.x = 1", '"t\u00e9".x'),
]


@pytest.mark.parametrize("text,expected", LEXED)
def test_qualified_names_are_found_as_postgresql_reads_the_text(admin_world, text, expected):
    dsn, owner, admin = admin_world
    with connect(dsn) as su:
        got = su.execute("SELECT graph._filter_foreign_name(%s::regclass, %s)",
                         (f"{owner}.docs", text.format(a=admin, A=admin.upper(), o=owner))).fetchone()[0]
        assert got == (None if expected is None else expected.format(a=admin, o=owner)), got


def test_backslashes_end_strings_as_the_session_reads_them(admin_world):
    """A backslash escapes a quote in a plain string only with standard_conforming_strings
    off: 'a\\' || adm.f() || ' is one string then, and a string, a call and the start of
    another with it on."""
    dsn, owner, admin = admin_world
    text = f"title = 'a\\' || {admin}.f() || '"
    with connect(dsn) as su:
        assert su.execute("SELECT graph._filter_foreign_name(%s::regclass, %s)",
                          (f"{owner}.docs", text)).fetchone() == (f"{admin}.f",)
        su.execute("SET standard_conforming_strings = off")
        assert su.execute("SELECT graph._filter_foreign_name(%s::regclass, %s)",
                          (f"{owner}.docs", text)).fetchone() == (None,)


def test_a_temporary_type_of_the_admins_session_runs_nothing_as_graph_sync(admin_world):
    """Unqualified, a type name is looked up in the session's temporary schema after
    pg_catalog: the admin's temporary table, a column of its domain, named as a
    literal's type by a planted filter, ran the domain's CHECK as graph_sync when the
    admin had capture generated again in that session."""
    dsn, owner, admin = admin_world
    _plant(dsn, owner, admin, "'(x)'::holder IS NOT NULL", False)
    with as_role(dsn, admin) as a:
        a.execute(f"CREATE TEMP TABLE holder (v {admin}.checked)")
        a.execute(f"SELECT graph._install_capture('{owner}.docs'::regclass::oid)")
        assert _runs(dsn, admin) == ([], 0, 0)
        with pytest.raises(psycopg.errors.InvalidObjectDefinition, match="pg_temp.holder"):
            a.execute("SELECT * FROM graph._check_filter(%s::regclass, %s)",
                      (f"{owner}.docs", "'(x)'::holder IS NOT NULL"))
    assert _runs(dsn, admin) == ([], 0, 0)
