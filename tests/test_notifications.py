"""Change notifications: one NOTIFY graphsync per committing apply, maintenance run
or rebuild, heard by a second real connection that LISTENs; graph.changed_nodes()
for a client that missed some: order, bounds, privileges, pruning.

Real roles log in: a reader that may SELECT people only, a stranger that may
SELECT nothing, an owner of a table with row-level security."""

import json
import threading

import psycopg
import pytest

from conftest import apply, as_role, connect, wait_until

READER, STRANGER = "gs_notify_reader", "gs_notify_stranger"

SCHEMA = """
DROP TABLE IF EXISTS people, secrets, knows CASCADE;
CREATE TABLE people (id int PRIMARY KEY, name text);
CREATE TABLE secrets (id int PRIMARY KEY, name text);
CREATE TABLE knows (a int REFERENCES people, b int REFERENCES people, PRIMARY KEY (a, b));
SELECT graph.add_table('people', columns => '{name}');
SELECT graph.add_table('secrets', columns => '{name}');
SELECT graph.add_edge('people', 'a', 'people', to_column => 'b', via_table => 'knows', label => 'knows');
"""


def heard(listener, timeout=1.0):
    """The payloads of the NOTIFY graphsync the listener got (waits ``timeout`` s
    for the first, then takes what else arrived)."""
    out = []
    for n in listener.notifies(timeout=timeout):
        assert n.channel == "graphsync"
        out.append(json.loads(n.payload))
        timeout = 0.2
    return out


def changed(conn, since, max_rows=10000):
    return conn.execute("SELECT sync_id, node_table::text, node_id, op FROM graph.changed_nodes(%s, %s)",
                        (since, max_rows)).fetchall()


def position(conn):
    return conn.execute("SELECT last_change_sync_id FROM graph.sync_health()").fetchone()[0]


