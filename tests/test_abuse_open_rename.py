"""A table owner who renames a registered column of its own table and leaves the
transaction open holds up replay for no table but its own.

The event trigger follows a rename in the owner's own DDL transaction (ops/follow.py):
it renames the registration and the pending log rows captured under the old name.
It took graph._sync_state's one row FOR UPDATE to keep a replay from running
halfway through those rows, and, for a renamed property or filter column, wrote
build_required on it: the row every apply locks first. An owner -- no admin -- who
ran BEGIN; ALTER TABLE ... RENAME COLUMN ...; and then idled made every
graph.apply_sync(), every read's apply and every maintenance run wait for it, for the
rows of every registered table.

The same held for a drop of a registered column or of the table, and for a rename
of the table or its schema: following them unregistered what was dropped and set
build_required on the state row, or renamed the registration, and the registry's
statement triggers locked the state row and wrote graph._graph_version's. Now each
followed change is counted in its table's row of graph._column_renames (migration
437), with the build it makes due; the other DDL an owner may leave open (a retype,
a disabled trigger, a dropped constraint, TRUNCATE) writes no registry row.

Real roles and concurrent sessions: the owner owns orn.mine alone (not graph_admin,
no superuser); public.orn_others belongs to someone else; replay runs as the
superuser with a lock_timeout, so a test that would wait fails instead of hanging.
"""

import threading

import psycopg
import pytest

from conftest import apply, as_role, connect, verify, wait_until

OWNER = "gs_orn_owner"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(f"DROP ROLE IF EXISTS {OWNER}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE SCHEMA orn AUTHORIZATION {OWNER}")
        c.execute("CREATE TABLE public.orn_others (id int PRIMARY KEY, name text, parent int)")
        c.execute("INSERT INTO public.orn_others SELECT g, 'o' || g, NULLIF(g / 2, 0) FROM generate_series(1, 10) g")
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE orn.mine (id int PRIMARY KEY, name text, boss int, note text)")
        o.execute("INSERT INTO orn.mine SELECT g, 'm' || g, NULLIF(g / 2, 0), 'n' FROM generate_series(1, 10) g")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('orn.mine', columns => '{name}')")
        c.execute("SELECT graph.add_edge('orn.mine', 'boss', 'orn.mine')")
        c.execute("SELECT graph.add_table('public.orn_others', columns => '{name}')")
        c.execute("SELECT graph.add_edge('public.orn_others', 'parent', 'public.orn_others')")
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA orn CASCADE")  # the event trigger unregisters orn.mine
        c.execute("DROP TABLE public.orn_others")
        c.execute(f"DROP OWNED BY {OWNER}")
        c.execute(f"DROP ROLE {OWNER}")


@pytest.fixture
def columns(world):
    """orn.mine's columns as the test found them, put back after it (by the owner:
    the event trigger follows that rename too), with the graph caught up."""
    yield
    with as_role(world, OWNER) as o:
        names = {r[0] for r in o.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'orn.mine'::regclass"
                                          " AND attnum > 0 AND NOT attisdropped")}
        for old in ("name", "boss", "id"):
            for new in (old + "_x", old + "_y"):
                if new in names:
                    o.execute(f"ALTER TABLE orn.mine RENAME COLUMN {new} TO {old}")
    with connect(world) as c:
        c.execute("SELECT graph.build()")
        apply(c)
        assert verify(c) == []


def owner_session(dsn):
    """The owner's connection, not autocommit: what it runs stays in one open transaction."""
    return psycopg.connect(psycopg.conninfo.make_conninfo(dsn, user=OWNER))


def pending_of(c, table):
    """``table``: a name, or an oid (a table since dropped)."""
    return c.execute("SELECT count(*) FROM graph._pending_log() AS p WHERE p.table_oid = %s::%s" % (
                     "%s", "oid" if isinstance(table, int) else "regclass"), (table,)).fetchone()[0]


def has_node(c, table, key):
    return c.execute("SELECT EXISTS (SELECT FROM graph._nodes WHERE table_oid = %s::regclass AND pk = %s)",
                     (table, str(key))).fetchone()[0]


