"""What graph._nodes' row policy keeps of a source table's visible keys is kept for
one query (or one graphsync read), not for the whole top-level statement
(reads/statement_cache.py: epochs). The queries of one statement share its
snapshot text and start, and an answer kept for the statement gave a second query
by the same role the first one's rows, whatever changed between them: here, a
setting the source's policy reads. An application role's SECURITY DEFINER
functions that set that setting for their caller (a common multi-tenant pattern)
were then a way for any caller to see another tenant's rows: call the function that
reads under the other tenant's setting first (it returns a harmless count), then,
in the same statement, the one that returns the caller's own tenant's nodes -- it
returned the other tenant's.

Real roles, real connections: APP owns the functions and may SELECT the table
(under its policy); ATTACKER has no privilege on the table at all."""

import uuid

import pytest
from psycopg import sql

from conftest import as_role, connect

SCHEMA = """
DROP SCHEMA IF EXISTS rvs CASCADE;
CREATE SCHEMA rvs;
CREATE TABLE rvs.people (ws int NOT NULL, id int PRIMARY KEY, name text NOT NULL);
INSERT INTO rvs.people VALUES (1, 1, 'ann'), (2, 2, 'bob');
SELECT graph.add_table('rvs.people', columns => '{name}');
SELECT graph.build();
ALTER TABLE rvs.people ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_setting ON rvs.people FOR SELECT USING (ws::text = current_setting('app.ws', true));
"""

# APP's definers: a count of any workspace's people (public statistics), and the
# names of the caller's own workspace's people (workspace 1 for every caller here;
# an application would look the session user up).
FUNCTIONS = """
CREATE FUNCTION rvs.people_in(ws text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.ws', ws, true);
    RETURN (SELECT count(*) FROM graph._nodes AS n WHERE n.table_oid = 'rvs.people'::regclass);
END $$;
CREATE FUNCTION rvs.my_people() RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.ws', '1', true);
    RETURN QUERY SELECT n.properties ->> 'name' FROM graph._nodes AS n
                 WHERE n.table_oid = 'rvs.people'::regclass;
END $$;
"""


@pytest.fixture
def roles(db):
    suffix = uuid.uuid4().hex[:8]
    app, attacker = "gs_rvs_app_" + suffix, "gs_rvs_att_" + suffix
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(attacker)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA rvs TO {}").format(sql.Identifier(app)))
        c.execute(sql.SQL("GRANT SELECT ON rvs.people TO {}").format(sql.Identifier(app)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA rvs TO {}").format(sql.Identifier(attacker)))
    with as_role(db, app) as a:
        a.execute(FUNCTIONS)
        a.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rvs TO {}").format(sql.Identifier(attacker)))
    try:
        yield app, attacker
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table('rvs.people', true)")
            c.execute("DROP SCHEMA rvs CASCADE")
            for r in (app, attacker):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


def test_a_second_read_in_one_statement_follows_the_setting_the_source_policy_reads(db, roles):
    app, attacker = roles
    with as_role(db, attacker) as a:
        assert not a.execute("SELECT has_table_privilege('rvs.people', 'SELECT')").fetchone()[0]
        # One statement each: what APP's functions mean to show.
        assert a.execute("SELECT rvs.people_in('2')").fetchone()[0] == 1
        assert {r[0] for r in a.execute("SELECT rvs.my_people()")} == {"ann"}
        # The same two calls in one statement (a function of the attacker's own, in pg_temp).
        a.execute("""
            CREATE FUNCTION pg_temp.both_in_one() RETURNS SETOF text LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM rvs.people_in('2');
                RETURN QUERY SELECT rvs.my_people();
            END $$""")
        got = {r[0] for r in a.execute("SELECT pg_temp.both_in_one()")}
        # SQL on the table itself, as APP under app.ws = '1', shows ann only.
        assert got == {"ann"}, "my_people() returned workspace 2's people to the attacker: %s" % sorted(got)


TABLE_RUNS = """
CREATE OR REPLACE FUNCTION pg_temp.table_runs() RETURNS int LANGUAGE plpython3u AS $$
import sys
policy = sys.modules.get("graphsync.reads.row_policy")
return policy.STATS["tables"] if policy else 0
$$
"""


def test_a_read_makes_a_secured_tables_statements_once(db, roles):
    """A read's START asks graph._nodes under an epoch of its own (it does not know
    yet the role it reads as), the read's later queries under the read's: what the
    policy makes of the table (its key statements, from the catalog: some hundreds
    of microseconds) is made once for the read's statement, not once per epoch."""
    app, _ = roles
    with connect(db) as a:
        a.execute(TABLE_RUNS)  # (plpython3u: created by the superuser, called as APP)
        a.execute("SELECT set_config('app.ws', '1', false)")
        a.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app)))
        read = "SELECT node_id FROM graph.traverse('rvs.people', '1', max_depth => 1)"
        assert [r[0] for r in a.execute(read)] == ["1"]
        before = a.execute("SELECT pg_temp.table_runs()").fetchone()[0]
        assert [r[0] for r in a.execute(read)] == ["1"]
        assert a.execute("SELECT pg_temp.table_runs()").fetchone()[0] - before == 1


