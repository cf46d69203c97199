"""Concurrent writers and a concurrent applier: random writes (key changes, FK and
join-table edge changes, savepoints, rollbacks) while graph.apply_sync() runs in a
loop, then the graph must equal the sources. Plus deterministic interleavings of
open transactions with apply passes."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from psycopg import errors

from conftest import apply, connect, verify

WRITERS = 4
DURATION = float(os.environ.get("GRAPHSYNC_RANDOM_SECONDS", "4"))
BASE_SEED = int(os.environ.get("GRAPHSYNC_RANDOM_SEED", "20240611"))
# Conflicts between writers are expected; anything else is a failure.
EXPECTED_ERRORS = (errors.UniqueViolation, errors.DeadlockDetected, errors.LockNotAvailable)
# A read whose view an apply moved past its snapshot ten times in a row while it started
# gives up with 40001, "run the read again" (README): where readers and an applier apply
# back to back on a loaded machine, a reader does, as an application would.
READ_ERRORS = (*EXPECTED_ERRORS, errors.SerializationFailure)

SCHEMA = """
CREATE TABLE ra (id int PRIMARY KEY, v text, b_ref int, t int);
CREATE TABLE rb (id int PRIMARY KEY, name text, a_ref int);
CREATE TABLE rlink (id int PRIMARY KEY, a_id int, b_id int, w numeric, kind text);
INSERT INTO ra SELECT g, 'a' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE 1 + g % 60 END, g % 3
FROM generate_series(1, 120) g;
INSERT INTO rb SELECT g, 'b"' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + (g * 7) % 120 END
FROM generate_series(1, 60) g;
INSERT INTO rlink SELECT g, 1 + g % 120, 1 + (g * 3) % 60, g % 4, CASE WHEN g % 2 = 0 THEN 'k' || g % 3 END
FROM generate_series(1, 200) g;
SELECT graph.add_table('ra', columns => '{v}', tenant_column => 't');
SELECT graph.add_table('rb', columns => '{name}');
SELECT graph.add_edge('ra', 'b_ref', 'rb', label => 'a_to_b');
SELECT graph.add_edge('rb', 'a_ref', 'ra', label => 'b_to_a');
SELECT graph.add_edge('ra', 'a_id', 'rb', to_column => 'b_id', via_table => 'rlink',
                      weight_column => 'w', label_column => 'kind', bidirectional => true);
