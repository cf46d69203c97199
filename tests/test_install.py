"""install.py: a second run is a no-op, uninstall removes graphsync and nothing of
the user's, a reinstall works, and an upgrade keeps the log and the graph."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import install
from conftest import ROOT, apply, connect, verify

FINGERPRINT = {
    "functions": """
        SELECT coalesce(string_agg(format('%s|%s|%s|%s|%s', p.oid, p.oid::regprocedure,
                                          p.proconfig, md5(pg_get_functiondef(p.oid)),
                                          obj_description(p.oid, 'pg_proc')), E'\\n' ORDER BY p.oid), '')
        FROM pg_proc AS p WHERE p.pronamespace = 'graph'::regnamespace""",
    "relations": """
        SELECT coalesce(string_agg(format('%s|%s|%s|%s', c.oid, c.relname, c.relkind,
                                          obj_description(c.oid, 'pg_class')), E'\\n' ORDER BY c.oid), '')
        FROM pg_class AS c WHERE c.relnamespace = 'graph'::regnamespace""",
    "attributes": """
        SELECT coalesce(string_agg(format('%s.%s|%s|%s|%s|%s', c.relname, a.attname, a.attnum,
                                          format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                          pg_get_expr(d.adbin, d.adrelid)), E'\\n' ORDER BY c.oid, a.attnum), '')
        FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'graph'::regnamespace""",
    "constraints_and_indexes": """
        SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (
            SELECT format('%s|%s', c.conname, pg_get_constraintdef(c.oid)) AS x
            FROM pg_constraint AS c WHERE c.connamespace = 'graph'::regnamespace
            UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'graph') AS s""",
    "schema": "SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = 'graph'",
    "triggers": """
        SELECT coalesce(string_agg(format('%s|%s|%s|%s|%s', t.oid, t.tgrelid::regclass, t.tgname, t.tgenabled,
                                          t.tgfoid::regprocedure), E'\\n' ORDER BY t.oid), '')
        FROM pg_trigger AS t WHERE NOT t.tgisinternal""",
    "migrations": """
        SELECT coalesce(string_agg(format('%s|%s|%s', name, checksum, applied_at), E'\\n' ORDER BY name), '')
        FROM graph._migrations""",
}


def _table_contents(c, schema: str) -> dict:
    """Row count and content hash of every table of ``schema``."""
    tables = [r[0] for r in c.execute(
        "SELECT c.oid::regclass::text FROM pg_class AS c WHERE c.relnamespace = %s::regnamespace"
        " AND c.relkind IN ('r', 'p') ORDER BY c.relname", (schema,))]
    out = {}
    for t in tables:
        out[t] = c.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), ''))"
                                   " FROM {} AS x").format(sql.SQL(t))).fetchone()
    return out


# Who may do what in schema graph.
PRIVILEGES = """
SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (
    SELECT format('function %s %s', p.oid::regprocedure, p.proacl) AS x
    FROM pg_proc AS p WHERE p.pronamespace = 'graph'::regnamespace
    UNION ALL SELECT format('relation %s %s', c.relname, c.relacl)
    FROM pg_class AS c WHERE c.relnamespace = 'graph'::regnamespace
    UNION ALL SELECT format('schema %s', n.nspacl) FROM pg_namespace AS n WHERE n.nspname = 'graph') AS s
"""


def fingerprint(c) -> dict:
    """Definitions and data of schema graph (privileges apart: see PRIVILEGES)."""
    out = {k: c.execute(q).fetchone()[0] for k, q in FINGERPRINT.items()}
    out["graph_tables"] = _table_contents(c, "graph")
    return out


def privileges(c) -> list[str]:
    return c.execute(PRIVILEGES).fetchone()[0].splitlines()


def run_cli(dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "install.py"), "--dsn", dsn, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def installed_db(server, template):
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server.create_database(name, template)
    yield dsn
    server.drop_database(name)


USER_SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id int PRIMARY KEY, name text, referrer int);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customers, total numeric);
INSERT INTO shop.customers SELECT g, 'c' || g, nullif(g - 1, 0) FROM generate_series(1, 30) g;
INSERT INTO shop.orders SELECT g, 1 + g % 30, g * 1.5 FROM generate_series(1, 60) g;
"""
REGISTER = """
SELECT graph.add_table('shop.customers', columns => '{name}');
SELECT graph.add_table('shop.orders', columns => '{total}');
SELECT graph.add_edge('shop.customers', 'referrer', 'shop.customers');
SELECT graph.add_edge('shop.orders', 'customer_id', 'shop.customers', weight_column => 'total');
"""
WRITE_ROWS = 4


def writes(new_customer=31, customer=2, order=7, new_order=1000, deleted_order=8) -> str:
    """WRITE_ROWS writes: an insert, an update (edge and property), a key change, a delete."""
    return f"""
INSERT INTO shop.customers VALUES ({new_customer}, 'new', 5);
UPDATE shop.customers SET referrer = {new_customer}, name = 'changed {new_customer}' WHERE id = {customer};
UPDATE shop.orders SET id = {new_order} WHERE id = {order};
DELETE FROM shop.orders WHERE id = {deleted_order};
"""


def with_pending_writes(c) -> None:
    """USER_SCHEMA registered and built, then writes(): WRITE_ROWS log rows pending."""
    c.execute(USER_SCHEMA)
    c.execute(REGISTER)
    c.execute("SELECT graph.build()")
    c.execute(writes())


def test_a_second_install_changes_no_definition_or_data(installed_db):
    with connect(installed_db) as c:
        install.install(c)  # the files as they are now, whatever the template was built from
        with_pending_writes(c)
        before = fingerprint(c)
        assert before["functions"] and before["triggers"] and before["migrations"]
        assert before["graph_tables"]["graph._sync_log"][0] == WRITE_ROWS

        result = install.install(c)
        assert result["migrations"] == [] and result["modules_changed"] is False
        assert fingerprint(c) == before

    cli = run_cli(installed_db, "--quiet")
    assert cli.returncode == 0, cli.stderr
    with connect(installed_db) as c:
        assert fingerprint(c) == before
        assert apply(c)["stopped"] is None
        assert verify(c) == []


