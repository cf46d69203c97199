"""Two superusers' hydrating traversals do not deadlock on the planned-code check's
locks: a superuser's or graph_admin member's hydration holds each table it reads in
SHARE UPDATE EXCLUSIVE mode (graph._hold_sources), which conflicts with itself, so the
tables of one round of hydration are locked in one order (by oid) whatever order the
answer lists them in. Before, a traversal from an ``a`` row took ``a`` then ``b`` and one
from a ``b`` row ``b`` then ``a``: released together, one of them failed with 40P01."""

from __future__ import annotations

import threading

import psycopg

from conftest import connect, wait_until

SCHEMA = """
CREATE SCHEMA hl;
CREATE TABLE hl.a (id int PRIMARY KEY, name text);
CREATE TABLE hl.b (id int PRIMARY KEY, a_id int REFERENCES hl.a, name text);
INSERT INTO hl.a VALUES (1, 'one');
INSERT INTO hl.b VALUES (1, 1, 'uno');
SELECT graph.add_table('hl.a', columns => '{name}');
SELECT graph.add_table('hl.b', columns => '{name}');
SELECT graph.add_edge('hl.b', 'a_id', 'hl.a', label => 'of');
SELECT graph.build();
"""

TRAVERSE = ("SELECT count(*) FROM graph.traverse(%s::regclass, '1', max_depth => 1, direction => 'any',"
            " hydrate => true)")


def _waiting(c, pids):
    return {r[0] for r in c.execute(
        "SELECT pid FROM pg_locks WHERE NOT granted AND pid = ANY (%s)", (list(pids),)).fetchall()}


def test_two_hydrating_traversals_lock_their_tables_in_one_order(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        # a is made first: its oid is the lower one
        assert c.execute("SELECT 'hl.a'::regclass::oid < 'hl.b'::regclass::oid").fetchone()[0]
        for seed in ("hl.a", "hl.b"):  # each answer lists both tables, its seed's first
            assert c.execute(TRAVERSE, (seed,)).fetchone()[0] == 2
    readers = [connect(db) for _ in range(2)]
    results = {}
    try:
        pids = [r.execute("SELECT pg_backend_pid()").fetchone()[0] for r in readers]
        for r in readers:
            r.execute("SET deadlock_timeout = '100ms'")
        with psycopg.connect(db) as holder:  # a transaction
            # a hydrating read of hl.a alone, its transaction left open: hl.a is held
            holder.execute("SELECT count(*) FROM graph.traverse('hl.a', '1', max_depth => 0, hydrate => true)")

            def run(i, seed):
                try:
                    results[i] = ("ok", readers[i].execute(TRAVERSE, (seed,)).fetchone()[0])
                except Exception as e:  # noqa: BLE001 -- the outcome is what is compared
                    results[i] = ("error", getattr(e, "sqlstate", None) or repr(e))

            threads = [threading.Thread(target=run, args=(0, "hl.a"))]
            threads[0].start()
            # the a-first read waits for hl.a (within 4 s: a read waits 5 at most)
            assert wait_until(lambda: pids[0] in _waiting(holder, pids), timeout=4), results
            threads.append(threading.Thread(target=run, args=(1, "hl.b")))
            threads[1].start()
            # the b-first read: before, it took hl.b and then waited for hl.a; now it
            # waits for hl.a first, holding nothing
            assert wait_until(lambda: pids[1] in _waiting(holder, pids), timeout=4), results
            holder.commit()
        for t in threads:
            t.join(30)
            assert not t.is_alive()
    finally:
        for r in readers:
            r.close()
    assert results == {0: ("ok", 2), 1: ("ok", 2)}
