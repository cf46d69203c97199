"""graph.traverse is a SQL function the caller's query takes in (inlined): no
PL/pgSQL call or RETURN QUERY copy per read (a tenth of a depth-2 read). What that
asks of it, each shown here:
- the planner inlines it (a SET clause, VOLATILE or a second statement would stop
  that silently: the plan shows graph._traverse's scan, not traverse's);
- with no search_path of its own, every name it uses is schema-qualified: functions
  planted under the caller's search_path, ahead of pg_catalog, are never called;
- graph._traverse returns an error as columns and graph._raise_error raises it: the
  caller gets SQLSTATE, message, detail and hint, and CONTEXT names only
  graph._raise_error (and traverse itself when it is not inlined), a cancel
  inside the read included."""

import psycopg
import pytest

from conftest import as_role, connect
from test_errors import assert_clean, error_of

MAL = "gs_inl_mal"

SETUP = f"""
CREATE SCHEMA inl;
CREATE TABLE inl.items (id int PRIMARY KEY, next int, name text);
INSERT INTO inl.items SELECT g, CASE WHEN g < 5 THEN g + 1 END, 'item ' || g FROM generate_series(1, 5) AS g;
SELECT graph.add_table('inl.items', columns => '{{name}}');
SELECT graph.add_edge('inl.items', 'next', 'inl.items', label => 'next');
SELECT graph.build();
CREATE ROLE {MAL} LOGIN;
GRANT USAGE ON SCHEMA inl TO {MAL};
GRANT SELECT ON inl.items TO {MAL};
CREATE SCHEMA mal AUTHORIZATION {MAL};
CREATE SEQUENCE public.inl_planted_calls;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE public.inl_planted_calls TO PUBLIC;
"""

# Every function name graph.traverse's body uses, planted for each argument type it
# passes, in a schema ahead of pg_catalog on the caller's search_path.
PLANTED = """
CREATE FUNCTION mal.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN; END $$;
CREATE FUNCTION mal.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN; END $$;
CREATE FUNCTION mal.unnest(oid[]) RETURNS SETOF oid LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN; END $$;
CREATE FUNCTION mal.unnest(int4[]) RETURNS SETOF int4 LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN; END $$;
CREATE FUNCTION mal.unnest(jsonb[]) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN; END $$;
CREATE FUNCTION mal.regclass(oid) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN NULL; END $$;
CREATE FUNCTION mal.oid(regclass) RETURNS oid LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.nextval('public.inl_planted_calls'); RETURN NULL; END $$;
CREATE TABLE mal.graph (x int);
"""

READ = "SELECT node_id, depth, parent_id, edge_label FROM graph.traverse('inl.items', '1', max_depth => 2)"
ANSWER = [("1", 0, None, None), ("2", 1, "1", "next"), ("3", 2, "2", "next")]


def planted_calls(c):
    return c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.inl_planted_calls"
                     ).fetchone()[0]


@pytest.fixture(scope="module")
def inl(db):
    with connect(db) as c:
        c.execute(f"DROP ROLE IF EXISTS {MAL}")
        c.execute(SETUP)
    with as_role(db, MAL) as m:
        m.execute(PLANTED)
    yield db
    with connect(db) as c:
        c.execute("SELECT graph.remove_table('inl.items', cascade => true)")
        c.execute("DROP SCHEMA inl, mal CASCADE")
        c.execute("DROP SEQUENCE public.inl_planted_calls")
        c.execute(f"DROP OWNED BY {MAL}")
        c.execute(f"DROP ROLE {MAL}")


def test_the_planner_takes_traverse_into_the_callers_query(inl):
    with connect(inl) as c:
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN (VERBOSE) " + READ))
        assert "Function Scan on graph._traverse" in plan, plan
        assert "Function Scan on traverse" not in plan, plan
        assert c.execute(READ).fetchall() == ANSWER


