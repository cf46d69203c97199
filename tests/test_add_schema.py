"""graph.add_schema(): a whole schema registered from its catalog, previewed, skipped
with reasons, idempotent, admin only; and the MusicBrainz schema (mbdata's SQL)."""

from __future__ import annotations

import time

import psycopg
import pytest

from conftest import apply, connect, verify
from musicbrainz import load_musicbrainz
from test_registration_errors import state

SHOP = """
CREATE SCHEMA shop;
CREATE TABLE shop.workspaces (id int PRIMARY KEY, name text);
CREATE TABLE shop.people (id int PRIMARY KEY, name text, manager_id int REFERENCES shop.people,
                          workspace_id int NOT NULL REFERENCES shop.workspaces);
CREATE TABLE shop.projects (workspace_id int REFERENCES shop.workspaces, id int, title text,
                            PRIMARY KEY (workspace_id, id));
CREATE TABLE shop.tasks (id int PRIMARY KEY, workspace_id int, project_id int, owner_id int REFERENCES shop.people,
                         FOREIGN KEY (workspace_id, project_id) REFERENCES shop.projects);
CREATE TABLE shop.tags (id int PRIMARY KEY, name text UNIQUE);
CREATE TABLE shop.task_tags (task_id int REFERENCES shop.tasks, tag_id int REFERENCES shop.tags,
                             PRIMARY KEY (task_id, tag_id));
CREATE TABLE shop.memberships (person_id int REFERENCES shop.people, team_id int REFERENCES shop.people,
                               role text, PRIMARY KEY (person_id, team_id));
CREATE TABLE shop.project_members (workspace_id int, project_id int, person_id int REFERENCES shop.people,
                                   PRIMARY KEY (workspace_id, project_id, person_id),
                                   FOREIGN KEY (project_id, workspace_id) REFERENCES shop.projects (id, workspace_id));
CREATE TABLE shop.audit (at timestamptz, what text, person_id int REFERENCES shop.people);
CREATE TABLE shop.notes (id int PRIMARY KEY, person_id int REFERENCES shop.people, body text,
                         tag_name text REFERENCES shop.tags (name));
CREATE TABLE shop.secret (id int PRIMARY KEY, note_id int REFERENCES shop.notes);
CREATE TABLE shop.events (id int, at date NOT NULL, person_id int REFERENCES shop.people, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO shop.workspaces VALUES (1, 'w');
INSERT INTO shop.people VALUES (1, 'ada', NULL, 1), (2, 'bob', 1, 1), (3, 'cy', NULL, 1);
INSERT INTO shop.projects VALUES (1, 10, 'p');
INSERT INTO shop.tasks VALUES (100, 1, 10, 1), (101, 1, 10, 2);
INSERT INTO shop.tags VALUES (1, 'red'), (2, 'blue');
INSERT INTO shop.task_tags VALUES (100, 1), (100, 2), (101, 1);
INSERT INTO shop.memberships VALUES (2, 1, 'member');
INSERT INTO shop.project_members VALUES (1, 10, 2);
INSERT INTO shop.events VALUES (1, '2026-05-01', 1);
"""

ROWS = ("SELECT kind, table_name::text, edge, label, action, reason"
        " FROM graph.add_schema(%s, preview => %s, exclude => %s)")


def plan(c, preview=False, exclude=()):
    return c.execute(ROWS, ("shop", preview, list(exclude))).fetchall()


@pytest.fixture
def shop(db):
    with connect(db) as c:
        c.execute(SHOP)
    yield db
    with connect(db) as c:
        for (tbl,) in c.execute("SELECT table_name FROM graph._node_tables").fetchall():
            c.execute("SELECT graph.remove_table(%s, cascade => true)", (tbl,))
        for (e,) in c.execute("SELECT edge_source_id FROM graph._edge_sources").fetchall():
            raise AssertionError(f"edge source {e} left")
        c.execute("DROP SCHEMA shop CASCADE")


def by_key(rows):
    return {(r[0], r[1], r[2]): r for r in rows}


