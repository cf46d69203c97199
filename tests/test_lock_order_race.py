"""The two orders in which a call takes its sources' locks and graph._sync_state's row,
raced (real sessions, threads; the interleaving set up through pg_locks, never timed).

graph.build(), graph.verify() and graph.reconcile() lock their sources (bounded)
before the state row; scheduled maintenance took the row first (its apply phase) and
its sources after (its source check, its rebuild), and so does an apply that decides
to rebuild a backlog. Two such calls racing deadlocked: PostgreSQL failed one with
40P01 after deadlock_timeout (which side: the one whose deadlock_timeout ran out
first, set here per session to choose it). Now maintenance that will check or
rebuild locks its sources before its apply phase (one order: no deadlock), and a
build() that loses the race with an apply's rebuild says so, with a hint to retry.

The two racing calls run as a superuser, or (admin: graph_admin) as a LOGIN role in
graph_admin that is no superuser and owns none of the tables, with the grants
README's "An admin who is not a superuser" lists (SELECT and TRIGGER on each table)
and, for the test's sake only, SET on deadlock_timeout (a superuser's setting), by
which the test chooses the side a deadlock fails."""

import threading
import uuid

import psycopg
import pytest

from conftest import apply, as_role, blocked_by, connect, pending_count, state_row_free, verify, wait_until

TABLES = ("lo_accounts", "lo_transfers")


@pytest.fixture
def world(db):
    with connect(db) as c:
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
        c.execute("CREATE TABLE lo_accounts (id bigint PRIMARY KEY, name text)")
        c.execute("CREATE TABLE lo_transfers (id bigint PRIMARY KEY, dst bigint)")
        c.execute("INSERT INTO lo_accounts SELECT g, 'a' || g FROM generate_series(1, 5) AS g")
        c.execute("INSERT INTO lo_transfers SELECT g, g % 5 + 1 FROM generate_series(1, 5) AS g")
        c.execute("SELECT graph.add_table('lo_accounts', columns => '{name}')")
        c.execute("SELECT graph.add_table('lo_transfers')")
        c.execute("SELECT graph.add_edge('lo_transfers', 'dst', 'lo_accounts', label => 'to')")
        c.execute("SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")


@pytest.fixture(params=["superuser", "graph_admin"])
def admin(request, world):
    """How the racing calls log in to world: a function opening a connection, as a
    superuser or as a graph_admin member who is not one (the module's docstring)."""
    if request.param == "superuser":
        yield lambda: connect(world)
        return
    role = "lo_admin_" + uuid.uuid4().hex[:8]
    with connect(world) as c:
        c.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER IN ROLE graph_admin")
        c.execute(f"GRANT SELECT, TRIGGER ON {', '.join(TABLES)} TO {role}")
        c.execute(f"GRANT SET ON PARAMETER deadlock_timeout TO {role}")
    try:
        with as_role(world, role) as a:
            assert a.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        yield lambda: as_role(world, role)
    finally:
        with connect(world) as c:
            c.execute(f"REVOKE SET ON PARAMETER deadlock_timeout FROM {role}")
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


def _waiting(c, pid):
    """Whether backend ``pid`` waits for a lock some other backend holds."""
    return c.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", (pid,)).fetchone()[0]


def _run(conn, statement, out, key):
    try:
        out[key] = conn.execute(statement).fetchall()
    except psycopg.Error as exc:
        out[key] = exc