def others_write(dsn, key):
    """Another table's write, by its own (superuser) session, committed."""
    with connect(dsn) as w:
        w.execute("INSERT INTO public.orn_others VALUES (%s, %s, 1)", (key, "o%d" % key))


def replay(c):
    """graph.apply_sync() that fails rather than waits for a lock more than 2 s."""
    c.execute("SET lock_timeout = '2s'")
    c.execute("SET statement_timeout = '30s'")
    try:
        return apply(c)
    finally:
        c.execute("RESET lock_timeout")
        c.execute("RESET statement_timeout")


@pytest.mark.parametrize("column", ["name", "boss", "id"])  # a property, an edge column, the key
def test_an_open_rename_holds_up_no_other_tables_replay(world, columns, column):
    key = {"name": 101, "boss": 102, "id": 103}[column]
    with owner_session(world) as o:
        o.execute(f"ALTER TABLE orn.mine RENAME COLUMN {column} TO {column}_x")  # and idle in transaction
        others_write(world, key)
        with connect(world) as admin:
            assert pending_of(admin, "public.orn_others") == 1
            replay(admin)  # waited for the owner: LockNotAvailable
            assert pending_of(admin, "public.orn_others") == 0
            assert has_node(admin, "public.orn_others", key)
            # the owner's own table: its writes wait for the owner, so do its rows
            assert pending_of(admin, "orn.mine") == 0
        o.commit()
    with as_role(world, OWNER) as o:
        o.execute(f"UPDATE orn.mine SET note = 'after' WHERE {column}_x IS NOT NULL")
    with connect(world) as admin:
        replay(admin)
        assert pending_of(admin, "orn.mine") == 0
        assert admin.execute("SELECT graph.build()") is not None
        assert verify(admin) == []


def mine_registration(c):
    return c.execute("SELECT n.id_columns, n.columns, e.from_column FROM graph._node_tables AS n"
                     " JOIN graph._edge_sources AS e ON e.from_table = n.table_oid"
                     " WHERE n.table_oid = 'orn.mine'::regclass").fetchone()


@pytest.mark.parametrize("end", ["rollback", "commit"])
def test_rows_captured_before_an_open_rename_are_applied_meanwhile_and_after_it_ends(world, columns, end):
    """The owner's table had rows pending when it renamed: a replay meanwhile applies
    them under the names they were captured with (the rename is not committed), with
    the other table's; a rollback leaves registration and log as they were, a commit
    renames them, and what the owner writes afterwards is applied under the new names."""
    k = 300 if end == "rollback" else 350
    with as_role(world, OWNER) as o:
        o.execute("INSERT INTO orn.mine VALUES (%s, 'm', 1, 'n')", (k + 1,))
        o.execute("UPDATE orn.mine SET boss = %s, name = 'renamed soon' WHERE id = 2", (k + 1,))
    with connect(world) as admin:
        before = mine_registration(admin)
        assert pending_of(admin, "orn.mine") == 2
    with owner_session(world) as o:
        o.execute("ALTER TABLE orn.mine RENAME COLUMN boss TO boss_x")
        o.execute("ALTER TABLE orn.mine RENAME COLUMN id TO id_x")
        others_write(world, k + 2)
        with connect(world) as admin:
            replay(admin)
            assert pending_of(admin, "orn.mine") == 0 and pending_of(admin, "public.orn_others") == 0
            assert has_node(admin, "orn.mine", k + 1) and has_node(admin, "public.orn_others", k + 2)
            assert mine_registration(admin) == before  # not committed
        getattr(o, end)()
    with connect(world) as admin:
        assert mine_registration(admin) == (before if end == "rollback" else (["id_x"], ["name"], "boss_x"))
        assert verify(admin) == []
    boss, key = ("boss", "id") if end == "rollback" else ("boss_x", "id_x")
    with as_role(world, OWNER) as o:
        o.execute(f"INSERT INTO orn.mine ({key}, name, {boss}) VALUES (%s, 'm', %s)", (k + 3, k + 1))
        o.execute(f"UPDATE orn.mine SET {boss} = %s WHERE {key} = 3", (k + 3,))
    with connect(world) as admin:
        replay(admin)
        assert verify(admin) == []
        assert admin.execute("SELECT schema_state FROM graph.sync_health()").fetchone() == ("current",)


