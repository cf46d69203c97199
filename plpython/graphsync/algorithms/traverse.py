"""Breadth-first and depth-first traversal over a graph held in CSR arrays.

Pure NumPy: no database access. Shared graph contract (all modules of this package):

* ``offsets`` int64[n + 1]: the edges of node ``u`` are positions ``offsets[u]:offsets[u + 1]``.
* ``targets`` int64[m]: target node id of each edge.
* ``labels`` int32[m]: label id of each edge (an index into the caller's list of labels).
* ``alive`` bool[n]: dead nodes, and every edge touching them, are treated as absent.

The caller picks the direction by passing the forward, the reversed, or the two-way CSR,
as arrays (``bfs``, ``dfs``) or as an ``adjacency.Adjacency`` (``bfs_over``, ``dfs_over``:
a base CSR with the edge lists of changed nodes replaced, see adjacency.py);
``bfs_lists`` gives ``bfs_over``'s answer as Python lists when every level is small (a
small traversal written out node by node need not make NumPy arrays).
Optional restrictions:

* ``edge_label_mask``: None or bool array indexed by label id (it must cover every label id
  used in ``labels``); only edges whose label is True are followed.
* ``node_mask``: None or bool[n]; only nodes that are True (and alive) may be entered.
  Seeds are exempt: an alive seed is always part of the result.
"""

from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.lazy_numpy import np
from graphsync.records import record


class Traversal(record("Traversal", (
        "nodes",  # np.ndarray: int64 node ids
        "depth",  # np.ndarray: int32 depth, 0 for seeds
        "parent",  # np.ndarray: int64 node the node was reached from, -1 for seeds
        "parent_label",  # np.ndarray: int32 label id of the edge it was reached by, -1 for seeds
        "capped",  # bool: True when max_nodes stopped the traversal before it was complete
))):
    """Result of :func:`bfs` / :func:`dfs`, one entry per visited node in visit order."""

    __slots__ = ()


def csr_arrays(offsets, targets, labels, edge_label_mask=None):
    """Return the CSR arguments as int64, int64, int32 arrays and the mask as bool (or None)."""
    if edge_label_mask is not None:
        edge_label_mask = np.asarray(edge_label_mask, dtype=bool)
    return (np.asarray(offsets, dtype=np.int64), np.asarray(targets, dtype=np.int64),
            np.asarray(labels, dtype=np.int32), edge_label_mask)


def enterable_nodes(alive, node_mask=None):
    """Return a fresh bool[n] array of the nodes a traversal may enter (alive and in node_mask)."""
    enterable = np.array(alive, dtype=bool, copy=True)
    if node_mask is not None:
        enterable &= np.asarray(node_mask, dtype=bool)
    return enterable


