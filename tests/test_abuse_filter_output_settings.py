"""A session's output settings never change what a registered row filter means.

A row filter is stored as PostgreSQL deparses it (graph._check_filter), and the
deparser writes each constant by its type's output function, in the session's
settings: a date under DateStyle 'SQL, DMY' as '02/01/2020', a float under
extra_float_digits -15 with 1 significant digit. Capture, build and verify read the
stored text under graphsync's own settings (DateStyle 'ISO, YMD', extra_float_digits
3: graph._output_settings), where '02/01/2020' is no date and '1' is not 1.25. Any
role may SET them. A graph_admin member whose session had them so registered
``d >= '2020-01-02' AND f > 1.25`` and got ``(d >= '02/01/2020'::date) AND (f >
'1'::double precision)``; and the schema-change follower deparses the registered
filter again in the DDL's own session, so the table's owner (no admin) who renamed a
filter column under those settings rewrote the admin's filter so. Either way the
filter no longer parsed (no row passed it: the table's nodes left the graph at the
next build) or kept rows it was registered to leave out (both seen failing). The
deparse now runs under graphsync's output settings; the filter is still read in the
caller's (a date the admin writes means what its session says).

The same held for array_nulls, which changes how a constant is read, not written:
under array_nulls off the array literal '{a,NULL}' holds the string 'NULL', not a
NULL. The owner's rename under it re-read the admin's stored ``tag = ANY
('{a,NULL}'::text[])`` so and stored ``'{a,"NULL"}'``, and a writer's session under
it had capture (which evaluates the stored text in the writer's session) pass a row
whose tag is the string 'NULL', which build and verify leave out (both seen
failing). graph._check_filter and graph._output_settings() now pin array_nulls on.

Real roles: OWNER owns os.items (no admin); ADMIN is a graph_admin member, no
superuser.
"""

import pytest

from conftest import apply, as_role, connect, verify

OWNER, ADMIN = "gs_os_owner", "gs_os_admin"
FILTER = "d >= '2020-01-02'::date AND f > '1.25'::float8"
STORED = "((d >= '2020-01-02'::date) AND (f > '1.25'::double precision))"
SESSION = "SET datestyle = 'SQL, DMY'; SET extra_float_digits = -15; SET intervalstyle = 'sql_standard'"
# id: (d, f): 1 and 4 pass, 2 is too early, 3 too small (passes f > 1)
ROWS = "(1, '2020-01-15', 1.5), (2, '2020-01-01', 1.5), (3, '2020-03-01', 1.1), (4, '2020-01-02', 2.0)"
# a NULL among the array's elements: a tag 'NULL' (the string) does not pass
TAG_FILTER = "coalesce(tag = ANY ('{a,NULL}'::text[]), false)"
TAG_ROWS = "(1, 'a'), (2, 'NULL'), (3, 'b')"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for r in (OWNER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {r}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE SCHEMA os AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        for t in ("by_admin", "renamed"):
            o.execute(f"CREATE TABLE os.{t} (id int PRIMARY KEY, d date NOT NULL, f float8 NOT NULL)")
            o.execute(f"INSERT INTO os.{t} VALUES {ROWS}")
        for t in ("nulls_renamed", "nulls_written"):
            o.execute(f"CREATE TABLE os.{t} (id int PRIMARY KEY, tag text)")
            o.execute(f"INSERT INTO os.{t} VALUES {TAG_ROWS}")
        o.execute(f"GRANT USAGE ON SCHEMA os TO {ADMIN}")
        o.execute(f"GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA os TO {ADMIN}")
    yield db
    with connect(db) as c:
        for t in ("by_admin", "renamed", "nulls_renamed", "nulls_written"):
            c.execute("SELECT graph.remove_table(t) FROM pg_catalog.to_regclass(%s) AS t"
                      " WHERE t IN (SELECT table_oid FROM graph._node_tables)", (f"os.{t}",))
        c.execute("DROP SCHEMA os CASCADE")
        for r in (OWNER, ADMIN):
            c.execute(f"DROP OWNED BY {r}")
            c.execute(f"DROP ROLE {r}")


def stored(c, table):
    return c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = %s::regclass",
                     (table,)).fetchone()[0]