def test_a_second_install_changes_no_privilege(installed_db):
    """The privileges install.py grants do not depend on how many times it ran, nor on
    whether tables were registered between runs."""
    with connect(installed_db) as c:
        install.install(c)
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        before = privileges(c)
        install.install(c)
        after = privileges(c)
        changed = sorted(set(before) ^ set(after))
        assert before == after, "privileges changed by a second install:\n" + "\n".join(changed)
        install.install(c)
        assert privileges(c) == after


def test_the_fingerprint_sees_a_changed_install(installed_db):
    """Control: the fingerprints compared above do change when the install does."""
    with connect(installed_db) as c:
        before = fingerprint(c)
        acl = privileges(c)
        c.execute("REVOKE ALL ON graph._label_rows FROM graph_admin")
        assert privileges(c) != acl
        c.execute("COMMENT ON FUNCTION graph.verify() IS 'changed'")
        assert fingerprint(c)["functions"] != before["functions"]
        c.execute("ALTER TABLE graph._label_rows ADD COLUMN extra int")
        assert fingerprint(c)["attributes"] != before["attributes"]
        c.execute("INSERT INTO graph._label_rows (label) VALUES ('x')")
        assert fingerprint(c)["graph_tables"] != before["graph_tables"]


def test_uninstall_then_install_again(fresh_db):
    cli = run_cli(fresh_db)
    assert cli.returncode == 0, cli.stderr
    assert "installed" in cli.stdout
    with connect(fresh_db) as c:
        with_pending_writes(c)
        apply(c)
        c.execute("INSERT INTO shop.customers VALUES (32, 'unapplied', 1)")
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'graphsync\\_capture\\_%'"
                         ).fetchone()[0] == 8
        user_before = _table_contents(c, "shop")
        user_defs = c.execute("SELECT string_agg(format('%s|%s', c.oid, c.relname), ',' ORDER BY c.oid)"
                              " FROM pg_class AS c WHERE c.relnamespace = 'shop'::regnamespace").fetchone()[0]

    cli = run_cli(fresh_db, "--uninstall")
    assert cli.returncode == 0, cli.stderr
    with connect(fresh_db) as c:
        assert c.execute("SELECT to_regnamespace('graph')").fetchone()[0] is None
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'graphsync%'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_capture\\_%'").fetchone()[0] == 0
        assert _table_contents(c, "shop") == user_before
        assert c.execute("SELECT string_agg(format('%s|%s', c.oid, c.relname), ',' ORDER BY c.oid)"
                         " FROM pg_class AS c WHERE c.relnamespace = 'shop'::regnamespace").fetchone()[0] == user_defs
        # The tables are writable without graphsync.
        c.execute("INSERT INTO shop.customers VALUES (33, 'after uninstall', NULL)")

    cli = run_cli(fresh_db, "--uninstall")
    assert cli.returncode == 0, "uninstalling twice must not fail: " + cli.stderr

    cli = run_cli(fresh_db)
    assert cli.returncode == 0, cli.stderr
    with connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM graph._node_tables").fetchone()[0] == 0
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        assert verify(c) == []
        c.execute(writes(new_customer=41, customer=3, order=10, new_order=2000, deleted_order=9))
        result = apply(c)
        assert (result["inserts"], result["updates"], result["deletes"]) == (1, 2, 1)
        assert verify(c) == []


def test_an_upgrade_keeps_the_log_and_the_graph(installed_db):
    with connect(installed_db) as c:
        with_pending_writes(c)
        pending = c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0]
        assert pending == WRITE_ROWS
        kept = {
            "log": "SELECT string_agg(row(l.*)::text, E'\\n' ORDER BY id) FROM graph._sync_log AS l",
            "state": "SELECT row(s.*)::text FROM graph._sync_state AS s",
            "nodes": "SELECT md5(string_agg(row(n.*)::text, ',' ORDER BY node_id)) FROM graph._nodes AS n",
            "csr": "SELECT string_agg(format('%s|%s|%s', generation, direction, md5(targets)), ',' ORDER BY 1)"
                   " FROM graph._csr",
            "registry": "SELECT (SELECT string_agg(row(n.*)::text, ',' ORDER BY table_oid)"
                        " FROM graph._node_tables AS n)"
                        " || (SELECT string_agg(row(e.*)::text, ',' ORDER BY edge_source_id)"
                        " FROM graph._edge_sources AS e)",
        }
        before = {k: c.execute(q).fetchone()[0] for k, q in kept.items()}
        # Make the installed copy look older: other package code, an older version, a
        # function and a capture trigger missing.
        c.execute("UPDATE graph._py_modules SET source = source || E'\\n# older' WHERE name = 'graphsync.sync.apply'")
        c.execute("UPDATE graph._version SET version = '0.0.0'")
        c.execute("DROP FUNCTION graph.sync_health()")
        c.execute("DROP TRIGGER graphsync_capture_update ON shop.orders")

        result = install.install(c)
        assert result["modules_changed"] is True

        assert {k: c.execute(q).fetchone()[0] for k, q in kept.items()} == before
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == pending
        assert c.execute("SELECT version FROM graph._version").fetchone()[0] == install.VERSION
        assert c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop.orders'::regclass"
                         " AND tgname = 'graphsync_capture_update'").fetchone()[0] == 1
        modules = dict(c.execute("SELECT name, source FROM graph._py_modules").fetchall())
        assert modules["graphsync.sync.apply"] == (ROOT / "plpython" / "graphsync" / "sync" / "apply.py").read_text()

    with connect(installed_db) as c:  # a new backend loads the upgraded package
        c.execute("UPDATE shop.orders SET customer_id = 3 WHERE id = 1")
        result = apply(c)
        assert result["stopped"] is None and result["failed"] == 0
        assert (result["inserts"], result["updates"], result["deletes"]) == (1, 3, 1)
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == 0
        # the capture trigger dropped above is a write the graph may lack (capture_off,
        # tests/test_abuse_capture_toggle.py): a rebuild resolves it
        assert [(d[0], d[1]) for d in verify(c)] == [("capture_off", "shop.orders")]
        c.execute("SELECT graph.build()")
        assert verify(c) == []


# -- Migration checksums --------------------------------------------------------

