"""A non-superuser admin can do every documented admin task.

Real roles log in: ADMIN is a member of graph_admin, not a superuser, and owns
none of the source tables; OWNER owns them (as an application's migration role
would) and grants ADMIN only what the README's Privileges section asks for:
SELECT and TRIGGER on each table. ADMIN registers, builds, applies, runs
maintenance and vacuum, reconciles (re-enabling a capture trigger the owner
disabled: ALTER TABLE needs ownership, graph._enable_capture_trigger does it for
graphsync's own triggers only), retries failed rows, prunes, changes the shared
settings (ALTER DATABASE needs ownership: graph.set_setting does it for graph.*
settings only) and schedules maintenance with pg_cron (after the one GRANT the
README names, a real pg_cron run as ADMIN)."""

import psycopg
import pytest
from psycopg import sql

from conftest import apply, as_role, connect, health, maintain, retry, row
from test_cron import crondb, wait_for_run  # noqa: F401  (crondb: the database pg_cron runs jobs in)

OWNER, ADMIN, READER = "gs_ar_owner", "gs_ar_admin", "gs_ar_reader"

SCHEMA = """
CREATE SCHEMA shop AUTHORIZATION {owner};
SET ROLE {owner};
CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customers, total numeric);
CREATE TABLE shop.referrals (a int REFERENCES shop.customers, b int REFERENCES shop.customers,
                             weight int, PRIMARY KEY (a, b));
INSERT INTO shop.customers SELECT g, 'c' || g FROM generate_series(1, 30) g;
INSERT INTO shop.orders SELECT g, 1 + g % 30, g * 1.5 FROM generate_series(1, 60) g;
INSERT INTO shop.referrals SELECT g, 1 + g % 30, g % 3 FROM generate_series(1, 30) g;
GRANT USAGE ON SCHEMA shop TO {admin};
GRANT SELECT, TRIGGER ON shop.customers, shop.orders, shop.referrals TO {admin};
RESET ROLE;
"""

POISON = """
CREATE FUNCTION public.ar_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.pk = '666' AND NEW.alive AND EXISTS (SELECT FROM public.ar_cursed) THEN
        RAISE EXCEPTION 'node 666 is cursed';
    END IF;
    RETURN NEW;
END $$;
CREATE TABLE public.ar_cursed (cursed boolean);
GRANT SELECT ON public.ar_cursed TO PUBLIC;
CREATE TRIGGER ar_poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.ar_poison();
"""


@pytest.fixture(scope="module")
def roles(server):
    """The three roles (cluster-wide); the databases that use them are added to the
    list, so the roles' privileges there are dropped before the roles."""
    used = []
    with connect(server.admin_dsn) as c:
        for role in (READER, ADMIN, OWNER):
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(OWNER)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER IN ROLE graph_admin").format(sql.Identifier(ADMIN)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(READER)))
    yield used
    for dsn in used:
        with connect(server.admin_dsn) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (psycopg.conninfo.conninfo_to_dict(dsn)["dbname"],)).fetchone():
                continue
        with connect(dsn) as c:
            for role in (READER, ADMIN, OWNER):
                c.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
    with connect(server.admin_dsn) as c:
        for role in (READER, ADMIN, OWNER):
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def shop(db, roles):
    roles.append(db)
    with connect(db) as c:
        c.execute(SCHEMA.format(owner=OWNER, admin=ADMIN))
        c.execute(POISON)
    yield db
    with connect(db) as c:
        c.execute(sql.SQL("ALTER DATABASE {} RESET ALL").format(sql.Identifier(c.info.dbname)))


@pytest.fixture
def admin(shop):
    with as_role(shop, ADMIN) as a:
        yield a


@pytest.fixture
def owner(shop):
    with as_role(shop, OWNER) as o:
        yield o


