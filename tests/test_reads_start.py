"""How a read starts (reads/start.py) and what a backend keeps between reads.

A read asks for its freshness step, generation, version, the caller's tables and
settings and its seed's node id in one statement, passes tables as oids, and
checks the generation of every later statement that gives or takes node ids
instead of reading the generation again: a rebuild that commits in the middle
of a read makes it run again. The keys a backend keeps serve every role, but a
role only ever gets the nodes of the tables it may SELECT now -- after SET ROLE,
after a REVOKE, in the same backend.

Real roles, several connections; a source-table policy that waits on an
advisory lock holds a read in the middle while another connection rebuilds."""

import json
import threading

import psycopg
import pytest

from conftest import apply, connect, wait_until

READER = "gs_start_reader"

SCHEMA = """
DROP SCHEMA IF EXISTS rs CASCADE;
CREATE SCHEMA rs;
CREATE TABLE rs.a (id int PRIMARY KEY, hidden boolean NOT NULL DEFAULT false);
CREATE TABLE rs.b (id int PRIMARY KEY);
CREATE TABLE rs.c (id int PRIMARY KEY);
CREATE TABLE rs.ab (id serial PRIMARY KEY, a int, b int);
CREATE TABLE rs.bc (id serial PRIMARY KEY, b int, c int);
CREATE TABLE rs.aa (id serial PRIMARY KEY, src int, dst int);
CREATE TABLE rs.other (id int PRIMARY KEY);
INSERT INTO rs.a (id) SELECT g FROM generate_series(1, 3) g;
INSERT INTO rs.b SELECT g FROM generate_series(1, 3) g;
INSERT INTO rs.c SELECT g FROM generate_series(1, 3) g;
INSERT INTO rs.ab (a, b) VALUES (1, 1), (1, 2), (2, 3);
INSERT INTO rs.bc (b, c) VALUES (1, 1), (2, 2), (3, 3);
INSERT INTO rs.aa (src, dst) VALUES (1, 2), (1, 3);
SELECT graph.add_table('rs.a');
SELECT graph.add_table('rs.b');
SELECT graph.add_table('rs.c');
SELECT graph.add_edge('rs.a', 'a', 'rs.b', to_column => 'b', via_table => 'rs.ab', label => 'ab');
SELECT graph.add_edge('rs.b', 'b', 'rs.c', to_column => 'c', via_table => 'rs.bc', label => 'bc');
SELECT graph.add_edge('rs.a', 'src', 'rs.a', to_column => 'dst', via_table => 'rs.aa', label => 'aa');
SELECT graph.build();
"""

FROM_A1 = ("SELECT node_table::text, node_id, parent_id FROM graph.traverse('rs.a', '1', max_depth => 3)"
           " ORDER BY 1, 2")


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute(f"DROP ROLE IF EXISTS {READER}")
        c.execute(f"CREATE ROLE {READER}")
        c.execute(f"GRANT USAGE ON SCHEMA rs TO {READER}")
    return db


def rows(conn, sql=FROM_A1, params=None):
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def tables_of(result):
    return sorted({r[0] for r in result})


def test_a_role_gets_only_what_it_may_select_now_in_one_backend(graph_db):
    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.ab, rs.aa TO {READER}")
        everything = rows(c)  # as the superuser: every key of the base is now kept by this backend
        assert tables_of(everything) == ["rs.a", "rs.b", "rs.c"]
        c.execute(f"SET ROLE {READER}")
        seen = rows(c)
        assert tables_of(seen) == ["rs.a", "rs.b"]
        assert seen == [r for r in everything if r[0] != "rs.c"]
        # The same backend, the same graph version: the mask the last read derived
        # must not outlive a REVOKE (no graph change comes with it).
        admin.execute(f"REVOKE SELECT ON rs.b FROM {READER}")
        assert tables_of(rows(c)) == ["rs.a"]
        admin.execute(f"GRANT SELECT ON rs.b, rs.c, rs.bc TO {READER}")
        assert rows(c) == everything
        c.execute("RESET ROLE")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa FROM {READER}")


def test_tables_are_passed_as_oids_and_named_in_errors(graph_db):
    with connect(graph_db) as c:
        before = rows(c)
        c.execute("ALTER TABLE rs.a RENAME TO a_renamed")
        try:
            renamed = rows(c, FROM_A1.replace("'rs.a'", "'rs.a_renamed'"))
            assert renamed == [(("rs.a_renamed" if t == "rs.a" else t), i, p) for t, i, p in before]
            many = rows(c, "SELECT node_id FROM graph.traverse(seed_tables => ARRAY['rs.a_renamed', 'rs.b',"
                           " 'rs.a_renamed']::regclass[], seed_ids => ARRAY['1', '3', '2'], max_depth => 0)")
            assert many == [("1",), ("3",), ("2",)]
            with pytest.raises(psycopg.errors.UndefinedTable):
                c.execute(FROM_A1)  # the old name resolves to nothing
        finally:
            c.execute("ALTER TABLE rs.a_renamed RENAME TO a")
        oid = c.execute("SELECT 'rs.other'::regclass::oid").fetchone()[0]
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="rs.other is not a registered"):
            c.execute("SELECT * FROM graph.traverse(%s::oid::regclass, '1')", [oid])
        c.execute("DROP TABLE rs.other")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match=f"{oid} is not a registered"):
            c.execute("SELECT * FROM graph.traverse(%s::oid::regclass, '1')", [oid])  # a dropped table's oid
        c.execute("CREATE TABLE rs.other (id int PRIMARY KEY)")
        c.execute(f"SET ROLE {READER}")
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table rs.a"):
                c.execute(FROM_A1)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table rs.b"):
                c.execute("SELECT * FROM graph.shortest_path('rs.b', '1', 'rs.b', '2')")
        finally:
            c.execute("RESET ROLE")


def test_a_read_that_applied_pending_rows_reads_them_and_keeps_the_callers_messages(graph_db):
    notices = []
    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.c, rs.aa TO {READER}")
        admin.execute("INSERT INTO rs.a (id) VALUES (7)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 7)")
        admin.execute("SELECT graph.add_filter_column('rs.b', 'id')")  # apply_sync now says: build required
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute(f"SET ROLE {READER}")
        c.execute("SET client_min_messages = notice")
        assert ("rs.a", "7", "1") in rows(c)
        assert c.execute("SHOW client_min_messages").fetchone()[0] == "notice"
        assert notices == []  # apply_sync's NOTICE is not for a reader
        c.execute("RESET ROLE")
        assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0  # the read applied
        admin.execute("DELETE FROM rs.aa WHERE dst = 7")
        admin.execute("DELETE FROM rs.a WHERE id = 7")
        admin.execute("SELECT graph.build()")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.b, rs.c, rs.aa FROM {READER}")


