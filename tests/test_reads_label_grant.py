"""What a role was told of the label names (reads/view.py, with_labels) is kept
under the role and what graph._labels' policy shows it depends on, not the role
alone: a read by a role that could not SELECT a join table with row-level security
and a label column asked for a label by name ('x', not shown to it); after a GRANT,
every later read of that session, until the graph changed, reused that answer and
dropped every edge labelled 'x', even those whose rows the role could now see (a
new session answered right). Found by a differential fuzz of reads under row-level
security."""

import uuid

import pytest
from psycopg import sql

from conftest import as_role, connect

SCHEMA = """
DROP SCHEMA IF EXISTS m3 CASCADE;
CREATE SCHEMA m3;
CREATE TABLE m3.items (id int PRIMARY KEY);
CREATE TABLE m3.links (id serial PRIMARY KEY, tenant int, src int, dst int, rel text);
CREATE INDEX ON m3.links (src);
CREATE INDEX ON m3.links (dst);
INSERT INTO m3.items VALUES (1), (2);
INSERT INTO m3.links (tenant, src, dst, rel) VALUES (2, 1, 2, 'x');
SELECT graph.add_table('m3.items');
SELECT graph.add_edge('m3.items', 'src', 'm3.items', to_column => 'dst', via_table => 'm3.links',
                      label_column => 'rel');
SELECT graph.build();
ALTER TABLE m3.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON m3.links FOR SELECT USING (tenant = nullif(current_setting('app.tenant', true), '')::int);
"""
READ = "SELECT node_id, edge_label FROM graph.traverse('m3.items', '1', direction => 'out') ORDER BY node_id"
ASK_X = "SELECT * FROM graph.traverse('m3.items', '1', edge_types => '{x}')"


@pytest.fixture
def reader(db):
    role = "gs_m3_" + uuid.uuid4().hex[:8]
    with connect(db) as admin:
        admin.execute(SCHEMA)
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA m3 TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON m3.items, m3.links TO {}").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        with connect(db) as admin:
            admin.execute("SELECT graph.remove_table('m3.items', true)")
            admin.execute("DROP SCHEMA m3 CASCADE")
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_label_not_shown_before_a_grant_is_shown_after_it(db, reader):
    with connect(db) as admin, as_role(db, reader) as b:
        b.execute("SET app.tenant = '2'")
        admin.execute(sql.SQL("REVOKE SELECT ON m3.links FROM {}").format(sql.Identifier(reader)))
        b.execute(ASK_X).fetchall()
        assert b.execute(READ).fetchall() == [("1", None)]
        admin.execute(sql.SQL("GRANT SELECT ON m3.links TO {}").format(sql.Identifier(reader)))
        assert b.execute("SELECT rel FROM m3.links").fetchall() == [("x",)]
        assert b.execute(READ).fetchall() == [("1", None), ("2", "x")]
