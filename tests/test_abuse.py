"""The attacker's review of issue 8, made systematic: real roles try what the
README's threat model (Privileges) says they cannot do.

Roles (each logging in through its own connection):
- OWNER owns the source tables of schema ab, two of them with row-level security
  whose policy calls OWNER's own function (ab.allowed: it records who runs it and
  counts every run by a role other than OWNER and READER in spy_ab.foreign, a
  sequence, so a rolled-back run still counts);
- ADMIN is a graph_admin member, not a superuser, without BYPASSRLS;
- READER may SELECT the RLS tables (the policy shows it the 'blue' rows only) but
  not ab.vault; it is a NOINHERIT member of GROUP, which may SELECT ab.vault (so
  READER may SET ROLE to GROUP and read it, but does not hold GROUP's rights);
- OTHER and BYPASS (BYPASSRLS) may SELECT ab.vault; READER is a member of neither;
  NOSELECT may SELECT nothing; MALLORY owns a schema of its own.

What each test shows, by the brief's numbers:
1. graph._nodes' policy never runs an owner's policy code as an admin, graphsync's
   definer roles or a superuser; a reader sees no value of a row the source's
   policy hides through graph._nodes, graph._change_log, changed_nodes, search,
   traverse, the exports, sync_health or status.
2. a graph_admin member gets none of its code run through a row filter (its
   function, operator, cast, domain, temporary function), nor through registry
   rows it writes directly.
3. graph._source_nodes / _source_edges refuse a reader and read as their caller.
4. graph._pending_rows answers as the role running the call (current_user), a
   SECURITY DEFINER function of another role included; graph._read_sync honours
   as_role only for a role the session user may become.
5. the Python package loads only from graph._py_modules, whatever tables named
   like it a role plants on its search_path.
6. every SECURITY DEFINER function of schema graph has an explicit decision here.
7. a non-superuser admin does the admin tasks tests/test_admin_role.py leaves out.
Known gaps are strict xfails, each naming what it would take.
"""

import json

import psycopg
import pytest

from conftest import ROOT, apply, as_role, connect, verify
from test_reads_under_writes import START_STATS

OWNER, ADMIN, READER = "gs_ab_owner", "gs_ab_admin", "gs_ab_reader"
OTHER, BYPASS, NOSELECT, GROUP, MALLORY = "gs_ab_other", "gs_ab_bypass", "gs_ab_nosel", "gs_ab_group", "gs_ab_mal"
ROLES = (OWNER, ADMIN, READER, OTHER, BYPASS, NOSELECT, GROUP, MALLORY)
HIDDEN = "hidden"  # every value of a row the policy hides READER contains it

SETUP = f"""
CREATE ROLE {OWNER} LOGIN;
CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin;
CREATE ROLE {READER} LOGIN NOINHERIT;  -- may SET ROLE {GROUP}, holds none of its rights
CREATE ROLE {OTHER} LOGIN;
CREATE ROLE {BYPASS} LOGIN BYPASSRLS;
CREATE ROLE {NOSELECT} LOGIN;
CREATE ROLE {GROUP} NOLOGIN;
CREATE ROLE {MALLORY} LOGIN;
GRANT {GROUP} TO {READER};
CREATE SCHEMA spy_ab;
GRANT USAGE ON SCHEMA spy_ab TO PUBLIC;
CREATE TABLE spy_ab.calls (who name, sess name);
GRANT INSERT, SELECT ON spy_ab.calls TO PUBLIC;
CREATE SEQUENCE spy_ab.foreign;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE spy_ab.foreign TO PUBLIC;
CREATE SCHEMA ab AUTHORIZATION {OWNER};
CREATE SCHEMA adm AUTHORIZATION {ADMIN};
CREATE SCHEMA mal AUTHORIZATION {MALLORY};
"""

OWNER_SQL = f"""
CREATE FUNCTION ab.allowed(team text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spy_ab.calls VALUES (current_user, session_user);
    IF current_user OPERATOR(pg_catalog.<>) ALL (ARRAY['{OWNER}', '{READER}']::name[]) THEN
        PERFORM pg_catalog.nextval('spy_ab.foreign');
    END IF;
    RETURN team OPERATOR(pg_catalog.=) 'blue';
END $$;
CREATE TABLE ab.docs (id int PRIMARY KEY, team text NOT NULL, title text NOT NULL, ref int);
CREATE TABLE ab.links (id int PRIMARY KEY, team text NOT NULL, a int NOT NULL, b int NOT NULL, kind text NOT NULL);
CREATE TABLE ab.open (id int PRIMARY KEY, name text NOT NULL, doc int);
CREATE TABLE ab.vault (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO ab.docs VALUES (1, 'blue', 'blue title 1', 3), (2, 'red', '{HIDDEN} title 2', 4),
                           (3, 'blue', 'blue title 3', NULL), (4, 'red', '{HIDDEN} title 4', 2);
INSERT INTO ab.links VALUES (1, 'blue', 1, 3, 'blue kind'), (2, 'red', 2, 4, '{HIDDEN} kind 2');
INSERT INTO ab.open VALUES (1, 'open 1', 1), (2, 'open 2', NULL);
INSERT INTO ab.vault VALUES (1, 'vault note 1');
ALTER TABLE ab.docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ab.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_team ON ab.docs USING (ab.allowed(team));
CREATE POLICY by_team ON ab.links USING (ab.allowed(team));
GRANT USAGE ON SCHEMA ab TO PUBLIC;
GRANT SELECT ON ab.docs, ab.links, ab.open TO {READER};
GRANT SELECT, TRIGGER ON ab.docs, ab.links, ab.open TO {ADMIN};
GRANT SELECT ON ab.vault TO {OTHER}, {BYPASS}, {GROUP};
"""

REGISTER = """
SELECT graph.add_table('ab.docs', columns => '{title}', tenant_column => 'team');
SELECT graph.add_table('ab.open', columns => '{name}');
SELECT graph.add_table('ab.vault', columns => '{note}');
SELECT graph.add_edge('ab.docs', 'ref', 'ab.docs', label => 'ref');
SELECT graph.add_edge('ab.docs', 'a', 'ab.docs', to_column => 'b', via_table => 'ab.links', label_column => 'kind');
SELECT graph.add_edge('ab.open', 'doc', 'ab.docs', label => 'about');
SELECT graph.build();
"""


def foreign_calls(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM spy_ab.foreign").fetchone()[0]


def policy_runners(c):
    return {r[0] for r in c.execute("SELECT DISTINCT who::text FROM spy_ab.calls")}


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in ROLES:
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(SETUP)
    with as_role(db, OWNER) as o:
        o.execute(OWNER_SQL)
    with connect(db) as c:
        c.execute(REGISTER)
    yield db
    with connect(db) as c:
        for t in ("ab.open", "ab.docs", "ab.vault", "ab.links"):
            c.execute("SELECT graph.remove_table(t, cascade => true) FROM pg_catalog.to_regclass(%s) AS t"
                      " WHERE t IN (SELECT table_oid FROM graph._node_tables)", (t,))
        c.execute("DROP SCHEMA ab, adm, mal, spy_ab CASCADE")
        for role in ROLES:
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


# -- 1. graph._nodes' row-level security and the owner's policy code ------------

def _owner_writes(dsn, n):
    with as_role(dsn, OWNER) as o:
        o.execute("INSERT INTO ab.docs VALUES (%s, 'red', %s, 1)", (n, f"{HIDDEN} title {n}"))
        o.execute("UPDATE ab.docs SET title = %s WHERE id = 2", (f"{HIDDEN} title 2 v{n}",))
        o.execute("INSERT INTO ab.links VALUES (%s, 'red', %s, 2, %s)", (n, n, f"{HIDDEN} kind {n}"))
        o.execute("INSERT INTO ab.open VALUES (%s, 'open', %s)", (n, n))


def test_the_owners_policy_is_a_working_trap(world):
    """The plant works: a role the policy applies to runs ab.allowed as itself."""
    with connect(world) as c:
        before = foreign_calls(c)
        c.execute(f"SET ROLE {ADMIN}")
        assert c.execute("SELECT count(*) FROM ab.docs").fetchone() == (2,)
        c.execute("RESET ROLE")
        assert foreign_calls(c) > before
        assert ADMIN in policy_runners(c)
        c.execute("DELETE FROM spy_ab.calls")


def test_an_owners_policy_never_runs_as_an_admin_graphsyncs_roles_or_a_superuser(world):
    """Whatever graphsync does for an admin (graph._nodes' policy lets graph_admin
    members, graphsync's definer roles among them, see every node without asking
    graph._visible_rows), for a superuser, and for a reader's read that applies
    pending rows (as graph_sync), the owner's policy function runs as nobody but the
    owner and the reader. Without the first branch of graph._nodes' policy, ADMIN's
    and graph_sync's reads of graph._nodes would run it."""
    with connect(world) as c:
        before = foreign_calls(c)
        c.execute("DELETE FROM spy_ab.calls")
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    _owner_writes(world, 100)
    with as_role(world, READER) as r:  # applies the pending rows first, as graph_sync
        r.execute("SELECT * FROM graph.traverse('ab.open', '1', direction => 'any')").fetchall()
    with connect(world) as c:
        assert c.execute("SELECT committed_rows FROM graph._read_sync(false)").fetchone() == (0,)
    _owner_writes(world, 101)
    with as_role(world, ADMIN) as a:
        assert a.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
                         ).fetchone() == (False,)
        apply(a)
        assert a.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass AND alive"
                         ).fetchone()[0] == 6
        a.execute("SELECT * FROM graph._nodes WHERE pk = '2'").fetchall()
        a.execute("SELECT * FROM graph._change_log").fetchall()
        a.execute("SELECT * FROM graph.changed_nodes(0)").fetchall()
        a.execute("SELECT * FROM graph._node_changes(0, 1000000)").fetchall()
        a.execute("SELECT * FROM graph.sync_health()").fetchall()
        a.execute("SELECT * FROM graph.status()").fetchall()
        # A source read refuses rather than filters (tests/test_rls_sources.py): no policy runs.
        # verify() checks per table: such a table is named as not checked, with the refusal.
        failed = a.execute("SELECT table_name, detail FROM graph.verify() WHERE difference = 'check_failed'"
                           ).fetchall()
        # (ab.vault: the admin may not SELECT it at all)
        failed = dict(failed)
        assert set(failed) == {"ab.docs", "ab.links", "ab.vault"}, failed
        assert all(d["sqlstate"] == "42501" for d in failed.values()), failed
        assert all("row-level security" in failed[t]["message"] for t in ("ab.docs", "ab.links")), failed
        # (refused for ab.docs' row-level security, or for ab.vault, which the admin may
        # not SELECT: graph._source_name refuses a privileged caller such a table first)
        for sql in ("SELECT * FROM graph.dangling_references()", "SELECT * FROM graph.duplicate_edges()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege,
                               match="row-level security|permission denied for table ab.vault"):
                a.execute(sql)
    _owner_writes(world, 102)
    with connect(world) as su:
        su.execute("SET graph.verify_interval = '0'")
        apply(su)
        su.execute("SELECT graph.build()")
        assert verify(su) == []
        su.execute("SELECT * FROM graph.vacuum()").fetchall()
        su.execute("SELECT * FROM graph.reconcile()").fetchall()
        su.execute("SELECT * FROM graph.retry_failed()").fetchall()
        su.execute("SELECT * FROM graph.traverse('ab.docs', '1', direction => 'any', hydrate => true)").fetchall()
        su.execute("SELECT * FROM graph.search('title', 'hidden', mode => 'prefix')").fetchall()
        su.execute("SELECT graph.export_graphml('ab.docs', '2', direction => 'any', label_property => 'title')")
        su.execute("SELECT * FROM graph._nodes").fetchall()
    with connect(world) as c:
        assert foreign_calls(c) == before, c.execute("SELECT who, sess, count(*) FROM spy_ab.calls"
                                                     " GROUP BY 1, 2").fetchall()
        assert policy_runners(c) <= {OWNER, READER}


def test_a_reader_asking_about_rows_key_by_key_runs_no_owners_key_type_code(world):
    """graph._nodes' policy asks a secured table about a few keys one at a time
    (reads/row_policy.py), comparing the key column with the key cast to the
    column's base type. The owner's key column is a domain whose CHECK is the
    owner's function, with the owner's own = operator beside it in the owner's
    schema, which the reader puts first on its search_path: a reader's traversal,
    path and look at graph._nodes run none of it (the probe casts to the domain's
    base type, pinned search_path), and an admin's run none of it either."""
    with as_role(world, OWNER) as o:
        o.execute("CREATE FUNCTION ab.key_ok(k int) RETURNS boolean LANGUAGE plpgsql AS $$"
                  " BEGIN INSERT INTO spy_ab.calls VALUES (current_user, 'key type'); RETURN true; END $$")
        o.execute("CREATE DOMAIN ab.doc_key AS int CHECK (ab.key_ok(VALUE))")
        o.execute("CREATE FUNCTION ab.key_eq(ab.doc_key, int) RETURNS boolean LANGUAGE plpgsql AS $$"
                  " BEGIN INSERT INTO spy_ab.calls VALUES (current_user, 'key operator');"
                  " RETURN $1::int OPERATOR(pg_catalog.=) $2; END $$")
        o.execute("CREATE OPERATOR ab.= (LEFTARG = ab.doc_key, RIGHTARG = int, FUNCTION = ab.key_eq)")
        o.execute("CREATE TABLE ab.keyed (id ab.doc_key PRIMARY KEY, team text NOT NULL, doc int)")
        o.execute("INSERT INTO ab.keyed VALUES (1, 'blue', 1), (2, 'red', 2), (3, 'blue', 3)")
        o.execute("ALTER TABLE ab.keyed ENABLE ROW LEVEL SECURITY")
        o.execute("CREATE POLICY by_team ON ab.keyed USING (ab.allowed(team))")
        o.execute(f"GRANT SELECT ON ab.keyed TO {READER}, {ADMIN}")
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.keyed')")
        c.execute("SELECT graph.add_edge('ab.keyed', 'doc', 'ab.docs', label => 'keyed')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM spy_ab.calls")
    try:
        with as_role(world, READER) as r:
            r.execute("SET search_path = ab, public")
            got = {(str(t), i) for t, i in r.execute(
                "SELECT pg_catalog.format('%s.%s', n.nspname, c.relname), x.node_id"
                " FROM graph.traverse('ab.keyed', '1', direction => 'any', max_depth => 2) AS x"
                " JOIN pg_catalog.pg_class AS c ON c.oid = x.node_table"
                " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace")}
            assert {("ab.keyed", "1"), ("ab.docs", "1")} <= got and ("ab.keyed", "2") not in got
            assert r.execute("SELECT count(*) FROM graph.traverse('ab.keyed', '2')").fetchone() == (0,)
            r.execute("SELECT * FROM graph.shortest_path('ab.keyed', '1', 'ab.docs', '3', direction => 'any')"
                      ).fetchall()
            ids = [row[0] for row in r.execute("SELECT node_id FROM graph._nodes WHERE pk = '1'")]
            assert r.execute("SELECT count(*) FROM graph._nodes WHERE node_id = ANY (%s)", (ids,)).fetchone()[0] >= 1
        with as_role(world, ADMIN) as a:
            a.execute("SET search_path = ab, public")
            a.execute("SELECT * FROM graph.traverse('ab.keyed', '2', direction => 'any', max_depth => 2)").fetchall()
        with connect(world) as c:
            ran = c.execute("SELECT who::text, sess::text FROM spy_ab.calls WHERE sess IN ('key type',"
                            " 'key operator')").fetchall()
            assert ran == []
            assert READER in policy_runners(c)  # the reader's reads did ask the table (its policy ran)
            c.execute("DELETE FROM spy_ab.calls")
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table('ab.keyed', cascade => true)")
            c.execute("DROP TABLE ab.keyed; DROP OPERATOR ab.= (ab.doc_key, int); DROP FUNCTION ab.key_eq;"
                      " DROP DOMAIN ab.doc_key; DROP FUNCTION ab.key_ok")
            c.execute("SELECT graph.build()")