@pytest.mark.parametrize("text, statements", [
    ("SELECT 1;", "SELECT 1;"),
    ("-- a comment\nSELECT 1; -- another\n", "SELECT 1;"),
    # Whitespace separates words, nothing else.
    ("SELECT\n    1\t,\n  2 ;\n\n", "SELECT 1,2;"),
    ("CREATE TABLE t (\n    id int PRIMARY KEY\n)", "CREATE TABLE t(id int PRIMARY KEY)"),
    ("SELECT 1/* inline */+ 2", "SELECT 1+2"),
    ("SELECT a/* a comment separates words */b", "SELECT a b"),
    ("/* outer /* nested */ still comment */ SELECT 1", "SELECT 1"),
    ("SELECT 1 -- no newline at the end", "SELECT 1"),
    # Literals are kept byte for byte, -- and /* inside them included.
    ("SELECT '--  not a comment',  'a /* b */'", "SELECT '--  not a comment','a /* b */'"),
    ("SELECT 'it''s -- still text' -- gone", "SELECT 'it''s -- still text'"),
    ("SELECT E'it\\'s -- still text' -- gone", "SELECT E'it\\'s -- still text'"),
    ("SELECT 'ends with backslash\\' -- gone", "SELECT 'ends with backslash\\'"),
    ('SELECT 1 AS "a -- b"  -- gone', 'SELECT 1 AS "a -- b"'),
    ('SELECT 1 AS "a "" -- b" -- gone', 'SELECT 1 AS "a "" -- b"'),
    # Dollar-quoted bodies are kept whole: their comments and layout are the function's.
    ("CREATE FUNCTION f() RETURNS int AS $$\n  -- kept\n  SELECT  1\n$$ LANGUAGE sql; -- gone",
     "CREATE FUNCTION f()RETURNS int AS $$\n  -- kept\n  SELECT  1\n$$ LANGUAGE sql;"),
    ("DO $body$ BEGIN EXECUTE $$ -- $$; END $body$; -- gone", "DO $body$ BEGIN EXECUTE $$ -- $$; END $body$;"),
    # $1 is a parameter and a$b$ an identifier, not dollar quotes.
    ("PREPARE p AS SELECT $1 -- gone\n", "PREPARE p AS SELECT $1"),
    ("SELECT a$b$ FROM t -- gone $b$", "SELECT a$b$ FROM t"),
    # An unterminated literal or comment runs to the end, as the server reads it.
    ("SELECT 'open -- x", "SELECT 'open -- x"),
    ("SELECT 1 /* open", "SELECT 1"),
])
def test_migration_statements_drop_comments_and_layout_only(text, statements):
    assert install.migration_statements(text) == statements


def test_migration_checksum_sees_statements_not_comments():
    base = "CREATE TABLE t (\n    id int PRIMARY KEY, -- the key\n    v text DEFAULT '--'\n);\n"
    same = ("-- Table t: documented here now.\n--   id  the key\n--   v   a value\n"
            "CREATE TABLE t (id int PRIMARY KEY, v text DEFAULT '--');")
    assert install.migration_checksum(base) == install.migration_checksum(same)
    for edited in (base.replace("int", "bigint"), base.replace("'--'", "'-- '"), base.replace("v text", "w text"),
                   base.replace("id int", "idint"), base + "CREATE INDEX ON t (v);"):
        assert install.migration_checksum(edited) != install.migration_checksum(base), edited


def test_the_released_checksums_are_those_of_the_previous_release():
    """RELEASED_RAW_CHECKSUMS holds, for the migrations as released, the sha256 of the
    file text (what releases up to PREVIOUS_RELEASE stored) and the statement checksum,
    which the files as they are now still have."""
    from test_upgrade import PREVIOUS_RELEASE, released_file

    for name, (raw, statements) in install.RELEASED_RAW_CHECKSUMS.items():
        released = released_file(PREVIOUS_RELEASE, f"sql/migrations/{name}")
        assert hashlib.sha256(released.encode()).hexdigest() == raw, name
        assert install.migration_checksum(released) == statements, name
        assert install.migration_checksum((ROOT / "sql" / "migrations" / name).read_text()) == statements, name


# -- Refusals: each changes nothing ----------------------------------------------

def copy_tree(dest: Path) -> Path:
    """A copy of what install.py installs from, to edit in a test."""
    shutil.copy(ROOT / "install.py", dest / "install.py")
    for folder in ("sql", "plpython", "client"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def run_copy_cli(tree: Path, dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tree / "install.py"), "--dsn", dsn, *args],
                          capture_output=True, text=True, timeout=120)


def everything(c) -> tuple:
    """What an install could change in a database: its schemas, languages and
    extensions, and, when graphsync is there, its definitions, data and privileges."""
    catalog = c.execute("""SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace),
                                  (SELECT string_agg(lanname, ',' ORDER BY lanname) FROM pg_language),
                                  (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension)""").fetchone()
    if c.execute("SELECT to_regnamespace('graph') IS NULL").fetchone()[0]:
        return catalog, None, None
    return catalog, fingerprint(c), privileges(c)


def test_an_edited_applied_migration_is_refused(installed_db, tmp_path):
    tree = copy_tree(tmp_path)
    core = tree / "sql" / "migrations" / "001-core.sql"
    core.write_text(core.read_text().replace("    tenant text,\n", "    tenant text NOT NULL,\n", 1))
    with connect(installed_db) as c:
        with_pending_writes(c)
        before = everything(c)
        with pytest.raises(install.InstallError) as err:
            install.install(c, root=tree)
        assert "sql/migrations/001-core.sql" in str(err.value) and "edited" in str(err.value)
        assert everything(c) == before

    cli = run_copy_cli(tree, installed_db)
    assert cli.returncode == 2, cli
    assert "001-core.sql" in cli.stderr and "Traceback" not in cli.stderr
    with connect(installed_db) as c:
        assert everything(c) == before


