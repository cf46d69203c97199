"""Schema changes never break the application's writes: graphsync's event triggers
(graph._follow_ddl) keep capture in step with DDL on registered tables, run by
the table's owner, a real role that is neither superuser nor graph_admin.

Renames are followed (the registration takes the new name, pending log rows too),
drops unregister what they drop with a WARNING and a health record, retypes and
table renames regenerate capture, a dropped table is unregistered; a failure to
follow never fails the DDL and never leaves a capture that fails writes."""

import uuid

import psycopg
import pytest

from conftest import apply, as_role, connect, health, table_owner, verify

SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id int PRIMARY KEY, workspace int NOT NULL, name text, email text, tier text, code text NOT NULL UNIQUE);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer int, amount numeric, status text, note text);
CREATE TABLE shop.links (id bigserial PRIMARY KEY, a int NOT NULL, b int NOT NULL, w int, kind text);
"""

REGISTER = """
SELECT graph.add_table('shop.customers', columns => '{name,email}', tenant_column => 'workspace');
SELECT graph.add_filter_column('shop.customers', 'tier');
SELECT graph.add_table('shop.orders', columns => '{status,note}');
SELECT graph.add_edge('shop.orders', 'customer', 'shop.customers', label => 'placed_by');
SELECT graph.add_edge('shop.customers', 'a', 'shop.customers', to_column => 'b', via_table => 'shop.links',
                      weight_column => 'w', label_column => 'kind');
"""


@pytest.fixture(scope="module")
def owner(db):
    """A login role that owns the application's tables: not a superuser, not graph_admin."""
    with table_owner(db, "gs_ddl_") as role:
        yield role


def warnings_of(conn):
    """Collect the WARNING/NOTICE messages the server sends on ``conn``."""
    seen = []
    conn.add_notice_handler(lambda d: seen.append((d.severity_nonlocalized, d.message_primary)))
    return seen


@pytest.fixture
def shop(db, owner):
    """The shop schema, owned by ``owner`` and registered by the superuser (an admin)."""
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS shop CASCADE")
    with as_role(db, owner) as app:
        app.execute(SCHEMA)
        app.execute("INSERT INTO shop.customers SELECT g, 1 + g % 2, 'c' || g, 'e' || g, 'gold', 'k' || g"
                    " FROM generate_series(1, 20) g")
        app.execute("INSERT INTO shop.orders SELECT g, 1 + g % 20, g, 'open', 'n' || g FROM generate_series(1, 40) g")
        app.execute("INSERT INTO shop.links (a, b, w, kind)"
                    " SELECT g, 1 + g % 20, g, 'knows' FROM generate_series(1, 20) g")
    with connect(db) as c:
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        assert verify(c) == []
    yield db
    with connect(db) as c:
        c.execute("DROP SCHEMA IF EXISTS shop CASCADE")  # the event trigger unregisters its tables
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] == 0
        c.execute("SELECT graph.build()")


class App:
    """The application: writes through the current column and table names."""

    def __init__(self, conn):
        self.c = conn
        self.n = 1000
        self.customers, self.customer_id, self.name = "shop.customers", "id", "name"
        self.workspace, self.order_customer, self.note = "workspace", "customer", "note"
        self.link_a, self.link_w, self.kind = "a", "w", "kind"

    def writes(self):
        """An INSERT, an UPDATE and a DELETE on each registered table; none may fail."""
        self.n += 1
        n, c = self.n, self.c
        c.execute(f"INSERT INTO {self.customers} ({self.customer_id}, {self.workspace}, {self.name}, email, tier, code)"
                  f" VALUES ({n}, 1, 'new', 'x@y', 'gold', 'k{n}')")
        c.execute(f"UPDATE {self.customers} SET {self.name} = {self.name} || '+' WHERE {self.customer_id} = {n - 990}")
        cols = "id, " + self.order_customer + ", amount, status" + (", " + self.note if self.note else "")
        vals = f"{n}, {n}, 5, 'open'" + (", 'n'" if self.note else "")
        c.execute(f"INSERT INTO shop.orders ({cols}) VALUES ({vals})")
        c.execute(f"UPDATE shop.orders SET status = 'paid', {self.order_customer} = {n} WHERE id = {n - 995}")
        c.execute(f"DELETE FROM shop.orders WHERE id = {n - 985}")
        kind = (", " + self.kind) if self.kind else ""
        c.execute(f"INSERT INTO shop.links ({self.link_a}, b, {self.link_w}{kind})"
                  f" VALUES ({n}, 1, 2{', ' + repr('likes') if self.kind else ''})")
        c.execute(f"UPDATE shop.links SET {self.link_w} = {self.link_w} + 1 WHERE id = {n - 990}")
        c.execute(f"DELETE FROM shop.links WHERE id = {n - 985}")