def test_renames_committed_while_replays_run_are_read_under_the_right_names(world, columns):
    """Renames that commit while replays run, one log row a batch: each batch is read
    with a registry of the same column names (a replay that a rename's commit reaches
    halfway reads both again), so the graph equals the sources at the end."""
    stop = threading.Event()
    failures = []

    def replays():
        with connect(world) as admin:
            admin.execute("SET graph.sync_batch_size = 1")
            while not stop.is_set():
                try:
                    replay(admin)
                except psycopg.Error as exc:  # noqa: PERF203 - reported below
                    failures.append(exc)
                    return

    t = threading.Thread(target=replays)
    t.start()
    try:
        with as_role(world, OWNER) as o:
            plain, renamed = ("boss", "id"), ("boss_x", "id_x")
            for i in range(12):
                old, new = (plain, renamed) if i % 2 == 0 else (renamed, plain)
                for k in range(5):
                    key = 400 + 10 * i + k
                    o.execute(f"INSERT INTO orn.mine ({old[1]}, name, {old[0]}) VALUES ({key}, 'm', {key - 1})")
                    o.execute(f"UPDATE orn.mine SET {old[0]} = {key} WHERE {old[1]} = {1 + (key % 10)}")
                others_write(world, 400 + i)
                with o.transaction():
                    for a, b in zip(old, new, strict=True):
                        o.execute(f"ALTER TABLE orn.mine RENAME COLUMN {a} TO {b}")
    finally:
        stop.set()
        t.join()
    assert failures == []
    with connect(world) as admin:
        replay(admin)
        assert pending_of(admin, "orn.mine") == 0
        assert verify(admin) == []


def test_health_names_the_owner_a_replay_waits_for(world, columns):
    """Replay still waits for an owner's open schema change where it must read the
    owner's table: an apply that folds a backlog into a rebuild (as maintenance's
    rebuild) holds the state row while it waits for the table's lock. (An admin's
    graph.build() no longer does: it locks its sources first, tests/test_writer_poison.py.)
    sync_health() names the owner's backend and its table; while nothing waits, it
    blames no one."""
    with connect(world) as admin:
        apply(admin)
        admin.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
    with owner_session(world) as o:
        o.execute("ALTER TABLE orn.mine RENAME COLUMN name TO name_x")
        with connect(world) as w:  # a backlog large against the graph (rebuild_backlog_rows below)
            w.execute(f"INSERT INTO public.orn_others SELECT g, 'o' || g, 1 FROM generate_series({BACKLOG}) AS g")
        with connect(world) as admin:
            admin.execute("SET statement_timeout = '10s'")
            action = admin.execute("SELECT next_action FROM graph.sync_health()").fetchone()[0]
            assert not action.startswith("replay waits"), action
        waited = []
        rebuild = "SELECT * FROM graph.apply_sync()"

        def fold():
            with connect(world) as b:
                b.execute("SET graph.rebuild_backlog_rows = 1")
                b.execute("SET lock_timeout = '20s'")
                try:
                    b.execute(rebuild)
                except psycopg.errors.LockNotAvailable as exc:
                    waited.append(exc)

        t = threading.Thread(target=fold)
        t.start()
        try:
            with connect(world) as admin:
                admin.execute("SET statement_timeout = '10s'")
                build_waits = ("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                               " AND query = %s)")
                assert wait_until(lambda: admin.execute(build_waits, [rebuild]).fetchone()[0], timeout=10,
                                  interval=0.1)
                action = admin.execute("SELECT next_action FROM graph.sync_health()").fetchone()[0]
                assert action.startswith(f"replay waits for backend {o.info.backend_pid},"), action
                assert "orn.mine" in action, action
        finally:
            o.rollback()
            t.join()
    assert waited == []
    with connect(world) as admin:
        apply(admin)
        assert verify(admin) == []
        admin.execute(f"DELETE FROM public.orn_others WHERE id BETWEEN {BACKLOG.replace(', ', ' AND ')}")
        apply(admin)


