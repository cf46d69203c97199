"""Read replicas: every read on a hot standby (a streaming replica made with
pg_basebackup -R, on this machine) returns what the same read returns on the
primary once the standby has replayed, with log rows applied and with rows
still pending (which the standby folds in memory: it cannot write); admin
functions there fail with 25006 and a hint, not a traceback.

The test starts its own primary (tools/pgcluster.py) and its standby, and stops
both at the end. In a second database of the primary's cluster, a "graph
replica" subscribes to the source tables by logical replication and keeps its
own log and graph (the capture triggers fire for replicated rows: they are
enabled ALWAYS)."""

import os
import shutil
import tempfile
import threading

import psycopg
import pytest

import install
import pgcluster
from conftest import ROOT, connect, skip_without_server_binaries, wait_until

pytestmark = pytest.mark.local_only(reason="starts a primary and its hot standby on this machine with"
                                           " tools/pgcluster.py")

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()

COMPONENT_OF_600 = "SELECT * FROM graph.component_of('app.contacts', '600', tenant => '1')"
# Every read function, deterministic where the function is (visit order, node id
# order), ordered where it is a set.
READS = [
    "SELECT * FROM graph.traverse('app.companies', '5', max_depth => 3, direction => 'any')",
    "SELECT * FROM graph.traverse('app.contacts', '3', direction => 'any', strategy => 'dfs', max_nodes => 40)",
    "SELECT * FROM graph.traverse(seed_tables => '{app.tasks,app.deals}', seed_ids => '{1,2}', direction => 'any',"
    " edge_types => '{assigned_to,deal_with,works_at,knows}', hydrate => true)",
    "SELECT * FROM graph.traverse('app.projects', '2', direction => 'in', filter => '{\"status\": \"open\"}')",
    "SELECT * FROM graph.traverse('app.companies', '2', direction => 'any', tenant => '1')",
    "SELECT * FROM graph.traverse_search('name', 'co1', mode => 'prefix', direction => 'any', max_depth => 2)",
    "SELECT * FROM graph.shortest_path('app.contacts', '1', 'app.contacts', '42', direction => 'any')",
    "SELECT * FROM graph.shortest_path('app.tasks', '7', 'app.companies', '3', direction => 'any')",
    "SELECT * FROM graph.weighted_shortest_path('app.contacts', '1', 'app.contacts', '42', direction => 'any')",
    "SELECT * FROM graph.weighted_shortest_path('app.contacts', '8', 'app.contacts', '600', direction => 'any')",
    "SELECT * FROM graph.connected_components()",
    "SELECT * FROM graph.component_stats()",
    "SELECT * FROM graph.component_of('app.contacts', '1')",
    COMPONENT_OF_600,
    "SELECT * FROM graph.search('name', 'c1', mode => 'prefix', max_rows => 1000) ORDER BY 1, 2",
    "SELECT * FROM graph.search('title', 'T', mode => 'contains', case_sensitive => false) ORDER BY 1, 2",
    "SELECT graph.export_dot('app.companies', '5', direction => 'any', max_depth => 2, label_property => 'name')",
    "SELECT graph.export_mermaid('app.contacts', '4', direction => 'any', max_depth => 2)",
    "SELECT graph.export_graphml('app.tasks', '3', direction => 'any', max_depth => 3)",
]

# What sync_health and status say about the graph itself (not about this server's
# clock, backend caches or pg_cron), which both servers must agree on.
HEALTH = ("SELECT applied_sync_id, max_sync_log_id, pending_sync_rows, failed_sync_rows, edge_buffer_used,"
          " tombstone_count, read_only, build_required, generation, schema_state, apply_sync_recommended"
          " FROM graph.sync_health()")
STATUS = ("SELECT generation, node_count, node_ids, tombstones, base_edges, overlay_edges, labels, node_tables,"
          " edge_sources, log_rows, last_build_at, last_apply_at FROM graph.status()")


DIRECTORIES = {}  # primary, standby: the clusters' directories


