"""Test harness: one throwaway PostgreSQL cluster per session (or the server in
GRAPHSYNC_DSN), graphsync installed once into a template database, and a fresh
copy of that template for each test module."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import install  # noqa: E402
import pgcluster  # noqa: E402

TEMPLATE = "graphsync_template"


class Server:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_dsn: str, directory: str | None):
        self.admin_dsn = admin_dsn
        self.directory = directory  # set when the tests own the cluster (crash tests)

    def dsn(self, dbname: str) -> str:
        params = psycopg.conninfo.conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        return psycopg.conninfo.make_conninfo(**params)

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server():
    external = os.environ.get("GRAPHSYNC_DSN")
    if external:
        srv = Server(external, None)
        yield srv
        return
    directory = tempfile.mkdtemp(prefix="graphsync-test-")
    dsn = pgcluster.start(directory)
    srv = Server(dsn, directory)
    try:
        yield srv
    finally:
        pgcluster.stop(directory)


@pytest.fixture(scope="session")
def template(server):
    dsn = server.create_database(TEMPLATE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        install.install(conn)
    return TEMPLATE


@pytest.fixture(scope="module")
def db(server, template):
    """DSN of a fresh database with graphsync installed, for one test module."""
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server.create_database(name, template)
    yield dsn
    server.drop_database(name)


@pytest.fixture
def conn(db):
    with psycopg.connect(db, autocommit=True) as c:
        yield c


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, **kwargs)


def verify(conn) -> list:
    return conn.execute("SELECT difference, table_name, id, detail FROM graph.verify()").fetchall()


def apply(conn) -> dict:
    cur = conn.execute("SELECT * FROM graph.apply_sync()")
    names = [d.name for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))