@pytest.fixture(scope="module")
def roles(db):
    with connect(db) as c:
        for role in (READER, STRANGER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
            c.execute(f"CREATE ROLE {role} LOGIN")
    yield db
    with connect(db) as c:
        c.execute("DROP TABLE IF EXISTS people, secrets, knows CASCADE")
        for role in (READER, STRANGER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.fixture
def graph(roles):
    """Registered, built, nothing pending; the reader may SELECT people. Yields
    (admin connection, listening connection)."""
    with connect(roles) as admin, connect(roles) as listener:
        admin.execute(SCHEMA)
        admin.execute(f"GRANT SELECT ON people TO {READER}")
        admin.execute("SELECT graph.build()")
        listener.execute("LISTEN graphsync")
        yield admin, listener


def test_an_apply_sends_one_notification_with_each_tables_counts_and_its_sync_ids(graph, roles):
    admin, listener = graph
    before = position(admin)
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")
        writer.execute("INSERT INTO knows VALUES (1, 2), (2, 3)")
        writer.execute("UPDATE people SET name = 'bo' WHERE id = 2")
        writer.execute("INSERT INTO secrets VALUES (7, 'x')")
        writer.execute("DELETE FROM knows WHERE a = 2")
    assert heard(listener, 0.3) == []  # capture alone sends nothing
    apply(admin)
    (note,) = heard(listener)
    generation, version = admin.execute(
        "SELECT s.generation, v.version FROM graph._sync_state AS s, graph._graph_version AS v").fetchone()
    assert note == {
        "generation": generation, "version": version,
        "from_sync_id": before + 1, "to_sync_id": position(admin),
        "tables": {"public.knows": {"inserted": 2, "updated": 0, "deleted": 1},
                   "public.people": {"inserted": 3, "updated": 1, "deleted": 0},
                   "public.secrets": {"inserted": 1, "updated": 0, "deleted": 0}}}
    assert [(t, k, op) for _, t, k, op in changed(admin, before)] == [
        ("people", "1", "insert"), ("people", "2", "insert"), ("people", "3", "insert"),
        ("people", "2", "update"), ("secrets", "7", "insert")]
    assert all(note["from_sync_id"] <= s <= note["to_sync_id"] for s, *_ in changed(admin, before))


def test_nothing_is_sent_when_nothing_changed(graph):
    admin, listener = graph
    assert apply(admin)["inserts"] == 0
    status = admin.execute("SELECT status FROM graph.run_scheduled_maintenance()").fetchone()[0]
    assert status == "succeeded"
    admin.execute("SELECT * FROM graph.traverse('people', '1')")
    assert heard(listener, 0.5) == []


def test_one_notification_per_apply_however_many_rows_and_batches(graph, roles):
    admin, listener = graph
    with connect(roles) as writer:
        writer.execute("INSERT INTO people SELECT i, 'p' || i FROM generate_series(1, 600) AS i")
        writer.execute("INSERT INTO knows SELECT i, i + 1 FROM generate_series(1, 599) AS i")
    admin.execute("SET graph.sync_batch_size = 50")
    assert apply(admin)["batches"] > 20
    (note,) = heard(listener)
    assert note["tables"]["public.people"]["inserted"] == 600
    assert note["tables"]["public.knows"]["inserted"] == 599
    assert len(changed(admin, note["from_sync_id"] - 1)) == 600


def test_a_maintenance_run_that_applies_and_rebuilds_sends_one(graph, roles):
    admin, listener = graph
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'ann')")
    before = position(admin)
    result = admin.execute("SELECT rebuilt, rows_applied FROM graph.vacuum()").fetchone()
    assert result == (True, 1)
    (note,) = heard(listener)
    assert note["rebuilt"] is True
    assert note["tables"] == {"public.people": {"inserted": 1, "updated": 0, "deleted": 0}}
    assert note["generation"] == admin.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
    # The rebuild changed no node (the apply before it had): catch-up goes on across it.
    assert [(k, op) for _, _, k, op in changed(admin, before)] == [("1", "insert")]


def test_a_rebuild_records_the_nodes_it_changes_without_log_rows(graph, roles):
    """Rows that were there before a table was registered, a property column
    registered, a table unregistered: the log says nothing of them, the rebuild does."""
    admin, listener = graph
    admin.execute("INSERT INTO people VALUES (1, 'ann'), (2, 'bob')")
    apply(admin)
    heard(listener)
    admin.execute("DROP TABLE IF EXISTS pets; CREATE TABLE pets (id int PRIMARY KEY, kind text)")
    admin.execute("INSERT INTO pets VALUES (1, 'cat'), (2, 'dog')")
    admin.execute("SELECT graph.add_table('pets')")
    admin.execute("SELECT graph.add_filter_column('pets', 'kind')")
    admin.execute("SELECT graph.remove_table('secrets')")
    before = position(admin)
    admin.execute("SELECT graph.build()")
    (note,) = heard(listener)
    assert note["rebuilt"] is True
    assert note["tables"] == {"public.pets": {"inserted": 2, "updated": 0, "deleted": 0}}
    assert [(t, k, op) for _, t, k, op in changed(admin, before)] == [
        ("pets", "1", "insert"), ("pets", "2", "insert")]
    before = position(admin)
    admin.execute("ALTER TABLE people ADD COLUMN age int")
    admin.execute("UPDATE people SET age = 40 WHERE id = 2")
    apply(admin)  # age is no registered column: no log row
    admin.execute("SELECT graph.add_filter_column('people', 'age')")  # a property more: every node changes
    admin.execute("SELECT graph.build()")
    assert [(t, k, op) for _, t, k, op in changed(admin, before)] == [
        ("people", "1", "update"), ("people", "2", "update")]
    admin.execute("DROP TABLE pets")


def test_a_rebuild_that_changes_too_many_nodes_says_to_reload(graph, roles):
    admin, listener = graph
    admin.execute("DROP TABLE IF EXISTS many; CREATE TABLE many (id int PRIMARY KEY)")
    admin.execute("INSERT INTO many SELECT generate_series(1, 10001)")
    admin.execute("SELECT graph.add_table('many')")
    before = position(admin)
    admin.execute("SELECT graph.build()")
    (note,) = heard(listener)
    assert note["rebuilt"] is True and note["tables"] == {}
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        changed(admin, before)
    assert "Reload" in e.value.diag.message_hint
    assert changed(admin, note["to_sync_id"]) == []
    admin.execute("DROP TABLE many")


def test_a_read_that_applies_pending_rows_sends_one_and_a_rolled_back_apply_none(graph, roles):
    admin, listener = graph
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'ann')")
    with as_role(roles, READER) as reader:
        assert reader.execute("SELECT count(*) FROM graph.traverse('people', '1')").fetchone()[0] == 1
    (note,) = heard(listener)
    assert note["tables"] == {"public.people": {"inserted": 1, "updated": 0, "deleted": 0}}
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (2, 'bob')")
    with admin.transaction(force_rollback=True):
        assert apply(admin)["inserts"] == 1
    assert heard(listener, 0.5) == []