def test_a_read_normalising_a_given_id_runs_no_owners_domain_code(world):
    """A read given an id in another text form than the key's (' 01' for 1) turns it
    into the key's canonical text by a cast to the key column's built-in base type
    (reads/nodes.py, _normalise), and a search casts the value it looks for to its
    column's (reads/search.py). The owner's key and property columns are a domain
    over a domain whose CHECK is the owner's function: the casts go to the base type
    under both domains (graph._base_type), so neither an admin's read nor a reader's
    runs the owner's code (both seen failing when the cast went to the inner domain:
    typbasetype names only the domain one level down)."""
    with as_role(world, OWNER) as o:
        o.execute("CREATE FUNCTION ab.inner_ok(k int) RETURNS boolean LANGUAGE plpgsql AS $$"
                  " BEGIN INSERT INTO spy_ab.calls VALUES (current_user, 'inner domain'); RETURN true; END $$")
        o.execute("CREATE DOMAIN ab.inner_key AS int CHECK (ab.inner_ok(VALUE))")
        o.execute("CREATE DOMAIN ab.outer_key AS ab.inner_key")
        o.execute("CREATE TABLE ab.nested (id ab.outer_key PRIMARY KEY, doc int, code ab.outer_key)")
        o.execute("INSERT INTO ab.nested VALUES (1, 1, 10), (2, 2, 20)")
        o.execute(f"GRANT SELECT ON ab.nested TO {READER}, {ADMIN}")
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.nested', columns => '{code}')")
        c.execute("SELECT graph.add_edge('ab.nested', 'doc', 'ab.docs', label => 'nested')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM spy_ab.calls")
    try:
        for role in (ADMIN, READER):
            with as_role(world, role) as r:
                got = r.execute("SELECT node_id FROM graph.traverse('ab.nested', ' 01', max_depth => 0)").fetchall()
                assert got == [("1",)], role
                got = r.execute("SELECT node_id FROM graph.search('code', '020')").fetchall()
                assert got == [("2",)], role
        with connect(world) as c:
            assert c.execute("SELECT who::text FROM spy_ab.calls WHERE sess = 'inner domain'").fetchall() == []
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table('ab.nested', cascade => true)")
            c.execute("DROP TABLE ab.nested; DROP DOMAIN ab.outer_key; DROP DOMAIN ab.inner_key;"
                      " DROP FUNCTION ab.inner_ok")
            c.execute("SELECT graph.build()")


def test_a_label_asked_through_the_owners_index_runs_no_owners_operator(world):
    """graph._labels' policy asks an indexed text label column for a label by value
    (reads/label_policy.py, ``probe``: ``t.col = $1``). The owner's label column is a
    domain over text with the owner's = operator for it in the owner's schema, which
    the reader puts first on its search_path, and an index on it: a reader's read,
    which asks the label, and its SELECT of graph._labels run only the table's own
    policy (the owner's, as the reader), never the operator; the reader sees the
    labels of the rows it may see and no other. (Written after the probe, and
    passing with it.)"""
    with as_role(world, OWNER) as o:
        o.execute("CREATE DOMAIN ab.tag AS text")
        o.execute("CREATE FUNCTION ab.tag_eq(ab.tag, text) RETURNS boolean LANGUAGE plpgsql AS $$"
                  " BEGIN INSERT INTO spy_ab.calls VALUES (current_user, 'tag operator');"
                  " RETURN $1::text OPERATOR(pg_catalog.=) $2; END $$")
        o.execute("CREATE OPERATOR ab.= (LEFTARG = ab.tag, RIGHTARG = text, FUNCTION = ab.tag_eq)")
        o.execute("CREATE TABLE ab.tagged (id int PRIMARY KEY, team text NOT NULL, a int NOT NULL, b int NOT NULL,"
                  " tag ab.tag NOT NULL)")
        o.execute(f"INSERT INTO ab.tagged VALUES (1, 'blue', 1, 3, 'blue tag'), (2, 'red', 2, 4, '{HIDDEN} tag')")
        o.execute("CREATE INDEX ON ab.tagged (tag)")
        o.execute("ALTER TABLE ab.tagged ENABLE ROW LEVEL SECURITY")
        o.execute("CREATE POLICY by_team ON ab.tagged USING (ab.allowed(team))")
        o.execute(f"GRANT SELECT ON ab.tagged TO {READER}, {ADMIN}")
    with connect(world) as c:
        c.execute("SELECT graph.add_edge('ab.docs', 'a', 'ab.docs', to_column => 'b', via_table => 'ab.tagged',"
                  " label_column => 'tag')")
        c.execute("SELECT graph.build()")
        c.execute("DELETE FROM spy_ab.calls")
    try:
        with as_role(world, READER) as r:
            r.execute("SET search_path = ab, public")
            got = r.execute("SELECT node_id, edge_label FROM graph.traverse('ab.docs', '1', max_depth => 1,"
                            " edge_types => '{blue tag}')").fetchall()
            assert ("3", "blue tag") in got
            labels = {row[0] for row in r.execute("SELECT label FROM graph._labels")}
            assert "blue tag" in labels and not any(HIDDEN in label for label in labels)
        with connect(world) as c:
            assert c.execute("SELECT count(*) FROM spy_ab.calls WHERE sess = 'tag operator'").fetchone() == (0,)
            assert READER in policy_runners(c)  # the table was asked, as the reader
            c.execute("DELETE FROM spy_ab.calls")
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_edge('ab.docs', 'a', 'ab.docs', via_table => 'ab.tagged')")
            c.execute("DROP TABLE ab.tagged; DROP OPERATOR ab.= (ab.tag, text); DROP FUNCTION ab.tag_eq;"
                      " DROP DOMAIN ab.tag")
            c.execute("SELECT graph.build()")


def test_an_admins_read_runs_no_owners_policy(world):
    """A graph_admin member without BYPASSRLS sees every node in graph._nodes
    (its policy's first branch); its reads do not ask the source tables which rows
    it can see either (reads/start.py), which would run the owner's policy code with
    the admin's privileges. It sees every node, as in graph._nodes."""
    with connect(world) as c:
        apply(c)
        before = foreign_calls(c)
    with as_role(world, ADMIN) as a:
        assert {r[0] for r in a.execute("SELECT node_id FROM graph.traverse('ab.docs', '1', direction => 'any',"
                                        " max_depth => 5) WHERE node_table = 'ab.docs'::regclass")} >= {"1", "2", "4"}
        a.execute("SELECT * FROM graph.traverse('ab.open', '2', max_depth => 0)").fetchall()
        a.execute("SELECT * FROM graph.connected_components()").fetchall()
        a.execute("SELECT * FROM graph.component_of('ab.docs', '2')").fetchall()
        a.execute("SELECT * FROM graph.shortest_path('ab.docs', '1', 'ab.docs', '4', direction => 'any')").fetchall()
        a.execute("SELECT graph.export_dot('ab.docs', '1', direction => 'any')")
    with connect(world) as c:
        assert foreign_calls(c) == before
        assert ADMIN not in policy_runners(c)
    # What reads the source rows themselves (hydrate, search, an export's label_property)
    # reads as the caller, under the table's policies: an admin is refused a table whose
    # policy calls another role's function (42501, graph._source_name), which would run as
    # the admin (it did: tests/test_abuse_three_roles.py).
    for sql in ("SELECT * FROM graph.traverse('ab.docs', '1', hydrate => true)",
                "SELECT * FROM graph.search('title', 'hidden', mode => 'prefix')",
                "SELECT graph.export_dot('ab.docs', '1', direction => 'any', label_property => 'title')"):
        with as_role(world, ADMIN) as a:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="policy by_team of ab.docs"):
                a.execute(sql).fetchall()
        with connect(world) as c:
            assert ADMIN not in policy_runners(c), sql


FAR_SQL = f"""
CREATE FUNCTION ab.spied(tag text, team text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spy_ab.calls VALUES (current_user, tag);
    RETURN team OPERATOR(pg_catalog.=) 'blue';
END $$;
CREATE TABLE ab.near (id int PRIMARY KEY, far int);
CREATE TABLE ab.far (id int PRIMARY KEY, team text NOT NULL);
CREATE TABLE ab.farlinks (id int PRIMARY KEY, team text NOT NULL, a int NOT NULL, b int NOT NULL);
INSERT INTO ab.near VALUES (1, 1), (2, 2), (3, NULL);
INSERT INTO ab.far VALUES (1, 'blue'), (2, 'red'), (3, 'blue');
INSERT INTO ab.farlinks VALUES (1, 'blue', 1, 3), (2, 'red', 3, 2);
ALTER TABLE ab.far ENABLE ROW LEVEL SECURITY;
ALTER TABLE ab.farlinks ENABLE ROW LEVEL SECURITY;
CREATE POLICY spied ON ab.far USING (ab.spied('far', team));
CREATE POLICY spied ON ab.farlinks USING (ab.spied('farlinks', team));
GRANT SELECT ON ab.near, ab.far, ab.farlinks TO {READER};
"""

FAR_REGISTER = """
SELECT graph.add_table('ab.near');
SELECT graph.add_table('ab.far');
SELECT graph.add_edge('ab.near', 'far', 'ab.far', label => 'to_far');
SELECT graph.add_edge('ab.far', 'a', 'ab.far', to_column => 'b', via_table => 'ab.farlinks', label => 'far_link');
SELECT graph.build();
"""


@pytest.fixture
def far(world):
    """ab.near (no row-level security) -> ab.far (row-level security) -> ab.farlinks
    (a join table of ab.far, row-level security): each policy records its table's
    name in spy_ab.calls (sess) when it runs."""
    with as_role(world, OWNER) as o:
        o.execute(FAR_SQL)
    with connect(world) as c:
        c.execute(FAR_REGISTER)
        c.execute("DELETE FROM spy_ab.calls")
    yield world
    with connect(world) as c:
        c.execute("SELECT graph.remove_table('ab.near', cascade => true)")
        c.execute("SELECT graph.remove_table('ab.far', cascade => true)")
        c.execute("DROP TABLE ab.near, ab.far, ab.farlinks")
        c.execute("DROP FUNCTION ab.spied(text, text)")
        c.execute("SELECT graph.build()")


def _asked(dsn):
    """The tables whose policy ran as READER since the last call."""
    with connect(dsn) as c:
        asked = {r[0] for r in c.execute(f"SELECT DISTINCT sess::text FROM spy_ab.calls WHERE who = '{READER}'"
                                         " AND sess IN ('far', 'farlinks')")}
        c.execute("DELETE FROM spy_ab.calls")
    return asked


def test_a_read_runs_no_policy_of_a_table_it_does_not_reach(far):
    """A read asks only the tables it can reach (reads/access.py): its seeds' tables,
    the tables a walk from them enters within its depth and direction, the join
    tables whose edges it can follow; and graph._nodes' policy asks only the tables
    whose nodes a statement reads (migration 251)."""
    def nodes(r, sql):
        return {(t, i) for t, i in r.execute(sql).fetchall()}

    with as_role(far, READER) as r:
        assert nodes(r, "SELECT node_table::text, node_id FROM graph.traverse('ab.near', '1', max_depth => 0)"
                     ) == {("ab.near", "1")}
        r.execute("SELECT * FROM graph.traverse('ab.near', '1', direction => 'in', max_depth => 5)").fetchall()
        r.execute("SELECT * FROM graph.traverse('ab.near', '1', max_depth => 1, node_tables => '{ab.near}')"
                  ).fetchall()
        r.execute("SELECT * FROM graph._nodes WHERE table_oid = 'ab.near'::regclass").fetchall()
        r.execute("SELECT * FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass").fetchall()
        r.execute("SELECT graph.export_dot('ab.near', '1', max_depth => 0)")
        assert _asked(far) == set()
        # depth 1 enters ab.far (its policy hides far 2), but follows no ab.farlinks edge
        assert nodes(r, "SELECT node_table::text, node_id FROM graph.traverse('ab.near', '1', max_depth => 1)"
                     ) == {("ab.near", "1"), ("ab.far", "1")}
        assert nodes(r, "SELECT node_table::text, node_id FROM graph.traverse('ab.near', '2', max_depth => 1)"
                     ) == {("ab.near", "2")}
        assert _asked(far) == {"far"}
        # depth 2 follows ab.farlinks' edges: the blue row's only
        assert nodes(r, "SELECT node_table::text, node_id FROM graph.traverse('ab.near', '1', max_depth => 2)"
                     ) == {("ab.near", "1"), ("ab.far", "1"), ("ab.far", "3")}
        assert _asked(far) == {"far", "farlinks"}
        assert r.execute("SELECT count(*) FROM graph.shortest_path('ab.near', '1', 'ab.far', '3')").fetchone() == (3,)
        assert _asked(far) == {"far", "farlinks"}
        r.execute("SELECT * FROM graph.connected_components()").fetchall()  # every table
        assert _asked(far) == {"far", "farlinks"}


