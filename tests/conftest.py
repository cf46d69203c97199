"""Test harness: one throwaway PostgreSQL server per session (or the server in
GRAPHSYNC_DSN), graphsync installed once into a template database, and a fresh
copy of that template for each test module.

The throwaway server is a local cluster (tools/pgcluster.py) by default, or, with
GRAPHSYNC_TEST_BACKEND=container, a container of the image docker/Dockerfile builds
(GRAPHSYNC_TEST_IMAGE, default graphsync-test-pg15; `make container-image`), started
through testcontainers. Both are configured alike and connected to alike: a Unix
socket in a directory of the harness (trusted) and 127.0.0.1 on a free port
(scram-sha-256). Tests marked ``local_only`` need the local backend and are skipped
on the container one."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
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
BACKEND = os.environ.get("GRAPHSYNC_TEST_BACKEND", "local")
BACKENDS = ("local", "container")
IMAGE = os.environ.get("GRAPHSYNC_TEST_IMAGE", "graphsync-test-pg15")
SOCKET_DIR = "/run/graphsync"  # unix_socket_directories in the image (docker/postgresql.conf)


class Server:
    """A PostgreSQL server the tests may create databases on: the one GRAPHSYNC_DSN
    names, which the tests never stop (LocalServer and ContainerServer they own)."""

    backend = "external"

    def __init__(self, admin_dsn: str, directory: str | None):
        self.admin_dsn = admin_dsn
        # Set when the tests own the server (crash and pg_cron tests): the directory
        # of the local cluster, or the one holding the container's socket.
        self.directory = directory

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

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as a crash does."""
        raise NotImplementedError(f"the tests may not kill a server they do not own ({self.backend})")

    def restart(self) -> None:
        """Start the killed server again, on the same port, with the same data."""
        raise NotImplementedError(f"the tests may not restart a server they do not own ({self.backend})")

    def stop(self) -> None:
        """Stop the server and remove everything it had."""

    def host_pid(self, pid: int) -> int:
        """The process id on this machine of the server's process ``pid``
        (pg_backend_pid()), for the tests that pause a backend with a debugger."""
        raise NotImplementedError(f"the tests may not attach to a server they do not own ({self.backend})")

    def describe(self) -> str:
        return f"the server in GRAPHSYNC_DSN ({self.backend})"


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


