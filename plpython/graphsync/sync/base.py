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


def load(plpy, generation):
    """The base of ``generation``: loaded once per backend, then from the cache."""
    if _cache.get("generation") != generation:
        _cache.clear()
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
        _cache.update(loaded)
    return _cache


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