def test_a_read_loads_no_label_of_a_table_it_does_not_reach(world):
    with connect(world) as c:
        apply(c)
        c.execute("DELETE FROM spy_ab.calls")
    with as_role(world, READER) as r:
        r.execute("SELECT * FROM graph.traverse('ab.open', '2', max_depth => 0)").fetchall()
        r.execute("SELECT * FROM graph._nodes WHERE table_oid = 'ab.open'::regclass").fetchall()
    with connect(world) as c:
        assert READER not in policy_runners(c)
    # a read that can follow ab.links' edges asks its label column, and names its labels
    with as_role(world, READER) as r:
        rows = r.execute("SELECT node_id, edge_label FROM graph.traverse('ab.docs', '1', max_depth => 1,"
                         " edge_types => '{blue kind}')").fetchall()
        assert ("3", "blue kind") in rows, rows
    with connect(world) as c:
        assert READER in policy_runners(c)


def test_a_read_names_the_labels_it_reaches_after_one_that_reached_fewer_folded_pending_rows(world):
    """With a pending row a reader cannot apply (replay's lock held elsewhere), a read
    that asked no label column of ab.links, then one that reaches it: the second names
    and follows ab.links' committed label. (reads/freshness.py folds onto a kept view
    only for a read that asked the same label columns; this test passes without that
    check too, as these reads do not fold onto a kept view here.)"""
    with connect(world) as c:
        apply(c)
        c.execute("INSERT INTO ab.links VALUES (3, 'blue', 3, 1, 'blue kind')")  # pending
    try:
        with connect(world) as held, as_role(world, READER) as r:
            held.autocommit = False  # replay's lock held elsewhere: reads fold the pending row
            held.execute("SELECT FROM graph._sync_state FOR UPDATE")
            r.execute("SELECT * FROM graph.traverse('ab.open', '2', max_depth => 0)").fetchall()
            rows = r.execute("SELECT node_id, edge_label FROM graph.traverse('ab.docs', '1', max_depth => 1,"
                             " edge_types => '{blue kind}')").fetchall()
            assert ("3", "blue kind") in rows, rows
            held.rollback()
    finally:
        with connect(world) as c:
            c.execute("DELETE FROM ab.links WHERE id = 3")
            apply(c)

def _everything_a_reader_can_ask(r):
    """The text of every answer READER gets from graphsync's public surfaces."""
    out = []

    def rows(sql, *args):
        out.append(repr(r.execute(sql, args or None).fetchall()))

    rows("SELECT * FROM graph._nodes")
    rows("SELECT * FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass AND pk = '2'")
    rows("SELECT * FROM graph._change_log")
    rows("SELECT * FROM graph.changed_nodes(0)")
    rows("SELECT * FROM graph.search('title', 'hidden', mode => 'prefix')")
    rows("SELECT * FROM graph.search('title', 'title', mode => 'contains', case_sensitive => false)")
    rows("SELECT * FROM graph.traverse_search('title', 'title', mode => 'contains', hydrate => true,"
         " direction => 'any')")
    for seed in ("1", "2", "3"):
        rows("SELECT * FROM graph.traverse('ab.docs', %s, direction => 'any', hydrate => true)", seed)
    rows("SELECT * FROM graph.traverse('ab.docs', '1', tenant => 'red', hydrate => true)")
    rows("SELECT * FROM graph.traverse('ab.open', '1', direction => 'any', hydrate => true)")
    rows("SELECT * FROM graph.shortest_path('ab.docs', '1', 'ab.docs', '4', direction => 'any')")
    rows("SELECT * FROM graph.weighted_shortest_path('ab.docs', '1', 'ab.docs', '3')")
    rows("SELECT * FROM graph.connected_components()")
    rows("SELECT * FROM graph.component_stats()")
    rows("SELECT * FROM graph.component_of('ab.docs', '2')")
    rows("SELECT graph.export_dot('ab.docs', '1', direction => 'any', label_property => 'title')")
    rows("SELECT graph.export_mermaid('ab.open', '1', direction => 'any', label_property => 'title')")
    rows("SELECT graph.export_graphml('ab.docs', '1', direction => 'any', label_property => 'title')")
    rows("SELECT * FROM graph.sync_health()")
    rows("SELECT * FROM graph.status()")
    rows("SELECT * FROM graph._node_tables")
    rows("SELECT * FROM graph._edge_sources")
    rows("SELECT * FROM graph._sync_state")
    return "\n".join(out)


def test_a_reader_sees_no_value_of_a_row_the_policy_hides(world):
    with connect(world) as c:
        apply(c)  # pending rows are the other engineer's part (graph._pending_rows)
    with as_role(world, READER) as r:
        # the trap works: unfiltered, these rows carry the marker
        assert r.execute("SELECT count(*) FROM ab.docs").fetchone() == (2,)
        seen = _everything_a_reader_can_ask(r)
        assert "blue title 1" in seen and "blue kind" in seen
        assert HIDDEN not in seen, [line for line in seen.splitlines() if HIDDEN in line]
        # by key, as an attacker would ask
        assert r.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass AND"
                         " (pk = '2' OR tenant = 'red' OR properties ->> 'title' LIKE 'hidden%')").fetchone() == (0,)
        # a table READER may not SELECT at all
        assert r.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.vault'::regclass").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("SELECT * FROM graph._sync_log")
    with as_role(world, BYPASS) as b:  # no SELECT on ab.docs: the reads leave its nodes out
        assert b.execute("SELECT count(*) FROM graph.search('title', 'hidden', mode => 'prefix')").fetchone() == (0,)


def test_a_bypassrls_role_sees_no_node_of_a_table_it_may_not_select(world):
    """graph._nodes, graph._change_log and graph._labels are views owned by
    graph_views (migration 245): their tables' row-level security applies to every
    reader, BYPASSRLS included, and checks the reader's own privileges."""
    with as_role(world, OWNER) as o:
        o.execute("UPDATE ab.docs SET title = title WHERE id = 1")  # a node change to record
    with connect(world) as c:
        apply(c)
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass").fetchone()[0] > 0
        assert c.execute("SELECT count(*) FROM graph._change_log WHERE table_oid = 'ab.docs'::regclass"
                         ).fetchone()[0] > 0
    with as_role(world, BYPASS) as b:
        assert b.execute("SELECT has_table_privilege('ab.docs', 'SELECT')").fetchone() == (False,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            b.execute("SELECT * FROM ab.docs")
        assert b.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass").fetchone() == (0,)
        assert b.execute("SELECT count(*) FROM graph._change_log WHERE table_oid = 'ab.docs'::regclass"
                         ).fetchone() == (0,)
        # ab.links carries the label column kind; BYPASS may not SELECT it either
        labels = {row[0] for row in b.execute("SELECT label FROM graph._labels")}
        assert {"ref", "about"} <= labels and not [label for label in labels if "kind" in label], labels
        # nor read the rows under the views
        for table in ("graph._node_rows", "graph._change_log_rows", "graph._label_rows"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                b.execute(f"SELECT * FROM {table}")


def test_an_admin_reads_through_the_views_what_the_tables_hold(world):
    """The views apply graphsync_read alone (graph_views is no graph_admin member),
    whose admin branch shows a graph_admin member without BYPASSRLS every row, as
    graphsync_admin did on the tables: ab.docs' hidden rows, the rebuild rows of
    graph._change_log and every node change in changed_nodes(), every label; and
    running no owner's policy code for it."""
    with as_role(world, OWNER) as o:
        o.execute("UPDATE ab.docs SET title = title WHERE id = 2")  # a change of a row ADMIN's policy hides
    with as_role(world, ADMIN) as a:
        assert a.execute("SELECT count(*) FROM ab.docs").fetchone() == (2,)  # the policy applies to ADMIN
    with connect(world) as c:
        apply(c)
        before = foreign_calls(c)
        horizon = c.execute("SELECT change_horizon FROM graph._sync_state").fetchone()[0]
        every = {name: c.execute(sql).fetchone() for name, sql in (
            ("nodes", "SELECT count(*) FROM graph._node_rows"),
            ("changes", "SELECT count(*) FROM graph._change_log_rows"),
            ("labels", "SELECT count(*) FROM graph._label_rows"))}
    with as_role(world, ADMIN) as a:
        assert a.execute("SELECT count(*) FROM graph._nodes").fetchone() == every["nodes"]
        assert a.execute("SELECT count(*) FROM graph._change_log").fetchone() == every["changes"]
        assert a.execute("SELECT count(*) FROM graph._labels").fetchone() == every["labels"]
        assert a.execute("SELECT count(*) FROM graph._change_log WHERE NOT node").fetchone()[0] > 0
        assert ("ab.docs", "2") in {(t, k) for t, k in a.execute(
            "SELECT node_table::text, node_id FROM graph.changed_nodes(%s)", (horizon,))}
        assert a.execute("SELECT count(*) FROM graph._labels WHERE label LIKE 'hidden%%'").fetchone()[0] > 0
    with connect(world) as c:
        assert foreign_calls(c) == before


def test_a_bypassrls_role_that_may_select_a_table_sees_its_nodes(world):
    """BYPASSRLS still counts where it should: a role that may SELECT ab.vault (no
    row-level security) and ab.links (row-level security it bypasses) sees every
    node of the one and every label of the other, as a SELECT of its own would."""
    with as_role(world, OWNER) as o:
        o.execute("INSERT INTO ab.vault VALUES (50, 'vault note 50')")
    with connect(world) as c:
        apply(c)
        c.execute(f"GRANT SELECT ON ab.links TO {BYPASS}")
    try:
        with as_role(world, BYPASS) as b:
            assert b.execute("SELECT count(*) FROM ab.links").fetchone()[0] >= 2  # the policy bypassed
            assert b.execute("SELECT pk, properties ->> 'note' FROM graph._nodes WHERE table_oid ="
                             " 'ab.vault'::regclass AND alive ORDER BY 1").fetchall() == [
                                 ("1", "vault note 1"), ("50", "vault note 50")]
            assert b.execute("SELECT count(*) FROM graph._change_log WHERE table_oid = 'ab.vault'::regclass"
                             ).fetchone()[0] > 0
            labels = {row[0] for row in b.execute("SELECT label FROM graph._labels")}
            assert {"ref", "about", "blue kind", f"{HIDDEN} kind 2"} <= labels
            assert [r[0] for r in b.execute("SELECT node_id FROM graph.traverse('ab.vault', '1', max_depth => 0)")
                    ] == ["1"]
    finally:
        with as_role(world, OWNER) as o:
            o.execute("DELETE FROM ab.vault WHERE id = 50")
        with connect(world) as c:
            c.execute(f"REVOKE SELECT ON ab.links FROM {BYPASS}")
            apply(c)


def test_graph_labels_shows_no_label_of_a_row_the_reader_cannot_see(world):
    """graph._labels' row-level security (migration 240): a label column's values
    show only to roles that could read them from the carrying table."""
    with as_role(world, READER) as r:
        labels = [row[0] for row in r.execute("SELECT label FROM graph._labels")]
        assert "blue kind" in labels or labels == []
        assert not [label for label in labels if HIDDEN in label]
        # the fixed labels are registry text, public in graph._edge_sources
        assert {"ref", "about", "blue kind"} <= set(labels)
    with as_role(world, NOSELECT) as n:  # may SELECT no carrying table: only the fixed labels
        fixed = {row[0] for row in n.execute("SELECT label FROM graph._edge_sources WHERE label IS NOT NULL")}
        assert {"ref", "about"} <= fixed and "blue kind" not in fixed
        assert {row[0] for row in n.execute("SELECT label FROM graph._labels")} == fixed
    with as_role(world, ADMIN) as a:
        assert {"blue kind", HIDDEN + " kind 2"} <= {row[0] for row in a.execute("SELECT label FROM graph._labels")}


def test_a_reader_s_reads_name_the_labels_it_may_see_and_filter_by_them(world):
    with as_role(world, READER) as r:
        rows = r.execute("SELECT node_id, edge_label FROM graph.traverse('ab.docs', '1', direction => 'any',"
                         " edge_types => '{blue kind}')").fetchall()
        assert ("3", "blue kind") in rows
        assert r.execute("SELECT count(*) FROM graph.traverse('ab.docs', '2', direction => 'any',"
                         " edge_types => %s)", [[HIDDEN + " kind 2"]]).fetchone() == (0,)
    with as_role(world, ADMIN) as a:  # an admin's read in the same server names every label
        rows = a.execute("SELECT node_id, edge_label FROM graph.traverse('ab.docs', '2', direction => 'any',"
                         " edge_types => %s)", [[HIDDEN + " kind 2"]]).fetchall()
        assert ("4", HIDDEN + " kind 2") in rows


# -- 2. a graph_admin member's code never runs as graph_capture or anyone else ----

ADMIN_CODE = """
CREATE FUNCTION adm.record() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_user OPERATOR(pg_catalog.<>) 'gs_ab_admin' THEN
        PERFORM pg_catalog.nextval('spy_ab.foreign');
    END IF;
    INSERT INTO spy_ab.calls VALUES (current_user, session_user);
    RETURN true;
END $$;
-- IMMUTABLE, as a row filter must be (a lie: it records who runs it)
CREATE FUNCTION adm.spy(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN adm.record(); END $$;
CREATE FUNCTION adm.text_eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT adm.spy($1)';
CREATE OPERATOR adm.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = adm.text_eq);
CREATE TYPE adm.mood AS ENUM ('blue', 'red');
CREATE FUNCTION adm.to_mood(text) RETURNS adm.mood LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM adm.spy($1); RETURN 'blue'; END $$;
CREATE CAST (text AS adm.mood) WITH FUNCTION adm.to_mood(text);
CREATE DOMAIN adm.checked AS text CHECK (adm.spy(VALUE));
"""
TEMP_CODE = "CREATE FUNCTION pg_temp.spy(v text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT adm.spy(v)'"


def _fresh_admin_code(dsn):
    with connect(dsn) as c:
        c.execute(f"DROP SCHEMA IF EXISTS adm CASCADE; CREATE SCHEMA adm AUTHORIZATION {ADMIN}")
    with as_role(dsn, ADMIN) as a:
        a.execute(ADMIN_CODE)
        a.execute("GRANT USAGE ON SCHEMA adm TO PUBLIC")  # so that graphsync's roles could resolve its code
        a.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA adm TO PUBLIC")


@pytest.mark.parametrize("row_filter", [
    "adm.spy({c})", "{c} OPERATOR(adm.===) 'x'", "team::adm.mood = 'blue'", "{c}::adm.checked <> ''",
    "pg_temp.spy({c})", "adm.spy({c}) OR true",
])
def test_an_admins_row_filter_running_its_own_code_is_refused(world, row_filter):
    _fresh_admin_code(world)
    with as_role(world, ADMIN) as a:
        a.execute(TEMP_CODE)
        assert a.execute("SELECT pg_temp.spy('x')").fetchone() == (True,)  # the plant works, as its author
        with pytest.raises(psycopg.errors.InvalidObjectDefinition):
            a.execute("SELECT graph.alter_table('ab.docs', row_filter => %s)", (row_filter.format(c="title"),))
        with pytest.raises(psycopg.errors.InvalidObjectDefinition):
            a.execute("SELECT graph.alter_edge(e.edge_source_id, row_filter => %s) FROM graph._edge_sources AS e"
                      " WHERE e.via_table = 'ab.links'::regclass", (row_filter.format(c="kind"),))
        assert a.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'ab.docs'::regclass"
                         ).fetchone() == (None,)


PLANT_NODE_FILTER = ("UPDATE graph._node_tables SET row_filter = 'adm.spy(name)', row_filter_columns = '{name}'"
                     " WHERE table_oid = 'ab.open'::regclass")
PLANT_EDGE_FILTER = ("UPDATE graph._edge_sources SET row_filter = 'adm.spy(kind) AND kind OPERATOR(adm.===) kind',"
                     " row_filter_columns = '{kind}' WHERE via_table = 'ab.links'::regclass")



def test_an_admins_edge_filter_never_runs_as_a_reader(world):
    """A reader whose join table's row-level security applies to it asks, in its read,
    which of the rows it can see pass the edge source's filter (reads/edge_rows.py,
    graph._edge_filter_expr), as itself. A filter the admin wrote straight into
    graph._edge_sources calling the admin's function ran it as the reader (a role that
    may hold rights the admin lacks; found in review). Now the admin's write is refused
    (42P17, graph._check_registration), and a filter planted before that check is not
    parsed by the read (it names code not PostgreSQL's own): the read warns and walks
    none of the source's edges."""
    _fresh_admin_code(world)
    with connect(world) as c:
        c.execute("DELETE FROM spy_ab.calls")
    read = ("SELECT node_id FROM graph.traverse('ab.docs', '1', direction => 'any', max_depth => 2,"
            " edge_types => '{blue kind}')")  # the join table's edges only
    with as_role(world, READER) as r:
        walked = {x[0] for x in r.execute(read)}
    assert walked == {"1", "3"}  # doc 1 -> doc 3 through the blue link row the reader sees
    with as_role(world, ADMIN) as a:
        with pytest.raises(psycopg.errors.InvalidObjectDefinition, match="adm"):
            a.execute(PLANT_EDGE_FILTER)
    with connect(world) as c:
        c.execute(PLANT_EDGE_FILTER)  # as a row from before the check
        before = foreign_calls(c)  # adm.spy counts every run by a role but the admin
    try:
        warnings = []
        with as_role(world, READER) as r:
            r.add_notice_handler(lambda d: warnings.append(d.message_primary))
            assert {x[0] for x in r.execute(read)} == walked - {"3"}
        assert any("names adm." in w for w in warnings), warnings
        with connect(world) as c:
            assert foreign_calls(c) == before
    finally:
        with connect(world) as c:
            c.execute("UPDATE graph._edge_sources SET row_filter = NULL, row_filter_columns = '{}'"
                      " WHERE via_table = 'ab.links'::regclass")

# A filter of PostgreSQL's own names only, parsing over the join table's columns, that
# is not immutable: it runs the SQL it is handed, as whoever evaluates it.
VOLATILE_FILTER = "pg_catalog.query_to_xml('SELECT adm.spy(''x'')', true, true, '') IS NOT NULL"
RECHECK = ROOT / "sql" / "migrations" / "449-recheck-registered-filters.sql"


def test_an_admins_volatile_edge_filter_from_before_the_check_is_disabled_on_upgrade(world):
    """A read asking, as its caller, which edges the join rows it sees carry checks the
    stored filter against the catalog only (graph._edge_filter_expr): the names in it
    are PostgreSQL's own and it parses, but not that it is immutable. A filter an
    admin wrote into graph._edge_sources before the registry's trigger checked such
    writes, calling a volatile function of PostgreSQL's own that runs SQL, ran the
    admin's function as every such reader (found in review). Migration 449 checks
    every registered filter again as registration does, replacing an edge source's
    that fails by false with a WARNING (a node table's is named, and kept: capture,
    build and verify check it each time): the reader runs none of the admin's code and
    walks none of the source's edges."""
    _fresh_admin_code(world)
    read = ("SELECT node_id FROM graph.traverse('ab.docs', '1', direction => 'any', max_depth => 2,"
            " edge_types => '{blue kind}')")  # the join table's edges only
    plant = "UPDATE graph._edge_sources SET row_filter = %s, row_filter_columns = '{}' WHERE via_table = %s::regclass"
    with as_role(world, ADMIN) as a:
        with pytest.raises(psycopg.errors.InvalidObjectDefinition, match="not immutable"):
            a.execute(plant, (VOLATILE_FILTER, "ab.links"))
    with connect(world) as c:
        c.execute(plant, (VOLATILE_FILTER, "ab.links"))  # as a row from before the check
        before = foreign_calls(c)
    try:
        warnings = []
        with connect(world) as c:  # what an upgrade runs, as the installer
            c.add_notice_handler(lambda d: warnings.append(d.message_primary))
            node_filter = c.execute("UPDATE graph._node_tables SET row_filter = %s WHERE table_oid = %s::regclass"
                                    " RETURNING row_filter", (VOLATILE_FILTER, "ab.open")).fetchone()
            c.execute(RECHECK.read_text())
            assert c.execute("SELECT row_filter, row_filter_columns FROM graph._edge_sources"
                             " WHERE via_table = 'ab.links'::regclass").fetchone() == ("false", [])
            # a node table's is only named: capture, build and verify check it each time
            assert c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'ab.open'::regclass"
                             ).fetchone() == node_filter
        assert any("edge source" in w and "query_to_xml" in w and "now false" in w for w in warnings), warnings
        assert any("table ab.open" in w and "query_to_xml" in w for w in warnings), warnings
        with as_role(world, READER) as r:
            assert {x[0] for x in r.execute(read)} == {"1"}
        with connect(world) as c:
            assert foreign_calls(c) == before
    finally:
        with connect(world) as c:
            c.execute("UPDATE graph._edge_sources SET row_filter = NULL, row_filter_columns = '{}'"
                      " WHERE via_table = 'ab.links'::regclass")
            c.execute("UPDATE graph._node_tables SET row_filter = NULL WHERE table_oid = 'ab.open'::regclass")