SELECT graph.build();
"""


def _ref(rng, top):
    return None if rng.random() < 0.15 else rng.randint(1, top)


def _random_statement(rng):
    """One random write: (kind, sql, params)."""
    a, b, link = rng.randint(1, 200), rng.randint(1, 100), rng.randint(1, 300)
    choices = [
        ("insert_a", "INSERT INTO ra VALUES (%s, %s, %s, %s)", (a, f"v{rng.random():.3f}", _ref(rng, 100),
                                                               rng.randint(0, 2))),
        ("update_a_prop", "UPDATE ra SET v = %s, t = %s WHERE id = %s", (f"u{rng.random():.3f}", rng.randint(0, 2), a)),
        ("update_a_edge", "UPDATE ra SET b_ref = %s WHERE id = %s", (_ref(rng, 100), a)),
        ("rekey_a", "UPDATE ra SET id = %s WHERE id = %s", (rng.randint(1, 200), a)),
        ("shift_a", "UPDATE ra SET id = id + 200 WHERE id BETWEEN %s AND %s", (a, a + 3)),
        ("unshift_a", "UPDATE ra SET id = id - 200 WHERE id > 200 AND id %% 5 = %s", (a % 5,)),
        ("delete_a", "DELETE FROM ra WHERE id = %s", (a,)),
        ("insert_b", "INSERT INTO rb VALUES (%s, %s, %s)", (b, f"n'{rng.randint(0, 9)}", _ref(rng, 200))),
        ("update_b_edge", "UPDATE rb SET a_ref = %s, name = %s WHERE id = %s", (_ref(rng, 200), "x;y", b)),
        ("rekey_b", "UPDATE rb SET id = %s WHERE id = %s", (rng.randint(1, 100), b)),
        ("delete_b", "DELETE FROM rb WHERE id = %s", (b,)),
        ("bulk_edge_b", "UPDATE rb SET a_ref = coalesce(a_ref, 0) %% 200 + 1 WHERE id %% 9 = %s", (b % 9,)),
        ("insert_link", "INSERT INTO rlink VALUES (%s, %s, %s, %s, %s)",
         (link, _ref(rng, 200), _ref(rng, 100), rng.choice([None, 1, 2.5, 7]), rng.choice([None, "k0", "k1"]))),
        ("move_link", "UPDATE rlink SET a_id = %s, b_id = %s WHERE id = %s", (_ref(rng, 200), _ref(rng, 100), link)),
        ("reweigh_links", "UPDATE rlink SET w = coalesce(w, 0) + 1, kind = %s WHERE a_id = %s",
         (rng.choice([None, "k2"]), a)),
        ("rekey_link", "UPDATE rlink SET id = %s WHERE id = %s", (rng.randint(1, 300), link)),
        ("delete_links", "DELETE FROM rlink WHERE b_id = %s", (b,)),
    ]
    if rng.random() < 0.001:
        return ("truncate_link", "TRUNCATE rlink", ())
    return rng.choice(choices)


class Writer(threading.Thread):
    def __init__(self, dsn, seed, deadline):
        super().__init__(daemon=True)
        self.dsn, self.seed, self.deadline = dsn, seed, deadline
        self.stats = Counter()
        self.failure = None

    def run(self):
        rng = random.Random(self.seed)
        try:
            with connect(self.dsn) as c:
                c.execute("SET lock_timeout = '2s'")
                while time.monotonic() < self.deadline:
                    self._transaction(c, rng)
        except BaseException as exc:  # reported by the test, with the seed
            self.failure = exc

    def _transaction(self, c, rng):
        try:
            with c.transaction():
                for _ in range(rng.randint(1, 4)):
                    self._statement(c, rng)
                if rng.random() < 0.2:
                    try:
                        with c.transaction():  # a savepoint
                            self._statement(c, rng)
                            if rng.random() < 0.5:
                                raise psycopg.Rollback()
                    except EXPECTED_ERRORS as exc:
                        self.stats["savepoint_error:" + type(exc).__name__] += 1
                    self.stats["savepoints"] += 1
                if rng.random() < 0.3:
                    self.stats["rollbacks"] += 1
                    raise psycopg.Rollback()
            self.stats["commits"] += 1
        except EXPECTED_ERRORS as exc:
            self.stats["error:" + type(exc).__name__] += 1

    def _statement(self, c, rng):
        kind, sql, params = _random_statement(rng)
        cur = c.execute(sql, params)
        if cur.rowcount:
            self.stats[kind] += 1


class Applier(threading.Thread):
    """Loops apply_sync: full passes, partial passes (some with batches of 3 rows),
    and passes rolled back, until told to stop."""

    def __init__(self, dsn, seed):
        super().__init__(daemon=True)
        self.dsn, self.seed = dsn, seed
        self.stop = threading.Event()
        self.stats = Counter()
        self.failure = None

    def run(self):
        rng = random.Random(self.seed)
        try:
            with connect(self.dsn) as c:
                while not self.stop.is_set():
                    r = rng.random()
                    # Batches of 3 only in partial passes: a full pass of 3-row batches
                    # over a backlog that grew while the machine was loaded took minutes.
                    c.execute("SELECT set_config('graph.sync_batch_size', %s, false)",
                              (str(rng.choice([3, 40, 10000] if 0.6 <= r < 0.85 else [40, 10000])),))
                    if r < 0.6:
                        self._check(apply(c))
                        self.stats["full"] += 1
                    elif r < 0.85:
                        self._check(c.execute("SELECT stopped, failed FROM graph.apply_sync(%s)",
                                              (rng.randint(1, 3),)).fetchone())
                        self.stats["partial"] += 1
                    else:
                        with c.transaction():
                            apply(c)
                            raise psycopg.Rollback()
                        self.stats["rolled_back"] += 1
                # Finish a pass a partial call may have left under way (on its old target
                # snapshot: see test_a_full_apply_after_an_interrupted_pass_applies_everything_committed);
                # the test's own apply then starts from a snapshot that sees every commit.
                c.execute("RESET graph.sync_batch_size")
                self._check(apply(c))
        except BaseException as exc:
            self.failure = exc

    @staticmethod
    def _check(result):
        if isinstance(result, dict):
            result = (result["stopped"], result["failed"])
        assert result == (None, 0), f"apply_sync stopped or failed: {result}"


def stuck(dsn, thread):
    """For a thread still running: what every other backend of the database is doing,
    and the locks waited for (else nothing)."""
    if not thread.is_alive():
        return ""
    with connect(dsn) as c:
        activity = c.execute(
            "SELECT pid, state, wait_event_type, wait_event, backend_xid::text, left(query, 120)"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
        waits = c.execute("SELECT pid, locktype, mode, relation::regclass::text, transactionid::text"
                          " FROM pg_locks WHERE NOT granted").fetchall()
    return f"; still running; backends: {activity}; waiting for locks: {waits}"


def test_random_writers_with_a_concurrent_applier(db):
    with connect(db) as admin:
        admin.execute(SCHEMA)
        assert verify(admin) == []
        seeds = [BASE_SEED + i for i in range(WRITERS)]
        applier_seed = BASE_SEED + 100
        context = f"writer seeds {seeds}, applier seed {applier_seed}"
        deadline = time.monotonic() + DURATION
        writers = [Writer(db, s, deadline) for s in seeds]
        applier = Applier(db, applier_seed)
        applier.start()
        for w in writers:
            w.start()
        for w in writers:
            w.join(DURATION + 60)
        applier.stop.set()
        applier.join(120)
        for w in writers:
            assert not w.is_alive() and w.failure is None, (
                f"writer seed {w.seed}: {w.failure!r} ({context}){stuck(db, w)}")
        assert not applier.is_alive() and applier.failure is None, (
            f"applier: {applier.failure!r} ({context}){stuck(db, applier)}")

        totals = sum((w.stats for w in writers), Counter())
        # The run must have exercised what it claims to.
        for kind in ("commits", "rollbacks", "savepoints", "rekey_a", "update_a_edge", "move_link",
                     "rekey_link", "delete_a"):
            assert totals[kind] > 0, f"no {kind} happened: {dict(totals)} ({context})"
        assert applier.stats["full"] > 0 and applier.stats["partial"] > 0, (dict(applier.stats), context)
        print(f"writes {dict(totals)}; applier {dict(applier.stats)} ({context})")

        result = apply(admin)
        assert result["stopped"] is None and result["failed"] == 0, (result, context)
        health = admin.execute("SELECT pending_sync_rows, failed_sync_rows, read_only"
                               " FROM graph.sync_health()").fetchone()
        assert health == (0, 0, False), (health, context)
        differences = verify(admin)
        assert differences == [], (
            f"{len(differences)} differences, first {differences[:10]}; writes {dict(totals)}; "
            f"applier {dict(applier.stats)} ({context})")


# Deterministic interleavings --------------------------------------------------------

INTERLEAVE_SCHEMA = """
CREATE TABLE n (id int PRIMARY KEY, v text, ref int);
CREATE TABLE j (id int PRIMARY KEY, a int, b int, w int);
CREATE TABLE scratch (x int);
INSERT INTO n SELECT g, 'n' || g, 1 + g % 5 FROM generate_series(1, 5) g;
INSERT INTO j VALUES (1, 1, 2, 3);
SELECT graph.add_table('n', columns => '{v}');
SELECT graph.add_edge('n', 'ref', 'n', label => 'ref');
SELECT graph.add_edge('n', 'a', 'n', to_column => 'b', via_table => 'j', weight_column => 'w');
SELECT graph.build();
"""


def _pending(c) -> int:
    return c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0]


def _alive(c, table, pk) -> bool:
    return c.execute("SELECT coalesce(bool_or(alive), false) FROM graph._nodes"
                     " WHERE table_oid = %s::regclass AND pk = %s", (table, str(pk))).fetchone()[0]


def _in_sync(admin):
    """A full pass leaves nothing committed unapplied: the graph equals what a fresh
    read sees, while open transactions' rows stay out of both."""
    result = apply(admin)
    assert result["stopped"] is None and result["failed"] == 0, result
    assert _pending(admin) == 0
    assert verify(admin) == []


