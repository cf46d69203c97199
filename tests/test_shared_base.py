"""The shared base file of a generation (plpython graphsync/sync/basefile.py): every
backend maps the same read-only file under <data directory>/graphsync/<database oid>/;
a missing, corrupt, stale or partly written file is never used, the next reader
writes it again from graph._csr; maintenance removes old generations' files.

These tests read the server's data directory and /proc of its backends, so they
need the local throwaway cluster (run as root, as the harness does)."""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import struct
import threading
import time
import uuid

import psycopg
import pytest

from conftest import connect

pytestmark = pytest.mark.local_only(reason="reads the server's data directory and /proc of its backends")

SCHEMA = """
CREATE SCHEMA g;
CREATE TABLE g.nodes (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE g.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, kind text NOT NULL);
INSERT INTO g.nodes SELECT i, 'n' || i FROM generate_series(1, 300) AS i;
INSERT INTO g.links SELECT i, 1 + (i * 7) % 300, 1 + (i * 13) % 300, (ARRAY['a', 'b'])[1 + i % 2]
FROM generate_series(1, 1200) AS i;
SELECT graph.add_table('g.nodes', columns => '{name}');
SELECT graph.add_edge('g.nodes', 'src', 'g.nodes', to_column => 'dst', via_table => 'g.links', label_column => 'kind');
SELECT graph.build();
"""

READS = [
    "SELECT node_id, depth, parent_id, edge_label FROM graph.traverse('g.nodes', '1', max_depth => 3,"
    " direction => %s, max_nodes => 100000) ORDER BY node_id",
]


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def base_file(c):
    """(path, size, sha256 hex) of the current generation's shared file."""
    row = c.execute("""SELECT current_setting('data_directory'),
                              (SELECT oid FROM pg_database WHERE datname = current_database()),
                              s.generation, c.file_bytes, c.file_sha256
                       FROM graph._sync_state AS s JOIN graph._csr AS c ON c.generation = s.generation
                       WHERE c.direction = 'out'""").fetchone()
    data, oid, generation, size, sha = row
    return os.path.join(data, "graphsync", str(oid), "%d.base" % generation), size, sha


def answer(c):
    """What a few reads answer (every direction; the 'any' one reads its own arrays)."""
    return {d: c.execute(READS[0], (d,)).fetchall() for d in ("out", "in", "any")}


def mapped(pid, path):
    """The lines of /proc/<pid>/maps that map ``path``."""
    with open("/proc/%d/maps" % pid) as f:
        return [line for line in f if line.rstrip().endswith(path)]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def array_span(path, name):
    """(offset, bytes) of an array of the file (its JSON header says where)."""
    with open(path, "rb") as f:
        head = f.read(16)
        (n,) = struct.unpack("<Q", head[8:16])
        header = json.loads(f.read(n))
    for array, dtype, offset, count in header["arrays"]:
        if array == name:
            return offset, count * int(dtype[-1])
    raise KeyError(name)


def _stats(c):
    got = []
    c.add_notice_handler(lambda d: got.append(d.message_primary))
    c.execute("""DO $$
import json
from graphsync.sync import base
plpy.notice(json.dumps(base.FILE_STATS))
$$ LANGUAGE plpython3u""")
    return json.loads(got[-1])


def test_two_backends_map_the_same_file(graph_db):
    with connect(graph_db) as a, connect(graph_db) as b:
        first, second = answer(a), answer(b)
        assert first == second and first["out"]
        path, size, digest = base_file(a)
        assert os.path.getsize(path) == size and sha(path) == digest
        st = os.stat(path)
        assert st.st_mode & 0o777 == 0o400 and os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
        for c in (a, b):
            lines = mapped(c.info.backend_pid, path)
            assert lines, "backend %d does not map %s" % (c.info.backend_pid, path)
            assert all(line.split()[1].startswith("r") and "w" not in line.split()[1] for line in lines)
            assert all(int(line.split()[4]) == st.st_ino for line in lines)  # the same file
            s = _stats(c)
            assert s["maps"] == 1 and s["private"] == 0
        # Nothing of it counts as this backend's own cache.
        assert a.execute("SELECT cache_bytes FROM graph.status()").fetchone()[0] < size


