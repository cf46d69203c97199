"""Capture triggers are what they claim to be: the statement triggers enabled
ALWAYS, so writes made with session_replication_role = replica are captured, and
the row triggers for logical replication's apply worker enabled REPLICA (they
log nothing outside an apply worker, so no write is captured twice);
recognised by their function, not their name, so a same-named impostor, a
trigger enabled for origin sessions only, or graphsync's trigger under another
name shows in health, keeps maintenance from reporting 'succeeded', and is
replaced by reconcile() and by graph._install_capture."""

import pytest

import install
from conftest import apply, connect, health, verify


def states(conn, table):
    return dict(conn.execute("SELECT trigger_name, state FROM graph._trigger_states()"
                             " WHERE member_oid = %s::regclass", (table,)).fetchall())


def log_count(conn):
    return conn.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0]


@pytest.fixture(scope="module")
def tables(db):
    with connect(db) as c:
        c.execute("""
            CREATE TABLE people (id int PRIMARY KEY, name text, boss int);
            INSERT INTO people SELECT g, 'p' || g, NULLIF(g - 1, 0) FROM generate_series(1, 10) g;
            CREATE FUNCTION public.not_graphsync() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RETURN NULL; END $$;
        """)
        c.execute("SELECT graph.add_table('people', columns => '{name}')")
        c.execute("SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to')")
        c.execute("SELECT graph.build()")
        # Replica capture (the row triggers) is on where a subscription applies to a
        # table, or everywhere once asked for: this database subscribes to nothing.
        assert c.execute("SELECT graph.enable_replica_capture()").fetchone() == (1,)
        c.execute(f"ALTER DATABASE {c.info.dbname} SET graph.verify_interval = 'off'")
    return db


def assert_healthy(c):
    h = health(c)
    assert h["disabled_trigger_count"] == 0 and h["missing_trigger_count"] == 0, h
    assert h["schema_state"] == "current", h
    assert set(states(c, "people").values()) == {"ok"}
    assert verify(c) == []


def test_triggers_are_enabled_always_and_capture_replica_writes(tables):
    with connect(tables) as c:
        # tgtype bit 1: row-level
        assert c.execute("SELECT tgname, tgtype & 1, tgenabled FROM pg_trigger WHERE tgrelid = 'people'::regclass"
                         " AND tgname LIKE 'graphsync%' ORDER BY 1").fetchall() == [
            ("graphsync_capture_delete", 0, "A"), ("graphsync_capture_insert", 0, "A"),
            ("graphsync_capture_truncate", 0, "A"), ("graphsync_capture_update", 0, "A"),
            ("graphsync_replica_capture_delete", 1, "R"), ("graphsync_replica_capture_insert", 1, "R"),
            ("graphsync_replica_capture_update", 1, "R")]
        before = log_count(c)
        c.execute("SET session_replication_role = replica")  # both kinds fire: each row is logged once
        c.execute("INSERT INTO people VALUES (50, 'replicated', 1), (51, 'replicated too', 50)")
        c.execute("UPDATE people SET name = 'changed on a subscriber' WHERE id = 2")
        c.execute("DELETE FROM people WHERE id = 10")
        c.execute("RESET session_replication_role")
        assert c.execute("SELECT op, pk FROM graph._sync_log WHERE id > (SELECT max(id) - 4 FROM graph._sync_log)"
                         " ORDER BY id").fetchall() == [("I", "50"), ("I", "51"), ("U", "2"), ("D", "10")]
        assert log_count(c) == before + 4
        apply(c)
        assert_healthy(c)


def test_a_trigger_enabled_for_origin_sessions_only_is_not_healthy(tables):
    with connect(tables) as c:
        c.execute("ALTER TABLE people ENABLE TRIGGER graphsync_capture_update")  # fires in origin sessions only
        h = health(c)
        assert h["disabled_trigger_count"] == 1 and "trigger_disabled: public.people (graphsync_capture_update)" in \
            h["schema_drift"], h
        assert c.execute("SELECT status FROM graph.run_scheduled_maintenance()").fetchone()[0] != "succeeded"
        done = c.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("enabled_trigger", "public.people") in done
        assert_healthy(c)