def test_registry_rows_an_admin_writes_run_none_of_its_code(world):
    """graph_admin may write the registry tables directly (GRANT ALL). A row filter
    written there is checked as registration checks it (graph._check_registration:
    42P17 for the admin's own code). One planted before that check (written here by a
    superuser, whom the check trusts) is checked again wherever it is used: capture
    (as graph_capture) lets no row pass and warns, build and verify refuse (55000);
    identifiers planted as column names are quoted, never run."""
    with connect(world) as c:
        before = foreign_calls(c)
        c.execute("DELETE FROM spy_ab.calls")
    _fresh_admin_code(world)
    with as_role(world, ADMIN) as a:
        assert a.execute("SELECT adm.spy('x')").fetchone() == (True,)  # the plant works, as its author
        for plant in (PLANT_NODE_FILTER, PLANT_EDGE_FILTER):
            with pytest.raises(psycopg.errors.InvalidObjectDefinition, match="adm"):
                a.execute(plant)
    with connect(world) as c:
        c.execute(PLANT_NODE_FILTER)
        c.execute(PLANT_EDGE_FILTER)
    with as_role(world, ADMIN) as a:
        # capture is generated again from the planted rows
        a.execute("SELECT graph.alter_table('ab.open', add_properties => '{doc}')")
    try:
        _owner_writes(world, 200)  # capture runs as graph_capture
        with connect(world) as su:
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="no longer checks"):
                su.execute("SELECT graph.build()")
            # verify() checks per table: each table the planted filters are on is not checked
            failed = {t: d for t, d in su.execute(
                "SELECT table_name, detail FROM graph.verify() WHERE difference = 'check_failed'").fetchall()}
            assert set(failed) == {"ab.open", "ab.links"}, failed
            assert all(d["sqlstate"] == "55000" and "no longer checks" in d["message"] for d in failed.values())
            apply(su)
        # Planted names of key, property and tenant columns, regenerated into capture.
        with as_role(world, ADMIN) as a:
            a.execute("UPDATE graph._node_tables SET row_filter = NULL, row_filter_columns = '{}',"
                      " id_columns = '{\"id) OR adm.spy(name\"}', columns = '{\"name) OR adm.spy(name\"}',"
                      " tenant_column = 'adm.spy(name)' WHERE table_oid = 'ab.open'::regclass")
            try:
                a.execute("SELECT graph.alter_table('ab.open', remove_properties => '{doc}')")
            except psycopg.Error as exc:
                assert exc.sqlstate.startswith("42"), exc  # refused: no such column
        for n, who in ((300, OWNER), (301, "postgres")):
            with (connect(world) if who == "postgres" else as_role(world, who)) as s:
                for sql in (f"INSERT INTO ab.open VALUES ({n}, 'x', 1)", "SELECT * FROM graph.apply_sync()",
                            "SELECT graph.build()", "SELECT * FROM graph.verify()"):
                    try:
                        s.execute(sql)
                    except psycopg.Error as exc:
                        assert exc.sqlstate.startswith(("42", "55")), exc
    finally:
        with connect(world) as c:
            c.execute("UPDATE graph._node_tables SET row_filter = NULL, row_filter_columns = '{}',"
                      " id_columns = '{id}' WHERE table_oid = 'ab.open'::regclass")
            c.execute("UPDATE graph._edge_sources SET row_filter = NULL, row_filter_columns = '{}'"
                      " WHERE via_table = 'ab.links'::regclass")
            c.execute("UPDATE graph._node_tables SET columns = '{name}', tenant_column = NULL"
                      " WHERE table_oid = 'ab.open'::regclass")
            c.execute("SELECT graph._install_capture('ab.open'::regclass::oid)")
            c.execute("DELETE FROM ab.open WHERE id >= 200")
            c.execute("SELECT graph.build()")
            assert verify(c) == []
            assert foreign_calls(c) == before
            assert policy_runners(c) <= {ADMIN, OWNER}, c.execute("SELECT * FROM spy_ab.calls").fetchall()


def test_an_admin_cannot_forge_log_rows_through_another_tables_capture(world):
    """graph_admin may insert into graph._sync_log itself (its rows are admin data,
    replayed with the admin's rights); what it cannot do is make a capture function
    log rows for a table it does not write: a capture function attached to the
    admin's own table logs nothing there (it refused with 42501 before the
    fifty-third stop)."""
    with connect(world) as c:
        docs = c.execute("SELECT 'ab.docs'::regclass::oid").fetchone()[0]
        log_rows = c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]
    with as_role(world, ADMIN) as a:
        a.execute("CREATE TABLE adm.fake (id int PRIMARY KEY, team text, title text, ref int)")
        a.execute(f"CREATE TRIGGER forge AFTER INSERT ON adm.fake REFERENCING NEW TABLE AS new_rows"
                  f" FOR EACH STATEMENT EXECUTE FUNCTION graph._capture_{docs}()")
        a.execute("INSERT INTO adm.fake VALUES (999, 'blue', 'forged', NULL)")
        a.execute("DROP TABLE adm.fake")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # not the table's owner
            a.execute("ALTER TABLE ab.docs DISABLE TRIGGER USER")
    with connect(world) as c:
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == log_rows


# -- 3. graph._source_nodes / graph._source_edges ---------------------------------

SOURCE_NODES = ("SELECT * FROM graph._source_nodes("
                "'SELECT %s::pg_catalog.regclass::pg_catalog.oid, t.id::pg_catalog.text, {tenant},"
                " pg_catalog.jsonb_build_object(''v'', t.{col}) FROM {tbl} AS t')")
SOURCE_EDGES = ("SELECT * FROM graph._source_edges('SELECT 1, 0::pg_catalog.oid, t.id::pg_catalog.text,"
                " 0::pg_catalog.oid, t.b::pg_catalog.text, 1::pg_catalog.float8, t.kind FROM ab.links AS t')")


def _source_nodes(tbl, col, tenant=None):
    return SOURCE_NODES.replace("%s", f"''{tbl}''").format(
        tbl=tbl, col=col, tenant=f"t.{tenant}" if tenant else "NULL::pg_catalog.text")


def test_source_reads_refuse_a_reader_even_with_execute_granted_by_mistake(world):
    with as_role(world, READER) as r:
        for sql in (_source_nodes("ab.docs", "title", "team"), SOURCE_EDGES):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
                r.execute(sql)
    with connect(world) as c:
        c.execute(f"GRANT EXECUTE ON FUNCTION graph._source_nodes(text), graph._source_edges(text) TO {READER}")
        assert c.execute("SELECT bool_or(prosecdef) FROM pg_proc WHERE oid IN"
                         " ('graph._source_nodes(text)'::regprocedure, 'graph._source_edges(text)'::regprocedure)"
                         ).fetchone() == (False,)
    try:
        with as_role(world, READER) as r:
            for sql in (_source_nodes("ab.docs", "title", "team"), _source_nodes("ab.vault", "note"), SOURCE_EDGES):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="_require_admin|graph_admin"):
                    r.execute(sql)
    finally:
        with connect(world) as c:
            c.execute(f"REVOKE EXECUTE ON FUNCTION graph._source_nodes(text), graph._source_edges(text)"
                      f" FROM {READER}")