@pytest.fixture
def empty(server, template):
    """A database of its own (graphsync installed, nothing registered)."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield server.create_database(name, template)
    server.drop_database(name)


@pytest.fixture
def fresh(empty):
    """A database of its own for each interleaving test."""
    with connect(empty) as c:
        c.execute(INTERLEAVE_SCHEMA)
        assert verify(c) == []
    return empty


def test_transactions_held_open_across_apply_passes(fresh):
    with connect(fresh) as admin, connect(fresh) as a, connect(fresh) as b, connect(fresh) as c:
        # A writes first and stays open; B commits later rows; a pass applies B only.
        a.execute("BEGIN")
        a.execute("INSERT INTO n VALUES (10, 'a10', 1), (11, 'a11', 10)")
        b.execute("INSERT INTO n VALUES (20, 'b20', 10)")
        b.execute("INSERT INTO j VALUES (2, 20, 10, 5)")
        _in_sync(admin)
        assert _alive(admin, "n", 20) and not _alive(admin, "n", 10)

        # C opens after that pass; A changes a key and commits; C still open.
        c.execute("BEGIN")
        c.execute("UPDATE n SET ref = 20 WHERE id = 1")
        a.execute("UPDATE n SET id = 12 WHERE id = 11")
        a.execute("COMMIT")
        _in_sync(admin)
        assert _alive(admin, "n", 12) and not _alive(admin, "n", 11)

        # B opens, deletes, links, and rolls back part of its work; C commits meanwhile.
        b.execute("BEGIN")
        b.execute("DELETE FROM n WHERE id = 2")
        b.execute("INSERT INTO j VALUES (3, 12, 20, 2)")
        b.execute("SAVEPOINT s")
        b.execute("INSERT INTO n VALUES (50, 'gone', 1)")
        b.execute("UPDATE j SET b = 1 WHERE id = 1")
        b.execute("ROLLBACK TO SAVEPOINT s")
        c.execute("COMMIT")
        _in_sync(admin)
        b.execute("COMMIT")
        _in_sync(admin)
        assert not _alive(admin, "n", 2) and not _alive(admin, "n", 50)

        # A transaction that got its xid before a pass but logs its first row after it.
        a.execute("BEGIN")
        a.execute("INSERT INTO scratch VALUES (1)")  # xid assigned, nothing logged
        _in_sync(admin)
        a.execute("UPDATE n SET v = 'late', ref = NULL WHERE id = 12")
        a.execute("COMMIT")
        _in_sync(admin)

        # A long transaction spanning several passes, writing between them; others commit.
        a.execute("BEGIN")
        for step in range(3):
            a.execute("INSERT INTO n VALUES (%s, 'long', %s)", (100 + step, 1 + step))
            a.execute("UPDATE j SET w = w + 1 WHERE id = 2")
            b.execute("INSERT INTO n VALUES (%s, 'short', 100)", (200 + step,))
            _in_sync(admin)
            assert _alive(admin, "n", 200 + step) and not _alive(admin, "n", 100 + step)
        a.execute("COMMIT")
        _in_sync(admin)
        assert all(_alive(admin, "n", 100 + step) for step in range(3))

        # A transaction spanning passes that rolls back leaves nothing behind.
        a.execute("BEGIN")
        a.execute("DELETE FROM n")
        a.execute("DELETE FROM j")
        _in_sync(admin)
        a.execute("ROLLBACK")
        _in_sync(admin)
        assert admin.execute("SELECT count(*) FROM graph._nodes WHERE alive AND table_oid = 'n'::regclass"
                             ).fetchone()[0] == admin.execute("SELECT count(*) FROM n").fetchone()[0]


def test_commits_during_an_open_apply_pass(fresh):
    """Writers commit while the applier's pass is still uncommitted: their rows are
    neither lost nor applied by that pass."""
    with connect(fresh) as admin, connect(fresh) as a, connect(fresh) as b, connect(fresh) as applier:
        a.execute("BEGIN")
        a.execute("INSERT INTO n VALUES (30, 'low id, late commit', 1)")
        b.execute("INSERT INTO n VALUES (31, 'high id', 30)")
        applier.execute("BEGIN")
        assert applier.execute("SELECT inserts FROM graph.apply_sync()").fetchone()[0] == 1
        a.execute("COMMIT")
        b.execute("INSERT INTO j VALUES (7, 30, 31, 1)")  # commits while the pass is open
        applier.execute("COMMIT")
        assert _pending(admin) == 2
        _in_sync(admin)

        # An apply pass that is rolled back applies nothing, and the next one applies all.
        b.execute("UPDATE n SET id = 32 WHERE id = 31")
        applier.execute("BEGIN")
        applier.execute("SELECT graph.apply_sync()")
        a.execute("DELETE FROM j WHERE id = 7")
        applier.execute("ROLLBACK")
        assert _pending(admin) == 2
        _in_sync(admin)


def test_interrupted_passes_finish_without_losing_late_commits(fresh):
    """Passes cut short by max_batches keep their target snapshot; a transaction that
    was open at that snapshot and commits mid-pass is applied by a later pass, once."""
    with connect(fresh) as admin, connect(fresh) as a, connect(fresh) as b:
        admin.execute("SET graph.sync_batch_size = 2")
        a.execute("BEGIN")
        a.execute("INSERT INTO n VALUES (40, 'open at target', 1)")
        b.execute("INSERT INTO n SELECT g, 'b', g - 1 FROM generate_series(41, 45) g")  # 5 log rows
        overlay_before = admin.execute("SELECT count(*) FROM graph._edge_overlay").fetchone()[0]
        assert admin.execute("SELECT inserts FROM graph.apply_sync(1)").fetchone()[0] == 2
        a.execute("COMMIT")
        b.execute("INSERT INTO j VALUES (8, 40, 41, 1), (9, 41, 40, 1)")  # 2 log rows
        assert admin.execute("SELECT inserts FROM graph.apply_sync(1)").fetchone()[0] == 2
        # One more batch of the interrupted pass applies its target's rows only.
        assert admin.execute("SELECT inserts FROM graph.apply_sync(1)").fetchone()[0] == 1
        assert _pending(admin) == 1 + 2
        assert apply(admin)["inserts"] == 3
        assert _pending(admin) == 0
        assert verify(admin) == []
        # Each row's edge applied once: 6 FK edges (40..45 each have ref) and 2 join edges.
        overlay = admin.execute("SELECT count(*) FROM graph._edge_overlay").fetchone()[0]
        assert overlay - overlay_before == 6 + 2


def test_a_full_apply_after_an_interrupted_pass_applies_everything_committed(fresh):
    """graph.apply_sync(max_batches => NULL) is documented to apply all committed,
    unapplied rows; after a pass cut short by max_batches it must not stop at that
    pass's old target snapshot."""
    with connect(fresh) as admin, connect(fresh) as b:
        admin.execute("SET graph.sync_batch_size = 2")
        b.execute("INSERT INTO n SELECT g, 'b', 1 FROM generate_series(60, 64) g")
        assert admin.execute("SELECT inserts FROM graph.apply_sync(1)").fetchone()[0] == 2
        b.execute("INSERT INTO n VALUES (65, 'committed before the full apply', 60)")
        result = apply(admin)
        assert result["stopped"] is None
        assert _pending(admin) == 0, "apply_sync() returned with committed rows still pending"
        assert verify(admin) == []


