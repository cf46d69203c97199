"""Capture reads its trigger's transition tables, never a relation of their name.

A table's capture function (graph._capture_<oid>, SECURITY DEFINER, graph_capture's)
reads the rows a statement wrote from the transition tables its triggers declare,
``new_rows`` and ``old_rows``, by those names. PostgreSQL looks a trigger's transition
tables up before the search path; a trigger without them has the names looked up on
the function's path, ``pg_catalog, pg_temp``: in the session's temporary schema. The
function is EXECUTE-able by PUBLIC (an owner attaches it to a partition it creates),
so a registered table's owner outside graph_admin put its own trigger without
transition tables on its table, made a temporary view ``new_rows`` calling its own
function, and wrote a row: capture read the view as graph_capture, whose one right is
to add log rows, of any table. The owner's function added rows for another owner's
table, which it may neither read nor write, and the next apply put a forged node into
that table's part of the graph (seen failing).

Now, when the session has a temporary relation of either name, capture first checks
that the trigger that fired it declares its transition tables (graph's own always do),
and refuses (42501) otherwise."""

import psycopg
import pytest

from conftest import apply, as_role, connect

OWNER, VICTIM = "gs_tr_owner", "gs_tr_victim"


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        for role in (OWNER, VICTIM):
            c.execute(f"DROP ROLE IF EXISTS {role}")
            c.execute(f"CREATE ROLE {role} LOGIN")
        c.execute(f"CREATE SCHEMA own_tr AUTHORIZATION {OWNER}")
        c.execute(f"CREATE SCHEMA vic_tr AUTHORIZATION {VICTIM}")
        c.execute("CREATE TABLE public.tr_calls (who name, what text)")
        c.execute("GRANT INSERT, SELECT ON public.tr_calls TO PUBLIC")
    with as_role(db, VICTIM) as v:
        v.execute("CREATE TABLE vic_tr.v (id int PRIMARY KEY, name text)")
        v.execute("INSERT INTO vic_tr.v VALUES (1, 'real')")
    with connect(db) as c:
        victim = c.execute("SELECT 'vic_tr.v'::regclass::oid").fetchone()[0]
    with as_role(db, OWNER) as o:
        o.execute("CREATE TABLE own_tr.t (id int PRIMARY KEY, name text)")
        o.execute("INSERT INTO own_tr.t VALUES (1, 'a'), (2, 'b')")
        # Records who runs it and, as whoever may, logs a node for the victim's table.
        o.execute(f"""
            CREATE FUNCTION own_tr.forge() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO public.tr_calls VALUES (current_user, 'forge');
                INSERT INTO graph._sync_log (op, table_oid, table_name, pk, new_pk, properties, new_row)
                VALUES ('I', {victim}, 'vic_tr.v', '666', '666', '{{"name": "forged"}}', '{{}}');
                RETURN 1;
            EXCEPTION WHEN insufficient_privilege THEN
                RETURN 0;
            END $$""")
        o.execute("GRANT USAGE ON SCHEMA own_tr TO PUBLIC")
    with connect(db) as c:
        c.execute("SELECT graph.add_table('own_tr.t', ARRAY['id'], ARRAY['name'])")
        c.execute("SELECT graph.add_table('vic_tr.v', ARRAY['id'], ARRAY['name'])")
        c.execute("SELECT graph.build()")
        capture = c.execute("SELECT format('graph.%I()', '_capture_' || 'own_tr.t'::regclass::oid)").fetchone()[0]
    return db, capture


def _victims_nodes(db):
    with connect(db) as c:
        apply(c)
        return c.execute("SELECT pk, properties->>'name' FROM graph._nodes"
                         " WHERE table_oid = 'vic_tr.v'::regclass ORDER BY pk").fetchall()


EVENTS = {
    "insert": ("INSERT", "new_rows", "INSERT INTO own_tr.t VALUES (10, 'x')"),
    "update": ("UPDATE", "new_rows", "UPDATE own_tr.t SET name = 'c' WHERE id = 1"),
    "delete": ("DELETE", "old_rows", "DELETE FROM own_tr.t WHERE id = 2"),
}


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_an_owners_trigger_without_transition_tables_reads_no_view_of_its_own_as_graph_capture(world, event):
    db, capture = world
    op, name, write = EVENTS[event]
    with as_role(db, OWNER) as o:
        o.execute(f"CREATE TRIGGER mine AFTER {op} ON own_tr.t FOR EACH STATEMENT EXECUTE FUNCTION {capture}")
        try:
            for view in ("new_rows", "old_rows"):
                o.execute(f"CREATE TEMP VIEW {view} AS SELECT 99 AS id, 'z'::text AS name, own_tr.forge() AS f")
                o.execute(f"GRANT SELECT ON pg_temp.{view} TO PUBLIC")
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
                o.execute(write)
            assert "transition tables" in str(err.value) and "mine" in str(err.value)
        finally:
            o.execute("DROP TRIGGER mine ON own_tr.t")
    with connect(db) as c:
        assert c.execute("SELECT who, what FROM public.tr_calls").fetchall() == []
    assert _victims_nodes(db) == [("1", "real")]


def test_graphsyncs_own_triggers_read_their_transition_tables_beside_a_temporary_table_of_their_name(world):
    """An application's own temporary table called new_rows changes nothing: the
    statement's rows are logged, not the temporary table's."""
    db, _ = world
    with as_role(db, OWNER) as o:
        o.execute("CREATE TEMP TABLE new_rows (id int, name text)")
        o.execute("CREATE TEMP TABLE old_rows (id int, name text)")
        o.execute("INSERT INTO new_rows VALUES (77, 'temp')")
        o.execute("INSERT INTO old_rows VALUES (78, 'temp')")
        o.execute("INSERT INTO own_tr.t VALUES (20, 'real')")
        o.execute("UPDATE own_tr.t SET name = 'changed' WHERE id = 20")
        o.execute("DELETE FROM own_tr.t WHERE id = 20")
    with connect(db) as c:
        logged = c.execute("SELECT op, pk FROM graph._sync_log WHERE table_oid = 'own_tr.t'::regclass"
                           " AND pk IN ('20', '77', '78') ORDER BY id").fetchall()
    assert logged == [("I", "20"), ("U", "20"), ("D", "20")]
