"""Replay resolves the ends of edge changes that name base nodes from the keys the
backend holds (sync/base_keys.py) instead of NODES: the graph it leaves is the one
NODES gives (verify() empty, as after a rebuild), and the keys are never used past
what they are true for: another generation, a transaction that wrote a base, node
ids a rolled-back apply gave."""

import json
import random

import pytest

from conftest import apply, connect, verify

STATS = """
CREATE OR REPLACE FUNCTION pg_temp.base_keys_stats() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
m = sys.modules.get("graphsync.sync.base_keys")
return json.dumps(m.STATS if m else {"resolved": 0, "loads": 0, "lent": 0})
$$
"""
NODES = 1000


def stats(c):
    return json.loads(c.execute("SELECT pg_temp.base_keys_stats()").fetchone()[0])


@pytest.fixture
def graph(db):
    """A fresh schema: 1,000 integer-keyed people, text-keyed tags (some keys the
    text of an integer, '007' not) and 400 uuid-keyed docs, a join table of links
    between people and one of people to tags, and a foreign key from people to docs;
    built."""
    with connect(db) as c:
        c.execute("""
            DROP SCHEMA IF EXISTS bk CASCADE;
            CREATE SCHEMA bk;
            CREATE TABLE bk.docs (id uuid PRIMARY KEY);
            CREATE TABLE bk.people (id int PRIMARY KEY, name text, doc uuid);
            CREATE TABLE bk.tags (id text PRIMARY KEY);
            CREATE TABLE bk.links (id int PRIMARY KEY, a int, b int);
            CREATE TABLE bk.tagged (id int PRIMARY KEY, person int, tag text);
            INSERT INTO bk.docs SELECT md5(g::text)::uuid FROM generate_series(1, 400) AS g;
            INSERT INTO bk.people SELECT g, 'p' || g, md5((g %% 400)::text)::uuid FROM generate_series(1, %d) AS g;
            INSERT INTO bk.tags SELECT g::text FROM generate_series(1, 300) AS g;
            INSERT INTO bk.tags SELECT '00' || g FROM generate_series(1, 300) AS g;
            INSERT INTO bk.links SELECT g, 1 + g %% %d, 1 + (g * 7) %% %d FROM generate_series(1, 3000) AS g;
            INSERT INTO bk.tagged SELECT g, 1 + g %% %d, CASE WHEN g %% 2 = 0 THEN '00' ELSE '' END || (1 + g %% 300)
            FROM generate_series(1, 1000) AS g;
            SELECT graph.add_table('bk.people', columns => '{name}');
            SELECT graph.add_table('bk.tags');
            SELECT graph.add_table('bk.docs');
            SELECT graph.add_edge('bk.people', 'doc', 'bk.docs', label => 'cites');
            SELECT graph.add_edge('bk.people', 'a', 'bk.people', to_column => 'b', via_table => 'bk.links',
                                  label => 'knows');
            SELECT graph.add_edge('bk.people', 'person', 'bk.tags', to_column => 'tag', via_table => 'bk.tagged',
                                  label => 'tagged');
            SELECT graph.build();
        """ % (NODES, NODES, NODES, NODES))
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA bk CASCADE")  # unregisters the tables (the event trigger)


def move_links(c, rng, n, high=NODES + 50):
    """``n`` links moved to random people, some of them not (yet) people (ghost ends)."""
    for i in rng.sample(range(1, 3001), n):
        c.execute("UPDATE bk.links SET a = %s, b = %s WHERE id = %s", (rng.randint(1, high), rng.randint(1, high), i))


def recite(c, rng, n):
    """``n`` people citing another doc (a few of them no doc: ghost ends); their
    other columns as they were, so no change to their own nodes' state but the edge."""
    for i in rng.sample(range(1, NODES + 1), n):
        c.execute("UPDATE bk.people SET doc = md5(%s::text)::uuid WHERE id = %s", (rng.randint(1, 420), i))


def retag(c, rng, n):
    for i in rng.sample(range(1, 1001), n):
        tag = rng.choice(["", "00"]) + str(rng.randint(1, 330))
        c.execute("UPDATE bk.tagged SET person = %s, tag = %s WHERE id = %s", (rng.randint(1, NODES), tag, i))


def test_replay_resolves_base_ends_from_held_keys_and_gives_what_nodes_does(graph):
    rng = random.Random(1)
    with connect(graph) as c:
        c.execute(STATS)
        before = stats(c)
        for _ in range(4):
            move_links(c, rng, 150)
            retag(c, rng, 100)
            recite(c, rng, 100)
            c.execute("INSERT INTO bk.people SELECT max(id) + 1, 'new' FROM bk.people")  # past the base
            apply(c)
            assert verify(c) == []
        after = stats(c)
        # Each table's keys read once; ends resolved from them, the others by NODES.
        assert after["loads"] - before["loads"] == 3
        assert after["resolved"] > before["resolved"] + 500
        # uuids, and texts that are no integer's ('007'), are found too
        recite(c, rng, 150)
        apply(c)
        assert stats(c)["resolved"] - after["resolved"] >= 150
        was = stats(c)["resolved"]
        for i in rng.sample(range(1, 1001), 100):
            c.execute("UPDATE bk.tagged SET tag = '00' || %s WHERE id = %s", (rng.randint(1, 300), i))
        apply(c)
        assert stats(c)["resolved"] - was >= 100
        assert verify(c) == []
        c.execute("SELECT graph.build()")
        assert verify(c) == []