def test_build_writes_the_file_so_no_reader_does(graph_db):
    """graph.build() writes the new generation's file from the arrays it built (and
    stamps it as checked): the first read in a fresh backend maps it, writing
    nothing and reading no checksum."""
    with connect(graph_db) as c:
        c.execute("INSERT INTO g.links VALUES (6101, 2, 5, 'e')")
        c.execute("SELECT graph.build()")
        path, size, digest = base_file(c)
        assert os.path.getsize(path) == size and sha(path) == digest
        assert os.stat(path).st_mode & 0o777 == 0o400
        assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")]
    with connect(graph_db) as c:
        assert answer(c)["out"]
        s = _stats(c)
        assert s["writes"] == 0 and s["checks"] == 0 and s["maps"] == 1 and s["private"] == 0
        assert mapped(c.info.backend_pid, path)


def test_a_build_that_rolls_back_leaves_no_file_a_reader_trusts(graph_db):
    """A build writes its file before it commits: when it rolls back, a later build of
    the same generation number records another checksum, and a reader never maps
    the rolled-back build's file for it."""
    with connect(graph_db) as c:
        c.execute("BEGIN")
        c.execute("INSERT INTO g.links VALUES (6102, 3, 6, 'rolled-back')")
        c.execute("SELECT graph.build()")
        path, _, rolled_back = base_file(c)
        c.execute("ROLLBACK")
        c.execute("INSERT INTO g.links VALUES (6103, 3, 7, 'kept')")
        c.execute("SELECT graph.build()")
        again, _, digest = base_file(c)
        assert again == path and digest != rolled_back and sha(path) == digest
    with connect(graph_db) as c:
        assert answer(c)["out"]
        s = _stats(c)
        assert s["maps"] == 1 and s["writes"] == 0 and s["refused"] == 0


def test_a_build_that_fails_while_its_file_is_hashed_leaves_neither_file_nor_temp_file(graph_db):
    """The build writes its file's bytes, then graph._csr while a thread fsyncs and
    hashes the file: a failure of those writes (a trigger here) removes the temp file
    and leaves no file under the next generation's name; the next build writes one."""
    with connect(graph_db) as c:
        path, _, _ = base_file(c)
        folder = os.path.dirname(path)
        generation = c.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        c.execute("""CREATE FUNCTION public.fail_csr() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN RAISE EXCEPTION 'graph._csr refused'; END $$""")
        c.execute("""CREATE TRIGGER fail_csr BEFORE INSERT ON graph._csr
                     FOR EACH ROW EXECUTE FUNCTION public.fail_csr()""")
        try:
            with pytest.raises(psycopg.errors.RaiseException):
                c.execute("SELECT graph.build()")
            names = sorted(os.listdir(folder))
            assert "%d.base" % (generation + 1) not in names
            assert not [n for n in names if n.endswith(".tmp")], names
        finally:
            c.execute("DROP TRIGGER fail_csr ON graph._csr")
            c.execute("DROP FUNCTION public.fail_csr()")
        c.execute("SELECT graph.build()")
        again, size, digest = base_file(c)
        assert again == os.path.join(folder, "%d.base" % (generation + 1)) and sha(again) == digest


def test_a_deleted_file_is_written_again_by_the_next_read(graph_db):
    with connect(graph_db) as c:
        before = answer(c)
        path, size, digest = base_file(c)
    os.unlink(path)
    with connect(graph_db) as c:
        assert answer(c) == before
        assert sha(path) == digest
        assert mapped(c.info.backend_pid, path)
        assert _stats(c)["writes"] == 1


