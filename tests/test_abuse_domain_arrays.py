"""graphsync casts a searched value and a given id to a column's base type, the type
under every domain, so that no domain's CHECK (possibly a function of the domain's
owner) runs as the caller (tests/test_abuse.py), when the type is built in
(graph._builtin_type: domains and arrays looked through). A column of an array of a
domain (ab.wt[]), or of a domain over one, counted as built in, but it is no domain: its
"base type" was the array of the domain itself, and casting to it ran the element
domain's CHECK on every element. Found in review: a superuser's and an admin's
graph.search on such a property, and their reads of a table keyed by one, ran the
owner's ab.allowed; so did the search's rendering of the value, through a cast of
ab.wt[] to text that the owner (who owns the array type) created. Now an array of a
domain is not built in: it is compared and rendered by its text form, through the
type's output function, as an enum or a composite is."""

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
    "a read by a key of it": ("SELECT node_id FROM graph.traverse('ab.arrk', '{2}', max_depth => 0)", [("{2}",)]),
    "a hydrating read": ("SELECT node_id, node->>'ws' FROM graph.traverse('ab.arr', '2', max_depth => 1,"
                         " hydrate => true)", [("2", "{5}"), ("1", "{4}")]),
}


@pytest.fixture(scope="module")
def arr(world):  # noqa: F811
    with as_role(world, OWNER) as o:
        o.execute(OWNER_OBJECTS)
    with connect(world) as c:
        c.execute("SELECT graph.add_table('ab.arr', columns => '{ws,wl}');"
                  " SELECT graph.add_table('ab.arrk', columns => '{name}');"
                  " SELECT graph.add_table('ab.arrf', columns => '{ws}');"
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
        assert {x[0] for x in r.execute("SELECT node_id FROM graph.search('ws', '{6}')")} == {"3"}
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
    a composite holding the domain), though the filter was then refused: no filter may
    read such a column. Now the copy has a column of a type no filter may read as text:
    the filter is refused as before, and nothing runs."""
    with connect(arr) as c:
        c.execute("DELETE FROM spy_ab.calls")
        before = foreign_calls(c)
    with (connect(arr) if who == "superuser" else as_role(arr, ADMIN)) as r:
        for column, literal in (("ws", "{1}"), ("pr", "(1)")):
            with pytest.raises(psycopg.errors.InvalidObjectDefinition, match=f"column {column} is of type ab"):
                r.execute("SELECT graph.alter_table('ab.arrf', row_filter => %s)", (f"{column} <> '{literal}'",))
    with connect(arr) as c:
        assert foreign_calls(c) == before
        assert policy_runners(c) == set()


ARRAY_CASTS = """
CREATE FUNCTION ab.wts_text(ab.wt[]) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM ab.allowed('blue'); RETURN pg_catalog.array_to_string($1::numeric[], ','); END $$;
CREATE CAST (ab.wt[] AS text) WITH FUNCTION ab.wts_text(ab.wt[]);
CREATE FUNCTION ab.wts_jsonb(ab.wt[]) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM ab.allowed('blue'); RETURN pg_catalog.to_jsonb($1::numeric[]); END $$;
CREATE CAST (ab.wt[] AS jsonb) WITH FUNCTION ab.wts_jsonb(ab.wt[]);
CREATE FUNCTION ab.wts_num(ab.wt[]) RETURNS numeric[] LANGUAGE plpgsql AS $$
BEGIN PERFORM ab.allowed('blue'); RETURN pg_catalog.array_fill(0::numeric, ARRAY[1]); END $$;
CREATE CAST (ab.wt[] AS numeric[]) WITH FUNCTION ab.wts_num(ab.wt[]);
"""


@pytest.mark.parametrize("who", ["superuser", ADMIN])
def test_casts_of_the_array_type_never_run(arr, who):
    """The array type is the domain owner's, who may create casts from it: none runs in
    capture, replay, reads, an export's label or verify (a superuser's search ran the
    cast to text once for each row it rendered)."""
    with as_role(arr, OWNER) as o:
        o.execute(ARRAY_CASTS)
    with connect(arr) as c:
        c.execute("DELETE FROM spy_ab.calls")
        before = foreign_calls(c)
    try:
        with as_role(arr, OWNER) as o:
            o.execute("INSERT INTO ab.arr VALUES (3, '{6}', '{9}', 2)")
            o.execute("UPDATE ab.arr SET ws = '{10}' WHERE id = 1")
        with (connect(arr) if who == "superuser" else as_role(arr, ADMIN)) as r:
            apply(r)
            for q, _ in READS.values():
                r.execute(q).fetchall()
            r.execute("SELECT graph.export_dot('ab.arr', '2', label_property => 'ws')")
            assert [d for d in verify(r) if d[1] in ("ab.arr", "ab.arrk", "ab.arrf")] == []
            if who == "superuser":
                r.execute("SELECT graph.build()")
        with connect(arr) as c:
            assert foreign_calls(c) == before
    finally:
        with as_role(arr, OWNER) as o:
            o.execute("DELETE FROM ab.arr WHERE id = 3; UPDATE ab.arr SET ws = '{4}' WHERE id = 1")
            o.execute("DROP FUNCTION ab.wts_text, ab.wts_jsonb, ab.wts_num CASCADE")
        with connect(arr) as c:
            apply(c)