def test_source_reads_read_as_their_caller(world):
    """SECURITY INVOKER: an admin reads what its own SELECT shows, its row-level
    security applying, and nothing of a table it may not SELECT."""
    with as_role(world, ADMIN) as a:
        rows = a.execute(_source_nodes("ab.docs", "title", "team")).fetchall()
        assert rows and {r[2] for r in rows} == {"blue"}
        assert {r[6] for r in a.execute(SOURCE_EDGES).fetchall()} == {"blue kind"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="vault"):
            a.execute(_source_nodes("ab.vault", "note"))


# The keys graph._pending_keys is asked (a read folding pending rows passes it their
# tables, keys and images): every row of ab's node tables by its own key, and a row of
# the join table ab.links whose images name docs 1 (blue) and 2 (red) as ends.
PENDING_KEYS = """
SELECT k.key_tables, k.key_pks, k.key_ids FROM graph._pending_keys(
    ARRAY['ab.docs', 'ab.docs', 'ab.docs', 'ab.docs', 'ab.open', 'ab.open', 'ab.vault', 'ab.links']::regclass[]::oid[],
    ARRAY['1', '2', '3', '4', '1', '2', '1', '9'], ARRAY['1', '2', '3', '4', '1', '2', '1', '9'],
    E'\n\n\n\n\n\n\n{"a": "1", "b": "2", "team": "red"}', E'\n\n\n\n\n\n\n{"a": "2", "b": "1", "team": "red"}') AS k
"""


@pytest.mark.parametrize("role", [OWNER, ADMIN, READER, OTHER])
def test_pending_keys_look_keys_up_as_their_caller(world, role):
    """graph._pending_keys (what START calls for a few pending rows; PUBLIC may run it)
    is SECURITY INVOKER over graph._nodes: whatever keys and images a role passes --
    the table owner, a non-superuser admin, a plain reader, a role that may SELECT
    only ab.vault -- it answers exactly what graph._nodes shows that role for those
    keys (a reader: no node of ab.vault, which it may not SELECT, nor of the red rows
    the owner's policy hides from it), and runs the owner's policy code as no role
    but the owner and the reader (spy_ab.foreign). An image that is no JSON fails in
    jsonb's input. Written after graph._pending_keys, not before it."""
    with connect(world) as c:
        foreign = foreign_calls(c)
    with as_role(world, role) as r:
        tables, pks, ids = r.execute(PENDING_KEYS).fetchone()
        got = dict(zip(zip(tables, pks, strict=True), ids, strict=True))
        shown = {(t, pk): i for t, pk, i in r.execute(
            "SELECT table_oid, pk, node_id FROM graph._nodes"
            " WHERE (table_oid, pk) IN (SELECT * FROM unnest(%s::oid[], %s::text[]))", (tables, pks)).fetchall()}
        assert got == {k: shown.get(k) for k in got}
        assert len(got) == 8  # each key once: docs 1-4, open 1-2, vault 1, links 9
        named = {(r.execute("SELECT %s::oid::regclass::text", (t,)).fetchone()[0], pk): i for (t, pk), i in got.items()}
        if role == READER:
            assert named[("ab.vault", "1")] is None
            assert named[("ab.docs", "2")] is None and named[("ab.docs", "4")] is None
            assert named[("ab.docs", "1")] is not None
        assert named[("ab.links", "9")] is None  # a join table holds no node
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            r.execute("SELECT * FROM graph._pending_keys(ARRAY['ab.vault'::regclass::oid], ARRAY['1'],"
                      " ARRAY['1'], 'not json', '')")
    with connect(world) as c:
        assert foreign_calls(c) == foreign


# -- 4. as_role of graph._pending_rows and graph._read_sync -----------------------

# A snapshot that sees no transaction: graph._pending_columns with it as ``seen`` returns
# every pending row, through graph._pending_by_xid (what a read onto a kept view reads)
SEES_NOTHING = "1:1:"


def _pending_vault(c, as_role):
    """The keys of ab.vault's pending rows graph._pending_rows returns, which
    graph._pending_columns (what reads call) returns too, through either view
    (graph._pending_visible; with ``seen``, graph._pending_by_xid)."""
    rows = [r[0] for r in c.execute(
        "SELECT new_pk FROM graph._pending_rows(%s::regrole, 1000)"
        " WHERE table_oid = 'ab.vault'::regclass ORDER BY id", (as_role,)).fetchall()]
    for seen in (None, SEES_NOTHING):
        columns = [r[0] for r in c.execute(
            "SELECT u.new_pk FROM graph._pending_columns(%s::regrole, 1000, %s) AS p,"
            " ROWS FROM (unnest(p.ids), unnest(p.table_oids), unnest(p.new_pks)) AS u (id, table_oid, new_pk)"
            " WHERE u.table_oid = 'ab.vault'::regclass ORDER BY u.id", (as_role, seen)).fetchall()]
        assert columns == rows, (as_role, seen, rows, columns)
    return rows


@pytest.fixture
def pending(world):
    """Two committed log rows of ab.vault nobody applied."""
    with connect(world) as c:
        apply(c)
        c.execute("INSERT INTO ab.vault VALUES (10, 'vault note 10'), (11, 'vault note 11')")
    yield world
    with connect(world) as c:
        c.execute("DELETE FROM ab.vault WHERE id >= 10")
        apply(c)