def check_node_ids(ids, n, what):
    """Return ``ids`` as an int64 array, raising ValueError if any id is outside 0..n-1."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{what} out of range 0..{n - 1}")
    return ids


def seed_nodes(seeds, alive):
    """Return the alive seeds, deduplicated, in first-given order (int64 array)."""
    if isinstance(seeds, list) and len(seeds) <= 8:  # the usual one seed: no NumPy call but one
        n = len(alive)
        for s in seeds:
            if not 0 <= s < n:
                raise ValueError(f"seed node id out of range 0..{n - 1}")
        return np.array(list(dict.fromkeys(s for s in seeds if alive[s])), dtype=np.int64)
    seeds = check_node_ids(seeds, len(alive), "seed node id")
    seeds = seeds[np.asarray(alive, dtype=bool)[seeds]]
    _, first = np.unique(seeds, return_index=True)
    return seeds[np.sort(first)]


def frontier_edges(offsets, frontier):
    """Return (source node, edge position) int64 arrays of every edge out of ``frontier``.

    Edges are listed frontier node by frontier node, each in CSR order.
    """
    starts = offsets[frontier]
    counts = offsets[frontier + 1] - starts
    block_start = np.cumsum(counts) - counts
    positions = np.arange(int(counts.sum()), dtype=np.int64)
    positions += np.repeat(starts - block_start, counts)
    return np.repeat(frontier, counts), positions


def expand_level(adj, frontier, enterable, edge_label_mask=None):
    """Return the nodes first reached from ``frontier`` through one allowed edge of
    ``adj`` (an Adjacency).

    ``enterable`` is bool[n]: only nodes True there may be reached (the caller clears the
    nodes it has already visited). Each new node appears once, in discovery order (frontier
    order, then edge-list order), with the node and edge label it was first reached by.
    Returns (nodes int64, parents int64, parent_labels int32).
    """
    return first_reached(*adj.frontier_edges(frontier), enterable, edge_label_mask)


def first_reached(sources, reached, labels, enterable, edge_label_mask=None):
    """:func:`expand_level` on the edges ``adj.frontier_edges`` gathered."""
    keep = enterable[reached]
    if edge_label_mask is not None:
        keep &= edge_label_mask[labels]
    reached, sources, labels = reached[keep], sources[keep], labels[keep]
    first = first_occurrences(reached, len(enterable))
    return reached[first], sources[first], labels[first].astype(np.int32)


# Arrays over every node id cost a read more than their size suggests: a new
# array's pages are faulted in one by one as they are first written (some
# microseconds each on a loaded machine, thousands a call at 200k nodes). While
# fewer than one value per SPARSE_SHARE node ids is involved, the steps below
# work on arrays of the values only (a sort, a binary search), not over every node.
SPARSE_SHARE = 16

# bfs_over keeps the nodes it visited as a sorted array while fewer than one node
# id in MASK_SHARE is visited or reached, then as a mask over every node id
# (enterable_nodes: one bool a node, written once). The sorted array costs each
# level a sort of what it reached (np.unique) and a merge (an argsort, binary
# searches): at 200k nodes, a depth-6 traversal's levels of some 600-3,000 new
# nodes spent about 1 ms of 7 there, more than the mask's 200 kB cost to fault in
# and clear. Measured in the server, 200k nodes / 1M edges: MASK_SHARE 64 (the mask
# from about 3,000 nodes on) 1.09-1.19x faster at depth 6 than 16 (the share
# SPARSE_SHARE set for both until then), 256 no faster than 64; depth 2 and 3
# (their levels walked in Python) unchanged.
MASK_SHARE = 64


def first_occurrences(values, n):
    """Positions of the first occurrence of each distinct value of ``values`` (ints in
    0..n-1), in order. Linear: each value's slot over every node id gets the positions
    written last to first, so the first position is the one that stays -- in the slots
    of node_slots, kept from call to call, so no array over every node id is made.
    Few values and no slots kept yet: sorted (np.unique's first index of each)."""
    if len(values) * SPARSE_SHARE < n and _slots_held() < n:
        _, first = np.unique(values, return_index=True)
        first.sort()
        return first
    order = np.arange(len(values))
    slot = node_slots(n)
    slot[values[::-1]] = order[::-1]
    return order[slot[values] == order]


# The slots first_occurrences (and reads.api's parent rows) write over every node id:
# kept, so that each call writes and reads only the slots of its values, where an array
# made anew cost a depth-6 traversal of 16,000 nodes, 200k nodes, some 0.6 ms of its
# 10 in first_occurrences alone (the pages of 1.6 MB faulted in, or np.unique's sort of
# a level). A slot is always written before it is read within a call: what a slot held
# from an earlier call (another traversal, another graph size) is never read. 4 bytes a
# node id (a position among a call's values: below 2 ** 31), held by a backend once one
# of its reads reached one value per SPARSE_SHARE node ids, counted in the backend's
# cache (graph.status().cache_bytes): some 0.8 MB at 200k nodes, beside the 12 bytes a
# node and the key texts its key cache holds by then (reads/nodes.py). (Made on first
# use: importing this module imports no NumPy, lazy_numpy.)
_SLOTS = {"slots": None}


def _slots_held():
    """How many node ids the kept slots cover (0: none kept yet)."""
    slots = _SLOTS["slots"]
    return 0 if slots is None else len(slots)


def node_slots(n):
    """An int32 array of ``n`` slots of undefined content, kept from call to call (see
    _SLOTS): a caller writes each slot it reads first, and holds it only until it
    calls again."""
    if _SLOTS["slots"] is None or _slots_held() < n:
        _SLOTS["slots"] = np.empty(n, dtype=np.int32)
    return _SLOTS["slots"][:n]


def held_slots():
    """The slots node_slots keeps (None: none yet), for the backend's cache size
    (sync/base.py, cache_nbytes)."""
    return _SLOTS["slots"]


def member(sorted_ids, values):
    """bool per value of ``values``: whether it is in ``sorted_ids`` (sorted int64)."""
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_ids, values)
    np.minimum(at, len(sorted_ids) - 1, out=at)
    return sorted_ids[at] == values


