"""Install, upgrade or uninstall graphsync in a database, over a libpq connection.

The one implementation of the installer: the wheel's ``graphsync.install`` /
``upgrade`` / ``uninstall``, the ``graphsync`` command and the checkout's
``install.py`` all call this module.

Everything happens in one transaction: run-once migrations (sql/migrations,
recorded in graph._migrations with a checksum of their statements), the
PL/Python package (plpython/graphsync, stored in graph._py_modules: no file is
copied to the server), the functions (sql/functions, replayed every time in the
order of the manifest sql/functions/README.md), sql/output-settings.sql,
sql/plan-settings.sql, sql/privileges.sql. The log and the graph are kept. A
second run changes nothing.

It refuses (InstallError), changing nothing, when it does not run as a
superuser, when a server package is missing, when sql/functions and its
manifest disagree, or when a migration this database already ran was edited
since (a run-once migration is never edited: the change goes in a new file).

Where the SQL and the in-database package are read from (``bundle_root()``):
the ``_bundle/`` folder inside this package when it was installed from the
wheel, which ships ``sql/`` and ``plpython/graphsync/`` there as data files;
otherwise the checkout this file sits in (``client/graphsync/`` -> the
repository root).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ._version import VERSION

BUNDLE = Path(__file__).resolve().parent / "_bundle"  # the wheel's copy of sql/ and plpython/
CHECKOUT = Path(__file__).resolve().parents[2]  # client/graphsync/installer.py -> the repository


def bundle_root() -> Path:
    """The tree holding sql/ and plpython/graphsync/ to install from: the wheel's
    package data when present, else the checkout around this file."""
    for root in (BUNDLE, CHECKOUT):
        if (root / "sql" / "migrations").is_dir() and (root / "plpython" / "graphsync").is_dir():
            return root
    raise InstallError(f"graphsync's SQL and PL/Python sources are not found in {BUNDLE} nor in {CHECKOUT}:"
                       " install the graphsync wheel, or run from a complete checkout.")

LOCK_KEY = 7_420_151  # advisory lock: one installer at a time
MANIFEST = Path("sql") / "functions" / "README.md"  # relative to the tree installed

PREREQUISITES = """
graphsync needs on the database server:
  {missing}
