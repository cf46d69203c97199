"""The shared base file of a generation: what every backend maps instead of holding
its own copy of the base (sync/base.py decides when; this module knows the format
and the file system, never plpy).

One read-only file per database and generation,
``<data directory>/graphsync/<database oid>/<generation>.base``, holds the base CSR
of each direction ('out', 'in', and 'any', which reads derive from 'out': see
algorithms.adjacency.both_ways), the alive flag and the table oid of every base node.
The OS page cache then holds one copy per server, whatever the number of backends.

Format (little-endian): MAGIC, the header's length (u64), a JSON header
``{"generation": g, "arrays": [[name, dtype, offset, count], ...]}``, then each array
at an ALIGN-byte aligned offset, zero padding between. A file is a pure function of
the generation's graph._csr rows, so build records its size and SHA-256 there
(graph._csr.file_bytes and file_sha256, migration 130) and every reader that writes
or opens a file checks it against them: a missing, truncated, corrupt, stale or
hostile file is never used, it is written again. The build writes the file itself
(begin: from the arrays it built, each piece hashed in a thread while it is written,
fsync'd in a thread while the build writes graph._csr, then renamed and stamped as
checked).

Checking 1 GB of file costs about a second, too much for every new backend, so a
full check leaves a stamp beside the file (``<generation>.verified``): the file's
device, inode, size, mtime and ctime and the SHA-256 it was checked against. A
backend whose opened file has exactly that identity and whose graph._csr row names
that SHA-256 maps it without reading it; any other file is checked in full. The
writer stamps the file it wrote (it hashed every byte as it wrote them), so a file
is read in full once, when written, and a new backend's first read maps it in O(1). Every
write to a file (a byte flipped, a copy or restore over it) moves its ctime, which
no process can set back: only a change below the file system (a disk's bit rot)
goes unseen until the stamp goes. A missing stamp only costs a full check.

Writing: under an exclusive lock on ``<dir>/lock`` (flock: released when its
holder dies), into ``.<generation>.<pid>.tmp`` (O_EXCL), checked against the
recorded size and SHA-256 as it is written, fsync'd, renamed over the final name,
the directory fsync'd. A crash leaves at most a temp file no reader opens;
remove_old removes it under the same lock. A file unlinked or replaced stays valid
for the backends that mapped it (Linux keeps the inode until the last mapping goes).
"""

import errno
import fcntl
import mmap
import os
import stat
import struct
import sys

from graphsync.algorithms import csr
from graphsync.algorithms.lazy_numpy import np

MAGIC = b"GSBASE1\n"
ALIGN = 64
DIRECTORY = "graphsync"
DIRECTIONS = ("out", "in", "any")
# A first read imports neither json nor re (re alone is some 15 ms of a new backend's
# CPU under load): the header and the stamp are read by _header and _stamped, json
# only for what they do not expect, and the directory's names are matched by _names.


def contents(generation, out, into, alive, tables, lazy=False):
    """(header bytes, arrays) of the file of ``generation``: the Csr of 'out' and 'in',
    'any' derived from them (adjacency.both_ways(out), placed without a sort:
    csr.BothDirections), alive (bool[n]) and tables (table oid of each base node).
    ``lazy``: the 'any' arrays (but its offsets) are callables that make each array
    when chunks() reaches it, so a writer holds one of them at a time."""
    both = csr.BothDirections(out, into)
    parts = {"out": out, "in": into}
    arrays, entries = [], []
    named = []
    for d in DIRECTIONS:
        for f in csr.Csr._fields:
            dtype = np.dtype(csr.DTYPES[f])
            if d != "any":
                named.append(("%s.%s" % (d, f), np.ascontiguousarray(getattr(parts[d], f), dtype=dtype)))
            elif lazy and f != "offsets":
                named.append(("any." + f, _Later(lambda f=f: both.array(f), dtype, both.edge_count)))
            else:
                named.append(("any." + f, np.ascontiguousarray(both.array(f), dtype=dtype)))
    named += [("alive", np.ascontiguousarray(alive, dtype="|b1")),
              ("tables", np.ascontiguousarray(tables, dtype="<u4"))]
    for name, a in named:
        entries.append([name, a.dtype.str, 0, len(a)])
        arrays.append(a)
    # Offsets depend on the header's length, which depends on the offsets' digits:
    # lay out with a fixed-width header (offsets padded) until it settles.
    header_len = 0
    while True:
        at = _aligned(len(MAGIC) + 8 + header_len)
        for entry, a in zip(entries, arrays, strict=True):
            entry[2] = at
            at = _aligned(at + a.nbytes)
        import json

        text = json.dumps({"generation": int(generation), "arrays": entries}, separators=(",", ":")).encode()
        if len(text) <= header_len:
            return text + b" " * (header_len - len(text)), arrays
        header_len = len(text) + 64


