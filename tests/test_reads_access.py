"""Graph reads: freshness, backend caches across generations, privileges, tenants,
filters, hydration, search, and bad input -- on the demo schema."""

import time

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from conftest import ROOT, apply, connect

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()

REACH = ("SELECT node_table::text, node_id FROM graph.traverse('app.companies', '5', max_depth => 1,"
         " direction => 'in') WHERE depth = 1 ORDER BY 1, 2")


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 20) g")
        c.execute("""INSERT INTO app.contacts SELECT g, 1 + g % 2, 'c' || g, 'c' || g || '@x.org',
                         CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 20 END FROM generate_series(1, 100) g""")
        c.execute("INSERT INTO app.projects SELECT g, 1 + g % 2, 'p' || g, CASE WHEN g % 2 = 0 THEN 'open'"
                  " ELSE 'closed' END FROM generate_series(1, 10) g")
        c.execute("INSERT INTO app.tasks SELECT g, 1 + g % 2, 't' || g, CASE WHEN g % 3 = 0 THEN 'done'"
                  " ELSE 'open' END, 1 + g % 10, 1 + g % 100 FROM generate_series(1, 60) g")
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        c.execute("DROP ROLE IF EXISTS gs_reader; CREATE ROLE gs_reader")
        c.execute("GRANT USAGE ON SCHEMA app TO gs_reader")
        c.execute("GRANT SELECT ON app.companies, app.projects, app.tasks TO gs_reader")
    return db


def reach(conn):
    return [tuple(r) for r in conn.execute(REACH).fetchall()]


def test_a_write_is_visible_to_the_next_statement(app):
    with connect(app) as c:
        c.execute("INSERT INTO app.contacts VALUES (500, 1, 'new', NULL, 5)")
        time.sleep(1.2)  # a read applies (rather than folds) once the last apply is a second old
        assert ("app.contacts", "500") in reach(c)
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0  # applied by the read


def test_a_read_only_transaction_folds_pending_rows_in_memory(app):
    with connect(app) as c, connect(app) as w:
        w.execute("INSERT INTO app.contacts VALUES (501, 1, 'ro', NULL, 5)")
        w.execute("UPDATE app.contacts SET company_id = 6 WHERE id = 500")
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            found = reach(c)
        assert ("app.contacts", "501") in found and ("app.contacts", "500") not in found
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 2  # nothing written
        c.execute("SET graph.query_freshness = 'off'")
        assert ("app.contacts", "501") not in reach(c)


def test_a_busy_replay_lock_does_not_block_a_read(app):
    with connect(app) as c, connect(app) as holder, connect(app) as w:
        w.execute("INSERT INTO app.contacts VALUES (502, 1, 'busy', NULL, 5)")
        holder.execute("BEGIN")
        holder.execute("SELECT FROM graph._sync_state FOR UPDATE")  # as apply_sync or build would
        c.execute("SET lock_timeout = '2s'")
        assert ("app.contacts", "502") in reach(c)
        holder.execute("COMMIT")


def test_own_uncommitted_writes_are_read_and_error_on_pending(app):
    with connect(app) as c, connect(app) as w:
        with c.transaction():
            c.execute("INSERT INTO app.contacts VALUES (503, 1, 'mine', NULL, 5)")
            assert ("app.contacts", "503") in reach(c)
        w.execute("INSERT INTO app.contacts VALUES (504, 1, 'theirs', NULL, 5)")
        c.execute("SET graph.query_freshness = 'error_on_pending'")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="not applied yet"):
            reach(c)
        apply(w)
        assert ("app.contacts", "504") in reach(c)