# Keys of the backlog test_health_names_the_owner_a_replay_waits_for writes (and deletes)
BACKLOG = "100001, 102000"


def replaying(c) -> bool:
    """Whether another backend's apply_sync has been under way for more than 300 ms."""
    return c.execute("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%%apply_sync%%'"
                     " AND xact_start < now() - interval '300 ms' AND pid <> pg_backend_pid())").fetchone()[0]


def test_a_rename_that_commits_halfway_through_a_replay(world, columns):
    """A replay of many batches under way (one log row a batch) when the owner's
    rename of its edge and key columns commits: the batches after the commit carry
    the new names, and the replay reads the registry again before it applies them."""
    with as_role(world, OWNER) as o:
        o.execute("INSERT INTO orn.mine (id, name, boss) SELECT g, 'm', g - 1 FROM generate_series(601, 1400) g")
    result = []

    def run():
        with connect(world) as admin:
            admin.execute("SET graph.sync_batch_size = 1")
            try:
                result.append(replay(admin))
            except psycopg.Error as exc:
                result.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        with connect(world) as admin, as_role(world, OWNER) as o:
            # the replay has applied some batches (its overlay rows, not committed)
            wait_until(lambda: replaying(admin), timeout=5, interval=0.05)
            with o.transaction():
                o.execute("ALTER TABLE orn.mine RENAME COLUMN boss TO boss_x")
                o.execute("ALTER TABLE orn.mine RENAME COLUMN id TO id_x")
            halfway = t.is_alive()
    finally:
        t.join()
    assert halfway  # the rename committed while the replay ran
    assert result and isinstance(result[0], dict) and result[0]["failed"] == 0, result
    with connect(world) as admin:
        assert pending_of(admin, "orn.mine") == 0
        assert verify(admin) == []


def maintain(c):
    """graph.run_scheduled_maintenance() that fails rather than waits for a lock more than 2 s."""
    c.execute("SET lock_timeout = '2s'")
    c.execute("SET statement_timeout = '60s'")
    try:
        cur = c.execute("SELECT * FROM graph.run_scheduled_maintenance()")
        return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
    finally:
        c.execute("RESET lock_timeout")
        c.execute("RESET statement_timeout")


def build_required(c):
    return c.execute("SELECT build_required FROM graph.sync_health()").fetchone()[0]


def test_an_open_drop_of_a_registered_column_holds_up_no_other_tables_replay(world, columns):
    """The same hold by a drop, not a rename: the follower unregistered the column
    (reconcile.Repairs) and set build_required on the state row, which every apply
    locks first, and the registry's statement triggers locked it too, until the
    owner's transaction ended. Now it counts the change in its table's row of
    graph._column_renames (migration 437)."""
    with owner_session(world) as o:
        try:
            o.execute("ALTER TABLE orn.mine DROP COLUMN name")
            others_write(world, 701)
            with connect(world) as admin:
                replay(admin)
                assert pending_of(admin, "public.orn_others") == 0
                assert has_node(admin, "public.orn_others", 701)
                maintain(admin)
                assert not build_required(admin)  # not committed
        finally:
            o.rollback()
    with connect(world) as admin:
        assert mine_registration(admin) == (["id"], ["name"], "boss")
        assert verify(admin) == []


