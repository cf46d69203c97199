#!/usr/bin/env python3
"""Install, upgrade or uninstall graphsync in a database, over a libpq connection.

    python install.py --dsn DSN              # install or upgrade (idempotent)
    python install.py --dsn DSN --uninstall  # remove schema graph and all triggers

Everything happens in one transaction: run-once migrations (sql/migrations,
recorded in graph._migrations), the PL/Python package (plpython/graphsync,
stored in graph._py_modules: no file is copied to the server), the functions
(sql/functions, replayed every time, then sql/output-settings.sql), privileges. The log and the graph are
kept. A second run changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent
VERSION = "0.1.0"
LOCK_KEY = 7_420_151  # advisory lock: one installer at a time

PREREQUISITES = """
graphsync needs on the database server:
  {missing}
On Debian: apt-get install -y {packages}
(then restart nothing: packages are picked up by new sessions)"""


class InstallError(Exception):
    pass


def _check_prerequisites(cur: psycopg.Cursor) -> None:
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plpython3u'")
    if cur.fetchone() is None:
        raise InstallError(PREREQUISITES.format(
            missing="the plpython3u language", packages="postgresql-plpython3-15"))
    cur.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
    missing = []
    for module, package in (("numpy", "python3-numpy"), ("scipy", "python3-scipy")):
        try:
            with cur.connection.transaction():
                cur.execute(sql.SQL("DO $py$ import {} $py$ LANGUAGE plpython3u").format(
                    sql.SQL(module)))
        except psycopg.Error:
            missing.append((module, package))
    if missing:
        raise InstallError(PREREQUISITES.format(
            missing=", ".join(f"the Python module {m} for the server's python3" for m, _ in missing),
            packages=" ".join(p for _, p in missing)))


def _module_rows() -> list[tuple[str, bool, str]]:
    rows = []
    for path in sorted((ROOT / "plpython").rglob("*.py")):
        rel = path.relative_to(ROOT / "plpython").with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        rows.append((".".join(parts), is_package, path.read_text()))
    return rows


def _run_migrations(cur: psycopg.Cursor) -> list[str]:
    cur.execute("""CREATE TABLE IF NOT EXISTS graph._migrations (
                       name text PRIMARY KEY, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())""")
    cur.execute("SELECT name FROM graph._migrations")
    done = {r[0] for r in cur.fetchall()}
    applied = []
    for path in sorted((ROOT / "sql" / "migrations").glob("*.sql")):
        if path.name in done:
            continue
        text = path.read_text()
        cur.execute(text)
        cur.execute("INSERT INTO graph._migrations (name, checksum) VALUES (%s, %s)",
                    (path.name, hashlib.sha256(text.encode()).hexdigest()))
        applied.append(path.name)
    return applied


def _sync_modules(cur: psycopg.Cursor) -> bool:
    rows = _module_rows()
    cur.execute("SELECT name, is_package, source FROM graph._py_modules ORDER BY name")
    if sorted(cur.fetchall()) == sorted(rows):
        return False
    cur.execute("DELETE FROM graph._py_modules")
    cur.executemany("INSERT INTO graph._py_modules (name, is_package, source) VALUES (%s, %s, %s)",
                    rows)
    return True


def install(conn: psycopg.Connection) -> dict:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        _check_prerequisites(cur)
        cur.execute("""DO $$ BEGIN
                           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'graph_admin') THEN
                               CREATE ROLE graph_admin NOLOGIN;
                           END IF;
                       END $$""")
        cur.execute("CREATE SCHEMA IF NOT EXISTS graph")
        migrations = _run_migrations(cur)
        cur.execute("""CREATE TABLE IF NOT EXISTS graph._version (
                           singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                           version text NOT NULL, installed_at timestamptz NOT NULL DEFAULT now())""")
        modules_changed = _sync_modules(cur)
        for path in sorted((ROOT / "sql" / "functions").glob("*.sql")):
            cur.execute(path.read_text())
        cur.execute((ROOT / "sql" / "output-settings.sql").read_text())
        cur.execute((ROOT / "sql" / "privileges.sql").read_text())
        cur.execute("SELECT graph._install_capture(table_oid) FROM ("
                    " SELECT table_oid FROM graph._node_tables"
                    " UNION SELECT coalesce(via_table, from_table) FROM graph._edge_sources) AS t")
        cur.execute("""INSERT INTO graph._version (version) VALUES (%s)
                       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,
                           installed_at = now()
                       WHERE graph._version.version <> excluded.version""", (VERSION,))
    return {"version": VERSION, "migrations": migrations, "modules_changed": modules_changed}


def uninstall(conn: psycopg.Connection) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        # Dropping the schema drops the capture functions, and with them the triggers.
        cur.execute("DROP SCHEMA IF EXISTS graph CASCADE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--uninstall", action="store_true", help="remove graphsync")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            if args.uninstall:
                uninstall(conn)
                if not args.quiet:
                    print("graphsync uninstalled")
                return 0
            result = install(conn)
    except InstallError as exc:
        print(f"install.py: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        done = ", ".join(result["migrations"]) or "none"
        print(f"graphsync {result['version']} installed (migrations run: {done})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