def test_a_new_generation_is_loaded_by_new_and_old_backends(app):
    with connect(app) as old, connect(app) as admin:
        old.execute("SET graph.query_freshness = 'off'")
        before = reach(old)
        admin.execute("ALTER TABLE app.contacts DISABLE TRIGGER USER")  # a change only a build sees
        admin.execute("INSERT INTO app.contacts VALUES (600, 1, 'silent', NULL, 5)")
        admin.execute("ALTER TABLE app.contacts ENABLE TRIGGER USER")
        assert reach(old) == before
        generation = admin.execute("SELECT generation FROM graph.build()").fetchone()[0]
        assert ("app.contacts", "600") in reach(old)  # reloaded
        with connect(app) as new:
            assert ("app.contacts", "600") in reach(new)
            assert new.execute("SELECT generation FROM graph._sync_state").fetchone()[0] == generation


def test_a_role_never_gets_nodes_of_tables_it_cannot_select(app):
    with connect(app) as c, connect(app) as w:
        c.execute("SET ROLE gs_reader")
        assert reach(c) == []  # the company's contacts are not readable
        tables = {r[0] for r in c.execute("SELECT node_table::text FROM graph.traverse('app.tasks', '1',"
                                          " max_depth => 5, direction => 'any')")}
        assert tables <= {"app.companies", "app.projects", "app.tasks"} and "app.tasks" in tables
        comps = {r[0] for r in c.execute("SELECT DISTINCT node_table::text FROM graph.connected_components()")}
        assert comps == {"app.companies", "app.projects", "app.tasks"}
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'app.contacts'::regclass"
                         ).fetchone()[0] == 0  # row-level security
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM graph.traverse('app.contacts', '1')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM graph._sync_log")
        assert c.execute("SELECT count(*) FROM graph._pending_rows('postgres', 10)").fetchone()[0] == 0
        # Pending rows of a table it cannot read are not folded into its reads either.
        w.execute("INSERT INTO app.contacts VALUES (700, 1, 'hidden', NULL, 5)")
        w.execute("INSERT INTO app.tasks VALUES (700, 1, 'seen', 'open', 1, 700)")
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            rows = c.execute("SELECT node_table::text, node_id FROM graph.traverse('app.projects', '1',"
                             " direction => 'any', max_depth => 2)").fetchall()
        assert ("app.tasks", "700") in rows and not any(t == "app.contacts" for t, _ in rows)
        c.execute("RESET ROLE")


@pytest.mark.parametrize("role, twin", [("Graph Reader", None), ("Reader", "reader")])
def test_a_role_whose_name_is_no_plain_identifier_reads_the_rows_committed_since(app, role, twin):
    """START named the caller to graph._read_sync and graph._pending_columns as
    current_user::regrole, which parses the name as SQL would an unquoted identifier: a
    read with pending rows by "Graph Reader" failed (invalid name syntax), and one by
    "Reader" named "reader" instead -- another role, when it exists, whose pending rows
    graph._pending_columns gives no one but itself: the read left out the rows committed
    since and said nothing."""
    names = [n for n in (role, twin) if n]
    with connect(app) as c, connect(app) as w:
        for n in names:
            c.execute(SQL("DROP ROLE IF EXISTS {0}; CREATE ROLE {0}").format(Identifier(n)))
        c.execute(SQL("GRANT USAGE ON SCHEMA app TO {0}; GRANT SELECT ON app.companies, app.contacts TO {0}"
                      ).format(Identifier(role)))
        try:
            c.execute(SQL("SET ROLE {}").format(Identifier(role)))
            before = reach(c)
            contact = 720 + len(role)
            w.execute("INSERT INTO app.contacts VALUES (%s, 1, 'quoted', NULL, 5)", (contact,))
            with c.transaction():
                c.execute("SET TRANSACTION READ ONLY")  # folds the row: a read-only read applies nothing
                assert reach(c) == sorted([*before, ("app.contacts", str(contact))])
            w.execute("UPDATE app.contacts SET company_id = 6 WHERE id = %s", (contact,))
            assert reach(c) == before  # a read that may apply
            c.execute("RESET ROLE")
        finally:
            c.execute("RESET ROLE")
            for n in names:
                c.execute(SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(Identifier(n)))

