"""A role granted SELECT on a registered table of a schema it may not use reads none
of that table's rows through graphsync.

PostgreSQL reads a table for a role only when the role may SELECT it *and* use its
schema (USAGE): without USAGE, ``SELECT * FROM hs.acct`` fails with "permission
denied for schema hs", however the table's own grants read. A DBA closes a whole
schema to a role that way (REVOKE USAGE ON SCHEMA ... FROM ...), leaving the table
grants (default privileges, GRANT ... ON ALL TABLES) as they are. graphsync decided
what a role may read by has_table_privilege alone, which looks at the table's grants
only: such a role read, by the table's oid, the keys and registered columns of every
row of the closed schema's table through graph._nodes (a password column, say),
traversed it, saw it in connected_components and component_stats, in changed_nodes
and graph._change_log, the labels of its join table in graph._labels, its pending
log rows through graph._pending_visible and graph._pending_by_xid, and its failed
rows' messages through graph._failed_visible and sync_health() (found in review;
seen failing). And graph.search over a property only that table has failed for it
with "permission denied for schema", where a table it may not SELECT is skipped.

Now a role may read a registered table's rows through graphsync exactly when it may
SELECT the table and use its schema (migration 454, db.may_select).

Real roles: READER may SELECT hs.acct and hs.links but has no USAGE on schema hs; it
may use schema vs and SELECT vs.people, whose rows point at hs.acct rows.
"""

import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import as_role, connect

SCHEMA = """
CREATE SCHEMA hs;
CREATE SCHEMA vs;
CREATE TABLE hs.acct (id int PRIMARY KEY, pw text, friend int REFERENCES hs.acct);
CREATE TABLE hs.links (id serial PRIMARY KEY, src int, dst int, rel text);
CREATE INDEX ON hs.links (src);
CREATE INDEX ON hs.links (dst);
CREATE TABLE vs.people (id int PRIMARY KEY, name text, acct int REFERENCES hs.acct);
INSERT INTO hs.acct VALUES (1, 'hunter2', NULL), (2, 'swordfish', 1);
INSERT INTO hs.links (src, dst, rel) VALUES (1, 2, 'sealed_rel');
INSERT INTO vs.people VALUES (1, 'ann', 2), (2, 'ben', NULL);
SELECT graph.add_table('hs.acct', columns => '{pw}');
SELECT graph.add_table('vs.people', columns => '{name}');
SELECT graph.add_edge('hs.acct', 'friend', 'hs.acct', label => 'friend');
SELECT graph.add_edge('hs.acct', 'src', 'hs.acct', to_column => 'dst', via_table => 'hs.links',
                      label_column => 'rel');
SELECT graph.add_edge('vs.people', 'acct', 'hs.acct', label => 'owns');
SELECT graph.build();
"""
SECRETS = ("hunter2", "swordfish", "sealed_rel")


