"""CSR arrays: build, reverse, serialize, and fold the edge overlay.

Pure functions of NumPy arrays (no database). A graph over dense node ids
0..n-1 is held per direction as:

- ``offsets`` int64[n+1]: the edges of node u are positions offsets[u]:offsets[u+1]
- ``targets`` int64[m], ``weights`` float64[m], ``labels`` int32[m]
- ``sources`` int32[m]: the edge source (registry id) each edge came from
"""

from graphsync.algorithms import weights as weights_mod
from graphsync.algorithms.lazy_numpy import np
from graphsync.records import record


class Csr(record("Csr", ("offsets", "targets", "weights", "labels", "sources"))):
    """The CSR arrays of one direction (see above): NumPy arrays, or memoryviews of the
    mapped base file (sync/basefile.py), which the functions here take as arrays."""

    __slots__ = ()

    @property
    def node_count(self):
        return len(self.offsets) - 1

    @property
    def edge_count(self):
        return len(self.targets)


class Edges(record("Edges", ("src", "dst", "weights", "labels", "sources"))):
    """An edge list (COO): parallel arrays, one entry per edge."""

    __slots__ = ()


DTYPES = {"offsets": "<i8", "targets": "<i8", "weights": "<f8", "labels": "<i4", "sources": "<i4"}


def edges(src, dst, weights, labels, sources):
    """An Edges tuple with the canonical dtypes."""
    return Edges(
        np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64),
        np.asarray(weights, dtype=np.float64), np.asarray(labels, dtype=np.int32),
        np.asarray(sources, dtype=np.int32),
    )


def stable_order(keys, bound):
    """np.argsort(keys, kind="stable") of integer ``keys`` in 0..bound-1: below 2**32,
    as a radix sort of two 16-bit digits (NumPy sorts 16-bit keys stably by radix,
    in linear time: a third of the time of its merge sort for a million edges)."""
    if bound > 2 ** 32 or len(keys) < 2:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    if bound > 2 ** 16:
        order = order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]
    return order


