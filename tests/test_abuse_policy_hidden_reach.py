"""A graph_admin member's reads of source rows (hydrate, search, an export's
label_property) refuse a table whose row-level security policy reaches another role's
code through what pg_depend records of the policy: a function it calls, a relation it
reads, a domain it casts to (tests/test_abuse_policy_reach.py). A policy reaches such
code without pg_depend naming it, too: a built-in function that runs SQL given as text
(query_to_xml, ts_stat, ts_rewrite) or reads a relation named at run time (table_to_xml),
a setting it sets (set_config of search_path: graphsync's next statement in the read
named the owner's operator), or a cast to a type that holds the owner's domain (an array of it, a composite with a
column of it), whose CHECK the cast's input function runs. Found in review: each ran the
owner's ab.allowed as the admin. Now each is refused (42501) before the table is read."""

import psycopg
import pytest

from conftest import as_role, connect
from test_abuse import ADMIN, OWNER, READER, foreign_calls, policy_runners, world  # noqa: F401
from test_abuse_policy_reach import READS, assert_admin_refused, owner_policy

OWNER_OBJECTS = f"""
CREATE VIEW ab.hide_view AS SELECT ab.allowed('blue') AS ok;
CREATE DOMAIN ab.hide_domain AS text CHECK (ab.allowed('blue'));
CREATE TYPE ab.hide_row AS (d ab.hide_domain);
CREATE TYPE ab.hide_outer AS (r ab.hide_row);
CREATE TYPE ab.hide_mood AS ENUM ('open 1', 'open 2');
CREATE FUNCTION ab.hide_eq("char", "char") RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM ab.allowed('blue'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR ab.= (LEFTARG = "char", RIGHTARG = "char", FUNCTION = ab.hide_eq);
CREATE TABLE ab.second (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO ab.second VALUES (1, 'open second');
GRANT SELECT, TRIGGER ON ab.second TO {ADMIN};
GRANT SELECT ON ab.hide_view TO {ADMIN}, {READER};
"""

RUNTIME = "calls, to run SQL, read relations or set settings it is given at run time, function "
# (policy on ab.open, what the refusal names); each reaches ab.allowed
REACHING = {
    "query_to_xml": ("pg_catalog.query_to_xml('SELECT ab.allowed(''blue'')', false, false, '') IS NOT NULL",
                     RUNTIME + "query_to_xml("),
    "ts_stat": ("EXISTS (SELECT FROM pg_catalog.ts_stat('SELECT pg_catalog.to_tsvector(ab.allowed(''blue'')::text)'))",
                RUNTIME + "ts_stat("),
    "ts_rewrite": ("pg_catalog.ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery"
                   " WHERE ab.allowed(''blue'')') IS NOT NULL",
                   RUNTIME + "ts_rewrite("),
    "table_to_xml of a name": ("pg_catalog.table_to_xml(pg_catalog.concat('ab.hide_', 'view')::regclass,"
                               " false, false, '') IS NOT NULL",
                               RUNTIME + "table_to_xml("),
    "an array of the domain": ("pg_catalog.concat('{', name, '}')::ab.hide_domain[] IS NOT NULL",
                               "casts to domain ab.hide_domain of role " + OWNER),
    "a composite holding the domain": ("pg_catalog.concat('(\"(', id, ')\")')::ab.hide_outer IS NOT NULL",
                                       "casts to domain ab.hide_domain of role " + OWNER),
}


@pytest.fixture(scope="module")
def hide(world):  # noqa: F811
    with as_role(world, OWNER) as o:
        o.execute(OWNER_OBJECTS)
        o.execute("ALTER TABLE ab.open ENABLE ROW LEVEL SECURITY")
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.second', columns => '{name}'); SELECT graph.build()")
    yield world
    with connect(world) as c:
        c.execute("SELECT graph.remove_table('ab.second', cascade => true)")
    with as_role(world, OWNER) as o:
        o.execute("ALTER TABLE ab.open DISABLE ROW LEVEL SECURITY")
        o.execute("DROP TABLE ab.second; DROP OPERATOR ab.= (\"char\", \"char\"); DROP FUNCTION ab.hide_eq;"
                  " DROP VIEW ab.hide_view; DROP TYPE ab.hide_outer, ab.hide_row, ab.hide_mood;"
                  " DROP DOMAIN ab.hide_domain")


@pytest.fixture
def policy(hide, request):
    with owner_policy(hide, "hide", request.param) as using:
        yield using


@pytest.mark.parametrize("policy", [p for p, _ in REACHING.values()], indirect=True, ids=list(REACHING))
def test_the_plant_runs_the_owners_code_as_an_admin_who_selects(hide, policy):
    """The trap works: the admin's own SELECT of ab.open runs ab.allowed as the admin."""
    with connect(hide) as c:
        before = foreign_calls(c)
    with as_role(hide, ADMIN) as a:
        a.execute("SELECT * FROM ab.open").fetchall()
    with connect(hide) as c:
        assert foreign_calls(c) > before


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize(("policy", "named"), list(REACHING.values()), ids=list(REACHING),
                         indirect=["policy"])
def test_an_admin_is_refused_a_policy_reaching_code_pg_depend_does_not_name(hide, policy, named, read):
    assert_admin_refused(hide, read, "policy hide of ab.open " + named)


@pytest.mark.parametrize("policy", ["name::ab.hide_mood IS NOT NULL"], indirect=True)
def test_a_policy_casting_to_an_owners_enum_still_reads(hide, policy):
    with as_role(hide, ADMIN) as a:
        rows = a.execute(READS[0]).fetchall()
    assert [(r[0], r[1]["name"]) for r in rows] == [("2", "open 2")]


SET_PATH = "pg_catalog.set_config('search_path', 'ab, pg_catalog, pg_temp', true) IS NOT NULL"


@pytest.mark.parametrize("policy", [SET_PATH], indirect=True)
def test_an_admin_is_refused_a_policy_setting_the_search_path(hide, policy):
    """The policy sets the search path for the rest of the read (a function's SET clause
    is undone only when it returns): the search's next statements, for ab.second (made
    after ab.open), named ab.= for "char", which ran ab.allowed as the admin."""
    assert_admin_refused(hide, READS[1], "policy hide of ab.open " + RUNTIME + "set_config(")


NOTIFY = ("(SELECT true FROM (SELECT pg_catalog.pg_notify('hide_leak',"
          " pg_catalog.current_setting('app.hide_secret', true))) AS s)")


@pytest.mark.parametrize("policy", [NOTIFY], indirect=True)
def test_an_admin_is_refused_a_policy_that_notifies_what_it_reads(hide, policy):
    """pg_notify runs no code, but sends what the policy read with the reader's rights
    (a setting of the admin's session here; a file or any value it may read) to the
    owner, who listens: the admin's own SELECT sends it; graphsync's reads refuse."""
    with as_role(hide, OWNER) as o:
        o.execute("LISTEN hide_leak")
        with as_role(hide, ADMIN) as a:
            a.execute("SET app.hide_secret = 'admin secret'")
            a.execute("SELECT * FROM ab.open").fetchall()  # the trap works
            for read in READS:
                with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
                    a.execute(read).fetchall()
                assert "policy hide of ab.open calls, to send the reader's values to other sessions, function" \
                    " pg_notify(" in str(e.value)
        o.execute("SELECT 1")
        payloads = [n.payload for n in o.notifies(timeout=0.5, stop_after=10)]
    assert payloads == ["admin secret"]  # the admin's own SELECT, and none of graphsync's reads