def test_an_install_that_fails_part_way_changes_nothing(installed_db, tmp_path):
    """install() is one transaction: an upgrade whose last step fails (the
    privileges, after a new migration ran, a module of the package was stored
    again and every function was created again, one of them changed) leaves the
    database as it was -- its catalog, graphsync's definitions, stored code, data
    and privileges, the log with its pending rows -- and the graph is then brought
    up to date as if nothing had been tried."""
    tree = copy_tree(tmp_path)
    (tree / "sql" / "migrations" / "990-part-way.sql").write_text(
        "CREATE TABLE graph._part_way (a int);\nALTER TABLE graph._sync_state ADD COLUMN part_way int;\n")
    status = tree / "sql" / "functions" / "graph.status.sql"
    status.write_text(status.read_text() + "\nCOMMENT ON FUNCTION graph.status() IS 'changed part way';\n")
    module = tree / "plpython" / "graphsync" / "records.py"
    module.write_text(module.read_text() + "\n# changed part way\n")
    privileges = tree / "sql" / "privileges.sql"
    privileges.write_text(privileges.read_text() + "\nSELECT 1 / 0;\n")
    with connect(installed_db) as c:
        with_pending_writes(c)
        before = everything(c)
        with pytest.raises(psycopg.errors.DivisionByZero):
            install.install(c, root=tree)
        assert everything(c) == before
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == WRITE_ROWS
        apply(c)
        assert verify(c) == []


def test_comments_and_layout_of_an_applied_migration_may_change(installed_db, tmp_path):
    tree = copy_tree(tmp_path)
    with connect(installed_db) as c:
        install.install(c, root=tree)
        before = fingerprint(c)
        core = tree / "sql" / "migrations" / "001-core.sql"
        core.write_text("-- A new header comment.\n"
                        + core.read_text().replace("    tenant text,\n", "    tenant   text, -- the tenant\n", 1))
        result = install.install(c, root=tree)
        assert result["migrations"] == []
        assert fingerprint(c) == before


def test_a_checksum_stored_by_the_previous_release_is_accepted_and_rewritten(installed_db):
    with connect(installed_db) as c:
        expected = dict(c.execute("SELECT name, checksum FROM graph._migrations").fetchall())
        for name, (raw, _) in install.RELEASED_RAW_CHECKSUMS.items():
            c.execute("UPDATE graph._migrations SET checksum = %s WHERE name = %s", (raw, name))
        assert install.install(c)["migrations"] == []
        assert dict(c.execute("SELECT name, checksum FROM graph._migrations").fetchall()) == expected


def test_a_released_checksum_does_not_excuse_an_edit(installed_db, tmp_path):
    """A database that stored the released file checksum, upgraded with a tree whose
    migration statements differ from the released ones, is refused too."""
    tree = copy_tree(tmp_path)
    jobs = tree / "sql" / "migrations" / "010-maintenance-jobs.sql"
    jobs.write_text(jobs.read_text().replace("reason text,\n    error text,", "reason text,\n    error text,\n"
                                             "    extra text,", 1))
    with connect(installed_db) as c:
        raw = install.RELEASED_RAW_CHECKSUMS["010-maintenance-jobs.sql"][0]
        c.execute("UPDATE graph._migrations SET checksum = %s WHERE name = '010-maintenance-jobs.sql'", (raw,))
        before = everything(c)
        with pytest.raises(install.InstallError, match="010-maintenance-jobs.sql"):
            install.install(c, root=tree)
        assert everything(c) == before


def test_a_migration_the_tree_does_not_have_is_refused(installed_db):
    with connect(installed_db) as c:
        c.execute("INSERT INTO graph._migrations (name, checksum) VALUES ('900-from-the-future.sql', 'x')")
        before = everything(c)
        with pytest.raises(install.InstallError, match="900-from-the-future.sql"):
            install.install(c)
        assert everything(c) == before


@pytest.mark.parametrize("change", ["unlisted", "missing", "twice"])
def test_functions_and_their_manifest_must_agree(installed_db, tmp_path, change):
    tree = copy_tree(tmp_path)
    functions = tree / "sql" / "functions"
    manifest = functions / "README.md"
    if change == "unlisted":
        (functions / "graph.extra.sql").write_text("CREATE FUNCTION graph.extra() RETURNS int LANGUAGE sql"
                                                   " AS $$ SELECT 1 $$;\n")
        named = "graph.extra.sql"
    elif change == "missing":
        (functions / "graph.vacuum.sql").unlink()
        named = "graph.vacuum.sql"
    else:
        manifest.write_text(manifest.read_text() + "\n- `graph.verify.sql` — again\n")
        named = "graph.verify.sql"
    with pytest.raises(install.InstallError) as err:
        install.function_files(tree)
    assert named in str(err.value) and "README.md" in str(err.value)
    with connect(installed_db) as c:
        before = everything(c)
        with pytest.raises(install.InstallError):
            install.install(c, root=tree)
        assert everything(c) == before
    cli = run_copy_cli(tree, installed_db)
    assert cli.returncode == 2 and named in cli.stderr and "Traceback" not in cli.stderr, cli


def test_functions_install_in_manifest_order():
    files = [p.name for p in install.function_files()]
    assert sorted(files) == sorted(p.name for p in (ROOT / "sql" / "functions").glob("*.sql"))
    # The manifest, not the file names, sets the order: internal helpers first,
    # traverse_search after the functions its SQL body calls.
    assert files.index("graph._setting.sql") < files.index("graph.add_table.sql")
    assert files.index("graph.traverse_search.sql") > max(files.index("graph.traverse.sql"),
                                                          files.index("graph.search.sql"))
    assert files != sorted(files)