def test_graph_csr_stores_the_out_csr_only_and_a_stored_in_row_is_still_read(graph_db):
    """A build writes one graph._csr row per generation, 'out' (the 'in' CSR is its
    reverse, made again by whoever writes the file from graph._csr: the file is the
    same, byte for byte). A generation an older release built keeps its 'in' row,
    which is read as it is: here one put back from the file's own 'in' arrays, the
    file removed, and the file written again from both rows is the same file."""
    with connect(graph_db) as c:
        c.execute("INSERT INTO g.links VALUES (6301, 4, 9, 'a')")
        c.execute("SELECT graph.build()")
        before = answer(c)
        path, size, digest = base_file(c)
        generation = c.execute("SELECT generation FROM graph._sync_state").fetchone()[0]
        rows = c.execute("SELECT direction, file_bytes, file_sha256 FROM graph._csr ORDER BY direction").fetchall()
        assert rows == [("out", size, digest)]
    os.unlink(path)
    with connect(graph_db) as c:
        assert answer(c) == before
        assert sha(path) == digest and _stats(c)["writes"] == 1
    with open(path, "rb") as f:
        data = f.read()
    spans = {name: array_span(path, "in." + name) for name in ("offsets", "targets", "weights", "labels", "sources")}
    with connect(graph_db) as c:
        c.execute("""INSERT INTO graph._csr (generation, direction, node_count, edge_count, offsets, targets,
                                             weights, labels, sources, alive)
                     SELECT generation, 'in', node_count, edge_count, %s, %s, %s, %s, %s, alive
                     FROM graph._csr WHERE generation = %s AND direction = 'out'""",
                  [data[o:o + n] for o, n in (spans[k] for k in ("offsets", "targets", "weights", "labels",
                                                                   "sources"))] + [generation])
    os.unlink(path)
    with connect(graph_db) as c:
        assert answer(c) == before
        assert sha(path) == digest and _stats(c)["writes"] == 1
        c.execute("DELETE FROM graph._csr WHERE direction = 'in'")


def test_a_file_is_read_in_full_once_when_written_then_mapped_without_reading_it(graph_db):
    """The writer checks every byte as it writes them and stamps the file: neither it
    nor a later backend reads the file in full again (a new backend's first read is
    O(1) in the graph's size). A file whose identity moved since (any write, here a
    touch) is checked in full once more."""
    with connect(graph_db) as c:
        before = answer(c)
        path, size, digest = base_file(c)
    stamp = path[:-len(".base")] + ".verified"
    os.unlink(path)
    os.unlink(stamp)
    with connect(graph_db) as c:
        assert answer(c) == before
        s = _stats(c)
        assert (s["writes"], s["checks"], s["maps"], s["refused"]) == (1, 0, 1, 0)
    assert os.path.exists(stamp) and sha(path) == digest
    with connect(graph_db) as c:
        assert answer(c) == before
        s = _stats(c)
        assert (s["writes"], s["checks"], s["maps"], s["refused"]) == (0, 0, 1, 0)
    os.utime(path)  # control: the ctime moves, the stamp no longer matches
    with connect(graph_db) as c:
        assert answer(c) == before
        s = _stats(c)
        assert (s["writes"], s["checks"], s["maps"], s["refused"]) == (0, 1, 1, 0)


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_corrupt_file_is_never_used(graph_db, keep_mtime):
    with connect(graph_db) as c:
        before = answer(c)
        path, size, digest = base_file(c)
    st = os.stat(path)
    for name in ("out.targets", "in.targets", "any.targets"):
        offset, length = array_span(path, name)
        with open(path, "r+b") as f:  # every edge now leads to node 0: a read that used it would show
            f.seek(offset)
            f.write(bytes(length))
    if keep_mtime:  # the same size and mtime: only the ctime (and the checksum) tell
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sha(path) != digest
    with connect(graph_db) as c:
        assert answer(c) == before
        s = _stats(c)
        assert s["refused"] >= 1 and s["checks"] >= 1 and s["writes"] == 1 and s["private"] == 0
        assert sha(path) == digest and os.stat(path).st_ino != st.st_ino