def test_an_orm_migration_sequence_never_breaks_writes(shop, owner):
    with as_role(shop, owner) as conn, connect(shop) as admin:
        seen = warnings_of(conn)
        app = App(conn)
        app.writes()

        def step(ddl, **renamed):
            conn.execute(ddl)
            for k, v in renamed.items():
                setattr(app, k, v)
            app.writes()

        step("ALTER TABLE shop.orders ADD COLUMN created_at timestamptz DEFAULT now()")
        step("ALTER TABLE shop.customers RENAME COLUMN name TO full_name", name="full_name")
        step("ALTER TABLE shop.orders RENAME COLUMN customer TO customer_id", order_customer="customer_id")
        step("ALTER TABLE shop.customers RENAME COLUMN workspace TO workspace_id", workspace="workspace_id")
        step("ALTER TABLE shop.links RENAME COLUMN w TO weight", link_w="weight")
        step("ALTER TABLE shop.links RENAME COLUMN a TO source_id", link_a="source_id")
        step("ALTER TABLE shop.orders ALTER COLUMN status TYPE varchar(20)")
        step("ALTER TABLE shop.orders ALTER COLUMN customer_id TYPE bigint")
        step("ALTER TABLE shop.orders DROP COLUMN note", note=None)
        last = admin.execute("SELECT max(id) FROM graph._sync_log").fetchone()[0]
        step("ALTER TABLE shop.customers RENAME TO clients", customers="shop.clients")
        # Rows are logged under the registered table's oid and its current name.
        assert admin.execute("SELECT DISTINCT table_oid::regclass::text, table_name FROM graph._sync_log"
                             " WHERE id > %s AND table_oid = 'shop.clients'::regclass", (last,)
                             ).fetchall() == [("shop.clients", "shop.clients")]
        step("ALTER TABLE shop.orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)")
        step("ALTER TABLE shop.orders DROP CONSTRAINT amount_positive")
        step("CREATE INDEX orders_customer_idx ON shop.orders (customer_id)")
        step("ALTER TABLE shop.links DROP COLUMN kind", kind=None)
        step("ALTER TABLE shop.clients RENAME COLUMN id TO client_id", customer_id="client_id")

        # Drops were reported to the session that ran them.
        warned = " ".join(m for s, m in seen if s == "WARNING")
        assert "property column note was dropped" in warned and "label column kind was dropped" in warned

        # The registration followed every rename; nothing renamed was unregistered.
        reg = admin.execute("""SELECT table_name, id_columns, columns, tenant_column, filter_columns
                               FROM graph._node_tables ORDER BY table_name""").fetchall()
        assert reg == [("shop.clients", ["client_id"], ["full_name", "email"], "workspace_id", ["tier"]),
                       ("shop.orders", ["id"], ["status"], None, [])]
        edges = admin.execute("""SELECT kind, from_column, to_column, weight_column, label_column
                                 FROM graph._edge_sources ORDER BY edge_source_id""").fetchall()
        assert edges == [("fk", "customer_id", None, None, None), ("join", "source_id", "b", "weight", None)]

        apply(admin)
        h = health(admin)
        # A renamed and a dropped property change node properties: a rebuild is due, and says why.
        assert h["needs_rebuild"] and "column_renamed" in h["rebuild_reasons"]
        assert "column_unregistered" in h["schema_drift"] and h["reconcile_recommended"] is False
        m = admin.execute("SELECT status, rebuilt FROM graph.run_scheduled_maintenance()").fetchone()
        assert m == ("succeeded", True)
        assert verify(admin) == []
        h = health(admin)
        assert h["schema_state"] == "current" and h["next_action"] == "nothing to do", h
        app.writes()
        apply(admin)
        assert verify(admin) == []