def test_a_same_named_impostor_is_reported_and_replaced_by_reconcile(tables):
    with connect(tables) as c:
        c.execute("DROP TRIGGER graphsync_capture_insert ON people")
        c.execute("CREATE TRIGGER graphsync_capture_insert AFTER INSERT ON people"
                  " FOR EACH STATEMENT EXECUTE FUNCTION public.not_graphsync()")
        assert states(c, "people")["graphsync_capture_insert"] == "impostor"
        h = health(c)
        assert h["missing_trigger_count"] == 1 and h["reconcile_recommended"], h
        assert "trigger_impostor: public.people (graphsync_capture_insert)" in h["schema_drift"]
        assert "held by another function" in h["missing_triggers"]
        # graphsync's trigger was dropped: capture_off, a rebuild reason (its writes since)
        assert "capture_off: public.people" in h["schema_drift"] and h["needs_rebuild"], h
        before = log_count(c)
        c.execute("INSERT INTO people VALUES (60, 'unseen', 1)")  # the impostor captures nothing
        assert log_count(c) == before
        m = c.execute("SELECT status, error, rebuilt FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] != "succeeded" and "trigger_impostor" in m[1] and m[2]  # rebuilt: the unseen row is in
        done = c.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("replaced_trigger", "public.people") in done
        assert c.execute("SELECT tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'people'::regclass"
                         " AND tgname = 'graphsync_capture_insert'").fetchone()[0] == \
            c.execute("SELECT 'graph._capture_' || 'people'::regclass::oid").fetchone()[0]
        c.execute("INSERT INTO people VALUES (61, 'seen', 1)")
        assert log_count(c) == before + 1
        apply(c)
        assert_healthy(c)


def test_graphsyncs_trigger_under_another_name_never_captures_twice(tables):
    with connect(tables) as c:
        c.execute("ALTER TRIGGER graphsync_capture_insert ON people RENAME TO audit_insert")
        assert states(c, "people") == {"graphsync_capture_insert": "missing", "graphsync_capture_update": "ok",
                                       "graphsync_capture_delete": "ok", "graphsync_capture_truncate": "ok",
                                       "graphsync_replica_capture_insert": "ok",
                                       "graphsync_replica_capture_update": "ok",
                                       "graphsync_replica_capture_delete": "ok", "audit_insert": "extra"}
        assert "trigger_extra: public.people (audit_insert)" in health(c)["schema_drift"]
        done = c.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("dropped_trigger", "public.people") in done and ("installed_trigger", "public.people") in done
        before = log_count(c)
        c.execute("INSERT INTO people VALUES (70, 'once', 1)")
        assert log_count(c) == before + 1
        apply(c)
        assert_healthy(c)


def test_install_replaces_an_impostor_with_a_warning(tables):
    with connect(tables) as c:
        c.execute("DROP TRIGGER graphsync_capture_delete ON people")
        c.execute("CREATE TRIGGER graphsync_capture_delete AFTER DELETE ON people"
                  " FOR EACH ROW EXECUTE FUNCTION public.not_graphsync()")
        seen = []
        c.add_notice_handler(lambda d: seen.append(d.message_primary))
        c.execute("SELECT graph._install_capture('people'::regclass)")
        assert any("replacing trigger graphsync_capture_delete on public.people: it calls public.not_graphsync()" in m
                   for m in seen), seen
        c.execute("DELETE FROM people WHERE id = 70")
        apply(c)
        # graphsync's trigger was dropped meanwhile: capture_off, until a build
        assert "capture_off: public.people" in health(c)["schema_drift"]
        c.execute("SELECT graph.build()")
        assert_healthy(c)


def test_a_replica_trigger_enabled_otherwise_or_renamed_is_reported_and_repaired(tables):
    """The row triggers for logical replication's apply worker are checked as the
    statement triggers are: enabled REPLICA (ALWAYS would call them on every write
    of the primary; origin-only never in an apply worker), by function."""
    with connect(tables) as c:
        c.execute("ALTER TABLE people ENABLE TRIGGER graphsync_replica_capture_update")  # origin sessions only
        c.execute("ALTER TRIGGER graphsync_replica_capture_delete ON people RENAME TO audit_delete")
        assert {k: v for k, v in states(c, "people").items() if v != "ok"} == {
            "graphsync_replica_capture_update": "disabled", "graphsync_replica_capture_delete": "missing",
            "audit_delete": "extra"}
        h = health(c)
        assert "trigger_disabled: public.people (graphsync_replica_capture_update)" in h["schema_drift"], h
        done = c.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("enabled_trigger", "public.people") in done and ("dropped_trigger", "public.people") in done
        assert c.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'people'::regclass"
                         " AND tgname = 'graphsync_replica_capture_update'").fetchone() == ("R",)
        assert_healthy(c)


