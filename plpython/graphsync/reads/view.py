"""The graph a read sees: the applied graph as CSR arrays, cached per backend.

A View is the base CSR of the current generation (base.load, loaded once per
generation) with the edge overlay and the truncation cuts folded in, the alive
flag of every node (base flags updated by the nodes touched since the build),
and the label names. Dead nodes keep their edges in the arrays: the algorithms
take an ``alive``/enterable mask, so node changes never force a CSR rebuild.

Views are cached in ``base._cache["view"]`` under (generation, version), where
version is graph._graph_version.version, which every change of a graph table
moves (migration 002). A read with nothing changed costs one query for that
key. The cache holds one view (plus its lazily built 'in' and 'any' CSRs, and
one folded view of pending rows, see freshness.py), so memory stays bounded:
at most the base plus about three CSRs of the current edge count; see
``base.cache_nbytes()``.

Everything a View holds is structural (node ids, which table a node id belongs
to, alive flags, edges, label names): the same for every role. Keys, tenants
and properties stay in graph._nodes, behind row-level security.
"""

import numpy as np

from graphsync.algorithms import csr
from graphsync.db import run
from graphsync.sync import base, registry

KEY = "SELECT s.generation, v.version FROM graph._sync_state AS s, graph._graph_version AS v"

OVERLAY = """
SELECT coalesce(array_agg(CASE o.op WHEN '+' THEN 1 ELSE -1 END ORDER BY o.id), '{}') AS ops,
       coalesce(array_agg(o.src ORDER BY o.id), '{}') AS src,
       coalesce(array_agg(o.dst ORDER BY o.id), '{}') AS dst,
       coalesce(array_agg(o.weight ORDER BY o.id), '{}') AS w,
       coalesce(array_agg(o.label_id ORDER BY o.id), '{}') AS lab,
       coalesce(array_agg(o.edge_source_id ORDER BY o.id), '{}') AS es
FROM graph._edge_overlay AS o
LEFT JOIN graph._edge_cuts AS c ON c.edge_source_id = o.edge_source_id
WHERE o.id > coalesce(c.overlay_id, 0)
"""

class View:
    """The graph one read runs on (see the module docstring)."""

    def __init__(self, key, node_count, base_count, alive, out, base_in, labels, reg, cuts):
        self.key = key
        self.node_count = node_count
        self.base_count = base_count  # node ids below it are the base's
        self.alive = alive
        self.labels = labels  # label id -> name
        self.label_ids = {name: i for i, name in labels.items()}
        self.registry = reg
        self.cuts = cuts  # edge sources cut (TRUNCATE) since the build
        self._csr = {"out": out}
        if base_in is not None:
            self._csr["in"] = base_in
        self._tables = None
        self._derived = {}
        # Set on a view folded with pending rows (freshness.fold): node id ->
        # (table_oid, pk) of nodes not in graph._nodes, and node id -> (tenant,
        # properties json) of nodes whose pending row changed them.
        self.extra_keys = {}
        self.node_values = {}
        self.pending = False

    def csr(self, direction):
        """The effective CSR of ``direction`` ('out', 'in' or 'any')."""
        c = self._csr.get(direction)
        if c is None:
            out = self._csr["out"]
            if direction == "in":
                c = csr.reverse(out)
            else:
                e = csr.edge_list(out)
                both = csr.Edges(*(np.concatenate([a, b]) for a, b in zip(
                    e, (e.dst, e.src, e.weights, e.labels, e.sources), strict=True)))
                c = csr.build(out.node_count, both)
            self._csr[direction] = c
        return c

    def tables(self, plpy):
        """Table oid of every node id (int64[node_count]), loaded on first use."""
        if self._tables is None:
            self._tables = node_tables(plpy, self.base_count, self.node_count)
            for i, k in self.extra_keys.items():
                self._tables[i] = k[0]
        return self._tables

    def derived(self, key, make):
        """A value computed from this view, kept with it (bounded: a few entries)."""
        if key not in self._derived:
            if len(self._derived) >= 16:
                self._derived.pop(next(iter(self._derived)))
            self._derived[key] = make()
        return self._derived[key]

    def label_mask(self, edge_types):
        """None (every label), or bool[max label id + 1] of the labels in ``edge_types``."""
        if edge_types is None:
            return None
        mask = np.zeros(max(self.labels, default=-1) + 1, dtype=bool)
        for name in edge_types:
            i = self.label_ids.get(name)
            if i is not None:
                mask[i] = True
        return mask

    def arrays(self):
        """What this view holds, for base.cache_nbytes()."""
        return [self._csr, self.alive, self._tables, self._derived]


