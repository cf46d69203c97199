"""Adjacency that changes in O(change): an immutable base CSR with some nodes'
edge lists replaced, and the edge overlay folded into it incrementally.

Pure NumPy: no database access. Reads walk an :class:`Adjacency` (traverse,
bibfs); a change of a few edges relocates only the nodes whose edge lists
changed, instead of rebuilding full CSR arrays:

- ``Adjacency``: the base CSR of one direction (never written: it may be shared
  or memory-mapped) plus a tail buffer holding the current edge list of every
  relocated node. Edge positions are virtual: ``0..m-1`` are base positions,
  ``m..`` are tail positions. ``frontier_edges`` gathers the edges of a frontier
  in frontier order, then edge order, from either part.
- ``Overlay``: the net count of every overlay edge key ``(src, dst, weight,
  label, source)`` since the base (the semantics of ``csr.fold_overlay``: net
  counts first, then a negative count removes that many matching base edges in
  base order and a positive one appends the edge that many times, in order of
  first appearance), folded into the adjacency of each direction kept:
  'out' (u -> v), 'in' (v -> u) and 'any' (both; see ``both_ways``).

Relocation is lazy: a change marks the nodes whose edge lists it changed
(``Adjacency.dirty``), and a node's list is recomputed the first time a read
asks for it (every accessor cleans the nodes it is asked about; ``compact``
cleans all). A change costs O(edges changed) dict updates; a read relocates
only the changed nodes it reaches -- a depth-2 traversal reaches a few dozen
of the graph's nodes, so under writes most changes are never relocated by
most reads, and a list changed many times is recomputed once.
"""

# weakref.ref itself, from the builtin module every interpreter has loaded: the weakref
# module imports _weakrefset, types and itertools (some 0.8 ms of a first read)
from _weakref import ref as weak_ref
from struct import Struct

from graphsync.algorithms import csr as csr_mod
from graphsync.algorithms import weights as weights_mod
from graphsync.algorithms.lazy_numpy import np

_INITIAL_TAIL = 1024

# What relocating a node writes (Adjacency.set_node): copied on write after Adjacency.copy.
_RELOCATION = ("slot", "seg_lo", "seg_hi", "t_targets", "t_labels", "t_weights", "t_sources")

# A frontier of at most this many nodes is gathered node by node (frontier_edges).
SMALL_FRONTIER = 8

# More dirty nodes than this asked for at once are relocated in one go (Overlay._relocate_many).
FEW_DIRTY = 8

# A node of at most this many base edges is relocated with Python lists (Overlay._relocate).
SHORT_LIST = 32
_INF = float("inf")

# What Python's cyclic garbage collector follows costs every read that runs one of its
# full collections. It follows every set, every tuple until a collection finds it holds
# only numbers, and every dict holding such a tuple -- again from the moment a store
# names a tuple just made, even for a key the dict holds already. A dict holding only
# numbers, bytes and None it never follows. In a reader's backend under unthrottled
# writes the overlay's structures made each full collection 25-35 ms of CPU (some
# 165k net keys, 66k nodes' counts, 140k set elements; a read's worth, every second
# or so), so:
# - node sets kept from read to read (Adjacency.dirty, Overlay.owned) are dicts of
#   node -> None;
# - an overlay edge key is bytes, not a tuple: NET packs (src, dst, weight key,
#   label, source) for Overlay.net, EDGE (other end, weight key, label, source) for a
#   node's counts (Overlay.entries), made from columns with NumPy (_packed).
NET = Struct("<qqdii")
EDGE = Struct("<qdii")
_NET_FIELDS = (("s", "<i8"), ("d", "<i8"), ("w", "<f8"), ("l", "<i4"), ("e", "<i4"))
_EDGE_FIELDS = (("t", "<i8"), ("w", "<f8"), ("l", "<i4"), ("e", "<i4"))
# Keys of at most this many rows are packed one by one (_packed).
FEW_KEYS = 16

# Rows an Overlay holds back for later (Overlay.add) before it folds them into its
# directions anyway: a bound of the memory they take (some 200 bytes a row).
MAX_BEHIND = 65_536


class _OnUse:
    """An attribute of an Adjacency made the first time it is read, then kept (in the
    instance's dict, which takes precedence from then on): the NumPy arrays of the
    base made from the arrays given (no copy of a memoryview or an array of that
    type), and the empty tail arrays."""

    def __init__(self, dtype, given=True):
        self.dtype, self.given = dtype, given

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, adj, owner=None):
        if adj is None:
            return self
        if self.given:
            given = adj._given[self.name]
            made = None if given is None else np.asarray(given, dtype=self.dtype)
        else:
            made = np.zeros(0, dtype=self.dtype)
        adj.__dict__[self.name] = made
        return made