@pytest.mark.parametrize("installed", [False, True], ids=["fresh", "installed"])
def test_a_non_superuser_is_told_to_use_a_superuser(server, fresh_db, installed):
    role = "gs_installer_" + uuid.uuid4().hex[:8]
    with connect(fresh_db) as c:
        if installed:  # plpython3u exists then: what used to be blamed on NumPy
            install.install(c)
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(c.info.dbname),
                                                                     sql.Identifier(role)))
        before = everything(c)
    try:
        dsn = psycopg.conninfo.make_conninfo(fresh_db, user=role)
        for args in ((), ("--uninstall",)):
            cli = run_cli(dsn, *args)
            assert cli.returncode == 2, cli
            assert "superuser" in cli.stderr and role in cli.stderr, cli.stderr
            assert "Traceback" not in cli.stderr and "numpy" not in cli.stderr.lower(), cli.stderr
        with connect(fresh_db) as c:
            assert everything(c) == before
    finally:
        with connect(fresh_db) as c:
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_backend_connected_before_an_upgrade_runs_the_upgraded_code(installed_db, tmp_path):
    """A pooled connection that imported the package before an upgrade runs the
    upgraded package on its next call, without reconnecting: reads, apply and
    health alike."""
    tree = copy_tree(tmp_path)
    arguments = tree / "plpython" / "graphsync" / "reads" / "arguments.py"
    arguments.write_text(arguments.read_text().replace("MAX_DEPTH = 1000\n", "MAX_DEPTH = 2000\n", 1))
    with connect(installed_db) as pooled:
        pooled.execute(USER_SCHEMA)
        pooled.execute(REGISTER)
        pooled.execute("SELECT graph.build()")
        pid = pooled.execute("SELECT pg_backend_pid()").fetchone()[0]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            pooled.execute("SELECT * FROM graph.traverse('shop.customers', '1', max_depth => 1500)")
        pooled.execute("SELECT * FROM graph.sync_health()")
        with connect(installed_db) as installer:
            assert install.install(installer, root=tree)["modules_changed"] is True
        assert pooled.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        rows = pooled.execute("SELECT node_id FROM graph.traverse('shop.customers', '1', max_depth => 1500)"
                              " ORDER BY 1").fetchall()
        assert ("1",) in rows
        pooled.execute(writes())
        assert apply(pooled)["failed"] == 0
        assert verify(pooled) == []
        with connect(installed_db) as installer:  # and back: a downgrade is followed the same way
            install.install(installer)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            pooled.execute("SELECT * FROM graph.traverse('shop.customers', '1', max_depth => 1500)")


def test_every_plpython_function_asks_for_the_installed_package_on_its_first_call(installed_db):
    """The reload above works because each PL/Python function that imports the package
    asks graph._import_package() on its first call (its SD empty), not once per backend
    (GD): a function that did the latter would keep the old package after an upgrade.
    graph._run_as_definer is the exception: it runs within a read that asked already
    (db.as_definer), and a direct call must import nothing, so it only looks the package's
    module up."""
    with connect(installed_db) as c:
        bodies = dict(c.execute("""SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc AS p
                                   JOIN pg_language AS l ON l.oid = p.prolang
                                   WHERE p.pronamespace = 'graph'::regnamespace AND l.lanname = 'plpython3u'
                                     AND p.prosrc LIKE '%graphsync%'
                                     AND p.proname NOT IN ('_import_package', '_compile_package')""").fetchall())
    definer = bodies.pop("graph._run_as_definer(bigint)")
    assert "import graphsync" not in definer and "from graphsync" not in definer and "_import_package" not in definer
    assert 'sys.modules.get("graphsync.db")' in definer
    assert len(bodies) >= 15
    ask = 'if "graphsync" not in SD and plpy.execute("SELECT graph._import_package() AS settled")[0]["settled"]:'
    wrong = [name for name, src in bodies.items() if ask not in src or "GD" in src]
    assert wrong == []


def test_a_repeatable_read_transaction_open_across_an_upgrade_is_not_left_on_old_code(installed_db, tmp_path):
    """A REPEATABLE READ transaction that began before the upgrade sees the old package
    in its snapshot: what it loads then is not taken as settled, and the backend's
    next transaction runs the upgraded code."""
    tree = copy_tree(tmp_path)
    arguments = tree / "plpython" / "graphsync" / "reads" / "arguments.py"
    arguments.write_text(arguments.read_text().replace("MAX_DEPTH = 1000\n", "MAX_DEPTH = 2000\n", 1))
    with connect(installed_db) as pooled:
        pooled.execute(USER_SCHEMA)
        pooled.execute(REGISTER)
        pooled.execute("SELECT graph.build()")
        pooled.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        pooled.execute("SELECT count(*) FROM shop.customers")  # the snapshot is taken
        with connect(installed_db) as installer:
            install.install(installer, root=tree)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            pooled.execute("SELECT * FROM graph.traverse('shop.customers', '1', max_depth => 1500)")
        pooled.execute("ROLLBACK")
        assert pooled.execute("SELECT count(*) FROM graph.traverse('shop.customers', '1', max_depth => 1500)"
                              ).fetchone()[0] > 0


# -- The package's compiled code ---------------------------------------------------

# The code key of every module as graph._compile_package stores it and
# graph._import_package checks it, computed here on the server's Python.
CODE_KEYS_MATCH = """
SELECT count(*), count(m.code), count(*) FILTER (WHERE m.code_key = (
    SELECT k.magic FROM magic AS k) || ':' || encode(sha256(convert_to(m.source, 'UTF8')), 'hex'))
FROM graph._py_modules AS m"""
MAGIC = """
CREATE TEMP TABLE magic (magic text);
DO $$
import importlib.util
plpy.execute(plpy.prepare("INSERT INTO magic VALUES ($1)", ["text"]), [importlib.util.MAGIC_NUMBER.hex()])
$$ LANGUAGE plpython3u"""
# Replaces the stored code of graphsync.reads.arguments by that of its source with
# MAX_DEPTH raised, leaving source and key as they are.
OTHER_CODE = """
DO $$
import marshal
source = plpy.execute("SELECT source FROM graph._py_modules WHERE name = 'graphsync.reads.arguments'")[0]["source"]
assert "MAX_DEPTH = 1000\\n" in source
code = compile(source.replace("MAX_DEPTH = 1000\\n", "MAX_DEPTH = 2000\\n", 1), "<graphsync x>", "exec")
plpy.execute(plpy.prepare("UPDATE graph._py_modules SET code = $1 WHERE name = 'graphsync.reads.arguments'",
                          ["bytea"]), [marshal.dumps(code)])
$$ LANGUAGE plpython3u"""
DEEP = "SELECT count(*) FROM graph.traverse('shop.customers', '1', max_depth => 1500)"