def _race(dsn, login, first, second, loser, setup_first=(), setup_second=()):
    """Hold graph._sync_state's row; start ``first`` (it waits), then ``second`` (it
    waits too), each in a session ``login()`` opens (the admin fixture), then let the
    row go: each statement's rows, or its error. ``loser``
    ('first' or 'second'): the session whose deadlock check runs first (3 s after it
    began to wait, well after the cycle closed), the other's much later (60 s): which
    side a deadlock fails."""
    out = {}
    with connect(dsn) as holder, login() as a, login() as b, connect(dsn) as c:
        for conn, name in ((a, "first"), (b, "second")):
            conn.execute("SET statement_timeout = '120s'")  # a guard against a hang, not a timing
            conn.execute("SET deadlock_timeout = %s" % ("'3s'" if loser == name else "'60s'"))
        for statement in setup_first:
            a.execute(statement)
        for statement in setup_second:
            b.execute(statement)
        holder.execute("BEGIN")
        holder.execute("SELECT FROM graph._sync_state FOR UPDATE")
        ta = threading.Thread(target=_run, args=(a, first, out, "first"))
        tb = threading.Thread(target=_run, args=(b, second, out, "second"))
        ta.start()
        try:
            assert wait_until(lambda: _waiting(c, a.info.backend_pid)), "the first call never waited"
            tb.start()
            assert wait_until(lambda: _waiting(c, b.info.backend_pid)), "the second call never waited"
        finally:
            holder.execute("COMMIT")
            ta.join()
            if tb.ident is not None:
                tb.join()
    return out


def _failure(result):
    return result if isinstance(result, psycopg.Error) else None


@pytest.mark.parametrize("loser", ["first", "second"])
@pytest.mark.parametrize("call", ["SELECT graph.build()", "SELECT count(*) FROM graph.verify()"])
def test_maintenance_with_its_source_check_due_and_an_admin_call_do_not_deadlock(world, admin, call, loser):
    """Maintenance with its source check due took graph._sync_state's row (its apply
    phase) and then its sources' locks (the check); an admin's build() or verify()
    that locked the sources and waited for the row closed a cycle: 40P01 failed the
    run ('failed', an alarm in health) or the admin's call, whichever side checked
    first (both failed before). Maintenance now locks its sources before its apply
    phase when its check is due: one order, one simply waits, both succeed."""
    out = _race(world, admin, "SELECT status, error FROM graph.run_scheduled_maintenance()", call, loser,
                setup_first=("SET graph.verify_interval = '0'",))
    assert _failure(out["first"]) is None and _failure(out["second"]) is None, out
    status, error = out["first"][0]
    assert status == "succeeded", (status, error)
    with connect(world) as c:
        assert verify(c) == []


@pytest.mark.parametrize("loser", ["first", "second"])
@pytest.mark.parametrize("call", ["graph.build()", "graph.verify()"])
def test_an_apply_that_rebuilds_and_a_build_lose_nothing_and_say_so(world, admin, call, loser):
    """An apply that finds a backlog worth a rebuild (graph.rebuild_backlog_rows)
    decides so only under graph._sync_state's row; its build then locks the sources,
    which an admin's build() or verify() waiting for the row holds: a deadlock. The
    apply that loses it replays the backlog instead (a WARNING; this pins it). A
    build() or verify() that loses it failed with PostgreSQL's bare 'deadlock detected'; now it says which
    call lost to what, with a hint to retry (40P01 still), and nothing is lost: the
    rows are applied, the graph agrees with the sources."""
    with connect(world) as c:
        c.execute("INSERT INTO lo_accounts SELECT g, 'b' || g FROM generate_series(6, 40) AS g")
        c.execute("INSERT INTO lo_transfers SELECT g, g % 40 + 1 FROM generate_series(6, 40) AS g")
    out = _race(world, admin, "SELECT inserts FROM graph.apply_sync()", "SELECT count(*) FROM %s" % call, loser,
                setup_first=("SET graph.rebuild_backlog_rows = 1",))
    apply_failed, build_failed = _failure(out["first"]), _failure(out["second"])
    assert apply_failed is None, out
    if loser == "second":
        assert build_failed is not None and build_failed.sqlstate == "40P01", out
        text = build_failed.diag.message_primary or ""
        assert call in text and "graph._sync_state" in text, text
        assert "retry" in (build_failed.diag.message_hint or "").lower(), build_failed.diag.message_hint
    else:
        assert build_failed is None, out
        assert out["first"] == [(70,)], out  # replayed instead of rebuilt, whole
    with connect(world) as c:
        apply(c)
        assert pending_count(c) == 0
        assert verify(c) == []