# Values and session settings replay must treat as build and verify do ------------------

SETTINGS_SCHEMA = """
CREATE TABLE days (d date PRIMARY KEY, at timestamptz, span interval, x float8, next date);
INSERT INTO days SELECT '2024-01-01'::date + g, '2024-01-01 12:00+00'::timestamptz + g * interval '1 day',
                        g * interval '90 minutes', g / 3.0, CASE WHEN g > 0 THEN '2024-01-01'::date + g - 1 END
FROM generate_series(0, 4) g;
SELECT graph.add_table('days', columns => '{at,span,x}');
SELECT graph.add_edge('days', 'next', 'days');
SELECT graph.build();
"""

WRITER_SETTINGS = [
    {"DateStyle": "German, DMY", "TimeZone": "Asia/Tokyo", "IntervalStyle": "sql_standard",
     "extra_float_digits": "0"},
    {"DateStyle": "SQL, MDY", "TimeZone": "America/St_Johns", "IntervalStyle": "iso_8601",
     "extra_float_digits": "-3"},
]


def test_writers_with_other_session_settings(empty):
    """Keys, edge ends and properties of a row are the same graph values whatever the
    DateStyle, TimeZone, IntervalStyle or extra_float_digits of the session that wrote it."""
    with connect(empty) as admin:
        admin.execute(SETTINGS_SCHEMA)
        assert verify(admin) == []
        for i, settings in enumerate(WRITER_SETTINGS):
            with connect(empty) as w:
                for name, value in settings.items():
                    w.execute("SELECT set_config(%s, %s, false)", (name, value))
                day = 10 * (i + 1)
                w.execute("INSERT INTO days VALUES ('2024-01-01'::date + %s, now(), '1 day 2 hours', 0.1 + 0.2,"
                          " '2024-01-01')", (day,))
                w.execute("UPDATE days SET at = at + interval '1 hour', x = x * 7 WHERE d = '2024-01-02'")
                w.execute("UPDATE days SET next = '2024-01-01'::date + %s WHERE d = '2024-01-04'", (day,))
                w.execute("UPDATE days SET d = d + 100 WHERE d = '2024-01-01'::date + %s", (i + 3,))
        result = apply(admin)
        assert result["failed"] == 0 and result["stopped"] is None
        differences = verify(admin)
        assert differences == [], "\n".join(map(str, differences))


