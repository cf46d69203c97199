"""graphsync's operations functions do for a superuser nothing a graph_admin member
who is no superuser chose, outside graphsync's own objects.

graph_admin may write graph._schema_events (GRANT ALL on graphsync's tables), whose
open rows graph._schema_drift() passed on as drift whatever their kind, and
graph.reconcile() repairs drift by its kind, as what the row says. Found in review,
each seen failing:

- Run by a superuser, reconcile enables graphsync's own event triggers
  (ddl_not_followed: only a superuser may). A row the admin wrote of that kind, naming
  another event trigger -- one a superuser had disabled on purpose -- had the
  superuser's reconcile run ``ALTER EVENT TRIGGER <it> ENABLE ALWAYS``: from then on
  its function ran on every role's DDL, superusers' included. A row naming no event
  trigger failed every reconcile, anyone's, with a Python KeyError.
- A key_changed row for a table a superuser registered by a key of its choosing, which
  the admin may not SELECT, had the superuser's reconcile re-key it to its primary key:
  the graph, which graph_admin reads whole, then held the primary key's values.

Now graph._schema_drift() passes on no record of a kind it computes from the catalog
(tables and columns dropped, retyped or replaced, keys changed, capture triggers,
event triggers), and reconcile enables or creates graphsync's three event triggers
only, and only for the finding computed from the catalog (table_oid NULL).

Real roles: ADMIN is a graph_admin member, no superuser; the superuser is the
test's own connection.
"""

import uuid

import pytest
from psycopg import sql

from conftest import as_role, connect

FAKE = ("INSERT INTO graph._schema_events (table_oid, table_name, kind, detail, repair)"
        " VALUES (0, %s, 'ddl_not_followed', 'run graph.reconcile() as a superuser', %s)")
ENABLED = "SELECT evtenabled FROM pg_catalog.pg_event_trigger WHERE evtname = %s"


@pytest.fixture
def world(db):
    suffix = uuid.uuid4().hex[:8]
    adm, audit = "gs_ops_adm_" + suffix, "gs_ops_audit_" + suffix
    with connect(db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(adm)))
        c.execute("CREATE SCHEMA IF NOT EXISTS ops_spy")
        c.execute("CREATE SEQUENCE IF NOT EXISTS ops_spy.runs")
        c.execute("CREATE OR REPLACE FUNCTION ops_spy.audit() RETURNS event_trigger LANGUAGE plpgsql"
                  " SET search_path = pg_catalog AS $$BEGIN PERFORM nextval('ops_spy.runs'); END$$")
        # a superuser's event trigger, switched off on purpose
        c.execute(sql.SQL("CREATE EVENT TRIGGER {} ON ddl_command_end EXECUTE FUNCTION ops_spy.audit()")
                  .format(sql.Identifier(audit)))
        c.execute(sql.SQL("ALTER EVENT TRIGGER {} DISABLE").format(sql.Identifier(audit)))
        # graphsync's own event triggers are drift only while some table is captured
        c.execute("CREATE TABLE ops_spy.people (id int PRIMARY KEY, name text)")
        c.execute("SELECT graph.add_table('ops_spy.people', columns => '{name}')")
        c.execute("SELECT graph.build()")
    try:
        yield db, adm, audit
    finally:
        with connect(db) as c:
            c.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(audit)))
            c.execute("SELECT graph.remove_table('ops_spy.people')")
            c.execute("DROP SCHEMA ops_spy CASCADE")
            c.execute("DELETE FROM graph._schema_events WHERE kind = 'ddl_not_followed'")
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(adm)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(adm)))