def test_preview_is_the_plan_and_changes_nothing(shop):
    with connect(shop) as c:
        before = state(c)
        rows = by_key(plan(c, preview=True, exclude=["shop.secret"]))
        assert state(c) == before
        would = {k for k, r in rows.items() if r[4] == "would register"}
        assert would == {
            ("node_table", "shop.workspaces", None), ("node_table", "shop.people", None),
            ("node_table", "shop.projects", None), ("node_table", "shop.tasks", None),
            ("node_table", "shop.tags", None), ("node_table", "shop.notes", None),
            ("node_table", "shop.memberships", None), ("node_table", "shop.events", None),
            # self-reference
            ("fk_edge", "shop.people", "manager_id -> shop.people"),
            ("fk_edge", "shop.people", "workspace_id -> shop.workspaces"),
            ("fk_edge", "shop.projects", "workspace_id -> shop.workspaces"),
            ("fk_edge", "shop.tasks", "owner_id -> shop.people"),
            # composite, the referenced columns in another order than the key's
            ("fk_edge", "shop.tasks", "workspace_id, project_id -> shop.projects"),
            ("fk_edge", "shop.notes", "person_id -> shop.people"),
            ("fk_edge", "shop.events", "person_id -> shop.people"),
            # a pure join table: an edge only; one with a column of its own: an edge and a node
            ("join_edge", "shop.task_tags", "task_id -> shop.tasks, tag_id -> shop.tags"),
            ("join_edge", "shop.memberships", "person_id -> shop.people, team_id -> shop.people"),
            ("join_edge", "shop.project_members",
             "project_id, workspace_id -> shop.projects, person_id -> shop.people"),
        }, sorted(would)
        skipped = {k: r[5] for k, r in rows.items() if r[4] == "skipped"}
        assert skipped[("node_table", "shop.audit", None)] == "no primary key and no unique key on NOT NULL columns"
        assert skipped[("node_table", "shop.secret", None)] == "excluded"
        assert "partition" in skipped[("node_table", "shop.events_2026", None)]
        assert "not its key" in skipped[("fk_edge", "shop.notes", "tag_name -> shop.tags")]
        assert set(skipped) == {("node_table", "shop.audit", None), ("node_table", "shop.secret", None),
                                ("node_table", "shop.events_2026", None),
                                ("fk_edge", "shop.notes", "tag_name -> shop.tags")}
        assert rows[("fk_edge", "shop.people", "manager_id -> shop.people")][3] == "manager_id"
        assert rows[("join_edge", "shop.task_tags", "task_id -> shop.tasks, tag_id -> shop.tags")][3] == "task_tags"
        assert ("node_table", "shop.task_tags", None) not in rows


def test_registers_builds_and_stays_in_sync(shop):
    with connect(shop) as c:
        preview = [r for r in plan(c, preview=True) if r[4] == "would register"]
        rows = plan(c)
        done = [r for r in rows if r[4] == "registered"]
        assert [r[:4] for r in done] == [r[:4] for r in preview]
        assert not [r for r in rows if r[4] == "skipped" and r[5] and "graphsync" in r[5]]
        assert c.execute("SELECT build_required FROM graph._sync_state").fetchone()[0]
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        # the secret table's foreign key to notes is an edge, to the excluded table none
        assert c.execute("SELECT count(*) FROM graph._edge_sources WHERE from_table = 'shop.secret'::regclass"
                         ).fetchone()[0] == 1
        out = set(c.execute("SELECT node_table::text, node_id"
                            " FROM graph.traverse('shop.tasks', '100', max_depth => 1)"))
        assert out == {("shop.tasks", "100"), ("shop.people", "1"), ("shop.tags", "1"), ("shop.tags", "2"),
                       ("shop.projects", "(1,10)")}
        members = set(c.execute("SELECT node_table::text, node_id, edge_label"
                                " FROM graph.traverse('shop.projects', '(1,10)', max_depth => 1) WHERE depth = 1"))
        assert members == {("shop.people", "2", "project_members"), ("shop.workspaces", "1", "workspace_id")}
        c.execute("INSERT INTO shop.task_tags VALUES (101, 2)")
        c.execute("UPDATE shop.people SET manager_id = 2 WHERE id = 3")
        c.execute("INSERT INTO shop.events VALUES (2, '2026-06-01', 2)")
        c.execute("INSERT INTO shop.project_members VALUES (1, 10, 3)")
        c.execute("UPDATE shop.tasks SET project_id = NULL WHERE id = 101")
        apply(c)
        assert verify(c) == []
        labels = {r[0] for r in c.execute(
            "SELECT edge_label FROM graph.traverse('shop.people', '3', max_depth => 1) WHERE depth = 1")}
        assert labels == {"manager_id", "workspace_id"}


def _preview_and_run(c, schema):
    """(the preview's rows, the real run's rows) of add_schema(schema), as (kind, table, edge, action, reason)."""
    q = "SELECT kind, table_name::text, edge, action, reason FROM graph.add_schema(%s::regnamespace, preview => %s)"
    return c.execute(q, (schema, True)).fetchall(), c.execute(q, (schema, False)).fetchall()