@pytest.fixture
def victim(world):
    """orn_v.t, the owner's, registered with a property, a filter column and an
    edge to itself that has a weight and a label column; public.orn_refs, another
    role's table, with an edge to it; the graph built. Dropped after the test, in
    whatever schema and under whatever name the test left it, with the graph
    caught up."""
    dbname = psycopg.conninfo.conninfo_to_dict(world)["dbname"]
    with connect(world) as c:
        c.execute(psycopg.sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(OWNER)))
        for schema in ("orn_v", "orn_w"):
            c.execute(psycopg.sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(OWNER)))
        c.execute("CREATE TABLE public.orn_refs (id int PRIMARY KEY, v int)")
        c.execute("INSERT INTO public.orn_refs SELECT g, g FROM generate_series(1, 5) g")
    with as_role(world, OWNER) as o:
        o.execute("CREATE TABLE orn_v.t (id int PRIMARY KEY, name text, boss int, w float8, lab text, kind text,"
                  " note text)")
        o.execute("INSERT INTO orn_v.t SELECT g, 't' || g, NULLIF(g / 2, 0), g, 'l' || (g % 2), 'k', 'n'"
                  " FROM generate_series(1, 10) g")
    with connect(world) as c:
        c.execute("SELECT graph.add_table('orn_v.t', columns => '{name}')")
        c.execute("SELECT graph.add_filter_column('orn_v.t', 'kind')")
        c.execute("SELECT graph.add_edge('orn_v.t', 'boss', 'orn_v.t', weight_column => 'w', label_column => 'lab')")
        c.execute("SELECT graph.add_table('public.orn_refs')")
        c.execute("SELECT graph.add_edge('public.orn_refs', 'v', 'orn_v.t')")
        c.execute("SELECT graph.build()")
        apply(c)
        assert verify(c) == []
    yield world
    with connect(world) as c:
        c.execute("DROP SCHEMA IF EXISTS orn_v, orn_w, orn_x CASCADE")
        c.execute("DROP TABLE public.orn_refs")
        c.execute(psycopg.sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(
            psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(OWNER)))
        c.execute("SELECT graph.reconcile()")  # what a test that failed halfway left, too
        assert verify(c) == []


def caught_up(c, ddl):
    """verify() after the DDL was committed and maintenance ran: empty, but for what
    the owner may not do: generate again the capture of public.orn_refs (another
    role's), whose edge to a dropped key or table went ('follow_failed', for
    graph.reconcile(), which then leaves it empty)."""
    left = verify(c)
    if ddl in ("drop_key", "drop_table"):
        assert [(r[0], r[1]) for r in left] == [("follow_failed", "public.orn_refs")], left
        c.execute("SELECT graph.reconcile()")
        left = verify(c)
    assert left == []


def victim_registration(c):
    """orn_v.t's registration wherever it is now (by oid), and the edge sources naming it."""
    return c.execute(
        "SELECT (SELECT row(n.table_name, n.id_columns, n.columns, n.filter_columns)::text FROM graph._node_tables AS n"
        "        WHERE n.table_oid = o.oid),"
        "       (SELECT array_agg(row(e.from_column, e.weight_column, e.label_column)::text ORDER BY e.edge_source_id)"
        "        FROM graph._edge_sources AS e WHERE o.oid IN (e.from_table, e.to_table))"
        " FROM (SELECT c.oid FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        "       WHERE c.relname IN ('t', 't2') AND n.nspname IN ('orn_v', 'orn_w', 'orn_x')) AS o").fetchone()


# The DDL an owner runs on its own registered table that the follower writes the
# registry for, where the table is then (None: dropped), and whether the graph then
# holds what the registration no longer says (a build is due).
OPEN_DDL = {
    "drop_property": ("ALTER TABLE orn_v.t DROP COLUMN name", "orn_v.t", True),
    "drop_filter": ("ALTER TABLE orn_v.t DROP COLUMN kind", "orn_v.t", True),
    "drop_edge_column": ("ALTER TABLE orn_v.t DROP COLUMN boss", "orn_v.t", True),
    "drop_weight": ("ALTER TABLE orn_v.t DROP COLUMN w", "orn_v.t", True),
    "drop_label": ("ALTER TABLE orn_v.t DROP COLUMN lab", "orn_v.t", True),
    "drop_key": ("ALTER TABLE orn_v.t DROP COLUMN id", "orn_v.t", True),  # no other key: unregistered
    "drop_table": ("DROP TABLE orn_v.t", None, True),
    "rename_table": ("ALTER TABLE orn_v.t RENAME TO t2", "orn_v.t2", False),
    "set_schema": ("ALTER TABLE orn_v.t SET SCHEMA orn_w", "orn_w.t", False),
    "rename_schema": ("ALTER SCHEMA orn_v RENAME TO orn_x", "orn_x.t", False),
}