class LocalServer(Server):
    """The local throwaway cluster (tools/pgcluster.py) in ``directory``."""

    backend = "local"

    @classmethod
    def start(cls) -> LocalServer:
        directory = tempfile.mkdtemp(prefix="graphsync-test-")
        try:
            return cls(pgcluster.start(directory), directory)
        except BaseException:
            log = Path(directory, "server.log")
            if log.exists():
                sys.stderr.write(f"the throwaway cluster did not start; its log:\n{log.read_text()}\n")
            pgcluster.stop(directory)
            raise

    def kill(self) -> None:
        """SIGKILL the postmaster and all its children, and wait until they are gone."""
        pid = pgcluster.postmaster_pid(self.directory)
        os.kill(pid, signal.SIGSTOP)  # no new child can be forked while we look
        victims = [pid, *_children_of(pid)]
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # until reaped, not just zombies
        assert wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in victims), timeout=60,
                          interval=0.05), f"server processes {victims} still exist after SIGKILL"

    def restart(self) -> None:
        pgcluster.restart(self.directory)

    def host_pid(self, pid: int) -> int:
        return pid

    def stop(self) -> None:
        pgcluster.stop(self.directory)

    def describe(self) -> str:
        return f"local throwaway cluster in {self.directory}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ContainerServer(Server):
    """A container of IMAGE, started through testcontainers with the host's network
    (no bridge: the server listens on 127.0.0.1 only, on a free port) and ``directory``
    bind-mounted as its socket directory. kill() is docker kill: SIGKILL to the
    postmaster, the container's first process, whose end SIGKILLs every other process
    in the container; restart() is docker start: the same container, data and port."""

    backend = "container"

    def __init__(self, admin_dsn: str, directory: str, container, port: int):
        super().__init__(admin_dsn, directory)
        self.container = container
        self.port = port

    @classmethod
    def start(cls, image: str = IMAGE) -> ContainerServer:
        try:
            import docker.errors
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise RuntimeError("GRAPHSYNC_TEST_BACKEND=container needs testcontainers"
                               " (pip install -r requirements-dev.txt)") from exc
        try:
            container = DockerContainer(image)
            container.get_docker_client().client.images.get(image)
        except docker.errors.ImageNotFound:
            raise RuntimeError(f"no image {image}: build it with make container-image") from None
        except docker.errors.DockerException as exc:
            raise RuntimeError(f"GRAPHSYNC_TEST_BACKEND=container: Docker does not answer ({exc});"
                               " start it (docker/dockerd.sh start)") from None
        directory = tempfile.mkdtemp(prefix="graphsync-test-container-")
        os.chmod(directory, 0o1777)  # the server runs as the image's postgres user
        port = _free_port()
        (
            container
            .with_name(f"graphsync-test-{port}-{uuid.uuid4().hex[:8]}")
            .with_env("PGPORT", str(port))
            .with_volume_mapping(directory, SOCKET_DIR, "rw")
            # PostgreSQL's dynamic shared memory lives in /dev/shm: Docker's 64 MB is too little
            .with_kwargs(network_mode="host", shm_size="1g")
        )
        dsn = f"host={directory} port={port} dbname=postgres user=postgres"
        server = cls(dsn, directory, container, port)
        try:
            container.start()
            server._wait_until_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _logs(self) -> str:
        try:
            out, err = self.container.get_logs()
        except Exception as exc:  # only for an error message
            return f"(no logs: {exc})"
        return (out + err).decode(errors="replace")

    def _wait_until_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                wrapped = self.container.get_wrapped_container()
                wrapped.reload()
                if wrapped.status not in ("created", "running", "restarting"):
                    raise RuntimeError(f"container {wrapped.name} is {wrapped.status}; its log:\n"
                                       f"{self._logs()}") from exc
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server in container {wrapped.name} does not accept connections"
                                       f" after {timeout} s: {exc}; its log:\n{self._logs()}") from exc
                time.sleep(0.2)

    def kill(self) -> None:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status == "running":
            wrapped.kill()  # SIGKILL
        deadline = time.monotonic() + 60
        while wrapped.status == "running":
            assert time.monotonic() < deadline, f"container {wrapped.name} still runs after docker kill"
            time.sleep(0.05)
            wrapped.reload()

    def restart(self) -> None:
        self.container.get_wrapped_container().start()
        self._wait_until_ready()

    def host_pid(self, pid: int) -> int:
        """The process of the container's process namespace whose id there is ``pid``
        (the last id of its NSpid line)."""
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        namespace = os.readlink(f"/proc/{wrapped.attrs['State']['Pid']}/ns/pid")
        for entry in os.listdir("/proc"):
            try:
                if not entry.isdigit() or os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                    continue
                with open(f"/proc/{entry}/status") as f:
                    ids = next(line.split()[1:] for line in f if line.startswith("NSpid:"))
            except (OSError, StopIteration):
                continue
            if int(ids[-1]) == pid:
                return int(entry)
        raise LookupError(f"no process {pid} in container {wrapped.name}")

    def stop(self) -> None:
        try:
            self.container.stop()  # docker rm --force, with its volumes
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def describe(self) -> str:
        return f"container of {IMAGE} on 127.0.0.1:{self.port}, socket in {self.directory}"


def start_server() -> Server:
    """The throwaway server of GRAPHSYNC_TEST_BACKEND."""
    if BACKEND == "container":
        return ContainerServer.start()
    return LocalServer.start()


def pytest_configure(config):
    if BACKEND not in BACKENDS:
        raise pytest.UsageError(f"GRAPHSYNC_TEST_BACKEND={BACKEND!r}: expected one of {', '.join(BACKENDS)}")


def pytest_collection_modifyitems(config, items):
    if BACKEND != "container" or os.environ.get("GRAPHSYNC_DSN"):
        return
    for item in items:
        marker = item.get_closest_marker("local_only")
        if marker:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"local backend only: {reason}"))


def _report(config, line: str) -> None:
    """One line on the terminal, outside pytest's output capture."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if getattr(reporter._tw, "width_of_current_line", 0):  # after the progress dots so far
            reporter.write("\n")
        reporter.write_line(line)


@pytest.fixture(scope="session")
def server(request):
    external = os.environ.get("GRAPHSYNC_DSN")
    if external:
        srv = Server(external, None)
        yield srv
        return
    started = time.monotonic()
    srv = start_server()
    _report(request.config, f"test server: {srv.describe()}, started in {time.monotonic() - started:.1f} s")
    try:
        yield srv
    finally:
        srv.stop()


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
def fresh_db(server):
    """DSN of an empty database (graphsync not installed), dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server.create_database(name)
    yield dsn
    server.drop_database(name)


