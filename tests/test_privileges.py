"""Privileges: admin-only operations refuse other roles with SQLSTATE 42501;
every graphsync function pins search_path, so objects planted in public are
never called, not even for a caller whose search_path puts public first."""

import psycopg
import pytest

from conftest import apply, as_role, connect, verify

ADMIN_ONLY = [
    "graph.add_table('t')", "graph.add_edge('t', 'ref', 't')", "graph.add_filter_column('t', 'v')",
    "graph.remove_table('t')", "graph.remove_edge('t', 'ref', 't')", "graph.apply_sync()",
    "graph.build()", "graph.verify()", "graph.run_scheduled_maintenance()", "graph.vacuum()",
    "graph.reconcile()", "graph.retry_failed()", "graph.prune_sync_log()",
    "graph.schedule_maintenance()", "graph.unschedule_maintenance()",
    "graph.add_schema('public')", "graph.add_schema('public', preview => true)",
    "graph.alter_table('t', add_properties => '{v}')", "graph.remove_filter_column('t', 'v')",
    "graph.alter_edge(1, label => 'x')", "graph.dangling_references()", "graph.duplicate_edges()",
    "graph.enable_replica_capture()",
]
EVERYONE = ["graph.sync_health()", "graph.status()"]

# Same names and argument types as what graphsync calls, so that an unpinned
# search_path with public first would pick these. Each counts its calls in a
# sequence (not rolled back) before raising.
HOSTILE = """
CREATE SEQUENCE public.hostile_calls;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE public.hostile_calls TO PUBLIC;
CREATE FUNCTION public.hostile(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.nextval('public.hostile_calls');
    RAISE EXCEPTION 'hostile % called', what;
END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('now()'); RETURN NULL; END $$;
CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('current_setting()'); RETURN NULL; END $$;
CREATE FUNCTION public.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('pg_current_snapshot()'); RETURN NULL; END $$;
CREATE FUNCTION public.pg_visible_in_snapshot(xid8, pg_snapshot) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('pg_visible_in_snapshot()'); RETURN NULL; END $$;
CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('to_regclass()'); RETURN NULL; END $$;
CREATE FUNCTION public.array_agg_hostile(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('= (oid, oid)'); RETURN NULL; END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.array_agg_hostile);
CREATE FUNCTION public.text_eq_hostile(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('= (text, text)'); RETURN NULL; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq_hostile);
CREATE FUNCTION public.int8_gt_hostile(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.hostile('> (bigint, bigint)'); RETURN NULL; END $$;
CREATE OPERATOR public.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_gt_hostile);
"""


def hostile_calls(conn):
    return conn.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.hostile_calls").fetchone()[0]


@pytest.fixture(scope="module")
def roles(db):
    with connect(db) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text, ref int)")
        c.execute("INSERT INTO t SELECT g, 'v' || g, 1 + g % 10 FROM generate_series(1, 10) g")
        c.execute("SELECT graph.add_table('t', columns => '{v}')")
        c.execute("SELECT graph.add_edge('t', 'ref', 't')")
        c.execute("SELECT graph.build()")
        c.execute("DROP ROLE IF EXISTS gs_mallory")
        c.execute("DROP ROLE IF EXISTS gs_ops")
        c.execute("CREATE ROLE gs_mallory LOGIN")
        c.execute("CREATE ROLE gs_ops LOGIN IN ROLE graph_admin")
        c.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON t TO gs_mallory")
        c.execute("GRANT SELECT ON t TO gs_ops")
    yield db
    with connect(db) as c:
        for role in ("gs_mallory", "gs_ops"):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("call", ADMIN_ONLY)
def test_admin_only_functions_refuse_other_roles(roles, call):
    with as_role(roles, "gs_mallory") as m:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            m.execute(f"SELECT * FROM {call}")


@pytest.mark.parametrize("fn", ["graph.run_scheduled_maintenance()", "graph.reconcile()",
                                "graph.vacuum()", "graph.retry_failed()", "graph.prune_sync_log(interval)",
                                "graph.schedule_maintenance(text)", "graph.unschedule_maintenance()"])
def test_admin_only_even_when_execute_is_granted_by_mistake(roles, fn):
    call = fn.replace("(interval)", "()").replace("(text)", "()")
    with connect(roles) as c:
        c.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO gs_mallory")
        c.execute("GRANT EXECUTE ON FUNCTION graph._import_package(), graph._require_admin() TO gs_mallory")
        try:
            with as_role(roles, "gs_mallory") as m:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    m.execute(f"SELECT * FROM {call}")
        finally:
            c.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM gs_mallory")
            c.execute("REVOKE EXECUTE ON FUNCTION graph._import_package(), graph._require_admin() FROM gs_mallory")


