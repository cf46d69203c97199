"""What the graph's structural tables tell a reader about rows it may not read.

graph._csr, graph._edge_overlay and graph._edge_cuts hold no key and no property, but
every edge of every edge source with its weight and label number, and graph._csr's
tables array names the table of every node. A reader that could SELECT them read
there how many rows a table it may not read has, which of the nodes it sees those
rows point to, and each such row's weight (a value of the row's weight column). So
they are graph_admin's alone: a read loads them into its backend's memory through
graph._run_as_definer, which runs as graphsync's definer role the load the read's
own Python asked for and returns nothing to SQL (db.as_definer). The reads then
drop the edges the caller may not read (README "Read security").
"""

import struct

import psycopg
import pytest

from conftest import as_role, connect

READER = "gs_st_reader"  # may read customers, not payments
OWNER = "gs_st_owner"  # owns a registered table of its own, may not read payments
ADMIN = "gs_st_admin"  # a graph_admin member, no superuser
BOTH = "gs_st_both"  # may read both
WEIGHT = 999.125  # a value of a row READER may not read

SETUP = f"""
CREATE ROLE {READER} LOGIN;
CREATE ROLE {BOTH} LOGIN;
CREATE ROLE {OWNER} LOGIN;
CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin;
CREATE SCHEMA st;
CREATE TABLE st.customers (id int PRIMARY KEY, name text);
CREATE TABLE st.payments (id int PRIMARY KEY, customer_id int REFERENCES st.customers, amount float8);
INSERT INTO st.customers VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO st.payments VALUES (10, 1, 5.5);
GRANT USAGE ON SCHEMA st TO {READER}, {BOTH};
GRANT SELECT ON st.customers TO {READER}, {BOTH};
GRANT SELECT ON st.payments TO {BOTH};
SELECT graph.add_table('st.customers', columns => '{{name}}');
SELECT graph.add_table('st.payments', columns => '{{}}');
SELECT graph.add_edge('st.payments', 'customer_id', 'st.customers', weight_column => 'amount');
CREATE TABLE st.owned (id int PRIMARY KEY, customer_id int REFERENCES st.customers);
ALTER TABLE st.owned OWNER TO {OWNER};
GRANT USAGE ON SCHEMA st TO {OWNER};
GRANT SELECT ON st.customers TO {OWNER}, {ADMIN};
GRANT USAGE ON SCHEMA st TO {ADMIN};
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {OWNER}', current_database()); END $$;
SELECT graph.add_table('st.owned');
SELECT graph.add_edge('st.owned', 'customer_id', 'st.customers');
SELECT graph.build();
"""
# committed after the build, then applied: an edge of graph._edge_overlay
LATER = (f"INSERT INTO st.payments VALUES (11, 2, {WEIGHT})", "SELECT graph.apply_sync()")
STRUCTURAL = ("graph._csr", "graph._edge_overlay", "graph._edge_cuts")
READ = "SELECT node_id FROM graph.traverse('st.customers', %s, max_depth => 1, direction => 'in') ORDER BY 1"


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
        for role in (READER, BOTH, OWNER, ADMIN):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("table", STRUCTURAL)
def test_a_reader_may_not_select_a_structural_table(world, table):
    with as_role(world, READER) as r:
        assert r.execute("SELECT has_table_privilege('st.payments', 'SELECT')").fetchone()[0] is False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute(f"SELECT * FROM {table}")


def test_what_an_admin_reads_there_holds_the_weights_a_reader_may_not_read(world):
    # (what the test above keeps from READER is there to keep: the weight of a payment
    # of the base, and of the one applied since, in the overlay)
    with connect(world) as c:
        overlay = [w for (w,) in c.execute("SELECT weight FROM graph._edge_overlay").fetchall()]
        base = [w for (b,) in c.execute("SELECT weights FROM graph._csr WHERE direction = 'out'").fetchall()
                for (w,) in struct.iter_unpack("<d", bytes(b))]
    assert WEIGHT in overlay and 5.5 in base, (overlay, base)