def test_the_preview_lists_what_the_run_registers_not_catalogs_or_temporary_tables(shop):
    """A system catalog or a temporary table, which graph.add_table refuses (42809), is
    skipped with the reason by the preview as by the run: the preview listed them as
    'would register', the run skipped them."""
    with connect(shop) as c:
        before = state(c)
        preview, run = _preview_and_run(c, "pg_catalog")
        assert state(c) == before
        assert not [r for r in preview + run if r[3] in ("would register", "registered")]
        assert [r[:3] for r in preview] == [r[:3] for r in run]
        reasons = {r[4] for r in preview} | {r[4] for r in run}
        assert reasons == {"a system catalog: PostgreSQL puts no triggers on it, so its rows could not be captured"}
        c.execute("CREATE TEMP TABLE t_people (id int PRIMARY KEY, name text)")
        c.execute("CREATE TEMP TABLE t_teams (id int PRIMARY KEY, lead_id int REFERENCES t_people)")
        c.execute("CREATE TEMP TABLE t_members (person_id int REFERENCES t_people, team_id int REFERENCES t_teams,"
                  " PRIMARY KEY (person_id, team_id))")
        temp = c.execute("SELECT pg_my_temp_schema()::regnamespace::text").fetchone()[0]
        preview, run = _preview_and_run(c, temp)
        assert state(c) == before
        assert [r[:3] for r in preview] == [r[:3] for r in run]
        assert [r[3:] for r in preview] == [r[3:] for r in run]
        assert {r[1].split(".")[-1] for r in preview if r[0] == "node_table"} == {"t_people", "t_teams", "t_members"}
        assert {r[3] for r in preview} == {"skipped"}
        temporary = "a temporary table: one session's, and the graph is shared by every session"
        assert {r[4] for r in preview if r[0] == "node_table"} == {temporary}
        # on a schema it can register, the preview is the run (the run's 'registered' rows)
        preview, run = _preview_and_run(c, "shop")
        assert [r[:3] for r in preview if r[3] == "would register"] == [r[:3] for r in run if r[3] == "registered"]
        assert [r for r in preview if r[3] == "skipped"] == [r for r in run if r[3] == "skipped"]


def test_a_second_call_registers_nothing_new(shop):
    with connect(shop) as c:
        first = plan(c)
        before = state(c)
        second = plan(c)
        assert state(c) == before
        assert not [r for r in second if r[4] in ("registered", "would register")]
        was = {r[:3] for r in first if r[4] == "registered"}
        now = {r[:3] for r in second if r[4] == "already registered"}
        assert was == now
        assert {r[:3] for r in first if r[4] == "skipped"} == {r[:3] for r in second if r[4] == "skipped"}


def test_partly_registered_schema_adds_the_rest(shop):
    with connect(shop) as c:
        c.execute("SELECT graph.add_table('shop.people', columns => '{name}')")
        c.execute("SELECT graph.add_table('shop.workspaces')")
        c.execute("SELECT graph.add_edge('shop.people', 'manager_id', 'shop.people', label => 'reports_to')")
        rows = by_key(plan(c))
        assert rows[("node_table", "shop.people", None)][4] == "already registered"
        assert rows[("fk_edge", "shop.people", "manager_id -> shop.people")][4] == "already registered"
        assert rows[("fk_edge", "shop.people", "workspace_id -> shop.workspaces")][4] == "registered"
        # what was registered by hand keeps its properties and label
        assert c.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'shop.people'::regclass"
                         ).fetchone()[0] == ["name"]
        assert c.execute("SELECT count(*) FROM graph._edge_sources WHERE label = 'reports_to'").fetchone()[0] == 1


def test_a_table_the_admin_may_not_trigger_is_skipped_with_the_reason(shop, server):
    with connect(shop) as c:
        c.execute("DROP ROLE IF EXISTS schema_ops")
        c.execute("CREATE ROLE schema_ops LOGIN IN ROLE graph_admin")
        c.execute("GRANT USAGE ON SCHEMA shop TO schema_ops")
        c.execute("GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA shop TO schema_ops")
        c.execute("REVOKE TRIGGER ON shop.tags FROM schema_ops")
    try:
        with connect(shop, user="schema_ops") as c:
            rows = by_key(plan(c))
            assert rows[("node_table", "shop.tags", None)][4:] == (
                "skipped", "registering it needs SELECT and TRIGGER on it")
            assert rows[("join_edge", "shop.task_tags", "task_id -> shop.tasks, tag_id -> shop.tags")][4] == "skipped"
            assert rows[("node_table", "shop.people", None)][4] == "registered"
    finally:
        with connect(shop) as c:
            for (tbl,) in c.execute("SELECT table_name FROM graph._node_tables").fetchall():
                c.execute("SELECT graph.remove_table(%s, cascade => true)", (tbl,))
            c.execute("DROP OWNED BY schema_ops")
            c.execute("DROP ROLE schema_ops")