def test_renamed_edge_tenant_and_key_columns_need_no_rebuild(shop, owner):
    """Rows captured before a rename and applied after it are read under the new
    names: the pending log rows are renamed with the registration."""
    with as_role(shop, owner) as conn, connect(shop) as admin:
        app = App(conn)
        app.writes()  # pending, captured under the old names
        conn.execute("ALTER TABLE shop.orders RENAME COLUMN customer TO buyer")
        conn.execute("ALTER TABLE shop.customers RENAME COLUMN workspace TO tenant")
        conn.execute("ALTER TABLE shop.links RENAME COLUMN a TO src")
        conn.execute("ALTER TABLE shop.links RENAME COLUMN kind TO relation")
        conn.execute("ALTER TABLE shop.customers RENAME COLUMN id TO customer_no")
        app.order_customer, app.workspace, app.link_a, app.kind, app.customer_id = (
            "buyer", "tenant", "src", "relation", "customer_no")
        app.writes()
        apply(admin)
        h = health(admin)
        assert not h["needs_rebuild"] and h["schema_state"] == "current", h
        assert verify(admin) == []


def test_a_table_moved_to_another_schema_and_a_renamed_schema_are_followed(shop, owner):
    """ALTER TABLE ... SET SCHEMA and ALTER SCHEMA ... RENAME move registered tables
    without a table's rename: the registration and capture follow the new names,
    the writes after each step are captured under them, the rows pending from
    before (logged under the old names) are applied by the table's oid, and the
    graph equals the sources."""
    with as_role(shop, owner) as conn, connect(shop) as admin:
        seen = warnings_of(conn)
        app = App(conn)
        app.writes()  # pending, captured under the old names
        conn.execute("CREATE SCHEMA shop_archive")
        conn.execute("ALTER TABLE shop.orders SET SCHEMA shop_archive")
        last = admin.execute("SELECT max(id) FROM graph._sync_log").fetchone()[0]
        conn.execute("INSERT INTO shop_archive.orders VALUES (5001, 1, 5, 'open', 'moved')")
        conn.execute("UPDATE shop_archive.orders SET customer = 2 WHERE id = 1")
        conn.execute("DELETE FROM shop_archive.orders WHERE id = 2")
        conn.execute("ALTER SCHEMA shop RENAME TO store")
        conn.execute("INSERT INTO store.customers VALUES (5002, 1, 'n', 'e', 'gold', 'k5002')")
        conn.execute("UPDATE store.customers SET name = 'renamed schema' WHERE id = 3")
        conn.execute("INSERT INTO store.links (a, b, w, kind) VALUES (5002, 3, 1, 'knows')")
        conn.execute("DELETE FROM store.links WHERE a = 4")
        try:
            assert [m for sev, m in seen if sev == "WARNING"] == []
            assert admin.execute("SELECT table_name FROM graph._node_tables ORDER BY 1").fetchall() == [
                ("shop_archive.orders",), ("store.customers",)]
            logged = admin.execute("SELECT DISTINCT table_oid::regclass::text, table_name FROM graph._sync_log"
                                   " WHERE id > %s ORDER BY 1", (last,)).fetchall()
            assert logged == [("shop_archive.orders", "shop_archive.orders"), ("store.customers", "store.customers"),
                              ("store.links", "store.links")]
            apply(admin)
            assert verify(admin) == []
            h = health(admin)
            assert h["schema_state"] == "current" and not h["reconcile_recommended"], h
            assert admin.execute("SELECT count(*) FROM graph.traverse('store.customers', '5002', max_depth => 1)"
                                 ).fetchone()[0] == 2  # the customer and the one it knows
        finally:
            admin.execute("DROP SCHEMA IF EXISTS store, shop_archive CASCADE")


