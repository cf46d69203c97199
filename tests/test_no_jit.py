"""No statement of graphsync's is JIT-compiled on a small graph with the server's
default settings (jit on, jit_above_cost 100,000). A statement that may find its rows
only through an index runs with enable_seqscan off; a table it then reads with no
index to use costs some 10^10 to the planner, past every JIT threshold, and its few
rows were compiled for at each call: some 30 ms of a 2 ms sync_health(), 130 ms of a
prune, 230-360 ms of a scheduled maintenance run that had 10 ms of work. Seen, not
timed: auto_explain reports every statement's plan, nested ones included, to the
client, and no plan may say JIT."""

import pytest

from conftest import ROOT, apply, connect, verify

SCHEMA = (ROOT / "demo" / "schema.sql").read_text()
REGISTER = (ROOT / "demo" / "register.sql").read_text()

# What a monitor, pg_cron, an admin and an application call, one after the other
CALLS = (
    "graph.sync_health()",
    "graph.status()",
    "graph.apply_sync()",
    "graph.run_scheduled_maintenance()",
    "graph.prune_sync_log()",
    "graph.retry_failed()",
    "graph.verify()",
    "graph.changed_nodes(0)",
    "graph.traverse('app.companies', '1')",
    "graph.shortest_path('app.contacts', '1', 'app.companies', '2')",
    "graph.connected_components()",
    "graph.reconcile()",
    "graph.build()",
)

# Rows of every kind for replay: nodes inserted, FK edges moved, join rows inserted,
# updated and deleted, nodes deleted (%(lo)s: this call's own key range).
WRITES = (
    "INSERT INTO app.contacts SELECT g, 1 + g %% 2, 'c' || g, NULL, 1 + g %% 20"
    " FROM generate_series(%(lo)s, %(lo)s + 20) g",
    "UPDATE app.contacts SET company_id = 1 + (company_id + 1) %% 20 WHERE id BETWEEN %(lo)s AND %(lo)s + 5",
    "INSERT INTO app.relations (source_id, target_id, type)"
    " SELECT g, g + 1, 'knows' FROM generate_series(%(lo)s, %(lo)s + 9) g",
    "UPDATE app.relations SET type = 'met' WHERE source_id BETWEEN %(lo)s AND %(lo)s + 3",
    "DELETE FROM app.relations WHERE source_id BETWEEN %(lo)s + 4 AND %(lo)s + 6",
    "DELETE FROM app.contacts WHERE id = %(lo)s + 20",
)

# Registration and DDL the registry follows (event triggers), each a statement
DDL = (
    "CREATE TABLE app.notes (id int PRIMARY KEY, body text, contact_id int REFERENCES app.contacts)",
    "SELECT graph.add_table('app.notes', columns => '{body}')",
    "SELECT graph.add_edge('app.notes', 'contact_id', 'app.contacts', label => 'about')",
    "ALTER TABLE app.notes RENAME COLUMN body TO text",
    "ALTER TABLE app.deals RENAME COLUMN title TO name",
    "ALTER TABLE app.notes ADD COLUMN extra int",
    "SELECT graph.remove_edge('app.notes', 'contact_id', 'app.contacts')",
    "SELECT graph.remove_table('app.notes')",
    "DROP TABLE app.notes",
)


@pytest.fixture(scope="module")
def app(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        c.execute("INSERT INTO app.workspaces VALUES (1, 'acme'), (2, 'globex')")
        c.execute("INSERT INTO app.companies SELECT g, 1 + g % 2, 'co' || g FROM generate_series(1, 20) g")
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
    return db


def explaining(c):
    """``c`` with every plan it runs, nested ones included, sent to it as a NOTICE,
    under the server's default JIT settings."""
    c.execute("LOAD 'auto_explain'")
    for setting in ("jit = on", "jit_above_cost = 100000", "auto_explain.log_min_duration = 0",
                    "auto_explain.log_nested_statements = on", "auto_explain.log_level = notice",
                    "client_min_messages = notice"):
        c.execute("SET " + setting)
    return c


def jit_compiled(c, statement):
    """The statements ``statement`` ran (itself and every nested one) whose plan was JIT-compiled."""
    plans = []

    def note(d):
        plans.append(d.message_primary or "")

    c.add_notice_handler(note)
    try:
        c.execute(statement)
    finally:
        c.remove_notice_handler(note)
    assert plans, f"auto_explain reported no plan of {statement}"
    return [p for p in plans if "\nJIT:" in p]


@pytest.mark.parametrize("pending", [False, True], ids=["at_rest", "rows_pending"])
def test_no_statement_is_jit_compiled(app, pending):
    with connect(app) as w, explaining(connect(app)) as c:
        compiled = {}
        for i, call in enumerate(CALLS):
            if pending:  # each call finds rows committed and not applied yet
                for write in WRITES:
                    w.execute(write, {"lo": 1000 * (i + 1)})
            compiled[call] = jit_compiled(c, "SELECT * FROM " + call)
        assert not any(compiled.values()), {k: v for k, v in compiled.items() if v}
        assert apply(w)["failed"] == 0
        assert verify(w) == []


def test_no_registration_or_followed_ddl_is_jit_compiled(app):
    with explaining(connect(app)) as c:
        compiled = {statement: jit_compiled(c, statement) for statement in DDL}
        assert not any(compiled.values()), {k: v for k, v in compiled.items() if v}
        assert apply(c)["failed"] == 0
        c.execute("SELECT graph.build()")  # a renamed property's name (the nodes'), as verify says
        assert verify(c) == []


READS = (
    "graph.traverse('app.companies', '1', direction => 'any', max_depth => 3)",
    "graph.shortest_path('app.contacts', '1', 'app.companies', '2')",
    "graph.connected_components()",
    "graph.sync_health()",
)


def test_no_read_under_row_level_security_is_jit_compiled(app):
    """A role's reads under the source tables' policies (graph._nodes' and the join
    table's statements, graph._labels'), with rows pending, and its health."""
    with connect(app) as w, explaining(connect(app)) as c:
        w.execute("DROP ROLE IF EXISTS gs_jit_reader; CREATE ROLE gs_jit_reader")
        w.execute("GRANT USAGE ON SCHEMA app TO gs_jit_reader")
        w.execute("GRANT SELECT ON ALL TABLES IN SCHEMA app TO gs_jit_reader")
        for table in ("contacts", "relations"):
            w.execute(f"ALTER TABLE app.{table} ENABLE ROW LEVEL SECURITY")
            w.execute(f"CREATE POLICY jit_reader ON app.{table} FOR SELECT USING (id % 3 <> 0)")
        try:
            c.execute("SET ROLE gs_jit_reader")
            compiled = {}
            for i, read in enumerate(READS):
                for write in WRITES:
                    w.execute(write, {"lo": 20000 + 1000 * i})
                compiled[read] = jit_compiled(c, "SELECT * FROM " + read)
            assert not any(compiled.values()), {k: v for k, v in compiled.items() if v}
        finally:
            for table in ("contacts", "relations"):
                w.execute(f"DROP POLICY jit_reader ON app.{table}")
                w.execute(f"ALTER TABLE app.{table} DISABLE ROW LEVEL SECURITY")
        assert apply(w)["failed"] == 0