class Adjacency:
    """Edge lists per node: base CSR arrays, with relocated nodes read from a tail."""

    offsets = _OnUse("int64")
    targets = _OnUse("int64")
    labels = _OnUse("int32")
    weights = _OnUse("float64")
    sources = _OnUse("int32")
    seg_lo = _OnUse("int64", given=False)
    seg_hi = _OnUse("int64", given=False)
    t_targets = _OnUse("int64", given=False)
    t_labels = _OnUse("int32", given=False)
    t_weights = _OnUse("float64", given=False)
    t_sources = _OnUse("int32", given=False)

    def __init__(self, offsets, targets, labels, weights=None, sources=None, node_count=None):
        # The base arrays as given: memoryviews of the mapped base file (sync/basefile.py)
        # or NumPy arrays. Walking a few nodes' lists reads them through memoryviews
        # (edge_lists); the NumPy arrays (offsets, targets, ...) are made
        # the first time whole-array code asks for them, so a small walk imports no NumPy.
        self._given = {"offsets": offsets, "targets": targets, "labels": labels, "weights": weights,
                       "sources": sources}
        self.base_nodes = len(offsets) - 1
        self.base_edges = len(targets)
        n = self.base_nodes if node_count is None else max(node_count, self.base_nodes)
        self.node_count = n
        # node -> segment, -1: its base edges; made on the first relocation (None until
        # then: a backend that relocates nothing holds no per-node array here)
        self.slot = None
        self.segments = 0  # seg_lo, seg_hi: the tail positions of each segment (_OnUse)
        self.tail_used = 0  # t_targets, t_labels, t_weights, t_sources: the tail (_OnUse)
        self.tail_live = 0
        # nodes whose edge list changed since it was last made (a node set: a dict of
        # node -> None, see above), and what makes it again (Overlay binds it): see the module docstring
        self.dirty = {}
        self.fixer = None
        self.fix_many = None
        self.shared = False  # the relocation arrays are shared with a copy (copy, _own)

    def _clean(self, nodes):
        """Make the edge lists of the dirty nodes among ``nodes`` (ints) again: more
        than FEW_DIRTY of them in one go (fix_many), else one by one (fixer)."""
        dirty = self.dirty
        found = [u for u in nodes if u in dirty]
        if len(found) > FEW_DIRTY and self.fix_many is not None:
            found = list(dict.fromkeys(found))
            for u in found:
                del dirty[u]
            self.fix_many(found)
            return
        for u in found:
            if u in dirty:
                del dirty[u]
                self.fixer(u)

    def _clean_array(self, nodes):
        if self.dirty:
            self._clean(np.asarray(nodes, dtype=np.int64).ravel().tolist())

    @classmethod
    def of(cls, c, node_count=None):
        """The adjacency of a csr.Csr (nothing relocated)."""
        return cls(c.offsets, c.targets, c.labels, c.weights, c.sources, node_count)

    @property
    def relocated(self):
        return self.segments > 0

    def copy(self):
        """An independent copy. The base arrays are shared (they are never written), and
        so are the relocation arrays (slot, segments, tail) until either side writes
        them (_own): a copy that never relocates a node -- a read's view folded with a
        few rows, whose traversals seldom reach the nodes those rows changed -- copies
        none of them (some megabytes a direction, milliseconds, at 200k nodes)."""
        other = object.__new__(Adjacency)
        other.__dict__.update(self.__dict__)
        other.dirty = dict(self.dirty)
        other.fixer = other.fix_many = None  # the copy's Overlay binds its own
        self.shared = other.shared = True
        return other

    def _own(self):
        """Copy the relocation arrays this adjacency shares with a copy (or the one it
        was copied from) before writing them."""
        if self.shared:
            for name in _RELOCATION:
                a = self.__dict__.get(name)  # (those not made yet are made empty, each its own)
                if a is not None:
                    setattr(self, name, a.copy())
            self.shared = False

    def grow(self, node_count):
        """Cover node ids up to ``node_count`` - 1 (new ids have no edges)."""
        if node_count > self.node_count:
            if self.slot is not None:
                more = np.full(node_count - self.node_count, -1, dtype=np.int64)
                self.slot = np.concatenate([self.slot, more])
            self.node_count = node_count

    # -- reading ---------------------------------------------------------------

    def _bounds(self, nodes):
        """(first, end) virtual positions of the edge lists of ``nodes``."""
        self._clean_array(nodes)
        nodes = np.asarray(nodes, dtype=np.int64)
        in_base = nodes < self.base_nodes
        at = np.where(in_base, nodes, 0)
        lo = np.where(in_base, self.offsets[at], 0)
        hi = np.where(in_base, self.offsets[np.minimum(at + 1, self.base_nodes)], 0)
        if self.segments:
            seg = self.slot[nodes]
            moved = seg >= 0
            if moved.any():
                s = seg[moved]
                lo = lo.copy()
                hi = hi.copy()
                lo[moved] = self.seg_lo[s] + self.base_edges
                hi[moved] = self.seg_hi[s] + self.base_edges
        return lo, hi

    def degrees(self, nodes):
        lo, hi = self._bounds(nodes)
        return hi - lo

    def _take(self, base, tail, positions):
        if not self.tail_used:
            return base[positions]
        in_tail = positions >= self.base_edges
        if not in_tail.any():
            return base[positions]
        out = np.empty(len(positions), dtype=base.dtype)
        out[~in_tail] = base[positions[~in_tail]]
        out[in_tail] = tail[positions[in_tail] - self.base_edges]
        return out

    def frontier_edges(self, frontier):
        """(sources, targets, labels) of every edge out of ``frontier``: frontier
        node by frontier node, each in edge-list order."""
        frontier = np.asarray(frontier, dtype=np.int64)
        if len(frontier) <= SMALL_FRONTIER:
            return self._few_frontier_edges(frontier)
        lo, hi = self._bounds(frontier)
        counts = hi - lo
        block_start = np.cumsum(counts) - counts
        positions = np.arange(int(counts.sum()), dtype=np.int64)
        positions += np.repeat(lo - block_start, counts)
        return (np.repeat(frontier, counts), self._take(self.targets, self.t_targets, positions),
                self._take(self.labels, self.t_labels, positions))

    def edge_lists(self, frontier, limit):
        """[(targets, labels)] of each node of ``frontier`` (a list), as Python lists
        in edge-list order; None when they hold more than ``limit`` edges."""
        if self.dirty:
            self._clean(frontier)
        if not self.segments:  # (at rest: every list in the base arrays)
            offsets, targets, labels = (_elements(self, "offsets"), _elements(self, "targets"),
                                        _elements(self, "labels"))
            lists, total, n = [], 0, self.base_nodes
            for u in frontier:
                if u < n:
                    lo, hi = offsets[u], offsets[u + 1]
                    total += hi - lo
                    if total > limit:
                        return None
                    lists.append((targets[lo:hi].tolist(), labels[lo:hi].tolist()))
                else:  # a node past the base: no edges
                    lists.append(([], []))
            return lists
        bounds = []
        total = 0
        # Elements and slices through memoryviews: several times cheaper than NumPy's
        # indexing (a NumPy scalar, a view object) for one node's list.
        offsets, slot = _elements(self, "offsets"), memoryview(self.slot) if self.segments else None
        base = (_elements(self, "targets"), _elements(self, "labels"))
        for u in frontier:
            seg = slot[u] if slot is not None else -1
            if seg >= 0:
                lo, hi = int(self.seg_lo[seg]), int(self.seg_hi[seg])
                bounds.append((self.t_targets, self.t_labels, lo, hi))
            elif u < self.base_nodes:
                lo, hi = offsets[u], offsets[u + 1]
                bounds.append((*base, lo, hi))
            else:  # a node past the base, never relocated: no edges
                lo = hi = 0
                bounds.append((*base, 0, 0))
            total += hi - lo
            if total > limit:
                return None
        return [(t[lo:hi].tolist(), lab[lo:hi].tolist()) for t, lab, lo, hi in bounds]

    def _few_frontier_edges(self, frontier):
        """frontier_edges of a few nodes, a slice per node: some ten NumPy calls
        fewer than the whole-frontier way (a microsecond each, whatever the size)."""
        self._clean_array(frontier)
        targets, labels = [], []
        for u in frontier.tolist():
            seg = self.slot[u] if self.segments else -1
            if seg >= 0:
                lo, hi = self.seg_lo[seg], self.seg_hi[seg]
                targets.append(self.t_targets[lo:hi])
                labels.append(self.t_labels[lo:hi])
            elif u < self.base_nodes:
                lo, hi = self.offsets[u], self.offsets[u + 1]
                targets.append(self.targets[lo:hi])
                labels.append(self.labels[lo:hi])
            else:
                targets.append(self.targets[:0])
                labels.append(self.labels[:0])
        if not targets:
            return frontier, self.targets[:0].copy(), self.labels[:0].copy()
        counts = [len(t) for t in targets]
        return np.repeat(frontier, counts), np.concatenate(targets), np.concatenate(labels)

    def node_edges(self, node):
        """(targets, weights, labels, sources) arrays of one node's edge list."""
        lo, hi = (int(x[0]) for x in self._bounds([node]))
        if lo >= self.base_edges:  # a relocated node (or an empty list at the end)
            a, b = lo - self.base_edges, hi - self.base_edges
            return (self.t_targets[a:b], self.t_weights[a:b], self.t_labels[a:b], self.t_sources[a:b])
        return (self.targets[lo:hi], self.weights[lo:hi], self.labels[lo:hi], self.sources[lo:hi])

    def compact(self):
        """The whole adjacency as one contiguous csr.Csr (O(edges))."""
        if self.dirty:
            self._clean(sorted(self.dirty))
        if not self.segments and self.node_count == self.base_nodes:
            return csr_mod.Csr(self.offsets, self.targets, self.weights, self.labels, self.sources)
        nodes = np.arange(self.node_count, dtype=np.int64)
        lo, hi = self._bounds(nodes)
        counts = hi - lo
        offsets = np.zeros(self.node_count + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        positions = np.arange(int(offsets[-1]), dtype=np.int64)
        positions += np.repeat(lo - offsets[:-1], counts)
        return csr_mod.Csr(offsets, self._take(self.targets, self.t_targets, positions),
                           self._take(self.weights, self.t_weights, positions),
                           self._take(self.labels, self.t_labels, positions),
                           self._take(self.sources, self.t_sources, positions))

    # -- writing ---------------------------------------------------------------

    def set_node(self, node, targets, weights, labels, sources):
        """Replace the edge list of ``node`` (relocating it to the tail)."""
        k = len(targets)
        slot = self._slots()
        old = slot[node]
        lo = self._append(k, int(self.seg_hi[old] - self.seg_lo[old]) if old >= 0 else 0,
                          targets, weights, labels, sources)
        if old >= 0:
            seg = old
        else:
            seg = slot[node] = self._new_segments(1)
        self.seg_lo[seg], self.seg_hi[seg] = lo, lo + k

    def set_nodes(self, nodes, counts, targets, weights, labels, sources):
        """set_node of each of ``nodes`` (int64, distinct) at once: their new edge lists
        are ``counts`` (int64) edges each, one after the other in the other arrays."""
        slot = self._slots()
        old = slot[nodes]
        had = old >= 0
        lo = self._append(int(counts.sum()), int((self.seg_hi[old[had]] - self.seg_lo[old[had]]).sum()),
                          targets, weights, labels, sources)
        fresh = nodes[~had]
        if len(fresh):
            first = self._new_segments(len(fresh))
            slot[fresh] = np.arange(first, first + len(fresh))
        seg = slot[nodes]
        starts = lo + np.cumsum(counts) - counts
        self.seg_lo[seg] = starts
        self.seg_hi[seg] = starts + counts

    def _slots(self):
        """The node -> segment array, this adjacency's own (made at its first write)."""
        self._own()
        if self.slot is None:
            self.slot = np.full(self.node_count, -1, dtype=np.int64)
        return self.slot

    def _new_segments(self, n):
        """The first of ``n`` new segment numbers, seg_lo and seg_hi grown to hold them."""
        first = self.segments
        if first + n > len(self.seg_lo):
            size = max(64, 2 * len(self.seg_lo), first + n)
            self.seg_lo = np.resize(self.seg_lo, size)
            self.seg_hi = np.resize(self.seg_hi, size)
        self.segments += n
        return first

    def _append(self, k, replaced, targets, weights, labels, sources):
        """Write ``k`` edges at the end of the tail (compacted or grown first when it
        is full), in place of ``replaced`` live ones; returns their first position."""
        self.tail_live -= replaced
        if self.tail_used + k > len(self.t_targets):
            if self.tail_live + k <= len(self.t_targets) // 2:
                self._compact_tail()
            if self.tail_used + k > len(self.t_targets):
                self._grow_tail(self.tail_used + k)
        lo = self.tail_used
        self.t_targets[lo:lo + k] = targets
        self.t_weights[lo:lo + k] = weights
        self.t_labels[lo:lo + k] = labels
        self.t_sources[lo:lo + k] = sources
        self.tail_used += k
        self.tail_live += k
        return lo

    def _grow_tail(self, need):
        size = max(_INITIAL_TAIL, need, 2 * len(self.t_targets))
        for name in ("t_targets", "t_labels", "t_weights", "t_sources"):
            a = getattr(self, name)
            grown = np.zeros(size, dtype=a.dtype)
            grown[:self.tail_used] = a[:self.tail_used]
            setattr(self, name, grown)

    def _compact_tail(self):
        """Drop the edge lists of earlier relocations of the same nodes."""
        self._own()
        segs = np.arange(self.segments)
        lo, hi = self.seg_lo[segs], self.seg_hi[segs]
        counts = hi - lo
        new_lo = np.cumsum(counts) - counts
        positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(lo - new_lo, counts)
        for name in ("t_targets", "t_labels", "t_weights", "t_sources"):
            a = getattr(self, name)
            a[:len(positions)] = a[positions]
        self.seg_lo[segs], self.seg_hi[segs] = new_lo, new_lo + counts
        self.tail_used = self.tail_live = int(counts.sum())


def _elements(adj, name):
    """A memoryview of base array ``name`` of ``adj``: the one given when it is a
    memoryview (the mapped file), else of its NumPy array."""
    given = adj._given[name]
    return given if isinstance(given, memoryview) else memoryview(getattr(adj, name))


def both_ways(c):
    """The 'any' base of out-CSR ``c``: each node's out-edges, then its in-edges
    reversed. A reversed edge's source is stored as -1 - source, so removing an
    overlay edge never takes the reversed copy of a different edge."""
    e = csr_mod.edge_list(c)
    both = csr_mod.Edges(*(np.concatenate([a, b]) for a, b in zip(
        e, (e.dst, e.src, e.weights, e.labels, -1 - e.sources), strict=True)))
    return csr_mod.build(c.node_count, both)


def cut_base(c, cut_sources):
    """``c`` without the edges whose source is in ``cut_sources`` (a TRUNCATE)."""
    if not cut_sources:
        return c
    keep = ~np.isin(c.sources, np.fromiter(cut_sources, dtype=np.int32))
    e = csr_mod.edge_list(c)
    return csr_mod.build(c.node_count, csr_mod.Edges(*(getattr(e, f)[keep] for f in csr_mod.Edges._fields)))


def _packed(fields, columns):
    """The bytes key of each row of ``columns`` (arrays in the order of ``fields``:
    _NET_FIELDS or _EDGE_FIELDS), as NET or EDGE packs it: one record array, sliced;
    a few rows (FEW_KEYS) one by one, which costs less than the array's calls."""
    if len(columns[0]) <= FEW_KEYS:
        pack = (NET if fields is _NET_FIELDS else EDGE).pack
        return list(map(pack, *(column.tolist() for column in columns)))
    rec = np.empty(len(columns[0]), dtype=np.dtype(list(fields)))
    for (name, _), column in zip(fields, columns, strict=True):
        rec[name] = column
    raw, size = rec.tobytes(), rec.dtype.itemsize
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def net_columns(net):
    """(src, dst, weight key, label, source) arrays of the keys of ``net`` (an
    Overlay.net), in its order."""
    rec = np.frombuffer(b"".join(net), dtype=np.dtype(list(_NET_FIELDS)))
    return rec["s"], rec["d"], rec["w"], rec["l"], rec["e"]


def net_table(net):
    """(float64[h, 5] keys, int64[h] counts) of ``net`` (an Overlay.net): its keys'
    fields as the rows of one float64 array (node ids stay below 2**53, so exact),
    and their counts, in its order."""
    table = np.empty((len(net), 5), dtype=np.float64)
    for j, column in enumerate(net_columns(net)):
        table[:, j] = column
    return table, np.fromiter(net.values(), dtype=np.int64, count=len(net))


def _directed(direction, src, dst, weights, labels, sources, ops):
    """(nodes, EDGE keys, counts) of overlay rows (columns, ``ops`` a list) as the
    counts of ``direction`` hold them: 'out' src -> (dst, ...), 'in' dst -> (src,
    ...), 'any' both, each row's two in a row, the second's source -1 - source."""
    if direction == "out":
        u, t = src, dst
    elif direction == "in":
        u, t = dst, src
    else:
        u, t = np.stack([src, dst], axis=1).ravel(), np.stack([dst, src], axis=1).ravel()
        weights, labels = np.repeat(weights, 2), np.repeat(labels, 2)
        sources = np.stack([sources, -1 - sources], axis=1).ravel()
        ops = [op for op in ops for _ in (0, 1)]
    return u.tolist(), _packed(_EDGE_FIELDS, (t, weights, labels, sources)), ops


class Overlay:
    """The edge overlay folded incrementally into the adjacency of each direction.

    ``bases`` maps a direction ('out', 'in', 'any') to a callable returning that
    direction's base csr.Csr (cuts already applied); a direction is made the
    first time it is asked for. ``stats`` counts the adjacencies made from a base
    ('full') and the node edge lists relocated ('nodes')."""

    def __init__(self, bases, node_count):
        self.bases = bases
        self.node_count = node_count
        # NET key (src, dst, weight, label, source) -> net count, in first-seen order. Plain
        # dicts of bytes and numbers here and in ``entries``, which Python's cyclic garbage
        # collector never follows (see NET; a dict subclass it follows for ever: these were
        # one, and each full collection walked every node's counts)
        self.net = {}
        self.version = 0  # add() counts its calls: what was made from ``net`` is kept by it
        self._net_arrays = None  # (version, float64[h, 5] keys, int64[h] counts): net_arrays()
        self.adj = {}
        self.entries = {}  # direction -> {node: {EDGE key (other end, weight, label, source): count}}
        self.owned = {}  # direction -> nodes whose counts this overlay may change (copy on write; a node set)
        self.stats = {"full": 0, "nodes": 0}
        # rows add(later=True) folded into ``net`` but not yet into the counts of the
        # directions held (_catch_up), and how many
        self.behind = []
        self.behind_rows = 0
        # the directions some overlay of this one's line (it and its copies) made: shared
        # by copies, made here before this one is copied again (copy)
        self.wanted = set()

    def copy(self):
        """An independent copy: arrays copied, per-node counters shared until written.

        The directions a copy of this line made (``wanted``) are made here first: a
        backend copies the applied graph's overlay for each fold that cannot go onto
        its kept view, and each copy made the direction its read walks again from
        ``net`` -- every overlay edge since the base, a Python step each: some
        50-200 ms of such a read at tens of thousands of overlay rows. Made here once,
        they follow add() (later: when next asked for), and a copy copies their counts
        as a dictionary."""
        for direction in sorted(self.wanted.difference(self.adj)):
            self.adjacency(direction)
        self._catch_up()
        other = Overlay(self.bases, self.node_count)
        other.wanted = self.wanted
        other.net = dict(self.net)
        other.adj = {d: a.copy() for d, a in self.adj.items()}
        for d, a in other.adj.items():
            other._bind(d, a)
        other.entries = {d: dict(e) for d, e in self.entries.items()}
        other.owned = {d: {} for d in self.entries}
        self.owned = {d: {} for d in self.entries}  # shared now: copy before writing here too
        other.stats = self.stats
        return other

    def _bind(self, direction, a):
        """Let adjacency ``a`` of ``direction`` relocate its dirty nodes from this
        overlay's counts (a weak reference: the overlay holds the adjacency)."""
        me = weak_ref(self)
        a.fixer = lambda u: me()._relocate(direction, u)
        a.fix_many = lambda nodes: me()._relocate_many(direction, nodes)

    def grow(self, node_count):
        if node_count > self.node_count:
            self.node_count = node_count
            for a in self.adj.values():
                a.grow(node_count)

    def adjacency(self, direction):
        """The current Adjacency of ``direction``."""
        if self.behind:
            self._catch_up()
        a = self.adj.get(direction)
        if a is None:
            self.wanted.add(direction)
            a = Adjacency.of(self.bases[direction](), self.node_count)
            self.stats["full"] += 1
            entries = {}
            if self.net:
                nodes, keys, ops = _directed(direction, *net_columns(self.net), list(self.net.values()))
                for u, e, count in zip(nodes, keys, ops, strict=True):
                    counts = entries.get(u)
                    if counts is None:
                        counts = entries[u] = {}
                    counts[e] = counts.get(e, 0) + count
            self.adj[direction], self.entries[direction] = a, entries
            self.owned[direction] = dict.fromkeys(entries)
            self._bind(direction, a)
            a.dirty.update(self.owned[direction])
        return a

    def net_arrays(self):
        """(float64[h, 5] keys, int64[h] counts): the keys of ``net`` as rows of one
        float64 array (node ids stay below 2**53, so exact) and their counts, in
        ``net``'s order, made in one go (its fields flattened into fromiter), or the
        arrays made earlier with the rows add()ed since appended: a key may come more
        than once then, and the counts of each key add up to its count in ``net``, in
        order of first appearance (what reads/freshness.py's _net reads them for). An
        overlay a backend keeps follows every apply with add(): it no longer makes
        arrays of all its keys (some hundreds of thousands after a few bulk applies)
        at every fold. Made again from ``net`` when the rows appended outnumber its
        keys twice over."""
        kept = self._net_arrays
        if kept is not None and kept[0] == self.version:
            return kept[1], kept[2]
        table, counts = net_table(self.net)
        self._net_arrays = (self.version, table, counts)
        return table, counts

    def _append_net_arrays(self, before, ops, src, dst, weights, labels, sources):
        """Append the rows add() folds to net_arrays() made at version ``before``."""
        kept, self._net_arrays = self._net_arrays, None
        if kept is None or kept[0] != before or len(kept[1]) + len(ops) > 2 * len(self.net) + 4096:
            return
        rows = np.empty((len(ops), 5), dtype=np.float64)
        for j, column in enumerate((src, dst, None, labels, sources)):
            if column is not None:
                rows[:, j] = np.asarray(column, dtype=np.float64)
        rows[:, 2] = weights_mod.keys(weights) + 0.0  # weights_mod.key: NaN as +Infinity, -0.0 as 0.0
        self._net_arrays = (self.version, np.concatenate([kept[1], rows]),
                            np.concatenate([kept[2], np.asarray(ops, dtype=np.int64)]))

    def add(self, ops, src, dst, weights, labels, sources, later=False):
        """Fold overlay rows (ops +1/-1, in id order) into every kept direction: the
        counts now, the edge lists of the nodes changed when a read asks for them.
        ``later``: into ``net`` now, into the directions' counts when one is next
        asked for (adjacency) or this overlay is copied -- for the applied graph a
        backend follows after each apply (reads/view.py, Live.refresh), which its
        reads under writes seldom walk themselves: they walk folded copies of it.
        An Adjacency taken before such an add() is not up to date until then.

        The rows' keys are made column by column (NumPy: _packed), and each
        direction's counters are updated in one loop of its own (_catch_up): the same
        updates, in the same order per counter, as row by row."""
        before = self.version
        self.version += 1
        self._append_net_arrays(before, ops, src, dst, weights, labels, sources)
        if not len(ops):
            return
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        w = weights_mod.keys(weights) + 0.0  # weights_mod.key of each: -0.0 as 0.0
        lab = np.asarray(labels, dtype=np.int64)
        es = np.asarray(sources, dtype=np.int64)
        ops = np.asarray(ops, dtype=np.int64).tolist()
        net = self.net
        for key, op in zip(_packed(_NET_FIELDS, (s, d, w, lab, es)), ops, strict=True):
            net[key] = net.get(key, 0) + op
        if self.adj:
            self.behind.append((s, d, w, lab, es, ops))
            self.behind_rows += len(ops)
            if not later or self.behind_rows > MAX_BEHIND:
                self._catch_up()
        self.grow(max(self.node_count, int(s.max()) + 1, int(d.max()) + 1))

    def _catch_up(self):
        """Fold the rows add() left for later into the counts of every direction held,
        marking the nodes whose lists they change dirty."""
        behind, self.behind, self.behind_rows = self.behind, [], 0
        for rows in behind:
            for direction in self.adj:
                entries, owned = self.entries[direction], self.owned[direction]
                dirty = self.adj[direction].dirty
                for u, e, op in zip(*_directed(direction, *rows), strict=True):
                    if u in owned:
                        counts = entries[u]
                    else:
                        counts = entries[u] = dict(entries.get(u) or ())
                        owned[u] = None
                    counts[e] = counts.get(e, 0) + op
                    dirty[u] = None

    def _relocate(self, direction, u):
        """Recompute the edge list of ``u``: its base edges less the removed ones, then
        the added ones (see the module docstring). A list of at most SHORT_LIST base
        edges is recomputed as Python lists (most nodes: each NumPy call costs a read
        about a microsecond whatever its size, and an array way took some ten calls
        per removed edge); longer ones with arrays. Both give the same list."""
        a = self.adj[direction]
        entries = self.entries[direction].get(u, {})
        if u < a.base_nodes:
            lo, hi = int(a.offsets[u]), int(a.offsets[u + 1])
            if hi - lo <= SHORT_LIST:
                self._relocate_short(a, u, entries, lo, hi)
                return
            t, w = a.targets[lo:hi], a.weights[lo:hi]
            lab, es = a.labels[lo:hi], a.sources[lo:hi]
        else:
            t = np.zeros(0, dtype=np.int64)
            w, lab, es = np.zeros(0), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        keep = np.ones(len(t), dtype=bool)
        added, w_keys = [], None
        unpack = EDGE.unpack
        for key, count in entries.items():
            dst, weight, label, source = unpack(key)
            if count < 0 and len(t):
                if w_keys is None:
                    w_keys = weights_mod.keys(w)
                match = np.flatnonzero(keep & (t == dst) & (w_keys == weight) & (lab == label) & (es == source))
                keep[match[:-count]] = False
            elif count > 0:
                added.extend([(dst, weight, label, source)] * count)
        if added:
            more = list(zip(*added, strict=True))
            t = np.concatenate([t[keep], np.asarray(more[0], dtype=np.int64)])
            w = np.concatenate([w[keep], np.asarray(more[1], dtype=np.float64)])
            lab = np.concatenate([lab[keep], np.asarray(more[2], dtype=np.int32)])
            es = np.concatenate([es[keep], np.asarray(more[3], dtype=np.int32)])
        else:
            t, w, lab, es = t[keep], w[keep], lab[keep], es[keep]
        a.set_node(u, t, w, lab, es)
        self.stats["nodes"] += 1

    def _relocate_many(self, direction, nodes):
        """_relocate of each of ``nodes`` (distinct ints), in one go: their base edges
        gathered with one set of array operations, each node's entries matched over
        its own edges as lists (_match), the additions after each node's kept edges,
        and every list written to the tail at once (Adjacency.set_nodes). The same
        lists as node by node; a frontier of thousands of changed nodes (a deep
        traversal over a graph whose overlay changed many) pays for arrays a few
        times, not a few times per node. A node of more than SHORT_LIST base edges
        is relocated on its own, with arrays."""
        a = self.adj[direction]
        entries = self.entries[direction]
        u = np.asarray(nodes, dtype=np.int64)
        in_base = u < a.base_nodes
        at = np.where(in_base, u, 0)
        lo = np.where(in_base, a.offsets[at], 0)
        counts = np.where(in_base, a.offsets[np.minimum(at + 1, a.base_nodes)], 0) - lo  # (an empty base: no at + 1)
        long = counts > SHORT_LIST
        if long.any():
            for node in u[long].tolist():
                self._relocate(direction, node)
            u, lo, counts = u[~long], lo[~long], counts[~long]
            nodes = u.tolist()
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        pos = np.arange(total, dtype=np.int64) + np.repeat(lo - starts, counts)
        t, w, lab, es = a.targets[pos], a.weights[pos], a.labels[pos], a.sources[pos]
        lists = (t.tolist(), w.tolist(), lab.tolist(), es.tolist())
        keep = [True] * total
        added = []  # (node index, dst, weight, label, source)
        for i, (node, first, k) in enumerate(zip(nodes, starts.tolist(), counts.tolist(), strict=True)):
            ent = entries.get(node)
            if ent:
                _match(ent, lists, first, first + k, keep, added, i)
        owner = np.repeat(np.arange(len(nodes), dtype=np.int64), counts)
        if not all(keep):
            kept = np.array(keep, dtype=bool)
            owner, t, w, lab, es = owner[kept], t[kept], w[kept], lab[kept], es[kept]
        if added:
            more = list(zip(*added, strict=True))
            owner = np.concatenate([owner, np.asarray(more[0], dtype=np.int64)])
            t = np.concatenate([t, np.asarray(more[1], dtype=np.int64)])
            w = np.concatenate([w, np.asarray(more[2], dtype=np.float64)])
            lab = np.concatenate([lab, np.asarray(more[3], dtype=np.int32)])
            es = np.concatenate([es, np.asarray(more[4], dtype=np.int32)])
            order = np.argsort(owner, kind="stable")  # each node's kept base edges, then its additions
            owner, t, w, lab, es = owner[order], t[order], w[order], lab[order], es[order]
        a.set_nodes(u, np.bincount(owner, minlength=len(nodes)), t, w, lab, es)
        self.stats["nodes"] += len(nodes)

    def _relocate_short(self, a, u, entries, lo, hi):
        """_relocate of a node whose base list ``lo:hi`` is short, with lists (_match)."""
        lists = (a.targets[lo:hi].tolist(), a.weights[lo:hi].tolist(), a.labels[lo:hi].tolist(),
                 a.sources[lo:hi].tolist())
        keep = [True] * (hi - lo)
        added = []
        _match(entries, lists, 0, hi - lo, keep, added, None)
        t, w, lab, es = ([x for x, k in zip(c, keep, strict=True) if k] for c in lists) if not all(keep) else lists
        for _, dst, weight, label, source in added:
            t.append(dst)
            w.append(weight)
            lab.append(label)
            es.append(source)
        a.set_node(u, t, w, lab, es)
        self.stats["nodes"] += 1


def _match(entries, lists, first, end, keep, added, tag):
    """Apply one node's overlay ``entries`` ({EDGE key (dst, weight key, label,
    source): net count}) to its base edges, positions ``first:end`` of ``lists`` (targets,
    weights, labels, sources): a removal clears ``keep`` of the first matching edges
    still kept, in base order (a weight compared as weights_mod.key: NaN as
    +Infinity), as many as its count; an addition goes to ``added`` as (``tag``,
    dst, weight, label, source), as many times as its count, in entries' order."""
    t, w, lab, es = lists
    unpack = EDGE.unpack
    for key, count in entries.items():
        dst, weight, label, source = unpack(key)
        if count > 0:
            added.extend([(tag, dst, weight, label, source)] * count)
        elif count < 0:
            need = -count
            for j in range(first, end):
                if t[j] == dst and keep[j] and lab[j] == label and es[j] == source \
                        and (w[j] if w[j] == w[j] else _INF) == weight:
                    keep[j] = False
                    need -= 1
                    if not need:
                        break
