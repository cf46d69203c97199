"""A read runs the row-level security policy of no source table it does not read,
whatever plan PostgreSQL makes of its statements.

graph._nodes' policy asks a source table which of its rows the reader can see
only for the nodes of that table a statement reads (reads/row_policy.py). The
statements that look keys up in graph._nodes as the caller (START's lookup of a
fold's keys: graph._pending_keys; a fold's others: freshness.RESOLVE; a read's
keys: nodes.LOOKUP; the other ends of a secured join table's rows: edge_rows.NODE_EDGES)
joined graph._nodes to the keys. Planned as a hash join -- graph._node_rows analyzed
while it holds a few nodes, as autovacuum may leave it at any moment -- such a join
read every node the reader could see, so the policy ran for every node, asking
every table whose row-level security applies to the reader: ut.vault here, which
none of these reads touches, and whose policy writes (an audit table), which a
read-only transaction (a hot standby's, or one a session sets) refuses: the read
failed. Each key is now looked up by itself.

Real roles, each reading through its own connection."""

import pytest

from conftest import apply, as_role, connect
from rls_helpers import with_schema

READER = "gs_ut_reader"

SCHEMA = f"""
DROP SCHEMA IF EXISTS ut CASCADE;
DROP ROLE IF EXISTS {READER};
CREATE ROLE {READER} LOGIN;
CREATE SCHEMA ut;
GRANT USAGE ON SCHEMA ut TO {READER};
CREATE TABLE ut.audit (who name, id int);
GRANT INSERT, SELECT ON ut.audit TO {READER};
CREATE FUNCTION ut.audited(id int, team text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ut.audit VALUES (current_user, id);
    RETURN team OPERATOR(pg_catalog.=) 'blue';
END $$;
CREATE TABLE ut.items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE ut.rel (id int PRIMARY KEY, team text NOT NULL, src int NOT NULL, dst int NOT NULL);
CREATE INDEX ON ut.rel (src);  -- a walk asks a secured join table's rows node by node by them
CREATE INDEX ON ut.rel (dst);
CREATE TABLE ut.vault (id int PRIMARY KEY, team text NOT NULL, note text NOT NULL);
INSERT INTO ut.items SELECT i, 'item ' || i FROM generate_series(1, 6) AS i;
INSERT INTO ut.rel VALUES (1, 'blue', 1, 2), (2, 'red', 1, 3), (3, 'blue', 2, 4), (4, 'blue', 3, 5);
INSERT INTO ut.vault SELECT i, CASE WHEN i % 2 = 0 THEN 'blue' ELSE 'red' END, 'note ' || i
FROM generate_series(1, 6) AS i;
GRANT SELECT ON ut.items, ut.rel, ut.vault TO {READER};
ALTER TABLE ut.rel ENABLE ROW LEVEL SECURITY;
ALTER TABLE ut.vault ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_team ON ut.rel FOR SELECT USING (team = 'blue');
CREATE POLICY audited ON ut.vault FOR SELECT USING (ut.audited(id, team));
SELECT graph.add_table('ut.items', columns => '{{name}}');
SELECT graph.add_table('ut.vault', columns => '{{note}}');
SELECT graph.add_edge('ut.items', 'src', 'ut.items', to_column => 'dst', via_table => 'ut.rel', label => 'rel');
SELECT graph.build();
"""


@pytest.fixture(scope="module")
def ut_db(db):
    yield with_schema(db, SCHEMA)
    with connect(db) as c:
        c.execute("DROP SCHEMA ut CASCADE")
        c.execute(f"DROP OWNED BY {READER}")
        c.execute(f"DROP ROLE {READER}")


WALK = "SELECT node_id, depth FROM graph.traverse('ut.items', '1', max_depth => 5) ORDER BY 1"
SEED = "SELECT node_id FROM graph.traverse('ut.items', '1', max_depth => 0)"
SEEDS = ("SELECT node_id FROM graph.traverse(seed_tables => '{ut.items,ut.items,ut.items}',"
         " seed_ids => '{1,2,3000}', max_depth => 0) ORDER BY 1")

# Each read (its SQL) and the ut.items rows committed between its two runs (the
# second folds them onto the view the first kept): none, a few (their keys looked
# up by START: graph._pending_keys), more than reads.start.KEYS_IN_START (RESOLVE).
READS = {
    "walk over a secured join table": (WALK, 0),
    "seeds by key": (SEEDS, 0),
    "fold a few": (SEED, 2),
    "fold many": (SEED, 70),
}


@pytest.mark.parametrize("plan", ["analyzed", "hash joins"])
@pytest.mark.parametrize("read", list(READS))
def test_a_read_runs_the_policy_of_no_table_it_does_not_read(ut_db, read, plan):
    """READER's read of ut.items (and ut.rel's edges) in a read-only transaction,
    with graph._node_rows analyzed (a few nodes: hash joins are cheapest) or nested
    loops off: ut.vault's policy never runs (its write would fail the read), and the
    read answers what a new backend's does."""
    sql, rows = READS[read]
    with connect(ut_db) as admin:
        apply(admin)
        if plan == "analyzed":
            admin.execute("ANALYZE graph._node_rows")
        admin.execute("DELETE FROM ut.audit")
        try:
            with connect(ut_db) as c:
                c.execute("SET default_transaction_read_only = on")  # folds, never applies
                if plan == "hash joins":
                    c.execute("SET enable_nestloop = off")
                    c.execute("SET enable_mergejoin = off")
                c.execute(f"SET ROLE {READER}")
                first = c.execute(sql).fetchall()
                assert first
                if rows:
                    admin.execute("INSERT INTO ut.items SELECT g, 'item ' || g"
                                  " FROM pg_catalog.generate_series(3000, 2999 + %s) AS g", (rows,))
                got = c.execute(sql).fetchall()
                if not rows:
                    assert got == first
                with as_role(ut_db, READER) as fresh:
                    fresh.execute("SET default_transaction_read_only = on")
                    assert got == fresh.execute(sql).fetchall()
            assert admin.execute("SELECT count(*) FROM ut.audit").fetchone() == (0,)
        finally:
            admin.execute("DELETE FROM ut.items WHERE id >= 3000")
            apply(admin)


def test_the_walk_follows_only_the_edges_the_reader_can_see(ut_db):
    """The walk above is one over ut.rel's visible rows: 1 -> 2 -> 4 (the red row
    1 -> 3 hidden, and 3 -> 5 with it)."""
    with as_role(ut_db, READER) as r:
        assert r.execute(WALK).fetchall() == [("1", 0), ("2", 1), ("4", 2)]