def test_an_admins_drift_row_enables_no_event_trigger_as_a_superuser(world):
    """(A row for reconcile, repair 'reconcile', reconcile resolves before it repairs
    drift: the row for a rebuild was the one acted on.)"""
    db, adm, audit = world
    with as_role(db, adm) as a:
        a.execute(FAKE, (audit, "rebuild"))
    with connect(db) as c:
        actions = c.execute("SELECT action, table_name, detail FROM graph.reconcile()").fetchall()
        assert not [a for a in actions if a[0] in ("failed", "enabled_event_trigger")], actions
        assert c.execute(ENABLED, (audit,)).fetchone()[0] == "D"
        c.execute("CREATE TABLE ops_spy.after (a int)")
        assert c.execute("SELECT is_called FROM ops_spy.runs").fetchone()[0] is False  # never ran


def test_an_admins_drift_row_naming_no_event_trigger_fails_no_reconcile(world):
    db, adm, _ = world
    with as_role(db, adm) as a:
        a.execute(FAKE, ("gs_no_such_trigger", "rebuild"))
        actions = a.execute("SELECT action, table_name, detail FROM graph.reconcile()").fetchall()
        assert not [a for a in actions if a[0] == "failed"], actions
        a.execute(FAKE, ("gs_no_such_trigger", "rebuild"))
    with connect(db) as c:
        actions = c.execute("SELECT action, table_name, detail FROM graph.reconcile()").fetchall()
        assert not [a for a in actions if a[0] == "failed"], actions
        assert c.execute(ENABLED, ("gs_no_such_trigger",)).fetchone() is None


def test_an_admins_drift_row_rekeys_no_table_it_may_not_read(world):
    """A key_changed row the admin wrote for a table a superuser registered by a key
    of its choosing (email, not the primary key ssn), which the admin may not SELECT:
    the superuser's reconcile re-keyed the table to its primary key, and the graph,
    which graph_admin reads whole (graph._node_rows), then held every ssn."""
    db, adm, _ = world
    with connect(db) as c:
        c.execute("CREATE TABLE ops_spy.staff (ssn text PRIMARY KEY, email text NOT NULL UNIQUE, dept text)")
        c.execute("INSERT INTO ops_spy.staff VALUES ('123-45-6789', 'ada@example.com', 'r&d')")
        c.execute("SELECT graph.add_table('ops_spy.staff', id_columns => '{email}', columns => '{dept}')")
        c.execute("SELECT graph.build()")
        oid = c.execute("SELECT 'ops_spy.staff'::regclass::oid").fetchone()[0]
    try:
        with as_role(db, adm) as a:
            assert not a.execute("SELECT has_table_privilege(%s::oid, 'SELECT')", (oid,)).fetchone()[0]
            a.execute("INSERT INTO graph._schema_events (table_oid, table_name, column_name, kind, detail, repair)"
                      " VALUES (%s, 'ops_spy.staff', 'email', 'key_changed', 'run graph.reconcile()', 'rebuild')",
                      (oid,))
        with connect(db) as c:
            c.execute("SELECT * FROM graph.reconcile()").fetchall()
            assert c.execute("SELECT id_columns FROM graph._node_tables WHERE table_oid = %s",
                             (oid,)).fetchone()[0] == ["email"]
        with as_role(db, adm) as a:
            assert a.execute("SELECT count(*) FROM graph._node_rows AS n WHERE n::text LIKE '%%123-45-6789%%'"
                             ).fetchone()[0] == 0
    finally:
        with connect(db) as c:
            c.execute("SELECT graph.remove_table('ops_spy.staff')")
            c.execute("DELETE FROM graph._schema_events WHERE table_oid = %s", (oid,))


def test_a_superusers_reconcile_still_enables_graphsyncs_own(world):
    """The control: graphsync's own event trigger, disabled, is enabled ALWAYS again."""
    db, _, _ = world
    with connect(db) as c:
        c.execute("ALTER EVENT TRIGGER graphsync_follow_subscription DISABLE")
        actions = c.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("enabled_event_trigger", "graphsync_follow_subscription") in actions
        assert c.execute(ENABLED, ("graphsync_follow_subscription",)).fetchone()[0] == "A"