def test_the_admin_is_no_superuser_and_owns_no_source_table(admin):
    me = row(admin, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    assert me == {"rolsuper": False, "rolbypassrls": False}
    assert admin.execute("""SELECT count(*) FROM pg_class WHERE relnamespace = 'shop'::regnamespace
                            AND pg_has_role(current_user, relowner, 'USAGE')""").fetchone() == (0,)


def test_registration_build_apply_and_verify(admin, owner):
    admin.execute("SELECT graph.add_table('shop.customers', columns => '{name}')")
    admin.execute("SELECT graph.add_table('shop.orders', columns => '{total}')")
    admin.execute("SELECT graph.add_edge('shop.orders', 'customer_id', 'shop.customers', label => 'placed_by')")
    admin.execute("""SELECT graph.add_edge('shop.customers', 'a', 'shop.customers', to_column => 'b',
                                           via_table => 'shop.referrals', weight_column => 'weight')""")
    admin.execute("SELECT graph.add_filter_column('shop.orders', 'total')")
    assert row(admin, "SELECT * FROM graph.build()")["node_count"] == 90
    owner.execute("INSERT INTO shop.customers VALUES (31, 'new')")
    owner.execute("UPDATE shop.orders SET total = 0 WHERE id = 1")
    owner.execute("DELETE FROM shop.referrals WHERE a = 2")
    applied = apply(admin)
    assert (applied["inserts"], applied["updates"], applied["deletes"], applied["failed"]) == (1, 1, 1, 0)
    assert admin.execute("SELECT * FROM graph.verify()").fetchall() == []
    # unregister and register again
    admin.execute("SELECT graph.remove_edge('shop.customers', 'a', 'shop.customers', via_table => 'shop.referrals')")
    admin.execute("SELECT graph.remove_edge('shop.orders', 'customer_id', 'shop.customers')")
    admin.execute("SELECT graph.remove_table('shop.orders')")
    assert owner.execute("""SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('shop.orders'::regclass,
                            'shop.referrals'::regclass) AND tgname LIKE 'graphsync%'""").fetchone() == (0,)
    admin.execute("SELECT graph.add_table('shop.orders', columns => '{total}')")
    admin.execute("SELECT graph.add_edge('shop.orders', 'customer_id', 'shop.customers', label => 'placed_by')")
    admin.execute("SELECT graph.build()")
    assert admin.execute("SELECT * FROM graph.verify()").fetchall() == []


def test_maintenance_and_vacuum(admin, owner):
    admin.execute("SET graph.verify_interval = '0'")
    owner.execute("INSERT INTO shop.orders VALUES (100, 3, 9.5)")
    m = maintain(admin)
    assert (m["status"], m["error"], m["rows_applied"], m["differences"]) == ("succeeded", None, 1, 0)
    v = maintain(admin, "graph.vacuum")
    assert (v["status"], v["rebuilt"]) == ("succeeded", True)
    assert admin.execute("SELECT run_by FROM graph._maintenance_jobs ORDER BY job_id DESC LIMIT 1"
                         ).fetchone() == (ADMIN,)


def test_reconcile_re_enables_a_capture_trigger_on_a_table_the_admin_does_not_own(admin, owner):
    owner.execute("ALTER TABLE shop.customers DISABLE TRIGGER graphsync_capture_update")
    owner.execute("UPDATE shop.customers SET name = 'missed' WHERE id = 4")
    assert health(admin)["disabled_trigger_count"] == 1
    # what reconcile used to run, as the admin: PostgreSQL refuses it
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
        admin.execute("ALTER TABLE shop.customers ENABLE TRIGGER graphsync_capture_update")
    done = {(r[0], r[1]) for r in admin.execute("SELECT action, table_name FROM graph.reconcile()")}
    assert {("enabled_trigger", "shop.customers"), ("repaired_stale_property", "shop.customers")} <= done, done
    h = health(admin)
    assert h["disabled_trigger_count"] == 0 and h["next_action"] == "nothing to do", h
    owner.execute("UPDATE shop.customers SET name = 'captured again' WHERE id = 4")
    admin.execute("SELECT graph.apply_sync()")
    assert admin.execute("SELECT * FROM graph.verify()").fetchall() == []
    # a missing trigger is installed again (CREATE TRIGGER needs the TRIGGER privilege only)
    owner.execute("DROP TRIGGER graphsync_capture_delete ON shop.orders")
    done = {(r[0], r[1]) for r in admin.execute("SELECT action, table_name FROM graph.reconcile()")}
    assert ("installed_trigger", "shop.orders") in done
    assert health(admin)["missing_trigger_count"] == 0


def test_the_trigger_helper_enables_graphsync_capture_triggers_only(shop, admin, owner):
    owner.execute("""CREATE FUNCTION shop.audit() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RETURN NULL; END $$""")
    owner.execute("""CREATE TRIGGER audit AFTER INSERT ON shop.customers
                     FOR EACH STATEMENT EXECUTE FUNCTION shop.audit()""")
    owner.execute("ALTER TABLE shop.customers DISABLE TRIGGER audit")
    owner.execute("CREATE TABLE shop.unregistered (id int PRIMARY KEY)")
    owner.execute("GRANT SELECT, TRIGGER ON shop.unregistered TO " + ADMIN)
    try:
        for args, error in [
                (("shop.customers", "audit"), "is not a graphsync capture trigger"),
                (("shop.unregistered", "graphsync_capture_insert"), "is not captured by graphsync")]:
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match=error):
                admin.execute("SELECT graph._enable_capture_trigger(%s::regclass, %s)", args)
        # an impostor with graphsync's name but not its function is never enabled
        owner.execute("ALTER TABLE shop.customers DISABLE TRIGGER graphsync_capture_truncate")
        with connect(shop) as c:
            c.execute("DROP TRIGGER graphsync_capture_truncate ON shop.customers")
        owner.execute("""CREATE TRIGGER graphsync_capture_truncate AFTER TRUNCATE ON shop.customers
                         FOR EACH STATEMENT EXECUTE FUNCTION shop.audit()""")
        owner.execute("ALTER TABLE shop.customers DISABLE TRIGGER graphsync_capture_truncate")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="is not graphsync's capture"):
            admin.execute("SELECT graph._enable_capture_trigger('shop.customers'::regclass,"
                          " 'graphsync_capture_truncate')")
        # and a role outside graph_admin is refused even with EXECUTE granted by mistake
        with connect(shop) as c:
            c.execute(f"GRANT EXECUTE ON FUNCTION graph._enable_capture_trigger(oid, text, boolean) TO {READER}")
        with as_role(shop, READER) as r, pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("SELECT graph._enable_capture_trigger('shop.customers'::regclass, 'graphsync_capture_insert')")
        assert owner.execute("""SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'shop.customers'::regclass
                                AND tgname IN ('audit', 'graphsync_capture_truncate')""").fetchall() == [
            ("D",), ("D",)]
    finally:
        with connect(shop) as c:
            c.execute(f"REVOKE EXECUTE ON FUNCTION graph._enable_capture_trigger(oid, text, boolean) FROM {READER}")
            c.execute("DROP TRIGGER IF EXISTS graphsync_capture_truncate ON shop.customers")
            c.execute("DROP TRIGGER audit ON shop.customers")
            c.execute("DROP TABLE shop.unregistered")
        admin.execute("SELECT * FROM graph.reconcile()")  # installs graphsync's truncate trigger again
        assert health(admin)["schema_state"] == "current"