def merge_sorted(sorted_ids, values, *columns):
    """``sorted_ids`` with the distinct ``values`` (none of them in it) merged in, in
    order, and each (old column, value for the new) of ``columns`` merged alike:
    O(len) copying, no sort of what is held. Returns (ids, *merged columns)."""
    new_order = np.argsort(values, kind="stable")
    new = values[new_order]
    at = np.searchsorted(sorted_ids, new) + np.arange(len(new))
    old = np.ones(len(sorted_ids) + len(new), dtype=bool)
    old[at] = False
    ids = np.empty(len(old), dtype=np.int64)
    ids[at], ids[old] = new, sorted_ids
    out = [ids]
    for held, added in columns:
        c = np.empty(len(old), dtype=held.dtype)
        c[old] = held
        c[at] = added[new_order] if np.ndim(added) else added
        out.append(c)
    return tuple(out)


def check_limits(max_depth, max_nodes):
    """Raise ValueError unless max_depth >= 0 and max_nodes >= 1."""
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0")
    if max_nodes < 1:
        raise ValueError("max_nodes must be >= 1")


def bfs(offsets, targets, labels, alive, seeds, max_depth, max_nodes,
        edge_label_mask=None, node_mask=None):
    """:func:`bfs_over` on the CSR arrays (offsets, targets, labels)."""
    offsets, targets, labels, edge_label_mask = csr_arrays(offsets, targets, labels, edge_label_mask)
    return bfs_over(Adjacency(offsets, targets, labels), alive, seeds, max_depth, max_nodes,
                    edge_label_mask, node_mask)


# While a level's frontier has at most this many edges, the traversal walks it in
# Python, edge by edge, with a set of the nodes visited so far; from the first
# larger level on, by whole-array NumPy operations (first_reached) on a mask of the
# nodes still enterable, made (O(n)) then. A NumPy call costs about a microsecond
# whatever its size and a level takes some fifteen, so for the few edges of a
# small traversal Python is several times faster; both give the same answer.
SMALL_LEVEL = 128


class _Levels(record("_Levels", (
        "nodes",  # list
        "parents",  # list
        "labels",  # list
        "sizes",  # list: nodes per depth, seeds first
        "visited",  # set
        "frontier",  # list: the last level
        "budget",  # int: nodes max_nodes still allows
        "depth",  # int
        "capped",  # bool
))):
    """The levels a traversal walked in Python (see bfs_levels)."""

    __slots__ = ()

    @property
    def done(self):
        """Whether the traversal is complete (else its next level is a large one)."""
        return not self.frontier or self.capped


def bfs_levels(adj, alive, seeds, max_depth, max_nodes, edge_label_mask=None, node_mask=None,
               small_level=SMALL_LEVEL):
    """The levels of a breadth-first traversal as long as each has at most
    ``small_level`` edges, walked edge by edge in Python lists (see SMALL_LEVEL):
    lists_of gives the answer of a small traversal, and bfs_over (``levels``) goes
    on from them with NumPy, where walking them again cost a traversal with a large
    level about a tenth of its time at depth 3."""
    check_limits(max_depth, max_nodes)
    # Python reads an element through a memoryview several times faster than through
    # NumPy's indexing (which makes a NumPy scalar).
    alive_at = memoryview(alive)
    if isinstance(seeds, list) and len(seeds) <= 8:  # the usual one seed: no NumPy call
        n = len(alive)
        for s in seeds:
            if not 0 <= s < n:
                raise ValueError(f"seed node id out of range 0..{n - 1}")
        frontier = list(dict.fromkeys(s for s in seeds if alive_at[s]))
    else:
        frontier = seed_nodes(seeds, alive).tolist()
    capped = len(frontier) > max_nodes
    frontier = frontier[:max_nodes]
    nodes, parents, labels, sizes = list(frontier), [-1] * len(frontier), [-1] * len(frontier), [len(frontier)]
    visited = set(frontier)
    budget = max_nodes - len(frontier)
    depth = 0
    node_ok = None if node_mask is None else memoryview(node_mask)
    label_ok = None if edge_label_mask is None else memoryview(edge_label_mask)
    while depth < max_depth and frontier and not capped:
        lists = adj.edge_lists(frontier, small_level) if len(frontier) <= small_level else None
        if lists is None:
            break  # a large level: NumPy from here on
        # The level's nodes, their parents and labels, appended to as found (no
        # tuple per node to take apart after); without masks, a loop that tests
        # only what is visited and alive, chosen once a level (most reads: a small
        # walk's time is its inner loop's).
        found, found_parents, found_labels = [], [], []
        add, put, put_parent, put_label = visited.add, found.append, found_parents.append, found_labels.append
        if node_ok is None and label_ok is None:
            for u, (targets, edge_labels) in zip(frontier, lists, strict=True):
                for v, label in zip(targets, edge_labels, strict=True):
                    if v in visited or not alive_at[v]:
                        continue
                    add(v)
                    put(v)
                    put_parent(u)
                    put_label(label)
        else:
            for u, (targets, edge_labels) in zip(frontier, lists, strict=True):
                for v, label in zip(targets, edge_labels, strict=True):
                    if (v in visited or not alive_at[v] or (node_ok is not None and not node_ok[v])
                            or (label_ok is not None and not label_ok[label])):
                        continue
                    add(v)
                    put(v)
                    put_parent(u)
                    put_label(label)
        if len(found) > budget:
            capped = True
            del found[budget:], found_parents[budget:], found_labels[budget:]
        budget -= len(found)
        frontier = found
        nodes += found
        parents += found_parents
        labels += found_labels
        sizes.append(len(found))
        depth += 1
    if depth >= max_depth:
        frontier = []
    return _Levels(nodes, parents, labels, sizes, visited, frontier, budget, depth, capped)