def nodes(c, table):
    return sorted(int(r[0]) for r in c.execute(
        "SELECT pk FROM graph._nodes WHERE table_oid = %s::regclass AND alive", (table,)).fetchall())


def test_an_admins_session_settings_are_not_stored_in_its_filter(world):
    with as_role(world, ADMIN) as a:
        a.execute(SESSION)
        a.execute("SELECT graph.add_table('os.by_admin', columns => '{d,f}', row_filter => %s)", (FILTER,))
        a.execute("SELECT graph.build()")
    with connect(world) as c:
        assert stored(c, "os.by_admin") == STORED
        assert nodes(c, "os.by_admin") == [1, 4]
        with as_role(world, OWNER) as o:
            o.execute(SESSION)
            o.execute("INSERT INTO os.by_admin VALUES (5, '2021-06-01', 3.0), (6, '2021-06-01', 1.2)")
        apply(c)
        assert nodes(c, "os.by_admin") == [1, 4, 5]
        assert verify(c) == []


def test_an_owners_rename_in_its_session_settings_keeps_the_admins_filter(world):
    with as_role(world, ADMIN) as a:
        a.execute("SELECT graph.add_table('os.renamed', columns => '{d,f}', row_filter => %s)", (FILTER,))
        a.execute("SELECT graph.build()")
    with connect(world) as c:
        assert stored(c, "os.renamed") == STORED
        assert nodes(c, "os.renamed") == [1, 4]
    with as_role(world, OWNER) as o:
        o.execute(SESSION)
        o.execute("ALTER TABLE os.renamed RENAME COLUMN f TO g")
        o.execute("INSERT INTO os.renamed VALUES (5, '2021-06-01', 3.0), (6, '2021-06-01', 1.2)")
    with connect(world) as c:
        assert stored(c, "os.renamed") == STORED.replace("f >", "g >")
        apply(c)
        assert nodes(c, "os.renamed") == [1, 4, 5]
        c.execute("SELECT graph.build()")
        assert nodes(c, "os.renamed") == [1, 4, 5]
        assert verify(c) == []


def test_an_owners_rename_under_array_nulls_off_keeps_the_admins_filter(world):
    with as_role(world, ADMIN) as a:
        a.execute("SELECT graph.add_table('os.nulls_renamed', columns => '{tag}', row_filter => %s)", (TAG_FILTER,))
        a.execute("SELECT graph.build()")
    with connect(world) as c:
        registered = stored(c, "os.nulls_renamed")
        assert nodes(c, "os.nulls_renamed") == [1]
    with as_role(world, OWNER) as o:
        o.execute("SET array_nulls = off")
        o.execute("ALTER TABLE os.nulls_renamed RENAME COLUMN tag TO label")
    with connect(world) as c:
        assert stored(c, "os.nulls_renamed") == registered.replace("tag", "label")
        c.execute("SELECT graph.build()")
        assert nodes(c, "os.nulls_renamed") == [1]


def test_a_writers_array_nulls_off_does_not_change_what_capture_passes(world):
    with as_role(world, ADMIN) as a:
        a.execute("SELECT graph.add_table('os.nulls_written', columns => '{tag}', row_filter => %s)", (TAG_FILTER,))
        a.execute("SELECT graph.build()")
    with as_role(world, OWNER) as o:
        o.execute("SET array_nulls = off")
        o.execute("INSERT INTO os.nulls_written VALUES (4, 'NULL'), (5, 'a')")
    with connect(world) as c:
        apply(c)
        assert nodes(c, "os.nulls_written") == [1, 5]
        assert verify(c) == []