def test_pending_rows_only_of_tables_the_current_user_may_read(pending):
    """graph._pending_rows answers as the role running the call (current_user:
    SECURITY INVOKER, over the view graph._pending_visible), whatever the session
    user may become; as_role must name that role, else no row."""
    with as_role(pending, READER) as r:
        for who in (READER, GROUP, OTHER, BYPASS, NOSELECT, OWNER, "graph_admin", "graph_sync", "postgres", None):
            assert _pending_vault(r, who) == [], who
        for view in ("graph._pending_visible", "graph._pending_by_xid"):
            assert r.execute(f"SELECT count(*) FROM {view} WHERE table_oid = 'ab.vault'::regclass AND xid >= 0"
                             ).fetchone() == (0,), view
        # a security barrier: a cheap leaky function of the caller's sees no row the view keeps from it
        leaked = []
        r.add_notice_handler(lambda d: leaked.append(d.message_primary))
        r.execute("CREATE FUNCTION pg_temp.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS"
                  " $$ BEGIN RAISE NOTICE 'leak %', t; RETURN true; END $$")
        r.execute("SELECT * FROM graph._pending_visible AS p WHERE pg_temp.leak(p.new_row)").fetchall()
        r.execute("SELECT * FROM graph._pending_by_xid AS p WHERE p.xid >= 0 AND pg_temp.leak(p.new_row)").fetchall()
        assert not [m for m in leaked if "vault note" in m], leaked
        r.execute(f"SET ROLE {GROUP}")  # current_user changes: GROUP may SELECT ab.vault
        assert _pending_vault(r, GROUP) == ["10", "11"]  # the positive control
        assert _pending_vault(r, READER) == [] and _pending_vault(r, OTHER) == []
        r.execute("RESET ROLE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute(f"SET ROLE {OTHER}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute(f"SET SESSION AUTHORIZATION {OTHER}")
    with as_role(pending, BYPASS) as b:  # BYPASSRLS, SELECT on ab.vault: row-level security does not apply
        assert _pending_vault(b, BYPASS) == ["10", "11"]
    with as_role(pending, NOSELECT) as n:
        assert _pending_vault(n, NOSELECT) == []
    with connect(pending) as su:
        assert _pending_vault(su, "postgres") == ["10", "11"]
        assert _pending_vault(su, OTHER) == []  # not the current user
        su.execute(f"SET SESSION AUTHORIZATION {READER}")
        assert _pending_vault(su, READER) == [] and _pending_vault(su, GROUP) == []
        su.execute("RESET SESSION AUTHORIZATION")
        su.execute(f"SET ROLE {NOSELECT}")  # SET ROLE: the superuser's session answers as NOSELECT
        assert _pending_vault(su, NOSELECT) == [] and _pending_vault(su, "postgres") == []
        su.execute(f"SET ROLE {OTHER}")
        assert _pending_vault(su, OTHER) == ["10", "11"]


@pytest.mark.parametrize("role, expected", [(OWNER, ["10", "11"]), (ADMIN, [])])
def test_pending_rows_of_both_views_as_the_table_owner_and_a_non_superuser_admin(pending, role, expected):
    """The table's owner gets ab.vault's pending rows, a graph_admin member that may not
    SELECT ab.vault none, through graph._pending_visible and graph._pending_by_xid (what a
    read onto a kept view reads, migration 422) alike; the owner's policy code on other
    tables runs as no role but the owner and the reader."""
    with connect(pending) as c:
        foreign = foreign_calls(c)
    with as_role(pending, role) as r:
        assert _pending_vault(r, role) == expected
        for view in ("graph._pending_visible", "graph._pending_by_xid"):
            assert r.execute(f"SELECT count(*) FROM {view} WHERE table_oid = 'ab.vault'::regclass AND xid >= 0"
                             ).fetchone() == (len(expected),), view
    with connect(pending) as c:
        assert foreign_calls(c) == foreign


def test_read_sync_applies_for_hidden_rows_only_of_a_role_the_session_user_may_become(pending):
    """_read_sync folds pending rows while the last apply is under a second old,
    unless some are rows of tables as_role may not SELECT (a fold would leave them
    out): then it applies. A role the session user may not become does not count."""
    with connect(pending) as c:
        c.execute("UPDATE graph._sync_state SET last_apply_at = now() + interval '1 day'")  # always recent
    try:
        with as_role(pending, READER) as r:
            for who in (NOSELECT, OTHER, None):
                assert r.execute("SELECT committed_rows, applied FROM graph._read_sync(true, %s::regrole)",
                                 (who,)).fetchone() == (2, False), who
            assert r.execute("SELECT committed_rows, applied FROM graph._read_sync(true, %s::regrole)",
                             (READER,)).fetchone() == (2, True)
            assert r.execute("SELECT committed_rows FROM graph._read_sync(false)").fetchone() == (0,)
    finally:
        with connect(pending) as c:
            c.execute("UPDATE graph._sync_state SET last_apply_at = least(last_apply_at, now())")


def test_a_definer_function_of_another_role_cannot_read_pending_rows_as_its_caller(pending):
    """A confused deputy: MALLORY's SECURITY DEFINER function, called by OTHER (who
    may SELECT ab.vault), asks for the pending rows as OTHER, by the argument and
    through the view. What it gets is bounded by MALLORY, the role running the call
    (current_user), who may not read ab.vault: nothing (migration 250)."""
    with connect(pending) as c:
        c.execute(f"GRANT USAGE ON SCHEMA mal TO {OTHER}")
    with as_role(pending, MALLORY) as m:
        m.execute("CREATE TABLE mal.loot (note jsonb)")
        m.execute("""CREATE FUNCTION mal.harmless() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
                     SET search_path = pg_catalog AS $$
                     BEGIN
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_rows(session_user::regrole, 100) AS p;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_rows(current_user::regrole, 100) AS p;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_columns(session_user::regrole, 100) AS p WHERE p.ids IS NOT NULL;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_columns(current_user::regrole, 100) AS p WHERE p.ids IS NOT NULL;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_columns(session_user::regrole, 100, '1:1:') AS p WHERE p.ids IS NOT NULL;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p)
                         FROM graph._pending_columns(current_user::regrole, 100, '1:1:') AS p WHERE p.ids IS NOT NULL;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p) FROM graph._pending_visible AS p;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p) FROM graph._pending_by_xid AS p;
                         INSERT INTO mal.loot SELECT pg_catalog.to_jsonb(p) FROM graph._pending_ids() AS p;
                         RETURN 1;
                     END $$""")
        m.execute(f"GRANT EXECUTE ON FUNCTION mal.harmless() TO {OTHER}")
    with as_role(pending, OTHER) as o:
        assert o.execute("SELECT mal.harmless()").fetchone() == (1,)
        # the positive control: OTHER's own call returns them
        assert _pending_vault(o, OTHER) == ["10", "11"]
    with as_role(pending, MALLORY) as m:
        loot = [r[0] for r in m.execute("SELECT note FROM mal.loot")]
        m.execute("DROP TABLE mal.loot; DROP FUNCTION mal.harmless()")
    # graph._pending_ids() hands out the ids of the two pending rows, no value
    assert len(loot) == 2 and all(isinstance(row, int) for row in loot), loot


@pytest.mark.parametrize("at_rest", [False, True], ids=["busy", "at_rest"])
def test_a_definer_function_of_another_role_does_not_take_its_callers_last_start(pending, at_rest):
    """A superuser's backend keeps its last START's answer for the next read whose
    snapshot is that START's (reads/start.py, START_SAME): busy, after it folded
    ab.vault's pending rows onto its kept view; at rest (nothing pending), once two of
    its START_QUIETs saw one snapshot. MALLORY's SECURITY DEFINER function, called
    right after in that backend and snapshot, reads as MALLORY, who may not SELECT
    ab.vault: it gets what MALLORY gets in a backend of its own, never the caller's
    tables or nodes. The superuser's next read still shows ab.vault's node."""
    vault = "SELECT node_id FROM graph.traverse('ab.vault', '10', max_depth => 0)"
    if at_rest:
        with connect(pending) as c:
            apply(c)
    with as_role(pending, MALLORY) as m:
        m.execute("""CREATE FUNCTION mal.peek() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
                     SET search_path = pg_catalog AS $$
                     DECLARE got text;
                     BEGIN
                         SELECT pg_catalog.string_agg(t.node_id, ',') INTO got
                         FROM graph.traverse('ab.vault', '10', max_depth => 0) AS t;
                         RETURN coalesce(got, '');
                     EXCEPTION WHEN OTHERS THEN
                         RETURN SQLSTATE;
                     END $$""")
        own = m.execute("SELECT mal.peek()").fetchone()[0]
    assert own in ("", "42501"), own
    try:
        with connect(pending) as su:
            su.execute(START_STATS)
            su.execute("SET default_transaction_read_only = on")  # folds, never applies
            counter = "same_at_rest" if at_rest else "same"
            # A transaction with an xid ending anywhere on the server between two reads
            # (autovacuum's analyze of any table, at any moment) moves the snapshot, and the
            # reads at rest take no kept answer (START_SAME): the trap is set again until
            # they do
            for _ in range(20):
                kept = json.loads(su.execute("SELECT pg_temp.start_stats()").fetchone()[0])
                before = kept.get(counter, 0)
                for _ in range(3):  # the third read on: the last START's answer kept
                    assert [r[0] for r in su.execute(vault).fetchall()] == ["10"]
                assert su.execute("SELECT mal.peek()").fetchone()[0] == own
                assert [r[0] for r in su.execute(vault).fetchall()] == ["10"]
                kept = json.loads(su.execute("SELECT pg_temp.start_stats()").fetchone()[0])
                if kept[counter] > before:
                    break
            assert kept[counter] > before, kept
    finally:
        with as_role(pending, MALLORY) as m:
            m.execute("DROP FUNCTION mal.peek()")


FOLDED = """
CREATE FUNCTION pg_temp.rows_folded() RETURNS bigint LANGUAGE plpython3u AS $$
import sys
f = sys.modules.get("graphsync.reads.freshness")
return f.STATS["rows_folded"] if f else 0
$$"""


@pytest.mark.parametrize("role, folded", [(OWNER, 3), (READER, 1), (ADMIN, 1)])
def test_the_rows_since_a_kept_view_are_only_those_the_caller_may_read(world, role, folded):
    """START reads the rows committed since its backend's kept folded view itself, by their
    transactions' xids (reads/start.py, _NEW_ROWS), through graph._pending_by_xid as the
    caller, as graph._pending_columns did: of three rows committed since -- ab.vault's (only
    the owner may SELECT it), a red ab.docs row (its row-level security applies to the
    plain reader and the non-superuser admin, not to the owner) and ab.open's -- the table
    owner's read folds all three, the plain reader's and the admin's ab.open's alone; each
    reads what a new backend of its own reads."""
    # the seed alone, rows with no edge into ab.docs: its policy writes (spy_ab.calls), which a
    # read-only transaction refuses
    read = "SELECT node_id, depth FROM graph.traverse('ab.open', '1', max_depth => 0)"
    with connect(world) as admin:
        apply(admin)
        try:
            with connect(world) as c:
                c.execute(FOLDED)
                c.execute("SET default_transaction_read_only = on")  # folds, never applies
                c.execute(f"SET ROLE {role}")
                admin.execute("INSERT INTO ab.open VALUES (3, 'open 3', NULL)")
                c.execute(read).fetchall()  # folds it: the view is kept
                c.execute(read).fetchall()
                before = c.execute("SELECT pg_temp.rows_folded()").fetchone()[0]
                admin.execute("INSERT INTO ab.vault VALUES (20, 'vault note 20')")
                admin.execute(f"INSERT INTO ab.docs VALUES (20, 'red', '{HIDDEN} title 20', NULL)")
                admin.execute("INSERT INTO ab.open VALUES (4, 'open 4', NULL)")
                got = c.execute(read).fetchall()
                assert c.execute("SELECT pg_temp.rows_folded()").fetchone()[0] - before == folded
                with as_role(world, role) as fresh:
                    fresh.execute("SET default_transaction_read_only = on")
                    assert got == fresh.execute(read).fetchall()
        finally:
            admin.execute("DELETE FROM ab.open WHERE id IN (3, 4)")
            admin.execute("DELETE FROM ab.vault WHERE id = 20")
            admin.execute("DELETE FROM ab.docs WHERE id = 20")
            apply(admin)


# Reads of ab.open's nodes alone, as READER: none of them touches ab.docs, whose policy
# writes (spy_ab.calls), which a read-only transaction refuses. The fold of the rows
# committed since a kept view: a few (START's lookup of their keys: graph._pending_keys)
# or more than reads.start.KEYS_IN_START (freshness.RESOLVE); seeds looked up by key
# (nodes.LOOKUP: more than the two START looks up).
UNTOUCHED = {
    "fold a few": (1, "SELECT node_id FROM graph.traverse('ab.open', '1', max_depth => 0)"),
    "fold many": (70, "SELECT node_id FROM graph.traverse('ab.open', '1', max_depth => 0)"),
    "seeds by key": (1, "SELECT node_id FROM graph.traverse(seed_tables => '{ab.open,ab.open,ab.open}',"
                        " seed_ids => '{1,2,3000}', max_depth => 0) ORDER BY 1"),
}


@pytest.mark.parametrize("plan", ["analyzed", "hash joins"])
@pytest.mark.parametrize("read", list(UNTOUCHED))
def test_a_read_runs_the_policy_of_no_table_it_does_not_read_whatever_the_plan(world, read, plan):
    """graph._nodes' policy asks a source table which rows the reader can see only for
    the nodes of that table a statement reads (reads/row_policy.py). The statements
    that look keys up in graph._nodes joined it to the keys: planned as a hash join
    (graph._node_rows analyzed with a few nodes, as autovacuum leaves it at any moment,
    or nested loops off) they read every node, and the policy ran for each, asking every
    table whose row-level security applies to the reader, ab.docs here, whose policy's
    write failed READER's read of ab.open in a read-only transaction (a flaky failure of
    test_the_rows_since_a_kept_view_are_only_those_the_caller_may_read, whenever
    autovacuum analyzed graph._node_rows before it). Each key is now looked up by
    itself: the read answers as a new backend's and runs ab.docs' policy nowhere."""
    rows, sql = UNTOUCHED[read]
    with connect(world) as admin:
        apply(admin)
        if plan == "analyzed":
            admin.execute("ANALYZE graph._node_rows")
        admin.execute("DELETE FROM spy_ab.calls")
        try:
            with connect(world) as c:
                c.execute("SET default_transaction_read_only = on")  # folds, never applies
                if plan == "hash joins":
                    c.execute("SET enable_nestloop = off")
                    c.execute("SET enable_mergejoin = off")
                c.execute(f"SET ROLE {READER}")
                assert c.execute(sql).fetchall()  # the view is kept
                admin.execute("INSERT INTO ab.open SELECT g, 'open ' || g, NULL FROM pg_catalog.generate_series("
                              "3000, 2999 + %s) AS g", (rows,))
                got = c.execute(sql).fetchall()
                with as_role(world, READER) as fresh:
                    fresh.execute("SET default_transaction_read_only = on")
                    assert got == fresh.execute(sql).fetchall()
            assert policy_runners(admin) == set()
        finally:
            admin.execute("DELETE FROM ab.open WHERE id >= 3000")
            apply(admin)


PRIV = "gs_ab_priv"  # sees every row of rv.secrets under its policy, through its own definer function


@pytest.fixture
def secrets(world):
    """rv.secrets: row-level security shows READER the blue row, PRIV both; PRIV's
    SECURITY DEFINER function counts the table's nodes (graph._nodes' policy asks
    graph._row_visible as PRIV, which reads and keeps PRIV's visible keys)."""
    with connect(world) as c:
        c.execute(f"DROP ROLE IF EXISTS {PRIV}")
        c.execute(f"CREATE ROLE {PRIV} LOGIN")
        c.execute(f"CREATE SCHEMA rv; GRANT USAGE ON SCHEMA rv TO PUBLIC; CREATE SCHEMA privs AUTHORIZATION {PRIV}")
        c.execute("CREATE TABLE rv.secrets (id int PRIMARY KEY, team text NOT NULL, name text NOT NULL)")
        c.execute(f"INSERT INTO rv.secrets VALUES (1, 'blue', 'b1'), (2, 'red', '{HIDDEN} 2')")
        c.execute("ALTER TABLE rv.secrets ENABLE ROW LEVEL SECURITY")
        c.execute(f"CREATE POLICY see ON rv.secrets USING (team = 'blue' OR current_user = '{PRIV}')")
        c.execute(f"GRANT SELECT ON rv.secrets TO {READER}, {PRIV}")
        c.execute("SELECT graph.add_table('rv.secrets', columns => '{name}')")
        c.execute("SELECT graph.build()")
    with as_role(world, PRIV) as p:
        p.execute("CREATE FUNCTION privs.count_nodes() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
                  " SET search_path = pg_catalog AS"
                  " $$ SELECT count(*) FROM graph._nodes WHERE table_oid = 'rv.secrets'::regclass $$")
        p.execute("GRANT USAGE ON SCHEMA privs TO PUBLIC")
    yield world
    with connect(world) as c:
        c.execute("SELECT graph.remove_table('rv.secrets', cascade => true)")
        c.execute("DROP SCHEMA rv, privs CASCADE")
        c.execute(f"DROP OWNED BY {PRIV}")
        c.execute(f"DROP ROLE {PRIV}")


VISIBLE = ("SELECT graph._row_visible('rv.secrets'::regclass, %s, %s, pg_catalog.pg_current_snapshot()::text,"
           " pg_catalog.statement_timestamp())")


def test_row_visible_answers_a_call_naming_another_roles_scope_as_its_caller(secrets):
    """graph._row_visible keeps a table's visible keys per (role, snapshot, statement
    start), the scope its caller passes. In one statement PRIV's definer function
    reads graph._nodes (its keys are kept under PRIV's scope), then READER asks with
    PRIV's scope: it must get its own answer (the red row is hidden from it), not
    PRIV's kept one. Before the fix it got PRIV's: true for the red row."""
    with as_role(secrets, PRIV) as p:
        assert p.execute("SELECT privs.count_nodes()").fetchone() == (2,)  # the trap: PRIV sees both
    with as_role(secrets, READER) as r:
        assert r.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'rv.secrets'::regclass"
                         ).fetchone() == (1,)
        for who in (READER, PRIV):
            assert r.execute(VISIBLE, ("1", who)).fetchone() == (True,), who
            assert r.execute(VISIBLE, ("2", who)).fetchone() == (False,), who
        with r.transaction():  # one snapshot for both calls of the statement
            r.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            got = r.execute("SELECT privs.count_nodes(), (" + VISIBLE + ")", ("2", PRIV)).fetchone()
        assert got == (2, False)
        with r.transaction():  # and its own scope afterwards, in the same statement
            r.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            got = r.execute("SELECT privs.count_nodes(), (" + VISIBLE + "), (" + VISIBLE + ")",
                            ("2", PRIV, "2", READER)).fetchone()
        assert got == (2, False, False)
        # With a scope token of its own (graph._row_scope(), what the policy passes): it
        # names READER, so naming PRIV with it gets no kept key of PRIV's either.
        scoped = ("SELECT graph._row_visible('rv.secrets'::regclass, %s, %s, (SELECT graph._row_scope()),"
                  " pg_catalog.statement_timestamp())")
        with r.transaction():
            r.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            got = r.execute("SELECT privs.count_nodes(), (" + scoped + "), (" + scoped + "), (" + scoped + ")",
                            ("2", PRIV, "2", READER, "1", READER)).fetchone()
        assert got == (2, False, False, True)
        token = r.execute("SELECT graph._row_scope()").fetchone()[0]
        assert token.count("|") == 2 and token.split("|")[0].split("#")[0] == r.execute(
            "SELECT pg_current_snapshot()::text").fetchone()[0]  # the snapshot, with the query's epoch


def test_label_visible_answers_a_call_naming_another_roles_scope_as_its_caller(world):
    """graph._label_visible (migration 425) keeps what it read of the label columns
    per (role, snapshot, statement start), the scope its caller passes. In one
    statement OWNER's definer function reads graph._labels (OWNER sees every row of
    its table: the hidden label is kept under OWNER's scope), then READER asks about
    the hidden label naming OWNER, with a bare snapshot and with a scope token of its
    own: it gets its own answer (false), never OWNER's kept one."""
    hidden = HIDDEN + " kind 2"
    with as_role(world, OWNER) as o:
        o.execute("CREATE FUNCTION ab.hidden_labels() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
                  " SET search_path = pg_catalog AS"
                  f" $$ SELECT count(*) FROM graph._labels WHERE label = '{hidden}' $$")
        o.execute(f"GRANT EXECUTE ON FUNCTION ab.hidden_labels() TO {READER}")
        assert o.execute("SELECT ab.hidden_labels()").fetchone() == (1,)
    try:
        with as_role(world, READER) as r:
            assert r.execute("SELECT count(*) FROM graph._labels WHERE label = %s", (hidden,)).fetchone() == (0,)
            bare = ("SELECT graph._label_visible(%s, %s, pg_catalog.pg_current_snapshot()::text,"
                    " pg_catalog.statement_timestamp())")
            scoped = ("SELECT graph._label_visible(%s, %s, (SELECT graph._row_scope()),"
                      " pg_catalog.statement_timestamp())")
            for ask in (bare, scoped):
                with r.transaction():  # one snapshot for the whole statement
                    r.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    got = r.execute("SELECT ab.hidden_labels(), (" + ask + "), (" + ask + ")",
                                    (hidden, OWNER, "blue kind", READER)).fetchone()
                assert got == (1, False, True), ask
    finally:
        with as_role(world, OWNER) as o:
            o.execute("DROP FUNCTION ab.hidden_labels()")


HEALTH_LOOT = """CREATE FUNCTION mal.harmless() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
                 SET search_path = pg_catalog AS $$
                 BEGIN
                     INSERT INTO mal.health
                     SELECT pg_catalog.concat_ws(' | ', h.last_error, h.last_maintenance_error, h.schedule_error,
                                                 h.next_action)
                     FROM graph.sync_health() AS h;
                     RETURN 1;
                 END $$;
                 CREATE FUNCTION mal.helpful() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
                 SET search_path = pg_catalog AS $$
                 BEGIN
                     INSERT INTO mal.health SELECT pg_catalog.to_jsonb(v)::text FROM graph._failed_visible AS v;
                     INSERT INTO mal.health SELECT pg_catalog.to_jsonb(h)::text FROM graph._health_masked() AS h;
                     RETURN 1;
                 END $$"""