def test_what_a_statement_keeps_of_a_table_asks_the_callers_settings_again(db, roles):
    """What the policy keeps of a table for a statement is the catalog's text; what
    it says of the caller (its output settings, under which the policy renders a
    row's key to compare it with the node's) is asked again by each query: a
    bytea_output set between two queries of one statement still finds the row of
    a bytea key (a setting that changes how the statement's start is rendered,
    DateStyle or TimeZone, makes the second query another statement's anyway)."""
    app, _ = roles
    with connect(db) as c:
        c.execute("""
            CREATE TABLE rvs.visits (at bytea PRIMARY KEY, ws int NOT NULL);
            INSERT INTO rvs.visits VALUES ('\\x41', 1);  -- (the byte 'A')
            SELECT graph.add_table('rvs.visits');
            SELECT graph.build();
            ALTER TABLE rvs.visits ENABLE ROW LEVEL SECURITY;
            CREATE POLICY by_setting ON rvs.visits FOR SELECT USING (ws::text = current_setting('app.ws', true));""")
        c.execute(sql.SQL("GRANT SELECT ON rvs.visits TO {}").format(sql.Identifier(app)))
    count = "(SELECT count(*) FROM graph._nodes AS n WHERE n.table_oid = 'rvs.visits'::regclass)"
    try:
        with as_role(db, app) as a:
            a.execute("SELECT set_config('app.ws', '1', false)")
            # the settings capture renders under, so that the first query needs no pinning
            a.execute("SET datestyle = 'ISO, YMD'; SET timezone = 'UTC'; SET intervalstyle = 'postgres';"
                      " SET extra_float_digits = 3; SET bytea_output = 'hex'")
            got = a.execute(f"SELECT {count}, set_config('bytea_output', 'escape', false), {count}").fetchone()
            assert (got[0], got[2]) == (1, 1), got
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table('rvs.visits', true)")


# A secured table and a secured join table with a label column, owned by OWNER,
# who archives them by name (a SECURITY DEFINER function anyone may call); READER
# may SELECT both and sees its own rows only, and may create tables in the schema.
RENAMED = """
DROP SCHEMA IF EXISTS rvr CASCADE;
CREATE SCHEMA rvr;
CREATE TABLE rvr.people (member name NOT NULL, id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rvr.links (member name NOT NULL, id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL,
                        kind text NOT NULL);
CREATE INDEX ON rvr.links (src);
CREATE INDEX ON rvr.links (dst);
CREATE INDEX ON rvr.links (kind);
INSERT INTO rvr.people VALUES (:'reader', 1, 'ann'), ('nobody', 2, 'bob');
-- 'secret' past the first pages the label policy reads (label_policy.FIRST_PAGES)
INSERT INTO rvr.links VALUES (:'reader', 1, 1, 1, 'mine');
INSERT INTO rvr.links SELECT 'nobody', g, 2, 2, 'filler' FROM generate_series(3, 3000) AS g;
INSERT INTO rvr.links VALUES ('nobody', 2, 2, 2, 'secret');
SELECT graph.add_table('rvr.people', columns => '{name}');
SELECT graph.add_edge('rvr.people', 'src', 'rvr.people', to_column => 'dst', via_table => 'rvr.links',
                      label_column => 'kind');
SELECT graph.build();
"""