class _Later:
    """An array of known dtype and length, made when the file is written (contents)."""

    def __init__(self, make, dtype, count):
        self.make, self.dtype, self.count = make, np.dtype(dtype), count
        self.nbytes = self.dtype.itemsize * count

    def __len__(self):
        return self.count


def _aligned(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def chunks(header, arrays):
    """The bytes of the file, piece by piece (no copy of the arrays)."""
    yield MAGIC + struct.pack("<Q", len(header)) + header
    at = len(MAGIC) + 8 + len(header)
    for a in arrays:
        start = _aligned(at)
        if start > at:
            yield bytes(start - at)
        if isinstance(a, _Later):  # made now, dropped once written
            made = np.ascontiguousarray(a.make(), dtype=a.dtype)
            if made.nbytes != a.nbytes:
                raise ValueError("an array of the file is not of its recorded length")
            yield memoryview(made).cast("B")
            del made
        else:
            yield memoryview(a).cast("B")
        at = start + a.nbytes


def digest(header, arrays):
    """(size in bytes, SHA-256 hex) of the file of these contents."""
    import hashlib  # here, not at the top: loading it is a first read's cost
    h, size = hashlib.sha256(), 0
    for piece in chunks(header, arrays):
        h.update(piece)
        size += len(piece)
    return size, h.hexdigest()


# The memoryview format of each dtype a file holds: on a little-endian machine the
# file's arrays are read in place through memoryviews, with no NumPy (see parse).
FORMATS = {"<i8": "q", "<f8": "d", "<i4": "i", "<u4": "I", "|b1": "?"}


def parse(buffer, generation):
    """{name: read-only array over ``buffer``} of a file's contents; ValueError when
    it is not a well-formed file of ``generation`` (its checksum was checked before).
    Each array is a memoryview of ``buffer`` cast to its type (NumPy arrays only on a
    big-endian machine): a first read walks them without importing NumPy, and the
    code that needs NumPy arrays makes them with np.asarray (no copy)."""
    view = memoryview(buffer)
    if len(view) < len(MAGIC) + 8 or bytes(view[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a graphsync base file")
    (header_len,) = struct.unpack("<Q", view[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if header_len > len(view) - start:
        raise ValueError("header past the end of the file")
    header = _header(bytes(view[start:start + header_len]))
    if header.get("generation") != generation:
        raise ValueError("a file of generation %r, not %d" % (header.get("generation"), generation))
    out = {}
    native = sys.byteorder == "little"
    for name, dtype, offset, count in header["arrays"]:
        if dtype not in FORMATS:
            raise ValueError("array %s of an unknown type %r" % (name, dtype))
        size = struct.calcsize(FORMATS[dtype])
        if offset < 0 or count < 0 or offset + size * count > len(view) or offset % size:
            raise ValueError("array %s past the end of the file" % name)
        if native:
            out[name] = view[offset:offset + size * count].cast(FORMATS[dtype])
        else:
            out[name] = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=offset)
    return out


def _header(raw):
    """The JSON header ``raw`` as contents() writes it (json.dumps without spaces, then
    spaces), read with str methods; json reads anything else (a file is trusted only
    once its checksum matched: this is about what a first read imports, not safety)."""
    try:
        text = raw.decode("ascii").rstrip(" ")
        head, arrays = text.split(',"arrays":[', 1)
        if not head.startswith('{"generation":') or not arrays.endswith("]}"):
            raise ValueError(head)
        entries = []
        if arrays != "]}":
            if not (arrays.startswith("[") and arrays.endswith("]]}")):
                raise ValueError(arrays)
            for item in arrays[1:-3].split("],["):
                name, dtype, offset, count = item.split(",")
                if not all(len(t) > 1 and t[0] == t[-1] == '"' and "\\" not in t for t in (name, dtype)):
                    raise ValueError(item)
                entries.append([name[1:-1], dtype[1:-1], _integer(offset), _integer(count)])
        return {"generation": _integer(head[len('{"generation":'):]), "arrays": entries}
    except ValueError:  # UnicodeDecodeError is one
        import json

        return json.loads(raw)


def _integer(text):
    """The JSON integer ``text`` (digits, maybe a minus sign), else ValueError."""
    if not text.lstrip("-").isdigit() or not text.isascii():
        raise ValueError(text)
    return int(text)


def arrays_of(parsed):
    """{"out", "in", "any": Csr, "alive", "tables"} of parsed file contents."""
    got = {d: csr.Csr(*(parsed["%s.%s" % (d, f)] for f in csr.Csr._fields)) for d in DIRECTIONS}
    got["alive"] = parsed["alive"]
    got["tables"] = parsed["tables"]
    return got


# -- the file system ---------------------------------------------------------------


def root(data_directory=None):
    """The graphsync directory of this server: ``graphsync`` in the data directory.
    A backend runs with the data directory as its working directory (PostgreSQL
    changes into it at start), which is how a backend finds it without a superuser's
    current_setting('data_directory'); PG_VERSION there says it is one."""
    data = data_directory or os.getcwd()
    if not os.path.isfile(os.path.join(data, "PG_VERSION")):
        raise OSError(errno.ENOENT, "the working directory is not a PostgreSQL data directory", data)
    return os.path.join(data, DIRECTORY)


def directory(top, database_oid):
    """The directory of a database's files (made, mode 0700, when missing)."""
    path = os.path.join(top, str(int(database_oid)))
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def path_of(folder, generation):
    return os.path.join(folder, "%d.base" % generation)


def _stamp_path(folder, generation):
    return os.path.join(folder, "%d.verified" % generation)


def _identity(st):
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def open_verified(folder, generation, size, sha256, stats=None):
    """The arrays of the file of ``generation`` mapped read-only, or None when it is
    missing or not exactly the file of that size and SHA-256 (see the stamp above).
    ``stats`` (a dict) counts full checks ('checks') and files refused ('refused')."""
    try:
        fd = os.open(path_of(folder, generation), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:  # not ours to read (its owner or mode): replaced like a corrupt one
        _count(stats, "refused")
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size or size == 0:
            _count(stats, "refused")
            return None
        mapped = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    try:
        if _stamped(folder, generation, _identity(st) + [sha256, STAMP]):
            return arrays_of(parse(mapped, generation))
        _count(stats, "checks")
        import hashlib  # here, not at the top: loading it is a first read's cost
        if hashlib.sha256(mapped).hexdigest() != sha256:
            raise ValueError("not the file graph._csr records")
        got = arrays_of(parse(mapped, generation))
        if csr.base_problem(got) is not None:  # (see STAMP)
            raise ValueError("arrays out of bounds")
        if csr.derived_problem(got) is not None:
            raise ValueError("'in' or 'any' arrays not made from 'out'")
        _write_stamp(folder, generation, _identity(st) + [sha256, STAMP])
        return got
    except (ValueError, KeyError, TypeError):
        _count(stats, "refused")
        return None


def _count(stats, name):
    if stats is not None:
        stats[name] = stats.get(name, 0) + 1


# What a stamp says beside the file's identity and checksum: that the file's arrays
# were found in bounds (csr.base_problem), and its 'in' and 'any' arrays made from its
# 'out' ones (csr.derived_problem), when it was checked or written. A file is written
# only from arrays so found (a build's, or graph._csr rows: base._checked, with the
# 'in' CSR made from 'out'), and checked when first opened without a stamp; a stamp
# without this word (an earlier release's, which wrote files from rows it had not
# checked, or from a stored 'in' row) is no stamp.
STAMP = "in-bounds-derived"


def _stamped(folder, generation, value):
    """Whether the stamp of ``generation`` says ``value`` (the file's identity, its
    checksum and STAMP): compared as the text _write_stamp writes, read as JSON
    otherwise."""
    try:
        with open(_stamp_path(folder, generation), "rb") as f:
            raw = f.read(4096)
    except OSError:
        return False
    if raw == ("[%s, \"%s\", \"%s\"]" % (", ".join(str(int(x)) for x in value[:-2]), value[-2], value[-1])).encode():
        return True  # json.dump's text of the value: no json needed
    import json

    try:
        return json.loads(raw) == value
    except ValueError:
        return False


def _write_stamp(folder, generation, value):
    """Record a full check (atomically; losing it only costs another full check)."""
    tmp = os.path.join(folder, ".%d.%d.stamp.tmp" % (generation, os.getpid()))
    import json

    try:
        with open(tmp, "w") as f:
            json.dump(value, f)
        os.rename(tmp, _stamp_path(folder, generation))
    except OSError:
        pass


class Lock:
    """The exclusive lock of a database's directory (flock on ``<dir>/lock``).
    ``wait()`` is called between tries: the caller sleeps there, where a cancel can
    reach it (a blocking flock could not be cancelled)."""

    def __init__(self, folder, wait):
        self.folder, self.wait, self.fd = folder, wait, None

    def __enter__(self):
        self.fd = os.open(os.path.join(self.folder, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return self
                except BlockingIOError:
                    self.wait()
        except BaseException:
            os.close(self.fd)
            raise

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock


def write(folder, generation, header, arrays, size, sha256):
    """Write the file of ``generation`` atomically (hold the Lock). False, and no
    file, when the contents are not of the recorded ``size`` and ``sha256``."""
    tmp, written, digest_hex = _write_temp(folder, generation, header, arrays)
    if written != size or digest_hex != sha256:
        os.unlink(tmp)
        return False
    os.rename(tmp, path_of(folder, generation))
    _fsync_directory(folder)
    _stamp_written(folder, generation, sha256)
    return True


class Pending:
    """The file of a generation being built: its bytes written into its temp file and
    hashed (begin: each piece hashed in a thread while this one writes it), its fsync
    in a thread while the caller does other work (one call that holds no GIL, so it
    proceeds while the caller waits in PostgreSQL's executor: the build writes
    graph._csr meanwhile). finish() waits for it, then renames the file, fsyncs the
    directory and stamps it as checked; abandon() drops it. Hold the directory's
    Lock from begin to finish or abandon (a temp file seen under the lock is a dead
    writer's)."""

    def __init__(self, folder, generation, header, arrays, start):
        self.folder, self.generation = folder, generation
        self.tmp, self.size, self.sha256, fd = _write_temp(folder, generation, header, arrays, start, keep_open=True)
        try:
            self.wait = start(lambda: _sync(fd))
        except BaseException:
            os.close(fd)
            self.abandon()
            raise

    def finish(self):
        """(size, SHA-256 hex) of the file, now under its final name and stamped; the
        thread's OSError (the temp file removed) when it could not be synced."""
        try:
            self.wait()
        except BaseException:
            self.abandon()
            raise
        os.rename(self.tmp, path_of(self.folder, self.generation))
        _fsync_directory(self.folder)
        _stamp_written(self.folder, self.generation, self.sha256)
        return self.size, self.sha256

    def abandon(self):
        """Remove the temp file (the thread, if still running, ends by itself: it holds
        its own descriptor and writes nothing)."""
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _sync(fd):
    """fsync the open file ``fd``, then close it."""
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def begin(folder, generation, header, arrays, start):
    """Write the file of a generation being built and finish it in the background
    (``start``: background.start, or a function of its kind): a Pending."""
    return Pending(folder, generation, header, arrays, start)


def _stamp_written(folder, generation, sha256):
    """Stamp the file just written as checked (every byte was hashed as it was
    written), so the next open, this backend's or any other's, maps it without
    reading it all again."""
    try:
        st = os.stat(path_of(folder, generation), follow_symlinks=False)
        _write_stamp(folder, generation, _identity(st) + [sha256, STAMP])
    except OSError:
        pass  # no stamp only costs the first reader a full check


def _write_temp(folder, generation, header, arrays, start=None, keep_open=False):
    """Write the contents into ``.<generation>.<pid>.tmp`` (O_EXCL), fsync'd; return
    (its path, bytes written, SHA-256 hex of what was written). ``start`` (see
    background.start): each piece is hashed in a thread while this one writes it
    (both hold no GIL on large buffers). ``keep_open``: not fsync'd, and (path,
    bytes, SHA-256, its open descriptor) returned (Pending fsyncs it)."""
    tmp = os.path.join(folder, ".%d.%d.tmp" % (generation, os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o400)
    try:
        import hashlib  # here, not at the top: loading it is a first read's cost
        h, written = hashlib.sha256(), 0
        for piece in chunks(header, arrays):
            hashed = start(lambda piece=piece: h.update(piece)) if start is not None else h.update(piece)
            view = memoryview(piece)
            while len(view):
                n = os.write(fd, view)
                view = view[n:]
                written += n
            if start is not None:
                hashed()  # the piece hashed before the next is made (and hashed: in order)
            del piece, view, hashed  # an array made for this piece goes before the next is made
        if keep_open:
            return tmp, written, h.hexdigest(), fd
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp, written, h.hexdigest()


def _fsync_directory(folder):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _names():
    """(a generation's file or stamp, a writer's temp file): the names of a directory."""
    import re  # here, not at the top: a read that maps a file lists no directory

    return re.compile(r"^(\d+)\.(base|verified)$"), re.compile(r"^\.(\d+)\.(\d+)\.tmp$")


def remove_old(folder, generation):
    """Remove the files of generations below ``generation`` and temp files (hold the
    Lock: a temp file seen then is a dead writer's). Returns the names removed."""
    names, temp = _names()
    removed = []
    for name in sorted(os.listdir(folder)):
        m = names.match(name)
        old = m is not None and int(m.group(1)) < generation
        if old or temp.match(name) or name.endswith(".stamp.tmp"):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


def remove_databases(top, keep):
    """Remove the directories of databases whose oid is not in ``keep`` (dropped
    databases). Returns the oids removed."""
    import shutil  # here, not at the top: a read never removes directories (first-read cost)

    removed = []
    try:
        names = os.listdir(top)
    except FileNotFoundError:
        return removed
    for name in names:
        if name.isdigit() and int(name) not in keep:
            shutil.rmtree(os.path.join(top, name), ignore_errors=True)
            removed.append(int(name))
    return removed


def usage(folder):
    """(files, bytes) in a database's directory."""
    files = size = 0
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            files += 1
            size += entry.stat(follow_symlinks=False).st_size
    return files, size