def test_a_transaction_that_commits_late_is_numbered_when_it_is_applied(graph, roles):
    """A log id is not a safe position: the late row has the lower log id."""
    admin, listener = graph
    with connect(roles) as early, connect(roles) as late:
        late.execute("BEGIN")
        late.execute("INSERT INTO people VALUES (1, 'late')")
        early.execute("INSERT INTO people VALUES (2, 'early')")
        apply(admin)
        (first,) = heard(listener)
        late.execute("COMMIT")
    apply(admin)
    (second,) = heard(listener)
    assert second["from_sync_id"] == first["to_sync_id"] + 1
    assert [(k, op) for _, _, k, op in changed(admin, first["to_sync_id"])] == [("1", "insert")]


def test_an_apply_that_waited_for_another_counts_only_its_own_rows(graph, roles):
    """The second apply starts while the first holds the replay lock in an open
    transaction, and numbers its rows after the first's: each notification counts
    its own call's rows, and the sync ids follow on."""
    admin, listener = graph
    with connect(roles) as first, connect(roles) as second, connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'a'), (2, 'b')")
        first.execute("BEGIN")
        assert apply(first)["inserts"] == 2
        writer.execute("INSERT INTO people VALUES (3, 'c')")
        done = []
        waiting = threading.Thread(target=lambda: done.append(apply(second)))
        waiting.start()
        assert wait_until(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                                " AND query LIKE '%%apply_sync%%'").fetchone()[0],
                          timeout=10, interval=0.05), "the second apply never waited"
        first.execute("COMMIT")
        waiting.join(10)
    assert done[0]["inserts"] == 1
    one, two = heard(listener)
    assert one["tables"]["public.people"]["inserted"] == 2
    assert two["tables"]["public.people"]["inserted"] == 1
    assert two["from_sync_id"] == one["to_sync_id"] + 1


def test_a_full_queue_skips_the_notification_counts_it_and_the_apply_commits(graph, roles):
    """A listener inside a transaction reads no notification, so the queue keeps
    what was sent since: a page of it is queue usage above 0, and the limit is set
    below that (the default, half of the queue, is gigabytes away)."""
    admin, listener = graph
    skipped = admin.execute("SELECT notifications_skipped FROM graph.sync_health()").fetchone()[0]
    with connect(roles) as holder, connect(roles) as writer:
        holder.execute("LISTEN graphsync_filler")
        holder.execute("BEGIN")
        holder.execute("SELECT 1")
        for _ in range(3):
            writer.execute("SELECT pg_notify('graphsync_filler', repeat('x', 7000))")
        assert writer.execute("SELECT pg_notification_queue_usage()").fetchone()[0] > 0
        writer.execute("INSERT INTO people VALUES (1, 'ann')")
        admin.execute("SET graph.notify_queue_limit = '0.0000001'")
        warnings = []
        admin.add_notice_handler(lambda d: warnings.append(d.message_primary))
        assert apply(admin)["inserts"] == 1
        holder.execute("COMMIT")
    assert heard(listener, 0.5) == []
    assert any("NOTIFY graphsync skipped" in w for w in warnings)
    assert admin.execute("SELECT notifications_skipped FROM graph.sync_health()").fetchone()[0] == skipped + 1
    assert [k for _, _, k, _ in changed(admin, position(admin) - 1)] == ["1"]  # applied, and catch-up has it
    admin.execute("RESET graph.notify_queue_limit")
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (2, 'bob')")
    apply(admin)
    assert len(heard(listener)) == 1


def test_a_plain_role_cannot_set_the_queue_limit_for_everyone(graph, roles):
    admin, listener = graph
    with as_role(roles, READER) as reader, connect(roles) as writer:
        reader.execute("SET graph.notify_queue_limit = '0.0000001'")
        writer.execute("INSERT INTO people VALUES (1, 'ann')")
        reader.execute("SELECT * FROM graph.traverse('people', '1')")  # applies, as an admin would
    assert len(heard(listener)) == 1