def test_reads_still_load_the_base_and_the_overlay_as_the_caller_may_not(world):
    # a fresh backend of each role loads the base (customer 1's payment) and folds the
    # overlay (customer 2's); READER's read drops the payments' edges
    with as_role(world, BOTH) as b, as_role(world, READER) as r:
        assert b.execute(READ, ["1"]).fetchall() == [("1",), ("10",)]
        # (the tables of the nodes, read when a read names node_tables)
        named = b.execute("SELECT node_id FROM graph.traverse('st.customers', '2', max_depth => 1,"
                          " direction => 'in', node_tables => '{st.payments}') ORDER BY 1").fetchall()
        assert named == [("11",), ("2",)]
        assert b.execute(READ, ["2"]).fetchall() == [("11",), ("2",)]
        assert r.execute(READ, ["1"]).fetchall() == [("1",)]
        assert r.execute(READ, ["2"]).fetchall() == [("2",)]
        # a change applied while the backends hold the graph: they refresh it
        with connect(world) as c:
            c.execute("INSERT INTO st.payments VALUES (12, 3, 1.0)")
            c.execute("SELECT graph.apply_sync()")
            c.execute("TRUNCATE st.payments")  # a cut: the refresh reads graph._edge_cuts
            c.execute("INSERT INTO st.payments VALUES (13, 3, 2.0)")
            c.execute("SELECT graph.apply_sync()")
        assert b.execute(READ, ["3"]).fetchall() == [("13",), ("3",)]
        assert b.execute(READ, ["1"]).fetchall() == [("1",)]
        assert r.execute(READ, ["3"]).fetchall() == [("3",)]


@pytest.mark.parametrize("call", ["graph._node_changes(0, 1000000)", "graph._node_runs(1000000)",
                                  "graph._node_ids_held(0, 1000000)"])
def test_a_reader_may_not_ask_which_nodes_of_a_table_changed_or_are(world, call):
    # (which payment rows changed when, and how many there are: asked by the reads
    # through graph._run_as_definer, never by the reader)
    with as_role(world, READER) as r:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute(f"SELECT * FROM {call}")


def test_the_definer_gives_a_direct_caller_nothing(world):
    with as_role(world, READER) as r:
        for request in (0, 1, 2, 10 ** 6):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="internal"):
                r.execute("SELECT graph._run_as_definer(%s)", [request])


# The three roles of tests/test_abuse_three_roles.py, each at what this change moved: a
# table owner (who owns a registered table, not payments), a plain reader, and a
# graph_admin member who is no superuser. Written after the fix; with PUBLIC's grants of
# before put back on the tables, the owner's and the reader's SELECTs were seen succeeding.
THREE = (OWNER, READER, ADMIN)


@pytest.mark.parametrize("role", THREE)
def test_three_roles_at_the_structural_tables_and_their_definer(world, role):
    with as_role(world, role) as r:
        for table in STRUCTURAL:
            if role == ADMIN:  # graph_admin's tables: it reads them, as it always did
                r.execute(f"SELECT count(*) FROM {table}").fetchone()
            else:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    r.execute(f"SELECT * FROM {table}")
        # no request of this backend's reads is pending: nothing runs as graph_sync
        for request in (0, 1, -1, 2 ** 62):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="internal"):
                r.execute("SELECT graph._run_as_definer(%s)", [request])
        # a read first (the package loaded, a request made and run), then the same call
        r.execute("SELECT count(*) FROM graph.traverse('st.customers', '1', direction => 'any')").fetchone()
        for request in range(0, 8):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="internal"):
                r.execute("SELECT graph._run_as_definer(%s)", [request])
        # the owner's own search_path and functions change nothing of what reads load
        if role == OWNER:
            r.execute("CREATE SCHEMA IF NOT EXISTS gs_st_trap")
            r.execute("CREATE OR REPLACE FUNCTION gs_st_trap.array_agg(anyelement) RETURNS anyarray"
                      " LANGUAGE sql AS 'SELECT NULL::anyarray'")
            r.execute("SET search_path = gs_st_trap, public")
            assert r.execute(READ, ["1"]).fetchall() == [("1",)]
            r.execute("DROP SCHEMA gs_st_trap CASCADE")