On Debian: apt-get install -y {packages}
(then restart nothing: packages are picked up by new sessions)"""

# The migrations of the releases before migration checksums covered statements
# only: name -> (sha256 of the file text as released, which those releases
# stored in graph._migrations; statement checksum of that same text). A database
# that recorded the first gets the second written in its place, provided the
# file's statements are still the released ones (comments may have changed).
RELEASED_RAW_CHECKSUMS = {
    "001-core.sql": ("b4870a6fec74f6da9b01b41d1f5690856955e1726805cb11047e2878a93dc53e",
                     "0ba6e55245466c0ceccbf295c5110bae35c3257791c7952b46ecb45179188750"),
    "002-reads.sql": ("c192cb2437aaa5e656c6d2cabbb4f6ec9c7eec28308e54c635ba3fd85c37701e",
                      "a60a8fd83f7dbe6b6ea6dc570c1deabe6c34f850a66ee7adfd2f0b3059671949"),
    "010-maintenance-jobs.sql": ("a8e84b1933b8a484939606e83ff30baf613fa52fd664b184eb2d276d8250f6e0",
                                 "cee005ecb4afe4a69c20c92e4e7eca39ace6e0be9c29c9dc764946d07be68784"),
    "011-csr-compression.sql": ("e5463d14283af8a91e744deded55694e38d2a8d457f4d2b4971d5c03b650b7ba",
                                "1f226a25808b7bd61be1ca233ed5c521f64fec9b03b2aee27d65a292281a3c57"),
}


# The cluster-wide roles, created once and kept by --uninstall. graph_admin is
# the role operators are granted. graph_capture and graph_sync own graphsync's
# SECURITY DEFINER functions (sql/privileges.sql hands them over and grants what
# each needs): NOLOGIN, not superusers, so definer code never runs as the
# installing superuser. graph_capture owns the generated capture functions and
# may only append to the log. graph_sync owns the other definers (health,
# status, the read helpers, capture generation): a member of graph_admin (it
# applies pending rows for readers) and of graph_capture (it hands capture
# functions to that role), BYPASSRLS so health can read pg_cron's job table,
# whose row-level security shows each role only its own jobs, and a member of
# pg_read_all_settings so it can read pg_cron's superuser-only settings
# (cron.log_run). graph_views owns the views graph._nodes, graph._change_log and
# graph._labels (migration 245): the row-level security of the tables under them
# applies to whoever reads a view because it applies to its owner, so it is
# never BYPASSRLS nor a superuser, and a member of no role (graph_admin's
# policies would show it every row). A role of any of these names that exists
# with other attributes is set back to these.
ROLES = """
DO $$
DECLARE
    granted text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_admin') THEN
        CREATE ROLE graph_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_capture') THEN
        CREATE ROLE graph_capture NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_sync') THEN
        CREATE ROLE graph_sync NOLOGIN BYPASSRLS;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_capture'
               AND (rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
        ALTER ROLE graph_capture NOSUPERUSER NOLOGIN NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_sync'
               AND (rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb OR rolreplication OR NOT rolbypassrls)) THEN
        ALTER ROLE graph_sync NOSUPERUSER NOLOGIN NOCREATEROLE NOCREATEDB NOREPLICATION BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_views') THEN
        CREATE ROLE graph_views NOLOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'graph_views'
               AND (rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
        ALTER ROLE graph_views NOSUPERUSER NOLOGIN NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
    END IF;
    FOR granted IN
        SELECT r.rolname::text FROM pg_catalog.pg_auth_members AS m
        JOIN pg_catalog.pg_roles AS r ON r.oid = m.roleid
        WHERE m.member = 'graph_views'::regrole
    LOOP
        EXECUTE format('REVOKE %I FROM graph_views', granted);
    END LOOP;
    IF NOT pg_catalog.pg_has_role('graph_sync', 'graph_admin', 'MEMBER') THEN
        GRANT graph_admin TO graph_sync;
    END IF;
    IF NOT pg_catalog.pg_has_role('graph_sync', 'graph_capture', 'MEMBER') THEN
        GRANT graph_capture TO graph_sync;
    END IF;
    IF NOT pg_catalog.pg_has_role('graph_sync', 'pg_read_all_settings', 'MEMBER') THEN
        GRANT pg_read_all_settings TO graph_sync;
    END IF;
END
$$
"""


# Who may own schema graph and what is in it, and hold CREATE on it: a superuser, or
# one of graphsync's own roles. Any other owner is a role that could put its code
# where the installer (a superuser) runs it: a trigger on graph._migrations fired by
# the installer's INSERT made the role that created schema graph first superuser.
TRUSTED_ROLES = ("graph_sync", "graph_capture", "graph_views")
FOREIGN = """
WITH g AS (SELECT n.oid, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace AS n
           WHERE n.nspname OPERATOR(pg_catalog.=) 'graph'::pg_catalog.name),
owned (what, owner) AS (
    SELECT 'schema graph'::pg_catalog.text, g.nspowner FROM g
    UNION ALL
    SELECT pg_catalog.concat('relation ', c.oid::pg_catalog.regclass), c.relowner
    FROM pg_catalog.pg_class AS c JOIN g ON c.relnamespace OPERATOR(pg_catalog.=) g.oid
    UNION ALL
    SELECT pg_catalog.concat('function ', p.oid::pg_catalog.regprocedure), p.proowner
    FROM pg_catalog.pg_proc AS p JOIN g ON p.pronamespace OPERATOR(pg_catalog.=) g.oid
    UNION ALL
    SELECT pg_catalog.concat('type ', t.oid::pg_catalog.regtype), t.typowner
    FROM pg_catalog.pg_type AS t JOIN g ON t.typnamespace OPERATOR(pg_catalog.=) g.oid
    UNION ALL
    SELECT pg_catalog.concat('operator ', o.oid::pg_catalog.regoperator), o.oprowner
    FROM pg_catalog.pg_operator AS o JOIN g ON o.oprnamespace OPERATOR(pg_catalog.=) g.oid
    UNION ALL
    SELECT 'CREATE on schema graph'::pg_catalog.text, a.grantee
    FROM g, pg_catalog.aclexplode(g.nspacl) AS a
    WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'::pg_catalog.text
)
SELECT pg_catalog.concat(o.what, ' (', CASE WHEN o.owner OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                            ELSE o.owner::pg_catalog.regrole::pg_catalog.text END, ')')
FROM owned AS o LEFT JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) o.owner
WHERE NOT coalesce(r.rolsuper, false)
  AND coalesce(r.rolname::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (%s::pg_catalog.text[]), true)