def _masks(alive, edge_label_mask, node_mask):
    return (np.asarray(alive, dtype=bool), None if edge_label_mask is None else np.asarray(edge_label_mask, dtype=bool),
            None if node_mask is None else np.asarray(node_mask, dtype=bool))


def bfs_lists(adj, alive, seeds, max_depth, max_nodes, edge_label_mask=None, node_mask=None,
              small_level=SMALL_LEVEL):
    """bfs_over's answer as Python lists (nodes, depths, parents, parent labels,
    capped) when every level has at most ``small_level`` edges; None otherwise
    (run bfs_over). For a small traversal, whose answer is then written out node
    by node: no NumPy call, where making and reading back bfs_over's four arrays
    takes some ten. The masks are read element by element through memoryviews: any
    buffer of bools will do (the mapped base file's alive flags: no NumPy at all)."""
    return lists_of(bfs_levels(adj, alive, seeds, max_depth, max_nodes, edge_label_mask, node_mask, small_level))


def lists_of(levels):
    """bfs_lists' answer of bfs_levels' ``levels``: None when a level was too large
    to walk in Python (then bfs_over, given them)."""
    if not levels.done:
        return None
    depths = []
    for d, size in enumerate(levels.sizes):
        depths += [d] * size  # (a list a level: a comprehension steps node by node)
    return levels.nodes, depths, levels.parents, levels.labels, bool(levels.capped)


def bfs_over(adj, alive, seeds, max_depth, max_nodes, edge_label_mask=None, node_mask=None,
             small_level=SMALL_LEVEL, levels=None):
    """Breadth-first traversal of ``adj`` from ``seeds``, one depth level at a time.

    Dead seeds are dropped and duplicates removed; the others are depth 0. Each reachable
    node within ``max_depth`` edges appears once, at its minimal depth, in BFS order. At most
    ``max_nodes`` nodes (seeds included) are returned; ``capped`` tells whether more nodes
    were reachable within ``max_depth``. Raises ValueError for a seed id outside 0..n-1,
    max_depth < 0 or max_nodes < 1. Returns a :class:`Traversal`. ``small_level``: see
    SMALL_LEVEL (the answer does not depend on it). ``levels``: bfs_levels' answer for
    the same arguments (the same values in ``alive`` and the masks), not walked again.
    """
    alive, edge_label_mask, node_mask = _masks(alive, edge_label_mask, node_mask)
    lv = levels
    if lv is None:
        lv = bfs_levels(adj, alive, seeds, max_depth, max_nodes, edge_label_mask, node_mask, small_level)
    nodes, parents, labels, sizes, visited = lv.nodes, lv.parents, lv.labels, list(lv.sizes), lv.visited
    frontier, budget, depth, capped = lv.frontier, lv.budget, lv.depth, lv.capped
    levels = [(np.array(nodes, dtype=np.int64), np.array(parents, dtype=np.int64),
               np.array(labels, dtype=np.int32))]
    if depth < max_depth and frontier and not capped:
        # NumPy from here on. While the nodes visited are few (MASK_SHARE), they are
        # kept as a sorted array (membership by binary search); then as a mask of the
        # nodes still enterable, over every node id.
        n = len(alive)
        seen = np.sort(np.fromiter(visited, dtype=np.int64, count=len(visited)))
        enterable = None
        frontier = np.array(frontier, dtype=np.int64)
        while depth < max_depth and len(frontier) and not capped:
            sources, reached, edge_labels = adj.frontier_edges(frontier)
            if enterable is None and (len(seen) + len(reached)) * MASK_SHARE >= n:
                enterable = enterable_nodes(alive, node_mask)
                enterable[seen] = False
            if enterable is not None:
                level = first_reached(sources, reached, edge_labels, enterable, edge_label_mask)
            else:
                keep = alive[reached] & ~member(seen, reached)
                if node_mask is not None:
                    keep &= node_mask[reached]
                if edge_label_mask is not None:
                    keep &= edge_label_mask[edge_labels]
                reached, sources, edge_labels = reached[keep], sources[keep], edge_labels[keep]
                first = first_occurrences(reached, n)
                level = reached[first], sources[first], edge_labels[first].astype(np.int32)
            if len(level[0]) > budget:
                capped = True
                level = tuple(a[:budget] for a in level)
            if enterable is not None:
                enterable[level[0]] = False
            else:
                seen = merge_sorted(seen, level[0])[0]
            budget -= len(level[0])
            levels.append(level)
            sizes.append(len(level[0]))
            frontier = level[0]
            depth += 1
    return Traversal(
        nodes=np.concatenate([level[0] for level in levels]) if len(levels) > 1 else levels[0][0],
        depth=np.repeat(np.arange(len(sizes), dtype=np.int32), sizes),
        parent=np.concatenate([level[1] for level in levels]) if len(levels) > 1 else levels[0][1],
        parent_label=np.concatenate([level[2] for level in levels]) if len(levels) > 1 else levels[0][2],
        capped=bool(capped),
    )


