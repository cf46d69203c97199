"""graph.alter_table, graph.remove_filter_column, graph.alter_edge: a registration
changed in place; bad calls refused with a SQLSTATE and changing nothing; after the
change and a build (and writes replayed after it) the graph equals the sources."""

from __future__ import annotations

import psycopg
import pytest

from conftest import apply, connect, verify
from test_registration_errors import state

OBJECTS = """
CREATE TABLE org (id int PRIMARY KEY, name text, city text, size int);
CREATE TABLE person (id int PRIMARY KEY, name text, email text, status text, org_id int REFERENCES org);
INSERT INTO org VALUES (1, 'acme', 'paris', 10), (2, 'globex', 'rome', 20);
INSERT INTO person VALUES (1, 'ada', 'a@x', 'open', 1), (2, 'bob', 'b@x', 'closed', 1), (3, 'cy', 'c@x', 'open', 2);
SELECT graph.add_table('org', columns => '{name}');
SELECT graph.add_table('person', columns => '{name}');
SELECT graph.add_edge('person', 'org_id', 'org', label => 'works_at');
SELECT graph.add_filter_column('person', 'status');
SELECT graph.build();
"""


@pytest.fixture(scope="module")
def objects(db):
    with connect(db) as c:
        c.execute(OBJECTS)
    return db


def node_props(c, tbl, pk):
    return c.execute("SELECT properties FROM graph._nodes WHERE table_oid = %s::regclass AND pk = %s AND alive",
                     (tbl, pk)).fetchone()[0]


def registered(c, tbl):
    return c.execute("SELECT columns, filter_columns FROM graph._node_tables WHERE table_oid = %s::regclass",
                     (tbl,)).fetchone()


CASES = [
    ("not_registered", "SELECT graph.alter_table('pg_class')", "55000"),
    ("unknown_column", "SELECT graph.alter_table('person', add_properties => '{nope}')", "42703"),
    ("unknown_filter_column", "SELECT graph.alter_table('person', add_filter_columns => '{nope}')", "42703"),
    ("null_column", "SELECT graph.alter_table('person', add_properties => ARRAY[NULL])", "22004"),
    ("already_a_property", "SELECT graph.alter_table('person', add_properties => '{name}')", "42710"),
    ("already_a_filter", "SELECT graph.alter_table('person', add_filter_columns => '{status}')", "42710"),
    ("remove_a_non_property", "SELECT graph.alter_table('person', remove_properties => '{email}')", "42703"),
    ("added_and_removed", "SELECT graph.alter_table('person', add_properties => '{email}',"
     " remove_properties => '{email}')", "22023"),
    # a good change in the same call is not half done
    ("good_then_bad", "SELECT graph.alter_table('person', add_properties => '{email}',"
     " remove_filter_columns => '{name}')", "42703"),
    ("remove_non_filter", "SELECT graph.remove_filter_column('person', 'email')", "42703"),
    ("remove_filter_unregistered", "SELECT graph.remove_filter_column('pg_class', 'relname')", "55000"),
    ("edge_unknown", "SELECT graph.alter_edge(9999, label => 'x')", "42704"),
    ("edge_null", "SELECT graph.alter_edge(NULL, label => 'x')", "22004"),
    ("edge_empty_label", "SELECT graph.alter_edge((SELECT min(edge_source_id) FROM graph._edge_sources),"
     " label => '')", "22023"),
    ("filter_with_subquery", "SELECT graph.alter_table('person', row_filter => 'id IN (SELECT 1)')", "42P17"),
    ("filter_volatile", "SELECT graph.alter_table('person', row_filter => 'random() > 0.5')", "42P17"),
    ("filter_unknown_column", "SELECT graph.alter_table('person', row_filter => 'nope IS NULL')", "42703"),
    ("filter_and_clear", "SELECT graph.alter_table('person', row_filter => 'true', clear_row_filter => true)",
     "22023"),
    ("edge_filter_not_boolean", "SELECT graph.alter_edge((SELECT min(edge_source_id) FROM graph._edge_sources),"
     " row_filter => 'id + 1')", "42804"),
    ("edge_filter_two_statements", "SELECT graph.alter_edge((SELECT min(edge_source_id) FROM graph._edge_sources),"
     " row_filter => 'true; drop table org')", "22023"),
]