def test_each_module_runs_from_the_code_compiled_at_install_while_it_matches_its_source(installed_db):
    """install.py stores each module's code object, compiled by the server's Python,
    beside its source; a new backend runs that code, not the source, as long as the
    key (bytecode magic number, SHA-256 of the source) matches; a source changed
    without its code is compiled from the source; the next install compiles it again."""
    with connect(installed_db) as c:
        install.install(c)
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        c.execute(MAGIC)
        total, compiled, matching = c.execute(CODE_KEYS_MATCH).fetchone()
        assert total >= 30 and compiled == total and matching == total
        assert c.execute("SELECT graph._compile_package()").fetchone() == (0,)  # nothing stale
        c.execute(OTHER_CODE)
    with connect(installed_db) as reader:  # runs the stored code: depth 1500 is allowed
        assert reader.execute(DEEP).fetchone()[0] > 0
    with connect(installed_db) as c:  # the source changes, its code does not: the source runs
        c.execute("UPDATE graph._py_modules SET source = source || E'\\n# changed'"
                  " WHERE name = 'graphsync.reads.arguments'")
    with connect(installed_db) as reader:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            reader.execute(DEEP)
    with connect(installed_db) as c:  # the stale key is seen, and that module compiled again
        assert c.execute("SELECT graph._compile_package()").fetchone() == (1,)
        c.execute(MAGIC)
        assert c.execute(CODE_KEYS_MATCH).fetchone()[2] == total
    with connect(installed_db) as reader:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            reader.execute(DEEP)
    with connect(installed_db) as c:  # an install puts the tree's source and its code back
        assert install.install(c)["modules_changed"] is True
        c.execute(MAGIC)
        assert c.execute(CODE_KEYS_MATCH).fetchone() == (total, total, total)


def test_code_compiled_by_another_python_is_not_loaded(installed_db):
    """A key of another bytecode magic number (the server's Python upgraded since the
    install) makes a backend compile the source, whatever the stored code holds."""
    with connect(installed_db) as c:
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
        c.execute(OTHER_CODE)
        key = c.execute("SELECT code_key FROM graph._py_modules WHERE name = 'graphsync.reads.arguments'").fetchone()[0]
        c.execute("UPDATE graph._py_modules SET code_key = 'ffff0d0a' || substr(code_key, 9)"
                  " WHERE name = 'graphsync.reads.arguments'")
    with connect(installed_db) as reader:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            reader.execute(DEEP)
    with connect(installed_db) as c:  # control: with its key back, the same code is loaded
        c.execute("UPDATE graph._py_modules SET code_key = %s WHERE name = 'graphsync.reads.arguments'", (key,))
    with connect(installed_db) as reader:
        assert reader.execute(DEEP).fetchone()[0] > 0


IMPORT_BIBFS = """
DO $$
import sys
plpy.notice("loaded before: %s" % ("graphsync.algorithms.bibfs" in sys.modules))
import graphsync.algorithms.bibfs
plpy.notice("marker: %s" % getattr(graphsync.algorithms.bibfs, "MARKER", None))
$$ LANGUAGE plpython3u"""


def test_a_module_imported_after_another_install_is_not_mixed_with_the_code_listed_before(installed_db):
    """graph._import_package lists the modules' row versions and fetches each module's
    code when it is imported, from that very row version: a module first imported after
    another install committed (same backend, its package listed before) raises
    ImportError instead of running code of a package other than the one loaded; the
    next graph._import_package sees the new package and imports it."""
    notices: list[str] = []
    with connect(installed_db) as reader, connect(installed_db) as installer:
        reader.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert reader.execute("SELECT graph._import_package()").fetchone() == (True,)
        installer.execute("UPDATE graph._py_modules SET source = source || E'\\nMARKER = 7\\n'"
                          " WHERE name = 'graphsync.algorithms.bibfs'")
        with pytest.raises(psycopg.errors.ExternalRoutineException, match="package changed while"):
            reader.execute(IMPORT_BIBFS)
        assert notices == ["loaded before: False"]
        assert reader.execute("SELECT graph._import_package()").fetchone() == (True,)
        reader.execute(IMPORT_BIBFS)  # the new package, its module compiled from the changed source
        assert notices[-1] == "marker: 7"


def test_lazy_import_runs_the_listed_code_only_while_its_key_matches(installed_db):
    """A module imported lazily still runs its stored code only when the key matches
    the row's source: a code object stored with the key of another source (tampered
    row) is not loaded, its source is compiled instead."""
    with connect(installed_db) as c:
        c.execute(OTHER_CODE)  # stored code allows depth 2000, key still that of the source
        c.execute("UPDATE graph._py_modules SET code_key = substr(code_key, 1, length(code_key) - 4) || 'beef'"
                  " WHERE name = 'graphsync.reads.arguments'")
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
    with connect(installed_db) as reader:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="above the limit of 1000"):
            reader.execute(DEEP)


STAMPED = "SELECT count(*), count(*) FILTER (WHERE code_xid = xmin), string_agg(xmin::text, ',' ORDER BY name)" \
          " FROM graph._py_modules"


def test_install_stamps_each_checked_row_and_an_install_that_changed_nothing_writes_none(installed_db):
    """install.py stamps every module row whose code key it checked against the source
    with its transaction (code_xid = xmin: a backend then does not hash the source);
    an install that changed no module writes no row; a row written by hand since is
    no longer stamped (its source is hashed again, see the tests above)."""
    with connect(installed_db) as c:
        install.install(c)
        total, stamped, versions = c.execute(STAMPED).fetchone()
        assert total >= 30 and stamped == total
        install.install(c)
        assert c.execute(STAMPED).fetchone() == (total, total, versions)
        c.execute("UPDATE graph._py_modules SET source = source || E'\\n# changed'"
                  " WHERE name = 'graphsync.reads.arguments'")
        assert c.execute(STAMPED).fetchone()[1] == total - 1
        install.install(c)
        assert c.execute(STAMPED).fetchone()[:2] == (total, total)