def test_a_dropped_key_column_rekeys_or_unregisters(shop, owner):
    with as_role(shop, owner) as conn, connect(shop) as admin:
        seen = warnings_of(conn)
        # orders: no edge references its key, and it has no other key: unregistered.
        conn.execute("ALTER TABLE shop.orders DROP COLUMN id")
        conn.execute("INSERT INTO shop.orders (customer, amount, status) VALUES (1, 1, 'open')")
        assert admin.execute("SELECT count(*) FROM graph._node_tables"
                             " WHERE table_oid = 'shop.orders'::regclass").fetchone()[0] == 0
        assert any("its key column id was dropped" in m for s, m in seen if s == "WARNING")
        # links: its key goes, another unique key on NOT NULL columns takes over.
        conn.execute("ALTER TABLE shop.links ADD COLUMN ref uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE")
        conn.execute("ALTER TABLE shop.links DROP COLUMN id")
        assert admin.execute("SELECT via_id_columns FROM graph._edge_sources WHERE kind = 'join'"
                             ).fetchone()[0] == ["ref"]
        conn.execute("INSERT INTO shop.links (a, b, w, kind) VALUES (1, 2, 3, 'x')")
        conn.execute("DELETE FROM shop.links WHERE a = 2")
        apply(admin)
        admin.execute("SELECT * FROM graph.run_scheduled_maintenance()")
        assert verify(admin) == []


def test_a_dropped_table_is_unregistered(shop, owner):
    with as_role(shop, owner) as conn, connect(shop) as admin:
        links, orders = admin.execute("SELECT 'shop.links'::regclass::oid, 'shop.orders'::regclass::oid").fetchone()
        conn.execute("DROP TABLE shop.links")
        assert admin.execute("SELECT count(*) FROM graph._edge_sources WHERE kind = 'join'").fetchone()[0] == 0
        assert "edge_source_removed" in health(admin)["schema_drift"]
        conn.execute("DROP TABLE shop.orders")
        assert admin.execute("SELECT table_name FROM graph._node_tables").fetchall() == [("shop.customers",)]
        assert admin.execute("SELECT count(*) FROM graph._edge_sources").fetchone()[0] == 0
        # their capture functions went with them
        assert admin.execute("SELECT count(*) FROM pg_proc WHERE proname IN (%s, %s)",
                             (f"_capture_{links}", f"_capture_{orders}")).fetchone()[0] == 0
        conn.execute("INSERT INTO shop.customers VALUES (900, 1, 'n', 'e', 'gold', 'k900')")
        m = admin.execute("SELECT status, rebuilt FROM graph.run_scheduled_maintenance()").fetchone()
        assert m == ("succeeded", True)
        assert verify(admin) == []
        assert health(admin)["schema_state"] == "current"


def test_build_reports_a_table_dropped_unfollowed_clearly(shop, owner):
    """With the event triggers off, a dropped registered table made build() fail with
    a syntax error (its oid where its name was); now: 55000 naming it, and reconcile
    repairs it."""
    with as_role(shop, owner) as conn, connect(shop) as admin:
        admin.execute("ALTER EVENT TRIGGER graphsync_follow_drop DISABLE")
        try:
            conn.execute("DROP TABLE shop.links")
        finally:
            admin.execute("ALTER EVENT TRIGGER graphsync_follow_drop ENABLE ALWAYS")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
            admin.execute("SELECT graph.build()")
        assert "shop.links" in e.value.diag.message_primary and "no longer exist" in e.value.diag.message_primary
        assert "graph.reconcile()" in e.value.diag.message_hint
        assert {r[0] for r in verify(admin)} == {"table_dropped"}
        m = admin.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] != "succeeded"
        admin.execute("SELECT * FROM graph.reconcile()")
        assert verify(admin) == []


