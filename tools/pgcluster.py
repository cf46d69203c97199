"""A throwaway PostgreSQL 15 cluster for the demo, the tests and the benchmarks.

initdb and pg_ctl refuse to run as root, so when we are root the server runs as the
``postgres`` OS user. The cluster lives in a temporary directory, listens on a free
TCP port on loopback and on a Unix socket in that directory, and preloads pg_cron.

pg_cron's launcher connects to the database named by cron.database_name
(CRON_DATABASE) as soon as the server starts, and exits and restarts every second
while that database does not exist. So a new cluster gets that database, empty,
before it first starts (in single-user mode); whoever uses pg_cron installs
graphsync and pg_cron into it (demo/demo.py, tests/test_cron.py). Its transaction ids
start in epoch 1 (XID_EPOCH), as on a server that has run for long.

The cluster is set up as the README's pg_cron setup prescribes, on a server that
asks every TCP connection for a scram-sha-256 password (CRON_SETTINGS, HBA): pg_cron
runs jobs in background workers, so no job needs a connection or a password. Only
the Unix socket in the directory trusts local users, for the harness. start() and
restart() take other settings (tests start a cluster without background workers,
to show what then fails); restart() keeps what start() was given.

start_standby() makes a hot standby of a running cluster (pg_basebackup -R over the
primary's socket, which then also trusts local replication connections) in another
directory, on its own free port.

    python tools/pgcluster.py start DIR   # prints the DSN
    python tools/pgcluster.py stop DIR
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys

CRON_DATABASE = "graphsync"  # cron.database_name: created with the cluster

# The README's pg_cron setup (Operations, "pg_cron setup"): jobs run in background
# workers, which pg_cron's launcher and each running job take from max_worker_processes
# (default 8, shared with parallel query).
CRON_SETTINGS = {
    "shared_preload_libraries": "pg_cron",
    "cron.database_name": CRON_DATABASE,
    "cron.use_background_workers": "on",
    "max_worker_processes": "16",
}
# Every other setting of the throwaway cluster: passwords stored as scram, and speed
# over durability (fsync off: a throwaway cluster, never a production one).
SERVER_SETTINGS = {
    "password_encryption": "scram-sha-256",
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
}
# Passwords for TCP connections, as a production server has them; the socket in the
# cluster's directory trusts local users (the harness connects through it).
HBA = """local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
# docker/postgresql.conf and docker/pg_hba.conf configure the container test backend's
# server with these same settings (tests/test_container_image.py compares them).