# A TRUNCATE's apply fails (its nodes cannot die) until CURE.
POISON = """
CREATE OR REPLACE FUNCTION public.lo_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.alive AND NOT NEW.alive THEN RAISE EXCEPTION 'these nodes may not die'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER lo_poison BEFORE UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.lo_poison();
"""
CURE = "DROP TRIGGER lo_poison ON graph._node_rows"


@pytest.mark.parametrize("loser", ["first", "second"])
def test_a_retry_that_rebuilds_and_a_build_do_not_deadlock(world, admin, loser):
    """graph.retry_failed() with a failed TRUNCATE among its rows rebuilds; it took
    graph._sync_state's row and then, in its build, the sources' locks: an admin's
    build() holding the sources and waiting for the row deadlocked with it (40P01
    for one of them). A retry that will rebuild now locks its sources first: one
    order, both succeed, and the TRUNCATE is in the graph."""
    with connect(world) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(POISON)
        try:
            c.execute("TRUNCATE lo_transfers")
            assert apply(c)["failed"] == 1
        finally:
            c.execute(CURE)
    out = _race(world, admin, "SELECT rebuilt FROM graph.retry_failed()", "SELECT graph.build()", loser)
    assert _failure(out["first"]) is None and _failure(out["second"]) is None, out
    assert out["first"] == [(True,)], out
    with connect(world) as c:
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'lo_transfers'::regclass"
                         ).fetchone()[0] == 0
        assert verify(c) == []


@pytest.mark.parametrize("loser", ["first", "second"])
def test_maintenance_that_locked_its_sources_first_and_an_apply_that_rebuilds_lose_nothing(world, admin, loser):
    """The other side of maintenance locking its sources first: an apply that decides
    under graph._sync_state's row to rebuild a backlog then waits for those sources,
    while the run waits for the row. The apply that loses the deadlock replays
    instead; a run that loses it ends 'skipped', saying it lost a lock race and that
    the next run does it, not 'failed' with an alarm; nothing is lost either way.
    (Before maintenance locked first there was no deadlock here: with that change
    alone, the run losing it ended 'failed', 'deadlock detected'.)"""
    with connect(world) as c:
        c.execute("INSERT INTO lo_accounts SELECT g, 'b' || g FROM generate_series(6, 40) AS g")
        c.execute("INSERT INTO lo_transfers SELECT g, g % 40 + 1 FROM generate_series(6, 40) AS g")
    out = _race(world, admin, "SELECT inserts FROM graph.apply_sync()",
                "SELECT status, reason, error FROM graph.run_scheduled_maintenance()", loser,
                setup_first=("SET graph.rebuild_backlog_rows = 1",),
                setup_second=("SET graph.verify_interval = '0'",))  # its check due: it locks first
    assert _failure(out["first"]) is None and _failure(out["second"]) is None, out
    status, reason, error = out["second"][0]
    assert status in ("succeeded", "skipped"), out
    if status == "skipped":
        assert "lost a lock race" in reason and "next run" in reason and error is None, out
    with connect(world) as c:
        c.execute("SET graph.verify_interval = '0'")
        assert c.execute("SELECT status FROM graph.run_scheduled_maintenance()").fetchone() == ("succeeded",)
        assert pending_count(c) == 0
        assert verify(c) == []