def test_the_install_scripts_refuse_a_function_name_schema_graph_does_not_have(installed_db):
    """sql/output-settings.sql, sql/plan-settings.sql and sql/privileges.sql set
    something on functions chosen by name (graph._functions_named): a name that
    matches no function (one renamed or dropped) fails the install with 42883 naming
    the script and the name, rather than leaving the setting quietly unset; every
    overload of a name that matches is set."""
    with connect(installed_db) as c:
        with pytest.raises(psycopg.errors.UndefinedFunction, match=r"sql/plan-settings.sql names functions"
                                                                     r" schema graph does not have: \{_no_such\}"):
            c.execute("SELECT graph._functions_named('{_traverse,_no_such}', 'sql/plan-settings.sql')")
        got = [r[0] for r in c.execute("SELECT f::text FROM graph._functions_named('{_traverse,_export}', 'x') AS f")]
        assert len(got) == 2 and all(g.startswith(("graph._traverse(", "graph._export(")) for g in got), got
        configs = c.execute("SELECT p.proname, p.proconfig FROM pg_proc AS p"
                            " WHERE p.pronamespace = 'graph'::regnamespace"
                            " AND p.proname IN ('_traverse', '_shortest_path', '_export')").fetchall()
        assert configs and all({"plan_cache_mode=force_generic_plan", "enable_seqscan=off", "jit=off"} <= set(conf)
                               for _, conf in configs), configs


# -- A schema graph another role planted -------------------------------------------

PLANTED_TRIGGER = """
CREATE FUNCTION graph._planted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER planted BEFORE INSERT ON graph._migrations FOR EACH ROW EXECUTE FUNCTION graph._planted()
"""


@pytest.fixture
def planter(fresh_db):
    """A role with CREATE on the empty database (its owner, often the application's role
    has it), and what it planted dropped after (schema graph, whatever it owns)."""
    role = "gs_planter_" + uuid.uuid4().hex[:8]
    with connect(fresh_db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(c.info.dbname),
                                                                     sql.Identifier(role)))
    yield role
    with connect(fresh_db) as c:
        c.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
        c.execute("DROP SCHEMA IF EXISTS graph CASCADE")
        c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("plant", ["schema and trigger", "schema only"])
def test_install_refuses_a_graph_schema_another_role_planted(fresh_db, planter, plant):
    """A role with CREATE on the database (its owner, often the application's role)
    creates schema graph and graph._migrations with a trigger before the install:
    the installer's CREATE ... IF NOT EXISTS kept them and its INSERT ran the trigger
    as the superuser, which made the role superuser (found in review; seen failing).
    Now the install refuses a schema graph, or anything in it, that a role other
    than a superuser or graphsync's own owns, changing nothing."""
    role = planter
    with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as a:
        a.execute("CREATE SCHEMA graph")
        if plant == "schema and trigger":
            a.execute("CREATE TABLE graph._migrations (name text PRIMARY KEY, checksum text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())")
            a.execute(PLANTED_TRIGGER.format(role=role))
    with connect(fresh_db) as c:
        with pytest.raises(install.InstallError, match=f"schema graph .*{role}.*Nothing was changed"):
            install.install(c)
        assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
        assert c.execute("SELECT to_regclass('graph._version')").fetchone() == (None,)


def test_upgrade_refuses_a_function_another_role_put_in_schema_graph(installed_db):
    """CREATE on schema graph given to another role, and what that role put there:
    an upgrade refuses them too (the installer calls functions of the schema). The
    event trigger refuses such a function when it is made (graph._follow_ddl,
    tests/test_abuse_capture_names.py); one made with it disabled, or before this
    release, is what the upgrade finds."""
    role = "gs_planter_" + uuid.uuid4().hex[:8]
    with connect(installed_db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA graph TO {}").format(sql.Identifier(role)))
    try:
        with connect(psycopg.conninfo.make_conninfo(installed_db, user=role)) as a:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                a.execute("CREATE FUNCTION graph.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        with connect(installed_db) as c:
            c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl DISABLE")
        try:
            with connect(psycopg.conninfo.make_conninfo(installed_db, user=role)) as a:
                a.execute("CREATE FUNCTION graph.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        finally:
            with connect(installed_db) as c:
                c.execute("ALTER EVENT TRIGGER graphsync_follow_ddl ENABLE ALWAYS")
        with connect(installed_db) as c:
            with pytest.raises(install.InstallError, match=r"CREATE on schema graph.*function graph\.mine\(\)"):
                install.install(c)
    finally:
        with connect(installed_db) as c:
            c.execute("DROP FUNCTION IF EXISTS graph.mine()")
            c.execute(sql.SQL("REVOKE CREATE ON SCHEMA graph FROM {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- What the commands print ---------------------------------------------------------

@pytest.mark.parametrize("dsn", [
    "postgresql://bob:Sup3r%zzSecret@127.0.0.1:1/db",  # a stray % in a password
    "postgresql://bob:Sup3rSecret@[::1:1/db",  # a typo in an IPv6 host
    "host=127.0.0.1 port=1 password='Sup3r Secret' sslmode=nosuch",
    "host=127.0.0.1 port=1 password=Sup3r Secr3t",  # a space: libpq names the rest an option
    "host=127.0.0.1 port=1 password=Sup3r Secr3t=x dbname=db",
])
def test_no_command_prints_the_password_of_a_dsn_it_cannot_use(dsn, capsys):
    """libpq quotes a DSN it cannot parse, its password included; the commands mask
    it (found in review: the CLI printed it; install.py a traceback with it)."""
    from graphsync_client import cli

    assert cli.main(["health", "--dsn", dsn]) == 2
    assert install.main(["--dsn", dsn]) == 2
    err = capsys.readouterr().err
    assert "Sup3r" not in err and "Secr" not in err and "Traceback" not in err, err
    assert err.count("cannot connect") == 2, err


def test_health_prints_no_control_character_a_table_owner_chose(installed_db, capsys):
    """A table's name is its owner's to choose: with an escape sequence in it, the
    health table (schema drift, next action) retitled the operator's terminal,
    cleared it and painted a fake line (found in review; seen failing)."""
    from graphsync_client import cli

    owner = "gs_owner_" + uuid.uuid4().hex[:8]
    evil = "t\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE: nothing to do"
    with connect(installed_db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(owner)))
        c.execute("CREATE TABLE public.esc_t (id int PRIMARY KEY)")
        c.execute(sql.SQL("ALTER TABLE public.esc_t OWNER TO {}").format(sql.Identifier(owner)))
        c.execute("SELECT graph.add_table('public.esc_t')")
    try:
        with connect(psycopg.conninfo.make_conninfo(installed_db, user=owner)) as o:
            o.execute(sql.SQL("ALTER TABLE public.esc_t RENAME TO {}").format(sql.Identifier(evil)))
            o.execute(sql.SQL("ALTER TABLE public.{} DISABLE TRIGGER graphsync_capture_update")
                      .format(sql.Identifier(evil)))
        assert cli.main(["health", "--dsn", installed_db]) == 0
        out = capsys.readouterr().out
        assert "FAKE" in out and "\x1b" not in out and "\x07" not in out, out
        assert "\\x1b]0;pwned\\x07" in out
    finally:
        with connect(installed_db) as c:
            c.execute(sql.SQL("DROP TABLE public.{}").format(sql.Identifier(evil)))
            c.execute("SELECT * FROM graph.reconcile()").fetchall()
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(owner)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(owner)))


def test_an_upgrade_captures_no_table_an_admin_wrote_into_the_registry_by_hand(installed_db):
    """A graph_admin member without privileges on a table cannot register it
    (graph.add_table needs SELECT and TRIGGER), but may write the registry's tables:
    the upgrade, a superuser's, generated capture for every registered table and
    attached its triggers, and the table's rows reached the log the admin reads
    (found in review; seen failing). Now it regenerates capture only where
    graphsync's triggers are (and migration 426 refuses such a row: this one stands
    for a row written before it)."""
    adm = "gs_adm_" + uuid.uuid4().hex[:8]
    with connect(installed_db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE graph_admin").format(sql.Identifier(adm)))
        c.execute("CREATE TABLE public.salaries (id int PRIMARY KEY, amount int)")
    try:
        with connect(psycopg.conninfo.make_conninfo(installed_db, user=adm)) as a:
            assert not a.execute("SELECT has_table_privilege('public.salaries', 'SELECT')").fetchone()[0]
            with pytest.raises(psycopg.Error):
                a.execute("SELECT graph.add_table('public.salaries', columns => '{amount}')")
        with connect(installed_db) as c:
            # The admin's row, as written before migration 426 refused it (its trigger
            # does not fire under replication's session role).
            c.execute("SET session_replication_role = replica")
            c.execute("""INSERT INTO graph._node_tables (table_oid, table_name, id_columns, columns)
                         VALUES ('public.salaries'::regclass, 'public.salaries', '{id}', '{amount}')""")
            c.execute("RESET session_replication_role")
        with connect(installed_db) as c:
            install.install(c)
            c.execute("INSERT INTO public.salaries VALUES (1, 987654)")
            triggers = c.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.salaries'::regclass"
                                 " AND NOT tgisinternal").fetchone()[0]
            logged = c.execute("SELECT count(*) FROM graph._sync_log"
                               " WHERE table_oid = 'public.salaries'::regclass").fetchone()[0]
        assert (triggers, logged) == (0, 0)
    finally:
        with connect(installed_db) as c:
            c.execute("DELETE FROM graph._node_tables WHERE table_oid = 'public.salaries'::regclass")
            c.execute("DROP TABLE public.salaries")
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(adm)))


