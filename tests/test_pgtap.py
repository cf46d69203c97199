"""Run the pgTAP suites in tests/pgtap (each in BEGIN ... ROLLBACK) with pg_prove
against a fresh copy of the installed template."""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest

from conftest import ROOT

PGTAP_DIR = ROOT / "tests" / "pgtap"
PG_PROVE = shutil.which("pg_prove") or "/usr/bin/pg_prove"


def _libpq_env(dsn: str) -> dict:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("dbname", "PGDATABASE"), ("user", "PGUSER"),
                     ("password", "PGPASSWORD")):
        env.pop(var, None)
        if params.get(key):
            env[var] = str(params[key])
    return env


def test_pgtap_suites(db):
    if not os.path.exists(PG_PROVE):
        pytest.skip("pg_prove is not installed (apt-get install libtap-parser-sourcehandler-pgtap-perl)")
    files = sorted(str(p) for p in PGTAP_DIR.glob("*.sql"))
    assert files, f"no pgTAP files in {PGTAP_DIR}"
    with psycopg.connect(db) as c:
        if c.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgtap'").fetchone()[0] == 0:
            pytest.skip("the pgtap extension is not available on the server")
    proc = subprocess.run([PG_PROVE, "--verbose", "--failures", *files], env=_libpq_env(db),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pg_prove exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Result: PASS" in proc.stdout, proc.stdout
