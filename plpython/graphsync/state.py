"""The graph as applied: the base CSR (cached per backend by generation), the
node delta, the edge overlay and the truncation cuts, folded into one view."""

from typing import NamedTuple

import numpy as np

from graphsync import csr

# Per-backend cache of the base: {"generation": g, "out": Csr, "in": Csr, "alive": bool[]}
_cache = {}


class Graph(NamedTuple):
    generation: int
    node_count: int
    alive: np.ndarray  # bool per node id
    edges: csr.Edges  # current edges, both endpoints alive


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


def base(plpy, generation):
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


def alive_nodes(plpy, base_alive):
    """Alive flag per node id: the base's, updated by nodes touched since."""
    rows = plpy.execute("SELECT node_id, alive FROM graph._nodes WHERE touched")
    top = plpy.execute("SELECT coalesce(max(node_id), -1) + 1 AS n FROM graph._nodes")[0]["n"]
    alive = np.zeros(max(top, len(base_alive)), dtype=bool)
    alive[:len(base_alive)] = base_alive
    if rows:
        ids = np.fromiter((r["node_id"] for r in rows), dtype=np.int64, count=len(rows))
        flags = np.fromiter((r["alive"] for r in rows), dtype=bool, count=len(rows))
        alive[ids] = flags
    return alive


def overlay(plpy):
    """The overlay rows a cut does not hide: (ops, Edges), and the cut sources."""
    cuts = {r["edge_source_id"]: r["overlay_id"]
            for r in plpy.execute("SELECT edge_source_id, overlay_id FROM graph._edge_cuts")}
    rows = plpy.execute(
        "SELECT id, op, edge_source_id, src, dst, weight, label_id FROM graph._edge_overlay"
        " ORDER BY id")
    rows = [r for r in rows if r["id"] > cuts.get(r["edge_source_id"], 0)]
    ops = np.array([1 if r["op"] == "+" else -1 for r in rows], dtype=np.int64)
    e = csr.edges([r["src"] for r in rows], [r["dst"] for r in rows],
                  [r["weight"] for r in rows], [r["label_id"] for r in rows],
                  [r["edge_source_id"] for r in rows])
    return (ops, e), set(cuts)


def load(plpy):
    """The current applied graph."""
    generation = plpy.execute("SELECT generation FROM graph._sync_state")[0]["generation"]
    b = base(plpy, generation)
    alive = alive_nodes(plpy, b["alive"])
    over, cut_sources = overlay(plpy)
    current = csr.fold_overlay(csr.edge_list(b["out"]), over, cut_sources)
    return Graph(generation, len(alive), alive, csr.drop_dead(current, alive))


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