ORDER BY 1
LIMIT 5
"""


def _check_schema_owners(cur: psycopg.Cursor, health: bool = False) -> None:
    """Refuse (nothing changed) a schema graph, or anything in it, that a role other
    than a superuser or graphsync's own owns, and CREATE on it granted to such a
    role: the installer runs as a superuser what is there (tables it writes, their
    triggers and rules, functions it calls), as ``health`` runs graph.sync_health()."""
    cur.execute(FOREIGN, (list(TRUSTED_ROLES),))
    foreign = [r[0] for r in cur.fetchall()]
    if foreign:
        raise InstallError(
            "schema graph holds what a role other than a superuser or graphsync's own roles owns or may"
            " create: " + ", ".join(foreign) + (
                ". graph.sync_health() was not called (a function another role owns there would run as"
                " you). Drop the schema or give it and its objects to a superuser after checking them."
                if health else
                ". graphsync does not install into a schema another role controls (what it owns there would"
                " run as the installing superuser). Drop the schema or give it and its objects to a"
                " superuser after checking them. Nothing was changed."))


_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#@:]*:([^/?#@]*)@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)")


def without_password(message: str, dsn: str | None) -> str:
    """``message`` with the password of ``dsn`` in it masked (***): libpq quotes a
    DSN it cannot parse, its password included ('invalid percent-encoded token:
    "Sup3r%zz"'), and a command's error reaches a terminal or a CI log."""
    secrets = set()
    if dsn:
        try:
            secrets.add(psycopg.conninfo.conninfo_to_dict(dsn).get("password") or "")
        except psycopg.Error:
            # A DSN libpq cannot parse: what it quotes of it is not shown, as no rule
            # can tell where a malformed password ends ('password=Sup3r Secr3t').
            return "the DSN could not be parsed (libpq's message, which may quote its password, is not shown)"
        m = _URL_PASSWORD.match(dsn.strip())
        if m:
            secrets.add(m.group(1))
        for m in _KEYWORD_PASSWORD.finditer(dsn):
            secrets.update((m.group(1), m.group(1).strip("'")))
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def printable(text: str) -> str:
    """``text`` with its control characters but newlines and tabs shown as escapes
    (\\x1b): names and messages from the database (a table's name is its owner's to
    choose) reach a terminal, where an escape sequence could retitle it, clear it or
    paint a fake line."""
    return "".join(c if c in "\n\t" or not (ord(c) < 32 or 0x7f <= ord(c) <= 0x9f) else "\\x%02x" % ord(c)
                   for c in text)


class InstallError(Exception):
    pass


# -- Migration checksums ------------------------------------------------------

_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]")
_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_WORD_EDGE = re.compile(r"[A-Za-z0-9_$'\"\u0080-\U0010ffff]")  # keeps a space from its neighbour


def _literal_end(text: str, start: int) -> int:
    """End (exclusive) of the quoted literal or identifier that opens at ``start``:
    '...' ('' inside), E'...' (backslash escapes too), "..." ("" inside),
    $tag$...$tag$. Unterminated: the end of the text."""
    quote = text[start]
    if quote == "$":
        tag = _DOLLAR_QUOTE.match(text, start).group(0)
        end = text.find(tag, start + len(tag))
        return len(text) if end < 0 else end + len(tag)
    backslash = (quote == "'" and start > 0 and text[start - 1] in "Ee"
                 and (start < 2 or not _IDENT_CHAR.match(text[start - 2])))
    i = start + 1
    while i < len(text):
        c = text[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if text.startswith(quote, i + 1):
                i += 2
                continue
            return i + 1
        i += 1
    return len(text)


def _block_comment_end(text: str, start: int) -> int:
    """End (exclusive) of the /* */ comment at ``start``; they nest in PostgreSQL."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(text)


def migration_statements(text: str) -> str:
    """The statements of a migration: ``text`` without its SQL comments, and with the
    layout outside literals normalized: a run of whitespace (comments included) is one
    space between two word characters (or quotes), and nothing elsewhere, so
    ``CREATE TABLE t (\n    id int\n)`` reads ``CREATE TABLE t(id int)``. String
    literals, quoted identifiers and dollar-quoted bodies are kept byte for byte (a
    comment in a function body is part of the function)."""
    pieces: list[str | None] = []  # None: a gap (whitespace or comment)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            pieces.append(None)
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            pieces.append(None)
        elif text.startswith("/*", i):
            i = _block_comment_end(text, i)
            pieces.append(None)
        elif c in "'\"" or (c == "$" and _DOLLAR_QUOTE.match(text, i)
                            and not (i > 0 and _IDENT_CHAR.match(text[i - 1]))):
            end = _literal_end(text, i)
            pieces.append(text[i:end])
            i = end
        else:
            pieces.append(c)
            i += 1
    out: list[str] = []
    k = 0
    while k < len(pieces):
        if pieces[k] is not None:
            out.append(pieces[k])
            k += 1
            continue
        gap_end = k
        while gap_end < len(pieces) and pieces[gap_end] is None:
            gap_end += 1
        if (out and gap_end < len(pieces)
                and _WORD_EDGE.match(out[-1][-1]) and _WORD_EDGE.match(pieces[gap_end][0])):
            out.append(" ")
        k = gap_end
    return "".join(out)


def migration_checksum(text: str) -> str:
    """What graph._migrations records for a migration: the sha256 of its statements
    (see migration_statements), so comments can document an applied migration."""
    return hashlib.sha256(migration_statements(text).encode()).hexdigest()


# -- Install ------------------------------------------------------------------


def _require_superuser(cur: psycopg.Cursor, what: str) -> None:
    cur.execute("SELECT current_user, pg_catalog.current_setting('is_superuser')")
    user, superuser = cur.fetchone()
    if superuser != "on":
        raise InstallError(
            f"{what} must run as a superuser: graphsync creates the untrusted language plpython3u,"
            f" functions in it and the role graph_admin. Connected as role {user!r}, which is not a"
            " superuser; connect as one (for example user=postgres). Nothing was changed.")


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


_MANIFEST_ENTRY = re.compile(r"^[-*]\s+`([^`]+)`")


def function_files(root: Path | None = None) -> list[Path]:
    """The files of sql/functions in install order: the order of the manifest
    sql/functions/README.md, whose entries are list items that start with a file
    name in backquotes. Refuses a manifest that does not list exactly the .sql files
    of the folder."""
    root = bundle_root() if root is None else root
    manifest = root / MANIFEST
    folder = manifest.parent
    if not manifest.is_file():
        raise InstallError(f"{MANIFEST} is missing: it lists the files of {folder.relative_to(root)}/"
                           " in install order")
    listed = [m.group(1) for line in manifest.read_text().splitlines() if (m := _MANIFEST_ENTRY.match(line))]
    problems = []
    twice = sorted({name for name in listed if listed.count(name) > 1})
    if twice:
        problems.append("listed more than once: " + ", ".join(twice))
    on_disk = {p.name for p in folder.glob("*.sql")}
    unlisted = sorted(on_disk - set(listed))
    if unlisted:
        problems.append("not listed (add a line for each to the manifest): " + ", ".join(unlisted))
    missing = [name for name in listed if name not in on_disk]
    if missing:
        problems.append("listed but missing: " + ", ".join(missing))
    if problems:
        raise InstallError(f"{MANIFEST} does not match {folder.relative_to(root)}/; nothing was installed.\n  "
                           + "\n  ".join(problems))
    return [folder / name for name in listed]


def _module_rows(root: Path) -> list[tuple[str, bool, str]]:
    rows = []
    for path in sorted((root / "plpython").rglob("*.py")):
        rel = path.relative_to(root / "plpython").with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        rows.append((".".join(parts), is_package, path.read_text()))
    return rows


def _run_migrations(cur: psycopg.Cursor, root: Path) -> list[str]:
    """Check the migrations this database ran against their files, then run the
    new ones. Refuses (InstallError) an applied migration whose statements changed,
    and a recorded migration that has no file."""
    cur.execute("""CREATE TABLE IF NOT EXISTS graph._migrations (
                       name text PRIMARY KEY, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())""")
    cur.execute("SELECT name, checksum, applied_at FROM graph._migrations")
    recorded = {name: (checksum, applied_at) for name, checksum, applied_at in cur.fetchall()}
    paths = sorted((root / "sql" / "migrations").glob("*.sql"))
    unknown = sorted(set(recorded) - {p.name for p in paths})
    if unknown:
        raise InstallError(
            f"graph._migrations records {', '.join(unknown)}, which sql/migrations/ does not have:"
            " this database was installed by another (newer?) graphsync. Nothing was changed.")
    pending = []
    for path in paths:
        checksum = migration_checksum(path.read_text())
        if path.name not in recorded:
            pending.append((path, checksum))
            continue
        stored, applied_at = recorded[path.name]
        if stored == checksum:
            continue
        if RELEASED_RAW_CHECKSUMS.get(path.name) == (stored, checksum):
            # Recorded by an earlier release as the sha256 of the whole file.
            cur.execute("UPDATE graph._migrations SET checksum = %s WHERE name = %s", (checksum, path.name))
            continue
        raise InstallError(
            f"sql/migrations/{path.name} was edited after this database ran it (on {applied_at:%Y-%m-%d}):"
            " its statements no longer match the checksum in graph._migrations. A migration runs once and"
            " is never edited; restore the file and put the change in a new migration. Nothing was changed.")
    # A fresh install runs every migration, whose DROP ... IF EXISTS of what older
    # releases had would each print "does not exist, skipping": notices are muted
    # while they run (warnings and errors still reach the caller).
    cur.execute("SELECT current_setting('client_min_messages')")
    (level,) = cur.fetchone()
    cur.execute("SELECT set_config('client_min_messages', 'warning', true)")
    for path, checksum in pending:
        cur.execute(path.read_text())
        cur.execute("INSERT INTO graph._migrations (name, checksum) VALUES (%s, %s)", (path.name, checksum))
    cur.execute("SELECT set_config('client_min_messages', %s, true)", (level,))
    return [path.name for path, _ in pending]


def _sync_modules(cur: psycopg.Cursor, root: Path) -> bool:
    rows = _module_rows(root)
    cur.execute("SELECT name, is_package, source FROM graph._py_modules ORDER BY name")
    if sorted(cur.fetchall()) == sorted(rows):
        return False
    cur.execute("DELETE FROM graph._py_modules")
    cur.executemany("INSERT INTO graph._py_modules (name, is_package, source) VALUES (%s, %s, %s)",
                    rows)
    return True


# -- Connections ----------------------------------------------------------------


def as_psycopg(connection: Any) -> psycopg.Connection:
    """The psycopg 3 connection behind ``connection``: itself, or what a framework
    wraps: a Django connection (``schema_editor.connection``: ``.connection``), an
    SQLAlchemy ``Connection`` (``op.get_bind()``: ``.connection.driver_connection``)."""
    seen = connection
    for _ in range(4):
        if isinstance(seen, psycopg.Connection):
            return seen
        for attribute in ("driver_connection", "dbapi_connection", "connection"):
            inner = getattr(seen, attribute, None)
            if inner is not None and inner is not seen:
                seen = inner
                break
        else:
            break
    raise TypeError(f"graphsync installs over a libpq DSN or a psycopg 3 connection, not {type(connection).__name__}"
                    " (with psycopg2, pass the DSN: graphsync opens its own connection)")


@contextmanager
def connection_for(dsn_or_connection: Any) -> Iterator[psycopg.Connection]:
    """A psycopg connection for ``dsn_or_connection``. A DSN (str) opens an autocommit
    connection, closed afterwards, and graphsync commits its own transaction. A
    connection given is the caller's: in autocommit, graphsync commits its own
    transaction; otherwise graphsync's work joins the caller's transaction (a
    savepoint in it, opened first when none is, as a Django or Alembic migration
    that has not run a statement yet) and commits or rolls back with it."""
    if isinstance(dsn_or_connection, str):
        with psycopg.connect(dsn_or_connection, autocommit=True) as conn:
            yield conn
        return
    conn = as_psycopg(dsn_or_connection)
    if not conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # Without this, conn.transaction() would begin a transaction of its own and commit it.
        conn.execute("SELECT 1")
    yield conn


# -- Install, upgrade, uninstall ------------------------------------------------


def _install(conn: psycopg.Connection, root: Path, upgrade: bool) -> dict:
    functions = function_files(root)
    with conn.transaction(), conn.cursor() as cur:
        _require_superuser(cur, "Installing graphsync")
        # Every statement below runs as a superuser: no name may resolve in a schema
        # another role can create in (a planted public.format(text, regprocedure) was a
        # closer match than pg_catalog's for privileges.sql's format() and made its
        # owner superuser). Given back at the end (an install may run in the caller's
        # transaction); an error rolls it back with the rest.
        cur.execute("SELECT pg_catalog.current_setting('search_path')")
        caller_path = cur.fetchone()[0]
        cur.execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)")
        cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        # Before anything of schema graph is read: a planted graph._version (a view
        # over its planter's function) ran as the superuser reading it.
        _check_schema_owners(cur)
        cur.execute("SELECT pg_catalog.to_regclass('graph._version') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT version FROM graph._version")
            previous = (cur.fetchone() or (None,))[0]
        elif upgrade:
            raise InstallError("graphsync is not installed in this database, so there is nothing to upgrade:"
                               " install it first. Nothing was changed.")
        else:
            previous = None
        _check_prerequisites(cur)
        cur.execute(ROLES)
        cur.execute("CREATE SCHEMA IF NOT EXISTS graph")
        migrations = _run_migrations(cur, root)
        cur.execute("""CREATE TABLE IF NOT EXISTS graph._version (
                           singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                           version text NOT NULL, installed_at timestamptz NOT NULL DEFAULT now())""")
        modules_changed = _sync_modules(cur, root)
        for path in functions:
            cur.execute(path.read_text())
        # The package's compiled code beside its source (a new backend loads it instead
        # of compiling every module); compiles only what is missing or stale.
        cur.execute("SELECT graph._compile_package()")
        # Stamp each row whose code key was just (re)computed with this transaction,
        # after checking the key's SHA-256 against the source once more, in a
        # statement of its own (not under PL/Python's subtransaction), so the row's
        # xmin is this transaction: while it stays so, a backend need not hash the
        # source (graph._import_package, migration 320). A tree older than that
        # migration has no such column.
        cur.execute("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'graph._py_modules'::pg_catalog.regclass"
                    " AND attname = 'code_xid' AND NOT attisdropped")
        if cur.fetchone():
            cur.execute("UPDATE graph._py_modules AS m SET code_xid = pg_catalog.pg_current_xact_id()::pg_catalog.xid"
                        " WHERE m.code_xid IS NULL AND m.code IS NOT NULL"
                        " AND pg_catalog.split_part(m.code_key, ':', 2) = pg_catalog.encode("
                        "pg_catalog.sha256(pg_catalog.convert_to(m.source, 'UTF8')), 'hex')")
        cur.execute((root / "sql" / "output-settings.sql").read_text())
        cur.execute((root / "sql" / "plan-settings.sql").read_text())
        cur.execute((root / "sql" / "privileges.sql").read_text())
        # Capture regenerated for the registered tables that carry graphsync's triggers
        # already: the installer is a superuser, and a graph_admin member who wrote a
        # table into the registry by hand (it may write the registry's tables, not
        # register a table it has no TRIGGER on) had the upgrade capture that table's
        # rows into the log it reads. A registered table without them is left to
        # graph.reconcile(), as its admin (sync_health() names it).
        cur.execute("SELECT graph._install_capture(t.table_oid) FROM ("
                    " SELECT table_oid FROM graph._node_tables"
                    " UNION SELECT coalesce(via_table, from_table) FROM graph._edge_sources) AS t"
                    " WHERE EXISTS (SELECT FROM pg_catalog.pg_trigger AS g"
                    " JOIN pg_catalog.pg_proc AS p ON p.oid = g.tgfoid"
                    " WHERE g.tgrelid = t.table_oid AND p.pronamespace = 'graph'::pg_catalog.regnamespace)")
        cur.execute("""INSERT INTO graph._version (version) VALUES (%s)
                       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,
                           installed_at = pg_catalog.now()
                       WHERE graph._version.version OPERATOR(pg_catalog.<>) excluded.version""", (VERSION,))
        cur.execute("SELECT pg_catalog.set_config('search_path', %s, true)", (caller_path,))
    return {"version": VERSION, "previous_version": previous, "migrations": migrations,
            "modules_changed": modules_changed}


