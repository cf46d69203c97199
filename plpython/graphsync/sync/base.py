"""The immutable base of a generation: written by build into graph._csr, and how a
backend gets it: mapped from the generation's shared file (sync/basefile.py), which
the build writes, and the first reader that needs it writes again from graph._csr
when it is missing or not the one recorded; held privately only when
no file can be used (see load). Reads (reads/view.py) fold the overlay and the
node delta over it."""

import mmap

from graphsync import errors
from graphsync.algorithms import csr, traverse
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import as_definer, run
from graphsync.sync import basefile

# Per-backend cache of the base: {"generation": g, "out": Csr, "in": Csr, "any": Csr
# (None: derived by the reader), "alive": bool[], "tables": uint32[] (None: read from
# graph._nodes), "shared": whether the arrays are mapped from the shared file}
_cache = {}

# What the backend holds beside the base, kept when another generation's base is
# loaded: each entry checks its own stamp ({"replay_keys": sync/base_keys.Held}).
_beside = {}

# What this backend did with shared files: maps, full checks, files refused and
# written, and loads that fell back to private memory (read by the tests).
FILE_STATS = {"maps": 0, "checks": 0, "refused": 0, "writes": 0, "private": 0}

WRITE = """INSERT INTO graph._csr (generation, direction, node_count, edge_count, offsets,
               targets, weights, labels, sources, alive, tables, file_bytes, file_sha256)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""

SET_ARRAY = "UPDATE graph._csr SET %s = $1 WHERE generation = $2 AND direction = $3"

FILE_ROW = """SELECT c.file_bytes, c.file_sha256,
       (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()) AS db
FROM graph._csr AS c WHERE c.generation = $1 AND c.direction = 'out'"""

READ = """SELECT direction, offsets, targets, weights, labels, sources, alive, tables
FROM graph._csr WHERE generation = $1 AND direction = 'out'"""

# Sleep between tries for a directory's lock: a cancel reaches a backend here.
WAIT = "SELECT pg_catalog.pg_sleep(0.005)"


# graph._csr holds the 'out' CSR of a generation and no 'in' row: the 'in' CSR is
# csr.reverse(out), a pure function of it (the build makes it so), made again where it
# is needed (_read), which spares a build writing half of graph._csr (some 1.5 s of
# TOAST at 10M edges). Generations written before keep their 'in' row, which _read
# never reads: it makes the reverse of their 'out' row as for any other. (It took the
# stored row as it was: an 'in' row in bounds but not the reverse, which a role that
# may write graph._csr could store, gave the reads of direction 'in' and 'any' other
# edges than the 'out' row's.)
STORED = ("out",)


def write_base(plpy, generation, out, alive, tables):
    """Store the 'out' CSR of ``generation`` (see STORED), with the alive flag and the
    table oid of every base node (``tables``); the size and SHA-256 of the
    generation's shared file follow (record_file); drop older generations' rows."""
    plan = plpy.prepare(WRITE, ["bigint", "text", "bigint", "bigint", "bytea", "bytea", "bytea", "bytea",
                                "bytea", "bytea", "bytea", "bigint", "text"])
    # The row first with empty arrays, then each array by itself: one array at a
    # time is held as bytes (here and in PostgreSQL), not all five at once (an
    # UPDATE keeps the stored values of the columns it does not set).
    plpy.execute(plan, [generation, "out", out.node_count, out.edge_count, b"", b"", b"", b"", b"",
                        np.asarray(alive, dtype=bool).tobytes(),
                        np.ascontiguousarray(tables, dtype="<u4").tobytes(), None, None])
    for name in csr.Csr._fields:
        data = np.ascontiguousarray(getattr(out, name), dtype=csr.DTYPES[name]).tobytes()
        plpy.execute(plpy.prepare(SET_ARRAY % plpy.quote_ident(name), ["bytea", "bigint", "text"]),
                     [data, generation, "out"])
        del data
    plpy.execute(plpy.prepare("DELETE FROM graph._csr WHERE generation < $1", ["bigint"]),
                 [generation])


RECORD_FILE = "UPDATE graph._csr SET file_bytes = $1, file_sha256 = $2 WHERE generation = $3 AND direction = 'out'"


def record_file(plpy, generation, file):
    """Record the (size, SHA-256) of the shared file of ``generation`` (written by
    write_base, without them), which readers check a file against."""
    run(plpy, RECORD_FILE, ["bigint", "text", "bigint"], [file[0], file[1], generation])


def load(plpy, generation, keep=True):
    """The base of ``generation``: mapped from its shared file once per backend, then
    from the cache (``keep=False``: a base this transaction wrote and may roll back;
    read privately, never cached nor written to a file). Read as graphsync's definer
    role (db.as_definer): graph._csr is not the reading role's."""
    if not keep:
        return as_definer(plpy, _read, plpy, generation)
    if _cache.get("generation") != generation:
        _cache.clear()
        _cache.update(as_definer(plpy, _shared, plpy, generation))
    return _cache