def test_replica_capture_turned_off_leaves_the_statement_triggers_alone(tables):
    """graph.enable_replica_capture(enabled => false) takes replica capture back to the
    subscribed tables (none here): the row triggers and function go, health stays
    clean, capture goes on; turned on again, they are back."""
    with connect(tables) as c:
        assert c.execute("SELECT graph.enable_replica_capture(enabled => false)").fetchone() == (0,)
        assert set(states(c, "people")) == {f"graphsync_capture_{e}" for e in ("insert", "update", "delete",
                                                                              "truncate")}
        assert c.execute("SELECT count(*) FROM pg_proc WHERE proname ~ '^_capture_row_'").fetchone() == (0,)
        before = log_count(c)
        c.execute("INSERT INTO people VALUES (80, 'still captured', 1)")
        assert log_count(c) == before + 1
        apply(c)
        assert_healthy(c)
        assert c.execute("SELECT graph.enable_replica_capture()").fetchone() == (1,)
        assert states(c, "people")["graphsync_replica_capture_insert"] == "ok"
        assert_healthy(c)


def test_the_ddl_follower_regenerates_the_row_level_capture_with_the_one_generator(tables):
    """A renamed registered column reaches the row-level capture function too: the
    schema change follower calls graph._write_capture(tbl, true), the one capture
    generator (migration 291 dropped its other name, graph._write_replica_capture)."""
    with connect(tables) as c:
        assert c.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = 'graph'::regnamespace"
                         " AND proname = '_write_replica_capture'").fetchone() == (0,)
        row_fn = c.execute("SELECT format('graph.%I()', '_capture_row_' || 'people'::regclass::oid)").fetchone()[0]

        def row_capture():
            return c.execute("SELECT pg_get_functiondef(%s::regprocedure)", (row_fn,)).fetchone()[0]

        assert "full_name" not in row_capture()
        c.execute("ALTER TABLE people RENAME COLUMN name TO full_name")
        try:
            assert "full_name" in row_capture()
            assert set(states(c, "people").values()) == {"ok"}
        finally:
            c.execute("ALTER TABLE people RENAME COLUMN full_name TO name")
        assert "full_name" not in row_capture()
        # the property renamed there and back is renamed in the nodes at the next rebuild
        c.execute("SELECT * FROM graph.reconcile()")
        assert_healthy(c)


def test_trigger_states_of_some_members_are_the_whole_trees_rows_of_those(fresh_db):
    """graph._trigger_states(tbls, only_members), which the DDL follower asks of the
    members an ALTER TABLE names, gives exactly the rows the whole tree's states give
    for those members: their missing, disabled and impostor triggers, a trigger calling
    the capture function under another name on one, and one on a detached former
    member; nothing for a relation outside the tree or for a member not given."""
    with connect(fresh_db) as c:
        install.install(c)
        c.execute("""
            CREATE TABLE public.v (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day);
            CREATE TABLE public.v_0 PARTITION OF public.v FOR VALUES IN (0);
            CREATE TABLE public.v_1 PARTITION OF public.v FOR VALUES IN (1, 2) PARTITION BY LIST (day);
            CREATE TABLE public.v_1a PARTITION OF public.v_1 FOR VALUES IN (1);
            CREATE TABLE public.v_1b PARTITION OF public.v_1 FOR VALUES IN (2);
            CREATE TABLE public.v_3 PARTITION OF public.v FOR VALUES IN (3);
            CREATE TABLE public.other (id int PRIMARY KEY);
        """)
        c.execute("SELECT graph.add_table('public.v')")
        oid = c.execute("SELECT 'public.v'::regclass::oid").fetchone()[0]
        c.execute(f"""
            ALTER TABLE public.v DETACH PARTITION public.v_3;
            CREATE TRIGGER stray AFTER INSERT ON public.v_3 FOR EACH STATEMENT EXECUTE FUNCTION graph._capture_{oid}();
            ALTER TABLE public.v_0 DISABLE TRIGGER graphsync_capture_insert_{oid};
            DROP TRIGGER graphsync_capture_delete_{oid} ON public.v_1a;
            ALTER TRIGGER graphsync_capture_update_{oid} ON public.v_1b RENAME TO renamed;
        """)
        everything = c.execute("SELECT * FROM graph._trigger_states(ARRAY[%s::oid], NULL)", (oid,)).fetchall()
        assert {s for *_, s in everything} == {"ok", "disabled", "missing", "extra"}, everything
        names = ("public.v", "public.v_0", "public.v_1", "public.v_1a", "public.v_1b", "public.v_3", "public.other")
        rel = dict(c.execute("SELECT r, r::regclass::oid FROM unnest(%s::text[]) AS r", (list(names),)).fetchall())
        for given in (["public.v_0"], ["public.v_1a", "public.v_1b"], ["public.v"], ["public.v_3"],
                      ["public.other"], ["public.v_1", "public.other", "public.v_0"], list(names)):
            oids = [rel[g] for g in given]
            some = c.execute("SELECT * FROM graph._trigger_states(ARRAY[%s::oid], %s::oid[])", (oid, oids)).fetchall()
            assert sorted(some) == sorted(r for r in everything if r[2] in oids), given