def test_held_keys_are_read_again_for_a_new_generation(graph):
    rng = random.Random(2)
    with connect(graph) as a, connect(graph) as b:
        a.execute(STATS)
        move_links(a, rng, 150)
        apply(a)
        loads = stats(a)["loads"]
        assert loads >= 1
        # Another backend builds: node rows of deleted people go and their ids are
        # given to new people.
        b.execute("DELETE FROM bk.links WHERE a <= 40 OR b <= 40")
        b.execute("DELETE FROM bk.tagged WHERE person <= 40")
        b.execute("DELETE FROM bk.people WHERE id <= 40")
        b.execute("INSERT INTO bk.people SELECT g, 'late' FROM generate_series(5001, 5040) AS g")
        b.execute("SELECT graph.build()")
        move_links(a, rng, 150)  # some ends among the deleted people 1..40 (ghosts now)
        apply(a)
        assert stats(a)["loads"] > loads
        assert verify(a) == []


def delete_people(c, low, high):
    c.execute("DELETE FROM bk.links WHERE a BETWEEN %s AND %s OR b BETWEEN %s AND %s", (low, high, low, high))
    c.execute("DELETE FROM bk.tagged WHERE person BETWEEN %s AND %s", (low, high))
    c.execute("DELETE FROM bk.people WHERE id BETWEEN %s AND %s", (low, high))


def test_a_transaction_that_wrote_a_base_neither_reads_nor_uses_held_keys(graph):
    """A build that rolls back numbers a generation the next build numbers again,
    with other ids. (apply_sync applies committed rows: another connection writes.)"""
    rng = random.Random(3)
    with connect(graph) as c, connect(graph) as w:
        c.execute(STATS)
        move_links(w, rng, 150)
        apply(c)  # held for this generation
        before = stats(c)
        with c.transaction(force_rollback=True):
            delete_people(w, 1, 40)
            c.execute("SELECT graph.build()")  # a generation that rolls back
            move_links(w, rng, 150)
            apply(c)
            assert stats(c) == before
            assert verify(c) == []
        # The same generation number, built again with other nodes gone and added.
        delete_people(w, 41, 80)
        w.execute("INSERT INTO bk.people SELECT g, 'late' FROM generate_series(6001, 6040) AS g")
        c.execute("SELECT graph.build()")
        move_links(w, rng, 150, high=90)  # ends among 41..80, gone now
        apply(c)
        assert stats(c)["resolved"] > before["resolved"]
        assert verify(c) == []


def test_ids_a_rolled_back_apply_gave_are_never_held(graph):
    """Keys read in a transaction whose apply made nodes: when it rolls back, the
    next apply may give those ids to other keys -- here the rows of a transaction
    that committed later with lower log ids, which the next pass applies first."""
    with connect(graph) as admin:
        admin.execute("SELECT graph.set_setting('graph.sync_batch_size', '100')")  # sessions after it
        try:
            with connect(graph) as c, connect(graph) as w, connect(graph) as early:
                c.execute(STATS)
                early.execute("BEGIN")
                early.execute("INSERT INTO bk.people SELECT g, 'early' FROM generate_series(3001, 3100) AS g")
                w.execute("INSERT INTO bk.people SELECT g, 'gone' FROM generate_series(2001, 2100) AS g")
                with c.transaction(force_rollback=True):
                    apply(c)  # the new people get the first ids past the base; nothing held yet
                    loads = stats(c)["loads"]
                    for i in range(1, 201):  # ends at the new people and at base ones, batches apart
                        w.execute("UPDATE bk.links SET a = %s, b = %s WHERE id = %s", (2000 + (i % 100) + 1, i, i))
                    apply(c)
                    assert stats(c)["loads"] > loads  # read while this transaction's nodes were there
                early.execute("COMMIT")
                # 3001.. take the ids 2001.. had; then 2001.. and the links again, 100 rows a batch
                assert apply(c)["batches"] == 4
                assert verify(c) == []
        finally:
            admin.execute("SELECT graph.set_setting('graph.sync_batch_size', NULL)")


def test_held_keys_are_counted_in_the_backends_cache_bytes(graph):
    """16 bytes a held node whose key is an integer's text (key and id: the 1,000
    people and 300 tags), 72 for another (64 bytes of text: the 300 tags '00<n>'),
    in a backend that has only applied."""
    rng = random.Random(5)
    with connect(graph) as c, connect(graph) as w:
        c.execute(STATS)
        for _ in range(2):
            move_links(w, rng, 150)
            retag(w, rng, 100)
            apply(c)
        assert stats(c)["loads"] == 2
        assert c.execute("SELECT cache_bytes FROM graph.status()").fetchone()[0] == 16 * (NODES + 300) + 72 * 300