def install(dsn_or_connection: Any, root: Path | None = None) -> dict:
    """Install or upgrade graphsync, idempotently, in one transaction; keeps the log
    and the graph. ``dsn_or_connection``: a libpq DSN or URL, or a psycopg 3
    connection (also one wrapped by Django or SQLAlchemy). ``root``: the tree to
    install from (default: see bundle_root). Returns the version, the version found
    before (None on a fresh install), the migrations run and whether the in-database
    package changed. Raises InstallError, having changed nothing, when it refuses."""
    root = bundle_root() if root is None else Path(root)
    with connection_for(dsn_or_connection) as conn:
        return _install(conn, root, upgrade=False)


def upgrade(dsn_or_connection: Any, root: Path | None = None) -> dict:
    """install(), refusing (InstallError) a database where graphsync is not installed."""
    root = bundle_root() if root is None else Path(root)
    with connection_for(dsn_or_connection) as conn:
        return _install(conn, root, upgrade=True)


def uninstall(dsn_or_connection: Any) -> None:
    """Remove schema graph and with it every capture trigger; keeps the cluster-wide
    roles (graph_admin, graph_capture, graph_sync, graph_views) and the source tables' rows."""
    with connection_for(dsn_or_connection) as conn, conn.transaction(), conn.cursor() as cur:
        _require_superuser(cur, "Uninstalling graphsync")
        cur.execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)")  # (see _install)
        cur.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        # Dropping the schema drops the capture functions, and with them the triggers.
        cur.execute("DROP SCHEMA IF EXISTS graph CASCADE")


def health(dsn_or_connection: Any) -> list[tuple[str, Any]]:
    """graph.sync_health() as (column, value) pairs, in the function's column order."""
    with connection_for(dsn_or_connection) as conn, conn.cursor() as cur:
        _check_schema_owners(cur, health=True)  # (a planted graph.sync_health() would run as the caller)
        cur.execute("SELECT * FROM graph.sync_health()")
        row = cur.fetchone()
        return list(zip([d.name for d in cur.description], row, strict=True))