def _reconcile_race(dsn, table, row, writer_call, loser):
    """A writer's transaction holds ``table`` (ROW EXCLUSIVE: an INSERT of ``row``)
    while its capture trigger is disabled; graph.reconcile() starts, and its repair, enabling the
    trigger ALWAYS (ALTER TABLE: SHARE ROW EXCLUSIVE), waits for that writer; then the
    writer runs ``writer_call`` (it takes graph._sync_state's row, or the sources'
    locks) and commits. ``loser``: as _race ('writer' or 'reconcile'). The
    reconcile's rows, or its error; the writer's call's rows, or its error; and the
    reconcile's job row (status, error, reason)."""
    out = {}
    with connect(dsn) as c:
        c.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        assert "trigger_disabled" in [k for k, in c.execute("SELECT kind FROM graph._schema_drift()")]
    with connect(dsn) as w, connect(dsn) as r, connect(dsn) as c:
        for conn, name in ((w, "writer"), (r, "reconcile")):
            conn.execute("SET statement_timeout = '120s'")  # a guard against a hang, not a timing
            # the loser's check within the 5 s reconcile's trigger repair waits for a
            # writer (graph._install_capture_bounded), with room for a loaded machine
            conn.execute("SET deadlock_timeout = %s" % ("'2s'" if loser == name else "'60s'"))
        w.execute("BEGIN")
        w.execute(f"INSERT INTO {table} VALUES {row}")
        tr = threading.Thread(target=_run, args=(
            r, "SELECT action, table_name, detail FROM graph.reconcile()", out, "reconcile"))
        tr.start()
        try:
            assert wait_until(lambda: blocked_by(c, r.info.backend_pid, w.info.backend_pid)), \
                "the reconcile never waited for the writer"
            _run(w, writer_call, out, "writer")  # waits for the reconcile, or not
        finally:
            w.execute("ROLLBACK" if isinstance(out.get("writer"), psycopg.Error) else "COMMIT")
            tr.join()
        out["job"] = c.execute("SELECT status, error, reason FROM graph._maintenance_jobs"
                               " WHERE kind = 'reconcile' ORDER BY job_id DESC LIMIT 1").fetchone()
    return out


@pytest.mark.parametrize("loser", ["writer", "reconcile"])
def test_a_reconcile_repairing_a_trigger_and_a_writer_that_applies_do_not_deadlock(world, loser):
    """reconcile() took its sources and graph._sync_state's row, then its repair's
    ALTER TABLE waited for a writer of the table (SHARE ROW EXCLUSIVE against the
    writer's ROW EXCLUSIVE); the writer's transaction then applied (as a read applies),
    waiting for the row: 40P01 for one of them, and a reconcile that lost ended
    'failed' with PostgreSQL's bare 'deadlock detected'. The repair now runs under the
    sources' locks before the row is taken (the order of a registration: the table,
    the registry, the state row): the writer's apply goes on, commits, the repair goes
    on, and the row written with the trigger off reaches the graph (verify, rebuild)."""
    out = _reconcile_race(world, "lo_accounts", "(100, 'written while the trigger was off')",
                          "SELECT inserts FROM graph.apply_sync()", loser)
    assert _failure(out["writer"]) is None and _failure(out["reconcile"]) is None, out
    assert out["job"][0] == "succeeded", out
    assert ("enabled_trigger", "public.lo_accounts") in [(a, t) for a, t, _ in out["reconcile"]], out
    with connect(world) as c:
        assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift()")] == []
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'lo_accounts'::regclass"
                         ).fetchone()[0] == 6
        assert verify(c) == []


@pytest.mark.parametrize("loser", ["writer", "reconcile"])
def test_a_reconcile_that_loses_a_lock_race_says_so_and_loses_nothing(world, loser):
    """A writer (of lo_transfers) runs graph.build() instead: it waits for the sources'
    locks the reconcile holds, whose repair waits for the writer (a transaction that
    writes a source and then builds takes them in its own order): 40P01 for one. A
    reconcile that loses it ended 'failed', 'deadlock detected', and returned that
    alone; now its job row is 'partial', naming the race, saying nothing was lost and
    to run it again, and so does its result. A build that loses it says so (sources'
    lock_sources). Either way the next reconcile repairs the rest."""
    # lo_transfers: the build waits for lo_accounts' lock (it locks in oid order), not for
    # the table the reconcile waits for (a writer asking for a lock of the very table a
    # waiter it holds off holds is failed at once, whatever its deadlock_timeout)
    out = _reconcile_race(world, "lo_transfers", "(100, 1)", "SELECT graph.build()", loser)
    if loser == "reconcile":
        assert _failure(out["writer"]) is None and _failure(out["reconcile"]) is None, out
        status, error, reason = out["job"]
        assert status == "partial", out
        assert "lost a lock race" in error and "nothing was lost" in error and "graph.reconcile() again" in error, \
            error
        assert "deadlock" in error, error
        assert [a for a, _, _ in out["reconcile"]] == ["lost_lock_race"], out
        assert out["reconcile"][0][2] == error, out
    else:
        writer = _failure(out["writer"])
        assert writer is not None and writer.sqlstate == "40P01", out
        assert "graph.build()" in writer.diag.message_primary, writer.diag.message_primary
        assert "retry" in (writer.diag.message_hint or "").lower(), writer.diag.message_hint
        assert _failure(out["reconcile"]) is None and out["job"][0] == "succeeded", out
    with connect(world) as c:
        c.execute("SELECT graph.reconcile()")
        assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift()")] == []
        assert verify(c) == []


