"""No temporary table another role made in the session runs its code as graphsync's caller.

build(), verify(), maintenance's source check, dangling_references() and
duplicate_edges() read the sources into temporary tables of the caller's session
(``pg_temp._gs_src_nodes``, ``_gs_src_edges``, ``_gs_node_plan``, ``_gs_graph_edges``):
created when the session has none, truncated and written again when it has
(maintenance runs verify, then the source check, in one transaction). Every role
that runs SQL in a session may create temporary tables in it, and a table's owner
may put triggers on it and let anyone write it. A table owner's SECURITY DEFINER
function that a superuser called (an application's API, run by a DBA) created
``pg_temp._gs_src_nodes`` with a ``BEFORE TRUNCATE`` trigger of the owner's; the
superuser's next ``graph.build()`` in that session truncated it, and the trigger ran
the owner's function as the superuser: it made the owner one (seen failing). The same
as a non-superuser admin gave the owner graph_admin's rights.

Now graphsync writes only a temporary table the role running the call owns (one it
made itself, earlier in the transaction); one another role made is refused (42501,
naming the table and its owner) before anything touches it."""

import psycopg
import pytest

from conftest import as_role, connect

OWNER, ADMIN = "gs_tt_owner", "gs_tt_admin"

# The owner's code: spy records who runs it (as a trigger) and, run by a superuser,
# makes the owner one; plant, a SECURITY DEFINER function the privileged role calls,
# leaves a temporary table of graphsync's name in the caller's session, open to
# anyone, with spy as its triggers.
OWNER_CODE = f"""
CREATE TABLE own_tt.t (id int PRIMARY KEY, ref int);
INSERT INTO own_tt.t VALUES (1, 2), (2, 1), (3, 9);
CREATE TABLE own_tt.calls (who name, what text);
GRANT INSERT, SELECT ON own_tt.calls TO PUBLIC;
CREATE FUNCTION own_tt.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO own_tt.calls VALUES (current_user, TG_OP || ' ' || TG_TABLE_NAME);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION own_tt.plant(name text, columns text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TEMP TABLE %I (%s)', name, columns);
    EXECUTE format('GRANT ALL ON pg_temp.%I TO PUBLIC', name);
    EXECUTE format('CREATE TRIGGER spy_t BEFORE TRUNCATE ON pg_temp.%I EXECUTE FUNCTION own_tt.spy()', name);
    EXECUTE format('CREATE TRIGGER spy_i BEFORE INSERT ON pg_temp.%I EXECUTE FUNCTION own_tt.spy()', name);
END $$;
GRANT USAGE ON SCHEMA own_tt TO PUBLIC;
GRANT EXECUTE ON FUNCTION own_tt.plant(text, text) TO PUBLIC;
GRANT SELECT, TRIGGER ON own_tt.t TO {ADMIN};
"""

# graphsync's temporary tables and their columns (sync/sources.py NODE_COLUMNS and
# EDGE_COLUMNS, sync/build.py PLAN_COLUMNS), so that a call writing a planted one
# goes on and commits what the owner's code did
COLUMNS = {
    "_gs_src_nodes": "table_oid oid, pk text, tenant text, properties jsonb",
    "_gs_src_edges": "edge_source_id int, src_oid oid, src_pk text, dst_oid oid, dst_pk text, weight float8,"
                     " label text",
    "_gs_graph_edges": "edge_source_id int, src_oid oid, src_pk text, dst_oid oid, dst_pk text, weight float8,"
                       " label text",
    "_gs_node_plan": 'node_id bigint, table_oid oid, pk text, alive boolean, tenant text, properties jsonb,'
                     ' op "char", change "char"',
}

# (the call, the temporary table of graphsync's it writes)
CALLS = [
    ("SELECT graph.build()", "_gs_src_nodes"),
    ("SELECT graph.build()", "_gs_src_edges"),
    ("SELECT graph.build()", "_gs_node_plan"),
    ("SELECT * FROM graph.verify()", "_gs_src_nodes"),
    ("SELECT * FROM graph.verify()", "_gs_graph_edges"),
    ("SELECT * FROM graph.dangling_references()", "_gs_src_edges"),
    ("SELECT * FROM graph.duplicate_edges()", "_gs_src_nodes"),
]


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, ADMIN):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {OWNER} LOGIN")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE SCHEMA own_tt AUTHORIZATION {OWNER}")
    with as_role(db, OWNER) as o:
        o.execute(OWNER_CODE)
    with connect(db) as c:
        c.execute("SELECT graph.add_table('own_tt.t', ARRAY['id'])")
        c.execute("SELECT graph.add_edge('own_tt.t', 'ref', 'own_tt.t', label => 'refers')")
        c.execute("SELECT graph.build()")
    yield db
    with connect(db) as c:
        c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")


def _calls(db):
    with connect(db) as c:
        calls = c.execute("SELECT who, what FROM own_tt.calls").fetchall()
        c.execute("TRUNCATE own_tt.calls")
        c.execute(f"ALTER ROLE {OWNER} NOSUPERUSER")
    return calls


@pytest.mark.parametrize("call, table", CALLS)
@pytest.mark.parametrize("caller", ["superuser", ADMIN])
def test_a_temporary_table_another_role_made_in_the_session_runs_none_of_its_code(world, caller, call, table):
    conn = connect(world) if caller == "superuser" else as_role(world, caller)
    with conn:
        conn.execute("SELECT own_tt.plant(%s, %s)", (table, COLUMNS[table]))
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            conn.execute(call).fetchall()
        assert f"pg_temp.{table}" in str(err.value) and OWNER in str(err.value)
    assert _calls(world) == []
    with connect(world) as c:
        assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone()[0]


def test_maintenance_refuses_the_planted_table_and_says_so(world):
    with connect(world) as c:
        c.execute("SELECT own_tt.plant('_gs_src_nodes', %s)", (COLUMNS["_gs_src_nodes"],))
        c.execute("SELECT * FROM graph.run_scheduled_maintenance()").fetchall()
    assert _calls(world) == []


def test_the_callers_own_tables_are_written_again_in_one_transaction(world):
    """What graphsync made earlier in the transaction it empties and writes again
    (maintenance's verify, then its source check)."""
    with connect(world) as c, c.transaction():
        assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM graph.verify()").fetchone()[0] == 0
        c.execute("SELECT graph.build()")
    assert _calls(world) == []