def test_a_rebuild_in_the_middle_of_a_read_runs_it_again(graph_db):
    """The read's first statements see generation g; a rebuild that renumbers the
    nodes commits; the read's next statement that takes node ids sees g + 1 and
    the read runs again, on g + 1, instead of naming nodes by the wrong numbers.

    Held in the middle by a policy on rs.a that waits, once, on an advisory lock:
    traverse with hydrate reads rs.a as the caller after its first traversal. a2
    is hidden by the policy, so a second traversal runs (max_nodes lets it reach
    a3, which the first one did not) and asks for a3's key: a3 was inserted after
    the build, so its key is not kept by the backend and is read then. The rebuild
    inserts a0 first, so every id moves by one."""
    with connect(graph_db) as admin:
        admin.execute("""
            CREATE FUNCTION rs.gate(hidden boolean) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
                IF pg_catalog.current_setting('rs.wait', true) = 'on' THEN
                    PERFORM pg_catalog.set_config('rs.wait', 'off', false);
                    PERFORM pg_catalog.pg_advisory_lock_shared(424242);
                    PERFORM pg_catalog.pg_advisory_unlock_shared(424242);
                END IF;
                RETURN NOT hidden;
            END $$""")
        admin.execute("ALTER TABLE rs.a ENABLE ROW LEVEL SECURITY")
        admin.execute(f"CREATE POLICY gate ON rs.a FOR SELECT TO {READER} USING (rs.gate(hidden))")
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        admin.execute("DELETE FROM rs.aa")
        admin.execute("DELETE FROM rs.a WHERE id = 3")
        admin.execute("SELECT graph.build()")
        admin.execute("INSERT INTO rs.a (id) VALUES (3)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 2), (2, 3), (1, 3)")
        admin.execute("UPDATE rs.a SET hidden = true WHERE id = 2")
        apply(admin)
    read = ("SELECT node_id, parent_id, depth FROM graph.traverse('rs.a', '1', max_depth => 1, max_nodes => 2,"
            " hydrate => true) ORDER BY depth, node_id")
    result, failure = [], []
    with connect(graph_db) as lock, connect(graph_db) as reader, connect(graph_db) as admin:
        lock.execute("SELECT pg_advisory_lock(424242)")
        reader.execute(f"SET ROLE {READER}")
        reader.execute("SET rs.wait = on")
        generation = admin.execute("SELECT generation FROM graph._sync_state").fetchone()[0]

        def run():
            try:
                result.extend(rows(reader, read))
            except Exception as exc:  # reported by the assertion below
                failure.append(exc)

        t = threading.Thread(target=run)
        t.start()
        waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                   " AND pid = %s")
        pid = reader.info.backend_pid
        assert wait_until(lambda: admin.execute(waiting, [pid]).fetchone()[0], timeout=30, interval=0.05), \
            "the read never reached the policy"
        admin.execute("INSERT INTO rs.a (id) VALUES (0)")
        admin.execute("SELECT graph.build()")
        assert admin.execute("SELECT generation FROM graph._sync_state").fetchone()[0] == generation + 1
        lock.execute("SELECT pg_advisory_unlock(424242)")
        t.join(60)
        assert not t.is_alive() and failure == []
        assert result == [("1", None, 0), ("3", "1", 1)]
        assert rows(reader, read) == result
    with connect(graph_db) as admin:
        admin.execute("DROP POLICY gate ON rs.a")
        admin.execute("ALTER TABLE rs.a DISABLE ROW LEVEL SECURITY")
        admin.execute("DROP FUNCTION rs.gate(boolean)")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")


def test_a_late_commit_with_a_lower_log_id_is_still_read(graph_db):
    """graph._read_sync tells "nothing pending" from the state row when it can: no
    log id above the applied ones, and none of the transactions running when the
    last pass took its snapshot has committed since. A transaction that took a
    low log id and commits after a higher one was applied is one of those."""
    with connect(graph_db) as admin, connect(graph_db) as late, connect(graph_db) as reader:
        # Log ids are taken in time order: the state row's test relies on it.
        cache = admin.execute("SELECT s.seqcache FROM pg_sequence AS s WHERE s.seqrelid ="
                              " pg_get_serial_sequence('graph._sync_log', 'id')::regclass").fetchone()[0]
        assert cache == 1
        apply(admin)
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        reader.execute(f"SET ROLE {READER}")
        reach = "SELECT node_id FROM graph.traverse('rs.a', '1', max_depth => 1) WHERE depth = 1 ORDER BY 1"
        before = rows(reader, reach)
        late.execute("BEGIN")
        late.execute("INSERT INTO rs.a (id) VALUES (40)")
        late.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 40)")  # lower log ids ...
        admin.execute("INSERT INTO rs.a (id) VALUES (41)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 41)")  # ... than these, applied first
        apply(admin)
        assert rows(reader, reach) == sorted(before + [("41",)])
        late.execute("COMMIT")
        # (applied by the read, or folded: the reader may SELECT both tables of the rows, so
        # within a second of the last apply it folds them)
        assert rows(reader, reach) == sorted(before + [("40",), ("41",)])
        reader.execute("RESET ROLE")
        admin.execute("DELETE FROM rs.aa WHERE dst IN (40, 41)")
        admin.execute("DELETE FROM rs.a WHERE id IN (40, 41)")
        apply(admin)
        admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")


COUNTS = """
CREATE OR REPLACE FUNCTION pg_temp.read_counts() RETURNS text LANGUAGE plpython3u AS $$
import json, sys
db, start = sys.modules.get("graphsync.db"), sys.modules.get("graphsync.reads.start")
return json.dumps(dict(db.COUNTS, **{"start_" + k: v for k, v in start.STATS.items()}) if db else None)
$$
"""

PATH = "SELECT step, node_table::text, node_id FROM graph.shortest_path('rs.a', '1', 'rs.c', '3')"

SNAPSHOT = "SELECT pg_catalog.pg_current_snapshot()::text"


def counts(conn):
    return json.loads(conn.execute("SELECT pg_temp.read_counts()").fetchone()[0])