ARCHIVE = """
ALTER TABLE rvr.people ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON rvr.people FOR SELECT USING (member = current_user);
ALTER TABLE rvr.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON rvr.links FOR SELECT USING (member = current_user);
CREATE FUNCTION rvr.archive() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ALTER TABLE rvr.people RENAME TO people_archived;
    ALTER TABLE rvr.links RENAME TO links_archived;
END $$;
"""


@pytest.fixture
def archived(db):
    suffix = uuid.uuid4().hex[:8]
    owner, reader = "gs_rvr_own_" + suffix, "gs_rvr_rd_" + suffix
    with connect(db) as c:
        for r in (owner, reader):
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r)))
        c.execute(RENAMED.replace(":'reader'", sql.Literal(reader).as_string(c)))
        c.execute(sql.SQL("ALTER TABLE rvr.people OWNER TO {0}; ALTER TABLE rvr.links OWNER TO {0}")
                  .format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA rvr TO {}, {}").format(sql.Identifier(owner),
                                                                                sql.Identifier(reader)))
    with as_role(db, owner) as o:
        o.execute(ARCHIVE)
        o.execute(sql.SQL("GRANT SELECT ON rvr.people, rvr.links TO {}").format(sql.Identifier(reader)))
    try:
        yield reader
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_edge('rvr.people', 'src', 'rvr.people', via_table => 'rvr.links')")
            c.execute("SELECT graph.remove_table('rvr.people', true)")
            c.execute("DROP SCHEMA rvr CASCADE")
            for r in (owner, reader):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(r)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(r)))


# One query read a row at a time (a cursor), the owner's archive() called between
# two of its rows; the reader's own table, made before the query began, then takes
# the secured table's name. %s: the query, one row per value of v.k, '1' then '2'
# (a nested loop, so that the policy asks about the second row after the call).
BETWEEN_ROWS = """
CREATE FUNCTION pg_temp.between_rows() RETURNS SETOF text LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off AS $$
DECLARE
    c refcursor;
    r record;
BEGIN
    OPEN c FOR %s;
    FETCH c INTO r;
    RETURN NEXT r.seen;
    PERFORM rvr.archive();
    ALTER TABLE rvr.mine RENAME TO %s;
    LOOP
        FETCH c INTO r;
        EXIT WHEN NOT FOUND;
        RETURN NEXT r.seen;
    END LOOP;
END $$
"""


def between_rows(c, query, mine, renamed):
    """The rows ``query`` shows when rvr.archive() runs between its two rows and the
    reader's table ``mine`` (CREATE TABLE rvr.mine ...) is renamed to ``renamed``;
    rolled back."""
    c.execute("BEGIN")
    try:
        c.execute(mine)
        c.execute(BETWEEN_ROWS % (query, renamed))
        return sorted(r[0] for r in c.execute("SELECT pg_temp.between_rows()"))
    finally:
        c.execute("ROLLBACK")