def test_a_table_whose_keys_cannot_be_read_is_left_to_nodes_once_and_said(graph):
    """Reading a table's keys can fail (past what a bytea holds: 1 GB of keys): the read
    rolls back alone with a WARNING, the batch applies, and the table's ends go to
    NODES for the rest of the generation, not read again at every batch."""
    rng = random.Random(6)
    with connect(graph) as c, connect(graph) as w:
        c.execute(STATS)
        c.execute("""CREATE FUNCTION pg_temp.break_reads() RETURNS void LANGUAGE plpython3u AS $$
                     import sys
                     if "graphsync" not in SD and plpy.execute(
                             "SELECT graph._import_package() AS settled")[0]["settled"]:
                         SD["graphsync"] = True
                     from graphsync.sync import packed
                     packed.NODE_KEYS = "SELECT 1 / 0 AS k, NULL::bytea AS i WHERE $1 > 0 AND $2 > 0" $$""")
        c.execute("SELECT pg_temp.break_reads()")
        warnings = []
        c.add_notice_handler(lambda d: warnings.append(d.message_primary))
        for _ in range(3):
            move_links(w, rng, 150)
            result = apply(c)
            assert result["failed"] == 0 and result["batches"] == 1
        assert stats(c) == {"resolved": 0, "loads": 1, "lent": 0}
        assert [m for m in warnings if "could not read the keys" in m] == [
            "graphsync: replay could not read the keys of table %d (division by zero); the ends of its edges are"
            " looked up one by one" % c.execute("SELECT 'bk.people'::regclass::oid").fetchone()[0]]
        assert verify(c) == []


def test_a_reads_own_apply_holds_no_keys(graph):
    """The apply a read's freshness step runs (graph._apply_for_read) looks every end
    up by NODES: every reading backend would otherwise hold the keys."""
    rng = random.Random(7)
    with connect(graph) as c, connect(graph) as w:
        c.execute(STATS)
        for _ in range(3):
            move_links(w, rng, 150)
            c.execute("SELECT graph._apply_for_read()")
            assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
        assert stats(c) == {"resolved": 0, "loads": 0, "lent": 0}
        move_links(w, rng, 150)
        apply(c)  # an admin's apply in the same backend does
        assert stats(c)["loads"] == 1
        assert verify(c) == []


TRAVERSE = "SELECT count(*) FROM graph.traverse('bk.people', '1', max_depth => 2)"


def test_a_reads_apply_finds_ends_in_the_key_index_its_backend_holds(graph):
    """A reader that folded many pending rows holds the base's keys (reads/nodes.py:
    int_key_index for the people, key_index for the uuid docs); the apply its reads
    run (graph._apply_for_read) finds base ends there instead of by NODES (half of
    such an apply's CPU at 200k nodes), reads no table's keys, and leaves the graph a
    rebuild gives. Before: every end went to NODES (lent 0)."""
    rng = random.Random(8)
    with connect(graph) as c, connect(graph) as w:
        c.execute(STATS)
        move_links(w, rng, 1200)  # 4,800 ends: the fold builds the index
        recite(w, rng, 600)
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")  # folds, never applies
            c.execute(TRAVERSE).fetchone()
        assert stats(c) == {"resolved": 0, "loads": 0, "lent": 0}
        for _ in range(2):
            move_links(w, rng, 150)
            recite(w, rng, 100)
            c.execute("SELECT graph._apply_for_read()")
            assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
            assert verify(c) == []
        got = stats(c)
        assert got["loads"] == 0
        assert got["lent"] == got["resolved"] > 2 * (150 + 100)
        c.execute("SELECT graph.build()")  # a new generation: nothing lent for it
        move_links(w, rng, 150)
        c.execute("SELECT graph._apply_for_read()")
        assert stats(c) == got
        assert verify(c) == []


LEND = """
CREATE OR REPLACE FUNCTION pg_temp.lend_and_look() RETURNS boolean LANGUAGE plpython3u AS $$
from graphsync.sync import base, base_keys
class Holder:
    def lent(self):
        return None, {}
holder = Holder()
base._beside.pop("lent_keys", None)
g = plpy.execute("SELECT generation FROM graph._sync_state")[0]["generation"]
base_keys.lend(plpy, g, holder)
return "lent_keys" in base._beside
$$
"""


def test_a_transaction_that_wrote_a_base_lends_no_keys(graph):
    """Keys a reader read in a transaction that wrote a base are of a generation that
    may roll back and be numbered again by another build: never lent to replay."""
    with connect(graph) as c:
        c.execute(TRAVERSE).fetchone()  # the package imported in this backend
        c.execute(LEND)
        assert c.execute("SELECT pg_temp.lend_and_look()").fetchone()[0]
        with c.transaction(force_rollback=True):
            c.execute("SELECT graph.build()")
            assert not c.execute("SELECT pg_temp.lend_and_look()").fetchone()[0]