def _shared(plpy, generation):
    """The base of ``generation`` mapped from its shared file, written first (under
    the directory's lock) when it is missing or not the one graph._csr records.
    Held privately instead when graph._csr records no file (a base built before
    migration 130, until the next build), or when the file cannot be written or
    read (a warning says why)."""
    rows = run(plpy, FILE_ROW, ["bigint"], [generation])
    if not rows or rows[0]["file_sha256"] is None:
        return _private(plpy, generation)
    size, sha256 = rows[0]["file_bytes"], rows[0]["file_sha256"]
    try:
        folder = basefile.directory(basefile.root(), rows[0]["db"])
        got = basefile.open_verified(folder, generation, size, sha256, FILE_STATS)
        if got is None:
            with basefile.Lock(folder, lambda: plpy.execute(WAIT)):
                got = basefile.open_verified(folder, generation, size, sha256, FILE_STATS)
                if got is None:
                    loaded = _read(plpy, generation)
                    if not loaded["found"]:
                        # A rebuild committed since FILE_ROW and removed these rows: the
                        # read sees another generation now and runs again (view.Renumbered).
                        return _private(plpy, generation, loaded)
                    header, arrays = basefile.contents(generation, loaded["out"], loaded["in"], loaded["alive"],
                                                       loaded["tables"])
                    if not basefile.write(folder, generation, header, arrays, size, sha256):
                        plpy.warning("graphsync: the base of generation %d does not match the size and checksum"
                                     " graph._csr records for its shared file; this backend holds it privately"
                                     % generation)
                        return _private(plpy, generation, loaded)
                    FILE_STATS["writes"] += 1
                    del header, arrays, loaded
                    basefile.remove_old(folder, generation)
                    got = basefile.open_verified(folder, generation, size, sha256, FILE_STATS)
    except OSError as exc:
        plpy.warning("graphsync: the shared base file of generation %d cannot be used (%s); this backend"
                     " holds the base privately" % (generation, exc.strerror or exc))
        return _private(plpy, generation)
    if got is None:  # written and checked under the lock, yet refused: never trusted
        return _private(plpy, generation)
    FILE_STATS["maps"] += 1
    got.update(generation=generation, shared=True)
    return got


def _private(plpy, generation, loaded=None):
    FILE_STATS["private"] += 1
    loaded = loaded or _read(plpy, generation)
    loaded["any"] = None
    return loaded


def _read(plpy, generation):
    """The base of ``generation`` from graph._csr (an empty one before the first build)."""
    rows = run(plpy, READ, ["bigint"], [generation])
    if rows:
        loaded = _checked(generation, rows)
        loaded["in"] = csr.reverse(loaded["out"])  # (a stored 'in' row is not read: see STORED)
    else:  # never built: an empty base
        empty = csr.build(0, csr.edges([], [], [], [], []))
        loaded = {"out": empty, "in": empty, "alive": np.zeros(0, dtype=bool),
                  "tables": np.zeros(0, dtype="<u4")}
    loaded["generation"] = generation
    loaded["any"] = None
    loaded["shared"] = False
    loaded["found"] = bool(rows)
    return loaded