def test_a_node_is_never_asked_of_a_table_that_took_its_tables_name(db, archived):
    """graph._nodes' policy keeps, for a query, the statements that read a secured
    table's keys, which name the table (schema and name). Within one query a table
    owner's SECURITY DEFINER function may rename the table between two rows the
    policy asks about, and the reader rename a table of its own to the freed name:
    the kept statements read the reader's table, and a node whose row the reader
    cannot see showed, with its properties. They now read no row unless the name
    still means the registered table."""
    reader = archived
    query = ("SELECT n.properties ->> 'name' AS seen FROM (VALUES (1, '1'), (2, '2')) AS v (o, k)"
             " CROSS JOIN LATERAL (SELECT * FROM graph._nodes AS m WHERE m.table_oid = "
             "'rvr.people'::regclass AND m.pk = v.k OFFSET 0) AS n")
    with as_role(db, reader) as r:
        assert [x[0] for x in r.execute("SELECT properties ->> 'name' FROM graph._nodes")] == ["ann"]
        got = between_rows(r, query, "CREATE TABLE rvr.mine (id int PRIMARY KEY); INSERT INTO rvr.mine VALUES (1), (2)",
                           "people")
        assert got == ["ann"], "the reader saw the node of a row it cannot see: %s" % got


@pytest.mark.parametrize("indexed", [True, False], ids=["probed", "read_by_pages"])
def test_a_label_is_never_asked_of_a_table_that_took_its_tables_name(db, archived, indexed):
    """graph._labels' policy keeps, for a query, the statements that read a secured
    label column (by the table's name), as graph._nodes' does: renamed within the
    query and replaced by the reader's table of that name, the label only a hidden
    row holds showed (asked through the column's index, or read a range of pages at
    a time). Now no row is read unless the name still means the table."""
    reader = archived
    if not indexed:
        with connect(db) as c:
            c.execute("DROP INDEX rvr.links_kind_idx")
    query = ("SELECT l.label AS seen FROM (VALUES (1, 'mine'), (2, 'secret')) AS v (o, k)"
             " CROSS JOIN LATERAL (SELECT * FROM graph._labels AS m WHERE m.label = v.k OFFSET 0) AS l")
    with as_role(db, reader) as r:
        labels = {x[0] for x in r.execute("SELECT label FROM graph._labels")}
        assert "mine" in labels and "secret" not in labels, labels
        # (the reader's 'secret' past as many pages: the policy reads on from where it stopped)
        got = between_rows(r, query, "CREATE TABLE rvr.mine (kind text);"
                           " INSERT INTO rvr.mine SELECT 'pad' FROM generate_series(1, 3000);"
                           " INSERT INTO rvr.mine VALUES ('secret')", "links")
        assert got == ["mine"], "the reader saw a label only a row it cannot see holds: %s" % got


def test_what_a_statement_keeps_of_a_table_never_reads_a_table_that_took_its_name(db, archived):
    """What graph._nodes' policy keeps of a table for a whole statement (its key
    statements, whatever the query's epoch) named the table as it was when the
    statement's first query asked: the owner's archive() between two queries of one
    statement, and a table of the reader's own renamed to the freed name, and the
    second query read the reader's table. Here the session's schema changes are
    followed (its session user is a graph_admin member, running as the reader; a
    change another session follows badly ends the statement's snapshot anyway)."""
    reader = archived
    admin = "gs_rvr_adm_" + uuid.uuid4().hex[:8]
    with connect(db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(admin)))
        c.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(reader), sql.Identifier(admin)))
    try:
        with as_role(db, admin) as r:
            r.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(reader)))
            r.execute("""
                CREATE FUNCTION pg_temp.two_queries() RETURNS SETOF text LANGUAGE plpgsql AS $$
                DECLARE
                    people oid := 'rvr.people'::regclass;
                BEGIN
                    PERFORM count(*) FROM graph._nodes AS n WHERE n.table_oid = people;
                    PERFORM rvr.archive();
                    ALTER TABLE rvr.mine RENAME TO people;
                    RETURN QUERY SELECT n.properties ->> 'name' FROM graph._nodes AS n WHERE n.table_oid = people;
                END $$""")
            r.execute("BEGIN")
            try:
                r.execute("CREATE TABLE rvr.mine (id int PRIMARY KEY); INSERT INTO rvr.mine VALUES (1), (2)")
                got = sorted(x[0] for x in r.execute("SELECT pg_temp.two_queries()"))
            finally:
                r.execute("ROLLBACK")
        assert got == ["ann"], "the reader saw the node of a row it cannot see: %s" % got
    finally:
        with connect(db) as c:
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(admin)))