@pytest.mark.parametrize("call", EVERYONE)
def test_health_and_status_are_open_to_every_role(roles, call):
    with as_role(roles, "gs_mallory") as m:
        assert m.execute(f"SELECT * FROM {call}").fetchone() is not None


def test_a_graph_admin_member_runs_maintenance_without_being_superuser(roles):
    with as_role(roles, "gs_ops") as o:
        assert o.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        o.execute("SET graph.verify_interval = '0'")
        result = o.execute("SELECT status, error, differences FROM graph.vacuum()").fetchone()
        assert result == ("succeeded", None, 0)
        assert o.execute("SELECT run_by FROM graph._maintenance_jobs ORDER BY job_id DESC LIMIT 1"
                         ).fetchone() == ("gs_ops",)


def test_every_security_definer_function_pins_search_path(roles):
    """Every definer pins search_path, the generated capture functions included
    (whose bodies are also schema-qualified throughout: tests/test_security.py)."""
    with connect(roles) as c:
        loose = c.execute("""
            SELECT p.oid::regprocedure::text
            FROM pg_proc AS p
            WHERE p.pronamespace = 'graph'::regnamespace AND p.prosecdef
              AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)""").fetchall()
        assert loose == []
        definers = c.execute("""SELECT count(*) FROM pg_proc
                                WHERE pronamespace = 'graph'::regnamespace AND prosecdef""").fetchone()[0]
        assert definers >= 3  # health (graph._health_masked), status, the capture trigger functions


def test_objects_planted_in_public_are_never_called(roles):
    with connect(roles) as c:
        c.execute(HOSTILE)
    try:
        with as_role(roles, "gs_mallory") as m, connect(roles) as admin:
            m.execute("SET search_path = public, pg_catalog")
            admin.execute("SET search_path = public, pg_catalog")
            # the plant works: an unpinned query with this search_path calls it
            with pytest.raises(psycopg.errors.RaiseException, match="hostile now"):
                m.execute("SELECT now()")
            with pytest.raises(psycopg.errors.RaiseException, match=r"hostile = \(oid, oid\)"):
                m.execute("SELECT 1::oid = 1::oid")
            baseline = hostile_calls(admin)
            assert baseline == 2
            # SECURITY DEFINER code, run by a role with a hostile search_path
            m.execute("SELECT * FROM graph.sync_health()").fetchone()
            m.execute("SELECT * FROM graph.status()").fetchone()
            m.execute("INSERT INTO t VALUES (100, 'mallory', 1)")  # capture triggers are definers
            m.execute("UPDATE t SET v = 'changed' WHERE id = 2")
            m.execute("DELETE FROM t WHERE id = 3")
            # admin code, run by an admin with a hostile search_path
            admin.execute("SET graph.verify_interval = '0'")
            assert apply(admin)["stopped"] is None
            admin.execute("SELECT * FROM graph.run_scheduled_maintenance()").fetchone()
            admin.execute("SELECT * FROM graph.vacuum()").fetchone()
            admin.execute("SELECT * FROM graph.retry_failed()").fetchone()
            admin.execute("SELECT * FROM graph.reconcile()").fetchall()
            admin.execute("SELECT graph.prune_sync_log()").fetchone()
            admin.execute("SELECT * FROM graph.sync_health()").fetchone()
            assert verify(admin) == []
            assert hostile_calls(admin) == baseline
            admin.execute("RESET search_path")  # the checks below are this test's own unpinned SQL
            jobs = admin.execute("""SELECT count(*) FROM graph._maintenance_jobs
                                    WHERE status = 'failed'""").fetchone()[0]
            assert jobs == 0
    finally:
        with connect(roles) as c:
            c.execute("DROP SEQUENCE public.hostile_calls CASCADE")
            c.execute("DROP FUNCTION public.hostile(text) CASCADE")
            for sig in ("now()", "current_setting(text, boolean)", "pg_current_snapshot()",
                        "pg_visible_in_snapshot(xid8, pg_snapshot)", "to_regclass(text)",
                        "array_agg_hostile(oid, oid)", "text_eq_hostile(text, text)",
                        "int8_gt_hostile(bigint, bigint)"):
                c.execute(f"DROP FUNCTION public.{sig} CASCADE")