def test_a_definer_function_of_another_role_reads_no_admin_only_health(world):
    """A confused deputy: MALLORY's SECURITY DEFINER function, called by ADMIN, reads
    sync_health(); called by OTHER (who may SELECT ab.vault), it reads the message of
    a failed ab.vault log row. What it gets is decided by MALLORY, the role running
    the call (current_user), who is no admin and may not read ab.vault: no message of
    a failed run or log row (migration 285). Before, health asked the session user."""
    with connect(world) as c:
        c.execute(f"GRANT USAGE ON SCHEMA mal TO {ADMIN}, {OTHER}")
        c.execute("INSERT INTO graph._maintenance_jobs (kind, status, error, finished_at)"
                  f" VALUES ('vacuum', 'failed', '{HIDDEN} error of a run', now())")
        failed = c.execute("WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message)"
                           " VALUES ('U', 'ab.vault'::regclass, 'ab.vault', '999', %s) RETURNING id)"
                           " INSERT INTO graph._sync_log_attention SELECT id FROM f RETURNING id",
                           (f"{HIDDEN} vault value of a failed row",)).fetchone()[0]
    try:
        with as_role(world, MALLORY) as m:
            m.execute("CREATE TABLE mal.health (note text)")
            m.execute(HEALTH_LOOT)
            m.execute(f"GRANT EXECUTE ON FUNCTION mal.harmless(), mal.helpful() TO {ADMIN}, {OTHER}")
        with as_role(world, ADMIN) as a:  # the positive control: the admin's own call shows both
            h = a.execute("SELECT last_maintenance_error, last_error FROM graph.sync_health()").fetchone()
            assert HIDDEN in h[0] and h[1] == f"log row {failed}: {HIDDEN} vault value of a failed row", h
            assert a.execute("SELECT mal.harmless()").fetchone() == (1,)
        with as_role(world, OTHER) as o:  # ... and OTHER's shows the row it may read, not the run's error
            h = o.execute("SELECT last_maintenance_error, last_error, next_action FROM graph.sync_health()"
                          ).fetchone()
            assert h[0] == "the run failed; details visible to graph_admin", h
            assert HIDDEN in h[1] and HIDDEN in h[2], h
            assert o.execute("SELECT mal.harmless()").fetchone() == (1,)
        with as_role(world, MALLORY) as m:
            loot = [r[0] for r in m.execute("SELECT note FROM mal.health")]
            own = m.execute("SELECT last_error FROM graph.sync_health()").fetchone()[0]
        assert own == f"log row {failed} of table ab.vault failed; details visible to graph_admin"
        assert len(loot) == 2 and not [note for note in loot if HIDDEN in (note or "")], loot
        assert all(f"log row {failed} of table ab.vault failed" in note for note in loot), loot
        # What sync_health reads as its caller gives MALLORY's code no more: the view
        # no row, graph._health_masked() no message.
        with as_role(world, OTHER) as o, pytest.raises(psycopg.errors.InsufficientPrivilege):
            o.execute("SELECT * FROM graph._health(true)")
        for victim in (ADMIN, OTHER):
            with as_role(world, victim) as v:
                assert v.execute("SELECT mal.helpful()").fetchone() == (1,)
        with as_role(world, MALLORY) as m:
            loot = [r[0] for r in m.execute("SELECT note FROM mal.health")]
        assert len(loot) == 4 and not [note for note in loot if HIDDEN in (note or "")], loot
    finally:
        with connect(world) as c:
            c.execute("DROP TABLE IF EXISTS mal.health;"
                      " DROP FUNCTION IF EXISTS mal.harmless(); DROP FUNCTION IF EXISTS mal.helpful()")
            c.execute("DELETE FROM graph._maintenance_jobs WHERE error LIKE %s", (HIDDEN + "%",))
            c.execute("DELETE FROM graph._sync_log WHERE error_message LIKE %s", (HIDDEN + "%",))


def test_execute_on_health_granted_by_mistake_reveals_nothing_in_the_roles_own_sessions(world):
    """graph._health(true) reveals only when the session user is an admin as well
    (and graph._cron_job_state hides pg_cron's message from anyone else): a role
    given EXECUTE on it by mistake (GRANT EXECUTE ON ALL FUNCTIONS ...) reads no
    error message in its own session, directly or through sync_health()."""
    with connect(world) as c:
        c.execute("INSERT INTO graph._maintenance_jobs (kind, status, error, finished_at)"
                  f" VALUES ('vacuum', 'failed', '{HIDDEN} error of a run', now())")
        c.execute(f"GRANT EXECUTE ON FUNCTION graph._health(boolean), graph._cron_job_state() TO {MALLORY}")
    try:
        with as_role(world, MALLORY) as m:
            for sql in ("SELECT to_jsonb(h)::text FROM graph._health(true) AS h",
                        "SELECT to_jsonb(h)::text FROM graph.sync_health() AS h",
                        "SELECT to_jsonb(s)::text FROM graph._cron_job_state() AS s"):
                note = m.execute(sql).fetchone()[0]
                assert HIDDEN not in note, (sql, note)
            assert m.execute("SELECT (h.health).last_maintenance_error FROM graph._health(true) AS h").fetchone() == (
                "the run failed; details visible to graph_admin",)
        with as_role(world, ADMIN) as a:  # the positive control
            revealed = a.execute("SELECT (h.health).last_maintenance_error FROM graph._health(true) AS h")
            assert HIDDEN in revealed.fetchone()[0]
    finally:
        with connect(world) as c:
            c.execute(f"REVOKE EXECUTE ON FUNCTION graph._health(boolean), graph._cron_job_state() FROM {MALLORY}")
            c.execute("DELETE FROM graph._maintenance_jobs WHERE error LIKE %s", (HIDDEN + "%",))


def test_failed_rows_only_of_tables_the_current_user_may_read(world):
    """graph._failed_visible (what sync_health() quotes to a role that is no admin)
    holds the failed rows of the tables the role reading it may SELECT and whose
    row-level security does not apply to it, decided as that role; a security
    barrier keeps the others from a leaky function of the caller's."""
    with connect(world) as c:
        c.execute("WITH f AS (INSERT INTO graph._sync_log (op, table_oid, table_name, pk, error_message) VALUES"
                  " ('U', 'ab.vault'::regclass, 'ab.vault', '998', %s),"
                  " ('U', 'ab.docs'::regclass, 'ab.docs', '998', %s) RETURNING id)"
                  " INSERT INTO graph._sync_log_attention SELECT id FROM f",
                  (f"{HIDDEN} vault message", f"{HIDDEN} docs message"))
    try:
        def visible(conn):
            return sorted(r[0] for r in conn.execute(
                "SELECT table_name FROM graph._failed_visible WHERE error_message LIKE %s", (HIDDEN + "%",)))
        with as_role(world, READER) as r:  # ab.docs: row-level security applies to READER
            assert visible(r) == []
            leaked = []
            r.add_notice_handler(lambda d: leaked.append(d.message_primary))
            r.execute("CREATE FUNCTION pg_temp.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS"
                      " $$ BEGIN RAISE NOTICE 'leak %', t; RETURN true; END $$")
            r.execute("SELECT * FROM graph._failed_visible AS v WHERE pg_temp.leak(v.error_message)").fetchall()
            assert not [m for m in leaked if HIDDEN in m], leaked
            r.execute(f"SET ROLE {GROUP}")  # current_user changes: GROUP may SELECT ab.vault
            assert visible(r) == ["ab.vault"]
        with as_role(world, OTHER) as o:
            assert visible(o) == ["ab.vault"]
        with as_role(world, NOSELECT) as n:
            assert visible(n) == []
        with as_role(world, OWNER) as o:  # owns both (ab.docs' policy is not forced on its owner)
            assert visible(o) == ["ab.docs", "ab.vault"]
        with connect(world) as su:
            assert visible(su) == ["ab.docs", "ab.vault"]
            su.execute(f"SET ROLE {OTHER}")
            assert visible(su) == ["ab.vault"]
    finally:
        with connect(world) as c:
            c.execute("DELETE FROM graph._sync_log WHERE error_message LIKE %s", (HIDDEN + "%",))


# -- 5. the Python package loads from graph._py_modules only ----------------------

PLANTED_SOURCE = ("import plpy\n"
                  "plpy.execute(\"INSERT INTO spy_ab.calls VALUES (current_user, 'planted python')\")\n")


