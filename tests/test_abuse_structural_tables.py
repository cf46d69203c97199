"""What the graph tables every role may SELECT tell a reader about rows it may not read.

sql/privileges.sql grants SELECT on graph._csr, graph._edge_overlay and graph._edge_cuts
to PUBLIC: the reads run as their caller and load the graph from them (or from the shared
base file written from graph._csr). They hold no key and no property, but they hold every
edge of every edge source with its weight and label number, and graph._csr's tables array
names the table of every node. So a reader that may not SELECT a table still reads there
how many rows it has, which of the nodes the reader sees its rows point to, and each such
row's weight (a value of the row's weight column). The reads themselves drop those edges
(README "Read security"); a direct SELECT does not. Known gap, strict xfail: closing it
takes the reads' load of the base and the overlay out of the caller's privileges (the
tables revoked from PUBLIC, the load done by graphsync's definer role into the backend's
memory only, never returned to SQL), which every read path goes through.
"""

import struct

import pytest

from conftest import as_role, connect

READER = "gs_st_reader"
WEIGHT = 999.125  # a value of the row the reader may not read

SETUP = f"""
CREATE ROLE {READER} LOGIN;
CREATE SCHEMA st;
CREATE TABLE st.customers (id int PRIMARY KEY, name text);
CREATE TABLE st.payments (id int PRIMARY KEY, customer_id int REFERENCES st.customers, amount float8);
INSERT INTO st.customers VALUES (1, 'one'), (2, 'two');
INSERT INTO st.payments VALUES (10, 1, 5.5);
GRANT USAGE ON SCHEMA st TO {READER};
GRANT SELECT ON st.customers TO {READER};
SELECT graph.add_table('st.customers', columns => '{{name}}');
SELECT graph.add_table('st.payments', columns => '{{}}');
SELECT graph.add_edge('st.payments', 'customer_id', 'st.customers', weight_column => 'amount');
SELECT graph.build();
"""
# committed after the build, then applied: an edge of graph._edge_overlay
LATER = (f"INSERT INTO st.payments VALUES (11, 2, {WEIGHT})", "SELECT graph.apply_sync()")


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(SETUP)
        for statement in LATER:
            c.execute(statement)
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA st CASCADE")
        c.execute("SELECT graph.build()")
        c.execute(f"DROP ROLE {READER}")


@pytest.mark.xfail(strict=True, reason="graph._edge_overlay and graph._csr are PUBLIC's: they hold the weights"
                   " and ends of the edges of rows a reader may not read (see the module docstring)")
def test_a_reader_reads_no_weight_or_edge_of_a_table_it_may_not_select(world):
    with as_role(world, READER) as r:
        assert r.execute("SELECT has_table_privilege('st.payments', 'SELECT')").fetchone()[0] is False
        # the payment row applied since the build: its weight, and the visible customer it points to
        overlay = r.execute("SELECT o.weight, n.pk FROM graph._edge_overlay AS o"
                            " JOIN graph._nodes AS n ON n.node_id = o.dst").fetchall()
        # the rows in the base: their weights in graph._csr's weights array (float64, little-endian)
        base = r.execute("SELECT weights FROM graph._csr WHERE direction = 'out'").fetchall()
    seen = [w for w, _ in overlay] + [w for (b,) in base for (w,) in struct.iter_unpack("<d", bytes(b))]
    assert WEIGHT not in seen and 5.5 not in seen, (overlay, seen)
