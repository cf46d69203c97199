"""A backlog large against the graph is rebuilt, not replayed (graph.rebuild_backlog_rows,
sync/apply.py backlog_rebuilds): apply_sync() folds it into a new base (graph.build() in
the call) instead of writing a node, overlay and change-log row per change. The graph
it leaves is the one the per-batch replay leaves on the same log (same nodes by key with
the same state, same edges read by key, verify() empty both ways); a backlog under the
setting, or under half the graph's size, a bounded call and a read's apply replay as
before; a rebuild that fails falls back to the per-batch replay of the same rows; a
cancel in the rebuild rolls the call back, marks no row failed and leaves every row
pending."""

import random

import psycopg
import pytest

from conftest import apply, connect, verify

SCHEMA = """
DROP SCHEMA IF EXISTS rb CASCADE;
CREATE SCHEMA rb;
CREATE TABLE rb.n (id int PRIMARY KEY, ws int NOT NULL, name text);
CREATE TABLE rb.m (id int PRIMARY KEY, n_id int, tag text);
CREATE TABLE rb.l (id serial PRIMARY KEY, src int NOT NULL, dst int NOT NULL, w float8, kind text NOT NULL);
INSERT INTO rb.n SELECT g, g % 3, 'n' || g FROM generate_series(1, 40) g;
SELECT graph.add_table('rb.n', columns => '{name}', tenant_column => 'ws');
SELECT graph.add_table('rb.m', columns => '{tag}');
SELECT graph.add_edge('rb.m', 'n_id', 'rb.n', label => 'of');
SELECT graph.add_edge('rb.n', 'src', 'rb.n', to_column => 'dst', via_table => 'rb.l',
                      weight_column => 'w', label_column => 'kind', bidirectional => true);
SELECT graph.build();
"""

STATE = "SELECT generation, overlay_count FROM graph._sync_state"
PENDING = "SELECT pending_sync_rows FROM graph.sync_health()"