def _checked(generation, rows):
    """The arrays of graph._csr ``rows`` of ``generation`` ({direction: Csr, "alive",
    "tables"}), once csr.base_problem finds nothing wrong with them; else
    errors.DataCorrupted (XX001). Only a build or the replay of a release before
    this check writes these rows, and neither writes arrays out of bounds; a role
    that may write graph._csr (graph_admin) could, and SciPy's C code would then read
    or write past an array (a segmentation fault restarts every backend of the
    server). Checked once per generation per backend that reads the rows (a file
    written from them is checked by its writer: basefile.open_verified)."""
    try:
        loaded = {r["direction"]: csr.from_bytes(r) for r in rows}
        out = [r for r in rows if r["direction"] == "out"]
        loaded["alive"] = np.frombuffer(rows[0]["alive"], dtype=bool)
        tables = out[0]["tables"] if out else None
        loaded["tables"] = None if tables is None else np.frombuffer(tables, dtype="<u4")
        why = None if out else "no 'out' row"
    except ValueError as exc:  # a byte length that is no multiple of its type's size
        why = str(exc) or "an array's bytes"
    why = why or csr.base_problem(loaded)
    if why is not None:
        raise errors.DataCorrupted("the base of generation %d in graph._csr is corrupt (%s)" % (generation, why),
                                   hint="Run graph.build() to build the graph again from its source tables.")
    return loaded


def remove_old_files(plpy, below):
    """Remove the shared files of generations older than ``below`` (a generation
    committed before the caller's transaction began), temp files of dead writers, and
    the directories of dropped databases (maintenance). Safe at any time: a backend
    that mapped a removed file keeps it; one whose snapshot still sees an older
    generation writes its file again from the graph._csr rows it sees. Returns
    (names removed, files kept, bytes kept)."""
    row = run(plpy, """SELECT (SELECT pg_catalog.array_agg(d.oid::bigint) FROM pg_catalog.pg_database AS d) AS oids,
                              (SELECT d.oid FROM pg_catalog.pg_database AS d
                               WHERE d.datname = pg_catalog.current_database()) AS db""")[0]
    top = basefile.root()
    removed = ["database %d" % oid for oid in basefile.remove_databases(top, set(row["oids"]))]
    folder = basefile.directory(top, row["db"])
    with basefile.Lock(folder, lambda: plpy.execute(WAIT)):
        removed += basefile.remove_old(folder, below)
    files, size = basefile.usage(folder)
    return removed, files, size


# This backend's transaction that wrote the graph tables, if any: reads in it see
# its uncommitted rows, which must not outlive a rollback (reads/view.py).
_own = {}


def note_own_write(plpy, rebuilt=False):
    """Record that the current transaction writes the graph tables (``rebuilt``: it
    wrote a new base). Called by replay and build before they write."""
    xid = plpy.execute("SELECT pg_catalog.pg_current_xact_id()::text AS x")[0]["x"]
    if _own.get("xid") != xid:
        _own.clear()
        _own.update(xid=xid, rebuilt=False)
    if rebuilt:
        _own["rebuilt"] = True


def own_writes(plpy):
    """{"xid", "rebuilt"} when the current transaction wrote the graph tables, else None."""
    if not _own:
        return None
    x = plpy.execute("SELECT pg_catalog.pg_current_xact_id_if_assigned()::text AS x")[0]["x"]
    if x != _own["xid"]:
        _own.clear()
        return None
    return _own


def cache_nbytes():
    """Bytes held by this backend's graph cache: the NumPy arrays of the base (not
    when mapped from its shared file), of what reads derived from it (views, folded
    views, node keys) and of what replay holds beside it (_beside), each array
    counted once, and the slots traversals keep (algorithms/traverse.py, node_slots).
    Objects in the cache report what they hold through an ``arrays()`` method (their
    NumPy arrays) and/or ``held_nbytes()`` (other data)."""
    seen = set()

    def size(value):
        if isinstance(value, np.ndarray):
            owner = value
            while isinstance(owner.base, np.ndarray):
                owner = owner.base
            if id(owner) in seen or isinstance(getattr(owner.base, "obj", None), mmap.mmap):  # shared
                return 0
            seen.add(id(owner))
            return owner.nbytes
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(size(v) for v in value)
        held = value.held_nbytes() if hasattr(value, "held_nbytes") else 0
        if hasattr(value, "arrays"):
            held += size(value.arrays())
        return held

    return size(_cache) + size(_beside) + size([traverse.held_slots()])


def release_freed():
    """Give the operating system back the memory this backend freed but its C
    allocator keeps (glibc's malloc_trim): the NumPy temporaries of a large build of
    held arrays, some 100 MiB when a reader's backend builds the key index of 2M nodes
    (reads/nodes.py, key_index: 122 MiB kept for an index of 31 MiB, 15 MiB after
    the trim), which the allocator would otherwise keep for the backend's life. It
    frees nothing in use. Whether it could: False where the C library has no
    malloc_trim (not glibc)."""
    import ctypes  # here: only a backend that built such arrays needs it

    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True