def on_a_steady_snapshot(conn, body, tries=5, first=None):
    """``body()``'s result from a try during which no transaction with an xid ended
    anywhere in the cluster (``conn``'s snapshot the same before and after: an
    autovacuum worker's ANALYZE, a pg_cron job of another test, would make a read at
    rest start with START_QUIET again, as any commit does). ``first()``, when given,
    runs at the start of each try, before the snapshot is taken."""
    for _ in range(tries):
        if first is not None:
            first()
        before = conn.execute(SNAPSHOT).fetchone()[0]
        got = body()
        if conn.execute(SNAPSHOT).fetchone()[0] == before:
            return got
    pytest.fail("another transaction ended during each of %d tries" % tries)


def test_a_repeated_small_read_runs_one_statement_and_prepares_no_plan(graph_db):
    """The fixed cost of a read: its start (freshness step, generation, the caller's
    tables, settings, the seed's node id) is one statement through a plan kept for
    the backend, and when nothing changed nothing else runs -- the view, the masks
    and the keys are kept. A per-call catalog query, generation check or plan
    prepared per call shows here as more statements or plans."""

    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa TO {READER}")
        c.execute(COUNTS)
        for role in ("postgres", READER):
            c.execute(f"SET ROLE {role}")

            def measured():
                for _ in range(2):  # the first reads of a role load what the backend keeps
                    rows(c)
                    rows(c, PATH)
                before = counts(c)
                expected = (rows(c), rows(c, PATH))
                for _ in range(4):
                    assert (rows(c), rows(c, PATH)) == expected
                return before, counts(c)

            before, after = on_a_steady_snapshot(c, measured)
            assert after["statements"] - before["statements"] == 10, role  # START, once a read
            assert after["plans"] == before["plans"], role
            # START_SAME: the snapshot of the last START_QUIET, which the one before saw
            # too, and the same caller and settings: its answer holds (reads/start.py)
            assert after["start_same_at_rest"] - before["start_same_at_rest"] == 10, role
            assert after["start_quiet"] == before["start_quiet"], role
            assert (after["start_at_rest"], after["start_busy"]) == (before["start_at_rest"], before["start_busy"])
            c.execute("RESET ROLE")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa FROM {READER}")


def test_a_read_at_rest_takes_start_sames_answer_only_while_nothing_ended(graph_db):
    """A read at rest whose snapshot is the one of its backend's last START_QUIET, which
    the START_QUIET before it saw too, with the same caller and settings, runs START_SAME
    and takes that START_QUIET's answer (reads/start.py, _same_at_rest). Any transaction
    that ends -- of another table, of the graph -- moves the snapshot: the read then
    runs START_QUIET as well, and shows what changed; on a server where something
    commits between every two reads, START_QUIET alone, START_SAME never tried. A
    session setting the answer depends on, changed in the same snapshot, is not taken
    from the kept answer: a pending row the mode 'off' left out is shown once the mode
    is back."""
    reach = "SELECT node_id FROM graph.traverse('rs.a', '1', max_depth => 1) WHERE depth = 1 ORDER BY 1"
    with connect(graph_db) as admin, connect(graph_db) as reader:
        apply(admin)
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        reader.execute(COUNTS)
        reader.execute(f"SET ROLE {READER}")
        before_rows = rows(reader, reach)

        def steady_reads():
            for _ in range(2):
                assert rows(reader, reach) == before_rows
            first = counts(reader)
            for _ in range(3):
                assert rows(reader, reach) == before_rows
            return first, counts(reader)

        first, then = on_a_steady_snapshot(reader, steady_reads)
        assert then["start_same_at_rest"] - first["start_same_at_rest"] == 3
        assert then["statements"] - first["statements"] == 3

        # a commit of a table graphsync does not capture: START_SAME finds the snapshot
        # moved, START_QUIET answers; the next read START_QUIET alone (the two saw one
        # snapshot), then START_SAME again
        def after_a_commit():
            at = counts(reader)
            assert rows(reader, reach) == before_rows
            missed = counts(reader)
            assert rows(reader, reach) == before_rows
            quiet = counts(reader)
            assert rows(reader, reach) == before_rows
            return at, missed, quiet, counts(reader)

        def commit():
            admin.execute("INSERT INTO rs.other VALUES (1) ON CONFLICT DO NOTHING")

        at, missed, quiet, back = on_a_steady_snapshot(reader, after_a_commit, first=commit)
        step = lambda a, b, k: b[k] - a[k]  # noqa: E731
        assert [step(at, missed, k) for k in ("start_missed_at_rest", "start_quiet", "statements")] == [1, 1, 2]
        assert [step(missed, quiet, k) for k in ("start_missed_at_rest", "start_quiet", "statements")] == [0, 1, 1]
        assert [step(quiet, back, k) for k in ("start_same_at_rest", "start_quiet", "statements")] == [1, 0, 1]

        # the graph changed: the read shows it, START_SAME does not answer
        admin.execute("INSERT INTO rs.a (id) VALUES (60)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 60)")
        apply(admin)
        assert rows(reader, reach) == sorted(before_rows + [("60",)])

        # something commits between every two reads: START_QUIET alone (the first read
        # may still try START_SAME)
        at = None
        for _ in range(6):
            admin.execute("UPDATE rs.other SET id = id")
            assert rows(reader, reach) == sorted(before_rows + [("60",)])
            at = at or counts(reader)
        now = counts(reader)
        assert [step(at, now, k) for k in ("start_quiet", "start_same_at_rest", "start_missed_at_rest")] == [5, 0, 0]

        # a pending row the mode 'off' leaves out, in a steady snapshot; the mode back: the
        # kept answer ('off') is not taken
        admin.execute("INSERT INTO rs.a (id) VALUES (61)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 61)")
        reader.execute("SET graph.query_freshness = 'off'")

        def off_reads():
            for _ in range(3):
                assert rows(reader, reach) == sorted(before_rows + [("60",)])
            return counts(reader)

        kept = on_a_steady_snapshot(reader, off_reads)
        reader.execute("RESET graph.query_freshness")
        assert rows(reader, reach) == sorted(before_rows + [("60",), ("61",)])
        assert counts(reader)["start_same_at_rest"] == kept["start_same_at_rest"]
        reader.execute("RESET ROLE")
        admin.execute("DELETE FROM rs.aa WHERE dst IN (60, 61)")
        admin.execute("DELETE FROM rs.a WHERE id IN (60, 61)")
        admin.execute("DELETE FROM rs.other")
        apply(admin)
        admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")


