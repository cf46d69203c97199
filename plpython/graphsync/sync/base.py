"""The immutable base of a generation: written by build, loaded once per backend
per generation and cached here (reads/view.py folds the overlay and the node
delta over it)."""

import numpy as np

from graphsync.algorithms import csr

# Per-backend cache of the base: {"generation": g, "out": Csr, "in": Csr, "alive": bool[]}
_cache = {}


def write_base(plpy, generation, by_direction, alive):
    """Store the CSR of each direction under ``generation``; drop older ones."""
    plan = plpy.prepare(
        """INSERT INTO graph._csr (generation, direction, node_count, edge_count, offsets,
               targets, weights, labels, sources, alive)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        ["bigint", "text", "bigint", "bigint", "bytea", "bytea", "bytea", "bytea", "bytea",
         "bytea"])
    for direction, c in by_direction.items():
        b = csr.to_bytes(c)
        plpy.execute(plan, [generation, direction, c.node_count, c.edge_count, b["offsets"],
                            b["targets"], b["weights"], b["labels"], b["sources"],
                            np.asarray(alive, dtype=bool).tobytes()])
    plpy.execute(plpy.prepare("DELETE FROM graph._csr WHERE generation < $1", ["bigint"]),
                 [generation])


def load(plpy, generation, keep=True):
    """The base of ``generation``: loaded once per backend, then from the cache
    (``keep=False``: a base this transaction wrote and may roll back; not cached)."""
    if not keep:
        return _read(plpy, generation)
    if _cache.get("generation") != generation:
        _cache.clear()
        _cache.update(_read(plpy, generation))
    return _cache


def _read(plpy, generation):
    """The base of ``generation`` from graph._csr (an empty one before the first build)."""
    rows = plpy.execute(plpy.prepare(
        "SELECT direction, offsets, targets, weights, labels, sources, alive"
        " FROM graph._csr WHERE generation = $1", ["bigint"]), [generation])
    loaded = {r["direction"]: csr.from_bytes(r) for r in rows}
    if rows:
        loaded["alive"] = np.frombuffer(rows[0]["alive"], dtype=bool)
    else:  # never built: an empty base
        empty = csr.build(0, csr.edges([], [], [], [], []))
        loaded = {"out": empty, "in": empty, "alive": np.zeros(0, dtype=bool)}
    loaded["generation"] = generation
    return loaded


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
    """Bytes held by this backend's graph cache: the NumPy arrays of the base and
    of what reads derived from it (views, folded views, node keys), each array
    counted once. Objects in the cache report what they hold through an
    ``arrays()`` method (their NumPy arrays) and/or ``held_nbytes()`` (other data)."""
    seen = set()

    def size(value):
        if isinstance(value, np.ndarray):
            owner = value
            while isinstance(owner.base, np.ndarray):
                owner = owner.base
            if id(owner) in seen:
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

    return size(_cache)