def test_retry_and_prune(shop, admin, owner):
    admin.execute("SET graph.sync_error_policy = 'skip'")
    with connect(shop) as c:
        c.execute("INSERT INTO public.ar_cursed VALUES (true)")
    owner.execute("INSERT INTO shop.customers VALUES (666, 'poison')")
    assert apply(admin)["failed"] == 1
    with connect(shop) as c:
        c.execute("TRUNCATE public.ar_cursed")
    r = retry(admin)
    assert (r["retried"], r["succeeded"], r["still_failed"]) == (1, 1, 0)
    admin.execute("SET graph.log_retention = '0'")
    assert admin.execute("SELECT graph.prune_sync_log()").fetchone()[0] > 0
    assert admin.execute("SELECT * FROM graph.verify()").fetchall() == []


def test_shared_settings_through_graph_set_setting(shop, admin):
    dbname = admin.info.dbname
    # ALTER DATABASE needs the database's owner
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin.execute(sql.SQL("ALTER DATABASE {} SET graph.log_retention = '2 hours'").format(
            sql.Identifier(dbname)))
    assert admin.execute("SELECT graph.set_setting('graph.log_retention', '2 hours')").fetchone() == ("2 hours",)
    assert admin.execute("SELECT graph.set_setting('graph.sync_batch_size', '500')").fetchone() == ("500",)
    with as_role(shop, READER) as r:  # a new session of any role sees the database's values
        assert r.execute("SELECT current_setting('graph.log_retention'), current_setting('graph.sync_batch_size')"
                         ).fetchone() == ("2 hours", "500")
        assert health(r)["sync_batch_size"] == 500
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("SELECT graph.set_setting('graph.sync_batch_size', '1')")
    # only graphsync's settings, only valid values
    for name, value in [("search_path", "public"), ("session_preload_libraries", "x"),
                        ("graph.no_such_setting", "1"), ("graph.sync_batch_size; DROP TABLE x", "1")]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            admin.execute("SELECT graph.set_setting(%s, %s)", (name, value))
    for name, value in [("graph.sync_batch_size", "-1"), ("graph.sync_error_policy", "sometimes")]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            admin.execute("SELECT graph.set_setting(%s, %s)", (name, value))
    # NULL resets
    assert admin.execute("SELECT graph.set_setting('graph.sync_batch_size', NULL)").fetchone() == (None,)
    with as_role(shop, READER) as r:
        assert r.execute("SELECT current_setting('graph.sync_batch_size', true)").fetchone() in [(None,), ("",)]
    set_here = admin.execute("""SELECT unnest(s.setconfig) FROM pg_db_role_setting AS s
                                JOIN pg_database AS d ON d.oid = s.setdatabase
                                WHERE d.datname = current_database() AND s.setrole = 0""").fetchall()
    assert set_here == [("graph.log_retention=2 hours",)]