def test_admin_calls_from_sessions_with_other_settings(empty):
    """Build, vacuum, maintenance and reconcile render source keys the way capture does,
    whatever the settings of the admin's session (a German DateStyle would otherwise
    turn every date key into another node)."""
    with connect(empty) as admin:
        admin.execute(SETTINGS_SCHEMA)
        admin.execute("INSERT INTO days VALUES ('2024-03-01', now(), '1 day', 0.3, '2024-01-01')")
        apply(admin)
        for settings in WRITER_SETTINGS:
            for name, value in settings.items():
                admin.execute("SELECT set_config(%s, %s, false)", (name, value))
            for call in ("SELECT * FROM graph.vacuum()", "SELECT * FROM graph.run_scheduled_maintenance()",
                         "SELECT * FROM graph.reconcile()", "SELECT * FROM graph.build()"):
                admin.execute(call)
                differences = verify(admin)
                assert differences == [], f"{call} under {settings}: {differences}"
            admin.execute("RESET ALL")


def test_edge_values_replay_as_build_reads_them(empty):
    """Empty-string labels, NULL/zero/negative/NaN weights: an edge written after the
    build is replayed with the same label and weight the build (and verify) read."""
    with connect(empty) as c:
        c.execute("""CREATE TABLE v (id int PRIMARY KEY, ref int, kind text, w numeric);
                     CREATE TABLE l (id int PRIMARY KEY, a int, b int, w numeric, kind text);
                     INSERT INTO v SELECT g, NULL, NULL, NULL FROM generate_series(1, 8) g;
                     SELECT graph.add_table('v');
                     SELECT graph.add_edge('v', 'ref', 'v', weight_column => 'w', label_column => 'kind');
                     SELECT graph.add_edge('v', 'a', 'v', to_column => 'b', via_table => 'l', weight_column => 'w',
                                           label_column => 'kind', bidirectional => true);""")
        values = [("", None), (None, 0), ("x", -1.5), ("k", "NaN"), (" ", 1e-20), ("", 3)]
        for i, (kind, w) in enumerate(values, start=1):
            c.execute("INSERT INTO l VALUES (%s, %s, %s, %s, %s)", (i, i, i + 1, w, kind))
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        for i, (kind, w) in enumerate(values, start=1):
            c.execute("INSERT INTO l VALUES (%s, %s, %s, %s, %s)", (100 + i, i + 1, i, w, kind))
            c.execute("UPDATE v SET ref = %s, kind = %s, w = %s WHERE id = %s", (i + 2, kind, w, i))
        result = apply(c)
        assert result["failed"] == 0 and result["stopped"] is None
        differences = verify(c)
        assert differences == [], "\n".join(map(str, differences))


