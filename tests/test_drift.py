"""Drift: every way the graph can part from its sources shows in sync_health()
and verify(), and graph.reconcile() repairs it.

graphsync's event triggers follow DDL on registered tables as it happens
(tests/test_ddl.py); the schema changes here are made with them disabled
(unfollowed), as when a superuser turned them off, so the drift stays for
health, verify and reconcile to find."""

import pytest

from conftest import ROOT, apply, connect, health, reconcile, verify

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()


def actions(rows):
    return {(r[0], r[1]) for r in rows}


def kinds(diffs):
    return {(d[0], d[1]) for d in diffs}


def unfollowed(conn, *ddl):
    """Run ``ddl`` with graphsync's event triggers disabled, then enable them again."""
    conn.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
    conn.execute("ALTER EVENT TRIGGER graphsync_follow_drop DISABLE")
    try:
        for statement in ddl:
            conn.execute(statement)
    finally:
        conn.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
        conn.execute("ALTER EVENT TRIGGER graphsync_follow_drop ENABLE ALWAYS")


def assert_current(conn):
    h = health(conn)
    assert h["schema_state"] == "current" and h["schema_drift"] is None, h
    assert h["reconcile_recommended"] is False
    assert verify(conn) == []


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 10) g")
        c.execute("INSERT INTO app.contacts SELECT g, 1, 'c' || g, 'e' || g, 1 + g % 10 FROM generate_series(1, 40) g")
        c.execute("INSERT INTO app.projects SELECT g, 1, 'p' || g FROM generate_series(1, 5) g")
        c.execute("INSERT INTO app.tasks SELECT g, 1, 't' || g, 'open', 1 + g % 5, g FROM generate_series(1, 20) g")
        c.execute("INSERT INTO app.deals SELECT g, 1, 'd' || g, g * 1.5, g FROM generate_series(1, 10) g")
        c.execute("INSERT INTO app.relations (source_id, target_id, type) "
                  "SELECT g, 1 + g % 40, 'knows' FROM generate_series(1, 40) g")
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        c.execute("ALTER DATABASE " + c.info.dbname + " SET graph.verify_interval = 'off'")
    with connect(db) as c:
        assert_current(c)
    return db


