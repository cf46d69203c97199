"""graph.build() over a graph that already has a base (sync/build.py): node ids stay
with their nodes, only the graph._nodes rows that differ are written, the ids of
nodes gone are given to new ones, a node whose row is deleted while an edge still
ends there stays as a ghost under its id; the source read runs one query per
source in one snapshot (graph._source_nodes / graph._source_edges)."""

import threading
import time

import psycopg
import pytest

from conftest import apply, connect, verify

SCHEMA = """
DROP TABLE IF EXISTS bp_links, bp_people CASCADE;
CREATE TABLE bp_people (id int PRIMARY KEY, name text);
CREATE TABLE bp_links (id int PRIMARY KEY, a int, b int);
INSERT INTO bp_people SELECT g, 'p' || g FROM generate_series(1, 50) AS g;
INSERT INTO bp_links SELECT g, g, 1 + g % 50 FROM generate_series(1, 40) AS g;
SELECT graph.add_table('bp_people', columns => '{name}');
SELECT graph.add_edge('bp_people', 'a', 'bp_people', to_column => 'b', via_table => 'bp_links', label => 'l');
SELECT graph.build();
"""

NODES = """SELECT n.pk, n.node_id, n.alive, n.xmin::text::bigint AS x FROM graph._nodes AS n
WHERE n.table_oid = 'bp_people'::regclass ORDER BY n.pk"""


def nodes(c):
    return {r[0]: r[1:] for r in c.execute(NODES).fetchall()}


@pytest.fixture
def people(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("SET graph.verify_interval = 'off'")
        yield c
        c.execute("SELECT graph.remove_table('bp_people', cascade => true)")


def test_a_rebuild_keeps_node_ids_and_writes_only_the_rows_that_changed(people):
    c = people
    before = nodes(c)
    c.execute("UPDATE bp_people SET name = 'changed' WHERE id = 7")
    c.execute("SELECT graph.build()")
    after = nodes(c)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    rewritten = sorted(k for k in after if after[k][2] != before[k][2])
    assert rewritten == ["7"]
    assert verify(c) == []


def test_a_rebuild_with_nothing_changed_writes_no_node_row(people):
    c = people
    before = nodes(c)
    c.execute("SELECT graph.build()")
    assert nodes(c) == before


def test_ids_of_nodes_gone_go_to_new_nodes(people):
    c = people
    before = nodes(c)
    c.execute("DELETE FROM bp_people WHERE id = 45")  # no edge ends there (links end at 1..41)
    apply(c)
    c.execute("SELECT graph.build()")
    mid = nodes(c)
    assert "45" not in mid and all(mid[k][0] == before[k][0] for k in mid)
    assert verify(c) == []
    c.execute("INSERT INTO bp_people VALUES (1000, 'new')")  # not replayed: new to the build
    c.execute("SELECT graph.build()")
    after = nodes(c)
    assert after["1000"][0] == before["45"][0]  # the freed id (replay would append after the last)
    assert all(after[k][0] == before[k][0] for k in mid)
    assert verify(c) == []
    got = c.execute("""SELECT node_id FROM graph.traverse('bp_people', '1000', max_depth => 1)""").fetchall()
    assert len(got) == 1


def test_a_deleted_row_an_edge_still_ends_at_is_a_ghost_under_its_id(people):
    c = people
    before = nodes(c)
    c.execute("DELETE FROM bp_people WHERE id = 3")  # bp_links 2 -> 3 and 3 -> 4 remain
    c.execute("SELECT graph.build()")
    after = nodes(c)
    assert after["3"][0] == before["3"][0] and after["3"][1] is False
    assert verify(c) == []
    c.execute("DELETE FROM bp_links WHERE a = 3 OR b = 3")
    c.execute("SELECT graph.build()")
    assert "3" not in nodes(c)
    assert verify(c) == []


def test_an_edge_to_a_key_no_row_holds_makes_a_ghost_at_build(people):
    c = people
    c.execute("INSERT INTO bp_links VALUES (500, 1, 777), (501, 778, 777)")  # 777, 778: no rows
    c.execute("SELECT graph.build()")
    got = nodes(c)
    assert got["777"][1] is False and got["778"][1] is False
    assert verify(c) == []
    ids = [v[0] for v in got.values()]
    assert len(set(ids)) == len(ids)


def test_the_source_read_is_one_snapshot(people, db):
    """Each source is read by its own query, all in the snapshot of one statement: a
    row committed by another session while the first query runs is not in the second."""
    c = people
    blocker = connect(db)
    blocker.execute("SELECT pg_advisory_lock(4242)")
    result = {}

    def read():
        with connect(db) as r:
            result["rows"] = r.execute("""
                SELECT q.i, count(*) FROM unnest(ARRAY[
                    'SELECT 1::oid, id::text, NULL::text, NULL::jsonb FROM public.bp_people
                     WHERE (SELECT pg_advisory_lock_shared(4242)) IS NOT NULL',
                    'SELECT 2::oid, id::text, NULL::text, NULL::jsonb FROM public.bp_people'])
                    WITH ORDINALITY AS q (query, i)
                CROSS JOIN LATERAL graph._source_nodes(q.query) AS n GROUP BY q.i ORDER BY q.i""").fetchall()

    t = threading.Thread(target=read)
    t.start()
    time.sleep(1.0)  # the first query waits for the lock, its snapshot taken
    assert t.is_alive()
    c.execute("INSERT INTO bp_people VALUES (2000, 'meanwhile')")  # commits
    blocker.execute("SELECT pg_advisory_unlock(4242)")
    t.join(30)
    blocker.close()
    # A VOLATILE function would run the second query in a new snapshot: (2, 51).
    assert result["rows"] == [(1, 50), (2, 50)]


def test_the_source_read_functions_are_for_admins_only(people, db):
    c = people
    c.execute("DROP ROLE IF EXISTS gs_build_stranger")
    c.execute("CREATE ROLE gs_build_stranger LOGIN")
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(db, user="gs_build_stranger"), autocommit=True) as s:
            for fn in ("_source_nodes", "_source_edges"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    s.execute("SELECT * FROM graph.%s('SELECT 1')" % fn)
    finally:
        c.execute("DROP ROLE gs_build_stranger")


def test_large_tables_are_read_by_the_statement_itself_small_ones_through_the_functions(people):
    """The read puts the sources of large tables (sources.DIRECT_PAGES) in CTEs of its
    statement and the others through graph._source_nodes/_source_edges: both kinds in
    one build give the graph the sources hold."""
    c = people
    c.execute("""CREATE TABLE bp_big (id int PRIMARY KEY, pad text, person int REFERENCES bp_people)""")
    c.execute("""INSERT INTO bp_big SELECT g, repeat('x', 200), 1 + g % 50 FROM generate_series(1, 20000) AS g""")
    try:
        pages = c.execute("SELECT pg_relation_size('bp_big') / 8192").fetchone()[0]
        assert pages >= 128  # read by the statement itself (DIRECT_PAGES)
        c.execute("SELECT graph.add_table('bp_big', columns => '{pad}')")
        c.execute("SELECT graph.add_edge('bp_big', 'person', 'bp_people')")
        c.execute("SELECT graph.build()")
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'bp_big'::regclass AND alive"
                         ).fetchone()[0] == 20000
        assert c.execute("SELECT base_edges FROM graph.status()").fetchone()[0] == 40 + 20000
        assert verify(c) == []
    finally:
        c.execute("SELECT graph.remove_table('bp_big', cascade => true)")
        c.execute("DROP TABLE bp_big")