def test_a_failure_to_follow_never_fails_ddl_or_writes(shop, owner):
    """The event trigger meets an error: the DDL succeeds with a WARNING, the table's
    capture is switched off (writes go on, not a capture that fails them), health
    says so, and reconcile() repairs everything once the cause is gone."""
    with as_role(shop, owner) as conn, connect(shop) as admin:
        admin.execute("""CREATE FUNCTION public.gs_refuse() RETURNS trigger LANGUAGE plpgsql AS
                         $$ BEGIN RAISE EXCEPTION 'registry is locked for the test'; END $$""")
        admin.execute("CREATE TRIGGER gs_refuse BEFORE UPDATE ON graph._node_tables"
                      " FOR EACH ROW EXECUTE FUNCTION public.gs_refuse()")
        try:
            seen = warnings_of(conn)
            conn.execute("ALTER TABLE shop.customers RENAME COLUMN name TO full_name")
            assert any("could not be followed" in m and "registry is locked" in m for s, m in seen if s == "WARNING")
            conn.execute("INSERT INTO shop.customers VALUES (500, 1, 'n', 'e', 'gold', 'k500')")
            conn.execute("UPDATE shop.customers SET full_name = 'x' WHERE id = 1")
            h = health(admin)
            assert "follow_failed: shop.customers" in h["schema_drift"] and h["reconcile_recommended"]
            assert h["next_action"].startswith("run graph.reconcile()")
            m = admin.execute("SELECT status FROM graph.run_scheduled_maintenance()").fetchone()
            assert m[0] != "succeeded"
        finally:
            admin.execute("DROP TRIGGER gs_refuse ON graph._node_tables")
            admin.execute("DROP FUNCTION public.gs_refuse()")
        done = admin.execute("SELECT action, table_name FROM graph.reconcile()").fetchall()
        assert ("followed_again", "shop.customers") in done and ("rebuilt", None) in done
        assert admin.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'shop.customers'::regclass"
                             ).fetchone()[0] == ["full_name", "email"]
        conn.execute("UPDATE shop.customers SET full_name = 'y' WHERE id = 2")
        apply(admin)
        assert verify(admin) == []
        assert health(admin)["schema_state"] == "current"


def test_the_follower_called_directly_does_nothing_harmful(shop, owner):
    """graph._follow_registry and graph._attach_capture are PUBLIC's (the event trigger
    calls them as the table owner): called by anyone, with any oids, they only bring
    the registry and capture in step with the catalog."""
    with connect(shop) as admin:
        admin.execute("DROP ROLE IF EXISTS gs_ddl_nobody")
        admin.execute("CREATE ROLE gs_ddl_nobody LOGIN")
        admin.execute("ALTER TABLE shop.orders DISABLE TRIGGER graphsync_capture_insert")
        before = admin.execute("SELECT * FROM graph._node_tables ORDER BY table_oid").fetchall()
        edges = admin.execute("SELECT * FROM graph._edge_sources ORDER BY edge_source_id").fetchall()
        events = admin.execute("SELECT count(*) FROM graph._schema_events").fetchone()[0]
        oids = [r[0] for r in admin.execute("SELECT oid FROM pg_class WHERE relnamespace = 'shop'::regnamespace")]
        orders = admin.execute("SELECT 'shop.orders'::regclass::oid").fetchone()[0]
    try:
        with as_role(shop, "gs_ddl_nobody") as nobody:
            assert nobody.execute("SELECT * FROM graph._follow_registry(%s::oid[])", (oids,)).fetchall() == []
            nobody.execute("SELECT graph._attach_capture(%s)", (orders,))  # may not enable it: a WARNING
        with connect(shop) as admin:
            assert admin.execute("SELECT * FROM graph._node_tables ORDER BY table_oid").fetchall() == before
            assert admin.execute("SELECT * FROM graph._edge_sources ORDER BY edge_source_id").fetchall() == edges
            assert admin.execute("SELECT count(*) FROM graph._schema_events").fetchone()[0] == events
            assert admin.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'shop.orders'::regclass"
                                 " AND tgname = 'graphsync_capture_insert'").fetchone()[0] == "D"
            admin.execute("SELECT * FROM graph.reconcile()")
    finally:
        with connect(shop) as admin:
            admin.execute("DROP ROLE gs_ddl_nobody")