def test_tenant_filter_node_tables_and_hydrate(app):
    with connect(app) as c:
        rows = c.execute("SELECT node_table::text, node_id FROM graph.traverse('app.workspaces', '1',"
                         " max_depth => 3, direction => 'any', tenant => '2')").fetchall()
        assert rows == []  # workspace 1 is tenant 1: a seed outside the tenant is not entered either
        tenants = c.execute("SELECT DISTINCT n.tenant FROM graph.traverse('app.projects', '2', max_depth => 4,"
                            " direction => 'any', tenant => '1') AS t JOIN graph._nodes AS n"
                            " ON n.table_oid = t.node_table AND n.pk = t.node_id").fetchall()
        assert tenants == [("1",)]
        c.execute("SET graph.tenant = '1'")
        assert c.execute("SELECT count(*) FROM graph.traverse('app.projects', '3', direction => 'any')"
                         ).fetchone()[0] == 0  # project 3 is in workspace 2
        assert c.execute("SELECT count(*) FROM graph.traverse('app.projects', '2', direction => 'any')"
                         ).fetchone()[0] == 1  # project 2 is in workspace 1, its tasks all in workspace 2
        c.execute("SET graph.tenant = '2'")
        assert c.execute("SELECT count(*) FROM graph.traverse('app.projects', '2', direction => 'any')"
                         ).fetchone()[0] == 0
        c.execute("RESET graph.tenant")
        statuses = c.execute("SELECT DISTINCT p.status FROM graph.traverse('app.tasks', '1', max_depth => 3,"
                             " direction => 'any', filter => '{\"status\": \"open\"}', node_tables => "
                             "'{app.tasks,app.projects}') AS t JOIN app.projects AS p ON t.node_table ="
                             " 'app.projects'::regclass AND p.id = t.node_id::int").fetchall()
        assert statuses == [("open",)]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="filter column"):
            c.execute("SELECT * FROM graph.traverse('app.tasks', '2', filter => '{\"nope\": 1}')")
        # hydrate reads the source as the caller: row-level security hides rows, and they are not entered
        c.execute("ALTER TABLE app.projects ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY closed_only ON app.projects FOR SELECT USING (status = 'closed')")
        c.execute("GRANT SELECT ON app.contacts TO gs_reader")
        query = ("SELECT node_table::text, node_id, node FROM graph.traverse('app.tasks', '1',"
                 " direction => 'any', max_depth => 2, hydrate => true)")
        unrestricted = c.execute(query).fetchall()
        assert ("app.projects", "2") in [r[:2] for r in unrestricted]  # task 1 is in open project 2
        c.execute("SET ROLE gs_reader")
        rows = c.execute(query).fetchall()
        c.execute("RESET ROLE")
        assert rows[0][:2] == ("app.tasks", "1") and rows[0][2] == {"id": 1, "title": "t1", "status": "open"}
        assert not [r for r in rows if r[0] == "app.projects"]  # project 2: hidden by its row-level security
        assert not [r for r in rows if r[0] == "app.tasks" and r[1] != "1"]  # nor entered to reach its tasks
        c.execute("DROP POLICY closed_only ON app.projects")
        c.execute("ALTER TABLE app.projects DISABLE ROW LEVEL SECURITY")
        c.execute("REVOKE SELECT ON app.contacts FROM gs_reader")