@pytest.mark.parametrize(("call", "sqlstate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_calls_are_refused_and_change_nothing(objects, call, sqlstate):
    with connect(objects) as c:
        before = state(c)
        with pytest.raises(psycopg.Error) as info:
            c.execute(call)
        assert info.value.sqlstate == sqlstate, f"{call}: {info.value.sqlstate} {info.value}"
        assert state(c) == before


def test_non_admins_are_refused(objects):
    with connect(objects) as c:
        c.execute("DROP ROLE IF EXISTS alter_reader")
        c.execute("CREATE ROLE alter_reader LOGIN")
        c.execute("GRANT SELECT, TRIGGER ON person TO alter_reader")
        c.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graph TO alter_reader")
        before = state(c)
    try:
        with connect(objects, user="alter_reader") as c:
            for call in ("SELECT graph.alter_table('person', add_properties => '{email}')",
                         "SELECT graph.remove_filter_column('person', 'status')",
                         "SELECT graph.alter_edge((SELECT min(edge_source_id) FROM graph._edge_sources), 'x')"):
                with pytest.raises(psycopg.Error) as info:
                    c.execute(call)
                assert info.value.sqlstate == "42501", call
        with connect(objects) as c:
            assert state(c) == before
    finally:
        with connect(objects) as c:
            c.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA graph FROM alter_reader")
            c.execute("DROP OWNED BY alter_reader")
            c.execute("DROP ROLE alter_reader")


def test_properties_added_and_removed_reach_the_graph(objects):
    with connect(objects) as c:
        c.execute("SELECT graph.alter_table('person', add_properties => '{email}', remove_properties => '{name}')")
        assert registered(c, "person") == (["email"], ["status"])
        assert c.execute("SELECT build_required FROM graph._sync_state").fetchone()[0]
        # capture follows at once: a write after the change carries the new columns
        c.execute("UPDATE person SET email = 'ada@x' WHERE id = 1")
        apply(c)
        assert node_props(c, "person", "1") == {"email": "ada@x", "status": "open"}
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        assert node_props(c, "person", "2") == {"email": "b@x", "status": "closed"}
        c.execute("UPDATE person SET name = 'bea' WHERE id = 2")  # no registered column: nothing to log
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
        c.execute("SELECT graph.alter_table('person', add_properties => '{name}', remove_properties => '{email}')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        assert node_props(c, "person", "2") == {"name": "bea", "status": "closed"}


def test_filter_columns_added_and_removed(objects):
    with connect(objects) as c:
        c.execute("SELECT graph.alter_table('org', add_filter_columns => '{city}')")
        c.execute("SELECT graph.build()")
        found = c.execute("SELECT node_id FROM graph.traverse('person', '1', max_depth => 1,"
                          " filter => '{\"city\": \"rome\"}')").fetchall()
        assert found == [("1",)]  # org 1 is in paris: filtered out
        c.execute("SELECT graph.remove_filter_column('org', 'city')")
        assert registered(c, "org") == (["name"], [])
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        with pytest.raises(psycopg.Error) as info:  # no table has it any more
            c.execute("SELECT * FROM graph.traverse('person', '1', filter => '{\"city\": \"rome\"}')")
        assert info.value.sqlstate == "22023"
        c.execute("SELECT graph.remove_filter_column('person', 'status')")
        c.execute("SELECT graph.add_filter_column('person', 'status')")  # and back
        c.execute("SELECT graph.build()")
        assert verify(c) == []


def test_an_edge_source_relabelled_and_made_bidirectional(objects):
    with connect(objects) as c:
        es = c.execute("SELECT edge_source_id FROM graph._edge_sources WHERE label = 'works_at'").fetchone()[0]
        before = state(c)
        assert c.execute("SELECT graph.alter_edge(%s)", (es,)).fetchone()[0] == es  # nothing to change
        assert state(c) == before
        c.execute("SELECT graph.alter_edge(%s, label => 'employed_by', bidirectional => true)", (es,))
        assert c.execute("SELECT build_required FROM graph._sync_state").fetchone()[0]
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        rows = c.execute("SELECT node_table::text, node_id, edge_label FROM graph.traverse('org', '1',"
                         " max_depth => 1, direction => 'out') WHERE depth = 1 ORDER BY node_id").fetchall()
        assert rows == [("person", "1", "employed_by"), ("person", "2", "employed_by")]
        c.execute("INSERT INTO person VALUES (4, 'di', 'd@x', 'open', 2)")
        c.execute("DELETE FROM person WHERE id = 3")
        apply(c)
        assert verify(c) == []
        rows = c.execute("SELECT node_id, edge_label FROM graph.traverse('org', '2', max_depth => 1)"
                         " WHERE depth = 1").fetchall()
        assert rows == [("4", "employed_by")]
        c.execute("SELECT graph.alter_edge(%s, label => 'works_at', bidirectional => false)", (es,))
        c.execute("SELECT graph.build()")
        assert verify(c) == []


def test_row_filters_set_and_cleared(objects):
    with connect(objects) as c:
        es = c.execute("SELECT edge_source_id FROM graph._edge_sources WHERE from_table = 'person'::regclass"
                       ).fetchone()[0]
        c.execute("SELECT graph.alter_table('person', row_filter => $$status <> 'closed'$$)")
        c.execute("SELECT graph.alter_edge(%s, row_filter => 'id <> 1')", (es,))
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        alive = {r[0] for r in c.execute("SELECT pk FROM graph._nodes WHERE table_oid = 'person'::regclass AND alive")}
        assert alive == set(c.execute("SELECT string_agg(id::text, ',') FROM person WHERE status <> 'closed'"
                                      ).fetchone()[0].split(","))
        # capture follows the new filters at once: moving in and out of them
        c.execute("UPDATE person SET status = 'closed' WHERE id = 4")
        c.execute("UPDATE person SET status = 'open' WHERE id = 2")
        apply(c)
        assert verify(c) == []
        linked = {r[0] for r in c.execute("SELECT node_id FROM graph.traverse('org', '1', max_depth => 1,"
                                          " direction => 'in') WHERE depth = 1")}
        assert linked == {"2"}  # person 1 is filtered out of the edge source, person 2 open again
        c.execute("SELECT graph.alter_table('person', clear_row_filter => true)")
        c.execute("SELECT graph.alter_edge(%s, clear_row_filter => true)", (es,))
        assert c.execute("SELECT row_filter FROM graph._node_tables WHERE table_oid = 'person'::regclass"
                         ).fetchone()[0] is None
        c.execute("SELECT graph.build()")
        assert verify(c) == []