def allowed_out_edges(adj, node, enterable, edge_label_mask):
    """Return (targets, labels) as Python lists of the allowed edges out of ``node``, in order."""
    _, out, out_labels = adj.frontier_edges(np.array([node], dtype=np.int64))
    keep = enterable[out]
    if edge_label_mask is not None:
        keep &= edge_label_mask[out_labels]
    return out[keep].tolist(), out_labels[keep].tolist()


def dfs(offsets, targets, labels, alive, seeds, max_depth, max_nodes,
        edge_label_mask=None, node_mask=None):
    """:func:`dfs_over` on the CSR arrays (offsets, targets, labels)."""
    offsets, targets, labels, edge_label_mask = csr_arrays(offsets, targets, labels, edge_label_mask)
    return dfs_over(Adjacency(offsets, targets, labels), alive, seeds, max_depth, max_nodes,
                    edge_label_mask, node_mask)


def dfs_over(adj, alive, seeds, max_depth, max_nodes, edge_label_mask=None, node_mask=None):
    """Depth-first traversal of ``adj`` from ``seeds`` (preorder), as :func:`bfs_over`.

    Seeds (alive, deduplicated) are the roots, explored one after the other in the given
    order; a seed is never entered from another seed. Edges are tried in CSR order and a
    node is visited the first time the search reaches it; its depth is its depth in the DFS
    tree, and nodes at depth ``max_depth`` are not expanded. So a node reachable within
    ``max_depth`` may be missed when the search first reaches it along a longer path.
    ``capped`` is True when max_nodes stopped the search while another node was still to be
    visited. Returns a :class:`Traversal`.
    """
    check_limits(max_depth, max_nodes)
    if edge_label_mask is not None:
        edge_label_mask = np.asarray(edge_label_mask, dtype=bool)
    roots = seed_nodes(seeds, alive).tolist()
    enterable = enterable_nodes(alive, node_mask)
    enterable[roots] = False
    visited = set(roots)
    order, depths, parents, parent_labels = [], [], [], []
    capped = False

    def visit(node, depth, parent, label):
        order.append(node)
        depths.append(depth)
        parents.append(parent)
        parent_labels.append(label)

    for root in roots:
        if len(order) == max_nodes:
            capped = True
            break
        visit(root, 0, -1, -1)
        stack = []
        if max_depth > 0:
            stack.append([root, 0, *allowed_out_edges(adj, root, enterable, edge_label_mask)])
        while stack and not capped:
            frame = stack[-1]
            node, cursor, out, out_labels = frame
            while cursor < len(out) and out[cursor] in visited:
                cursor += 1
            if cursor == len(out):
                stack.pop()
                continue
            frame[1] = cursor + 1
            if len(order) == max_nodes:
                capped = True
                break
            child, depth = out[cursor], len(stack)
            visited.add(child)
            visit(child, depth, node, out_labels[cursor])
            if depth < max_depth:
                stack.append([child, 0, *allowed_out_edges(adj, child, enterable, edge_label_mask)])
        if capped:
            break
    return Traversal(
        nodes=np.array(order, dtype=np.int64),
        depth=np.array(depths, dtype=np.int32),
        parent=np.array(parents, dtype=np.int64),
        parent_label=np.array(parent_labels, dtype=np.int32),
        capped=capped,
    )