# -- scheduling with pg_cron, in the database pg_cron runs jobs in -------------------


@pytest.fixture(scope="module")
def cron_admin(crondb, roles):  # noqa: F811
    with connect(crondb) as c:
        c.execute(f"GRANT USAGE ON SCHEMA app TO {ADMIN}")
        c.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {ADMIN}")
        c.execute("REVOKE USAGE ON SCHEMA cron FROM graph_admin")  # as pg_cron is created
    roles.append(crondb)
    yield crondb
    with connect(crondb) as c:
        c.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (ADMIN,))
        c.execute("GRANT USAGE ON SCHEMA cron TO graph_admin")  # as the crondb fixture left it


def test_scheduling_with_pg_cron_as_the_admin(cron_admin):
    with as_role(cron_admin, ADMIN) as a:
        # pg_cron grants no USAGE on its schema: the error names the one GRANT to ask for
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            a.execute("SELECT graph.schedule_maintenance()")
        assert err.value.diag.message_hint.startswith("A superuser runs, in database ")
        assert err.value.diag.message_hint.endswith(": GRANT USAGE ON SCHEMA cron TO graph_admin;")
        with connect(cron_admin) as c:
            c.execute("GRANT USAGE ON SCHEMA cron TO graph_admin")  # as the README's pg_cron setup says
        jobid = a.execute("SELECT graph.schedule_maintenance()").fetchone()[0]
        assert a.execute("SELECT username FROM cron.job WHERE jobid = %s", (jobid,)).fetchone() == (ADMIN,)
        with connect(cron_admin) as c:
            c.execute("INSERT INTO app.workspaces VALUES (77, 'written while scheduled')")
            run = wait_for_run(c, jobid)
            assert run[1] == "succeeded", run
            job = c.execute("""SELECT kind, status, run_by, rows_applied FROM graph._maintenance_jobs
                               ORDER BY job_id DESC LIMIT 1""").fetchone()
            assert job == ("scheduled", "succeeded", ADMIN, 1)
            h = health(c)
            assert h["schedule_state"] == "ok" and h["next_action"] == "nothing to do"
        assert a.execute("SELECT graph.unschedule_maintenance()").fetchone() == (True,)
        assert a.execute("SELECT count(*) FROM cron.job").fetchone() == (0,)


def test_scheduling_needs_a_role_pg_cron_can_run_the_job_as(cron_admin):
    with connect(cron_admin) as c:
        c.execute("DROP ROLE IF EXISTS gs_ar_nologin")
        c.execute("CREATE ROLE gs_ar_nologin NOLOGIN IN ROLE graph_admin")
        c.execute(f"GRANT gs_ar_nologin TO {ADMIN}")
        c.execute("GRANT USAGE ON SCHEMA cron TO graph_admin")
    try:
        with as_role(cron_admin, ADMIN) as a:
            a.execute("SET ROLE gs_ar_nologin")
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="cannot log in"):
                a.execute("SELECT graph.schedule_maintenance()")
    finally:
        with connect(cron_admin) as c:
            c.execute("DROP ROLE gs_ar_nologin")