@pytest.fixture
def conn(db):
    with psycopg.connect(db, autocommit=True) as c:
        yield c


def skip_without_server_binaries() -> None:
    """Skip the calling test unless PostgreSQL 15's server binaries are here: it
    starts a cluster of its own (tools/pgcluster.py)."""
    try:
        pgcluster.pg_bindir()
    except SystemExit:
        pytest.skip("no PostgreSQL 15 server binaries here")


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, **kwargs)


def explained_plans(conn, *settings) -> list[str]:
    """The plans auto_explain shows ``conn`` from now on, each statement's and every
    nested one's (a NOTICE each, appended to the list returned), with ``settings``
    of auto_explain's besides (``"log_analyze = on"``)."""
    plans = []
    conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice", *settings):
        conn.execute(f"SET auto_explain.{setting}")
    return plans


def as_role(dsn: str, role: str) -> psycopg.Connection:
    """An autocommit connection to ``dsn`` logged in as ``role`` (a real role of the test)."""
    return connect(psycopg.conninfo.make_conninfo(dsn, user=role))


@contextlib.contextmanager
def table_owner(dsn: str, prefix: str):
    """A new login role, named ``prefix`` and a random suffix, that may create schemas
    in ``dsn``'s database (an application's tables' owner: not a superuser, not
    graph_admin); what it owns goes to the caller afterwards, and the role is dropped."""
    role = prefix + uuid.uuid4().hex[:8]
    with connect(dsn) as c:
        c.execute(f"CREATE ROLE {role} LOGIN")
        c.execute(f"GRANT CREATE ON DATABASE {c.info.dbname} TO {role}")
    yield role
    with connect(dsn) as c:
        c.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        c.execute(f"DROP OWNED BY {role}")
        c.execute(f"DROP ROLE {role}")


def verify(conn) -> list:
    return conn.execute("SELECT difference, table_name, id, detail FROM graph.verify()").fetchall()


def wait_until(check, timeout: float = 30, interval: float = 0.02) -> bool:
    """Poll ``check()`` until it is true or ``timeout`` seconds pass; its last
    answer. A deadline only for a hang, never a timing: a caller asserts the answer
    (``assert wait_until(lambda: blocked_by(c, pid, other)), ...``)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return bool(check())
        time.sleep(interval)
    return True


def state_row_free(conn) -> bool:
    """Whether graph._sync_state's row is free now (no other session holds it)."""
    try:
        with conn.transaction():
            conn.execute("SELECT FROM graph._sync_state FOR UPDATE NOWAIT")
        return True
    except psycopg.errors.LockNotAvailable:
        return False


def blocked_by(conn, pid: int, other: int) -> bool:
    """Whether backend ``pid`` waits for a lock backend ``other`` holds."""
    return conn.execute("SELECT %s = ANY (pg_blocking_pids(%s))", (other, pid)).fetchone()[0]


def pending_count(conn) -> int:
    """The committed log rows not applied yet (graph._pending_log)."""
    return conn.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0]


def rows_read(conn, table: str) -> int:
    """Rows of ``table`` that ``conn``'s transaction has read so far, sequentially or
    through an index (pg_stat_xact_all_tables): what a statement reads, told apart
    from what it could have read, whatever the plan."""
    return conn.execute("""SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                           FROM pg_stat_xact_all_tables WHERE relid = %s::regclass""", (table,)).fetchone()[0]


def row(conn, query, params=()) -> dict:
    """The first row of ``query``, by column name."""
    cur = conn.execute(query, params)
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def apply(conn) -> dict:
    return row(conn, "SELECT * FROM graph.apply_sync()")


def health(conn) -> dict:
    return row(conn, "SELECT * FROM graph.sync_health()")


def maintain(conn, fn="graph.run_scheduled_maintenance") -> dict:
    """A maintenance run's result row: graph.run_scheduled_maintenance(), or ``fn``
    (graph.vacuum)."""
    return row(conn, f"SELECT * FROM {fn}()")


def retry(conn) -> dict:
    return row(conn, "SELECT * FROM graph.retry_failed()")


def reconcile(conn) -> list:
    return conn.execute("SELECT action, table_name, items, detail FROM graph.reconcile()").fetchall()