ADMIN_MEMBER = "gs_start_admin"


def test_a_graph_admins_read_at_rest_finds_its_seed_in_the_node_rows_and_a_role_without_it_falls_back(graph_db):
    """A read at rest whose kept answer says the caller has graph_admin's privileges
    (a superuser, a member that inherits them) runs START_SAME_ADMIN, which looks the
    seed up in graph._node_rows, not through graph._nodes' policy (reads/start.py): the
    same rows. A caller who has them no more in the same backend -- SET ROLE to a
    reader in the same snapshot, a REVOKE of graph_admin -- may not read
    graph._node_rows: the read falls back to START_QUIET and shows what that caller
    may see, where it failed with 42501 had the statement's refusal not been taken
    as "not the same caller"."""
    reach = FROM_A1
    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"DROP ROLE IF EXISTS {ADMIN_MEMBER}")
        admin.execute(f"CREATE ROLE {ADMIN_MEMBER} IN ROLE graph_admin")
        admin.execute(f"GRANT USAGE ON SCHEMA rs TO {ADMIN_MEMBER}")
        admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa TO {ADMIN_MEMBER}")
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        everything = rows(admin, reach)
        assert tables_of(everything) == ["rs.a", "rs.b", "rs.c"]
        admin.execute(f"SET ROLE {READER}")
        readers = rows(admin, reach)
        admin.execute("RESET ROLE")
        assert tables_of(readers) == ["rs.a"]
        c.execute(COUNTS)
        step = lambda a, b, k: b[k] - a[k]  # noqa: E731
        for role in ("postgres", ADMIN_MEMBER):
            c.execute(f"SET ROLE {role}")

            def steady_then_reader():
                for _ in range(2):
                    assert rows(c, reach) == everything
                first = counts(c)
                for _ in range(3):
                    assert rows(c, reach) == everything
                then = counts(c)
                c.execute(f"SET ROLE {READER}")  # the same snapshot, another caller
                assert rows(c, reach) == readers
                return first, then, counts(c)

            def as_role(role=role):
                c.execute(f"SET ROLE {role}")

            first, then, last = on_a_steady_snapshot(c, steady_then_reader, first=as_role)
            assert [step(first, then, k) for k in ("start_same_at_rest", "start_same_admin", "statements")] == [3, 3, 3]
            assert [step(then, last, k) for k in ("start_admin_refused", "start_quiet")] == [1, 1], role
            c.execute("RESET ROLE")
        # a REVOKE of graph_admin: the member's next read may not read graph._node_rows
        c.execute(f"SET ROLE {ADMIN_MEMBER}")
        for _ in range(3):
            assert rows(c, reach) == everything
        before = counts(c)
        admin.execute(f"REVOKE graph_admin FROM {ADMIN_MEMBER}")
        assert rows(c, reach) == everything  # (it may SELECT every table, as a reader)
        after = counts(c)
        assert step(before, after, "start_admin_refused") <= 1
        c.execute("RESET ROLE")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")
        admin.execute(f"DROP OWNED BY {ADMIN_MEMBER}")
        admin.execute(f"DROP ROLE {ADMIN_MEMBER}")


def test_a_noinherit_member_of_graph_admin_reads_at_rest_by_the_normal_path(graph_db):
    """A NOINHERIT member of graph_admin does not have its privileges (it may not read
    graph._node_rows): its reads at rest run START_SAME, never START_SAME_ADMIN, so no
    read of it is refused and falls back (admin_rows asks for USAGE, not MEMBER; with
    MEMBER every read at rest of such a role failed over to START_QUIET). It sees what
    it saw before the path existed."""
    reach = FROM_A1
    member = ADMIN_MEMBER + "_noinherit"
    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"DROP ROLE IF EXISTS {member}")
        admin.execute(f"CREATE ROLE {member} NOINHERIT IN ROLE graph_admin")
        admin.execute(f"GRANT USAGE ON SCHEMA rs TO {member}")
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {member}")
        try:
            c.execute(COUNTS)
            c.execute(f"SET ROLE {member}")
            seen = rows(c, reach)
            assert seen and tables_of(seen) == ["rs.a"], seen
            step = lambda a, b, k: b[k] - a[k]  # noqa: E731

            def steady():
                for _ in range(2):
                    assert rows(c, reach) == seen
                first = counts(c)
                for _ in range(3):
                    assert rows(c, reach) == seen
                return first, counts(c)

            first, then = on_a_steady_snapshot(c, steady, first=lambda: c.execute(f"SET ROLE {member}"))
            assert [step(first, then, k) for k in ("start_same_at_rest", "start_same_admin", "start_admin_refused")
                    ] == [3, 0, 0]
            c.execute("RESET ROLE")
        finally:
            admin.execute(f"DROP OWNED BY {member}")
            admin.execute(f"DROP ROLE {member}")