@pytest.fixture(scope="module")
def world(db):
    role = "gs_r44_" + uuid.uuid4().hex[:8]
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT SELECT ON hs.acct, hs.links TO {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA vs TO {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT SELECT ON vs.people TO {}").format(sql.Identifier(role)))
        acct = c.execute("SELECT 'hs.acct'::regclass::oid").fetchone()[0]
        links = c.execute("SELECT 'hs.links'::regclass::oid").fetchone()[0]
    yield db, role, acct, links
    with connect(db) as c:
        c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def shown(rows):
    """The secrets that appear anywhere in ``rows``."""
    text = repr(rows)
    return [s for s in SECRETS if s in text]


def test_the_reader_cannot_select_the_table_itself(world):
    db, role, acct, _ = world
    with as_role(db, role) as r:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema hs"):
            r.execute("SELECT * FROM hs.acct")


def test_graph_nodes_shows_no_row_of_a_schema_the_reader_may_not_use(world):
    db, role, acct, links = world
    with as_role(db, role) as r:
        rows = r.execute("SELECT pk, properties FROM graph._nodes WHERE table_oid = %s", [acct]).fetchall()
        assert rows == []
        assert r.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = %s", [acct]).fetchone()[0] == 0
        assert shown(r.execute("SELECT * FROM graph._labels").fetchall()) == []
        assert r.execute("SELECT * FROM graph._change_log WHERE table_oid = %s", [acct]).fetchall() == []
        assert [row for row in r.execute("SELECT * FROM graph.changed_nodes(0)").fetchall()
                if row[1] != "vs.people"] == []


def test_a_read_by_the_table_oid_is_refused_as_for_a_table_it_may_not_select(world):
    db, role, acct, _ = world
    with as_role(db, role) as r:
        for read in ("SELECT * FROM graph.traverse(%s::oid::regclass, '2', direction => 'any')",
                     "SELECT * FROM graph.component_of(%s::oid::regclass, '2')",
                     "SELECT * FROM graph.shortest_path(%s::oid::regclass, '2', %s::oid::regclass, '1')",
                     "SELECT graph.export_graphml(%s::oid::regclass, '2')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
                r.execute(read, [acct] * read.count("%s")).fetchall()
            assert shown([str(e.value), e.value.diag.message_detail, e.value.diag.message_hint]) == []


def test_reads_neither_enter_nor_count_the_table(world):
    db, role, acct, _ = world
    with as_role(db, role) as r:
        walk = r.execute("SELECT node_table::text, node_id FROM graph.traverse('vs.people', '1', max_depth => 4,"
                         " direction => 'any') ORDER BY 1, 2").fetchall()
        assert walk == [("vs.people", "1")]
        assert r.execute("SELECT graph.export_dot('vs.people', '1', max_depth => 4, direction => 'any')"
                         ).fetchone()[0].count("hs.acct") == 0
        components = r.execute("SELECT node_table::text, node_id FROM graph.connected_components()"
                               " ORDER BY 1, 2").fetchall()
        assert components == [("vs.people", "1"), ("vs.people", "2")]
        assert sorted(r.execute("SELECT size FROM graph.component_stats()").fetchall()) == [(1,), (1,)]


def test_search_skips_the_table(world):
    db, role, _, _ = world
    with as_role(db, role) as r:
        assert r.execute("SELECT * FROM graph.search('pw', 'hunter2')").fetchall() == []
        assert r.execute("SELECT node_id FROM graph.search('name', 'ann')").fetchall() == [("1",)]


def test_pending_and_failed_rows_of_the_table_are_not_shown(world):
    db, role, acct, _ = world
    with connect(db) as c:
        c.execute("INSERT INTO hs.acct VALUES (3, 'letmein', NULL)")
        c.execute("INSERT INTO hs.links (src, dst, rel) VALUES (3, 1, 'sealed_rel')")
        try:
            with as_role(db, role) as r:
                for view in ("graph._pending_visible", "graph._pending_by_xid"):
                    rows = r.execute(f"SELECT * FROM {view}").fetchall()  # noqa: S608 (a fixed name)
                    assert [row for row in rows if "letmein" in repr(row) or "sealed_rel" in repr(row)] == []
            # a failed row of the table, its message quoting the row's value
            c.execute("UPDATE graph._sync_log SET error_message = 'row (3, letmein) failed'"
                      " WHERE table_oid = %s AND new_pk = '3'", [acct])
            c.execute("INSERT INTO graph._sync_log_attention (id) SELECT id FROM graph._sync_log"
                      " WHERE table_oid = %s AND new_pk = '3' ON CONFLICT DO NOTHING", [acct])
            with as_role(db, role) as r:
                assert r.execute("SELECT * FROM graph._failed_visible").fetchall() == []
                health = r.execute("SELECT last_error, next_action FROM graph.sync_health()").fetchone()
                assert "letmein" not in repr(health)
        finally:
            c.execute("DELETE FROM graph._sync_log_attention WHERE id IN"
                      " (SELECT id FROM graph._sync_log WHERE table_oid = %s AND new_pk = '3')", [acct])
            c.execute("DELETE FROM hs.links WHERE src = 3")
            c.execute("DELETE FROM hs.acct WHERE id = 3")
            c.execute("UPDATE graph._sync_log SET error_message = NULL WHERE error_message LIKE 'row (3, %'")
            c.execute("SELECT graph.build()")