@pytest.mark.parametrize("call", ["SELECT * FROM graph.reconcile()", "SELECT graph.build()",
                                  "SELECT count(*) FROM graph.verify()"])
def test_a_table_registered_while_a_call_locks_its_sources_is_locked_before_the_state_row(world, call):
    """reconcile(), build() and verify() lock the registered tables, then take
    graph._sync_state's row. A table registered in between (here while the call waits
    for another table's lock a writer holds IN SHARE MODE) was not among them: the
    call locked it only later (the check's or the build's read), holding the row,
    and a writer of it holding it IN SHARE MODE that then applied deadlocked with
    the call (40P01 for one of them; reconcile 'partial', lost_lock_race). The call
    now looks for such tables once it holds the row and, finding one, gives the row
    and its locks back and locks the sources again, the newcomer with them: it waits
    for the newcomer's writer holding no row, and the writer's apply goes through."""
    with connect(world) as su:
        su.execute("DROP TABLE IF EXISTS lo_late CASCADE")
        su.execute("CREATE TABLE lo_late (id bigint PRIMARY KEY, name text)")
        su.execute("INSERT INTO lo_late VALUES (1, 'late')")
    out = {}
    with connect(world) as first, connect(world) as caller, connect(world) as registrar, \
            connect(world) as writer, connect(world) as look:
        caller.execute("SET statement_timeout = '120s'")  # a guard against a hang, not a timing
        writer.execute("SET statement_timeout = '60s'")  # (the same)
        first.execute("BEGIN")
        first.execute("LOCK TABLE lo_accounts IN SHARE MODE")
        t = threading.Thread(target=_run, args=(caller, call, out, "call"))
        t.start()
        try:
            assert wait_until(lambda: blocked_by(look, caller.info.backend_pid, first.info.backend_pid))
            registrar.execute("SELECT graph.add_table('lo_late', columns => '{name}')")
            assert blocked_by(look, caller.info.backend_pid, first.info.backend_pid)  # (registered meanwhile)
            writer.execute("BEGIN")
            writer.execute("LOCK TABLE lo_late IN SHARE MODE")
            writer.execute("INSERT INTO lo_late VALUES (2, 'written')")
            first.execute("ROLLBACK")
            assert wait_until(lambda: blocked_by(look, caller.info.backend_pid, writer.info.backend_pid))
            free = state_row_free(look)
            applied = None
            if free:
                applied = writer.execute("SELECT inserts FROM graph.apply_sync()").fetchone()
        finally:
            first.execute("ROLLBACK")
            writer.execute("COMMIT")
            t.join()
        assert free, "the call waited for lo_late's lock holding graph._sync_state's row"
        assert applied is not None
        got = out["call"]
        assert not isinstance(got, Exception), got
        if "reconcile" in call:
            status, error = look.execute("SELECT status, error FROM graph._maintenance_jobs"
                                         " WHERE kind = 'reconcile' ORDER BY job_id DESC LIMIT 1").fetchone()
            assert status == "succeeded", (status, error, got)
        look.execute("SELECT graph.build()")
        assert verify(look) == []
    with connect(world) as su:
        su.execute("SELECT graph.remove_table('lo_late', true)")
        su.execute("DROP TABLE lo_late")