def test_a_graph_admins_read_at_rest_between_commits_finds_its_seed_in_the_node_rows_and_a_wrong_guess_falls_back(
        graph_db):
    """On a server where something commits between every two reads a read at rest runs
    START_QUIET, never START_SAME. A caller whose last read found it had graph_admin's
    privileges (a superuser, a member that inherits them) runs its admin form, which
    looks the seed up in graph._node_rows, not through graph._nodes' policy
    (reads/start.py, _quiet_row): one statement, the same rows. The last answer is a
    guess: a caller who no longer has the privileges -- SET ROLE to a reader, a REVOKE
    of graph_admin -- may not read graph._node_rows (42501), and one who may read it
    without being an admin (granted SELECT on it) is told by the statement's own
    ``admin_rows``; either way the read runs the normal form and shows what that caller
    may see (source row-level security that applies to it included), and its next
    read runs the normal form alone."""
    reach = FROM_A1
    member = ADMIN_MEMBER + "_between"
    granted = READER + "_rows"
    step = lambda a, b, k: b[k] - a[k]  # noqa: E731
    with connect(graph_db) as admin, connect(graph_db) as c:
        for role in (member, granted):
            admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {member} IN ROLE graph_admin")
        admin.execute(f"CREATE ROLE {granted}")
        for role in (member, granted):
            admin.execute(f"GRANT USAGE ON SCHEMA rs TO {role}")
            admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa TO {role}")
        admin.execute(f"GRANT SELECT ON graph._node_rows TO {granted}")
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        # rs.a's row 2 hidden by the table's policy from every role but an admin
        admin.execute("ALTER TABLE rs.a ENABLE ROW LEVEL SECURITY")
        admin.execute("CREATE POLICY not_two ON rs.a FOR SELECT USING (id <> 2)")
        try:
            everything = rows(admin, reach)
            assert ("rs.a", "2", "1") in everything and tables_of(everything) == ["rs.a", "rs.b", "rs.c"]
            admin.execute(f"SET ROLE {READER}")
            readers = rows(admin, reach)
            admin.execute(f"SET ROLE {granted}")
            granteds = rows(admin, reach)
            admin.execute("RESET ROLE")
            assert tables_of(readers) == ["rs.a"] and ("rs.a", "2", "1") not in readers
            assert ("rs.a", "2", "1") not in granteds and tables_of(granteds) == ["rs.a", "rs.b", "rs.c"]
            c.execute(COUNTS)

            def read(expected):
                admin.execute("SELECT pg_catalog.pg_current_xact_id()")  # a commit between reads
                assert rows(c, reach) == expected
                return counts(c)

            for role, then_role, then_rows in (("postgres", READER, readers), (member, granted, granteds)):
                c.execute(f"SET ROLE {role}")
                read(everything)
                first = read(everything)
                for _ in range(3):
                    then = read(everything)
                assert [step(first, then, k) for k in ("start_quiet", "start_quiet_admin", "start_same_at_rest",
                                                       "start_missed_at_rest", "statements")] == [3, 3, 0, 0, 3], role
                c.execute(f"SET ROLE {then_role}")  # another caller: the guess is wrong once
                wrong = read(then_rows)  # (not counted: rs.a's policy applies to it, read by statements of its own)
                assert [step(then, wrong, k) for k in ("start_quiet", "start_quiet_admin",
                                                       "start_quiet_admin_refused")] == [1, 0, 1], role
                normal = read(then_rows)
                assert [step(wrong, normal, k) for k in ("start_quiet", "start_quiet_admin",
                                                         "start_quiet_admin_refused")] == [1, 0, 0], role
                c.execute("RESET ROLE")
            # a REVOKE of graph_admin between two reads: the member sees rs.a's row 2 no more
            c.execute(f"SET ROLE {member}")
            read(everything)
            before = read(everything)
            admin.execute(f"REVOKE graph_admin FROM {member}")
            admin.execute(f"SET ROLE {member}")
            members = rows(admin, reach)
            admin.execute("RESET ROLE")
            assert members == granteds
            after = read(members)
            assert [step(before, after, k) for k in ("start_quiet_admin", "start_quiet_admin_refused")] == [0, 1]
            last = read(members)
            assert [step(after, last, k) for k in ("start_quiet", "start_quiet_admin", "start_quiet_admin_refused")
                    ] == [1, 0, 0]
            c.execute("RESET ROLE")
        finally:
            admin.execute("DROP POLICY IF EXISTS not_two ON rs.a")
            admin.execute("ALTER TABLE rs.a DISABLE ROW LEVEL SECURITY")
            admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")
            for role in (member, granted):
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE {role}")


def read_with_the_log_locked(admin, reader, sql):
    """The rows of ``sql`` read by ``reader`` while ``admin`` holds an ACCESS EXCLUSIVE
    lock on graph._sync_log, or the SQLSTATE of the read's error: 55P03 when the read
    waited for the lock longer than the reader's lock_timeout -- it read the log
    (graph._read_sync), where telling "nothing pending" does not."""
    admin.execute("BEGIN")
    admin.execute("LOCK TABLE graph._sync_log IN ACCESS EXCLUSIVE MODE")
    try:
        return rows(reader, sql)
    except psycopg.Error as exc:
        return exc.sqlstate
    finally:
        admin.execute("ROLLBACK")


def test_a_read_at_rest_tells_nothing_pending_without_reading_the_log(graph_db):
    """START tells "nothing pending" from graph._sync_state and the log's sequence, in
    its own snapshot, as the caller (a role that may read no log row), and calls
    graph._read_sync, which reads the log, only when that test fails: when a row is
    pending (the read then shows it), and, never wrongly, when a log id went to a
    transaction that rolled back (until an apply passes it)."""
    reach = "SELECT node_id FROM graph.traverse('rs.a', '1', max_depth => 1) WHERE depth = 1 ORDER BY 1"
    with connect(graph_db) as admin, connect(graph_db) as reader:
        apply(admin)
        admin.execute(f"GRANT SELECT ON rs.a, rs.aa TO {READER}")
        reader.execute(f"SET ROLE {READER}")
        reader.execute("SET lock_timeout = '2s'")
        before = rows(reader, reach)
        assert read_with_the_log_locked(admin, reader, reach) == before
        admin.execute("INSERT INTO rs.a (id) VALUES (50)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (1, 50)")
        assert read_with_the_log_locked(admin, reader, reach) == "55P03"
        after = rows(reader, reach)
        assert after == sorted(before + [("50",)])
        apply(admin)
        assert read_with_the_log_locked(admin, reader, reach) == after
        admin.execute("BEGIN")
        admin.execute("INSERT INTO rs.a (id) VALUES (51)")
        admin.execute("ROLLBACK")  # its log id was handed out all the same
        assert read_with_the_log_locked(admin, reader, reach) == "55P03"
        assert rows(reader, reach) == after
        # Until an apply passes the id, a read starts with START_AT_REST, whose freshness
        # step tells "nothing pending": not START_QUIET first, which would fail its test.
        reader.execute("RESET ROLE")
        reader.execute(COUNTS)
        reader.execute(f"SET ROLE {READER}")
        before_counts = counts(reader)
        for _ in range(3):
            assert rows(reader, reach) == after
        after_counts = counts(reader)
        assert after_counts["start_at_rest"] - before_counts["start_at_rest"] == 3
        assert after_counts["start_quiet"] == before_counts["start_quiet"]
        admin.execute("DELETE FROM rs.aa WHERE dst = 50")
        admin.execute("DELETE FROM rs.a WHERE id = 50")
        apply(admin)  # applies ids past the one rolled back
        assert read_with_the_log_locked(admin, reader, reach) == before
        back = counts(reader)
        for _ in range(3):
            assert rows(reader, reach) == before
        quiet = counts(reader)
        # START_QUIET again (then START_SAME, once two saw one snapshot)
        assert quiet["start_quiet"] > back["start_quiet"]
        assert sum(quiet[k] - back[k] for k in ("start_quiet", "start_same_at_rest")) == 3
        assert quiet["start_at_rest"] == back["start_at_rest"]
        reader.execute("RESET ROLE")
        admin.execute(f"REVOKE SELECT ON rs.a, rs.aa FROM {READER}")


