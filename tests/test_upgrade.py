"""Upgrading from the real previous release: its own install.py (extracted from git)
installs into a fresh database, a schema is registered and built, rows are written
and left pending; then the current tree installs over it. The log and the graph are
kept, the pending rows apply afterwards, verify() finds nothing, and the upgraded
database's catalog equals that of a fresh install of the current tree."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

import install
from conftest import ROOT, apply, connect, verify
from test_install import REGISTER, USER_SCHEMA, WRITE_ROWS, writes

# Releases users' databases were installed with: PREVIOUS_RELEASE, the last that stored
# its migrations' checksums as the file text's (install.RELEASED_RAW_CHECKSUMS), and
# LAST_RELEASE, the last landed (a function whose arguments changed since must be
# dropped by a migration: CREATE OR REPLACE leaves the old one behind).
PREVIOUS_RELEASE = "05270d3"
LAST_RELEASE = "b20ad75"


def _git(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("git is not installed")


def released_file(commit: str, path: str) -> str:
    """The text of ``path`` as of ``commit``."""
    proc = _git("show", f"{commit}:{path}")
    if proc.returncode != 0:
        pytest.skip(f"{path} at {commit} is not available here: {proc.stderr.decode().strip()}")
    return proc.stdout.decode()


@pytest.fixture(scope="module", params=[PREVIOUS_RELEASE, LAST_RELEASE])
def previous_release(request, tmp_path_factory):
    """The tree of a release (PREVIOUS_RELEASE, LAST_RELEASE), extracted into a temporary directory."""
    archive = _git("archive", request.param)
    if archive.returncode != 0:
        pytest.skip(f"release {request.param} is not available here: {archive.stderr.decode().strip()}")
    tree = tmp_path_factory.mktemp("previous-release")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=60)
    return tree


# The catalog of a graphsync install, without what differs between two databases
# by construction: oids (a capture function, statement or row, is named after its table's oid, so that
# oid is replaced by the table's name), applied_at and installed_at, row data.
CAPTURE_OID = r"""CASE WHEN p.proname ~ '^_capture_(row_)?\d+$'
    THEN substring(p.proname FROM '^_capture_(?:row_)?(\d+)$') END"""


def _unoid(expr: str, oid_text: str) -> str:
    """``expr`` with the table oid ``oid_text`` (NULL: nothing) replaced by the table name."""
    return (f"coalesce(regexp_replace({expr}, '(?<![0-9])' || {oid_text} || '(?![0-9])',"
            f" ({oid_text})::oid::regclass::text, 'g'), {expr})")


CATALOG = {
    "functions": f"""
        SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
            SELECT format('%s(%s)|%s|%s|%s|%s|%s',
                          {_unoid('p.proname', 'o.capture')}, pg_get_function_identity_arguments(p.oid),
                          p.proowner::regrole, p.proconfig, p.proacl,
                          md5({_unoid('pg_get_functiondef(p.oid)', 'o.capture')}),
                          obj_description(p.oid, 'pg_proc')) AS x
            FROM pg_proc AS p, LATERAL (SELECT {CAPTURE_OID} AS capture) AS o
            WHERE p.pronamespace = 'graph'::regnamespace) AS f""",
    "relations": """
        SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', c.relname, c.relkind, c.relowner::regrole,
                                 c.relacl, c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
                                 obj_description(c.oid, 'pg_class')), E'\\n' ORDER BY c.relname)
        FROM pg_class AS c WHERE c.relnamespace = 'graph'::regnamespace""",
    "columns": """
        SELECT string_agg(format('%s.%s|%s|%s|%s|%s|%s|%s|%s', c.relname, a.attname, a.attnum,
                                 format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                                 a.attidentity, a.attcompression, col_description(c.oid, a.attnum)),
                          E'\\n' ORDER BY c.relname, a.attnum)
        FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'graph'::regnamespace""",
    "constraints": """
        SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
            SELECT format('%s|%s|%s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS x
            FROM pg_constraint AS c WHERE c.connamespace = 'graph'::regnamespace) AS k""",
    "indexes": "SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'graph'",
    "sequences": """
        SELECT string_agg(format('%s|%s|%s|%s|%s', sequencename, data_type, start_value, increment_by, cycle),
                          E'\\n' ORDER BY sequencename)
        FROM pg_sequences WHERE schemaname = 'graph'""",
    "types": """
        SELECT string_agg(format('%s|%s|%s', t.typname, t.typtype, t.typowner::regrole), E'\\n' ORDER BY t.typname)
        FROM pg_type AS t WHERE t.typnamespace = 'graph'::regnamespace""",
    "policies": """
        SELECT string_agg(format('%s|%s|%s|%s|%s|%s', tablename, policyname, cmd, roles, qual, with_check),
                          E'\\n' ORDER BY tablename, policyname)
        FROM pg_policies WHERE schemaname = 'graph'""",
    "schema": """
        SELECT format('%s|%s|%s', n.nspowner::regrole, n.nspacl, obj_description(n.oid, 'pg_namespace'))
        FROM pg_namespace AS n WHERE n.nspname = 'graph'""",
    "triggers": f"""
        SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
            SELECT format('%s|%s|%s', t.tgrelid::regclass, t.tgenabled,
                          {_unoid('pg_get_triggerdef(t.oid)', 'o.capture')}) AS x
            FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid,
                 LATERAL (SELECT {CAPTURE_OID} AS capture) AS o
            WHERE NOT t.tgisinternal) AS tr""",
    "event_triggers": """
        SELECT string_agg(format('%s|%s|%s|%s|%s', evtname, evtevent, evtfoid::regproc, evtenabled, evttags),
                          E'\\n' ORDER BY evtname)
        FROM pg_event_trigger""",
    "languages_and_extensions": """
        SELECT (SELECT string_agg(lanname, ',' ORDER BY lanname) FROM pg_language)
            || ' ' || (SELECT string_agg(extname || '=' || extversion, ',' ORDER BY extname) FROM pg_extension)""",
    "migrations": "SELECT string_agg(format('%s|%s', name, checksum), E'\\n' ORDER BY name) FROM graph._migrations",
    "version": "SELECT version FROM graph._version",
    "py_modules": """
        SELECT md5(string_agg(format('%s|%s|%s|%s', name, is_package, source, code_key), E'\\n' ORDER BY name))
        FROM graph._py_modules""",
}

# What an upgrade must keep.
KEPT = {
    "log": "SELECT string_agg(row(l.*)::text, E'\\n' ORDER BY id) FROM graph._sync_log AS l",
    "state": "SELECT row(s.done_snapshot, s.target_snapshot, s.target_position, s.applied_sync_id, s.read_only,"
             " s.read_only_reason, s.generation, s.build_required, s.last_apply_at, s.last_build_at)::text"
             " FROM graph._sync_state AS s",
    # The columns the previous release had (later migrations may add bookkeeping columns).
    "nodes": "SELECT md5(string_agg(row(n.node_id, n.table_oid, n.pk, n.alive, n.tenant, n.properties,"
             " n.touched)::text, ',' ORDER BY node_id)) FROM graph._nodes AS n",
    "overlay": "SELECT md5(string_agg(row(o.*)::text, ',' ORDER BY id)) FROM graph._edge_overlay AS o",
    "csr": "SELECT string_agg(format('%s|%s|%s|%s', generation, direction, md5(offsets), md5(targets)), ','"
           " ORDER BY generation, direction) FROM graph._csr",
    # The registry's columns as the previous release has them (later migrations add more).
    "registry": "SELECT (SELECT string_agg(row(n.table_oid, n.table_name, n.id_columns, n.columns, n.tenant_column,"
                " n.filter_columns, n.registered_at)::text, ',' ORDER BY table_oid) FROM graph._node_tables AS n)"
                " || (SELECT string_agg(row(e.edge_source_id, e.kind, e.from_table, e.from_column, e.to_table,"
                " e.to_column, e.via_table, e.via_id_columns, e.label, e.bidirectional, e.weight_column,"
                " e.label_column, e.registered_at)::text, ',' ORDER BY edge_source_id) FROM graph._edge_sources AS e)",
    "labels": "SELECT string_agg(row(b.*)::text, ',' ORDER BY label_id) FROM graph._labels AS b",
}


def catalog(c) -> dict:
    return {k: c.execute(q).fetchone()[0] for k, q in CATALOG.items()}


def kept(c) -> dict:
    return {k: c.execute(q).fetchone()[0] for k, q in KEPT.items()}


@pytest.fixture
def databases(server):
    names = ["t_" + uuid.uuid4().hex[:12] for _ in range(2)]
    yield [server.create_database(n) for n in names]
    for n in names:
        server.drop_database(n)


def _use(c) -> None:
    """The user schema, registered and built, changes applied, then changes left pending."""
    c.execute(USER_SCHEMA)
    c.execute(REGISTER)
    c.execute("SELECT graph.build()")
    c.execute(writes())
    apply(c)
    c.execute(writes(new_customer=41, customer=3, order=10, new_order=2000, deleted_order=9))


def test_an_upgrade_from_the_previous_release_equals_a_fresh_install(databases, previous_release):
    upgraded, fresh = databases
    old = subprocess.run([sys.executable, str(previous_release / "install.py"), "--dsn", upgraded, "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert old.returncode == 0, old.stderr
    with connect(upgraded) as c:
        stored = dict(c.execute("SELECT name, checksum FROM graph._migrations").fetchall())
        released = {p.name: p for p in (previous_release / "sql" / "migrations").glob("*.sql")}
        if set(install.RELEASED_RAW_CHECKSUMS) == set(released):
            # Installed by PREVIOUS_RELEASE: its checksums are of the whole file text.
            assert stored == {name: raw for name, (raw, _) in install.RELEASED_RAW_CHECKSUMS.items()}
        else:
            assert stored == {name: install.migration_checksum(p.read_text()) for name, p in released.items()}
        _use(c)
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == WRITE_ROWS
        before = kept(c)
        last_id = c.execute("SELECT max(id) FROM graph._sync_log").fetchone()[0]

        result = install.install(c)
        added = sorted(p.name for p in (ROOT / "sql" / "migrations").glob("*.sql") if p.name not in released)
        # the package's modules are written again where they changed since that release
        changed = install._installer._module_rows(previous_release) != install._installer._module_rows(ROOT)
        assert result["migrations"] == added and result["modules_changed"] is changed
        assert kept(c) == before
        # The log's ids go on from where they were (migration 387 gave id a new sequence).
        assert c.execute("SELECT nextval(pg_get_serial_sequence('graph._sync_log', 'id'))").fetchone()[0] > last_id

        # The backend that ran the previous release's package runs the upgraded one.
        assert c.execute("SELECT pending_sync_rows FROM graph.sync_health()").fetchone()[0] == WRITE_ROWS
        result = apply(c)
        assert result["stopped"] is None and result["failed"] == 0
        assert (result["inserts"], result["updates"], result["deletes"]) == (1, 2, 1)
        assert verify(c) == []
        upgraded_catalog = catalog(c)

    with connect(fresh) as c:
        install.install(c)
        _use(c)
        apply(c)
        assert verify(c) == []
        fresh_catalog = catalog(c)

    assert upgraded_catalog["functions"] and upgraded_catalog["triggers"] and upgraded_catalog["policies"]
    differences = {k: (upgraded_catalog[k], fresh_catalog[k]) for k in CATALOG
                   if upgraded_catalog[k] != fresh_catalog[k]}
    assert not differences, "upgraded and fresh differ in: " + ", ".join(differences) + "\n" + "\n".join(
        f"--- {k}\nupgraded: {u}\nfresh:    {f}" for k, (u, f) in differences.items())


def test_the_catalog_comparison_sees_a_difference(databases):
    """Control: the comparison above does tell two installs apart, and does not tell
    apart two installs whose capture functions have different oids."""
    a, b = databases
    with connect(a) as c:
        install.install(c)
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        reference = catalog(c)
    with connect(b) as c:
        install.install(c)
        c.execute("CREATE TABLE unrelated (id int)")  # shifts the oids of what follows
        c.execute(USER_SCHEMA)
        c.execute(REGISTER)
        assert catalog(c) == reference
        changes = {
            "functions": "ALTER FUNCTION graph.verify() SET work_mem = '8MB'",
            "columns": "ALTER TABLE graph._csr ALTER COLUMN offsets SET COMPRESSION pglz",
            "indexes": "CREATE INDEX ON graph._label_rows (label, label_id)",
            "triggers": "ALTER TABLE shop.orders DISABLE TRIGGER graphsync_capture_insert",
            "relations": "REVOKE SELECT ON graph._labels FROM public",
        }
        for part, change in changes.items():
            c.execute(change)
            assert catalog(c)[part] != reference[part], part
        c.execute("UPDATE graph._migrations SET checksum = 'x' WHERE name = '001-core.sql'")
        assert catalog(c)["migrations"] != reference["migrations"]