def test_search_and_traverse_search(app):
    with connect(app) as c:
        rows = c.execute("SELECT node_table::text, node_id, matched FROM graph.search('name', 'co1',"
                         " mode => 'prefix', max_rows => 50) ORDER BY 2").fetchall()
        assert {r[1] for r in rows} == {"1", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19"}
        assert c.execute("SELECT count(*) FROM graph.search('name', 'CO2', case_sensitive => false)"
                         ).fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM graph.search('email', '7@x', mode => 'contains')").fetchone()[0] == 10
        assert c.execute("SELECT count(*) FROM graph.search('name', '%', mode => 'contains')").fetchone()[0] == 0
        got = c.execute("SELECT node_id, depth FROM graph.traverse_search('name', 'co5', max_depth => 1,"
                        " direction => 'in') ORDER BY 2, 1").fetchall()
        assert got[0] == ("5", 0) and len(got) > 1
        with pytest.raises(psycopg.errors.UndefinedColumn):
            c.execute("SELECT * FROM graph.search('nope', 'x')")


@pytest.mark.parametrize("sql, error", [
    ("graph.traverse('app.nope', '1')", psycopg.errors.UndefinedTable),
    ("graph.traverse('app.relations', '1')", psycopg.errors.ObjectNotInPrerequisiteState),
    ("graph.traverse('app.contacts', '1', max_depth => -1)", psycopg.errors.InvalidParameterValue),
    ("graph.traverse('app.contacts', '1', max_depth => 100000)", psycopg.errors.InvalidParameterValue),
    ("graph.traverse('app.contacts', '1', direction => 'up')", psycopg.errors.InvalidParameterValue),
    ("graph.traverse('app.contacts', '1', strategy => 'random')", psycopg.errors.InvalidParameterValue),
    ("graph.traverse('app.contacts', '1', max_nodes => 0)", psycopg.errors.InvalidParameterValue),
    ("graph.traverse('app.contacts', 'abc')", psycopg.errors.InvalidTextRepresentation),
    ("graph.traverse('app.contacts', NULL)", psycopg.errors.NullValueNotAllowed),
    ("graph.traverse(seed_tables => '{app.contacts}', seed_ids => '{1,2}')", psycopg.errors.InvalidParameterValue),
    ("graph.shortest_path('app.contacts', '1', 'app.contacts', '2', direction => 'x')",
     psycopg.errors.InvalidParameterValue),
    ("graph.search('name', 'x', mode => 'fuzzy')", psycopg.errors.InvalidParameterValue),
    ("graph.component_of('app.nope', '1')", psycopg.errors.UndefinedTable),
])
def test_bad_input_is_a_clear_error(app, sql, error):
    with connect(app) as c:
        with pytest.raises(error):
            c.execute("SELECT * FROM " + sql)


def test_every_bound_of_search_and_paths_holds(app):
    """search's max_rows, traverse_search's max_seeds and shortest_path's max_depth
    bound what comes back: twelve contacts' names start with 'c1'."""
    with connect(app) as c:
        found = "SELECT count(*) FROM graph.search('name', 'c1', mode => 'prefix', max_rows => %s)"
        assert c.execute(found, (1000,)).fetchone()[0] == 12
        assert c.execute(found, (5,)).fetchone()[0] == 5
        seeds = ("SELECT count(*) FILTER (WHERE depth = 0), count(*) FROM graph.traverse_search("
                 "'name', 'c1', mode => 'prefix', max_seeds => %s, max_depth => 1)")
        every, three = c.execute(seeds, (1000,)).fetchone(), c.execute(seeds, (3,)).fetchone()
        assert every[0] == 12 and three[0] == 3 and three[1] < every[1]
        # contact 1 works at company 2, which is in workspace 1: two edges
        path = "SELECT count(*) FROM graph.shortest_path('app.contacts', '1', 'app.workspaces', '1', max_depth => %s)"
        assert c.execute(path, (2,)).fetchone()[0] == 3 and c.execute(path, (1,)).fetchone()[0] == 0


def test_caps_and_unknown_nodes(app):
    with connect(app) as c:
        rows = c.execute("SELECT capped FROM graph.traverse('app.workspaces', '1', max_depth => 10,"
                         " direction => 'any', max_nodes => 5)").fetchall()
        assert len(rows) == 5 and all(r[0] for r in rows)
        assert c.execute("SELECT count(*) FROM graph.traverse('app.contacts', '99999')").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM graph.traverse('app.contacts', '007', max_depth => 0)"
                         ).fetchone()[0] == 1  # normalised through the key type
        assert c.execute("SELECT count(*) FROM graph.shortest_path('app.contacts', '1', 'app.contacts', '99999')"
                         ).fetchone()[0] == 0
        c.execute("""DO $$
from graphsync.sync import base as state
assert state.cache_nbytes() > 0, state.cache_nbytes()
$$ LANGUAGE plpython3u""")
