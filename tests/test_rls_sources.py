"""Row-level security on a source table: build, verify, maintenance's source
check, reconcile and retry_failed read every row or fail loudly (42501 with a
hint; verify, the source check and reconcile name that table as not checked and
check the others), and the table owner's policy function never runs as the admin. Reads
with hydrate => true keep applying the source's policies as the caller.

Real roles, each logging in: a non-superuser graph_admin member, the table's
owner (also an admin), a plain reader. The policy calls a function that counts
its calls in a sequence (not rolled back with a failed statement) and records
current_user."""

import psycopg
import pytest

from conftest import as_role, connect

ADMIN, OWNER, READER = "gs_rls_admin", "gs_rls_owner", "gs_rls_reader"

POLICY_FUNCTION = """
CREATE SEQUENCE public.policy_calls;
CREATE TABLE public.policy_log (who text, call bigint);
GRANT USAGE, SELECT, UPDATE ON SEQUENCE public.policy_calls TO PUBLIC;
GRANT INSERT, SELECT ON public.policy_log TO PUBLIC;
CREATE FUNCTION public.rls_visible(v text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.policy_log VALUES (current_user, pg_catalog.nextval('public.policy_calls'));
    RETURN v IS DISTINCT FROM 'hidden';
END $$;
"""

POISON = """
CREATE OR REPLACE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.properties->>'v' = 'poisoned' THEN RAISE EXCEPTION 'poisoned row'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON graph._node_rows
FOR EACH ROW EXECUTE FUNCTION public.poison();
"""