def pg_bindir() -> str:
    """The bin directory of the PostgreSQL 15 server binaries."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/15/bin"))
    if not candidates:
        raise SystemExit("PostgreSQL 15 server binaries not found: apt-get install postgresql-15")
    return candidates[-1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chown_to_server_user(path: str) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def dsn_for(directory: str, dbname: str = "postgres") -> str:
    with open(os.path.join(directory, "port")) as f:
        port = f.read().strip()
    return f"host={directory} port={port} dbname={dbname} user=postgres"


def _settings(directory: str, settings: dict[str, str] | None) -> dict[str, str]:
    """CRON_SETTINGS, then what start() was given (kept in the directory), then ``settings``."""
    path = os.path.join(directory, "settings.json")
    saved = {}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
    merged = {**CRON_SETTINGS, **saved, **(settings or {})}
    with open(path, "w") as f:
        json.dump({k: v for k, v in merged.items() if CRON_SETTINGS.get(k) != v}, f)
    return merged


def _pg_ctl_start(directory: str, port: int, settings: dict[str, str] | None = None) -> None:
    options = " ".join([
        f"-p {port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={directory}",
        "-c password_encryption=" + SERVER_SETTINGS["password_encryption"],
        *(f"-c {name}={value}" for name, value in _settings(directory, settings).items()),
        *(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items() if name != "password_encryption"),
    ])
    subprocess.run(
        _as_server_user([f"{pg_bindir()}/pg_ctl", "-D", os.path.join(directory, "data"),
                         "-o", options, "-l", os.path.join(directory, "server.log"),
                         "-w", "-t", "120", "start"]),
        check=True, stdout=subprocess.DEVNULL,
    )


def _create_database_offline(data: str, name: str) -> None:
    """Create database ``name`` in the stopped cluster ``data`` (single-user mode), so
    it exists before anything connects to it."""
    proc = subprocess.run(
        _as_server_user([f"{pg_bindir()}/postgres", "--single", "-D", data, "-c", "fsync=off", "postgres"]),
        input=f'CREATE DATABASE "{name}";\n', text=True, capture_output=True,
    )
    if proc.returncode != 0 or "ERROR:" in proc.stderr:
        raise RuntimeError(f"creating database {name} in {data} failed:\n{proc.stderr}")


# The epoch a new cluster's transaction ids start in (an xid8 is epoch << 32 | xid). A
# server that has run some four billion transactions is past epoch 0; where graphsync
# reads a 32-bit xid (pg_locks, pg_stat_activity's backend_xid, a row version's xmin)
# beside the 64-bit ones the log keeps, it must say which epoch it means, and a
# cluster in epoch 0, where both read alike, would never show a place that does not.
XID_EPOCH = 1


def _pg_resetwal(data: str, *options: str) -> None:
    """pg_resetwal ``options`` on the stopped, cleanly shut down cluster ``data``."""
    subprocess.run(_as_server_user([f"{pg_bindir()}/pg_resetwal", *options, data]), check=True,
                   capture_output=True)


def _set_xid_epoch(data: str, epoch: int) -> None:
    """Move the cluster ``data`` to xid epoch ``epoch`` (pg_resetwal -e: the 32-bit
    counter and every row stay as they are)."""
    _pg_resetwal(data, "-e", str(epoch))


CLOG_XACTS_PER_SEGMENT = 8192 * 4 * 32  # two status bits a transaction, 32 pages of 8 kB


def move_xid_counter(directory: str, epoch: int, xid: int) -> None:
    """Set the next transaction id of the stopped cluster in ``directory`` to ``xid``
    (32 bits) in ``epoch``, the oldest unfrozen one to the same (pg_resetwal -e -x -u),
    with the commit-status segment that holds it made anew (zeroed: none of its
    transactions ran). Every row version must be frozen first (VACUUM (FREEZE) in every
    database): one written before the move would otherwise look written in the future."""
    data = os.path.join(directory, "data")
    segment = os.path.join(data, "pg_xact", "%04X" % (xid // CLOG_XACTS_PER_SEGMENT))
    with open(segment, "wb") as f:
        f.write(bytes(CLOG_XACTS_PER_SEGMENT // 4))
    _chown_to_server_user(segment)
    _pg_resetwal(data, "-e", str(epoch), "-x", str(xid), "-u", str(xid))


def start(directory: str, settings: dict[str, str] | None = None) -> str:
    """Create and start a cluster in ``directory``; return a DSN for the postgres database.
    ``settings`` override CRON_SETTINGS (server parameters by name)."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    _chown_to_server_user(directory)
    data = os.path.join(directory, "data")
    bindir = pg_bindir()
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        subprocess.run(
            _as_server_user([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust",
                             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL,
        )
        _create_database_offline(data, CRON_DATABASE)
        _set_xid_epoch(data, XID_EPOCH)
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write(HBA)
    port = _free_port()
    with open(os.path.join(directory, "port"), "w") as f:
        f.write(str(port))
    _pg_ctl_start(directory, port, settings)
    return dsn_for(directory)


REPLICATION_HBA = "local replication all trust\n"


def start_standby(primary: str, directory: str) -> str:
    """Make a hot standby of the running cluster in ``primary`` in ``directory`` (a
    streaming replica: pg_basebackup -R, so it follows the primary over its socket)
    and start it on a free port, with the primary's settings; return a DSN for its
    postgres database. The primary's socket is made to trust local replication
    connections first (and its configuration reloaded)."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    _chown_to_server_user(directory)
    hba = os.path.join(primary, "data", "pg_hba.conf")
    with open(hba) as f:
        lines = f.read()
    if REPLICATION_HBA not in lines:
        with open(hba, "a") as f:
            f.write(REPLICATION_HBA)
        subprocess.run(_as_server_user([f"{pg_bindir()}/pg_ctl", "-D", os.path.join(primary, "data"), "reload"]),
                       check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(primary, "port")) as f:
        primary_port = f.read().strip()
    subprocess.run(
        _as_server_user([f"{pg_bindir()}/pg_basebackup", "-h", primary, "-p", primary_port, "-U", "postgres",
                         "-D", os.path.join(directory, "data"), "-R", "-X", "stream", "-c", "fast",
                         "--no-sync"]),
        check=True, stdout=subprocess.DEVNULL,
    )
    with open(os.path.join(primary, "settings.json")) as f:
        saved = json.load(f)
    port = _free_port()
    with open(os.path.join(directory, "port"), "w") as f:
        f.write(str(port))
    _pg_ctl_start(directory, port, saved)
    return dsn_for(directory)


def restart(directory: str, settings: dict[str, str] | None = None) -> None:
    """Start an existing (possibly crashed or stopped) cluster again on its recorded
    port, with the settings it had, changed by ``settings``."""
    with open(os.path.join(directory, "port")) as f:
        port = int(f.read())
    _pg_ctl_start(directory, port, settings)


def postmaster_pid(directory: str) -> int:
    with open(os.path.join(directory, "data", "postmaster.pid")) as f:
        return int(f.readline())


def stop(directory: str, remove: bool = True) -> None:
    data = os.path.join(directory, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(_as_server_user([f"{pg_bindir()}/pg_ctl", "-D", data, "-m", "fast",
                                        "-w", "stop"]), stdout=subprocess.DEVNULL)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "start":
        print(start(sys.argv[2]))
    else:
        stop(sys.argv[2])