def test_changed_nodes_in_order_bounded_and_continued(graph, roles):
    admin, _ = graph
    before = position(admin)
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'a'), (2, 'b')")
        writer.execute("UPDATE people SET id = 3 WHERE id = 1")
        writer.execute("DELETE FROM people WHERE id = 2")
        writer.execute("TRUNCATE knows")
        writer.execute("TRUNCATE secrets")
    apply(admin)
    rows = changed(admin, before)
    assert [(t, k, op) for _, t, k, op in rows] == [
        ("people", "1", "insert"), ("people", "2", "insert"), ("people", "1", "delete"),
        ("people", "3", "insert"), ("people", "2", "delete"), ("secrets", None, "truncate")]
    ids = [s for s, *_ in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert changed(admin, before, 2) == rows[:2]
    assert changed(admin, rows[1][0], 3) == rows[2:5]
    assert changed(admin, before, 0) == []
    assert changed(admin, position(admin)) == []


def test_a_soft_delete_row_filter_makes_deletes_and_inserts(graph, roles):
    admin, listener = graph
    admin.execute("DROP TABLE IF EXISTS docs; CREATE TABLE docs (id int PRIMARY KEY, deleted_at timestamptz)")
    admin.execute("SELECT graph.add_table('docs', row_filter => 'deleted_at IS NULL')")
    admin.execute("SELECT graph.build()")
    heard(listener)
    before = position(admin)
    with connect(roles) as writer:
        writer.execute("INSERT INTO docs VALUES (1, NULL), (2, now())")  # 2 is no node
        writer.execute("UPDATE docs SET deleted_at = now() WHERE id = 1")  # soft-deleted: the node goes
        writer.execute("UPDATE docs SET deleted_at = NULL WHERE id = 2")  # restored: the node comes
    apply(admin)
    assert [(k, op) for _, t, k, op in changed(admin, before)] == [("1", "insert"), ("1", "delete"), ("2", "insert")]
    (note,) = heard(listener)
    # The node changes, and the insert of row 2, which is no node, by its log operation.
    assert note["tables"] == {"public.docs": {"inserted": 3, "updated": 0, "deleted": 1}}
    admin.execute("DROP TABLE docs")


def test_changed_nodes_shows_each_role_the_tables_it_may_read(graph, roles):
    admin, _ = graph
    before = position(admin)
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'a')")
        writer.execute("INSERT INTO secrets VALUES (1, 's')")
    apply(admin)
    with as_role(roles, READER) as reader, as_role(roles, STRANGER) as stranger:
        assert [t for _, t, _, _ in changed(reader, before)] == ["people"]
        assert changed(stranger, before) == []
        # The record itself is behind row-level security too.
        assert stranger.execute("SELECT count(*) FROM graph._change_log").fetchone()[0] == 0
        assert {t for (t,) in reader.execute("SELECT table_oid::regclass::text FROM graph._change_log")} == {
            "people"}
        admin.execute(f"GRANT SELECT ON secrets TO {STRANGER}")
        assert [t for _, t, _, _ in changed(stranger, before)] == ["secrets"]
        # Row-level security on the source table: the record cannot tell which rows
        # a policy would show, so none of its changes.
        admin.execute("ALTER TABLE secrets ENABLE ROW LEVEL SECURITY")
        admin.execute(f"CREATE POLICY everything ON secrets TO {STRANGER} USING (true)")
        assert changed(stranger, before) == []
        assert stranger.execute("SELECT count(*) FROM graph._change_log").fetchone()[0] == 0
    assert [t for _, t, _, _ in changed(admin, before)] == ["people", "secrets"]
    admin.execute("DROP POLICY everything ON secrets")
    admin.execute("ALTER TABLE secrets DISABLE ROW LEVEL SECURITY")


def test_changed_nodes_refuses_bad_arguments(graph):
    admin, _ = graph
    for args, error in [((None, 10), psycopg.errors.NullValueNotAllowed),
                        ((0, None), psycopg.errors.NullValueNotAllowed),
                        ((0, -1), psycopg.errors.InvalidParameterValue),
                        ((-1, 10), psycopg.errors.InvalidParameterValue),
                        ((position(admin) + 1, 10), psycopg.errors.InvalidParameterValue)]:
        with pytest.raises(error):
            changed(admin, *args)


def test_changed_nodes_after_the_log_was_pruned_past_the_position(graph, roles):
    admin, _ = graph
    before = position(admin)
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (1, 'a')")
    apply(admin)
    admin.execute("SELECT graph.prune_sync_log(retention => '1 hour')")  # keeps what is recent
    assert [k for _, _, k, _ in changed(admin, before)] == ["1"]
    admin.execute("SELECT graph.prune_sync_log(retention => '0')")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        changed(admin, before)
    assert "pruned" in e.value.diag.message_detail
    assert str(position(admin)) in e.value.diag.message_hint
    assert admin.execute("SELECT count(*) FROM graph._change_log").fetchone()[0] == 0
    assert admin.execute("SELECT change_horizon FROM graph._sync_state").fetchone()[0] == position(admin)
    assert changed(admin, position(admin)) == []
    with connect(roles) as writer:
        writer.execute("INSERT INTO people VALUES (2, 'b')")
    apply(admin)
    assert [k for _, _, k, _ in changed(admin, position(admin) - 1)] == ["2"]
