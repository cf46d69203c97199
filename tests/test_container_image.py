"""The container backend's server (docker/) is the local throwaway cluster's twin:
the same server packages as `make setup` installs, the same settings and the same
pg_hba.conf as tools/pgcluster.py gives the local cluster, and transaction ids in the
same epoch. The file checks need no Docker, so `make test` keeps the two from
drifting apart; the last test asks the running server itself, on whichever backend
the suite runs."""

from __future__ import annotations

import re

import psycopg
import pytest

from conftest import ROOT, pgcluster

DOCKER = ROOT / "docker"
CLIENT_ONLY = {"libtap-parser-sourcehandler-pgtap-perl"}  # pg_prove runs where pytest runs
HOST_ONLY = {"graphviz", "python3-venv", "gdb"}  # the demo's and the tests' tools (gdb attaches from the host)
# PgQ, the capture benchmark's peer, and valgrind, which counts capture's instructions:
# benchmarks run on the local cluster
BENCH_ONLY = {"postgresql-15-pgq3", "valgrind"}


def _conf(text: str) -> dict[str, str]:
    """name -> value of a postgresql.conf (comments and blank lines skipped, quotes removed)."""
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([\w.]+)\s*=\s*(?:'([^']*)'|(\S+))", line)
        assert m, f"cannot read {line!r}"
        settings[m[1]] = m[2] if m[2] is not None else m[3]
    return settings


def _makefile_packages() -> set[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    packages = set()
    for m in re.finditer(r"^APT_PKGS\s*[:+]?=(.*)$", text, re.M):
        packages.update(m[1].split())
    assert packages, "no APT_PKGS in the Makefile"
    return packages


def _dockerfile_packages() -> set[str]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    packages = set()
    for m in re.finditer(r"apt-get install ([^&]*)", text):
        packages.update(w for w in m[1].split() if not w.startswith("-"))
    return packages


def test_the_image_has_every_server_package_make_setup_installs():
    server_packages = _makefile_packages() - CLIENT_ONLY - HOST_ONLY - BENCH_ONLY
    assert {"postgresql-15", "postgresql-plpython3-15", "python3-numpy", "python3-scipy",
            "postgresql-15-pgtap", "postgresql-15-cron", "postgresql-15-pgrouting"} <= server_packages
    assert server_packages - _dockerfile_packages() == set()


def test_the_image_builds_from_a_base_given_as_a_build_argument():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)


def test_the_image_has_the_local_clusters_settings_and_pg_hba():
    conf = _conf((DOCKER / "postgresql.conf").read_text())
    assert conf.pop("listen_addresses") == "127.0.0.1"
    assert conf.pop("unix_socket_directories") == "/run/graphsync"
    assert "port" not in conf  # PGPORT, given when the container starts
    assert conf == {**pgcluster.CRON_SETTINGS, **pgcluster.SERVER_SETTINGS}
    assert (DOCKER / "pg_hba.conf").read_text() == pgcluster.HBA


def test_the_server_runs_with_those_settings(server):
    if server.directory is None:
        pytest.skip("GRAPHSYNC_DSN names a server the tests did not configure")
    with psycopg.connect(server.admin_dsn, autocommit=True) as c:
        for name, value in {**pgcluster.CRON_SETTINGS, **pgcluster.SERVER_SETTINGS,
                            "listen_addresses": "127.0.0.1"}.items():
            assert c.execute("SELECT current_setting(%s)", (name,)).fetchone() == (value,), name
        rules = c.execute("SELECT type, database, user_name, address, auth_method"
                          " FROM pg_hba_file_rules ORDER BY line_number").fetchall()
        assert rules == [("local", ["all"], ["all"], None, "trust"),
                         ("host", ["all"], ["all"], "127.0.0.1", "scram-sha-256"),
                         ("host", ["all"], ["all"], "::1", "scram-sha-256")]
        assert c.execute("SELECT datname FROM pg_database WHERE datname = %s",
                         (pgcluster.CRON_DATABASE,)).fetchone() == (pgcluster.CRON_DATABASE,)
        available = {r[0] for r in c.execute("SELECT name FROM pg_available_extensions").fetchall()}
        assert {"plpython3u", "pgtap", "pg_cron", "pgrouting"} <= available
        # transaction ids in pgcluster.XID_EPOCH, never 0: a 32-bit xid read as a 64-bit one fails the suite
        xid = c.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        assert xid >> 32 == pgcluster.XID_EPOCH >= 1