PLANTED_FORMAT = """
CREATE FUNCTION public.format(f text, fn regprocedure) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
    END IF;
    RETURN pg_catalog.format(f, fn);
END $$
"""


def test_install_runs_no_function_the_database_owner_planted_in_public(fresh_db):
    """The installer ran its migrations and sql/privileges.sql under the session's
    search_path ("$user", public): the database's owner planted
    public.format(text, regprocedure), a closer match than pg_catalog's for
    privileges.sql's format(), which the installing superuser then ran (found in
    review; seen failing: its owner became superuser). The installer pins
    search_path to pg_catalog, pg_temp for its transaction and gives the caller's
    back after."""
    role = "gs_sp_" + uuid.uuid4().hex[:8]
    with connect(fresh_db) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(c.info.dbname),
                                                                   sql.Identifier(role)))
    try:
        with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as a:
            a.execute(PLANTED_FORMAT.format(role=role))
        with connect(fresh_db) as c:
            c.execute("SET search_path = \"$user\", public")
            with c.transaction():  # in the caller's transaction, as a framework's migration runs it
                install.install(c)
                assert c.execute("SHOW search_path").fetchone() == ('"$user", public',)
            assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
    finally:
        with connect(fresh_db) as c:
            c.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
            c.execute("DROP SCHEMA IF EXISTS graph CASCADE")
            c.execute("DROP FUNCTION IF EXISTS public.format(text, regprocedure)")
            c.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(c.info.dbname)))
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


PLANTED_VERSION = """
CREATE SCHEMA graph;
CREATE FUNCTION graph.v() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
        -- out of the installer's way: it then installs into a schema graph of its own
        EXECUTE 'ALTER SCHEMA graph RENAME TO {role}_gone';
    END IF;
    RETURN '0';
END $$;
CREATE VIEW graph._version AS SELECT graph.v() AS version;
"""


def test_install_reads_no_graph_version_a_planter_made_before_checking_the_schema(fresh_db, planter):
    """The installer read graph._version before it checked who owns schema graph: a
    planted view over the planter's function ran as the superuser, which made the
    planter superuser (and so passed the owners' check) and moved its schema out of
    the way (found in review; seen failing). The check comes first now."""
    role = planter
    with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as a:
        a.execute(PLANTED_VERSION.format(role=role))
    with connect(fresh_db) as c:
        try:
            install.install(c)
        except install.InstallError:
            pass  # refusing is right
        assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]


PLANTED_HEALTH = """
CREATE SCHEMA graph;
CREATE FUNCTION graph.sync_health() RETURNS TABLE (status text) LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {role} SUPERUSER';
    END IF;
    RETURN QUERY SELECT 'ok'::text;
END $$;
"""


def test_health_runs_no_sync_health_another_role_planted(fresh_db, planter, capsys):
    """Where graphsync is not installed (yet, or after an uninstall), a role with
    CREATE on the database planted graph.sync_health(), which the operator's health
    check ran as a superuser (found in review; seen failing). health checks who owns
    schema graph first, as the installer does."""
    from graphsync_client import cli

    role = planter
    with connect(psycopg.conninfo.make_conninfo(fresh_db, user=role)) as a:
        a.execute(PLANTED_HEALTH.format(role=role))
    assert cli.main(["health", "--dsn", fresh_db]) == 2
    assert "graph.sync_health() was not called" in capsys.readouterr().err
    with connect(fresh_db) as c:
        assert not c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