def test_a_dropped_property_column(app):
    with connect(app) as c:
        unfollowed(c, "ALTER TABLE app.contacts DROP COLUMN email")
        h = health(c)
        assert h["schema_state"] == "drifted" and "column_dropped: app.contacts.email" in h["schema_drift"]
        assert h["reconcile_recommended"] and h["next_action"].startswith("run graph.reconcile()")
        assert kinds(verify(c)) == {("column_dropped", "app.contacts")}
        # maintenance reports it and does not try a rebuild that cannot read the table
        m = c.execute("SELECT status, rebuilt, reason FROM graph.vacuum()").fetchone()
        assert m[0] == "failed" and m[1] is False
        m = c.execute("SELECT status, rebuilt, reason, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] == "partial" and "graph.reconcile()" in m[2]  # writes fail: never 'succeeded'
        assert "schema drift needs graph.reconcile(): column_dropped app.contacts.email" in m[3]
        done = reconcile(c)
        assert ("unregistered_column", "app.contacts") in actions(done)
        assert ("rebuilt", None) in actions(done)
        c.execute("INSERT INTO app.contacts VALUES (100, 1, 'after the repair', 3)")  # capture works again
        apply(c)
        assert_current(c)


def test_a_retyped_column(app):
    with connect(app) as c:
        c.execute("ALTER TABLE app.deals ALTER COLUMN amount TYPE text")
        h = health(c)
        assert "column_retyped: app.deals.amount" in h["schema_drift"]
        assert h["needs_rebuild"] and "schema drift" in h["rebuild_reasons"]
        assert {("column_retyped", "app.deals"), ("stale_property", "app.deals")} <= kinds(verify(c))
        done = reconcile(c)
        assert ("repaired_stale_property", "app.deals") in actions(done)
        assert_current(c)


def test_a_retyped_column_is_rebuilt_by_maintenance(app):
    with connect(app) as c:
        c.execute("ALTER TABLE app.deals ALTER COLUMN amount TYPE numeric USING amount::numeric")
        m = c.execute("SELECT rebuilt, reason FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] is True and "column_retyped" in m[1]
        assert_current(c)


def test_a_column_dropped_and_added_again(app):
    with connect(app) as c:
        unfollowed(c, "ALTER TABLE app.projects DROP COLUMN name",
                   "ALTER TABLE app.projects ADD COLUMN name text DEFAULT 'reset'")
        assert "column_replaced: app.projects.name" in health(c)["schema_drift"]
        assert ("stale_property", "app.projects") in kinds(verify(c))
        # the capture function of the table was compiled for the old column; reconcile re-creates it
        reconcile(c)
        c.execute("UPDATE app.projects SET name = 'renamed' WHERE id = 1")
        apply(c)
        assert_current(c)


def test_a_dropped_table(app):
    with connect(app) as c:
        unfollowed(c, "DROP TABLE app.deals")
        h = health(c)
        assert "table_dropped: app.deals" in h["schema_drift"]
        assert kinds(verify(c)) == {("table_dropped", "app.deals")}
        done = reconcile(c)
        assert {("unregistered_table", "app.deals"), ("removed_edge_source", "app.deals")} <= actions(done)
        assert c.execute("SELECT count(*) FROM graph._node_tables WHERE table_name = 'app.deals'").fetchone()[0] == 0
        assert_current(c)


def test_a_changed_key(app):
    with connect(app) as c:
        c.execute("CREATE TABLE app.codes (id int PRIMARY KEY, code text NOT NULL UNIQUE, note text)")
        c.execute("INSERT INTO app.codes SELECT g, 'k' || g, 'n' FROM generate_series(1, 5) g")
        c.execute("SELECT graph.add_table('app.codes', columns => '{note}')")
        c.execute("SELECT graph.build()")
        c.execute("ALTER TABLE app.codes DROP CONSTRAINT codes_pkey")
        h = health(c)
        assert "key_changed: app.codes.id" in h["schema_drift"] and "now code" in h["schema_drift"]
        assert ("key_changed", "app.codes") in kinds(verify(c))
        done = reconcile(c)
        assert ("rekeyed_table", "app.codes") in actions(done)
        keys = {r[0] for r in c.execute(
            "SELECT pk FROM graph._nodes WHERE alive AND table_oid = 'app.codes'::regclass")}
        assert keys == {"k1", "k2", "k3", "k4", "k5"}
        c.execute("UPDATE app.codes SET note = 'x' WHERE code = 'k2'")
        apply(c)
        assert_current(c)


def test_a_changed_key_that_edges_reference_needs_a_person(app):
    with connect(app) as c:
        c.execute("CREATE TABLE app.hubs (id int PRIMARY KEY, code text NOT NULL UNIQUE)")
        c.execute("CREATE TABLE app.spokes (id int PRIMARY KEY, hub int)")
        c.execute("INSERT INTO app.hubs VALUES (1, 'a'); INSERT INTO app.spokes VALUES (1, 1)")
        c.execute("SELECT graph.add_table('app.hubs'); SELECT graph.add_table('app.spokes')")
        c.execute("SELECT graph.add_edge('app.spokes', 'hub', 'app.hubs')")
        c.execute("SELECT graph.build()")
        c.execute("ALTER TABLE app.hubs DROP CONSTRAINT hubs_pkey")
        done = reconcile(c)
        assert ("needs_attention", "app.hubs") in actions(done)
        assert "key_changed" in health(c)["schema_drift"]
        c.execute("ALTER TABLE app.hubs ADD PRIMARY KEY (id)")  # the person's fix
        reconcile(c)
        assert_current(c)


def test_a_disabled_trigger_and_the_writes_it_missed(app):
    with connect(app) as c:
        c.execute("ALTER TABLE app.tasks DISABLE TRIGGER graphsync_capture_insert")
        h = health(c)
        assert h["disabled_trigger_count"] == 1
        assert "trigger_disabled: app.tasks (graphsync_capture_insert)" in h["schema_drift"]
        c.execute("INSERT INTO app.tasks VALUES (500, 1, 'missed', 'open', 1, 1)")
        apply(c)
        assert {("trigger_disabled", "app.tasks"), ("missing_node", "app.tasks")} <= kinds(verify(c))
        done = reconcile(c)
        assert {("enabled_trigger", "app.tasks"), ("repaired_missing_node", "app.tasks")} <= actions(done)
        assert health(c)["disabled_trigger_count"] == 0
        c.execute("INSERT INTO app.tasks VALUES (501, 1, 'captured', 'open', 1, 1)")
        apply(c)
        assert_current(c)


def test_a_missing_trigger_and_the_writes_it_missed(app):
    with connect(app) as c:
        c.execute("DROP TRIGGER graphsync_capture_update ON app.projects")
        h = health(c)
        assert h["missing_trigger_count"] == 1
        assert h["missing_triggers"] == "app.projects (graphsync_capture_update)"
        c.execute("UPDATE app.projects SET name = 'unseen' WHERE id = 2")
        apply(c)
        assert {("trigger_missing", "app.projects"), ("stale_property", "app.projects")} <= kinds(verify(c))
        done = reconcile(c)
        assert {("installed_trigger", "app.projects"), ("repaired_stale_property", "app.projects")} <= actions(done)
        assert health(c)["missing_trigger_count"] == 0
        assert_current(c)


def uncaptured(conn, triggers, *writes):
    """Run ``writes`` with capture ``triggers`` ((table, trigger) pairs) disabled, then
    enable them again (ALWAYS): writes capture never saw. (Writes made with
    session_replication_role = replica are captured: the triggers fire ALWAYS.)"""
    for table, trigger in triggers:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    for statement in writes:
        conn.execute(statement)
    for table, trigger in triggers:
        conn.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def test_writes_capture_missed_are_found_by_the_source_check(app):
    with connect(app) as c:
        uncaptured(c, [("app.workspaces", "graphsync_capture_insert"), ("app.contacts", "graphsync_capture_update")],
                   "INSERT INTO app.workspaces VALUES (90, 'unseen')",
                   "UPDATE app.contacts SET name = 'unseen' WHERE id = 5")
        apply(c)
        assert {("missing_node", "app.workspaces"), ("stale_property", "app.contacts")} <= kinds(verify(c))
        # maintenance's periodic source check finds them and rebuilds
        c.execute("SET graph.verify_interval = '0'")
        m = c.execute("SELECT rebuilt, differences, reason FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] is True and m[1] == 2 and "the sources differ" in m[2]
        h = health(c)
        assert h["last_verify_differences"] == 2 and h["last_verify_at"] is not None
        assert h["reconcile_recommended"] is False  # the run repaired what it found
        c.execute("RESET graph.verify_interval")
        assert_current(c)


def test_writes_capture_missed_are_repaired_by_reconcile(app):
    with connect(app) as c:
        uncaptured(c, [("app.relations", "graphsync_capture_delete")],
                   "DELETE FROM app.relations WHERE id IN (SELECT min(id) FROM app.relations)")
        assert ("extra_edge", "app.contacts") in kinds(verify(c))
        done = reconcile(c)
        assert ("repaired_extra_edge", "app.contacts") in actions(done)
        assert [r for r in done if r[0] == "repaired_extra_edge"][0][2] == 2  # both directions
        assert_current(c)
        assert reconcile(c) == [("nothing_to_repair", None, 0, "the graph equals the sources")]
        job = c.execute("""SELECT kind, status, differences FROM graph._maintenance_jobs
                           ORDER BY job_id DESC LIMIT 1""").fetchone()
        assert job == ("reconcile", "succeeded", 0)


def test_reconcile_and_maintenance_count_what_the_source_check_finds_by_kind_and_table(app):
    """Both read graph.verify() counted per kind and table with ten ids of each
    (ops/verify.py): reconcile names each kind and table once, with its count and
    ten of its ids; maintenance's reason counts each kind."""
    missed = [("app.companies", "graphsync_capture_insert"), ("app.companies", "graphsync_capture_delete"),
              ("app.contacts", "graphsync_capture_update")]
    with connect(app) as c:
        uncaptured(c, missed, "INSERT INTO app.companies SELECT g, 1, 'unseen' || g FROM generate_series(101, 112) g",
                   "UPDATE app.contacts SET name = 'unseen' WHERE id IN (3, 4)")
        found = {r[0]: r[1:] for r in reconcile(c) if r[0].startswith("repaired_")}
        assert set(found) == {"repaired_missing_node", "repaired_missing_edge", "repaired_stale_property"}, found
        for kind in ("repaired_missing_node", "repaired_missing_edge"):  # (edges: to their workspace)
            table, items, detail = found[kind]
            assert (table, items) == ("app.companies", 12) and detail.startswith("ids: ") and detail.endswith(", ...")
            sample = detail.removeprefix("ids: ").removesuffix(", ...").split(", ")
            assert len(sample) == 10 and set(sample) <= {str(g) for g in range(101, 113)}, detail
        table, items, detail = found["repaired_stale_property"]
        assert (table, items, sorted(detail.removeprefix("ids: ").split(", "))) == ("app.contacts", 2, ["3", "4"])
        assert c.execute("""SELECT differences FROM graph._maintenance_jobs
                            ORDER BY job_id DESC LIMIT 1""").fetchone() == (26,)
        assert_current(c)
        uncaptured(c, missed, "DELETE FROM app.companies WHERE id > 100",
                   "UPDATE app.contacts SET name = 'unseen again' WHERE id IN (3, 4, 5)")
        c.execute("SET graph.verify_interval = '0'")
        m = c.execute("SELECT differences, reason FROM graph.run_scheduled_maintenance()").fetchone()
        c.execute("RESET graph.verify_interval")
        assert m[0] == 27 and "source check: 12 extra_edge, 12 extra_node, 3 stale_property;" in m[1], m
        assert_current(c)
