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

NODES = """SELECT n.pk, n.node_id, n.alive, n.xmin::text::bigint AS x FROM graph._node_rows AS n
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


WRITTEN = """SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_catalog.pg_stat_xact_user_tables
WHERE relid = 'graph._node_rows'::regclass"""


def test_a_rebuild_writes_as_many_node_tuples_as_rows_changed(server, template):
    """Counted by the server (this transaction's tuple counters), not by time: a
    rebuild after two updates, one insert and one delete of 50 rows inserts one
    graph._nodes row, updates three (the two changed, the deleted one marked gone
    before it goes) and deletes one; with nothing changed it writes none. In a
    database of its own: the ids it frees would be given to the next module test's
    nodes."""
    name = "t_build_tuples"
    dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c:
            c.execute(SCHEMA)
            c.execute("UPDATE bp_people SET name = 'changed' WHERE id IN (7, 8)")
            c.execute("INSERT INTO bp_people VALUES (1000, 'new')")
            c.execute("DELETE FROM bp_people WHERE id = 45")  # no edge ends there: its row goes
            assert written_by_build(c) == (1, 3, 1)
            assert written_by_build(c) == (0, 0, 0)
            assert verify(c) == []
    finally:
        server.drop_database(name)


def written_by_build(c):
    """(inserted, updated, deleted) graph._nodes tuples of one graph.build(): the
    difference of the server's counters read before and after it in its transaction
    (they also hold earlier transactions' counts not yet reported)."""
    with c.transaction():
        before = c.execute(WRITTEN).fetchone() or (0, 0, 0)
        c.execute("SELECT graph.build()")
        after = c.execute(WRITTEN).fetchone()
    return tuple(a - b for a, b in zip(after, before, strict=True))


def test_a_first_build_numbers_the_nodes_in_key_order(server, template):
    """graph._nodes empty (a database of its own): every node is new and takes the
    next id from 0, in (table, key) order (keys compared as graph._nodes compares its
    key texts); the ghost an edge makes takes the id after them."""
    name = "t_first_build"
    dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c:
            c.execute(SCHEMA.replace("SELECT graph.build();", "INSERT INTO bp_links VALUES (500, 1, 777);"))
            c.execute("SELECT graph.build()")
            got = c.execute("SELECT pk, node_id, alive FROM graph._node_rows ORDER BY node_id").fetchall()
            assert [r[0] for r in got] == sorted(str(i) for i in range(1, 51)) + ["777"]
            assert [r[1] for r in got] == list(range(51))
            assert [r[2] for r in got] == [True] * 50 + [False]
            assert verify(c) == []
    finally:
        server.drop_database(name)


def changes_since(c, since):
    return c.execute("SELECT node_table::text, node_id, op FROM graph.changed_nodes(%s, 100000)", (since,)).fetchall()


@pytest.mark.parametrize("rows", [50, 10_050])
def test_a_first_build_records_each_new_node_and_plans_no_more_rows_than_it_records(server, template, rows):
    """A first build (graph._node_rows empty) inserts the nodes read without joining
    them with graph._node_rows into its plan (pg_temp._gs_node_plan, which lives
    until the build's transaction ends): the plan holds what changed_nodes() is told,
    every new node up to notify.MAX_REBUILD_CHANGES (10,000), and one more to say
    there are more (changed_nodes() then tells the client to reload)."""
    name = "t_first_build_plan"
    dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c:
            c.execute(SCHEMA.replace("SELECT graph.build();", "").replace("1, 50)", "1, %d)" % rows))
            since = c.execute("SELECT last_change_sync_id FROM graph.sync_health()").fetchone()[0]
            with c.transaction():
                c.execute("SELECT graph.build()")
                assert c.execute("SELECT count(*), count(*) FILTER (WHERE op = 'I' AND change = 'I')"
                                 " FROM pg_temp._gs_node_plan").fetchone() == (min(rows, 10_001),) * 2
            assert c.execute("SELECT count(*), max(node_id) FROM graph._node_rows").fetchone() == (rows, rows - 1)
            if rows <= 10_000:
                got = changes_since(c, since)
                assert sorted(r[1] for r in got) == sorted(str(i) for i in range(1, rows + 1))
                assert {(r[0], r[2]) for r in got} == {("bp_people", "insert")}
            else:
                with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):  # too many: reload
                    changes_since(c, since)
            assert verify(c) == []
    finally:
        server.drop_database(name)


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


def source_edge_rows(c):
    """graph.build() in a transaction, and the rows its read put in pg_temp._gs_src_edges
    (the text path) before it committed."""
    with c.transaction():
        c.execute("SELECT graph.build()")
        return c.execute("SELECT count(*) FROM pg_temp._gs_src_edges").fetchone()[0]


def test_integer_endpoints_are_resolved_without_the_key_text_read(people):
    """An edge source whose endpoints are integer columns of their key's type is read
    as packed integers and resolved in NumPy (sync/packed.py): none of its rows goes
    through the key texts of pg_temp._gs_src_edges; a text-keyed one still does."""
    c = people
    assert source_edge_rows(c) == 0
    assert c.execute("SELECT base_edges FROM graph.status()").fetchone()[0] == 40
    c.execute("CREATE TABLE bp_tags (code text PRIMARY KEY, person int REFERENCES bp_people)")
    c.execute("INSERT INTO bp_tags SELECT 'tag' || g, g FROM generate_series(1, 5) AS g")
    try:
        c.execute("SELECT graph.add_table('bp_tags')")
        c.execute("SELECT graph.add_edge('bp_tags', 'person', 'bp_people')")
        assert source_edge_rows(c) == 5
        assert c.execute("SELECT base_edges FROM graph.status()").fetchone()[0] == 45
        assert verify(c) == []
    finally:
        c.execute("SELECT graph.remove_table('bp_tags', cascade => true)")
        c.execute("DROP TABLE bp_tags")


MIXED = """
CREATE TABLE bp_big_keys (id bigint PRIMARY KEY, name text);
CREATE TABLE bp_small_keys (id smallint PRIMARY KEY, big bigint, also int);
CREATE TABLE bp_big_links (id serial PRIMARY KEY, a bigint, b bigint, w real, keep boolean);
INSERT INTO bp_big_keys SELECT g * 1000000000000, 'b' || g FROM generate_series(-30, 30) AS g;
INSERT INTO bp_big_keys VALUES (9223372036854775807, 'max'), (-9223372036854775808, 'min');
INSERT INTO bp_small_keys SELECT g, g * 1000000000000, g FROM generate_series(-20, 20) AS g;
INSERT INTO bp_big_links (a, b, w, keep) SELECT g * 1000000000000, (g % 7) * 1000000000000, g / 4.0, g % 3 <> 0
FROM generate_series(-30, 30) AS g;
INSERT INTO bp_big_links (a, b, w, keep) VALUES (9223372036854775807, -9223372036854775808, 2, true),
    (9223372036854775807, 123, 1, true), (-5, 9223372036854775807, NULL, true);
SELECT graph.add_table('bp_big_keys', columns => '{name}');
SELECT graph.add_table('bp_small_keys');
SELECT graph.add_edge('bp_big_keys', 'a', 'bp_big_keys', to_column => 'b', via_table => 'bp_big_links',
                      label => 'big', weight_column => 'w', bidirectional => true, row_filter => 'keep');
SELECT graph.add_edge('bp_small_keys', 'big', 'bp_big_keys', label => 'small_to_big');
SELECT graph.add_edge('bp_small_keys', 'also', 'bp_people', label => 'small_to_people');
"""


def test_packed_integer_sources_and_text_sources_agree_with_verify(people):
    """bigint keys spread thin (binary search), at the ends of the range, negative;
    a smallint key table's bigint foreign key (packed) and its int column into the int
    keys of bp_people (int into int: packed too); ghosts (123, -5), a row filter, a
    bidirectional weighted source: the graph built equals the text read verify does,
    before and after changes and a rebuild."""
    c = people
    c.execute(MIXED)
    try:
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        ghosts = {r[0] for r in c.execute("""SELECT pk FROM graph._nodes
            WHERE table_oid = 'bp_big_keys'::regclass AND NOT alive""").fetchall()}
        assert ghosts == {"123", "-5"}
        c.execute("DELETE FROM bp_big_keys WHERE id = 0")
        c.execute("UPDATE bp_big_links SET keep = NOT keep")
        c.execute("INSERT INTO bp_big_links (a, b, w, keep) VALUES (-5, 123, 3, true)")
        apply(c)
        assert verify(c) == []
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        assert c.execute("""SELECT count(*) FROM graph._nodes
            WHERE table_oid = 'bp_big_keys'::regclass AND pk = '0' AND NOT alive""").fetchone()[0] == 1
    finally:
        for t in ("bp_small_keys", "bp_big_keys"):
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (t,))
        c.execute("DROP TABLE bp_big_links, bp_small_keys, bp_big_keys")