def _registration_race(dsn, table, row, call, loser, disable=True, login=None):
    """As _reconcile_race, for a registration ``call`` whose capture repair (enabling
    ``table``'s disabled trigger: SHARE ROW EXCLUSIVE) waits for a writer's open INSERT
    of ``row``; the writer then applies (it takes graph._sync_state's row) and commits.
    The registration's rows, or its error; the writer's apply's rows, or its error.
    disable false: the table's triggers are left as they are (a registration whose own
    trigger DDL, creating or dropping them, waits for the writer); login: how the
    registration's session logs in (the admin fixture), a superuser by default."""
    out = {}
    if disable:
        with connect(dsn) as c:
            c.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    with connect(dsn) as w, (login or (lambda: connect(dsn)))() as r, connect(dsn) as c:
        for conn, name in ((w, "writer"), (r, "registration")):
            conn.execute("SET statement_timeout = '120s'")  # a guard against a hang, not a timing
            # the loser's check within the 5 s the registration's trigger DDL waits for a
            # writer (graph._install_capture_bounded), with room for a loaded machine
            conn.execute("SET deadlock_timeout = %s" % ("'2s'" if loser == name else "'60s'"))
        w.execute("BEGIN")
        w.execute(f"INSERT INTO {table} VALUES {row}")
        tr = threading.Thread(target=_run, args=(r, call, out, "registration"))
        tr.start()
        try:
            assert wait_until(lambda: blocked_by(c, r.info.backend_pid, w.info.backend_pid)), \
                "the registration never waited for the writer"
            _run(w, "SELECT inserts FROM graph.apply_sync()", out, "writer")  # waits for it, or not
        finally:
            w.execute("ROLLBACK" if isinstance(out.get("writer"), psycopg.Error) else "COMMIT")
            tr.join()
    return out


@pytest.mark.parametrize("loser", ["writer", "registration"])
@pytest.mark.parametrize("table, row, call", [
    ("lo_transfers", "(100, 1)",
     "SELECT graph.alter_edge((SELECT edge_source_id FROM graph._edge_sources), row_filter => 'dst IS NOT NULL')"),
    ("lo_accounts", "(100, 'written while the trigger was off')",
     "SELECT graph.add_filter_column('lo_accounts', 'name')"),
    ("lo_accounts", "(100, 'written while the trigger was off')",
     "SELECT graph.alter_table('lo_accounts', add_filter_columns => '{name}')"),
    ("lo_transfers", "(100, 1)",
     "SELECT graph.add_edge('lo_transfers', 'id', 'lo_accounts', label => 'same')"),
], ids=["alter_edge", "add_filter_column", "alter_table", "add_edge"])
def test_a_registration_repairing_a_trigger_and_a_writer_that_applies_do_not_deadlock(world, table, row, call, loser):
    """alter_edge(), add_filter_column() and alter_table() wrote the registry (which takes
    graph._sync_state's row: graph._bump_graph_version) and then ran
    their capture's trigger DDL (here: enabling a trigger its owner disabled, SHARE ROW
    EXCLUSIVE), which waited for a writer of the table; the writer's transaction then
    applied (as a read applies), waiting for the row: 40P01 for one of them. They now
    run that DDL first and take the row last, the order of every other registration and
    of a build: the writer's apply goes on and commits, the registration goes on, and
    the row written with the trigger off reaches the graph at the next build."""
    out = _registration_race(world, table, row, call, loser)
    assert _failure(out["writer"]) is None and _failure(out["registration"]) is None, out
    with connect(world) as c:
        assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift() WHERE kind LIKE 'trigger%'")] == []
        c.execute("SELECT graph.build()")
        assert verify(c) == []