ONE_TABLE = """
DROP SCHEMA IF EXISTS ot CASCADE;
CREATE SCHEMA ot;
CREATE TABLE ot.hub (id int PRIMARY KEY);
CREATE TABLE ot.leaf (id int PRIMARY KEY);
CREATE TABLE ot.spoke (id serial PRIMARY KEY, src int, dst int);
CREATE TABLE ot.tip (id serial PRIMARY KEY, hub int, leaf int);
INSERT INTO ot.hub SELECT g FROM generate_series(0, 150) g;
INSERT INTO ot.leaf SELECT g FROM generate_series(1, 3) g;
INSERT INTO ot.spoke (src, dst) SELECT 0, g FROM generate_series(1, 150) g;
INSERT INTO ot.tip (hub, leaf) VALUES (1, 1), (2, 2), (3, 3);
SELECT graph.add_table('ot.hub');
SELECT graph.add_table('ot.leaf');
SELECT graph.add_edge('ot.hub', 'src', 'ot.hub', to_column => 'dst', via_table => 'ot.spoke', label => 'spoke');
SELECT graph.add_edge('ot.hub', 'hub', 'ot.leaf', to_column => 'leaf', via_table => 'ot.tip', label => 'tip');
SELECT graph.build();
"""


@pytest.mark.parametrize("strategy", ["bfs", "dfs"])
@pytest.mark.parametrize("seed, depth, one", [
    ("1", 0, True),  # the seed alone
    ("1", 1, False),  # a hub and its leaf: two tables, node by node
    ("0", 1, True),  # 151 hubs: whole columns
    ("0", 2, False),  # 151 hubs and 3 leaves
    ("0", 3, False),
])
def test_a_one_table_answer_gives_its_table_once(graph_db, seed, depth, one, strategy):
    """graph._traverse returns the table of a one-table answer once (node_table),
    not as two arrays of the same oid that graph.traverse would parse back; the
    rows of graph.traverse are the same either way, parents' tables included (and
    NULL for a seed)."""
    with connect(graph_db) as c:
        if c.execute("SELECT to_regclass('ot.hub') IS NULL").fetchone()[0]:
            c.execute(ONE_TABLE)
        tables, parent_tables, node_table = c.execute(
            "SELECT tables, parent_tables, node_table::regclass::text FROM graph._traverse("
            "'ot.hub'::regclass::oid, %s, %s, 'out', NULL, NULL, NULL, NULL, %s, 1000, false, NULL, NULL)",
            (seed, depth, strategy)).fetchone()
        assert (tables is None, parent_tables is None, node_table) == (
            (True, True, "ot.hub") if one else (False, False, None))
        got = c.execute("SELECT node_table::text, node_id, depth, parent_table::text, parent_id, edge_label"
                        " FROM graph.traverse('ot.hub', %s, max_depth => %s, strategy => %s)",
                        (seed, depth, strategy)).fetchall()
    hubs = {0: range(1, 151)}
    want = [("ot.hub", seed, 0, None, None, None)]
    if seed == "1" and depth >= 1:
        want.append(("ot.leaf", "1", 1, "ot.hub", "1", "tip"))
    if seed == "0" and depth >= 1:
        want += [("ot.hub", str(h), 1, "ot.hub", "0", "spoke") for h in hubs[0]]
    if seed == "0" and depth >= 2:
        want += [("ot.leaf", str(h), 2, "ot.hub", str(h), "tip") for h in (1, 2, 3)]
    assert sorted(got, key=str) == sorted(want, key=str)
    assert got[0] == want[0]  # the seed first, without a parent


# Transactions other than the applier's own that were running when the last apply took
# its snapshot (an autovacuum worker's, say): once one of them has committed, graph._read_sync's
# "nothing pending" test fails until the next apply (reads.start: it fails more often than
# the count, never wrongly), and a read at rest starts with START_AT_REST instead of START_QUIET.
UNSETTLED = ("SELECT count(*) FROM graph._sync_state AS s, pg_snapshot_xip(s.done_snapshot) AS x (xid)"
             " WHERE x.xid::text::bigint IS DISTINCT FROM s.settled_xid")


