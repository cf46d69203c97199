"""A graph_admin member's reads of source rows (hydrate, search, an export's
label_property) run the table's row-level security policies as the admin: graphsync
refuses a table whose policy calls another role's function (tests/test_abuse.py). The
policy can reach another role's code without calling it: through a relation it reads
(that relation's own policy, a view's functions) or a domain it casts to (its CHECK).
Found in review: each ran the owner's ab.allowed as the admin. Now each is refused
(42501) before the table is read; a policy reaching only what a superuser owns still
reads."""

import contextlib

import psycopg
import pytest

from conftest import as_role, connect
from test_abuse import ADMIN, OWNER, READER, foreign_calls, policy_runners, world  # noqa: F401

OWNER_OBJECTS = f"""
CREATE VIEW ab.reach_view AS SELECT ab.allowed('blue') AS ok;
CREATE TABLE ab.reach_plain (id int PRIMARY KEY);
INSERT INTO ab.reach_plain VALUES (1), (2);
CREATE DOMAIN ab.reach_domain AS text CHECK (ab.allowed('blue'));
GRANT SELECT ON ab.reach_view, ab.reach_plain TO {ADMIN}, {READER};
"""
SUPERUSER_OBJECTS = f"""
CREATE TABLE spy_ab.reach_trusted (id int PRIMARY KEY);
INSERT INTO spy_ab.reach_trusted VALUES (1), (2);
GRANT SELECT ON spy_ab.reach_trusted TO {ADMIN}, {READER};
"""

# (policy on ab.open, what the refusal names); each reaches ab.allowed but for the last
REACHING = {
    "a table whose policy calls it": ("doc IN (SELECT d.id FROM ab.docs AS d) OR doc IS NULL",
                                      "reads relation ab.docs of role " + OWNER),
    "a view calling it": ("EXISTS (SELECT FROM ab.reach_view AS v WHERE v.ok)",
                          "reads relation ab.reach_view of role " + OWNER),
    "a domain whose CHECK calls it": ("(name)::ab.reach_domain IS NOT NULL",
                                      "casts to domain ab.reach_domain of role " + OWNER),
    "another role's plain table": ("id IN (SELECT p.id FROM ab.reach_plain AS p)",
                                   "reads relation ab.reach_plain of role " + OWNER),
}
READS = ("SELECT node_id, node FROM graph.traverse('ab.open', '2', max_depth => 0, hydrate => true)",
         "SELECT node_id FROM graph.search('name', 'open', mode => 'prefix')",
         "SELECT graph.export_dot('ab.open', '2', max_depth => 0, label_property => 'name')")


@pytest.fixture(scope="module")
def reach(world):  # noqa: F811
    with connect(world) as c:
        c.execute(SUPERUSER_OBJECTS)
    with as_role(world, OWNER) as o:
        o.execute(OWNER_OBJECTS)
        o.execute("ALTER TABLE ab.open ENABLE ROW LEVEL SECURITY")
    yield world
    with as_role(world, OWNER) as o:
        o.execute("ALTER TABLE ab.open DISABLE ROW LEVEL SECURITY")
        o.execute("DROP VIEW ab.reach_view; DROP TABLE ab.reach_plain; DROP DOMAIN ab.reach_domain")
    with connect(world) as c:
        c.execute("DROP TABLE spy_ab.reach_trusted")


@contextlib.contextmanager
def owner_policy(dsn, name, using):
    """The owner's policy ``name`` on ab.open (``using``), the spy's records cleared,
    for the duration."""
    with as_role(dsn, OWNER) as o:
        o.execute(f"CREATE POLICY {name} ON ab.open USING ({using})")
    with connect(dsn) as c:
        c.execute("DELETE FROM spy_ab.calls")
    try:
        yield using
    finally:
        with as_role(dsn, OWNER) as o:
            o.execute(f"DROP POLICY {name} ON ab.open")


def assert_admin_refused(dsn, read, named):
    """The admin's ``read`` is refused (42501) naming ``named``, and ran no policy."""
    with as_role(dsn, ADMIN) as a:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            a.execute(read).fetchall()
    assert named in str(e.value)
    with connect(dsn) as c:
        assert ADMIN not in policy_runners(c)


@pytest.fixture
def policy(reach, request):
    with owner_policy(reach, "reach", request.param) as using:
        yield using


@pytest.mark.parametrize("policy", [p for p, _ in REACHING.values()], indirect=True, ids=list(REACHING))
def test_the_plant_runs_the_owners_code_as_an_admin_who_selects(reach, policy):
    """The trap works: the admin's own SELECT of ab.open runs ab.allowed as the admin
    (but for the plain table, which reaches no code: the control of the rule's reach)."""
    with connect(reach) as c:
        before = foreign_calls(c)
    with as_role(reach, ADMIN) as a:
        a.execute("SELECT * FROM ab.open").fetchall()
    with connect(reach) as c:
        assert (foreign_calls(c) > before) == ("reach_plain" not in policy)


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize(("policy", "named"), list(REACHING.values()), ids=list(REACHING),
                         indirect=["policy"])
def test_an_admin_is_refused_a_table_whose_policy_reaches_another_roles_code(reach, policy, named, read):
    assert_admin_refused(reach, read, "policy reach of ab.open " + named)


@pytest.mark.parametrize("policy", ["id IN (SELECT t.id FROM spy_ab.reach_trusted AS t)"], indirect=True)
def test_a_policy_reaching_only_a_superusers_table_still_reads(reach, policy):
    with as_role(reach, ADMIN) as a:
        rows = a.execute(READS[0]).fetchall()
    assert [(r[0], r[1]["name"]) for r in rows] == [("2", "open 2")]


@pytest.mark.parametrize("policy", [REACHING["a table whose policy calls it"][0]], indirect=True)
def test_a_reader_reads_as_its_own_select_would(reach, policy):
    """A reader outside graph_admin runs the policy as its own SELECT would: its read
    is not refused, and answers what that SELECT shows (ab.docs' policy shows it the
    blue docs; open 2 has no doc)."""
    with as_role(reach, READER) as r:
        rows = r.execute(READS[0]).fetchall()
        assert [(x[0], x[1]["name"]) for x in rows] == [("2", "open 2")]
        assert r.execute("SELECT count(*) FROM ab.open").fetchone() == (2,)