@pytest.mark.parametrize("loser", ["writer", "registration"])
def test_a_table_registered_beside_its_open_writer_that_applies_does_not_deadlock(world, admin, loser):
    """add_table() inserted the table's registry row, whose statement trigger
    (graph._bump_graph_version) takes graph._sync_state's row, and then created the
    capture triggers (SHARE ROW EXCLUSIVE), which waited for a writer's open INSERT of
    the table; the writer's transaction then applied (as a read applies), waiting for
    the row: 40P01 for one of them. Repairing first, as alter_table() does, cannot help
    a table that has no triggers yet: the lock its CREATE TRIGGER takes is now taken
    before the registry write (graph._lock_for_triggers), so the registration waits
    for the writer holding nothing the writer's apply needs. Run as a superuser and as
    an admin with only SELECT and TRIGGER on the table (LOCK TABLE in that mode is
    refused such a role: the lock is a definer's)."""
    with connect(world) as c:
        c.execute("DROP TABLE IF EXISTS lo_fresh")
        c.execute("CREATE TABLE lo_fresh (id bigint PRIMARY KEY, name text)")
        c.execute("GRANT SELECT, TRIGGER ON lo_fresh TO graph_admin")
    try:
        out = _registration_race(world, "lo_fresh", "(1, 'written before registration')",
                                 "SELECT graph.add_table('lo_fresh', columns => '{name}')", loser, login=admin)
        assert _failure(out["writer"]) is None and _failure(out["registration"]) is None, out
        with connect(world) as c:
            assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift() WHERE kind LIKE 'trigger%'")] == []
            c.execute("SELECT graph.build()")
            assert verify(c) == []
            assert c.execute("SELECT count(*) FROM graph._node_tables WHERE table_oid = 'lo_fresh'::regclass"
                             ).fetchone() == (1,)
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables"
                      " WHERE table_oid = 'lo_fresh'::regclass")
            c.execute("DROP TABLE lo_fresh")


@pytest.mark.parametrize("loser", ["writer", "registration"])
@pytest.mark.parametrize("table, row, registered, call", [
    ("lo_links", "(1, 2)", False,
     "SELECT graph.add_edge('lo_accounts', 'a', 'lo_accounts', to_column => 'b', via_table => 'lo_links')"),
    ("lo_links", "(1, 2)", True,
     "SELECT graph.remove_edge('lo_accounts', 'a', 'lo_accounts', via_table => 'lo_links')"),
    ("lo_accounts", "(100, 'written before the removal')", False,
     "SELECT graph.remove_table('lo_accounts', true)"),
], ids=["add_edge_join_table", "remove_edge_join_table", "remove_table"])
def test_a_registration_whose_trigger_ddl_waits_for_a_writer_that_applies_does_not_deadlock(
        world, table, row, registered, call, loser):
    """add_edge() of a join table that carried nothing yet (CREATE TRIGGER: SHARE ROW
    EXCLUSIVE), remove_edge() of a join table's last edge source and remove_table()
    (their triggers dropped: ACCESS EXCLUSIVE) wrote the registry, taking
    graph._sync_state's row (graph._bump_graph_version), and then ran that DDL, which
    waited for a writer's open INSERT of the table; the writer then applied, waiting for
    the row: 40P01 for one of them. The DDL's lock is now taken first (bounded): the
    writer's apply goes on and commits, and so does the registration."""
    with connect(world) as c:
        c.execute("DROP TABLE IF EXISTS lo_links")
        c.execute("CREATE TABLE lo_links (a bigint, b bigint, PRIMARY KEY (a, b))")
        if registered:
            c.execute("SELECT graph.add_edge('lo_accounts', 'a', 'lo_accounts', to_column => 'b',"
                      " via_table => 'lo_links')")
            c.execute("SELECT graph.build()")
    try:
        out = _registration_race(world, table, row, call, loser, disable=False)
        assert _failure(out["writer"]) is None and _failure(out["registration"]) is None, out
        with connect(world) as c:
            assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift() WHERE kind LIKE 'trigger%'")] == []
            c.execute("SELECT graph.build()")
            assert verify(c) == []
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_edge(from_table, from_column, to_table, via_table => via_table)"
                      " FROM graph._edge_sources WHERE via_table = 'lo_links'::regclass")
            c.execute("DROP TABLE lo_links")