def test_one_backends_reads_at_rest_equal_a_new_backends_after_each_change(graph_db):
    """One long-lived backend, which keeps its view, reads the same rows as a new
    backend (which keeps nothing) after each change a read at rest must see: a GRANT
    and a REVOKE, row-level security turned on for a node table and for a join table
    with and without SELECT on it (edges of a join table the caller may not read are
    hidden), another backend's apply, a table registered (with an edge to it through a
    join table the caller may read, the table itself not) and removed, a rebuild.
    Every read runs START_QUIET once, which asks the caller's privileges and row-level
    security on the registry's tables in its own snapshot (reads.start); when the
    version did not move and no rows or keys are to be asked, nothing else."""
    reach = "SELECT node_table::text, node_id, parent_id FROM graph.traverse('rs.a', '1', max_depth => 3) ORDER BY 1, 2"

    def fresh():
        with connect(graph_db) as f:
            f.execute(f"SET ROLE {READER}")
            return rows(f, reach)

    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(f"GRANT SELECT ON rs.a, rs.b, rs.ab, rs.aa TO {READER}")
        c.execute(COUNTS)
        c.execute(f"SET ROLE {READER}")
        for _ in range(2):  # the view and the keys kept
            rows(c, reach)

        def read(moved, alone=None):
            """The reader's rows, checked against a new backend's. ``moved``: whether
            the version moved since the last read (then the read loads that version's
            view: more statements than START); ``alone``: whether START is the read's
            only statement (by default when the version did not move; a read that
            meets rows it has no keys for, or row-level security, asks more)."""
            before = counts(c)
            got = rows(c, reach)
            after = counts(c)
            assert got == fresh()
            # one START at rest (START_SAME's, or START_QUIET's after it found the snapshot
            # moved), never started again
            started = [after[k] - before[k] for k in ("start_quiet", "start_same_at_rest", "start_at_rest",
                                                       "start_busy")]
            if admin.execute(UNSETTLED).fetchone()[0] == 0:
                assert started[0] + started[1] == 1 and started[2:] == [0, 0], started
            else:  # another transaction ran through the last apply: START_AT_REST may answer instead
                assert sum(started) == 1 and started[3] == 0, started
            statements = after["statements"] - before["statements"] - (
                after["start_missed_at_rest"] - before["start_missed_at_rest"])
            if moved:
                assert statements > 1
            elif alone is None or alone:
                assert statements == 1
            return got

        start = read(False)
        assert tables_of(start) == ["rs.a", "rs.b"]
        admin.execute(f"GRANT SELECT ON rs.c, rs.bc TO {READER}")
        granted = read(False, alone=False)  # rs.c's keys asked
        assert tables_of(granted) == ["rs.a", "rs.b", "rs.c"]
        admin.execute(f"REVOKE SELECT ON rs.c FROM {READER}")
        assert read(False) == start
        admin.execute(f"GRANT SELECT ON rs.c TO {READER}")
        assert read(False) == granted
        try:
            # a node table's row-level security: the policy hides b 2 (and what hangs below it)
            admin.execute("ALTER TABLE rs.b ENABLE ROW LEVEL SECURITY")
            admin.execute(f"CREATE POLICY no_two ON rs.b TO {READER} USING (id <> 2)")
            hidden_b = read(False, alone=False)
            assert ("rs.b", "2", "1") not in hidden_b and ("rs.c", "2", "2") not in hidden_b
            assert ("rs.b", "1", "1") in hidden_b
            admin.execute("ALTER TABLE rs.b DISABLE ROW LEVEL SECURITY")
            assert read(False) == granted
            # a join table's: with SELECT, only its rows the policy shows carry edges ...
            admin.execute("ALTER TABLE rs.bc ENABLE ROW LEVEL SECURITY")
            admin.execute(f"CREATE POLICY only_one ON rs.bc TO {READER} USING (c = 1)")
            one_bc = read(False, alone=False)
            assert [r for r in one_bc if r[0] == "rs.c"] == [("rs.c", "1", "1")]
            # ... and without SELECT, none (relrowsecurity read from pg_class)
            admin.execute(f"REVOKE SELECT ON rs.bc FROM {READER}")
            no_bc = read(False)
            assert tables_of(no_bc) == ["rs.a", "rs.b"]
        finally:
            admin.execute("DROP POLICY IF EXISTS no_two ON rs.b")
            admin.execute("DROP POLICY IF EXISTS only_one ON rs.bc")
            admin.execute("ALTER TABLE rs.b DISABLE ROW LEVEL SECURITY")
            admin.execute("ALTER TABLE rs.bc DISABLE ROW LEVEL SECURITY")
        admin.execute(f"GRANT SELECT ON rs.bc TO {READER}")
        assert read(False) == granted
        # another backend applies: the version moves
        admin.execute("INSERT INTO rs.ab (a, b) VALUES (3, 1)")
        admin.execute("INSERT INTO rs.aa (src, dst) VALUES (2, 3)")
        apply(admin)
        applied = read(True)
        assert ("rs.a", "3", "1") in applied or ("rs.a", "3", "2") in applied
        assert read(False) == applied
        # a table registered by another backend, with an edge from rs.a 1 to its row:
        # the caller may read the join table, not the table, whose node it must not
        # enter until it may SELECT it
        admin.execute("INSERT INTO rs.other VALUES (1)")
        admin.execute("CREATE TABLE rs.ao (id serial PRIMARY KEY, a int, o int)")
        admin.execute("INSERT INTO rs.ao (a, o) VALUES (1, 1)")
        admin.execute(f"GRANT SELECT ON rs.ao TO {READER}")
        admin.execute("SELECT graph.add_table('rs.other')")
        admin.execute("SELECT graph.add_edge('rs.a', 'a', 'rs.other', to_column => 'o', via_table => 'rs.ao',"
                      " label => 'ao')")
        admin.execute("SELECT graph.build()")
        assert read(True) == applied
        assert read(False) == applied
        admin.execute(f"GRANT SELECT ON rs.other TO {READER}")
        assert ("rs.other", "1", "1") in read(False, alone=False)
        admin.execute("SELECT graph.remove_edge('rs.a', 'a', 'rs.other', via_table => 'rs.ao')")
        admin.execute("SELECT graph.remove_table('rs.other')")
        admin.execute("DROP TABLE rs.ao")
        admin.execute("DELETE FROM rs.other")
        admin.execute("SELECT graph.build()")
        assert read(True) == applied
        admin.execute("SELECT graph.build()")
        assert read(True) == applied
        assert read(False) == applied
        c.execute("RESET ROLE")
        admin.execute("DELETE FROM rs.ab WHERE a = 3 AND b = 1")
        admin.execute("DELETE FROM rs.aa WHERE src = 2 AND dst = 3")
        apply(admin)
        admin.execute(f"REVOKE SELECT ON rs.a, rs.b, rs.c, rs.ab, rs.bc, rs.aa, rs.other FROM {READER}")


# A node table with a foreign-key edge to another, and a join table between the
# other's rows (its label a column): a reader granted the node tables alone.
JF = f"""
DROP SCHEMA IF EXISTS jf CASCADE;
CREATE SCHEMA jf;
CREATE TABLE jf.p (id int PRIMARY KEY);
CREATE TABLE jf.q (id int PRIMARY KEY, p_id int REFERENCES jf.p);
CREATE TABLE jf.pp (id serial PRIMARY KEY, src int NOT NULL, dst int NOT NULL, kind text NOT NULL);
INSERT INTO jf.p SELECT g FROM generate_series(1, 4) g;
INSERT INTO jf.q VALUES (1, 1), (2, 2);
INSERT INTO jf.pp (src, dst, kind) VALUES (1, 2, 'secret kind'), (2, 3, 'secret kind');
SELECT graph.add_table('jf.p');
SELECT graph.add_table('jf.q');
SELECT graph.add_edge('jf.q', 'p_id', 'jf.p', label => 'of');
SELECT graph.add_edge('jf.p', 'src', 'jf.p', to_column => 'dst', via_table => 'jf.pp', label_column => 'kind');
SELECT graph.build();
GRANT USAGE ON SCHEMA jf TO {READER};
GRANT SELECT ON jf.p, jf.q TO {READER};
"""