@pytest.fixture(scope="module")
def servers():
    """(primary DSN, standby DSN): the demo schema on a primary, built, and its hot standby."""
    skip_without_server_binaries()
    primary = tempfile.mkdtemp(prefix="graphsync-primary-")
    standby = tempfile.mkdtemp(prefix="graphsync-standby-")
    try:
        pgcluster.start(primary, {"wal_level": "logical"})  # logical: for the graph replica test
        with connect(pgcluster.dsn_for(primary)) as c:
            c.execute("CREATE DATABASE app")
            c.execute("CREATE DATABASE graph_replica")
        dsn = pgcluster.dsn_for(primary, "app")
        with connect(dsn) as c:
            install.install(c)
            c.execute(SCHEMA)
            c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
            c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 20) g")
            c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, 'c' || g || '@x.org',
                             CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 20 END FROM generate_series(1, 100) g""")
            c.execute("INSERT INTO app.projects SELECT g, 1 + g % 2, 'p' || g, CASE WHEN g % 2 = 0 THEN 'open'"
                      " ELSE 'closed' END FROM generate_series(1, 10) g")
            c.execute("INSERT INTO app.tasks SELECT g, 1 + g % 2, 'T' || g, CASE WHEN g % 3 = 0 THEN 'done'"
                      " ELSE 'open' END, 1 + g % 10, 1 + g % 100 FROM generate_series(1, 60) g")
            c.execute("INSERT INTO app.deals SELECT g, 1 + g % 2, 'd' || g, g * 10, 1 + (g * 7) % 100"
                      " FROM generate_series(1, 30) g")
            c.execute("INSERT INTO app.relations (source_id, target_id, type, weight)"
                      " SELECT 1 + g % 100, 1 + (g * 13) % 100, 'knows', 1 + g % 7 FROM generate_series(1, 150) g")
            c.execute(REGISTER)
            c.execute("SELECT graph.build()")
            c.execute("DROP ROLE IF EXISTS gs_replica_reader; CREATE ROLE gs_replica_reader")
            c.execute("GRANT USAGE ON SCHEMA app TO gs_replica_reader")
            c.execute("GRANT SELECT ON app.companies, app.contacts, app.tasks, app.relations"
                      " TO gs_replica_reader")
            # The reader sees the tasks of workspace 1 only: row-level security in reads, on both.
            c.execute("ALTER TABLE app.tasks ENABLE ROW LEVEL SECURITY")
            c.execute("CREATE POLICY workspace_1 ON app.tasks FOR SELECT TO gs_replica_reader"
                      " USING (workspace_id = 1)")
        pgcluster.start_standby(primary, standby)
        DIRECTORIES.update(primary=primary, standby=standby)
        # What pg_basebackup copied of the shared base files: gone, so the standby writes its own.
        shutil.rmtree(os.path.join(standby, "data", "graphsync"), ignore_errors=True)
        yield dsn, pgcluster.dsn_for(standby, "app"), pgcluster.dsn_for(primary, "graph_replica")
    finally:
        pgcluster.stop(standby)
        pgcluster.stop(primary)


def writer(dsn):
    """A connection whose commits are flushed before they return, so that once the
    standby has replayed up to pg_current_wal_lsn() it has every commit."""
    c = connect(dsn)
    c.execute("SET synchronous_commit = on")
    return c


def wait_for_replay(primary, standby, timeout=60):
    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    assert wait_until(lambda: standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0],
                      timeout, interval=0.05), f"the standby has not replayed up to {lsn} after {timeout} s"


def results(conn, role=None, read_only=False):
    """Every read of READS (its rows, or its error's SQLSTATE and message), and what
    health and status say about the graph, on ``conn``."""
    out = {}
    if role:
        conn.execute(f"SET ROLE {role}")
    try:
        for query in READS:
            try:
                with conn.transaction():
                    if read_only:
                        conn.execute("SET TRANSACTION READ ONLY")
                    out[query] = conn.execute(query).fetchall()
            except psycopg.Error as exc:
                out[query] = (exc.sqlstate, exc.diag.message_primary)
        out["health"] = conn.execute(HEALTH).fetchall()
        out["status"] = conn.execute(STATUS).fetchall()
    finally:
        if role:
            conn.execute("RESET ROLE")
    return out


def assert_same(primary, standby):
    for query in primary:
        assert standby[query] == primary[query], query


WRITES = [
    "INSERT INTO app.contacts VALUES (600, 1, 'c600', NULL, 3), (601, 2, 'c601', 'x@y', 4)",
    "INSERT INTO app.relations (source_id, target_id, type, weight)"
    " VALUES (600, 42, 'knows', 0.5), (8, 600, 'knows', 2)",
    "UPDATE app.contacts SET company_id = 7 WHERE id IN (1, 2, 3)",
    "UPDATE app.companies SET name = 'co1-renamed' WHERE id = 1",
    "DELETE FROM app.deals WHERE id IN (2, 3)",
    "DELETE FROM app.relations WHERE id IN (SELECT id FROM app.relations WHERE source_id = 10)",
    "UPDATE app.tasks SET assignee = 600 WHERE id = 7",
    "INSERT INTO app.tasks VALUES (500, 1, 'T500', 'open', 2, 601)",
]

MORE_WRITES = [
    "DELETE FROM app.tasks WHERE id = 500",
    "UPDATE app.relations SET weight = 9 WHERE source_id = 600",
    "INSERT INTO app.companies VALUES (30, 1, 'co30')",
    "UPDATE app.contacts SET company_id = 30 WHERE id = 42",
]


def test_reads_on_the_standby_equal_the_primarys_applied_and_pending(servers):
    primary_dsn, standby_dsn, _ = servers
    # p flushes its commits too: its read below applies the pending rows, and that apply
    # must be in the WAL that wait_for_replay waits for.
    with writer(primary_dsn) as w, writer(primary_dsn) as p, connect(standby_dsn) as s:
        assert s.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        wait_for_replay(w, s)
        for role in (None, "gs_replica_reader"):
            assert_same(results(p, role), results(s, role))
        s.execute("SET ROLE gs_replica_reader")
        tasks = s.execute("SELECT node_id::int FROM graph.connected_components()"
                          " WHERE node_table = 'app.tasks'::regclass").fetchall()
        s.execute("RESET ROLE")
        assert tasks and all(t % 2 == 0 for (t,) in tasks)  # workspace 1 + t % 2: the even ones
        # The standby's first reader wrote the shared base file into the standby's own data directory.
        database, generation = s.execute("SELECT d.oid, s.generation FROM pg_database AS d, graph._sync_state AS s"
                                         " WHERE d.datname = current_database()").fetchone()
        assert os.path.exists(os.path.join(DIRECTORIES["standby"], "data", "graphsync", str(database),
                                           f"{generation}.base"))

        # Applied on the primary: the standby reads the replicated graph.
        for statement in WRITES:
            w.execute(statement)
        w.execute("SELECT graph.apply_sync()")
        wait_for_replay(w, s)
        for role in (None, "gs_replica_reader"):
            assert_same(results(p, role), results(s, role))

        # Pending: the log rows reach the standby, which cannot apply them and folds
        # them into each read in memory, as a read-only transaction on the primary does.
        for statement in MORE_WRITES:
            w.execute(statement)
        wait_for_replay(w, s)
        assert s.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (len(MORE_WRITES),)
        folded = {}
        warned = {}
        for role in (None, "gs_replica_reader"):
            on_primary = results(p, role, read_only=True)
            seen = []

            def warning(d, seen=seen):
                if d.severity_nonlocalized == "WARNING":
                    seen.append(d.message_primary)
            s.add_notice_handler(warning)
            folded[role] = results(s, role)
            s.remove_notice_handler(warning)
            warned[role] = seen
            assert_same(on_primary, folded[role])
        # The reader's tasks are under row-level security: the standby cannot apply their
        # pending row (graph._pending_rows never folds it) and each read says so.
        assert warned[None] == [] and warned["gs_replica_reader"]
        assert all("row-level security" in m and "500" not in m for m in warned["gs_replica_reader"])
        assert ("app.companies", "30") in [r[:2] for r in folded[None][COMPONENT_OF_600]]  # component_of: folded in
        assert p.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (len(MORE_WRITES),)

        # Once the primary applies them (here: its next read does), the standby reads
        # the same graph from the tables, and it is the graph it had folded. (A read
        # applies at most once a second: the last apply is made older than that.)
        p.execute("UPDATE graph._sync_state SET last_apply_at = now() - interval '1 hour'")
        assert p.execute("SELECT count(*) FROM graph.traverse('app.companies', '30')").fetchone()[0] > 0
        assert p.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (0,)
        wait_for_replay(w, s)
        for role in (None, "gs_replica_reader"):
            applied = results(s, role)
            assert_same(results(p, role), applied)
            for query in READS:
                assert applied[query] == folded[role][query], query


COMPANIES_OF_1 = ("SELECT node_id FROM graph.traverse('app.workspaces', '1', direction => 'in', max_depth => 1)"
                  " WHERE depth = 1 ORDER BY node_id::int")


def test_a_standby_read_within_its_staleness_bound_reads_the_replicated_graph(servers):
    """graph.max_staleness on a hot standby: graph._sync_state.done_at is the primary's,
    replicated with the graph it dates, and the standby compares it with its own clock
    (replay lag only makes the graph look older). Within the bound a read takes the
    replicated applied graph and folds nothing; without it the read folds the pending row."""
    primary_dsn, standby_dsn, _ = servers
    with writer(primary_dsn) as w, connect(standby_dsn) as s:
        w.execute("SELECT graph.apply_sync()")
        applied = [r[0] for r in w.execute(COMPANIES_OF_1).fetchall()]
        w.execute("INSERT INTO app.companies VALUES (41, 1, 'co41')")
        wait_for_replay(w, s)
        s.execute("SET graph.max_staleness = '1 hour'")
        assert [r[0] for r in s.execute(COMPANIES_OF_1).fetchall()] == applied
        s.execute("RESET graph.max_staleness")
        assert [r[0] for r in s.execute(COMPANIES_OF_1).fetchall()] == applied + ["41"]
        w.execute("DELETE FROM app.companies WHERE id = 41")
        w.execute("SELECT graph.apply_sync()")


RACED = "SELECT node_table::text, node_id FROM graph.traverse('app.contacts', '43', direction => 'any', max_depth => 1)"


def test_a_standby_read_racing_the_replay_of_an_apply_sees_one_snapshot(servers):
    """Issue 11's race, made deterministic. The primary applies the pending rows and,
    before it commits, takes an ACCESS EXCLUSIVE lock on graph._sync_log, which the
    standby replays (its startup process holds the lock until the commit replays). A
    standby read then takes its START snapshot (the rows pending) and waits in its
    freshness step for the lock; the apply commits and replays; the freshness step
    counts nothing pending. Before the fix the read returned the graph from before
    the apply without the rows it applied (the contact still at its old company):
    neither the applied graph nor applied + pending. The standby's backend had kept
    a folded view for another role just before (its rows must not be taken)."""
    primary_dsn, standby_dsn, _ = servers
    with writer(primary_dsn) as w, writer(primary_dsn) as a, connect(standby_dsn) as s, \
            connect(standby_dsn) as watch:
        w.execute("SELECT graph.apply_sync()")
        before = w.execute(RACED).fetchall()
        w.execute("INSERT INTO app.companies VALUES (40, 1, 'co40')")
        w.execute("UPDATE app.contacts SET company_id = 40 WHERE id = 43")
        wait_for_replay(w, s)
        expected = s.execute(RACED).fetchall()  # folded
        assert ("app.companies", "40") in expected and expected != before
        s.execute("SET ROLE gs_replica_reader")
        assert ("app.companies", "40") in s.execute(RACED).fetchall()  # a folded view kept for that role
        s.execute("RESET ROLE")
        a.execute("BEGIN")
        a.execute("SELECT graph.apply_sync()")
        a.execute("LOCK TABLE graph._sync_log IN ACCESS EXCLUSIVE MODE")
        a.execute("SELECT pg_switch_wal()")  # the lock's WAL record reaches the standby now
        wait_for_replay(a, s)
        out = {}

        def read():
            try:
                out["rows"] = s.execute(RACED).fetchall()
            except Exception as exc:  # raised below
                out["error"] = exc

        t = threading.Thread(target=read)
        t.start()
        try:
            assert wait_until(lambda: watch.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity"
                                                    " WHERE pid = %s", (s.info.backend_pid,)).fetchone() == (True,),
                              timeout=60, interval=0.01), "the standby read never waited for graph._sync_log"
        finally:
            a.execute("COMMIT")
            t.join()
        if "error" in out:
            raise out["error"]
        assert out["rows"] == expected
        wait_for_replay(a, s)
        assert s.execute(RACED).fetchall() == expected == w.execute(RACED).fetchall()
        assert w.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone() == (0,)


def test_admin_functions_on_the_standby_fail_with_25006_and_a_hint(servers):
    _, standby_dsn, _ = servers
    calls = [
        "SELECT * FROM graph.apply_sync()",
        "SELECT * FROM graph.build()",
        "SELECT * FROM graph.run_scheduled_maintenance()",
        "SELECT * FROM graph.vacuum()",
        "SELECT * FROM graph.verify()",
        "SELECT * FROM graph.reconcile()",
        "SELECT * FROM graph.retry_failed()",
        "SELECT graph.prune_sync_log()",
        "SELECT graph.add_filter_column('app.contacts', 'email')",
        "SELECT graph.remove_edge('app.deals', 'contact_id', 'app.contacts')",
    ]
    with connect(standby_dsn) as s:
        for call in calls:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as err:
                s.execute(call)
            diag = err.value.diag
            assert diag.message_primary == "graphsync: cannot change the graph on a hot standby", call
            assert diag.message_hint.startswith("Run graphsync's admin functions"), call
        # A role outside graph_admin is told that first.
        s.execute("SET ROLE gs_replica_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            s.execute("SELECT * FROM graph.apply_sync()")
        s.execute("RESET ROLE")


def test_admin_functions_in_a_read_only_transaction_fail_with_25006_and_a_hint(servers):
    primary_dsn, _, _ = servers
    with connect(primary_dsn) as c:
        for call in ("SELECT * FROM graph.apply_sync()", "SELECT * FROM graph.build()",
                     "SELECT graph.add_filter_column('app.contacts', 'email')"):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as err, c.transaction():
                c.execute("SET TRANSACTION READ ONLY")
                c.execute(call)
            assert err.value.diag.message_primary == ("graphsync: cannot change the graph in a read-only"
                                                      " transaction"), call
            assert err.value.diag.message_hint == "Run it in a read-write transaction.", call


TABLES = ("app.workspaces", "app.companies", "app.contacts", "app.projects", "app.tasks", "app.deals",
          "app.relations")


def table_rows(conn):
    return {t: conn.execute(f"SELECT coalesce(array_agg(t ORDER BY t), '{{}}')::text FROM {t} AS t").fetchone()[0]
            for t in TABLES}


def graph_answers(conn):
    """What the reads say, independent of node numbering (which differs between two
    databases' builds): sets of reached nodes, path lengths and costs, the
    components as a partition."""
    out = {}
    for seed_table, seed in (("app.companies", "5"), ("app.contacts", "600"), ("app.tasks", "7")):
        out["traverse", seed_table, seed] = sorted(conn.execute(
            "SELECT node_table::text, node_id, depth FROM graph.traverse(%s, %s, direction => 'any', max_depth => 4)",
            (seed_table, seed)).fetchall())
    out["path"] = conn.execute("SELECT count(*) FROM graph.shortest_path('app.contacts', '1', 'app.contacts', '42',"
                               " direction => 'any')").fetchone()
    out["cost"] = conn.execute("SELECT max(total_cost) FROM graph.weighted_shortest_path('app.contacts', '8',"
                               " 'app.contacts', '600', direction => 'any')").fetchone()
    groups = {}
    for table, key, component in conn.execute("SELECT node_table::text, node_id, component"
                                              " FROM graph.connected_components()"):
        groups.setdefault(component, set()).add((table, key))
    out["components"] = sorted(sorted(g) for g in groups.values())
    out["stats"] = [r[0] for r in conn.execute("SELECT size FROM graph.component_stats()")]
    out["search"] = sorted(conn.execute("SELECT node_table::text, node_id, matched FROM graph.search('name', 'c',"
                                        " mode => 'prefix', max_rows => 1000)").fetchall())
    return out


def wait_for_subscriber(primary, subscriber, timeout=120):
    expected = table_rows(primary)
    assert wait_until(lambda: table_rows(subscriber) == expected, timeout, interval=0.2), \
        f"the subscriber has not caught up after {timeout} s"


@pytest.fixture(scope="module")
def graph_replica(servers):
    """(primary DSN, replica DSN): graph_replica subscribes to the source tables of
    app; its tables are registered and built (empty) before the subscription copies
    the rows."""
    primary_dsn, _, replica_dsn = servers
    with writer(primary_dsn) as w, connect(replica_dsn) as r:
        install.install(r)
        r.execute(SCHEMA)
        r.execute(REGISTER)
        r.execute("SELECT graph.build()")
        w.execute("CREATE PUBLICATION graph_sources FOR TABLE " + ", ".join(TABLES))
        # In the same cluster, the slot is made apart (CREATE SUBSCRIPTION would wait on itself).
        w.execute("SELECT pg_create_logical_replication_slot('graph_replica', 'pgoutput')")
        r.execute(f"CREATE SUBSCRIPTION graph_replica CONNECTION '{primary_dsn}' PUBLICATION graph_sources"
                  " WITH (create_slot = false, slot_name = 'graph_replica')")
        try:
            yield primary_dsn, replica_dsn
        finally:
            r.execute("ALTER SUBSCRIPTION graph_replica DISABLE")
            r.execute("ALTER SUBSCRIPTION graph_replica SET (slot_name = NONE)")
            r.execute("DROP SUBSCRIPTION graph_replica")
            # The walsender of the disabled subscription may still hold the slot for a moment
            # (pg_drop_replication_slot would fail with 55006, as it did once in a full run).
            assert wait_until(lambda: not w.execute("SELECT active FROM pg_replication_slots"
                                                    " WHERE slot_name = 'graph_replica'").fetchone()[0],
                              timeout=60, interval=0.05), "the slot graph_replica is still active after 60 s"
            w.execute("SELECT pg_drop_replication_slot('graph_replica')")


def test_a_graph_replica_captures_the_subscriptions_initial_copy(graph_replica):
    """The initial copy runs like COPY, which fires statement triggers: graphsync's
    capture triggers (enabled ALWAYS) log every copied row into the replica's own
    log, once (the row-level replica triggers fire in the copy too and log
    nothing there), and its graph equals the primary's."""
    primary_dsn, replica_dsn = graph_replica
    with writer(primary_dsn) as w, connect(replica_dsn) as r:
        wait_for_subscriber(w, r)
        copied = sum(w.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
        logged = r.execute("SELECT count(*), count(DISTINCT (table_oid, pk)) FROM graph._sync_log").fetchone()
        assert logged == (copied, copied)  # every copied row captured, once
        r.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT * FROM graph.verify()").fetchall() == []
        w.execute("SELECT graph.apply_sync()")
        assert graph_answers(r) == graph_answers(w)


def test_changes_replicated_later_reach_the_graph_replica(graph_replica):
    """The apply worker fires row triggers only: graphsync's row-level capture
    triggers (enabled REPLICA) log what it applies, each row once, in the format
    the statement triggers log; a replicated TRUNCATE fires the statement trigger."""
    primary_dsn, replica_dsn = graph_replica
    with writer(primary_dsn) as w, connect(replica_dsn) as r:
        wait_for_subscriber(w, r)
        marks = [c.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0] for c in (w, r)]
        for statement in ["INSERT INTO app.contacts VALUES (700, 2, 'c700', NULL, 5)",
                          "INSERT INTO app.relations (source_id, target_id, type, weight) VALUES (700, 1, 'knows', 3)",
                          "UPDATE app.contacts SET company_id = 9 WHERE id IN (4, 5)",
                          "UPDATE app.contacts SET email = email WHERE id = 6",  # changes nothing captured
                          "DELETE FROM app.tasks WHERE id IN (1, 2)",
                          "TRUNCATE app.deals"]:
            w.execute(statement)
        wait_for_subscriber(w, r)
        # The replica logged what the primary logged, row for row (table oids differ), each once.
        logged = [sorted(c.execute("SELECT op, table_name, pk, old_pk, new_pk, properties, old_row, new_row,"
                                   " needs_vacuum FROM graph._sync_log WHERE id > %s", (mark,)).fetchall())
                  for c, mark in zip((w, r), marks, strict=True)]
        assert len(logged[0]) == 7 and sorted(op for op, *_ in logged[0]) == list("DDIITUU")
        assert logged[1] == logged[0]
        r.execute("SELECT graph.apply_sync()")
        w.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT * FROM graph.verify()").fetchall() == []
        assert graph_answers(r) == graph_answers(w)


def replica_capture(conn):
    """The captured tables that carry replica capture (the row-level function), and
    how many replica triggers the database has."""
    tables = [r[0] for r in conn.execute(
        "SELECT t.table_name FROM graph._captured_tables() AS t"
        " WHERE to_regprocedure(format('graph.%I()', '_capture_row_' || t.table_oid)) IS NOT NULL"
        " ORDER BY 1").fetchall()]
    triggers = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'graphsync\\_replica\\_capture\\_%'"
                            ).fetchone()[0]
    return tables, triggers


def test_replica_capture_is_where_a_subscription_applies_and_nowhere_else(graph_replica):
    """Registered before CREATE SUBSCRIPTION, the replica's tables got their row-level
    capture from that command (the event trigger graphsync_follow_subscription); the
    primary, which subscribes to nothing, has none: its registration generated one
    capture function per table, not two."""
    primary_dsn, replica_dsn = graph_replica
    with writer(primary_dsn) as w, connect(replica_dsn) as r:
        subscribed = sorted(r.execute("SELECT srrelid::regclass::text FROM pg_subscription_rel").fetchall())
        tables, triggers = replica_capture(r)
        assert tables == [t for (t,) in subscribed] and len(tables) == len(TABLES)
        assert triggers == 3 * len(TABLES)
        assert r.execute("SELECT missing_trigger_count, disabled_trigger_count FROM graph.sync_health()"
                         ).fetchone() == (0, 0)
        assert replica_capture(w) == ([], 0)
        assert w.execute("SELECT missing_trigger_count FROM graph.sync_health()").fetchone() == (0,)


def test_replica_capture_missing_on_a_subscribed_table_is_reported_and_reconciled(graph_replica):
    """A subscribed table whose replica capture is gone (the event trigger was off, or
    the function was dropped) shows in health as missing triggers; reconcile()
    installs them and the changes applied later are captured again."""
    primary_dsn, replica_dsn = graph_replica
    with writer(primary_dsn) as w, connect(replica_dsn) as r:
        wait_for_subscriber(w, r)
        r.execute("DROP FUNCTION graph._capture_row_%s() CASCADE" % r.execute(
            "SELECT 'app.contacts'::regclass::oid").fetchone()[0])
        h = r.execute("SELECT missing_trigger_count, schema_drift FROM graph.sync_health()").fetchone()
        assert h[0] == 3 and "trigger_missing: app.contacts (graphsync_replica_capture_delete," \
            " graphsync_replica_capture_insert, graphsync_replica_capture_update)" in h[1], h
        done = r.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("installed_trigger", "app.contacts") in done, done
        assert r.execute("SELECT missing_trigger_count FROM graph.sync_health()").fetchone() == (0,)
        mark = r.execute("SELECT coalesce(max(id), 0) FROM graph._sync_log").fetchone()[0]
        w.execute("INSERT INTO app.contacts VALUES (701, 2, 'c701', NULL, 5)")
        wait_for_subscriber(w, r)
        assert r.execute("SELECT op, table_name, pk FROM graph._sync_log WHERE id > %s", (mark,)).fetchall() == [
            ("I", "app.contacts", "701")]
        r.execute("SELECT graph.apply_sync()")
        w.execute("SELECT graph.apply_sync()")
        assert r.execute("SELECT * FROM graph.verify()").fetchall() == []
        assert graph_answers(r) == graph_answers(w)