def test_an_integer_endpoint_of_another_type_than_its_key_takes_the_text_path(people):
    """An int column into bigint keys renders as the key type renders it (the text path,
    graph._as_key_expr); the packed path is only for endpoints of the key's own type."""
    c = people
    c.execute("CREATE TABLE bp_wide (id bigint PRIMARY KEY)")
    c.execute("CREATE TABLE bp_narrow (id int PRIMARY KEY, wide int)")
    c.execute("INSERT INTO bp_wide SELECT generate_series(1, 10)")
    c.execute("INSERT INTO bp_narrow SELECT g, g FROM generate_series(1, 12) AS g")
    try:
        c.execute("SELECT graph.add_table('bp_wide')")
        c.execute("SELECT graph.add_table('bp_narrow')")
        c.execute("SELECT graph.add_edge('bp_narrow', 'wide', 'bp_wide')")
        assert source_edge_rows(c) == 12
        assert verify(c) == []
    finally:
        for t in ("bp_narrow", "bp_wide"):
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (t,))
        c.execute("DROP TABLE bp_narrow, bp_wide")


def test_a_registry_of_many_integer_edge_sources_reads_the_largest_packed_and_the_rest_as_text(people):
    """Hundreds of integer edge sources (the MusicBrainz registry has 682) must not make
    the read's statement wider than PostgreSQL allows (1,664 columns: the registry's
    build failed so) nor slow to plan:
    packed.PACKED_SOURCES (16) of them, the largest tables first, are read packed, the
    others through the text path; the graph equals the sources either way."""
    c = people
    many = 20
    c.execute("CREATE TABLE bp_many (id int PRIMARY KEY, %s)" % ", ".join("r%d int" % i for i in range(many)))
    c.execute("INSERT INTO bp_many SELECT g, %s FROM generate_series(1, 30) AS g"
              % ", ".join("1 + (g + %d) %% 50" % i for i in range(many)))
    try:
        c.execute("SELECT graph.add_table('bp_many')")
        for i in range(many):
            c.execute("SELECT graph.add_edge('bp_many', %s, 'bp_people', label => %s)", ("r%d" % i, "r%d" % i))
        # 16 of the many + 1 integer sources (bp_links too), tables of one page each: registry order
        assert source_edge_rows(c) == (many + 1 - 16) * 30
        assert c.execute("SELECT base_edges FROM graph.status()").fetchone()[0] == 40 + many * 30
        assert verify(c) == []
    finally:
        c.execute("SELECT graph.remove_table('bp_many', cascade => true)")
        c.execute("DROP TABLE bp_many")
