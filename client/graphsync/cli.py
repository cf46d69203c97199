"""The ``graphsync`` command: install, upgrade, uninstall, health.

    graphsync install --dsn DSN     # install or upgrade (idempotent)
    graphsync upgrade --dsn DSN     # the same, refusing a database without graphsync
    graphsync uninstall --dsn DSN   # remove schema graph and all capture triggers
    graphsync health --dsn DSN      # graph.sync_health() as a two-column table

Exit status 0 on success; 2 when it cannot connect, when the installer refuses
(nothing was changed) or when health finds no graphsync in the database.
``GRAPHSYNC_DSN`` is the default DSN.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import psycopg

from . import installer


def format_table(pairs: list[tuple[str, Any]]) -> str:
    """Two aligned columns, name and value; NULL shows as an empty cell, booleans as
    yes/no, a multi-line value continues under its first line."""
    width = max(len(name) for name, _ in pairs)
    lines = [f"{'column':<{width}}  value", f"{'-' * width}  {'-' * 5}"]
    for name, value in pairs:
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        text = installer.printable(text)  # (a table's name is its owner's to choose)
        first, *rest = text.splitlines() or [""]
        lines.append(f"{name:<{width}}  {first}".rstrip())
        lines.extend(f"{'':<{width}}  {more}" for more in rest)
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "graphsync") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Install graphsync into a PostgreSQL database"
                                     " over a libpq connection, and read its health.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, text in (("install", "install or upgrade graphsync (idempotent, one transaction)"),
                       ("upgrade", "upgrade graphsync where it is installed"),
                       ("uninstall", "remove schema graph and every capture trigger"),
                       ("health", "print graph.sync_health() as a table")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--dsn", default=os.environ.get("GRAPHSYNC_DSN"),
                             help="libpq connection string or URL (default: $GRAPHSYNC_DSN)")
        command.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error(f"{args.command}: --dsn is required (or set GRAPHSYNC_DSN)")
    try:
        conn = psycopg.connect(args.dsn, autocommit=True)
    except psycopg.Error as exc:
        message = installer.printable(installer.without_password(str(exc).strip(), args.dsn))
        print(f"{prog}: cannot connect to the database: {message}", file=sys.stderr)
        return 2
    with conn:
        try:
            if args.command == "health":
                return _health(conn, prog)
            if args.command == "uninstall":
                installer.uninstall(conn)
                if not args.quiet:
                    print("graphsync uninstalled")
                return 0
            act = installer.upgrade if args.command == "upgrade" else installer.install
            result = act(conn)
        except installer.InstallError as exc:
            print(f"{prog}: {installer.printable(str(exc))}", file=sys.stderr)
            return 2
    if not args.quiet:
        done = ", ".join(result["migrations"]) or "none"
        print(f"graphsync {result['version']} installed (migrations run: {done})")
    return 0


def _health(conn: psycopg.Connection, prog: str) -> int:
    try:
        pairs = installer.health(conn)
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
        print(f"{prog}: graphsync is not installed in this database (no graph.sync_health());"
              f" run {prog} install first", file=sys.stderr)
        return 2
    print(format_table(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
