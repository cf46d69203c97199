"""The wheel: built from this checkout (python -m build), installed with pip into a fresh
venv, and used from there as an application would: ``graphsync install --dsn`` into a
fresh database, ``graphsync health``, the Python API, a bad DSN. The venv shares
nothing with the checkout: the SQL and the in-database package come from the wheel's
package data (graphsync/_bundle/), which is asserted, not assumed.

Needs ``build`` and ``hatchling`` in the test venv (requirements-dev.txt) and pip able
to fetch psycopg for the fresh venv; skipped, saying so, only when build or hatchling
is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

import install
from conftest import ROOT
from test_install import everything

WHEEL_NAME = "graphsync-{version}-py3-none-any.whl"
BAD_DSN = "host=/nonexistent-graphsync-socket-dir dbname=nowhere connect_timeout=3"


def _run(args: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    # A clean environment: nothing of the checkout or of the test venv on the path.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GRAPHSYNC_DSN")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    missing = [m for m in ("build", "hatchling") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"cannot build the wheel: {', '.join(missing)} not installed in {sys.prefix}"
                    " (pip install -r requirements-dev.txt)")
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, ROOT], cwd=out)
    assert built.returncode == 0, built.stdout + built.stderr
    version = install.VERSION
    path = out / WHEEL_NAME.format(version=version)
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel (and psycopg, its one dependency) installed."""
    where = tmp_path_factory.mktemp("venv")
    made = _run([sys.executable, "-m", "venv", where / "env"], cwd=where)
    assert made.returncode == 0, made.stderr
    env = where / "env"
    pip = _run([env / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q",
                f"{wheel}[binary]"], cwd=where)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env