def policy_calls(conn):
    return conn.execute(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.policy_calls").fetchone()[0]


def alive_nodes(conn):
    return conn.execute("SELECT count(*) FROM graph._nodes WHERE alive").fetchone()[0]


@pytest.fixture(scope="module")
def roles(db):
    with connect(db) as c:
        for role in (ADMIN, OWNER, READER):
            c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {ADMIN} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE ROLE {OWNER} LOGIN IN ROLE graph_admin")
        c.execute(f"CREATE ROLE {READER} LOGIN")
        c.execute(POLICY_FUNCTION)
        c.execute(f"ALTER FUNCTION public.rls_visible(text) OWNER TO {OWNER}")
    yield db
    with connect(db) as c:
        c.execute("DROP TABLE IF EXISTS docs CASCADE")
        for role in (ADMIN, OWNER, READER):
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")


@pytest.fixture(params=["enable", "force"])
def docs(request, roles):
    """docs(id, v, ref) owned by OWNER, a chain 1 -> 2 -> 3 -> 4 -> 5 whose row 3 the
    policy hides; row-level security enabled (and forced on the owner in 'force').
    Registered and built by the superuser; the policy has not run yet."""
    with connect(roles) as c:
        c.execute("DROP TABLE IF EXISTS docs CASCADE")
        c.execute("SELECT graph.remove_table(table_oid::regclass, true) FROM graph._node_tables")
        c.execute("DELETE FROM graph._maintenance_jobs")
        c.execute("CREATE TABLE docs (id int PRIMARY KEY, v text, ref int)")
        c.execute("INSERT INTO docs SELECT g, CASE WHEN g = 3 THEN 'hidden' ELSE 'v' || g END,"
                  " nullif(g + 1, 6) FROM generate_series(1, 5) g")
        c.execute(f"ALTER TABLE docs OWNER TO {OWNER}")
        c.execute("ALTER TABLE docs ENABLE ROW LEVEL SECURITY")
        if request.param == "force":
            c.execute("ALTER TABLE docs FORCE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY docs_visible ON docs USING (public.rls_visible(v))")
        c.execute(f"GRANT SELECT ON docs TO {ADMIN}, {READER}")
        c.execute("SELECT graph.add_table('docs', columns => '{v}')")
        c.execute("SELECT graph.add_edge('docs', 'ref', 'docs', label => 'next')")
        c.execute("SELECT graph.build()")
        for role in (ADMIN, OWNER):
            c.execute(f"ALTER ROLE {role} NOBYPASSRLS")
        c.execute("SELECT setval('public.policy_calls', 1, false)")
        c.execute("TRUNCATE public.policy_log")
        assert alive_nodes(c) == 5
    yield roles, request.param
    with connect(roles) as c:
        c.execute("DROP TRIGGER IF EXISTS poison ON graph._node_rows")


def assert_refused(error, purpose):
    assert "row-level security" in str(error) and "docs" in str(error) and purpose in str(error)
    assert "BYPASSRLS" in error.diag.message_hint


def test_build_by_an_admin_the_policy_applies_to_is_refused_not_filtered(docs):
    dsn, _ = docs
    with as_role(dsn, ADMIN) as a:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            a.execute("SELECT * FROM graph.build()")
    assert_refused(e.value, "graph.build()")
    with connect(dsn) as c:
        assert policy_calls(c) == 0  # the owner's policy function never ran as the admin
        assert alive_nodes(c) == 5  # nothing was rebuilt without row 3
        assert c.execute("SELECT current_setting('row_security')").fetchone() == ("on",)


def test_verify_by_an_admin_the_policy_applies_to_is_refused(docs):
    """The source check is per table (tests/test_check_per_table.py): the table the
    policy applies to is reported as not checked, with the refusal and its hint; it
    raised for the whole check before, so one owner's policy hid every table's drift."""
    dsn, _ = docs
    with as_role(dsn, ADMIN) as a:
        rows = a.execute("SELECT difference, table_name, id, detail FROM graph.verify()").fetchall()
    assert [r[:3] for r in rows] == [("check_failed", "public.docs", None)], rows
    detail = rows[0][3]
    assert detail["sqlstate"] == "42501"
    assert "row-level security" in detail["message"] and "graph.verify()" in detail["message"]
    assert "BYPASSRLS" in detail["hint"]
    with connect(dsn) as c:
        assert policy_calls(c) == 0


def test_maintenance_source_check_fails_loudly(docs):
    dsn, _ = docs
    with as_role(dsn, ADMIN) as a:
        a.execute("SET graph.verify_interval = '0'")  # the source check is due
        status, error = a.execute("SELECT status, error FROM graph.run_scheduled_maintenance()").fetchone()
    # the table is named as not checked (never as clean); the run does not succeed
    assert status == "partial"
    # the message names the call made, not graph.verify(), which nobody called
    assert "public.docs (SQLSTATE 42501" in error and "row-level security" in error
    assert "graph.run_scheduled_maintenance()" in error and "graph.verify()" not in error
    with connect(dsn) as c:
        assert policy_calls(c) == 0
        status, action = c.execute("SELECT last_maintenance_status, next_action FROM graph.sync_health()").fetchone()
        assert status == "partial" and "could not read public.docs" in action, action


def test_reconcile_fails_loudly(docs):
    dsn, _ = docs
    with as_role(dsn, ADMIN) as a:
        rows = a.execute("SELECT action, table_name, items, detail FROM graph.reconcile()").fetchall()
    assert [r[:2] for r in rows] == [("check_failed", "public.docs")], rows
    assert "row-level security" in rows[0][3]
    with connect(dsn) as c:
        assert policy_calls(c) == 0
        assert alive_nodes(c) == 5
        assert c.execute("SELECT last_maintenance_status FROM graph.sync_health()").fetchone() == ("partial",)


def test_retry_failed_reads_the_current_row_unfiltered_or_refuses(docs):
    dsn, _ = docs
    with connect(dsn) as c:
        c.execute(POISON)
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("UPDATE docs SET v = 'poisoned' WHERE id = 2")
        assert c.execute("SELECT failed FROM graph.apply_sync()").fetchone() == (1,)
        c.execute("DROP TRIGGER poison ON graph._node_rows")
        c.execute("SELECT setval('public.policy_calls', 1, false)")
    with as_role(dsn, ADMIN) as a:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            a.execute("SELECT * FROM graph.retry_failed()")
        assert_refused(e.value, "graph.retry_failed()")
    with connect(dsn) as c:
        assert policy_calls(c) == 0
        assert c.execute("SELECT failed_sync_rows FROM graph.sync_health()").fetchone() == (1,)
        c.execute(f"ALTER ROLE {ADMIN} BYPASSRLS")
    with as_role(dsn, ADMIN) as a:
        assert a.execute("SELECT succeeded, still_failed FROM graph.retry_failed()").fetchone() == (1, 0)
        assert a.execute("SELECT * FROM graph.verify()").fetchall() == []
    with connect(dsn) as c:
        assert policy_calls(c) == 0


def test_an_admin_with_bypassrls_reads_every_row(docs):
    dsn, _ = docs
    with connect(dsn) as c:
        c.execute(f"ALTER ROLE {ADMIN} BYPASSRLS")
    with as_role(dsn, ADMIN) as a:
        with a.transaction():
            assert a.execute("SELECT node_count FROM graph.build()").fetchone() == (5,)
            assert a.execute("SELECT * FROM graph.verify()").fetchall() == []
            # The unfiltered read ends with the statement: the rest of the transaction keeps its policies.
            assert a.execute("SELECT current_setting('row_security')").fetchone() == ("on",)
        a.execute("SET graph.verify_interval = '0'")
        assert a.execute("SELECT status, differences FROM graph.run_scheduled_maintenance()"
                         ).fetchone() == ("succeeded", 0)
        assert a.execute("SELECT action FROM graph.reconcile()").fetchall() == [("nothing_to_repair",)]
    with connect(dsn) as c:
        assert policy_calls(c) == 0
        assert alive_nodes(c) == 5


def test_the_table_owner_reads_every_row_unless_the_policy_is_forced(docs):
    dsn, variant = docs
    with as_role(dsn, OWNER) as o:
        if variant == "enable":
            assert o.execute("SELECT node_count FROM graph.build()").fetchone() == (5,)
            assert o.execute("SELECT * FROM graph.verify()").fetchall() == []
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
                o.execute("SELECT * FROM graph.build()")
            assert_refused(e.value, "graph.build()")
            assert "FORCE ROW LEVEL SECURITY" in e.value.diag.message_hint
    with connect(dsn) as c:
        assert policy_calls(c) == 0
        assert alive_nodes(c) == 5


def test_hydrate_applies_the_source_policy_as_the_caller(docs):
    dsn, _ = docs
    read = ("SELECT node_id FROM graph.traverse('docs', '1', max_depth => 10, hydrate => %s)"
            " ORDER BY depth")
    with as_role(dsn, READER) as r:
        # With or without hydrate, the reader's policy applies (as the reader) and
        # row 3 is neither returned nor passed through.
        assert r.execute(read % "false").fetchall() == [("1",), ("2",)]
        assert r.execute(read % "true").fetchall() == [("1",), ("2",)]
    with connect(dsn) as c:
        assert policy_calls(c) > 0
        assert {w for (w,) in c.execute("SELECT DISTINCT who FROM public.policy_log")} == {READER}