@pytest.mark.parametrize("ordinality", [False, True], ids=["inlined", "with ordinality: not inlined"])
def test_names_planted_ahead_of_pg_catalog_are_never_called(inl, ordinality):
    read = READ + (" WITH ORDINALITY" if ordinality else "")
    with as_role(inl, MAL) as m:
        m.execute("SET search_path = mal, pg_catalog, public")
        before = planted_calls(m)
        assert m.execute(read).fetchall() == ANSWER
        assert planted_calls(m) == before
        m.execute("SET search_path = mal, pg_catalog, public")
        err = error_of(m, read.replace("max_depth => 2", "max_depth => -1"))
        assert_clean(err, "22023", "max_depth")
        assert planted_calls(m) == before


@pytest.mark.parametrize(("call", "sqlstate", "fragment"), [
    ("graph.traverse('inl.items', '1', max_depth => -1)", "22023", "max_depth"),
    ("graph.traverse('inl.items', 'x')", "22P02", "is not an id of inl.items"),
    ("graph.traverse('inl.items', '1', direction => 'up')", "22023", "direction"),
    ("graph.traverse('inl.items', '1', edge_types => '{NULL}')", "22004", "edge_types"),
    ("graph.traverse(seed_tables => '{inl.items}', seed_ids => '{1,2}')", "22023", None),
])
@pytest.mark.parametrize("form", ["SELECT * FROM {}", "SELECT * FROM {} WITH ORDINALITY", "SELECT {}"])
def test_an_error_reaches_the_caller_as_its_own(inl, call, sqlstate, fragment, form):
    """In the caller's query (inlined) or run as a function of its own (WITH
    ORDINALITY, or in a select list): SQLSTATE, message and detail as raised;
    CONTEXT names graph._raise_error, and the SQL function traverse when it ran as
    one, nothing else."""
    with connect(inl) as c:
        err = error_of(c, form.format(call))
    assert_clean(err, sqlstate, fragment)
    assert err.diag.message_primary.startswith("graphsync: ")
    assert err.diag.context.startswith("PL/pgSQL function graph._raise_error(text,text,text,text) line ")


def test_a_statement_timeout_inside_the_read_is_57014_without_internals(inl):
    """A reader's hydrating read runs the table's policy (here slow: 50 ms a row) as
    the reader; the timeout lands in graphsync's statement inside the read, which
    returns it as columns: 57014 in PostgreSQL's own words."""
    with connect(inl) as c:
        c.execute("ALTER TABLE inl.items ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY slow ON inl.items USING (pg_catalog.pg_sleep(0.05) IS NOT NULL)")
    try:
        with as_role(inl, MAL) as m:
            m.execute("SET statement_timeout = '120ms'")
            err = error_of(m, "SELECT * FROM graph.traverse('inl.items', '1', hydrate => true)")
        assert_clean(err, "57014")
        assert err.diag.message_primary == "canceling statement due to statement timeout"
    finally:
        with connect(inl) as c:
            c.execute("DROP POLICY slow ON inl.items")
            c.execute("ALTER TABLE inl.items DISABLE ROW LEVEL SECURITY")


@pytest.mark.parametrize(("module", "words"), [("graphsync.reads.api", "RuntimeError: api broken"),
                                               ("graphsync.errors", "RuntimeError: errors broken")])
def test_a_package_that_will_not_load_is_an_error_without_internals(inl, module, words):
    """A module that raises on import (a new backend loads the package from
    graph._py_modules, here changed in the caller's own transaction, rolled back):
    the read fails with PL/Python's words for it (38000), CONTEXT naming
    graph._raise_error only -- when graphsync.errors itself will not load too."""
    with connect(inl) as c:
        with pytest.raises(psycopg.errors.ExternalRoutineException) as info:
            with c.transaction():
                c.execute("UPDATE graph._py_modules SET source = %s WHERE name = %s",
                          ("raise RuntimeError(%r)" % words.split(": ")[1], module))
                c.execute(READ)
    assert_clean(info.value, "38000", words)
    assert info.value.diag.message_primary == words
    with connect(inl) as c:
        assert c.execute(READ).fetchall() == ANSWER
