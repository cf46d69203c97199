"""Planning a read of a registered table runs none of its owner's code as an admin or a
superuser.

PostgreSQL's planner folds a call of an IMMUTABLE function on constants wherever it
meets one: in the expressions and predicates of a table's indexes, its extended
statistics' expressions and its partition key (when it loads them for any query of
the table), and in its CHECK constraints (constraint exclusion). It does so as the
role planning the query. A table owner outside graph_admin who created an index on
its registered table over ``a + own_pc.f(7)``, its own function declared IMMUTABLE,
had that function run by a superuser's ``graph.build()`` and ``verify()`` (and so by
maintenance under pg_cron, reconcile and retry), and by a superuser's
``graph.traverse(hydrate => true)`` and ``graph.search``; run by a superuser, it made
the owner one (seen failing). The same with statistics over such an expression, and
as a non-superuser admin's ``build()`` (the owner's code ran with graph_admin's rights).

Now every statement graphsync makes to read a source names it through
``graph._source_name``, which, for a caller who is a superuser or a graph_admin member,
refuses (42501) a table (or a partition or child of it) whose indexes, statistics,
partition key or CHECK constraints call a function, directly or through an operator,
owned by a role that is neither a superuser nor the caller: nothing runs, and the
caller is told what to drop or have a superuser own. A reader reading as itself
(``hydrate``, ``search``) runs the owner's code as a ``SELECT`` would, as before."""

import threading
import time

import psycopg
import pytest

from conftest import as_role, blocked_by, connect, wait_until

OWNER, ADMIN, READER = "gs_pc_owner", "gs_pc_admin", "gs_pc_reader"

SPY = """
CREATE SCHEMA spy_pc;
GRANT USAGE ON SCHEMA spy_pc TO PUBLIC;
CREATE TABLE spy_pc.calls (who name, what text);
GRANT INSERT, SELECT ON spy_pc.calls TO PUBLIC;
"""

# The owner's code: f, declared IMMUTABLE (so the planner folds f(<constant>)), calls
# spy, which records who runs it and, run by a superuser, makes the owner one.
OWNER_CODE = f"""
CREATE FUNCTION own_pc.spy(what int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spy_pc.calls VALUES (current_user, what::text);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN what;
END $$;
CREATE FUNCTION own_pc.f(what int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN own_pc.spy(what); END $$;
CREATE FUNCTION own_pc.same(int, int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM own_pc.spy($2); RETURN $1 = $2; END $$;
CREATE OPERATOR own_pc.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = own_pc.same);
GRANT USAGE ON SCHEMA own_pc TO PUBLIC;
"""