def build(node_count, e):
    """The CSR of edge list ``e`` over ``node_count`` nodes (edges grouped by src, stable)."""
    order = stable_order(e.src, node_count)
    counts = np.bincount(e.src, minlength=node_count) if len(e.src) else np.zeros(
        node_count, dtype=np.int64)
    offsets = np.zeros(node_count + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Csr(offsets, e.dst[order], e.weights[order], e.labels[order], e.sources[order])


def build_appended(node_count, sorted_edges, extra):
    """build(node_count, ``sorted_edges`` then ``extra``) where ``sorted_edges`` is
    sorted by src (an edge_list, or a part of one kept in order): each node's edges
    of the first, then its edges of ``extra`` in their order. Only ``extra`` is
    sorted (stable_order); the first list's edges are moved by its counts (each edge
    lands after the extra edges of the nodes before its own), so a base of millions
    of edges with some added costs O(edges) moves and no sort of the whole."""
    counts = np.bincount(sorted_edges.src, minlength=node_count)[:node_count]
    extra_counts = np.bincount(extra.src, minlength=node_count)[:node_count]
    offsets = np.zeros(node_count + 1, dtype=np.int64)
    np.cumsum(counts + extra_counts, out=offsets[1:])
    extra_before = offsets[:-1] - np.concatenate([[0], np.cumsum(counts)[:-1]])  # extra edges of nodes before
    at = np.arange(len(sorted_edges.src), dtype=np.int64) + extra_before[sorted_edges.src]
    order = stable_order(extra.src, node_count)
    extra_src = extra.src[order]
    # the j-th extra edge (in sorted order) of node u is u's (j - extra_before[u])-th
    extra_at = offsets[extra_src] + counts[extra_src] + np.arange(len(order), dtype=np.int64) - extra_before[extra_src]
    arrays = []
    for first, more in zip(sorted_edges[1:], extra[1:], strict=True):
        out = np.empty(offsets[-1], dtype=np.result_type(first, more))
        out[at] = first
        out[extra_at] = np.asarray(more)[order]
        arrays.append(out)
    return Csr(offsets, *arrays)


def appended(node_count, base, extra):
    """build_appended(node_count, edge_list(``base``), ``extra``) of a Csr ``base``
    (over at most node_count nodes): each node's edges of the base, then its edges of
    ``extra`` in their order, without the base's edge list. Only ``extra`` is sorted
    and placed; the base's edges fill the other positions in order (one boolean mask
    for every array: no src array, no bincount or gather of the base's edges). A
    fold of 100k added edges onto 1.4M: some 20 ms against 70 ms (idle)."""
    offsets_in = np.asarray(base.offsets)
    counts = np.zeros(node_count, dtype=np.int64)
    counts[:len(offsets_in) - 1] = np.diff(offsets_in)
    extra_counts = np.bincount(extra.src, minlength=node_count)[:node_count]
    offsets = np.zeros(node_count + 1, dtype=np.int64)
    np.cumsum(counts + extra_counts, out=offsets[1:])
    order = stable_order(extra.src, node_count)
    extra_src = extra.src[order]
    firsts = np.zeros(node_count + 1, dtype=np.int64)  # the first (sorted) extra edge of each node
    np.cumsum(extra_counts, out=firsts[1:])
    # the j-th extra edge (in sorted order) of node u goes after u's base edges
    extra_at = offsets[extra_src] + counts[extra_src] + np.arange(len(order), dtype=np.int64) - firsts[extra_src]
    kept = np.ones(offsets[-1], dtype=bool)
    kept[extra_at] = False
    arrays = []
    for first, more in zip(base[1:], extra[1:], strict=True):
        first = np.asarray(first)
        out = np.empty(offsets[-1], dtype=np.result_type(first, more))
        out[kept] = first
        out[extra_at] = np.asarray(more)[order]
        arrays.append(out)
    return Csr(offsets, *arrays)


def edge_list(csr):
    """The edges of ``csr`` as an edge list, of NumPy arrays (a Csr of the mapped base
    file holds memoryviews: sync/basefile.py; np.asarray makes no copy)."""
    src = np.repeat(np.arange(csr.node_count, dtype=np.int64), np.diff(np.asarray(csr.offsets)))
    return Edges(src, *(np.asarray(a) for a in (csr.targets, csr.weights, csr.labels, csr.sources)))


def reverse(csr, start=None):
    """The CSR of the same edges with every direction flipped: the edges stably by
    their target (grouped by source, ties stay in source order), as build of the
    flipped edge list. ``start(fn)``: runs fn elsewhere (another thread: NumPy's
    gathers hold no GIL) and returns a function that waits for its result, where two
    of the four gathers run; none: all here."""
    offsets_in = np.asarray(csr.offsets)
    targets = np.asarray(csr.targets)
    order = stable_order(targets, csr.node_count)
    offsets = np.zeros(len(offsets_in), dtype=np.int64)
    if len(order):
        np.cumsum(np.bincount(targets, minlength=csr.node_count), out=offsets[1:])
    src = np.repeat(np.arange(csr.node_count, dtype=np.int64), np.diff(offsets_in))
    other = (start or _here)(lambda: (src[order], np.asarray(csr.weights)[order]))
    labels, sources = np.asarray(csr.labels)[order], np.asarray(csr.sources)[order]
    new_targets, weights = other()
    return Csr(offsets, new_targets, weights, labels, sources)


def _here(fn):
    """start(fn) of reverse when no thread is given: fn run now."""
    got = fn()
    return lambda: got


class BothDirections:
    """The 'any' CSR of ``out`` and its reverse ``into`` (reverse(out)): each node's
    out-edges, then its in-edges with their source stored as -1 - source -- exactly
    what adjacency.both_ways(out) gives, without sorting 2m edges: the position of
    every edge follows from the offsets of the two directions, and each edge is
    placed once. ``array(name)`` makes one array at a time (a writer streaming a
    file holds one 'any' array, not four); ``offsets`` is ready."""

    def __init__(self, out, into):
        self.out, self.into = out, into
        self.offsets = out.offsets + into.offsets
        self.edge_count = 2 * out.edge_count
        self._pos = None

    def positions(self):
        """(where each out-edge goes, where each in-edge goes) in the 'any' arrays."""
        if self._pos is None:
            out, into, m = self.out, self.into, self.out.edge_count
            at = np.arange(m, dtype=np.int64)
            self._pos = (at + np.repeat(into.offsets[:-1], np.diff(out.offsets)),
                         at + np.repeat(out.offsets[1:], np.diff(into.offsets)))
        return self._pos

    def array(self, name):
        if name == "offsets":
            return self.offsets
        pos_out, pos_in = self.positions()
        a, b = getattr(self.out, name), getattr(self.into, name)
        both = np.empty(self.edge_count, dtype=DTYPES[name])
        both[pos_out] = a
        both[pos_in] = -1 - b if name == "sources" else b
        return both


def both_directions(out, into):
    """The 'any' Csr of ``out`` and its reverse ``into`` (see BothDirections)."""
    b = BothDirections(out, into)
    return Csr(*(b.array(name) for name in Csr._fields))


def to_bytes(csr):
    """Little-endian buffers of each array, by field name."""
    return {name: np.ascontiguousarray(getattr(csr, name), dtype=DTYPES[name]).tobytes()
            for name in Csr._fields}


def from_bytes(buffers):
    """The Csr held in ``buffers`` (as written by to_bytes)."""
    return Csr(*(np.frombuffer(buffers[name], dtype=DTYPES[name]) for name in Csr._fields))


def problem(c, node_count):
    """Why ``c`` is not a CSR over node ids 0..``node_count``-1 that code may index
    without a bounds check (SciPy's csgraph routines index in C), or None when it is
    one: offsets of node_count + 1 entries from 0 to the edge count, never
    decreasing; four edge arrays of one length; every target a node id. Weights,
    labels and sources may hold any value (the reads handle them). O(nodes + edges)
    NumPy passes, with no copy (a mapped file's arrays are read in place)."""
    offsets = np.asarray(c.offsets)
    edge_count = len(c.targets)
    if len(offsets) != node_count + 1:
        return "offsets holds %d entries for %d nodes" % (len(offsets), node_count)
    for name in ("weights", "labels", "sources"):
        if len(getattr(c, name)) != edge_count:
            return "%s holds %d entries for %d targets" % (name, len(getattr(c, name)), edge_count)
    if offsets[0] != 0 or offsets[-1] != edge_count:
        return "offsets run from %d to %d, not from 0 to the %d edges" % (offsets[0], offsets[-1], edge_count)
    if node_count > 1 and not (offsets[1:] >= offsets[:-1]).all():
        return "offsets decrease"
    # (a negative int64 read as uint64 is above every node count: one pass for both ends)
    if edge_count and int(np.asarray(c.targets).view(np.uint64).max()) >= node_count:
        return "a target is not a node id (0..%d)" % (node_count - 1)
    return None


def base_problem(base):
    """``problem`` of each direction of a base ({"out", "in", "any" (None: not held),
    "alive", "tables" (None: not held)}), and of its alive flags (one byte per node,
    0 or 1) and tables (one per node), as "<what>: <why>", or None when all hold."""
    alive = np.asarray(base["alive"])
    n = len(alive)
    if alive.itemsize != 1 or (n and int(alive.view(np.uint8).max()) > 1):
        return "alive: a flag is neither 0 nor 1"
    if base.get("tables") is not None and len(base["tables"]) != n:
        return "tables: %d entries for %d nodes" % (len(base["tables"]), n)
    for direction in ("out", "in", "any"):
        c = base.get(direction)
        why = None if c is None else problem(c, n)
        if why is not None:
            return "%s: %s" % (direction, why)
    return None


def derived_problem(base):
    """Why the 'in' and 'any' CSRs of ``base`` (in bounds: base_problem) are not
    reverse(out) and the 'any' CSR BothDirections makes of the two, or None when
    they are. A shared file holds all three; only 'out' is stored (graph._csr), and
    every reader that holds the base without a file makes the others from it, so a
    file's must be those (one written by an earlier release from a stored 'in' row
    held that row's edges). O(nodes + edges): a reverse and the 'any' arrays, one at a
    time."""
    into = reverse(base["out"])
    for name in Csr._fields:
        if not np.array_equal(np.asarray(getattr(base["in"], name)), getattr(into, name)):
            return "in: %s is not the reverse of out's" % name
    both = BothDirections(base["out"], into)
    for name in Csr._fields:
        if not np.array_equal(np.asarray(getattr(base["any"], name)), both.array(name)):
            return "any: %s is not out's and in's" % name
    return None


def fold_overlay(base, overlay, cut_sources):
    """The current edge list: base edges plus the overlay.

    ``base`` is an edge list sorted by src (as edge_list returns); ``overlay`` is (ops, Edges) where ops[i] is +1 to
    add one edge and -1 to remove one matching edge (same src, dst, weight,
    label and source; weights compared by weights.key, so a NaN weight matches
    a NaN or +Infinity one), already stripped of rows a cut hides; every base edge
    whose source is in ``cut_sources`` is gone. Removing an edge that is not
    there removes nothing. Cost: O(base) vector work plus O(overlay) Python.
    """
    keep = np.ones(len(base.src), dtype=bool)
    if cut_sources:
        keep &= ~np.isin(base.sources, np.fromiter(cut_sources, dtype=np.int32))
    ops, extra = overlay
    from collections import Counter  # here: a first read (which never folds) does not import collections

    net = Counter()
    for i in range(len(ops)):
        key = (int(extra.src[i]), int(extra.dst[i]), weights_mod.key(extra.weights[i]),
               int(extra.labels[i]), int(extra.sources[i]))
        net[key] += int(ops[i])
    added = []
    removals = [(k, -n) for k, n in net.items() if n < 0]
    if removals:
        _remove_matching(base, keep, removals)
    for key, n in net.items():
        added.extend([key] * max(n, 0))
    if added:
        cols = list(zip(*added, strict=True))
        more = edges(*cols)
    else:
        more = edges([], [], [], [], [])
    return Edges(*(np.concatenate([getattr(base, f)[keep], getattr(more, f)])
                   for f in Edges._fields))


def _remove_matching(base, keep, removals):
    """Clear ``keep`` for the first ``count`` kept base edges (in base order) matching
    each removal ((src, dst, weight key, label, source), count): all removals at once,
    in vector work over the base edges of their sources (no NumPy call per removal,
    which cost a fold of a few thousand edge changes a large part of its time). Two
    removals never match the same edge (their keys differ)."""
    r = len(removals)
    r_src = np.fromiter((k[0] for k, _ in removals), dtype=np.int64, count=r)
    r_dst = np.fromiter((k[1] for k, _ in removals), dtype=np.int64, count=r)
    r_w = np.fromiter((k[2] for k, _ in removals), dtype=np.float64, count=r)
    r_lab = np.fromiter((k[3] for k, _ in removals), dtype=np.int64, count=r)
    r_source = np.fromiter((k[4] for k, _ in removals), dtype=np.int64, count=r)
    r_count = np.fromiter((n for _, n in removals), dtype=np.int64, count=r)
    lo = np.searchsorted(base.src, r_src)
    hi = np.searchsorted(base.src, r_src + 1)
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return
    group = np.repeat(np.arange(r), lengths)  # the removal each candidate belongs to
    starts = np.cumsum(lengths) - lengths
    idx = np.repeat(lo - starts, lengths) + np.arange(total)  # candidates, by removal, in base order
    base_weights = weights_mod.keys(base.weights)
    match = (keep[idx] & (base.dst[idx] == r_dst[group]) & (base_weights[idx] == r_w[group])
             & (base.labels[idx] == r_lab[group]) & (base.sources[idx] == r_source[group]))
    m_idx, m_group = idx[match], group[match]
    if not len(m_idx):
        return
    first = np.r_[0, np.flatnonzero(np.diff(m_group)) + 1]  # each group's first match
    rank = np.arange(len(m_idx)) - np.repeat(first, np.diff(np.r_[first, len(m_idx)]))
    keep[m_idx[rank < r_count[m_group]]] = False


def drop_dead(e, alive):
    """The edges of ``e`` whose two endpoints are alive."""
    ok = alive[e.src] & alive[e.dst]
    return Edges(*(getattr(e, f)[ok] for f in Edges._fields))