def test_the_trigger_ddl_lock_is_taken_only_where_the_session_could_take_it_by_that_ddl(world):
    """graph._lock_for_capture (a definer: LOCK TABLE in SHARE ROW EXCLUSIVE or ACCESS
    EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE in PostgreSQL 15) locks only what
    the session's role could lock by the trigger DDL it precedes: a table that role has
    TRIGGER on, and for a drop only a registered one. A graph_admin member calling it
    by hand on a table it has no TRIGGER on, or asking for a drop of an unregistered
    table, locks nothing; its own registered table it locks, to the end of its
    transaction."""
    role = "lo_locker_" + uuid.uuid4().hex[:8]
    with connect(world) as c:
        c.execute("DROP TABLE IF EXISTS lo_other")
        c.execute("CREATE TABLE lo_other (id bigint PRIMARY KEY)")
        c.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER IN ROLE graph_admin")
        c.execute(f"GRANT SELECT, TRIGGER ON lo_accounts, lo_other TO {role}")
        c.execute(f"GRANT SELECT ON lo_transfers TO {role}")
    try:
        with as_role(world, role) as a, connect(world) as c:
            def held():
                return sorted(c.execute("SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = %s"
                                        " AND relation IN ('lo_accounts'::regclass, 'lo_transfers'::regclass,"
                                        " 'lo_other'::regclass)", (a.info.backend_pid,)).fetchall())
            for tables, doing, want in (
                    ("{lo_transfers}", "install", []),  # registered, but no TRIGGER on it
                    ("{lo_transfers}", "drop", []),
                    ("{lo_other}", "drop", []),  # TRIGGER, but not registered
                    ("{lo_other}", "install", [("lo_other", "ShareRowExclusiveLock")]),
                    ("{lo_accounts,lo_transfers}", "drop", [("lo_accounts", "AccessExclusiveLock")])):
                a.execute("BEGIN")
                a.execute("SELECT graph._lock_for_capture(%s::regclass[]::oid[], %s)", (tables, doing))
                assert held() == want, (tables, doing)
                a.execute("ROLLBACK")
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                a.execute("SELECT graph._lock_for_capture('{lo_other}'::regclass[]::oid[], 'repair')")
    finally:
        with connect(world) as c:
            c.execute("DROP TABLE lo_other")
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


REPLICA_TRIGGERS = ("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'lo_accounts'::regclass"
                    " AND tgname LIKE 'graphsync\\_replica\\_capture\\_%'")


@pytest.mark.parametrize("loser", ["writer", "registration"])
@pytest.mark.parametrize("enabled", [True, False])
def test_replica_capture_switched_beside_an_open_writer_that_applies_does_not_deadlock(world, admin, enabled, loser):
    """graph.enable_replica_capture() wrote graph._sync_state's row (replica_capture)
    and then ran its trigger DDL on every captured table (CREATE TRIGGER: SHARE ROW
    EXCLUSIVE; turned off, DROP FUNCTION ... CASCADE: ACCESS EXCLUSIVE), which waited
    for a writer's open INSERT of one of them; the writer's transaction then applied (as
    a read applies), waiting for the row: 40P01 for one of them (seen failing so). The
    tables' locks are now taken first, bounded (graph._lock_for_capture), and the row
    after them: the call waits for the writer holding nothing the writer's apply needs,
    the apply goes on and commits, and so does the call. Run as a superuser and as an
    admin with only SELECT and TRIGGER on the tables."""
    if not enabled:
        with connect(world) as c:
            c.execute("SELECT graph.enable_replica_capture()")
            assert c.execute(REPLICA_TRIGGERS).fetchone()[0] > 0
    try:
        out = _registration_race(world, "lo_accounts", "(100, 'written while switching')",
                                 "SELECT graph.enable_replica_capture(%s)" % ("true" if enabled else "false"),
                                 loser, disable=False, login=admin)
        assert _failure(out["writer"]) is None and _failure(out["registration"]) is None, out
        assert out["registration"] == [(2 if enabled else 0,)], out
        with connect(world) as c:
            assert (c.execute(REPLICA_TRIGGERS).fetchone()[0] > 0) is enabled
            assert c.execute("SELECT replica_capture FROM graph._sync_state").fetchone() == (enabled,)
            assert [k for k, in c.execute("SELECT kind FROM graph._schema_drift() WHERE kind LIKE 'trigger%'")] == []
            apply(c)
            assert verify(c) == []
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.enable_replica_capture(false)")