def test_no_setting_lets_the_owner_skip_following(shop, owner):
    """The event trigger reads no setting a session could use to skip it: a table
    owner who sets graphsync.following_ddl (what graphsync's own trigger DDL once
    set) still has a rename followed, a new partition captured, and writes that
    never fail."""
    with as_role(shop, owner) as conn, connect(shop) as admin:
        conn.execute("SET graphsync.following_ddl = on")
        conn.execute("ALTER TABLE shop.customers RENAME COLUMN name TO full_name")
        conn.execute("INSERT INTO shop.customers (id, workspace, full_name, email, tier, code)"
                     " VALUES (600, 1, 'n', 'e', 'gold', 'k600')")
        assert admin.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'shop.customers'::regclass"
                             ).fetchone()[0] == ["full_name", "email"]
        conn.execute("BEGIN")
        conn.execute("SELECT set_config('graphsync.following_ddl', 'on', true)")
        conn.execute("ALTER TABLE shop.orders RENAME COLUMN note TO remark")
        conn.execute("UPDATE shop.orders SET remark = 'r' WHERE id = 1")
        conn.execute("COMMIT")
        assert admin.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'shop.orders'::regclass"
                             ).fetchone()[0] == ["status", "remark"]
        conn.execute("CREATE TABLE shop.events (id int, kind text, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind)")
        conn.execute("CREATE TABLE shop.events_a PARTITION OF shop.events FOR VALUES IN ('a')")
        admin.execute("SELECT graph.add_table('shop.events')")
        conn.execute("CREATE TABLE shop.events_b PARTITION OF shop.events FOR VALUES IN ('b')")
        assert admin.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop.events_b'::regclass"
                             " AND tgname LIKE 'graphsync_capture_%' AND tgenabled = 'A'").fetchone()[0] == 4
        conn.execute("INSERT INTO shop.events VALUES (1, 'a'), (2, 'b')")
        conn.execute("RESET graphsync.following_ddl")
        assert health(admin)["missing_trigger_count"] == 0
        admin.execute("SELECT graph.build()")  # renamed properties rename the nodes' properties
        conn.execute("UPDATE shop.events SET id = 3 WHERE id = 2")
        apply(admin)
        assert verify(admin) == []


def follow_calls(conn):
    """Calls of the Python follower in the current transaction (track_functions)."""
    return conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
                        " WHERE schemaname = 'graph' AND funcname = '_follow_registry'").fetchone()[0]


def test_graphsyncs_own_capture_ddl_never_reaches_the_follower_and_the_owners_always_does(shop, owner):
    """Installing capture (creating the triggers and enabling them ALWAYS, one ALTER
    TABLE per table) leaves the registry in step with the catalog, so the event
    trigger stops at its catalog check; whatever DDL the owner runs, even in the same
    ALTER TABLE as an ENABLE ALWAYS TRIGGER of graphsync's own, reaches the follower
    when it changes what capture depends on."""
    with connect(shop) as admin:
        admin.execute(f"ALTER ROLE {owner} SET track_functions = 'all'")  # superuser-only to set
        try:
            _own_and_owners_ddl(shop, owner, admin)
        finally:
            admin.execute(f"ALTER ROLE {owner} RESET track_functions")


def _own_and_owners_ddl(shop, owner, admin):
    with as_role(shop, owner) as conn:
        admin.execute("SET track_functions = 'all'")
        admin.execute("BEGIN")
        admin.execute("CREATE TABLE shop.notes (id int PRIMARY KEY, body text)")
        admin.execute("ALTER TABLE shop.notes OWNER TO " + owner)
        admin.execute("SELECT graph.add_table('shop.notes', columns => '{body}')")
        assert follow_calls(admin) == 0
        admin.execute("COMMIT")
        assert admin.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop.notes'::regclass"
                             " AND tgname LIKE 'graphsync_capture_%' AND tgenabled = 'A'").fetchone()[0] == 4
        conn.execute("BEGIN")
        conn.execute("ALTER TABLE shop.notes DISABLE TRIGGER graphsync_capture_insert")  # changes no column
        assert follow_calls(conn) == 0
        conn.execute("ALTER TABLE shop.notes ENABLE ALWAYS TRIGGER graphsync_capture_insert,"
                     " ALTER COLUMN body TYPE varchar(20)")
        assert follow_calls(conn) == 1
        conn.execute("COMMIT")
        assert admin.execute("SELECT type_name FROM graph._column_map WHERE table_oid = 'shop.notes'::regclass"
                             " AND column_name = 'body'").fetchone()[0] == "character varying(20)"
        conn.execute("ALTER TABLE shop.notes RENAME COLUMN body TO text")
        assert admin.execute("SELECT columns FROM graph._node_tables WHERE table_oid = 'shop.notes'::regclass"
                             ).fetchone()[0] == ["text"]
        conn.execute("INSERT INTO shop.notes VALUES (1, 'x')")
        admin.execute("SELECT graph.build()")
        assert verify(admin) == []