def node_tables(plpy, base_count, node_count):
    """Table oid of each node id: runs over the base ids, then each touched id."""
    tables = np.zeros(node_count, dtype=np.int64)
    for r in run(plpy, "SELECT table_oid, first_id, last_id FROM graph._node_runs($1)",
                 ["bigint"], [base_count]):
        tables[r["first_id"]:r["last_id"] + 1] = int(r["table_oid"])
    d = run(plpy, "SELECT node_ids, table_oids FROM graph._node_delta()")[0]
    if d["node_ids"]:
        ids = np.asarray(d["node_ids"], dtype=np.int64)
        keep = ids < node_count
        tables[ids[keep]] = np.asarray(d["table_oids"], dtype=np.int64)[keep]
    return tables


def _alive(plpy, base_alive):
    """Alive flag per node id (structural, the same for every role)."""
    d = run(plpy, "SELECT node_ids, alive, top FROM graph._node_delta()")[0]
    alive = np.zeros(max(d["top"], len(base_alive)), dtype=bool)
    alive[:len(base_alive)] = base_alive
    if d["node_ids"]:
        alive[np.asarray(d["node_ids"], dtype=np.int64)] = np.asarray(d["alive"], dtype=bool)
    return alive


def _grow(c, node_count):
    """``c`` over ``node_count`` nodes (the ids past its end have no edges)."""
    if c.node_count == node_count:
        return c
    more = np.full(node_count - c.node_count, c.offsets[-1], dtype=np.int64)
    return csr.Csr(np.concatenate([c.offsets, more]), *c[1:])


def _effective(plpy, loaded, alive):
    """(alive, out CSR with the overlay folded in, in CSR or None to derive it, cut
    edge sources): the base's own arrays when there is no overlay and no cut. Each
    statement has its own snapshot, so the overlay may name node ids an apply gave
    after ``alive`` was read: alive grows to cover them, not alive."""
    cuts = {r["edge_source_id"] for r in run(plpy, "SELECT edge_source_id FROM graph._edge_cuts")}
    o = run(plpy, OVERLAY)[0]
    if not o["ops"] and not cuts:
        n = len(alive)
        return alive, _grow(loaded["out"], n), _grow(loaded["in"], n), cuts
    over = (np.asarray(o["ops"], dtype=np.int64),
            csr.edges(o["src"], o["dst"], o["w"], o["lab"], o["es"]))
    top = int(max(over[1].src.max(initial=-1), over[1].dst.max(initial=-1))) + 1
    if top > len(alive):
        alive = np.concatenate([alive, np.zeros(top - len(alive), dtype=bool)])
    folded = csr.fold_overlay(csr.edge_list(loaded["out"]), over, cuts)
    return alive, csr.build(len(alive), folded), None, cuts


def current(plpy):
    """The View of the applied graph, from the cache when nothing changed."""
    row = run(plpy, KEY)[0]
    key = (row["generation"], row["version"])
    cached = base._cache.get("view")
    if cached is not None and cached.key == key:
        return cached
    b = base.load(plpy, key[0])  # clears base._cache on a new generation
    base._cache.pop("view", None)
    base._cache.pop("folded", None)
    alive, out, base_in, cuts = _effective(plpy, b, _alive(plpy, b["alive"]))
    labels = {r["label_id"]: r["label"] for r in run(plpy, "SELECT label_id, label FROM graph._labels")}
    v = View(key, len(alive), len(b["alive"]), alive, out, base_in, labels,
             registry.load(plpy), cuts)
    # Cache it only when nothing changed while it was read statement by statement.
    row = run(plpy, KEY)[0]
    if (row["generation"], row["version"]) == key:
        base._cache["view"] = v
    return v