def test_the_trigger_helper_does_no_more_as_a_superuser_than_enable_that_trigger(shop, admin, owner):
    """graph._enable_capture_trigger runs ALTER TABLE as the installing superuser; that
    DDL fires graphsync's event trigger inside it. The event trigger then follows the
    registry (as graph_sync, as always) but attaches no trigger as that superuser:
    an owner's trigger that holds graphsync's name stays, for the owner or a
    superuser's reconcile() to replace, and nothing but the trigger asked is enabled."""
    owner.execute("""CREATE FUNCTION shop.audit2() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RETURN NULL; END $$""")
    owner.execute("DROP TRIGGER graphsync_capture_truncate ON shop.orders")
    owner.execute("""CREATE TRIGGER graphsync_capture_truncate AFTER TRUNCATE ON shop.orders
                     FOR EACH STATEMENT EXECUTE FUNCTION shop.audit2()""")
    owner.execute("ALTER TABLE shop.orders DISABLE TRIGGER graphsync_capture_insert")
    owner.execute("ALTER TABLE shop.orders DISABLE TRIGGER graphsync_capture_delete")
    with connect(shop) as c:
        # A schema change the event trigger cannot follow now: it is left for later.
        c.execute("""CREATE FUNCTION public.ar_refuse() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'registry is locked for the test'; END $$""")
        c.execute("CREATE TRIGGER ar_refuse BEFORE UPDATE ON graph._node_tables"
                  " FOR EACH ROW EXECUTE FUNCTION public.ar_refuse()")
    try:
        owner.execute("ALTER TABLE shop.orders RENAME COLUMN total TO amount")
    finally:
        with connect(shop) as c:
            c.execute("DROP TRIGGER ar_refuse ON graph._node_tables")
            c.execute("DROP FUNCTION public.ar_refuse()")
    try:
        admin.execute("SELECT graph._enable_capture_trigger('shop.orders'::regclass, 'graphsync_capture_insert',"
                      " true)")
        triggers = dict(owner.execute("""SELECT tgname, tgfoid::regproc::text || ' ' || tgenabled::text FROM pg_trigger
                                         WHERE tgrelid = 'shop.orders'::regclass
                                           AND tgname LIKE 'graphsync_capture_%'""").fetchall())
        assert triggers["graphsync_capture_truncate"] == "shop.audit2 O"  # not replaced as a superuser
        assert triggers["graphsync_capture_insert"].endswith(" A")
        assert triggers["graphsync_capture_delete"].endswith(" D")  # not asked, not enabled
        # The table's owner, outside graph_admin, may use neither superuser-owned helper.
        for call in ("SELECT graph._enable_capture_trigger('shop.orders'::regclass, 'graphsync_capture_delete')",
                     "SELECT graph.set_setting('graph.sync_batch_size', '1')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                owner.execute(call)
    finally:
        with connect(shop) as c:
            c.execute("SELECT * FROM graph.reconcile()")
            c.execute("DROP FUNCTION shop.audit2()")
        assert health(admin)["schema_state"] == "current"


def test_a_backlog_the_admin_rebuilds_runs_no_owner_policy_and_is_replayed_instead(shop, admin, owner):
    """A backlog large against the graph makes the admin's apply_sync() rebuild the base
    (graph.rebuild_backlog_rows) rather than replay it. The table's owner has turned on
    row-level security with a policy whose function records who ran it: the rebuild
    reads the sources with row security off, so it fails loudly (a WARNING) instead of
    running the owner's function as the admin or missing the rows the policy hides,
    and the call replays the rows; none is marked failed, and the graph has them all."""
    owner.execute("CREATE TABLE shop.ar_spied (who text)")
    owner.execute("GRANT INSERT ON shop.ar_spied TO PUBLIC")
    owner.execute("""CREATE FUNCTION shop.ar_spy() RETURNS boolean LANGUAGE plpgsql AS $$
                     BEGIN INSERT INTO shop.ar_spied VALUES (current_user); RETURN false; END $$""")
    try:
        admin.execute("SELECT graph.build()")
        owner.execute("ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY")
        owner.execute("CREATE POLICY ar_spy ON shop.customers USING (shop.ar_spy())")
        owner.execute("INSERT INTO shop.customers SELECT g, 'b' || g FROM generate_series(1001, 1400) g")
        warnings = []
        admin.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
        admin.execute("SET graph.rebuild_backlog_rows = 1")
        applied = apply(admin)
        admin.execute("RESET graph.rebuild_backlog_rows")
        assert any("rebuilding the base instead of replaying failed" in w for w in warnings), warnings
        assert (applied["inserts"], applied["failed"]) == (400, 0)
        assert owner.execute("SELECT count(*) FROM shop.ar_spied").fetchone() == (0,)
        assert admin.execute("""SELECT count(*) FROM graph._nodes
                                WHERE table_oid = 'shop.customers'::regclass AND pk::int > 1000""").fetchone() == (400,)
    finally:
        owner.execute("DROP POLICY IF EXISTS ar_spy ON shop.customers")
        owner.execute("ALTER TABLE shop.customers DISABLE ROW LEVEL SECURITY")
        owner.execute("DELETE FROM shop.customers WHERE id > 1000")
        owner.execute("DROP FUNCTION shop.ar_spy()")
        owner.execute("DROP TABLE shop.ar_spied")
        admin.execute("SELECT * FROM graph.apply_sync()")
        assert admin.execute("SELECT * FROM graph.verify()").fetchall() == []