@pytest.mark.parametrize("end", ["rollback", "commit"])
@pytest.mark.parametrize("ddl", sorted(OPEN_DDL))
def test_an_open_schema_change_holds_up_no_other_tables_replay(victim, ddl, end):
    """Each DDL the follower writes the registry for, left open by the owner: a
    replay and a maintenance run meanwhile apply the other tables' rows and the
    owner's rows captured before it, without waiting; a rollback leaves the
    registration as it was and the graph equal to the sources at once; a commit
    changes the registration, says a build is due where the graph holds what the
    registration no longer does (and a read until then shows no node of a table
    no longer registered), and maintenance then brings the graph back."""
    statement, now, due = OPEN_DDL[ddl]
    key = 800 + 20 * sorted(OPEN_DDL).index(ddl) + (10 if end == "commit" else 0)
    with as_role(victim, OWNER) as o:  # captured before the DDL, pending
        o.execute("INSERT INTO orn_v.t VALUES (%s, 'new', 1, 2, 'l1', 'k', 'n')", (key,))
        o.execute("UPDATE orn_v.t SET boss = %s, name = 'moved' WHERE id = 3", (key,))
    with connect(victim) as admin:
        before = victim_registration(admin)
        assert pending_of(admin, "orn_v.t") == 2
    with owner_session(victim) as o:
        o.execute(statement)  # and idle in transaction
        others_write(victim, key + 1)
        with connect(victim) as admin:
            replay(admin)  # waited for the owner: LockNotAvailable
            assert pending_of(admin, "public.orn_others") == 0
            assert has_node(admin, "public.orn_others", key + 1)
            assert has_node(admin, "orn_v.t", key)
            maintain(admin)
            assert victim_registration(admin) == before and not build_required(admin)
        getattr(o, end)()
    with connect(victim) as admin:
        if end == "rollback":
            assert victim_registration(admin) == before
            assert not build_required(admin)
            assert verify(admin) == []
        else:
            assert (victim_registration(admin) != before) or now is None
            assert build_required(admin) == due
            if ddl == "drop_table":  # its nodes stay in the graph until the build: no read shows them
                reached = admin.execute("SELECT count(*) FROM graph.traverse('public.orn_refs', '1', direction"
                                        " => 'any') AS x WHERE x.node_table::oid NOT IN"
                                        " ('public.orn_refs'::regclass, 'public.orn_others'::regclass)").fetchone()
                assert reached == (0,)
    now = "orn_v.t" if end == "rollback" else now
    if now is not None:
        with as_role(victim, OWNER) as o:
            o.execute(f"UPDATE {now} SET note = 'after' WHERE note = 'n'")
    others_write(victim, key + 2)
    with connect(victim) as admin:
        replay(admin)
        assert pending_of(admin, "public.orn_others") == 0
        maintain(admin)
        assert not build_required(admin)
        caught_up(admin, ddl if end == "commit" else None)
        assert admin.execute("SELECT schema_state FROM graph.sync_health()").fetchone() == ("current",)


@pytest.mark.parametrize("ddl", ["drop_property", "drop_edge_column", "drop_key", "drop_table"])
def test_rows_pending_when_a_drop_commits_are_applied_under_the_new_registration(victim, ddl):
    """Rows captured before a drop and not applied when it commits: replay applies
    them with the registration the drop left (a batch is read with the count of
    followed changes as of its own snapshot), and maintenance's rebuild makes the
    graph equal the sources."""
    with connect(victim) as admin:
        t = admin.execute("SELECT 'orn_v.t'::regclass::oid").fetchone()[0]
    with as_role(victim, OWNER) as o:
        o.execute("INSERT INTO orn_v.t SELECT g, 'x', g - 1, 1, 'l0', 'k', 'n' FROM generate_series(1001, 1050) g")
        o.execute("UPDATE orn_v.t SET boss = 1001, name = 'y' WHERE id <= 5")
        with o.transaction():
            o.execute(OPEN_DDL[ddl][0])
    with connect(victim) as admin:
        assert build_required(admin)
        admin.execute("SET graph.sync_batch_size = 7")
        assert replay(admin)["failed"] == 0
        assert pending_of(admin, t) == 0
        maintain(admin)
        assert not build_required(admin)
        caught_up(admin, ddl)