def test_only_admins_may_call_it(shop):
    with connect(shop) as c:
        c.execute("DROP ROLE IF EXISTS schema_reader")
        c.execute("CREATE ROLE schema_reader LOGIN")
        c.execute("GRANT USAGE ON SCHEMA shop TO schema_reader")
        c.execute("GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA shop TO schema_reader")
        c.execute("GRANT EXECUTE ON FUNCTION graph.add_schema(regnamespace, boolean, regclass[]) TO schema_reader")
        before = state(c)
    try:
        with connect(shop, user="schema_reader") as c:
            for preview in (True, False):
                with pytest.raises(psycopg.Error) as info:
                    plan(c, preview=preview)
                assert info.value.sqlstate == "42501"
        with connect(shop) as c:
            assert state(c) == before
    finally:
        with connect(shop) as c:
            c.execute("DROP OWNED BY schema_reader")
            c.execute("DROP ROLE schema_reader")


def test_bad_arguments(shop):
    with connect(shop) as c:
        before = state(c)
        for call, sqlstate in (("SELECT * FROM graph.add_schema(NULL)", "22004"),
                               ("SELECT * FROM graph.add_schema('graph')", "22023"),
                               ("SELECT * FROM graph.add_schema('no_such_schema')", "3F000"),
                               ("SELECT * FROM graph.add_schema('shop', exclude => '{no_such}')", "42P01")):
            with pytest.raises(psycopg.Error) as info:
                c.execute(call)
            assert info.value.sqlstate == sqlstate, (call, info.value)
        assert state(c) == before


# MusicBrainz ---------------------------------------------------------------------------


def test_musicbrainz_registers_in_one_call(db):
    with connect(db) as c:
        load_musicbrainz(c)  # tools/musicbrainz.py, shared with benchmarks/add_schema.py
        n_tables, n_keyed, n_fks = c.execute("""
            SELECT count(*), count(*) FILTER (WHERE graph._table_key(c.oid) IS NOT NULL),
                   (SELECT count(*) FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid
                    WHERE k.contype = 'f' AND r.relnamespace = 'musicbrainz'::regnamespace
                      AND graph._table_key(r.oid) IS NOT NULL)
            FROM pg_class c
            WHERE c.relnamespace = 'musicbrainz'::regnamespace AND c.relkind IN ('r', 'p')""").fetchone()
        started = time.monotonic()
        rows = c.execute("SELECT kind, table_name::text, action, reason FROM graph.add_schema('musicbrainz')"
                         ).fetchall()
        seconds = time.monotonic() - started
        nodes, fk_edges, join_edges = c.execute(
            "SELECT (SELECT count(*) FROM graph._node_tables),"
            " (SELECT count(*) FROM graph._edge_sources WHERE kind = 'fk'),"
            " (SELECT count(*) FROM graph._edge_sources WHERE kind = 'join')").fetchone()
        counts = {}
        for kind, _, action, _ in rows:
            counts[(kind, action)] = counts.get((kind, action), 0) + 1
        print(f"\nMusicBrainz: {n_tables} tables ({n_keyed} keyed), {n_fks} foreign keys of keyed tables;"
              f" add_schema took {seconds:.1f} s: {sorted(counts.items())}")
        assert n_tables > 350 and n_fks > 700
        assert nodes == counts[("node_table", "registered")]
        assert fk_edges == counts[("fk_edge", "registered")]
        assert join_edges == counts[("join_edge", "registered")] > 0
        assert all(r[3] for r in rows if r[2] == "skipped")
        # every keyed table is a node table or a pure join table (an edge only); every
        # foreign key of a keyed table is an edge, one of a join table's two, or skipped
        node_tables = {r[1] for r in rows if r[0] == "node_table" and r[2] == "registered"}
        pure_joins = {r[1] for r in rows if r[0] == "join_edge"} - node_tables
        assert len(node_tables) + len(pure_joins) == n_keyed
        assert counts[("node_table", "skipped")] == n_tables - n_keyed
        assert fk_edges + counts.get(("fk_edge", "skipped"), 0) + 2 * len([r for r in rows if r[0] == "join_edge"]) \
            == n_fks
        again = c.execute("SELECT count(*) FROM graph.add_schema('musicbrainz') WHERE action = 'registered'"
                          ).fetchone()[0]
        assert again == 0
        assert c.execute("SELECT build_required FROM graph._sync_state").fetchone()[0]
        # The build reads each table and edge source with its own query (planned on its
        # own, all in one snapshot): over this registry it takes seconds.
        started = time.monotonic()
        c.execute("SELECT graph.build()")
        print(f"MusicBrainz: build took {time.monotonic() - started:.1f} s")
        assert not c.execute("SELECT build_required FROM graph._sync_state").fetchone()[0]
        assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