@pytest.fixture
def rb(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def history(c, seed, steps=60):
    """Random writes over the three tables: inserts, property, key and end changes,
    deletes (tombstones with edges), join rows added, moved and removed."""
    rng = random.Random(seed)
    top = {"n": 40, "m": 0}
    for step in range(steps):
        k = rng.randrange(9)
        if k == 0:
            lo = top["n"] + 1
            top["n"] += rng.randint(1, 30)
            c.execute("INSERT INTO rb.n SELECT g, g %% 3, 'n' || g FROM generate_series(%s::int, %s::int) g",
                      [lo, top["n"]])
        elif k == 1:
            lo = top["m"] + 1
            top["m"] += rng.randint(1, 40)
            c.execute("INSERT INTO rb.m SELECT g, 1 + (g * 7) %% %s, 't' || g FROM generate_series(%s::int, %s::int) g",
                      [top["n"] + 5, lo, top["m"]])  # some ends no row holds yet: ghosts
        elif k == 2:
            c.execute("INSERT INTO rb.l (src, dst, w, kind) SELECT 1 + (g * %s) %% %s, 1 + (g * 13) %% %s,"
                      " CASE WHEN g %% 5 = 0 THEN NULL ELSE 1 + g %% 4 END, (ARRAY['a', 'b'])[1 + g %% 2]"
                      " FROM generate_series(1, %s::int) g",
                      [rng.randint(1, 50), top["n"], top["n"], rng.randint(1, 60)])
        elif k == 3:
            c.execute("UPDATE rb.n SET name = name || '*', ws = (ws + 1) %% 3 WHERE id %% %s = 0", [rng.randint(2, 9)])
        elif k == 4:
            c.execute("UPDATE rb.m SET n_id = 1 + (n_id * 3) %% %s WHERE id %% %s = 0", [top["n"], rng.randint(2, 6)])
        elif k == 5:
            c.execute("DELETE FROM rb.n WHERE id %% %s = %s", [rng.randint(7, 20), rng.randint(0, 6)])
        elif k == 6:
            c.execute("DELETE FROM rb.l WHERE id %% %s = 0", [rng.randint(3, 9)])
        elif k == 7:
            c.execute("UPDATE rb.l SET dst = 1 + (dst * 5) %% %s, w = w + 1 WHERE id %% %s = 1",
                      [top["n"], rng.randint(3, 8)])
        else:  # a key change: the old key's node dies, the new one is born
            fresh = 10**7 + step
            c.execute("UPDATE rb.n SET id = %s WHERE id = (SELECT min(id) FROM rb.n WHERE id %% 4 = %s)",
                      [fresh, rng.randint(0, 3)])


def graph_by_keys(c):
    """The graph as keys: each alive node's tenant and properties, and each node's
    neighbours in every direction (table, key, label) with the cheapest weight of a
    path to a few others: the same whatever node ids a path gave."""
    nodes = c.execute("SELECT table_oid::regclass::text, pk, tenant, properties::text FROM graph._nodes"
                      " WHERE alive ORDER BY 1, 2").fetchall()
    near = {}
    for table, pk, _, _ in nodes:
        for direction in ("out", "in"):
            near[table, pk, direction] = sorted(c.execute(
                "SELECT node_table::text, node_id, depth, edge_label FROM graph.traverse(%s, %s, max_depth => 1,"
                " direction => %s, max_nodes => 100000)", [table, pk, direction]).fetchall())
    keys = [pk for table, pk, _, _ in nodes if table == "rb.n"]
    costs = [c.execute("SELECT max(total_cost) FROM graph.weighted_shortest_path('rb.n', %s, 'rb.n', %s,"
                       " direction => 'out')", [a, b]).fetchone()[0]
             for a, b in zip(keys[:12], keys[-12:], strict=False)]
    return nodes, near, costs


def both_ways(c):
    """(graph by keys, generation moved) after the per-batch replay, rolled back, then
    after the same log applied as a rebuild (committed)."""
    generation = c.execute(STATE).fetchone()[0]
    with c.transaction(force_rollback=True):
        c.execute("SET LOCAL graph.rebuild_backlog_rows = 2147483647")
        result = apply(c)
        assert result["stopped"] is None and result["failed"] == 0
        assert c.execute(STATE).fetchone()[0] == generation  # replayed into the overlay
        assert verify(c) == []
        replayed = graph_by_keys(c)
    c.execute("SET graph.rebuild_backlog_rows = 1")
    result = apply(c)
    c.execute("RESET graph.rebuild_backlog_rows")
    assert result["stopped"] is None and result["failed"] == 0
    assert c.execute(STATE).fetchone() == (generation + 1, 0)  # a new base, no overlay row
    assert c.execute(PENDING).fetchone()[0] == 0
    assert verify(c) == []
    return replayed, graph_by_keys(c)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_backlog_rebuilt_gives_the_graph_the_replay_gives(rb, seed):
    with connect(rb) as c:
        history(c, seed)
        assert c.execute(PENDING).fetchone()[0] > 100
        replayed, rebuilt = both_ways(c)
        assert rebuilt == replayed
        assert len(rebuilt[0]) > 40


def test_rows_committed_during_and_after_the_rebuild_are_replayed_once(rb):
    with connect(rb) as c, connect(rb) as late:
        history(c, 4)
        late.execute("BEGIN")
        late.execute("INSERT INTO rb.m VALUES (100000, 3, 'late')")  # running while the apply rebuilds
        c.execute("SET graph.rebuild_backlog_rows = 1")
        generation = c.execute(STATE).fetchone()[0]
        apply(c)
        assert c.execute(STATE).fetchone() == (generation + 1, 0)
        late.execute("COMMIT")
        assert c.execute(PENDING).fetchone()[0] == 1
        # One row is under half the graph's size: replayed into the overlay, not rebuilt again.
        assert apply(c)["inserts"] == 1
        assert c.execute(STATE).fetchone() == (generation + 1, 1)
        assert c.execute(PENDING).fetchone()[0] == 0 and verify(c) == []
        c.execute("RESET graph.rebuild_backlog_rows")


def test_a_small_backlog_a_bounded_call_and_a_reads_apply_replay(rb):
    with connect(rb) as c:
        history(c, 5)
        generation = c.execute(STATE).fetchone()[0]
        pending = c.execute(PENDING).fetchone()[0]
        with c.transaction(force_rollback=True):  # fewer rows than the setting: replayed
            c.execute("SET LOCAL graph.rebuild_backlog_rows = %s" % (pending + 1))
            apply(c)
            assert c.execute(STATE).fetchone()[0] == generation
        with c.transaction(force_rollback=True):  # a bounded call: replayed
            c.execute("SET LOCAL graph.rebuild_backlog_rows = 1")
            c.execute("SELECT * FROM graph.apply_sync(max_batches => 1000)")
            assert c.execute(STATE).fetchone()[0] == generation
        with c.transaction(force_rollback=True):  # a read's apply: replayed
            c.execute("SET LOCAL graph.rebuild_backlog_rows = 1")
            c.execute("SELECT graph._apply_for_read()")
            assert c.execute(STATE).fetchone()[0] == generation
            assert c.execute(PENDING).fetchone()[0] == 0
        # A backlog under half the graph's size: replayed.
        apply(c)
        size = c.execute("SELECT node_count + edge_count FROM graph._csr AS c JOIN graph._sync_state AS s"
                         " USING (generation) WHERE c.direction = 'out'").fetchone()[0]
        c.execute("UPDATE rb.n SET name = name || '+' WHERE id IN (SELECT id FROM rb.n ORDER BY id LIMIT 3)")
        assert c.execute(PENDING).fetchone()[0] == 3 < size / 2
        with c.transaction(force_rollback=True):
            c.execute("SET LOCAL graph.rebuild_backlog_rows = 1")
            assert apply(c)["updates"] == 3
            assert c.execute(STATE).fetchone()[0] == generation
        apply(c)


FAIL_CSR = """
CREATE FUNCTION rb.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'no new base today'; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON graph._csr FOR EACH ROW EXECUTE FUNCTION rb.refuse();
"""


def test_a_rebuild_that_fails_falls_back_to_the_replay_of_the_same_rows(rb):
    with connect(rb) as c:
        history(c, 6)
        with c.transaction(force_rollback=True):
            c.execute("SET LOCAL graph.rebuild_backlog_rows = 2147483647")
            apply(c)
            replayed = graph_by_keys(c)
        c.execute(FAIL_CSR)
        generation = c.execute(STATE).fetchone()[0]
        warnings = []
        c.add_notice_handler(lambda d: warnings.append(d.message_primary))
        c.execute("SET graph.rebuild_backlog_rows = 1")
        result = apply(c)
        c.execute("RESET graph.rebuild_backlog_rows")
        c.execute("DROP TRIGGER refuse ON graph._csr")
        assert any("instead of replaying failed: no new base today" in w for w in warnings), warnings
        assert result["stopped"] is None and result["failed"] == 0
        assert c.execute(STATE).fetchone()[0] == generation  # the old base, the rows in the overlay
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE error_message IS NOT NULL").fetchone()[0] == 0
        assert c.execute(PENDING).fetchone()[0] == 0 and verify(c) == []
        assert graph_by_keys(c) == replayed


def test_a_cancel_in_the_rebuild_stops_the_call_and_keeps_every_row_pending(rb):
    with connect(rb) as c, connect(rb) as holder:
        history(c, 7)
        pending = c.execute(PENDING).fetchone()[0]
        before = c.execute("SELECT row(s.*)::text FROM graph._sync_state AS s").fetchone()
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE rb.m IN ACCESS EXCLUSIVE MODE")  # the build's read of the sources waits
        c.execute("SET graph.rebuild_backlog_rows = 1")
        c.execute("SET statement_timeout = '2s'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            apply(c)
        c.execute("RESET statement_timeout")
        holder.execute("ROLLBACK")
        assert c.execute("SELECT row(s.*)::text FROM graph._sync_state AS s").fetchone() == before
        assert c.execute(PENDING).fetchone()[0] == pending
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE error_message IS NOT NULL").fetchone()[0] == 0
        apply(c)
        c.execute("RESET graph.rebuild_backlog_rows")
        assert c.execute(PENDING).fetchone()[0] == 0 and verify(c) == []


READER = "rb_reader"


def test_a_plain_readers_read_applies_a_large_backlog_by_replay_never_by_a_rebuild(rb):
    """A plain reader (a real role, SELECT on the sources only) whose read applies the
    pending rows runs that apply through graph._read_sync, SECURITY DEFINER: it must
    replay them, never take the backlog rebuild, which only an admin's unbounded
    apply_sync() may run (a rebuild reads every source table whole). Tried in the
    definer's apply it would fail on the first source the definer may not read and fall
    back to the replay with a WARNING to the reader: the read must not try it at all.
    The database-level setting that sends an admin's apply of the same backlog to a
    rebuild (shown in a rolled-back transaction) changes nothing for the read."""
    with connect(rb) as admin:
        db = admin.execute("SELECT current_database()").fetchone()[0]
        admin.execute(f"DROP ROLE IF EXISTS {READER}")
        admin.execute(f"CREATE ROLE {READER}")
        admin.execute(f"GRANT USAGE ON SCHEMA rb TO {READER}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA rb TO {READER}")
        admin.execute(f'ALTER DATABASE "{db}" SET graph.rebuild_backlog_rows = 1')
        try:
            history(admin, 11)
            generation = admin.execute(STATE).fetchone()[0]
            with admin.transaction(force_rollback=True):  # an admin's apply of it: a rebuild
                admin.execute("SET LOCAL graph.rebuild_backlog_rows = 1")
                apply(admin)
                assert admin.execute(STATE).fetchone()[0] == generation + 1
            admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
            said = []
            with connect(rb) as c:  # a new session: the database's setting in force
                c.add_notice_handler(lambda d: said.append(d.message_primary))
                c.execute(f"SET ROLE {READER}")
                assert c.execute("SELECT current_setting('graph.rebuild_backlog_rows')").fetchone()[0] == "1"
                got = c.execute("SELECT node_id, depth FROM graph.traverse('rb.n', '1', max_depth => 3,"
                                " direction => 'any') ORDER BY 1, 2").fetchall()
            assert admin.execute(STATE).fetchone()[0] == generation  # replayed, not rebuilt ...
            assert not [m for m in said if "rebuild" in m], said  # ... nor a rebuild tried (and failed)
            assert admin.execute(PENDING).fetchone()[0] == 0
            assert got == admin.execute("SELECT node_id, depth FROM graph.traverse('rb.n', '1', max_depth => 3,"
                                        " direction => 'any') ORDER BY 1, 2").fetchall()
            assert verify(admin) == []
        finally:
            admin.execute(f'ALTER DATABASE "{db}" RESET graph.rebuild_backlog_rows')
            admin.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA rb FROM {READER}")
            admin.execute(f"REVOKE USAGE ON SCHEMA rb FROM {READER}")
            admin.execute(f"DROP ROLE {READER}")