def _jf_reads(c):
    out = {}
    out["out q1"] = sorted(r[0] for r in c.execute(
        "SELECT node_table::text || ' ' || node_id FROM graph.traverse('jf.q', '1', max_depth => 5)"))
    out["any p1"] = sorted(r[0] for r in c.execute(
        "SELECT node_table::text || ' ' || node_id FROM graph.traverse('jf.p', '1', direction => 'any',"
        " max_depth => 5)"))
    out["labels p1"] = sorted((r[0], r[1]) for r in c.execute(
        "SELECT node_id, edge_label FROM graph.traverse('jf.p', '1', max_depth => 1) WHERE depth = 1"))
    out["path q1-p3"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.shortest_path('jf.q', '1', 'jf.p', '3')")]
    out["weighted p1-p3"] = [r[0] for r in c.execute(
        "SELECT node_id FROM graph.weighted_shortest_path('jf.p', '1', 'jf.p', '3')")]
    out["stats"] = sorted(r[0] for r in c.execute(
        "SELECT s.size FROM graph.component_stats() AS s WHERE s.component IN (SELECT x.component"
        " FROM graph.connected_components() AS x WHERE x.node_table IN ('jf.p'::regclass, 'jf.q'::regclass))"))
    out["component_of p3"] = sorted(r[0] for r in c.execute(
        "SELECT node_table::text || ' ' || node_id FROM graph.component_of('jf.p', '3')"))
    graphml = c.execute("SELECT graph.export_graphml('jf.p', '1', direction => 'any', max_depth => 5)").fetchone()[0]
    out["graphml edges"] = graphml.count("<edge ")
    out["secret exported"] = any("secret" in c.execute(
        f"SELECT graph.{f}('jf.p', '1', direction => 'any', max_depth => 5)").fetchone()[0]
        for f in ("export_graphml", "export_dot", "export_mermaid"))
    out["label names"] = sorted(r[0] for r in c.execute("SELECT label FROM graph._labels WHERE label LIKE 'secret%'"))
    return out


NODE_TABLES_ONLY = {
    "out q1": ["jf.p 1", "jf.q 1"], "any p1": ["jf.p 1", "jf.q 1"], "labels p1": [], "path q1-p3": [],
    "weighted p1-p3": [], "stats": [1, 1, 2, 2], "component_of p3": ["jf.p 3"], "graphml edges": 1,
    "secret exported": False, "label names": [],
}
WITH_JOIN_TABLE = {
    "out q1": ["jf.p 1", "jf.p 2", "jf.p 3", "jf.q 1"], "any p1": ["jf.p 1", "jf.p 2", "jf.p 3", "jf.q 1", "jf.q 2"],
    "labels p1": [("2", "secret kind")], "path q1-p3": ["1", "1", "2", "3"], "weighted p1-p3": ["1", "2", "3"],
    "stats": [1, 5], "component_of p3": ["jf.p 1", "jf.p 2", "jf.p 3", "jf.q 1", "jf.q 2"], "graphml edges": 4,
    "secret exported": True, "label names": ["secret kind"],
}


def test_a_reader_granted_the_node_tables_alone_walks_their_foreign_keys_not_the_join_tables_edges(graph_db):
    """A join table's rows are its edges: a reader that may SELECT the node tables but
    not the join table (no row-level security anywhere) walks, counts, exports and
    labels the foreign-key edges and none of the join table's, in every read. In one
    backend, which keeps its view, its masks and the label names it was told: a GRANT
    of SELECT on the join table shows them at the next read, a REVOKE hides them again
    (no graph change comes with either), and so with USAGE on its schema; a row of it
    pending in the log is folded into a read-only transaction's read only while the
    reader may SELECT it (the folded view it keeps is not reused across the GRANT)."""
    with connect(graph_db) as admin, connect(graph_db) as c:
        admin.execute(JF)
        try:
            c.execute(f"SET ROLE {READER}")
            assert _jf_reads(c) == NODE_TABLES_ONLY
            admin.execute(f"GRANT SELECT ON jf.pp TO {READER}")
            assert _jf_reads(c) == WITH_JOIN_TABLE
            admin.execute(f"REVOKE SELECT ON jf.pp FROM {READER}")
            assert _jf_reads(c) == NODE_TABLES_ONLY
            # the join table moved to a schema the reader may not use: SELECT on it is not enough
            admin.execute(f"GRANT SELECT ON jf.pp TO {READER}")
            assert _jf_reads(c) == WITH_JOIN_TABLE
            admin.execute("CREATE SCHEMA jf_closed")
            admin.execute("ALTER TABLE jf.pp SET SCHEMA jf_closed")
            assert _jf_reads(c) == NODE_TABLES_ONLY
            admin.execute("ALTER TABLE jf_closed.pp SET SCHEMA jf")
            assert _jf_reads(c) == WITH_JOIN_TABLE
            admin.execute(f"REVOKE SELECT ON jf.pp FROM {READER}")
            # a row of the join table pending: a read-only transaction folds it, or not (and
            # a row of a node table, which it folds and keeps its folded view for)
            admin.execute("INSERT INTO jf.p VALUES (5)")
            admin.execute("INSERT INTO jf.pp (src, dst, kind) VALUES (3, 4, 'secret late')")

            def from_p3():
                c.execute("BEGIN READ ONLY")
                try:
                    return sorted((r[0], r[1]) for r in c.execute(
                        "SELECT node_id, edge_label FROM graph.traverse('jf.p', '3', max_depth => 3)"))
                finally:
                    c.execute("ROLLBACK")

            assert from_p3() == [("3", None)]
            assert from_p3() == [("3", None)]  # (onto the folded view it keeps)
            admin.execute(f"GRANT SELECT ON jf.pp TO {READER}")
            assert from_p3() == [("3", None), ("4", "secret late")]
            admin.execute(f"REVOKE SELECT ON jf.pp FROM {READER}")
            assert from_p3() == [("3", None)]
            admin.execute(f"GRANT SELECT ON jf.pp TO {READER}")
            assert from_p3() == [("3", None), ("4", "secret late")]
            assert admin.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 2  # never applied
        finally:
            c.execute("RESET ROLE")
            admin.execute("SELECT graph.remove_table('jf.q', cascade => true)")
            admin.execute("SELECT graph.remove_table('jf.p', cascade => true)")
            admin.execute("DROP SCHEMA jf CASCADE")
            admin.execute("DROP SCHEMA IF EXISTS jf_closed CASCADE")
            admin.execute("SELECT graph.build()")
