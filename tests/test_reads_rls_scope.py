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