@pytest.mark.parametrize("ddl", ["drop_property", "rename_table"])
def test_a_read_after_a_followed_change_commits_reads_the_new_registration(victim, ddl):
    """A backend that read before the owner's DDL and reads again after it committed
    reads the registration the follower left: the version reads key their caches on
    counts the followed change (graph._column_renames), where graph._graph_version
    no longer moves for it."""
    hydrated = ("SELECT x.node FROM graph.traverse('public.orn_refs', '3', direction => 'out', hydrate => true)"
                " AS x WHERE x.node_table::oid <> 'public.orn_refs'::regclass")
    with connect(victim) as reader:
        assert reader.execute(hydrated).fetchone()[0]["name"] == "t3"
        with as_role(victim, OWNER) as o, o.transaction():
            o.execute(OPEN_DDL[ddl][0])
        node = reader.execute(hydrated).fetchone()[0]
        assert ("name" not in node) if ddl == "drop_property" else node["name"] == "t3"
        table = reader.execute("SELECT x.node_table::text FROM graph.traverse('public.orn_refs', '3',"
                               " direction => 'out') AS x WHERE x.depth = 1").fetchone()[0]
        assert table == ("orn_v.t" if ddl == "drop_property" else "orn_v.t2")


def test_a_drop_that_commits_halfway_through_a_replay(victim):
    """A replay of many batches under way (one log row a batch) when the owner's
    drop of its edge column commits: the batches after the commit are read with
    the registration the drop left, and the graph equals the sources after the
    rebuild the drop made due."""
    with as_role(victim, OWNER) as o:
        o.execute("INSERT INTO orn_v.t (id, name, boss, w, lab, kind) SELECT g, 'm', g - 1, 1, 'l0', 'k'"
                  " FROM generate_series(1001, 1800) g")
    result = []

    def run():
        with connect(victim) as admin:
            admin.execute("SET graph.sync_batch_size = 1")
            try:
                result.append(replay(admin))
            except psycopg.Error as exc:
                result.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        with connect(victim) as admin, as_role(victim, OWNER) as o:
            wait_until(lambda: replaying(admin), timeout=5, interval=0.05)  # the replay has applied some batches
            with o.transaction():
                o.execute("ALTER TABLE orn_v.t DROP COLUMN boss")
            halfway = t.is_alive()
            o.execute("INSERT INTO orn_v.t (id, name, w, lab, kind) VALUES (1900, 'after', 1, 'l0', 'k')")
    finally:
        t.join()
    assert halfway  # the drop committed while the replay ran
    assert result and isinstance(result[0], dict) and result[0]["failed"] == 0, result
    with connect(victim) as admin:
        replay(admin)
        assert build_required(admin)
        maintain(admin)
        assert verify(admin) == []


@pytest.mark.parametrize("statement", [
    "ALTER TABLE orn_v.t ALTER COLUMN name TYPE varchar(40)",  # capture regenerated
    "ALTER TABLE orn_v.t ALTER COLUMN id TYPE bigint",  # and the referencing tables' (as the owner may)
    "ALTER TABLE orn_v.t DISABLE TRIGGER USER",  # capture off: drift, for reconcile
    "ALTER TABLE orn_v.t DROP CONSTRAINT t_pkey",  # key changed: drift, for reconcile
    "TRUNCATE orn_v.t",
])
def test_other_open_ddl_on_a_registered_table_holds_up_no_other_tables_replay(victim, statement):
    """The rest of what an owner may run on its own registered table and leave open:
    the follower writes no registry row for it, and nothing replay or maintenance
    takes is held meanwhile; a rollback leaves the graph equal to the sources."""
    with owner_session(victim) as o:
        o.execute(statement)
        others_write(victim, 990)
        with connect(victim) as admin:
            replay(admin)
            assert has_node(admin, "public.orn_others", 990)
            maintain(admin)
        o.rollback()
    with connect(victim) as admin:
        replay(admin)
        assert verify(admin) == []
        admin.execute("DELETE FROM public.orn_others WHERE id = 990")
        replay(admin)