def test_verify_reports_a_difference_on_a_nan_weighted_edge(empty):
    """verify() lists an unapplied edge whose weight is NaN instead of failing on it."""
    with connect(empty) as c:
        c.execute("""CREATE TABLE v (id int PRIMARY KEY, ref int, w float8);
                     INSERT INTO v VALUES (1, NULL, NULL), (2, 1, 'NaN');
                     SELECT graph.add_table('v');
                     SELECT graph.add_edge('v', 'ref', 'v', weight_column => 'w');
                     SELECT graph.build();""")
        assert verify(c) == []
        c.execute("INSERT INTO v VALUES (3, 1, 'NaN')")
        differences = verify(c)
        assert [(d[0], d[2]) for d in differences] == [("missing_node", "3"), ("missing_edge", "3")]
        apply(c)
        assert verify(c) == []


# Readers whose reads apply (the apply a read runs stops at the snapshot of the
# backend's kept folded view when it can: db.read_bound) ------------------------------

READ_COUNTS = """
CREATE OR REPLACE FUNCTION pg_temp.bounded_passes() RETURNS bigint LANGUAGE plpython3u AS $$
import sys
a = sys.modules.get("graphsync.sync.apply")
return getattr(a, "STATS", {}).get("bounded_passes", 0)
$$
"""
READER_QUERY = ("SELECT coalesce(array_agg(node_id || ':' || depth ORDER BY node_id, depth), '{}')"
                " FROM graph.traverse(%s, %s, max_depth => 2)")