def test_a_truncated_file_or_a_dead_writers_temp_file_is_never_used(graph_db):
    with connect(graph_db) as c:
        before = answer(c)
        path, size, digest = base_file(c)
    folder, generation = os.path.dirname(path), int(os.path.basename(path).split(".")[0])
    with open(path, "rb") as f:
        head = f.read(size // 2)
    os.unlink(path)
    with open(path, "wb") as f:  # what a writer that wrote in place would leave at a crash
        f.write(head)
    temp = os.path.join(folder, ".%d.%d.tmp" % (generation, 999999))
    with open(temp, "wb") as f:  # what a writer killed before its rename leaves
        f.write(head)
    with connect(graph_db) as c:
        assert answer(c) == before
        assert _stats(c)["refused"] >= 1
        assert sha(path) == digest
        assert not os.path.exists(temp)  # never renamed nor read; the writer removed it, under the lock
        with open(temp, "wb") as f:
            f.write(head)
        c.execute("SELECT graph.run_scheduled_maintenance()")
    assert not os.path.exists(temp)  # and so does maintenance


def test_a_stale_file_of_another_generation_is_not_used(graph_db):
    with connect(graph_db) as c:
        answer(c)
        old_path, _, old_digest = base_file(c)
        c.execute("INSERT INTO g.links VALUES (5001, 1, 2, 'c'), (5002, 2, 3, 'c')")
        c.execute("SELECT graph.build()")
        new_path, size, digest = base_file(c)
        assert new_path != old_path and digest != old_digest
    saved = old_path + ".copy"
    shutil.copyfile(old_path, saved)
    try:
        with connect(graph_db) as c:
            expected = answer(c)  # writes the new generation's file
            assert any(r[3] == "c" for r in expected["out"])
        os.unlink(new_path)
        shutil.copyfile(saved, new_path)  # the old generation's file under the new name
        os.chmod(new_path, 0o400)
        with connect(graph_db) as c:
            assert answer(c) == expected
            assert _stats(c)["refused"] >= 1
            assert sha(new_path) == digest
    finally:
        os.unlink(saved)


def test_maintenance_removes_old_generations_files(graph_db):
    with connect(graph_db) as c:
        answer(c)
        path, _, _ = base_file(c)
        folder = os.path.dirname(path)
        top = os.path.dirname(folder)
        generation = int(os.path.basename(path).split(".")[0])
        old = os.path.join(folder, "%d.base" % (generation - 1))
        shutil.copyfile(path, old)  # as a backend on an old snapshot would leave it
        dropped = os.path.join(top, "4000000000")  # a database that does not exist
        os.makedirs(dropped)
        with open(os.path.join(dropped, "1.base"), "wb") as f:
            f.write(b"x")
        owner = os.stat(folder)
        for p in (dropped, os.path.join(dropped, "1.base")):  # as the server's OS user wrote them
            os.chown(p, owner.st_uid, owner.st_gid)
        holder = connect(graph_db)
        answer(holder)  # maps the current generation's file, and keeps it mapped
        row = c.execute("SELECT status, reason FROM graph.vacuum()").fetchone()  # rebuilds: a new generation
        assert row[0] == "succeeded", row
        assert not os.path.exists(old) and not os.path.exists(dropped)
        assert os.path.exists(path)  # the generation committed before the run stays for this run
        new_path, _, _ = base_file(c)
        assert os.path.exists(new_path)  # written by the rebuild itself
        answer(c)
        assert os.path.exists(path)  # kept for readers of the generation before, until maintenance
        c.execute("SELECT graph.run_scheduled_maintenance()")
        assert sorted(n for n in os.listdir(folder) if n.endswith(".base")) == [os.path.basename(new_path)]
        # The backend that mapped the removed file still reads it (Linux keeps the inode).
        lines = mapped(holder.info.backend_pid, path + " (deleted)")
        assert lines
        holder.close()


def test_a_snapshot_that_still_sees_a_removed_generation_writes_its_file_again(graph_db):
    with connect(graph_db) as c:
        before = answer(c)
        old_path, _, old_digest = base_file(c)
    old = connect(graph_db)
    old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert base_file(old)[0] == old_path  # its snapshot: the current generation
    with connect(graph_db) as c:
        c.execute("INSERT INTO g.links VALUES (6001, 1, 4, 'd')")
        c.execute("SELECT graph.build()")
        new_path = base_file(c)[0]
        assert answer(c) != before
    assert os.path.exists(new_path)  # the build wrote it
    os.unlink(old_path)  # as maintenance removes the files of generations before the current one
    assert answer(old) == before  # from the graph._csr rows its snapshot sees
    assert sha(old_path) == old_digest and os.path.exists(new_path)
    old.execute("COMMIT")
    old.close()
    with connect(graph_db) as c:
        c.execute("SELECT graph.run_scheduled_maintenance()")
    assert not os.path.exists(old_path) and os.path.exists(new_path)


def test_a_reader_waits_for_the_writer_and_can_be_cancelled(graph_db):
    with connect(graph_db) as c:
        before = answer(c)
        path, _, digest = base_file(c)
    os.unlink(path)
    lock = os.open(os.path.join(os.path.dirname(path), "lock"), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a writer at work
        r = connect(graph_db)
        pid = r.info.backend_pid
        result = {}

        def read():
            try:
                result["answer"] = answer(r)
            except psycopg.Error as exc:
                result["error"] = exc

        t = threading.Thread(target=read)
        t.start()
        time.sleep(1.0)
        assert t.is_alive() and not os.path.exists(path)  # waiting for the lock
        with connect(graph_db) as other:
            other.execute("SELECT pg_cancel_backend(%s)", (pid,))
        t.join(30)
        assert isinstance(result.get("error"), psycopg.errors.QueryCanceled)
        r.close()
        # Waiting, then taking the file the lock holder wrote.
        r = connect(graph_db)
        t = threading.Thread(target=read)
        result.clear()
        t.start()
        time.sleep(0.5)
        assert t.is_alive()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    t.join(60)
    assert result.get("answer") == before and sha(path) == digest
    r.close()


def test_a_directory_it_cannot_write_falls_back_to_private_memory(graph_db):
    with connect(graph_db) as c:
        before = answer(c)
        path, _, _ = base_file(c)
    folder = os.path.dirname(path)
    os.unlink(path)
    os.chmod(folder, 0o500)  # the server's OS user cannot write there any more
    try:
        with connect(graph_db) as c:
            warnings = []
            c.add_notice_handler(lambda d: warnings.append(d.message_primary))
            assert answer(c) == before
            assert any("holds the base privately" in w for w in warnings), warnings
            assert _stats(c)["private"] == 1 and not os.path.exists(path)
    finally:
        os.chmod(folder, 0o700)


def test_a_writer_killed_mid_write_leaves_no_visible_file(server, template):
    """SIGSTOP the backend writing a 20 MB file as soon as its temp file appears: the
    final name does not exist; SIGKILL it (the server restarts its backends); the next
    read writes the file and removes the dead writer's temp file."""
    if server.directory is None:
        pytest.skip("GRAPHSYNC_DSN names an external server: the tests may not kill its backends")
    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server.create_database(name, template)
    try:
        with connect(dsn) as c:
            # The test cluster commits asynchronously: the crash restart that killing a
            # backend causes could lose this setup unless it is flushed when it commits.
            c.execute("SET synchronous_commit = on")
            c.execute(SCHEMA.replace("300", "20000").replace("1200", "200000"))
            path, size, digest = base_file(c)
        folder = os.path.dirname(path)
        owner = os.stat(os.path.dirname(os.path.dirname(folder)))  # the data directory's
        for p in (os.path.dirname(folder), folder):  # made as the server's OS user would
            os.makedirs(p, mode=0o700, exist_ok=True)
            os.chown(p, owner.st_uid, owner.st_gid)
        for _attempt in range(5):
            if os.path.exists(path):
                os.unlink(path)
            r = connect(dsn)
            pid = r.info.backend_pid
            t = threading.Thread(target=_quietly, args=(answer, r))
            t.start()
            caught = None
            deadline = time.monotonic() + 30
            while caught is None and t.is_alive() and time.monotonic() < deadline:
                caught = next((n for n in os.listdir(folder) if n.endswith(".tmp")), None)
            if caught is None:  # the write was over before we looked: again
                t.join(30)
                r.close()
                continue
            os.kill(pid, signal.SIGSTOP)
            assert not os.path.exists(path)  # nothing is visible under the final name
            os.kill(pid, signal.SIGKILL)
            t.join(30)
            r.close()
            break
        else:
            pytest.skip("the file was written before the test could catch the writer")
        deadline = time.monotonic() + 60
        while True:  # the server reinitializes after a backend is killed
            try:
                with connect(dsn) as c:
                    assert answer(c)["out"]
                    break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert sha(path) == digest
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]  # removed by that writer
    finally:
        server.drop_database(name)


def _quietly(fn, *args):
    try:
        fn(*args)
    except psycopg.Error:
        pass