def test_a_table_named_like_the_package_table_on_the_search_path_is_never_loaded(world):
    """graph._import_package names graph._py_modules schema-qualified under a pinned
    search_path: a table of the same name in the caller's first schema, in public or
    a temporary one is never read, by a fresh backend of the planting role, of an
    admin or of a superuser; and no role but the installer may write the real one
    or create anything in schema graph."""
    with connect(world) as c:
        c.execute("DELETE FROM spy_ab.calls")
        c.execute("CREATE TABLE public._py_modules (LIKE graph._py_modules)")
        c.execute("INSERT INTO public._py_modules SELECT * FROM graph._py_modules")
        c.execute("UPDATE public._py_modules SET source = %s, code = NULL, code_key = NULL", (PLANTED_SOURCE,))
        c.execute("GRANT SELECT ON public._py_modules TO PUBLIC")
    plant = ("CREATE {temp} TABLE {schema}_py_modules AS SELECT * FROM public._py_modules;"
             " SET search_path = {path}")
    try:
        with as_role(world, ADMIN) as a:
            a.execute(plant.format(temp="", schema="adm.", path="adm, public, pg_catalog"))
        with as_role(world, OWNER) as o:
            o.execute(plant.format(temp="", schema="ab.", path="ab, public, pg_catalog"))
        for who, schema in ((ADMIN, "adm"), (OWNER, "ab"), (READER, None), ("postgres", None)):
            with (connect(world) if who == "postgres" else as_role(world, who)) as s:  # a fresh backend
                s.execute(plant.format(temp="TEMP", schema="", path=f"pg_temp, {schema or 'public'},"
                                                                      " public, pg_catalog"))
                assert s.execute("SELECT graph._import_package()").fetchone() == (True,)
                s.execute("SELECT * FROM graph.traverse('ab.open', '1')").fetchall()
                s.execute("SELECT * FROM graph.sync_health()").fetchall()
                s.execute("SELECT * FROM graph.status()").fetchall()
        with as_role(world, ADMIN) as a:
            for sql in ("UPDATE graph._py_modules SET source = source",
                        "UPDATE graph._py_modules SET code = NULL, code_key = NULL",
                        "UPDATE graph._py_modules SET code_xid = xmin",
                        "ALTER TABLE graph._py_modules ADD COLUMN x int",
                        "CREATE TABLE graph._py_modules_x (id int)",
                        "CREATE FUNCTION graph._import_package_x() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                        "SELECT graph._compile_package()"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    a.execute(sql)
        with connect(world) as c:
            assert c.execute("SELECT count(*) FROM spy_ab.calls WHERE sess = 'planted python'").fetchone() == (0,)
    finally:
        with connect(world) as c:
            c.execute("DROP TABLE IF EXISTS public._py_modules, adm._py_modules, ab._py_modules")


def test_the_replay_cursor_is_written_by_apply_and_build_alone(world):
    """The applied snapshot (done_snapshot, which now names every transaction running
    when it was taken) and settled_xid (migration 370: the one transaction the
    'nothing pending' tests pass by) decide which log rows a read folds: a role that
    could write them could hide committed rows from every reader. A table owner and a
    reader can write neither, nor run graph._type_of (the planner's type check of
    capture). A graph_admin member holds the graph tables by design (README
    Privileges: it changes the graph, never the code): its apply writes them."""
    for who in (OWNER, READER):
        with as_role(world, who) as r:
            for sql in ("UPDATE graph._sync_state SET settled_xid = pg_current_xact_id()::text::bigint",
                        "UPDATE graph._sync_state SET done_snapshot = pg_current_snapshot()",
                        "UPDATE graph._sync_state SET last_apply_at = now() + interval '1 day'",
                        "SELECT graph._type_of(1)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute(sql)
    with as_role(world, ADMIN) as a:  # a non-superuser admin's apply names its own transaction
        a.execute("SELECT graph.apply_sync()")
        assert a.execute("SELECT settled_xid IS NOT NULL FROM graph._sync_state").fetchone() == (True,)


def test_the_rows_that_need_attention_are_noted_by_graphsync_alone(world):
    """graph._sync_log_attention (migration 385) is how health, retry, maintenance and
    rebuild find the failed rows and the unfolded TRUNCATE markers: a role that could
    delete from it could hide a failed row from every one of them, one that could
    insert into it could make them look at rows it chose. A table owner and a reader
    can do neither, nor read it; a TRUNCATE of the owner's own registered table is
    noted there by its capture (graph_capture), and a graph_admin member's health
    sees the marker."""
    for who in (OWNER, READER):
        with as_role(world, who) as r:
            for sql in ("DELETE FROM graph._sync_log_attention",
                        "INSERT INTO graph._sync_log_attention VALUES (1)",
                        "SELECT count(*) FROM graph._sync_log_attention"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute(sql)
    with as_role(world, OWNER) as o:
        o.execute("CREATE TABLE ab.noted (id int PRIMARY KEY)")
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.noted')")
    try:
        with as_role(world, OWNER) as o:
            o.execute("TRUNCATE ab.noted")
        with connect(world) as c:
            noted = c.execute("""SELECT count(*) FROM graph._sync_log AS l
                                 JOIN graph._sync_log_attention AS a USING (id)
                                 WHERE l.op = 'T' AND l.table_oid = 'ab.noted'::regclass""").fetchone()
            assert noted == (1,)
        with as_role(world, ADMIN) as a:
            assert a.execute("SELECT needs_vacuum FROM graph.sync_health()").fetchone() == (True,)
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table('ab.noted')")
            c.execute("DROP TABLE ab.noted")


# -- 6. every SECURITY DEFINER function has an explicit decision ------------------

# name -> (owner, EXECUTE for PUBLIC?). The generated capture functions
# (graph._capture_<oid>) are graph_capture's, EXECUTE-able by graph_admin, their table's
# owner and its members' owners only, never PUBLIC (graph._grant_capture says why).
# A new definer fails test_every_definer_has_a_decision until it is added here, with
# its reason: a definer runs with its owner's rights whoever calls it.
INSTALLER = "installer"  # the installing superuser: see README Privileges
DEFINERS = {
    # health, open to every role: shows no value a role cannot read (tests/test_leaks.py);
    # graph.sync_health (SECURITY INVOKER) calls _health for a role that may run it
    # (graph_admin: EXECUTE is checked against current_user), else _health_masked
    "_health_masked": ("graph_sync", True),
    "_health": ("graph_sync", False),
    "status": ("graph_sync", True),
    "_cron_job_state": ("graph_sync", False),
    "_server_setting": ("graph_sync", True),
    # reads: catch the graph up, read the log (admin-only) for a reader
    "_read_sync": ("graph_sync", True),
    "_pending_ids": ("graph_sync", True),  # ids only; graph._pending_rows reads the rows as its caller
    # the reads' load of the structural tables, which are graph_admin's: a request the
    # read's own Python made, run as graph_sync, nothing returned (a direct call: 42501)
    "_run_as_definer": ("graph_sync", True),
    # ... and what it asks: which nodes changed, each table's node ids (not PUBLIC's:
    # polling them showed when a table the role may not read was written)
    "_node_changes": ("graph_sync", False),
    "_node_runs": ("graph_sync", False),
    "_node_ids_held": ("graph_sync", False),  # a count of node ids in a range
    # the DDL follower's helpers, called as the role whose DDL fired it: each derives
    # what it does from the catalog
    "_followed_tables": ("graph_sync", True),
    "_follow_registry": ("graph_sync", True),
    "_trigger_states": ("graph_sync", True),
    "_note_capture_off": ("graph_sync", True),  # records only what the catalog shows
    "_refuse_enum_relabel": ("graph_sync", True),  # raises from the catalog and registry alone
    "_grant_capture": ("graph_sync", True),  # grants only what the catalog says: the family's owners'
    # capture generation: admin-only (it checks)
    "_write_capture": ("graph_sync", False),
    # one statement an owner's right is needed for; each checks its session user
    "_enable_capture_trigger": (INSTALLER, False),
    "set_setting": (INSTALLER, False),
    # a lock no role can be granted (SHARE UPDATE EXCLUSIVE on someone's table) for the
    # planned-code check: graph_admin's alone, registered tables only, no owner code run
    "_hold_sources": (INSTALLER, False),
    # the lock a registration's trigger DDL takes (SHARE ROW EXCLUSIVE, ACCESS EXCLUSIVE),
    # before its registry write: graph_admin's alone, tables the session's role has
    # TRIGGER on only, no owner code run
    "_lock_for_capture": (INSTALLER, False),
}


def test_every_definer_has_a_decision(world):
    with connect(world) as c:
        installer = c.execute("SELECT proowner::regrole::text FROM pg_proc"
                              " WHERE oid = 'graph._import_package()'::regprocedure").fetchone()[0]
        rows = c.execute("""
            SELECT p.proname::text, p.oid::regprocedure::text, p.proowner::regrole::text,
                   r.rolsuper, r.rolcanlogin, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                   coalesce(p.proconfig, '{}'),
                   has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
                   EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS granted_to_public
            FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
            WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
            ORDER BY 1, 2""").fetchall()
        names = {r[0] for r in rows if not r[0].startswith("_capture_")}
        assert names - DEFINERS.keys() == set(), "a new SECURITY DEFINER function: decide here (DEFINERS)"
        assert DEFINERS.keys() - names == set(), "no longer a SECURITY DEFINER function: drop it from DEFINERS"
        assert any(r[0].startswith("_capture_") for r in rows)
        for name, sig, owner, sup, login, createrole, createdb, bypass, config, public, granted in rows:
            want_owner, want_public = ("graph_capture", False) if name.startswith("_capture_") else DEFINERS[name]
            assert owner == (installer if want_owner == INSTALLER else want_owner), sig
            if want_owner != INSTALLER:
                assert not (sup or login or createrole or createdb), sig
                assert bypass == (owner == "graph_sync"), sig  # graph_sync: health reads every row's status
            assert "search_path=pg_catalog, pg_temp" in config, sig
            assert [s for s in config if s.startswith("search_path=")] == ["search_path=pg_catalog, pg_temp"], sig
            assert public == granted == want_public, sig
        # the roles' own rights: members of nothing but graph_admin (graph_sync) / nothing (graph_capture)
        assert c.execute("""SELECT r.rolname::text, coalesce(array_agg(g.rolname::text ORDER BY g.rolname)
                                   FILTER (WHERE g.rolname IS NOT NULL), '{}')
                            FROM pg_roles AS r LEFT JOIN pg_auth_members AS m ON m.member = r.oid
                            LEFT JOIN pg_roles AS g ON g.oid = m.roleid
                            WHERE r.rolname IN ('graph_sync', 'graph_capture') GROUP BY 1 ORDER BY 1""").fetchall() \
            == [("graph_capture", []), ("graph_sync", ["graph_admin", "graph_capture", "pg_read_all_settings"])]
        # no role may become them, but graph_sync graph_capture (to hand it a new capture function)
        assert c.execute("""SELECT m.roleid::regrole::text, m.member::regrole::text FROM pg_auth_members AS m
                            WHERE m.roleid IN ('graph_sync'::regrole, 'graph_capture'::regrole)""").fetchall() \
            == [("graph_capture", "graph_sync")]


def test_no_invoker_function_is_owned_by_a_definer_role(world):
    """A function graph_sync or graph_capture owns could be made SECURITY DEFINER
    (ALTER FUNCTION) only by its owner; an invoker one it owns is a slip all the same."""
    with connect(world) as c:
        assert c.execute("""SELECT p.oid::regprocedure::text FROM pg_proc AS p
                            WHERE p.proowner IN ('graph_sync'::regrole, 'graph_capture'::regrole)
                              AND NOT p.prosecdef""").fetchall() == []


def _graph_views_role(c):
    """graph_views' attributes, the roles it is a member of, and what it may do."""
    return (
        c.execute("""SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb, rolreplication
                     FROM pg_roles WHERE rolname = 'graph_views'""").fetchone(),
        c.execute("""SELECT m.roleid::regrole::text FROM pg_auth_members AS m
                     WHERE m.member = 'graph_views'::regrole OR m.roleid = 'graph_views'::regrole""").fetchall(),
        c.execute("""SELECT c.oid::regclass::text, a.privilege_type FROM pg_class AS c, aclexplode(c.relacl) AS a
                     WHERE a.grantee = 'graph_views'::regrole ORDER BY 1, 2""").fetchall(),
        c.execute("""SELECT c.oid::regclass::text, c.relkind::text FROM pg_class AS c
                     WHERE c.relowner = 'graph_views'::regrole ORDER BY 1""").fetchall(),
    )


GRAPH_VIEWS = (
    (False, False, False, False, False, False),
    [],
    [("graph._change_log", "SELECT"), ("graph._change_log_rows", "SELECT"), ("graph._label_rows", "SELECT"),
     ("graph._labels", "SELECT"), ("graph._node_rows", "SELECT"), ("graph._nodes", "SELECT")],
    [("graph._change_log", "v"), ("graph._labels", "v"), ("graph._nodes", "v")],
)


def test_graph_views_owns_the_three_views_and_reads_their_tables_only(world):
    """graph_views (migration 245) is what makes the views' row-level security bind
    every reader: never BYPASSRLS or a superuser, a member of no role (graph_admin's
    policies would show it every row), no role a member of it; it owns the three
    views and may SELECT their three tables, nothing more. An install sets a role
    of that name that was changed back."""
    import install

    with connect(world) as c:
        assert _graph_views_role(c) == GRAPH_VIEWS
        try:
            c.execute("ALTER ROLE graph_views BYPASSRLS")
            c.execute("GRANT graph_admin TO graph_views")
            with as_role(world, BYPASS) as b:  # the control: the views leak then
                assert b.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass"
                                 ).fetchone()[0] > 0
            install.install(c)
        finally:
            c.execute("ALTER ROLE graph_views NOBYPASSRLS")
            c.execute("REVOKE graph_admin FROM graph_views")
        assert _graph_views_role(c) == GRAPH_VIEWS
    with as_role(world, BYPASS) as b:
        assert b.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'ab.docs'::regclass").fetchone() == (0,)


# -- 7. a non-superuser admin's tasks tests/test_admin_role.py leaves out ---------

def test_a_non_superuser_admin_alters_registrations_and_reads_integrity_reports(world):
    with connect(world) as c:
        c.execute(f"CREATE SCHEMA ab2 AUTHORIZATION {OWNER}")
        c.execute(f"ALTER ROLE {ADMIN} BYPASSRLS")  # build reads ab.docs: README, Privileges
        c.execute(f"GRANT SELECT, TRIGGER ON ab.vault TO {ADMIN}")
    with as_role(world, OWNER) as o:
        o.execute("CREATE TABLE ab2.parent (id int PRIMARY KEY, name text, kind text)")
        o.execute("CREATE TABLE ab2.child (id int PRIMARY KEY, parent_id int REFERENCES ab2.parent, name text)")
        o.execute("INSERT INTO ab2.parent VALUES (1, 'p1', 'a'), (2, 'p2', 'b')")
        o.execute("INSERT INTO ab2.child VALUES (1, 1, 'c1'), (2, 2, 'c2')")
        o.execute(f"GRANT USAGE ON SCHEMA ab2 TO {ADMIN}")
        o.execute(f"GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA ab2 TO {ADMIN}")
    try:
        with as_role(world, ADMIN) as a:
            assert a.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
            preview = a.execute("SELECT kind, action FROM graph.add_schema('ab2', preview => true)").fetchall()
            assert preview and not a.execute("SELECT count(*) FROM graph._node_tables"
                                             " WHERE table_oid = 'ab2.parent'::regclass").fetchone()[0]
            a.execute("SELECT * FROM graph.add_schema('ab2')").fetchall()
            assert a.execute("SELECT count(*) FROM graph._node_tables WHERE table_name LIKE 'ab2.%'"
                             ).fetchone() == (2,)
            a.execute("SELECT graph.alter_table('ab2.parent', add_properties => '{name}',"
                      " add_filter_columns => '{kind}', row_filter => 'kind <> ''z''')")
            a.execute("SELECT graph.remove_filter_column('ab2.parent', 'kind')")
            edge = a.execute("SELECT edge_source_id FROM graph._edge_sources WHERE from_table = 'ab2.child'::regclass"
                             ).fetchone()[0]
            a.execute("SELECT graph.alter_edge(%s, label => 'child_of', bidirectional => true)", (edge,))
            a.execute("SELECT graph.build()")
            assert a.execute("SELECT * FROM graph.dangling_references()").fetchall() == []
            assert a.execute("SELECT * FROM graph.duplicate_edges()").fetchall() == []
            assert {r[0] for r in a.execute("SELECT node_id FROM graph.traverse('ab2.child', '1', max_depth => 1,"
                                            " edge_types => '{child_of}')")} == {"1"}
            assert a.execute("SELECT * FROM graph.verify()").fetchall() == []
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table('ab2.child', cascade => true)")
            c.execute("SELECT graph.remove_table('ab2.parent', cascade => true)")
            c.execute("DROP SCHEMA ab2 CASCADE")
            c.execute(f"ALTER ROLE {ADMIN} NOBYPASSRLS")
            c.execute(f"REVOKE SELECT, TRIGGER ON ab.vault FROM {ADMIN}")


@pytest.mark.parametrize("attempt", [
    "LOCK TABLE graph._sync_state IN ROW SHARE MODE",
    "LOCK TABLE graph._sync_state IN ROW EXCLUSIVE MODE",
    "SELECT FROM graph._sync_state FOR KEY SHARE",
    "CREATE TABLE {schema}.held (s boolean REFERENCES graph._sync_state (singleton))",
])
def test_no_role_outside_graphsyncs_can_make_reads_think_an_apply_is_running(world, attempt):
    """A read keeping a folded view skips graph._read_sync's count while another
    backend holds a row lock on graph._sync_state (reads/start.py, _APPLYING: the
    locks pg_locks shows on it), as an apply does; a role that could take such a
    lock at will would make every reader fold, never apply, until reads refuse
    (MAX_FOLD_ROWS). Taking one needs UPDATE, DELETE, TRUNCATE (or INSERT, or
    REFERENCES for a foreign key) on the table, which only graph_admin holds: the
    table owner and MALLORY (each in a schema of its own) get 42501, in a transaction
    as a reader would hold it."""
    for role, schema in ((OWNER, "ab"), (MALLORY, "mal")):
        with as_role(world, role) as c:
            c.execute("BEGIN")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(attempt.format(schema=schema))
            c.execute("ROLLBACK")


def test_no_role_gets_a_transaction_that_holds_a_pending_row_named_settled(world):
    """graph._read_sync (SECURITY DEFINER, any role may call it) names the transactions of
    the applied snapshot's xip it found committed with no pending row (settled_xids,
    migration 424); a reader's backend passes them by in its "nothing pending" test
    (reads/start.py), so a wrong name would make its reads leave that transaction's rows
    out. The table owner writes a row in a transaction the apply's snapshot names running,
    and commits it after the table owner, a plain reader and a non-superuser admin each
    took a repeatable read snapshot (whose count cannot see the row, while pg_xact_status
    reports the commit): called by each, in that snapshot, by every argument, and after
    it, graph._read_sync never names that transaction settled; after it, each counts the
    row."""
    with connect(world) as su, as_role(world, OWNER) as late:
        apply(su)
        late.execute("BEGIN")
        late.execute("INSERT INTO ab.open VALUES (900, 'late', NULL)")  # a log row below the next one's id
        xid = late.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        su.execute("INSERT INTO ab.open VALUES (901, 'applied', NULL)")
        apply(su)  # its snapshot names late's transaction running
        assert str(xid) in su.execute("SELECT done_snapshot::text FROM graph._sync_state").fetchone()[0]
        callers = [as_role(world, role) for role in (OWNER, READER, ADMIN)]
        try:
            for c in callers:
                c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                c.execute("SELECT 1")
            late.execute("COMMIT")
            for c in callers:
                for args in ("false", "true", "false, current_user::regrole", f"true, '{OWNER}'::regrole"):
                    settled = c.execute(f"SELECT settled_xids FROM graph._read_sync({args})").fetchone()[0]
                    assert xid not in (settled or []), (args, settled)
                c.execute("COMMIT")
                committed, settled = c.execute("SELECT committed_rows, settled_xids FROM graph._read_sync(false)"
                                               ).fetchone()
                assert committed >= 1 and settled is None
        finally:
            for c in callers:
                c.close()
        su.execute("DELETE FROM ab.open WHERE id IN (900, 901)")
        apply(su)