class Reader(threading.Thread):
    """Reads back to back in read-write transactions, so that its reads apply: before
    some of them it ages graph._sync_state.last_apply_at (a read applies when the last
    apply is a second old), and some of its reads roll back after applying."""

    def __init__(self, dsn, seed, deadline, probes):
        super().__init__(daemon=True)
        self.dsn, self.seed, self.deadline, self.probes = dsn, seed, deadline, probes
        self.stats = Counter()
        self.failure = None
        self.quiet = threading.Event()  # set once the writers stopped: read the probes
        self.answers = None

    def run(self):
        rng = random.Random(self.seed)
        try:
            with connect(self.dsn) as c:
                c.execute("SET lock_timeout = '2s'")
                c.execute(READ_COUNTS)
                while time.monotonic() < self.deadline:
                    try:
                        if rng.random() < 0.3:
                            c.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
                        table, seed = rng.choice([("ra", rng.randint(1, 200)), ("rb", rng.randint(1, 100))])
                        if rng.random() < 0.1:
                            with c.transaction():
                                c.execute(READER_QUERY, (table, str(seed))).fetchone()
                                raise psycopg.Rollback()
                            self.stats["rolled_back"] += 1
                        else:
                            c.execute(READER_QUERY, (table, str(seed))).fetchone()
                        self.stats["reads"] += 1
                    except READ_ERRORS as exc:
                        self.stats["error:" + type(exc).__name__] += 1
                    self.stats["bounded_passes"] = c.execute("SELECT pg_temp.bounded_passes()").fetchone()[0]
                self.quiet.wait(120)
                self.answers = [c.execute(READER_QUERY, p).fetchone()[0] for p in self.probes]
        except BaseException as exc:  # reported by the test, with the seed
            self.failure = exc


