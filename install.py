#!/usr/bin/env python3
"""Install, upgrade or uninstall graphsync in a database, over a libpq connection.

    python install.py --dsn DSN              # install or upgrade (idempotent)
    python install.py --dsn DSN --uninstall  # remove schema graph and all triggers

The entry point of a checkout, needing nothing installed but psycopg: a thin
wrapper around the installer of the client package client/graphsync/ (the same
code the wheel's ``graphsync.install`` and ``graphsync`` command run), installing
the sql/ and plpython/ next to this file. The client package is loaded under the
module name ``graphsync_client``, never ``graphsync``, which stays the name of the
in-database package plpython/graphsync/ for whoever imports it (the unit tests).

Everything happens in one transaction, keeps the log and the graph, and a second
run changes nothing. It refuses, changing nothing and exiting with status 2, when
it does not run as a superuser, when a server package is missing, when
sql/functions and its manifest disagree, or when a migration this database
already ran was edited since (see client/graphsync/installer.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent
CLIENT = ROOT / "client" / "graphsync"


def _load_client():
    if "graphsync_client" in sys.modules:
        return sys.modules["graphsync_client"]
    spec = importlib.util.spec_from_file_location("graphsync_client", CLIENT / "__init__.py",
                                                  submodule_search_locations=[str(CLIENT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["graphsync_client"] = module
    spec.loader.exec_module(module)
    return module


_client = _load_client()
_installer = sys.modules["graphsync_client.installer"]

VERSION = _client.VERSION
InstallError = _client.InstallError
LOCK_KEY = _installer.LOCK_KEY
RELEASED_RAW_CHECKSUMS = _installer.RELEASED_RAW_CHECKSUMS
migration_statements = _installer.migration_statements
migration_checksum = _installer.migration_checksum


def function_files(root: Path = ROOT) -> list[Path]:
    """The files of sql/functions in install order (the manifest's order)."""
    return _installer.function_files(root)


def install(conn: psycopg.Connection, root: Path = ROOT) -> dict:
    """Install or upgrade graphsync from the tree at ``root``, in one transaction."""
    return _installer.install(conn, root=root)


def uninstall(conn: psycopg.Connection) -> None:
    _installer.uninstall(conn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--uninstall", action="store_true", help="remove graphsync")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        conn = psycopg.connect(args.dsn, autocommit=True)
    except psycopg.Error as exc:
        message = _installer.printable(_installer.without_password(str(exc).strip(), args.dsn))
        print(f"install.py: cannot connect: {message}", file=sys.stderr)
        return 2
    try:
        with conn:
            if args.uninstall:
                uninstall(conn)
                if not args.quiet:
                    print("graphsync uninstalled")
                return 0
            result = install(conn)
    except InstallError as exc:
        print(f"install.py: {_installer.printable(str(exc))}", file=sys.stderr)
        return 2
    if not args.quiet:
        done = ", ".join(result["migrations"]) or "none"
        print(f"graphsync {result['version']} installed (migrations run: {done})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
