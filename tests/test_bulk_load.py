"""Bulk loads after registration: a load of several times graph.edge_buffer_size
edge changes followed by one graph.apply_sync() is folded into a rebuild of the
base in that call. The graph ends equal to the sources and writable, the overlay
empty, the log rows applied exactly once (also those the rebuilding transaction
wrote itself, and those of one that commits after the rebuild), and reads take their fast
paths: nothing pending to fold, no full arrays built (counted, not timed). A
read's own apply never rebuilds: it turns the graph read-only, and the admin's
next apply rebuilds it."""

import json

import pytest

from conftest import apply, connect, verify

BUFFER = 1000
LOAD = 5 * BUFFER

SCHEMA = """
CREATE SCHEMA bulk;
CREATE TABLE bulk.parents (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE bulk.children (id int PRIMARY KEY, parent_id int, name text NOT NULL);
INSERT INTO bulk.parents SELECT g, 'p' || g FROM generate_series(1, 100) g;
SELECT graph.add_table('bulk.parents', columns => '{name}');
SELECT graph.add_table('bulk.children', columns => '{name}');
SELECT graph.add_edge('bulk.children', 'parent_id', 'bulk.parents', label => 'child_of');
SELECT graph.build();
"""

STATS = """
CREATE OR REPLACE FUNCTION pg_temp.view_stats() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
view = sys.modules.get("graphsync.reads.view")
return json.dumps(view.STATS if view else None)
$$
"""

STATE = "SELECT generation, read_only, overlay_count FROM graph._sync_state"
CHILDREN_OF = "SELECT count(*) FROM graph.traverse('bulk.parents', %s, max_depth => 1, direction => 'in')"


@pytest.fixture
def bulk(db):
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS bulk CASCADE")  # unregistered as it drops
        c.execute(SCHEMA)
    return db


def load(c, lo, hi):
    c.execute("""INSERT INTO bulk.children SELECT g, 1 + g %% 100, 'c' || g
                 FROM generate_series(%s::int, %s::int) g""", (lo, hi))


def pending(c):
    return c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0]


def stats(c):
    return json.loads(c.execute("SELECT pg_temp.view_stats()").fetchone()[0])


def test_one_apply_folds_a_bulk_load_larger_than_the_edge_buffer_into_a_rebuild(bulk):
    with connect(bulk) as c, connect(bulk) as late, connect(bulk) as r:
        c.execute(f"SET graph.edge_buffer_size = {BUFFER}")
        generation = c.execute(STATE).fetchone()[0]
        load(c, 1, LOAD)
        late.execute("BEGIN")
        load(late, LOAD + 1, LOAD + 10)  # in progress while the apply rebuilds
        result = apply(c)
        assert result["stopped"] is None and result["failed"] == 0
        assert c.execute(STATE).fetchone() == (generation + 1, False, 0)
        assert verify(c) == []
        late.execute("COMMIT")
        assert pending(c) == 10
        result = apply(c)  # the late rows, replayed once: into the overlay, not another rebuild
        assert result["inserts"] == 10 and result["stopped"] is None
        assert c.execute(STATE).fetchone() == (generation + 1, False, 10)
        assert pending(c) == 0 and verify(c) == []

        # A reader: nothing pending to apply or fold, the base loaded once, no full arrays.
        r.execute(STATS)
        expected = c.execute("SELECT count(*) FROM bulk.children WHERE parent_id = 7").fetchone()[0]
        assert r.execute(CHILDREN_OF, ["7"]).fetchone()[0] == 1 + expected
        c.execute("INSERT INTO bulk.children VALUES (%s, 7, 'one more')", (LOAD + 11,))
        apply(c)
        assert r.execute(CHILDREN_OF, ["7"]).fetchone()[0] == 2 + expected
        seen = stats(r)
        assert seen["base_loads"] == 1 and seen["full_arrays"] == 0 and seen["adjacency_builds"] <= 1
        c.execute("RESET graph.edge_buffer_size")


def test_a_rebuild_in_a_transaction_that_wrote_puts_its_own_rows_in_the_base_once(bulk):
    with connect(bulk) as c:
        c.execute(f"SET graph.edge_buffer_size = {BUFFER}")
        load(c, 1, LOAD)
        with c.transaction():
            load(c, LOAD + 1, LOAD + 5)  # its own rows: the rebuild reads them
            result = apply(c)
            assert result["stopped"] is None and c.execute(STATE).fetchone()[1:] == (False, 0)
            c.execute("UPDATE bulk.children SET parent_id = 8 WHERE id = %s", (LOAD + 1,))  # after it
        assert pending(c) == 1
        assert apply(c)["updates"] == 1
        assert c.execute(STATE).fetchone()[1:] == (False, 2)  # one edge out, one in
        assert verify(c) == []
        c.execute("RESET graph.edge_buffer_size")


def test_a_reads_apply_turns_read_only_and_the_admins_apply_rebuilds(bulk):
    with connect(bulk) as c:
        c.execute(f"SET graph.edge_buffer_size = {BUFFER}")
        generation = c.execute(STATE).fetchone()[0]
        load(c, 1, LOAD)
        c.execute("SELECT graph._apply_for_read()")
        assert c.execute("SELECT read_only, read_only_reason FROM graph._sync_state").fetchone() == (
            True, "edge_buffer_full")
        result = apply(c)
        assert result["stopped"] is None
        assert c.execute(STATE).fetchone() == (generation + 1, False, 0)
        assert pending(c) == 0 and verify(c) == []
        c.execute("RESET graph.edge_buffer_size")
