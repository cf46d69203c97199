"""graphsync casts a searched value, a given id and a captured value to a column's
base type, the type under every domain, so that no domain's CHECK (possibly a function
of the domain's owner) runs as the caller (tests/test_abuse.py). A column of an array of
a domain (ab.wt[]), or of a domain over one, is no domain: its "base type" was the array
of the domain itself, and casting to it runs the element domain's CHECK on every element.
Found in review: a superuser's and an admin's graph.search on such a property, and their
reads of a table keyed by one, ran the owner's ab.allowed. Now the base type of an array
of a domain is the array of the element's base type (ab.wt[] -> numeric[]). So a row
filter may read such a column now (it was refused: not a type of PostgreSQL's own), and
sees its values as numeric[]: build, verify and replay run no CHECK either."""

import psycopg
import pytest

from conftest import apply, as_role, connect, verify
from test_abuse import ADMIN, OWNER, foreign_calls, policy_runners, world  # noqa: F401

OWNER_OBJECTS = f"""
CREATE DOMAIN ab.wt AS numeric CHECK (ab.allowed('blue'));
CREATE DOMAIN ab.wlist AS ab.wt[];
CREATE TABLE ab.arr (id int PRIMARY KEY, ws ab.wt[] NOT NULL, wl ab.wlist NOT NULL, up int);
INSERT INTO ab.arr VALUES (1, '{{4}}', '{{7}}', NULL), (2, '{{5}}', '{{8}}', 1);
CREATE TABLE ab.arrk (id ab.wt[] PRIMARY KEY, name text NOT NULL);
INSERT INTO ab.arrk VALUES ('{{1}}', 'one'), ('{{2}}', 'two');
CREATE TYPE ab.wrow AS (w ab.wt);
CREATE TABLE ab.arrf (id int PRIMARY KEY, ws ab.wt[] NOT NULL, pr ab.wrow);
INSERT INTO ab.arrf VALUES (1, '{{4}}'), (2, '{{}}');
GRANT SELECT, TRIGGER ON ab.arr, ab.arrk, ab.arrf TO {ADMIN};
"""
READS = {
    "search an array of the domain": ("SELECT node_id FROM graph.search('ws', '{5}')", [("2",)]),
    "search a domain over it": ("SELECT node_id FROM graph.search('wl', '{8}')", [("2",)]),
    "a read by a key of it": ("SELECT node_id FROM graph.traverse('ab.arrk', '{ 2 }', max_depth => 0)", [("{2}",)]),
    "a hydrating read": ("SELECT node_id, node->>'ws' FROM graph.traverse('ab.arr', '2', max_depth => 1,"
                         " hydrate => true)", [("2", "[5]"), ("1", "[4]")]),
}


@pytest.fixture(scope="module")
def arr(world):  # noqa: F811
    with as_role(world, OWNER) as o:
        o.execute(OWNER_OBJECTS)
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.arr', columns => '{ws,wl}');"
                  " SELECT graph.add_table('ab.arrk', columns => '{name}');"
                  " SELECT graph.add_table('ab.arrf', columns => '{ws}', row_filter => 'cardinality(ws) > 0');"
                  " SELECT graph.add_edge('ab.arr', 'up', 'ab.arr', label => 'up'); SELECT graph.build()")
    yield world
    with connect(world) as c:
        c.execute("SELECT graph.remove_table('ab.arr', cascade => true)")
        c.execute("SELECT graph.remove_table('ab.arrk', cascade => true)")
        c.execute("SELECT graph.remove_table('ab.arrf', cascade => true)")
    with as_role(world, OWNER) as o:
        o.execute("DROP TABLE ab.arr, ab.arrk, ab.arrf; DROP TYPE ab.wrow; DROP DOMAIN ab.wlist; DROP DOMAIN ab.wt")


@pytest.mark.parametrize("who", ["superuser", ADMIN])
@pytest.mark.parametrize(("read", "expected"), list(READS.values()), ids=list(READS))
def test_no_element_domain_check_runs_as_the_reader(arr, who, read, expected):
    with connect(arr) as c:
        c.execute("DELETE FROM spy_ab.calls")
        before = foreign_calls(c)
    with (connect(arr) if who == "superuser" else as_role(arr, ADMIN)) as r:
        assert r.execute(read).fetchall() == expected
    with connect(arr) as c:
        assert foreign_calls(c) == before
        assert policy_runners(c) == set()


@pytest.mark.parametrize("who", ["superuser", ADMIN])
def test_no_element_domain_check_runs_in_replay_build_or_verify(arr, who):
    with as_role(arr, OWNER) as o:
        o.execute("INSERT INTO ab.arr VALUES (3, '{6}', '{9}', 2)")
        o.execute("UPDATE ab.arr SET ws = '{10}', up = 3 WHERE id = 1")
        o.execute("INSERT INTO ab.arrk VALUES ('{3}', 'three')")
        o.execute("INSERT INTO ab.arrf VALUES (3, '{5}'), (4, '{}')")
    with connect(arr) as c:
        c.execute("DELETE FROM spy_ab.calls")
        before = foreign_calls(c)
    with (connect(arr) if who == "superuser" else as_role(arr, ADMIN)) as r:
        apply(r)
        assert [d for d in verify(r) if d[1] in ("ab.arr", "ab.arrk", "ab.arrf")] == []
        assert {x[0] for x in r.execute("SELECT node_id FROM graph.search('ws', '{5}')")} == {"2", "3"}
        if who == "superuser":  # row-level security on ab.docs applies to the admin: no build
            r.execute("SELECT graph.build()")
            r.execute("SELECT * FROM graph.dangling_references()").fetchall()
    with connect(arr) as c:
        assert foreign_calls(c) == before
        assert policy_runners(c) - {OWNER} == set()
    with as_role(arr, OWNER) as o:
        o.execute("DELETE FROM ab.arr WHERE id = 3; UPDATE ab.arr SET ws = '{4}', up = NULL WHERE id = 1;"
                  " DELETE FROM ab.arrk WHERE id = '{3}'; DELETE FROM ab.arrf WHERE id > 2")
    with connect(arr) as c:
        apply(c)


@pytest.mark.parametrize("who", ["superuser", ADMIN])
def test_registering_a_filter_comparing_such_a_column_runs_no_check(arr, who):
    """The filter is checked by parsing it over a copy of the table's columns: a
    literal compared with a column of type ab.wt[] was read as ab.wt[] while parsing,
    its input function running the element domain's CHECK as the registrar (and so for
    a composite holding the domain, which the filter may not read: refused after the
    parse). Now the copy has such an array as its base type, and a column of a type a
    filter may not read as text."""
    with connect(arr) as c:
        c.execute("DELETE FROM spy_ab.calls")
        before = foreign_calls(c)
    with (connect(arr) if who == "superuser" else as_role(arr, ADMIN)) as r:
        r.execute("SELECT graph.alter_table('ab.arrf', row_filter => 'ws <> ''{1}''')")
        with pytest.raises(psycopg.errors.InvalidObjectDefinition, match="column pr is of type ab.wrow"):
            r.execute("SELECT graph.alter_table('ab.arrf', row_filter => 'pr = ''(1)''')")
        r.execute("SELECT graph.alter_table('ab.arrf', row_filter => 'cardinality(ws) > 0')")
    with connect(arr) as c:
        assert foreign_calls(c) == before
        assert policy_runners(c) == set()
