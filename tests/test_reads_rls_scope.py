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