@pytest.fixture
def stranger(db):
    """A login role with no right on anything of graphsync's or the shop's."""
    role = "gs_stranger_" + uuid.uuid4().hex[:8]
    with connect(db) as c:
        c.execute(f"CREATE ROLE {role} LOGIN")
    yield role
    with connect(db) as c:
        c.execute(f"DROP ROLE {role}")


def test_a_role_holding_advisory_locks_holds_up_no_schema_change_and_no_maintenance(db, shop, owner, stranger):
    """Any role that may connect may take any advisory lock. graphsync took 7420152
    around capture generation and (7420151, 4) around maintenance: a stranger holding
    them kept the owner's ALTER TABLE waiting (the DDL follower regenerates capture)
    and made every scheduled maintenance run 'skipped' and vacuum wait. graphsync now
    locks rows of graph._locks (migration 421), which takes UPDATE on it: graph_admin's
    alone."""
    with as_role(db, stranger) as s:
        s.execute("SELECT pg_advisory_lock(7420152), pg_advisory_lock(7420151, 4)")
        with as_role(db, owner) as app:
            app.execute("SET statement_timeout = '10s'")
            app.execute("ALTER TABLE shop.customers RENAME COLUMN email TO mail")
            app.execute("INSERT INTO shop.customers VALUES (99, 1, 'c99', 'e99', 'gold', 'k99')")
        with connect(db) as c:
            c.execute("SET statement_timeout = '60s'")
            run = c.execute("SELECT status, reason FROM graph.run_scheduled_maintenance()").fetchone()
            assert run[0] == "succeeded", run
            assert c.execute("SELECT status FROM graph.vacuum()").fetchone() == ("succeeded",)
            assert verify(c) == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            s.execute("SELECT FROM graph._locks FOR UPDATE")


def test_a_cancelled_schema_change_reports_postgresqls_message(db, shop, owner):
    """A statement timeout while the DDL follower waits (here for capture generation,
    held by an admin's open transaction) stops the DDL with 57014 and PostgreSQL's own
    message, not PL/Python's "spiexceptions.QueryCanceled: " before it; the DDL is
    rolled back and nothing changed."""
    with connect(db) as admin:
        admin.execute("BEGIN")
        admin.execute("SELECT FROM graph._locks WHERE name = 'capture' FOR UPDATE")
        with as_role(db, owner) as app:
            app.execute("SET statement_timeout = '500ms'")
            with pytest.raises(psycopg.errors.QueryCanceled) as info:
                app.execute("ALTER TABLE shop.customers RENAME COLUMN email TO mail")
        admin.execute("ROLLBACK")
    err = info.value
    assert err.diag.message_primary == "canceling statement due to statement timeout", err.diag.message_primary
    assert "spiexceptions" not in str(err) and "Traceback" not in str(err)
    with connect(db) as c:
        assert c.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'shop.customers'::regclass"
                         " AND attname = 'email'").fetchone() == (1,)
        assert verify(c) == []


def test_an_admin_may_lock_graphsyncs_critical_sections_but_not_remove_them(db):
    """graph_admin locks the rows of graph._locks (a maintenance run, capture
    generation) but may not delete, add or rename one: a missing row would lock
    nothing, and every scheduled run that found its row gone would be skipped."""
    role = "gs_lock_admin_" + uuid.uuid4().hex[:8]
    with connect(db) as c:
        c.execute(f"CREATE ROLE {role} LOGIN IN ROLE graph_admin")
    try:
        with as_role(db, role) as a:
            a.execute("BEGIN")
            assert a.execute("SELECT name FROM graph._locks ORDER BY name FOR UPDATE").fetchall() == [
                ("capture",), ("maintenance",)]
            a.execute("ROLLBACK")
            for sql in ("DELETE FROM graph._locks", "TRUNCATE graph._locks",
                        "INSERT INTO graph._locks (name) VALUES ('x')", "UPDATE graph._locks SET name = 'x'"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    a.execute(sql)
    finally:
        with connect(db) as c:
            c.execute(f"DROP ROLE {role}")