@pytest.mark.parametrize("applier", [False, True], ids=["readers_apply", "and_an_applier"])
def test_random_writers_with_readers_whose_reads_apply(db, applier):
    """Random writers, readers whose reads apply up to their kept views' snapshots (and
    some roll back), and, in the second case, an applier with partial and rolled-back
    passes: once the writers stop, every reader reads what a fresh backend folds, and
    after one more apply the graph equals the sources (nothing lost, nothing applied
    twice). The run must have stopped some read's apply at its view's snapshot."""
    name = "rr_" + uuid.uuid4().hex[:8]
    with connect(db) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        admin.execute(f"SET search_path = {name}, public")
        admin.execute(SCHEMA)
        seeds = [BASE_SEED + 10 + i for i in range(3)]
        reader_seeds = [BASE_SEED + 50 + i for i in range(3)]
        context = f"writer seeds {seeds}, reader seeds {reader_seeds}"
        deadline = time.monotonic() + max(DURATION, 6)
        dsn = f"{db} options=-csearch_path={name},public"
        probes = [("ra", str(i)) for i in range(1, 201, 7)] + [("rb", str(i)) for i in range(1, 101, 7)]
        writers = [Writer(dsn, s, deadline) for s in seeds]
        readers = [Reader(dsn, s, deadline, probes) for s in reader_seeds]
        other = [Applier(dsn, BASE_SEED + 150)] if applier else []
        for t in writers + readers + other:
            t.start()
        # On a slow machine (a container in CI: 25 reads in all) the run goes on until some
        # read's apply stopped at its view's snapshot and some read rolled back, at most 90 s
        # (not once a reader failed).
        while time.monotonic() < deadline + 90 and all(r.is_alive() for r in readers) and not all(
                sum(r.stats[k] for r in readers) for k in ("bounded_passes", "rolled_back")):
            for t in writers + readers:
                t.deadline = max(t.deadline, time.monotonic() + 1)
            time.sleep(0.2)
        for t in writers:
            t.join(max(DURATION, 6) + 60)
        for t in other:
            t.stop.set()
            t.join(120)
        with connect(dsn) as fresh:  # what a backend that kept nothing reads, folding what is pending
            fresh.execute("SET default_transaction_read_only = on")
            want = [fresh.execute(READER_QUERY, p).fetchone()[0] for p in probes]
        for r in readers:
            r.quiet.set()
            r.join(120)
        for t in writers + readers + other:
            who = f"{type(t).__name__} seed {t.seed}"
            assert not t.is_alive() and t.failure is None, f"{who}: {t.failure!r} ({context}){stuck(db, t)}"
        reads = sum((r.stats for r in readers), Counter())
        assert reads["bounded_passes"] > 0 and reads["rolled_back"] > 0, (dict(reads), context)
        for r in readers:
            assert r.answers == want, (r.seed, context)
        result = apply(admin)
        assert result["stopped"] is None and result["failed"] == 0, (result, context)
        differences = verify(admin)
        assert differences == [], f"{len(differences)} differences, first {differences[:10]}; {dict(reads)} ({context})"
