"""graphsync.sync.basefile: the shared base file's format, its checks, atomic writes
and cleanup, in a scratch directory standing in for a data directory."""

import hashlib
import os

import numpy as np
import pytest

from graphsync.algorithms import csr
from graphsync.algorithms.adjacency import both_ways
from graphsync.sync import background, basefile


def graph(seed=3, n=50, m=200):
    rng = np.random.default_rng(seed)
    e = csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m), rng.integers(0, 3, m),
                  rng.integers(1, 4, m))
    out = csr.build(n, e)
    alive = rng.random(n) < 0.9
    tables = np.where(np.arange(n) < n // 2, 16400, 16500).astype(np.uint32)
    return out, csr.reverse(out), alive, tables


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "PG_VERSION").write_text("15\n")
    return basefile.directory(basefile.root(str(tmp_path)), 16384)


def written(folder, generation=7, g=None):
    out, into, alive, tables = g or graph()
    header, arrays = basefile.contents(generation, out, into, alive, tables)
    size, sha = basefile.digest(header, arrays)
    assert basefile.write(folder, generation, header, arrays, size, sha)
    return size, sha


def test_the_file_holds_every_array_aligned_and_its_digest_is_its_bytes(folder):
    out, into, alive, tables = graph()
    size, sha = written(folder, 7, (out, into, alive, tables))
    path = basefile.path_of(folder, 7)
    assert os.path.getsize(path) == size and os.stat(path).st_mode & 0o777 == 0o400
    with open(path, "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == sha
    got = basefile.open_verified(folder, 7, size, sha)  # mapped: page-aligned, so each array is aligned
    for direction, want in (("out", out), ("in", into), ("any", both_ways(out))):
        for field in csr.Csr._fields:
            a = getattr(got[direction], field)
            assert isinstance(a, memoryview) and a.readonly  # read without NumPy (a first read's walk)
            a = np.asarray(a)  # no copy: the array code's view of the mapped file
            assert np.array_equal(a, getattr(want, field)) and a.ctypes.data % basefile.ALIGN == 0
    assert np.array_equal(got["alive"], alive) and np.array_equal(got["tables"], tables)
    with pytest.raises(ValueError):
        basefile.parse(data, 8)  # another generation's
    with pytest.raises(ValueError):
        basefile.parse(data[: size // 2], 7)


def test_open_verified_maps_read_only_and_checks_in_full_only_a_file_it_has_not_checked(folder):
    size, sha = written(folder)
    stats = {}
    got = basefile.open_verified(folder, 7, size, sha, stats)
    assert not np.asarray(got["out"].targets).flags.writeable and stats == {}  # the writer checked it, and stamped it
    os.unlink(os.path.join(folder, "7.verified"))
    got = basefile.open_verified(folder, 7, size, sha, stats)
    assert got is not None and stats == {"checks": 1}  # no stamp: a full check
    got = basefile.open_verified(folder, 7, size, sha, stats)
    assert got is not None and stats == {"checks": 1}  # the stamp of that check
    assert basefile.open_verified(folder, 7, size, "0" * 64, stats) is None  # another checksum recorded
    assert basefile.open_verified(folder, 7, size + 1, sha, stats) is None
    assert basefile.open_verified(folder, 8, size, sha, stats) is None  # no such file


def test_a_file_changed_in_place_is_checked_again_and_refused(folder):
    size, sha = written(folder)
    path = basefile.path_of(folder, 7)
    assert basefile.open_verified(folder, 7, size, sha) is not None
    st = os.stat(path)
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(size - 1)
        f.write(b"\xff")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime; ctime moved
    stats = {}
    assert basefile.open_verified(folder, 7, size, sha, stats) is None
    assert stats == {"checks": 1, "refused": 1}


def test_write_refuses_contents_that_are_not_the_recorded_ones(folder):
    out, into, alive, tables = graph()
    header, arrays = basefile.contents(7, out, into, alive, tables)
    size, sha = basefile.digest(header, arrays)
    assert not basefile.write(folder, 7, header, arrays, size, "0" * 64)
    assert os.listdir(folder) == []  # no file, no temp file


def test_remove_old_keeps_the_generation_and_newer_and_removes_temp_files(folder):
    for g in (5, 6, 7):
        written(folder, g)
    written(folder, 6)  # written again: stamped again
    for name in (".6.123.tmp", ".7.9.stamp.tmp", "lock", "notes.txt"):
        with open(os.path.join(folder, name), "w") as f:
            f.write("x")
    removed = basefile.remove_old(folder, 7)
    assert sorted(removed) == [".6.123.tmp", ".7.9.stamp.tmp", "5.base", "5.verified", "6.base", "6.verified"]
    assert sorted(os.listdir(folder)) == ["7.base", "7.verified", "lock", "notes.txt"]
    assert basefile.usage(folder)[0] == 4


def test_remove_databases_removes_only_directories_of_other_oids(folder):
    top = os.path.dirname(folder)
    basefile.directory(top, 99)
    os.makedirs(os.path.join(top, "not-an-oid"))
    assert basefile.remove_databases(top, {16384}) == [99]
    assert sorted(os.listdir(top)) == ["16384", "not-an-oid"]


def test_root_refuses_a_directory_that_is_not_a_data_directory(tmp_path):
    with pytest.raises(OSError):
        basefile.root(str(tmp_path))


def test_the_build_writes_with_one_pass_what_a_reader_would_write(folder):
    """basefile.begin (the build's write: lazy 'any' arrays, fsync'd and hashed in a
    thread) makes the same bytes, size and SHA-256 as contents + digest + write (a
    reader's), under the final name only once finished, and stamps the file so that
    open_verified maps it without a full check."""
    out, into, alive, tables = graph(seed=11, n=80, m=500)
    header, arrays = basefile.contents(5, out, into, alive, tables)
    want = basefile.digest(header, arrays)
    lazy_header, lazy_arrays = basefile.contents(5, out, into, alive, tables, lazy=True)
    assert lazy_header == header
    assert basefile.digest(lazy_header, lazy_arrays) == want
    pending = basefile.begin(folder, 5, lazy_header, lazy_arrays, background.start)
    assert not os.path.exists(basefile.path_of(folder, 5))
    assert pending.finish() == want
    with open(basefile.path_of(folder, 5), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == want[1]
    stats = {}
    got = basefile.open_verified(folder, 5, want[0], want[1], stats)
    assert got is not None and stats.get("checks", 0) == 0
    assert np.array_equal(got["any"].sources, both_ways(out).sources)
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_a_file_the_build_wrote_is_refused_for_another_checksum(folder):
    """A build that rolled back left its file: the next build of the same generation
    records another checksum, and open_verified refuses the file left behind."""
    g = graph(seed=12)
    header, arrays = basefile.contents(6, *g, lazy=True)
    size, sha = basefile.begin(folder, 6, header, arrays, background.start).finish()
    other = graph(seed=13)
    header, arrays = basefile.contents(6, *other)
    size2, sha2 = basefile.digest(header, arrays)
    assert sha2 != sha
    stats = {}
    assert basefile.open_verified(folder, 6, size2, sha2, stats) is None
    assert stats.get("refused", 0) + stats.get("checks", 0) >= 1


def test_the_header_and_the_stamp_are_read_as_json_reads_them_without_importing_json(folder):
    """_header and _stamped read what contents() and _write_stamp write with str
    methods (a first read imports neither json nor re), and anything else as JSON."""
    import json

    out, into, alive, tables = graph()
    header, _ = basefile.contents(12, out, into, alive, tables)
    assert basefile._header(header) == json.loads(header) and len(json.loads(header)["arrays"]) == 17
    other = b' { "generation": 12, "arrays": [["alive", "|b1", 64, 3]] } '  # spaces: json reads it
    assert basefile._header(other) == json.loads(other)
    assert basefile._header(b'{"generation":3,"arrays":[]}   ') == {"generation": 3, "arrays": []}
    with pytest.raises(ValueError):
        basefile._header(b'{"generation":--3,"arrays":[]}')
    value = [2049, 123456, 789, 1700000000123456789, 1700000000123456790, "ab" * 32, basefile.STAMP]
    basefile._write_stamp(folder, 12, value)
    with open(os.path.join(folder, "12.verified"), "rb") as f:
        assert f.read() == json.dumps(value).encode()  # the text _stamped compares
    assert basefile._stamped(folder, 12, value)
    assert not basefile._stamped(folder, 12, value[:-2] + ["cd" * 32, basefile.STAMP])
    assert not basefile._stamped(folder, 13, value)  # no stamp
    with open(os.path.join(folder, "12.verified"), "w") as f:
        json.dump(value, f, indent=1)  # another layout of the same value: read as JSON
    assert basefile._stamped(folder, 12, value)


def test_a_pending_file_abandoned_leaves_nothing_and_one_finished_is_hashed_as_it_holds(folder):
    """A build that fails while its file is synced in the background leaves no file
    and no temp file; one that finishes records the SHA-256 of the bytes in the file
    (hashed piece by piece in threads beside the writes, in order), and its thread
    has ended."""
    header, arrays = basefile.contents(8, *graph(seed=14), lazy=True)
    pending = basefile.begin(folder, 8, header, arrays, background.start)
    pending.abandon()
    pending.wait()
    assert os.listdir(folder) == []
    header, arrays = basefile.contents(8, *graph(seed=14), lazy=True)
    pending = basefile.begin(folder, 8, header, arrays, background.start)
    size, sha = pending.finish()
    assert not pending.wait.thread.is_alive()
    with open(basefile.path_of(folder, 8), "rb") as f:
        data = f.read()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha)
    assert sorted(os.listdir(folder)) == ["8.base", "8.verified"]


def test_a_pending_file_that_cannot_be_synced_is_not_renamed(folder, monkeypatch):
    """An error of the background thread (here the file's fsync) reaches finish(),
    which removes the temp file: nothing under the final name."""
    def refuse(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(basefile.os, "fsync", refuse)
    header, arrays = basefile.contents(9, *graph(seed=15), lazy=True)
    pending = basefile.begin(folder, 9, header, arrays, background.start)
    with pytest.raises(OSError):
        pending.finish()
    assert os.listdir(folder) == []


def test_a_file_out_of_bounds_is_refused_and_an_earlier_release_stamp_is_no_stamp(folder):
    """A file whose arrays are out of bounds (a negative target: SciPy's C code would
    read before its arrays) is refused, whatever checksum is recorded for it, also
    when a stamp of an earlier release (identity and checksum, without STAMP) says it
    was checked; a file in bounds with such a stamp is checked in full once and
    stamped anew."""
    import json

    out, into, alive, tables = graph()
    bad = csr.Csr(out.offsets, np.where(np.arange(out.edge_count) == 0, -3, out.targets), *out[2:])
    header, arrays = basefile.contents(9, bad, into, alive, tables)
    size, sha = basefile.digest(header, arrays)
    assert basefile.write(folder, 9, header, arrays, size, sha)  # (the bytes are what the checksum says)
    stats = {}
    os.unlink(os.path.join(folder, "9.verified"))
    assert basefile.open_verified(folder, 9, size, sha, stats) is None and stats == {"checks": 1, "refused": 1}
    st = os.stat(basefile.path_of(folder, 9))
    old = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha]
    with open(os.path.join(folder, "9.verified"), "w") as f:
        json.dump(old, f)
    assert basefile.open_verified(folder, 9, size, sha, stats) is None and stats == {"checks": 2, "refused": 2}
    size, sha = written(folder, 7)
    st = os.stat(basefile.path_of(folder, 7))
    with open(os.path.join(folder, "7.verified"), "w") as f:
        json.dump([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha], f)
    stats = {}
    assert basefile.open_verified(folder, 7, size, sha, stats) is not None and stats == {"checks": 1}
    assert basefile.open_verified(folder, 7, size, sha, stats) is not None and stats == {"checks": 1}


def test_a_file_whose_in_arrays_are_not_the_reverse_is_refused_whatever_the_earlier_stamp(folder):
    """A file in bounds whose 'in' arrays are not the reverse of its 'out' ones (an
    earlier release wrote files from a stored 'in' row of graph._csr as it was), its
    checksum the one recorded, stamped as the release before this one stamped the
    files it checked ("in-bounds"): checked in full and refused, where it was mapped."""
    import json

    out, into, alive, tables = graph()
    forged = into._replace(targets=np.roll(np.asarray(into.targets), 7))
    header, arrays = basefile.contents(9, out, forged, alive, tables)
    size, sha = basefile.digest(header, arrays)
    assert basefile.write(folder, 9, header, arrays, size, sha)
    st = os.stat(basefile.path_of(folder, 9))
    with open(os.path.join(folder, "9.verified"), "w") as f:
        json.dump([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, sha, "in-bounds"], f)
    stats = {}
    assert basefile.open_verified(folder, 9, size, sha, stats) is None and stats == {"checks": 1, "refused": 1}
    size, sha = written(folder, 7)  # (the control: a build's file, checked in full and mapped)
    os.unlink(os.path.join(folder, "7.verified"))
    assert basefile.open_verified(folder, 7, size, sha, stats) is not None and stats == {"checks": 2, "refused": 1}