def test_the_wheel_ships_the_client_and_every_sql_and_plpython_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("__init__.py", "__main__.py", "_version.py", "cli.py", "installer.py"):
        assert f"graphsync/{module}" in names
    sources = [p for folder in ("sql", "plpython/graphsync")
               for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len(sources) > 90
    for path in sources:
        assert "graphsync/_bundle/" + path.relative_to(ROOT).as_posix() in names, path
    assert not [n for n in names if n.endswith(".pyc")]
    # One top-level import package: graphsync, the client. The in-database package is data.
    assert {n.split("/")[0] for n in names} == {"graphsync", wheel.name.split("-py3")[0] + ".dist-info"}
    entry_points = zipfile.ZipFile(wheel).read(wheel.name.split("-py3")[0] + ".dist-info/entry_points.txt")
    assert b"graphsync = graphsync.cli:main" in entry_points


def test_graphsync_install_then_health_from_the_fresh_venv(venv, fresh_db, tmp_path):
    graphsync = venv / "bin" / "graphsync"
    first = _run([graphsync, "install", "--dsn", fresh_db], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("graphsync ") and "installed (migrations run: 001-core.sql" in first.stdout
    with psycopg.connect(fresh_db, autocommit=True) as c:
        assert c.execute("SELECT version FROM graph._version").fetchone() == (install.VERSION,)
        modules = dict(c.execute("SELECT name, source FROM graph._py_modules").fetchall())
        assert modules["graphsync.settings"] == (ROOT / "plpython/graphsync/settings.py").read_text()
        before = everything(c)

    again = _run([graphsync, "install", "--dsn", fresh_db], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "migrations run: none" in again.stdout
    with psycopg.connect(fresh_db, autocommit=True) as c:
        assert everything(c) == before, "a second graphsync install changed the database"
        c.execute("CREATE TABLE people (id int PRIMARY KEY, boss int REFERENCES people)")
        c.execute("SELECT graph.add_table('people')")
        c.execute("SELECT graph.add_edge('people', 'boss', 'people', label => 'reports_to')")
        c.execute("INSERT INTO people VALUES (1, NULL), (2, 1)")
        expected = c.execute("SELECT * FROM graph.sync_health()")
        columns = [d.name for d in expected.description]
        row = expected.fetchone()

    health = _run([graphsync, "health", "--dsn", fresh_db], cwd=tmp_path)
    assert health.returncode == 0, health.stderr
    lines = health.stdout.splitlines()
    assert lines[0].split() == ["column", "value"] and set(lines[1]) == {"-", " "}
    width = lines[0].index("value")
    assert all(line[width - 2:width] == "  " or len(line) < width for line in lines), health.stdout
    body = [line for line in lines[2:] if line[:width].strip()]
    assert [line[:width].strip() for line in body] == columns
    shown = {line[:width].strip(): line[width:] for line in body}
    values = dict(zip(columns, row, strict=True))
    assert shown["pending_sync_rows"] == str(values["pending_sync_rows"]) == "2"
    assert shown["sync_mode"] == values["sync_mode"]
    assert shown["read_only"] in ("yes", "no")
    assert shown["last_error"] == ""  # NULL is an empty cell
    assert shown["next_action"].startswith(values["next_action"].splitlines()[0])

    gone = _run([graphsync, "uninstall", "--dsn", fresh_db], cwd=tmp_path)
    assert gone.returncode == 0 and "uninstalled" in gone.stdout, gone.stderr
    none = _run([graphsync, "health", "--dsn", fresh_db], cwd=tmp_path)
    assert none.returncode == 2 and "not installed" in none.stderr and "Traceback" not in none.stderr


def test_a_bad_dsn_is_a_clear_message_and_exit_2(venv, tmp_path):
    for command in ("install", "upgrade", "uninstall", "health"):
        done = _run([venv / "bin" / "graphsync", command, "--dsn", BAD_DSN], cwd=tmp_path)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.startswith("graphsync: cannot connect to the database: "), done.stderr
        assert "nonexistent-graphsync-socket-dir" in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""
    usage = _run([venv / "bin" / "graphsync", "install"], cwd=tmp_path)
    assert usage.returncode == 2 and "--dsn is required" in usage.stderr


PYTHON_API = """
import sys
import psycopg
import graphsync

dsn = sys.argv[1]
print("bundle", graphsync.bundle_root())
try:
    graphsync.upgrade(dsn)
except graphsync.InstallError as exc:
    print("upgrade refused:", exc)
# In the caller's transaction (as a Django or Alembic migration runs it): rolled back, nothing stays.
with psycopg.connect(dsn) as conn:
    graphsync.install(conn)
    print("inside", conn.execute("SELECT count(*) FROM graph._migrations").fetchone()[0] > 0)
    conn.rollback()
    print("after rollback", conn.execute("SELECT to_regnamespace('graph') IS NULL").fetchone()[0])
result = graphsync.install(dsn)
print("installed", result["version"], result["previous_version"], len(result["migrations"]) > 0)
print("upgraded", graphsync.upgrade(dsn)["migrations"])
print("health", dict(graphsync.health(dsn))["pending_sync_rows"])
"""


def test_the_python_api_from_the_fresh_venv(venv, fresh_db, tmp_path):
    done = _run([venv / "bin" / "python", "-c", PYTHON_API, fresh_db], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    bundle = Path(out[0].removeprefix("bundle "))
    assert bundle.is_relative_to(venv) and bundle.name == "_bundle", out[0]
    assert out[1].startswith("upgrade refused: graphsync is not installed in this database"), out
    assert out[2:] == ["inside True", "after rollback True",
                       f"installed {install.VERSION} None True", "upgraded []", "health 0"]


def test_the_checkout_keeps_graphsync_for_the_in_database_package(venv, tmp_path):
    """install.py loads the client as graphsync_client; plpython/ first on the path (the
    unit tests' setup) imports the in-database package, in the checkout's venv and in a
    venv where the wheel is installed."""
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
             " import install, graphsync.settings;"
             " print(graphsync.__file__); print(install._client.__file__)")
    for python in (Path(sys.executable), venv / "bin" / "python"):
        done = _run([python, "-c", probe, ROOT, ROOT / "plpython"], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        in_database, client = done.stdout.splitlines()
        assert in_database == str(ROOT / "plpython" / "graphsync" / "__init__.py")
        assert client == str(ROOT / "client" / "graphsync" / "__init__.py")