# Each trap, planted on own_pc.<table> by its owner after registration and a build.
TRAPS = {
    "index expression": "CREATE INDEX ON own_pc.{t} ((a + own_pc.f(7)))",
    "index predicate": "CREATE INDEX ON own_pc.{t} (a) WHERE a > own_pc.f(8)",
    "statistics expression": "CREATE STATISTICS own_pc.{t}_st ON (a + own_pc.f(9)), id FROM own_pc.{t}",
    "operator in an index predicate": "CREATE INDEX ON own_pc.{t} (a) WHERE 1 OPERATOR(own_pc.===) 2",
}


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, ADMIN, READER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(SPY)
        c.execute(f"CREATE SCHEMA own_pc AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
    yield db
    with connect(db) as c:
        for (t,) in c.execute("SELECT table_oid::regclass::text FROM graph._node_tables"
                              " WHERE table_oid::regclass::text LIKE 'own_pc.%' ORDER BY 1 DESC").fetchall():
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (t,))
        c.execute("DROP SCHEMA own_pc CASCADE; DROP SCHEMA spy_pc CASCADE")
        for role in (OWNER, ADMIN, READER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")
        c.execute("SELECT graph.build()")


def register(world, t):
    """own_pc.<t>, the owner's (two rows, a property), registered by the admin and built."""
    with as_role(world, OWNER) as o:
        o.execute(f"CREATE TABLE own_pc.{t} (id int PRIMARY KEY, name text, a int)")
        o.execute(f"INSERT INTO own_pc.{t} VALUES (1, 'a', 1), (2, 'b', 2)")
        o.execute(f"GRANT SELECT, TRIGGER ON own_pc.{t} TO {ADMIN}, {READER}")
    with as_role(world, ADMIN) as a:
        a.execute(f"SELECT graph.add_table('own_pc.{t}', columns => '{{name}}')")
        a.execute("SELECT graph.build()")


def foreign_calls(c):
    return c.execute("SELECT who::text, what FROM spy_pc.calls WHERE who <> %s ORDER BY 1, 2",
                     (OWNER,)).fetchall()


def owner_is_superuser(c):
    return c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone()[0]


def attempt(dsn, role, call):
    """Run ``call`` in a new backend (whose relation cache has not folded the owner's
    expressions yet) as ``role`` (None: the superuser); its SQLSTATE, or None. The
    source check is per table (tests/test_check_per_table.py): ``graph.verify()``
    reports a table it may not read as a ``check_failed`` row with the refusal's
    SQLSTATE instead of raising it."""
    conn = connect(dsn) if role is None else as_role(dsn, role)
    with conn:
        try:
            cur = conn.execute(call)
            if "graph.verify()" in call:
                failed = [r[3]["sqlstate"] for r in cur.fetchall() if r[0] == "check_failed"]
                return failed[0] if failed else None
            cur.fetchall()
        except psycopg.Error as exc:
            return exc.sqlstate
    return None


PRIVILEGED_CALLS = [
    (None, "SELECT * FROM graph.build()"),
    (None, "SELECT * FROM graph.verify()"),
    (None, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
    (None, "SELECT * FROM graph.search('name', 'a')"),
    (ADMIN, "SELECT * FROM graph.build()"),
    (ADMIN, "SELECT * FROM graph.verify()"),
    (ADMIN, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
]


@pytest.mark.parametrize("trap", list(TRAPS))
def test_an_owners_code_the_planner_folds_never_runs_as_an_admin_or_a_superuser(world, trap):
    t = "t_" + trap.replace(" ", "_")
    register(world, t)
    with as_role(world, OWNER) as o:
        o.execute(TRAPS[trap].format(t=t))
    with connect(world) as c:
        c.execute("DELETE FROM spy_pc.calls")
        # The plant works: a superuser's own query of the table runs the owner's code.
        with c.transaction():
            c.execute(f"SELECT * FROM own_pc.{t} WHERE id = 1").fetchall()
            assert foreign_calls(c) != []
            assert owner_is_superuser(c)
            raise psycopg.Rollback()
        assert not owner_is_superuser(c) and foreign_calls(c) == []
    refused = {}
    for role, call in PRIVILEGED_CALLS:
        refused[(role, call)] = attempt(world, role, call.format(t=t))
    with connect(world) as c:
        assert foreign_calls(c) == []
        assert not owner_is_superuser(c)
    # Refused, never run: build and verify, and a privileged read that reads the table.
    assert set(refused.values()) == {"42501"}, refused
    # A reader reads the owner's table as a SELECT of its own would (its code runs as the
    # reader, who could run it anyway), and the owner itself.
    assert attempt(world, READER, f"SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)") is None
    assert attempt(world, OWNER, f"SELECT * FROM graph.search('name', 'a', table_filter => '{{own_pc.{t}}}')") is None
    with connect(world) as c:
        assert {who for who, _ in foreign_calls(c)} <= {READER}
        c.execute("DELETE FROM spy_pc.calls")
        # The owner drops its trap: the table is read again, by everyone.
        with as_role(world, OWNER) as o:
            for (idx,) in o.execute("SELECT indexrelid::regclass::text FROM pg_index"
                                    f" WHERE indrelid = 'own_pc.{t}'::regclass AND NOT indisprimary").fetchall():
                o.execute(f"DROP INDEX {idx}")
            o.execute(f"DROP STATISTICS IF EXISTS own_pc.{t}_st")
        assert attempt(world, None, "SELECT * FROM graph.build()") is None
        assert attempt(world, ADMIN, "SELECT * FROM graph.verify()") is None


def test_a_superusers_function_in_an_index_is_read_as_before(world):
    """An expression index over a function a superuser owns (an extension's, or one a
    superuser checked and took over) runs nobody's code but the superuser's: such a
    table is read by an admin as before."""
    t = "t_trusted"
    register(world, t)
    with connect(world) as c:
        c.execute("CREATE FUNCTION own_pc.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'")
        c.execute(f"CREATE INDEX ON own_pc.{t} ((a + own_pc.twice(3)))")
    assert attempt(world, ADMIN, "SELECT * FROM graph.build()") is None
    assert attempt(world, ADMIN, f"SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)") is None


def test_a_partition_or_child_of_a_registered_table_is_checked_too(world):
    """A read of a registered table reads its inheritance children (and partitions):
    their indexes and statistics are planned with it."""
    t = "t_parent"
    register(world, t)
    with as_role(world, OWNER) as o:
        o.execute(f"CREATE TABLE own_pc.{t}_child () INHERITS (own_pc.{t})")
        o.execute(f"CREATE INDEX ON own_pc.{t}_child ((a + own_pc.f(10)))")
    with connect(world) as c:
        c.execute("DELETE FROM spy_pc.calls")
    assert attempt(world, None, "SELECT * FROM graph.build()") == "42501"
    assert attempt(world, ADMIN, "SELECT * FROM graph.verify()") == "42501"
    with connect(world) as c:
        assert foreign_calls(c) == []
        assert not owner_is_superuser(c)
    with as_role(world, OWNER) as o:
        o.execute(f"DROP TABLE own_pc.{t}_child")


def test_a_non_superuser_admins_own_table_runs_none_of_its_code_as_a_superuser(world):
    """The same from graph_admin: a non-superuser admin registers a table of its own,
    indexed over its own IMMUTABLE function; a superuser's build or verify (or
    maintenance a superuser scheduled) would run that function as the superuser."""
    with connect(world) as c:
        c.execute(f"CREATE SCHEMA adm_pc AUTHORIZATION {ADMIN}")
    try:
        with as_role(world, ADMIN) as a:
            a.execute(f"""
                CREATE FUNCTION adm_pc.spy(what int) RETURNS int LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO spy_pc.calls VALUES (current_user, 'admin ' || what);
                    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
                        EXECUTE 'ALTER ROLE {ADMIN} SUPERUSER';
                    END IF;
                    RETURN what;
                END $$;
                CREATE FUNCTION adm_pc.f(what int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
                BEGIN RETURN adm_pc.spy(what); END $$""")
            a.execute("CREATE TABLE adm_pc.mine (id int PRIMARY KEY, name text, a int)")
            a.execute("INSERT INTO adm_pc.mine VALUES (1, 'm', 1)")
            a.execute("SELECT graph.add_table('adm_pc.mine', columns => '{name}')")
            a.execute("SELECT graph.build()")
            a.execute("CREATE INDEX ON adm_pc.mine ((a + adm_pc.f(11)))")
            # its own code, as itself: read as before
            assert a.execute("SELECT count(*) FROM graph.verify()").fetchone() == (0,)
        with connect(world) as c:
            c.execute("DELETE FROM spy_pc.calls")
        refused = [attempt(world, None, "SELECT * FROM graph.build()"),
                   attempt(world, None, "SELECT * FROM graph.verify()")]
        with connect(world) as c:
            assert c.execute("SELECT who::text FROM spy_pc.calls WHERE who <> %s", (ADMIN,)).fetchall() == []
            assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (ADMIN,)).fetchone()[0]
        assert refused == ["42501", "42501"]
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table('adm_pc.mine', cascade => true)")
            c.execute("DROP SCHEMA adm_pc CASCADE")
            c.execute(f"ALTER ROLE {ADMIN} NOSUPERUSER")


def waiting_on(c, pid, t):
    """Whether backend ``pid`` waits for a lock on own_pc.<t>."""
    return c.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted"
                     " AND relation = %s::regclass)", (pid, f"own_pc.{t}")).fetchone()[0]


@pytest.mark.parametrize("role,call,held", [
    (None, "SELECT * FROM graph.build()", "second"),
    (None, "SELECT * FROM graph.verify()", "second"),
    (ADMIN, "SELECT * FROM graph.build()", "second"),
    (ADMIN, "SELECT * FROM graph.verify()", "first"),
    (None, "SELECT * FROM graph.traverse('own_pc.t_race_a', '1', hydrate => true)", "first"),
    (ADMIN, "SELECT * FROM graph.traverse('own_pc.t_race_a', '1', hydrate => true)", "first"),
])
def test_a_trap_planted_between_the_check_and_the_read_never_runs(world, role, call, held):
    """The owner plants its trap after graph._source_name checked its table and before
    the read plans it: it holds a lock on its table (``held``: the first one, which the
    call reads, or a second table of its own read with it) that the privileged call
    waited for after checking, plants the trap while it waits, and lets it go. The call
    now locks what it reads before checking it: it waits before the check, which sees
    the trap and refuses the table (seen failing before: the owner became superuser);
    or, holding the first table against new indexes, it is a deadlock's victim."""
    tag = "x" if role is None else "y"
    t = f"t_race_{tag}{held[0]}_{call.split('.')[1][:5]}"
    first = "t_race_a"
    with connect(world) as c:
        if not c.execute("SELECT to_regclass(%s) IS NOT NULL", (f"own_pc.{first}",)).fetchone()[0]:
            register(world, first)
    register(world, t)
    with connect(world) as c:
        c.execute("DELETE FROM spy_pc.calls")
    result = {}
    if held == "second":
        # Which side of the deadlock fails is the one whose check (deadlock_timeout after
        # it began to wait) finds the cycle first: under load the owner's index could
        # start waiting more than the default 1 s after the call, whose one check then
        # found no cycle, and the owner was the victim. The call checks at 3 s (well
        # within the 10 s its lock waits), the owner not within the test.
        _deadlock_timeouts(world, {OWNER: "60s", role: "3s"} if role else {OWNER: "60s"})
    caller = connect(world) if role is None else as_role(world, role)
    if held == "second" and role is None:
        caller.execute("SET deadlock_timeout = '3s'")
    pid = caller.info.backend_pid

    def run():
        try:
            cur = caller.execute(call)
            rows = cur.fetchall()
            result["failed"] = [r[3]["sqlstate"] for r in rows if "verify" in call and r[0] == "check_failed"]
        except psycopg.Error as exc:
            result["error"] = exc.sqlstate

    with as_role(world, OWNER) as o, connect(world) as watch:
        try:
            with o.transaction():
                locked = first if held == "first" else t
                o.execute(f"LOCK TABLE own_pc.{locked} IN ACCESS EXCLUSIVE MODE")
                worker = threading.Thread(target=run)
                worker.start()
                assert wait_until(lambda: waiting_on(watch, pid, locked)), result  # it waits for the owner's lock
                # the traps, planted while it waits, on both tables
                o.execute(f"CREATE INDEX ON own_pc.{first} ((a + own_pc.f(21)))")
                o.execute(f"CREATE INDEX ON own_pc.{t} ((a + own_pc.f(22)))")
            worker.join(60)
            assert not worker.is_alive()
            with connect(world) as c:
                calls = foreign_calls(c)
                superuser = owner_is_superuser(c)
                c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
            assert calls == [] and not superuser, (calls, result)
            if held == "first":
                # refused, not read past the trap
                assert result.get("error") == "42501" or "42501" in result.get("failed", []), result
            else:
                # The call holds the first table SHARE UPDATE EXCLUSIVE while it waits for
                # the second: the owner's index on the first waits for the call, which
                # waits for the owner, and PostgreSQL breaks the deadlock by failing the
                # call, which waited first.
                assert result.get("error") == "40P01", result
        finally:
            caller.close()
            if held == "second":
                _deadlock_timeouts(world, {OWNER: None, role: None} if role else {OWNER: None})
            with as_role(world, OWNER) as o2:
                for tbl in (first, t):
                    for (idx,) in o2.execute("SELECT indexrelid::regclass::text FROM pg_index"
                                             f" WHERE indrelid = 'own_pc.{tbl}'::regclass AND NOT indisprimary"
                                             ).fetchall():
                        o2.execute(f"DROP INDEX {idx}")


def _deadlock_timeouts(world, timeouts):
    """Each role's deadlock_timeout at its next login (None: the server's)."""
    with connect(world) as c:
        for role, value in timeouts.items():
            if value is None:
                c.execute(f"ALTER ROLE {role} RESET deadlock_timeout")
            else:
                c.execute(f"ALTER ROLE {role} SET deadlock_timeout = '{value}'")


def register_partitioned(world, t):
    """own_pc.<t>, the owner's, partitioned by id: <t>_1 (ids below 100: two rows) and
    <t>_3 (ids 100 to 199), itself partitioned, with <t>_3a (ids 100 to 149: one row);
    registered by the admin and built."""
    with as_role(world, OWNER) as o:
        o.execute(f"CREATE TABLE own_pc.{t} (id int PRIMARY KEY, name text, a int) PARTITION BY RANGE (id)")
        o.execute(f"CREATE TABLE own_pc.{t}_1 PARTITION OF own_pc.{t} FOR VALUES FROM (0) TO (100)")
        o.execute(f"CREATE TABLE own_pc.{t}_3 PARTITION OF own_pc.{t} FOR VALUES FROM (100) TO (200)"
                  " PARTITION BY RANGE (id)")
        o.execute(f"CREATE TABLE own_pc.{t}_3a PARTITION OF own_pc.{t}_3 FOR VALUES FROM (100) TO (150)")
        o.execute(f"INSERT INTO own_pc.{t} VALUES (1, 'a', 1), (2, 'b', 2), (101, 'c', 3)")
        o.execute(f"GRANT SELECT, TRIGGER ON own_pc.{t}, own_pc.{t}_1, own_pc.{t}_3, own_pc.{t}_3a"
                  f" TO {ADMIN}, {READER}")
    with as_role(world, ADMIN) as a:
        a.execute(f"SELECT graph.add_table('own_pc.{t}', columns => '{{name}}')")
        a.execute("SELECT graph.build()")


# What the owner commits while the privileged call waits between its check and its
# planning of own_pc.<t>: each takes a lock ACCESS SHARE does not conflict with
# (CREATE INDEX: SHARE; CREATE STATISTICS and ATTACH PARTITION: SHARE UPDATE
# EXCLUSIVE), and each is planned after the partition whose index the call waits for.
GAP_TRAPS = {
    "index": ["CREATE INDEX ON own_pc.{t}_3a ((a + own_pc.f(31)))"],
    "statistics": ["CREATE STATISTICS own_pc.{t}_st ON (a + own_pc.f(32)), id FROM own_pc.{t}_1"],
    "attached partition": [
        "CREATE TABLE own_pc.{t}_3b (id int NOT NULL, name text, a int)",
        "CREATE INDEX ON own_pc.{t}_3b ((a + own_pc.f(33)))",
        "ALTER TABLE own_pc.{t}_3 ATTACH PARTITION own_pc.{t}_3b FOR VALUES FROM (150) TO (200)",
    ],
}

GAP_CALLS = [
    (None, "SELECT * FROM graph.build()"),
    (ADMIN, "SELECT * FROM graph.build()"),
    (None, "SELECT * FROM graph.verify()"),
    (None, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
    (ADMIN, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
]


@pytest.mark.parametrize("trap", list(GAP_TRAPS))
@pytest.mark.parametrize("role,call", GAP_CALLS)
def test_a_trap_committed_between_the_check_and_the_planning_never_runs(world, role, call, trap):
    """The owner reindexes its first partition (holding its index ACCESS EXCLUSIVE and
    the partition SHARE) in a transaction; the privileged call, which held its tables
    ACCESS SHARE only, checked them and then waited in planning, for that index; the
    owner created an index on another partition, a statistics object, or attached a
    partition with such an index, none of which ACCESS SHARE keeps out, and committed:
    planning went on and ran the owner's function as the caller (seen failing for build
    and verify, and for a hydrating read with the statistics: the owner became
    superuser; a hydrating read plans its start's partition only, and read the others'
    traps unchecked). The call now holds its sources SHARE UPDATE EXCLUSIVE from before
    its check: it waits for the owner's SHARE before checking, and the check, reading
    the catalog after the wait, sees the trap and refuses the table (42501)."""
    n = GAP_CALLS.index((role, call))
    t = f"t_gap_{trap[0]}{n}"
    register_partitioned(world, t)
    with connect(world) as c:
        c.execute("DELETE FROM spy_pc.calls")
    result = {}
    caller = connect(world) if role is None else as_role(world, role)
    pid = caller.info.backend_pid

    def run():
        try:
            rows = caller.execute(call.format(t=t)).fetchall()
            result["failed"] = [r[3]["sqlstate"] for r in rows if "verify" in call and r[0] == "check_failed"]
        except psycopg.Error as exc:
            result["error"] = exc.sqlstate

    try:
        with as_role(world, OWNER) as o, connect(world) as watch:
            opid = o.info.backend_pid
            with o.transaction():
                o.execute(f"REINDEX INDEX own_pc.{t}_1_pkey")
                worker = threading.Thread(target=run)
                worker.start()
                assert wait_until(lambda: blocked_by(watch, pid, opid)), result  # the call waits for the owner
                for statement in GAP_TRAPS[trap]:
                    o.execute(statement.format(t=t))
            worker.join(60)
            assert not worker.is_alive()
        with connect(world) as c:
            calls = foreign_calls(c)
            superuser = owner_is_superuser(c)
            c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
        assert calls == [] and not superuser, (calls, result)
        assert result.get("error") == "42501" or "42501" in result.get("failed", []), result
    finally:
        caller.close()
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute(f"DROP TABLE IF EXISTS own_pc.{t}, own_pc.{t}_3b")


def relation_locks(c, t):
    """The lock modes backend ``c``'s transaction holds on own_pc.<t>."""
    return {m for (m,) in c.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND granted"
                                    " AND relation = %s::regclass", (f"own_pc.{t}",)).fetchall()}


def test_the_lock_is_taken_for_superusers_and_admins_only_and_only_on_sources(world):
    """A reader's hydrating read takes ACCESS SHARE, as its SELECT would: it pays
    nothing for the check. A superuser's or admin's holds SHARE UPDATE EXCLUSIVE to
    the end of its transaction, partitions included. The lock's definer is
    graph_admin's alone, and locks nothing graphsync does not read."""
    t = "t_lock_who"
    register_partitioned(world, t)
    call = f"SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"
    try:
        for role, expected in ((READER, {"AccessShareLock"}), (ADMIN, {"ShareUpdateExclusiveLock"}),
                               (None, {"ShareUpdateExclusiveLock"})):
            with (connect(world) if role is None else as_role(world, role)) as c, c.transaction():
                assert len(c.execute(call).fetchall()) == 1
                assert expected <= relation_locks(c, t), role
                assert expected <= relation_locks(c, f"{t}_3a"), role
                if role == READER:
                    assert "ShareUpdateExclusiveLock" not in relation_locks(c, t)
        with as_role(world, READER) as r:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                r.execute("SELECT graph._hold_sources(ARRAY[%s::regclass::oid], false)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute("CREATE TABLE own_pc.unregistered (id int)")
            o.execute(f"GRANT SELECT ON own_pc.unregistered TO {ADMIN}")
        with as_role(world, ADMIN) as a, a.transaction():
            a.execute("SELECT graph._hold_sources(ARRAY['own_pc.unregistered'::regclass::oid], true)")
            assert relation_locks(a, "unregistered") == set()
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute(f"DROP TABLE IF EXISTS own_pc.{t}, own_pc.unregistered")


def test_a_read_waits_for_the_lock_a_bounded_time_and_a_build_as_it_always_waited(world):
    """Whoever holds a source SHARE UPDATE EXCLUSIVE (a manual VACUUM or ANALYZE, CREATE
    STATISTICS, another admin's read) makes a superuser's or admin's hydrating read
    wait for it at most the session's lock_timeout or 5 s, then fail with 55P03 and a
    hint; a build waits as it waits for any lock of its sources."""
    t = "t_lock_wait"
    register(world, t)
    call = f"SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"
    try:
        with as_role(world, OWNER) as o, o.transaction():
            o.execute(f"LOCK TABLE own_pc.{t} IN SHARE UPDATE EXCLUSIVE MODE")
            with connect(world) as c:
                c.execute("SET lock_timeout = '200ms'")
                with pytest.raises(psycopg.errors.LockNotAvailable) as err:
                    c.execute(call)
                assert f"own_pc.{t}" in str(err.value) and "graph_admin" in err.value.diag.message_hint
                c.execute("RESET lock_timeout")
                started = time.monotonic()
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    c.execute(call)
                assert time.monotonic() - started < 30
                # the session's lock_timeout is its own again
                assert c.execute("SHOW lock_timeout").fetchone() == ("0",)
            with as_role(world, READER) as r:  # a reader is not held up
                assert len(r.execute(call).fetchall()) == 1
            caller = connect(world)
            pid = caller.info.backend_pid
            result = {}
            worker = threading.Thread(target=lambda: result.update(
                built=caller.execute("SELECT count(*) FROM graph.build()").fetchone()))
            worker.start()
            with connect(world) as watch:
                wait_until(lambda: blocked_by(watch, pid, o.info.backend_pid))
                time.sleep(6)  # longer than a read's bound: the build still waits
                assert blocked_by(watch, pid, o.info.backend_pid) and worker.is_alive()
        worker.join(60)
        caller.close()
        assert "built" in result
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute(f"DROP TABLE IF EXISTS own_pc.{t}")


# What the owner commits after a privileged caller's REPEATABLE READ or SERIALIZABLE
# transaction took its snapshot and before its call: the check's catalog queries read
# the snapshot's catalog (no trap), the planner the current one.
SNAPSHOT_TRAPS = {
    "index": "CREATE INDEX ON own_pc.{t} ((a + own_pc.f(41)))",
    "statistics": "CREATE STATISTICS own_pc.{t}_st ON (a + own_pc.f(42)), id FROM own_pc.{t}",
}

SNAPSHOT_CALLS = [
    (None, "SELECT * FROM graph.build()"),
    (ADMIN, "SELECT * FROM graph.build()"),
    (None, "SELECT * FROM graph.verify()"),
    (None, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
    (ADMIN, "SELECT * FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"),
]


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("trap", list(SNAPSHOT_TRAPS))
@pytest.mark.parametrize("role,call", SNAPSHOT_CALLS)
def test_a_trap_committed_after_a_repeatable_read_snapshot_never_runs(world, role, call, trap, isolation):
    """A superuser or an admin opens a REPEATABLE READ (or SERIALIZABLE) transaction and
    takes its snapshot; the table's owner then creates an index or a statistics object
    over its own function and commits; the privileged call follows in that transaction.
    The check's catalog queries read the catalog as of the snapshot (no trap), the
    planner as it is now: the owner's function ran as the caller (seen failing: the
    owner became superuser). Such a call is now refused (0A000, hinting at READ
    COMMITTED) before anything of the table is planned."""
    n = SNAPSHOT_CALLS.index((role, call))
    t = f"t_snap_{trap[0]}{isolation[0].lower()}{n}"
    register(world, t)
    with connect(world) as c:
        c.execute("DELETE FROM spy_pc.calls")
    caller = connect(world) if role is None else as_role(world, role)
    result = {}
    try:
        caller.execute(f"BEGIN ISOLATION LEVEL {isolation}")
        caller.execute("SELECT 1")  # the transaction's snapshot
        with as_role(world, OWNER) as o:
            o.execute(SNAPSHOT_TRAPS[trap].format(t=t))
        try:
            rows = caller.execute(call.format(t=t)).fetchall()
            result["failed"] = [(r[3]["sqlstate"], r[3]) for r in rows if "verify" in call and r[0] == "check_failed"]
            # what the owner's code did in the caller's transaction, kept
            result["inside"] = foreign_calls(caller)
            caller.execute("COMMIT")
        except psycopg.Error as exc:
            result["error"] = exc.sqlstate
            result["hint"] = exc.diag.message_hint
            caller.execute("ROLLBACK")
        with connect(world) as c:
            calls = foreign_calls(c)
            superuser = owner_is_superuser(c)
            c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
        assert calls == [] and not superuser, (calls, result)
        if "verify" in call:
            assert "0A000" in [s for s, _ in result["failed"]], result
        else:
            assert result.get("error") == "0A000", result
            assert "READ COMMITTED" in result["hint"], result
        # In READ COMMITTED the same call sees the trap and refuses the table (42501).
        assert attempt(world, role, call.format(t=t)) == "42501"
        with connect(world) as c:
            assert foreign_calls(c) == []
    finally:
        caller.close()
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute(f"DROP TABLE IF EXISTS own_pc.{t}")


def test_reads_that_plan_no_source_and_readers_work_in_repeatable_read(world):
    """What the refusal leaves alone: in a REPEATABLE READ transaction a superuser's or
    an admin's read that plans no source table (no hydration) and a reader's hydrating
    read (which runs the table's code as the reader's own SELECT would) answer as in
    READ COMMITTED."""
    t = "t_snap_ok"
    register(world, t)
    plain = f"SELECT node_id FROM graph.traverse('own_pc.{t}', '1') ORDER BY 1"
    hydrating = f"SELECT count(*) FROM graph.traverse('own_pc.{t}', '1', hydrate => true)"
    try:
        for role in (None, ADMIN, READER):
            with (connect(world) if role is None else as_role(world, role)) as c:
                want = c.execute(plain).fetchall()
                c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                c.execute("SELECT 1")
                assert c.execute(plain).fetchall() == want, role
                if role == READER:
                    assert c.execute(hydrating).fetchone() == (1,)
                else:
                    for refused in (hydrating, "SELECT count(*) FROM graph.search('name', 'a')"):
                        with pytest.raises(psycopg.errors.FeatureNotSupported) as err:
                            c.execute(refused)
                        assert "READ COMMITTED" in err.value.diag.message_hint
                        c.execute("ROLLBACK")
                        c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                c.execute("ROLLBACK")
    finally:
        with connect(world) as c:
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (f"own_pc.{t}",))
        with as_role(world, OWNER) as o:
            o.execute(f"DROP TABLE IF EXISTS own_pc.{t}")
