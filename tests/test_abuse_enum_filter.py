"""A row filter over an enum runs no cast the enum's owner wrote.

graph._filter_row_expr gave the filter each column's value as text and back through
the base type (so a column retyped later reaches no owner's operator); for an enum
that is a cast from text, which the enum's owner may create with a function of its
own: an admin registered a table filtered on an enum column, the owner then added
the cast, and the next graph.build() ran it once a row as the superuser (found in
review; seen failing). An enum column is now passed as it is (its operators are
PostgreSQL's own)."""

import uuid

import psycopg
from psycopg import sql

import install
from conftest import connect

OWNER_CAST = """
CREATE FUNCTION {s}.to_mood(text) RETURNS {s}.mood LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
    END IF;
    RETURN pg_catalog.enum_in($1::pg_catalog.cstring, '{s}.mood'::pg_catalog.regtype);
END $$;
CREATE CAST (text AS {s}.mood) WITH FUNCTION {s}.to_mood(text);
"""


def test_a_row_filter_over_an_enum_runs_no_cast_its_owner_wrote(fresh_db):
    """A row filter may read an enum column (graph._check_filter allows enums), and
    graph._filter_row_expr renders the column as (format('%s', col))::<enum>: an
    explicit cast from text, which uses a pg_cast entry when there is one, and the
    enum's owner (the table's owner) may CREATE CAST (text AS its enum) WITH FUNCTION
    of its own. A superuser's graph.build() (and capture as graph_capture, and
    pg_cron's maintenance) then ran it: its owner became superuser."""
    role = "gs_enum_" + uuid.uuid4().hex[:8]
    with connect(fresh_db) as c:
        install.install(c)
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("CREATE SCHEMA {s} AUTHORIZATION {s}").format(s=sql.Identifier(role)))
    try:
        with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as o:
            o.execute(f"GRANT USAGE ON SCHEMA {role} TO PUBLIC")
            o.execute(f"CREATE TYPE {role}.mood AS ENUM ('blue', 'red')")
            o.execute(f"CREATE TABLE {role}.t (id int PRIMARY KEY, mood {role}.mood, name text)")
            o.execute(f"INSERT INTO {role}.t VALUES (1, 'blue', 'a'), (2, 'red', 'b')")
        with connect(fresh_db) as c:  # the admin registers it, filtering on the enum
            c.execute("SELECT graph.add_table(%s, columns => '{name}', row_filter => 'mood = ''blue''')",
                      (f"{role}.t",))
            c.execute("SELECT graph.build()")
        with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as o:
            o.execute(OWNER_CAST.format(s=role, role=role))
        with connect(fresh_db) as c:
            c.execute("SELECT graph.build()")
            assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
            # the filter still filters: the blue row only
            assert c.execute("SELECT pk FROM graph._nodes WHERE table_oid = %s::regclass",
                             (f"{role}.t",)).fetchall() == [("1",)]
        with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as o:
            o.execute(f"INSERT INTO {role}.t VALUES (3, 'blue', 'c'), (4, 'red', 'd')")  # captured
        with connect(fresh_db) as c:
            c.execute("SELECT graph.apply_sync()")
            assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
            assert sorted(c.execute("SELECT pk FROM graph._nodes WHERE table_oid = %s::regclass",
                                    (f"{role}.t",)).fetchall()) == [("1",), ("3",)]
    finally:
        with connect(fresh_db) as c:
            c.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
            c.execute("DROP SCHEMA IF EXISTS graph CASCADE")
            c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


