"""Unweighted and weighted shortest paths over a graph held in CSR arrays.

Pure NumPy/SciPy: no database access. The CSR contract (offsets, targets, weights, labels,
alive, edge_label_mask) is the one described in :mod:`graphsync.traverse`.
"""

from __future__ import annotations

from typing import NamedTuple

from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, dijkstra

from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.bibfs import Path
from graphsync.algorithms.lazy_numpy import np
from graphsync.algorithms.traverse import (
    bfs,
    check_node_ids,
    csr_arrays,
    enterable_nodes,
    expand_level,
)


class NegativeWeight(ValueError):
    """An edge the search could use has a negative weight: the edge ``tail`` -> ``head``
    (node ids) of weight ``weight``, reachable from node ``source``."""

    def __init__(self, weight, tail, head, source):
        super().__init__(f"negative edge weight {weight} on an edge reachable from node {source}")
        self.weight, self.tail, self.head, self.source = weight, tail, head, source


class CostOutOfRange(ValueError):
    """Node ``target`` is reachable from node ``source`` over edges of finite weight,
    but the cheapest such path costs more than a float64 holds: its weights sum past
    the largest double, to +inf, which any other such sum would equal."""

    def __init__(self, source, target):
        super().__init__(f"the cheapest path from node {source} to node {target} costs more than float64 holds")
        self.source, self.target = source, target


def reaches(sources, targets, n, src, dst):
    """Whether node ``dst`` is reachable from ``src`` over the edges
    ``sources[i] -> targets[i]`` of a graph of ``n`` nodes. For the rare read whose
    Dijkstra found no finite cost: was that overflow, or is ``dst`` out of reach?"""
    graph = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(n, n))
    return bool((breadth_first_order(graph, src, directed=True, return_predecessors=False) == dst).any())


class WeightedPath(NamedTuple):
    """A cheapest path with the weight and label id of each step and its total cost."""

    nodes: np.ndarray  # int64, src first, dst last
    step_weights: np.ndarray  # float64, one per step
    step_labels: np.ndarray  # int32, one per step
    total_cost: float


def walk_back(parent, parent_label, dst):
    """Return (nodes, labels) of the tree path ending at ``dst`` (parent -1 marks the root)."""
    nodes, labels = [int(dst)], []
    while parent[nodes[-1]] != -1:
        labels.append(int(parent_label[nodes[-1]]))
        nodes.append(int(parent[nodes[-1]]))
    return np.array(nodes[::-1], dtype=np.int64), np.array(labels[::-1], dtype=np.int32)


def shortest_path(offsets, targets, labels, alive, src, dst, max_depth, edge_label_mask=None):
    """Fewest-edges path from ``src`` to ``dst`` using at most ``max_depth`` edges.

    Level-by-level BFS from ``src`` that stops as soon as ``dst`` is reached. Among equally
    short paths the one found first in BFS order (CSR edge order) is returned. Returns a
    :class:`Path` (``src == dst`` alive gives a one-node path with no steps), or None when
    either end is dead or ``dst`` is not reachable within ``max_depth`` edges. Raises
    ValueError for a node id outside 0..n-1.
    """
    offsets, targets, labels, edge_label_mask = csr_arrays(
        offsets, targets, labels, edge_label_mask)
    n = len(offsets) - 1
    adj = Adjacency(offsets, targets, labels)
    src, dst = check_node_ids([src, dst], n, "node id").tolist()
    enterable = enterable_nodes(alive)
    if not (enterable[src] and enterable[dst]):
        return None
    if src == dst:
        return Path(np.array([src], dtype=np.int64), np.empty(0, dtype=np.int32))
    parent = np.full(n, -1, dtype=np.int64)
    parent_label = np.full(n, -1, dtype=np.int32)
    enterable[src] = False
    frontier = np.array([src], dtype=np.int64)
    for _ in range(max_depth):
        nodes, parents, step_labels = expand_level(adj, frontier, enterable, edge_label_mask)
        if not len(nodes):
            return None
        parent[nodes], parent_label[nodes] = parents, step_labels
        enterable[nodes] = False
        if not enterable[dst]:
            return Path(*walk_back(parent, parent_label, dst))
        frontier = nodes
    return None


def allowed_edge_positions(offsets, targets, labels, alive, edge_label_mask=None):
    """Return (sources, positions) int64 arrays of the edges with both ends alive and an
    allowed label, in CSR order."""
    sources = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    keep = alive[sources] & alive[targets]
    if edge_label_mask is not None:
        keep &= edge_label_mask[labels]
    positions = np.flatnonzero(keep)
    return sources[positions], positions


def cheapest_parallel_edges(sources, targets, weights, n):
    """Return the indices, into the given edge arrays, of the cheapest edge of each
    (source, target) pair over nodes 0..n-1, self loops dropped, sorted by (source, target).

    Among equally cheap parallel edges the one given first wins.
    """
    order = np.flatnonzero(sources != targets)
    pair_key = sources[order] * n + targets[order]
    by_pair = np.argsort(pair_key, kind="stable")
    order, pair_key = order[by_pair], pair_key[by_pair]
    if not len(order):
        return order
    new_pair = np.ones(len(order), dtype=bool)
    new_pair[1:] = pair_key[1:] != pair_key[:-1]
    pair = np.cumsum(new_pair) - 1
    cheapest = np.minimum.reduceat(weights[order], np.flatnonzero(new_pair))
    candidates = np.flatnonzero(weights[order] == cheapest[pair])
    first = np.ones(len(candidates), dtype=bool)
    first[1:] = pair[candidates[1:]] != pair[candidates[:-1]]
    return order[candidates[first]]


def usable_weights(weights):
    """bool[] of the weights a cheapest path can use: finite and >= 0 (not NaN,
    negative or +-inf)."""
    weights = np.asarray(weights, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(weights) & (weights >= 0)


def weighted_shortest_path(offsets, targets, weights, labels, alive, src, dst,
                           edge_label_mask=None, skip_invalid=False):
    """Cheapest path from ``src`` to ``dst`` by summed edge weight (Dijkstra, SciPy).

    Parallel edges count with their smallest weight (and that edge's label); self loops are
    ignored; zero weights are valid; an edge of weight +inf is never used. Weights must be
    non-negative on every edge the search could use, i.e. every allowed edge (both ends
    alive, label allowed) leaving a node reachable from ``src``: otherwise
    :class:`NegativeWeight` (a ValueError, "negative edge weight ...") is raised. A negative weight elsewhere in the
    graph is not an error. With ``skip_invalid`` an edge whose weight is not usable
    (:func:`usable_weights`: negative, NaN, +-inf) is no edge at all: the answer is the
    cheapest path over the other edges, and nothing is raised for it.

    Returns a :class:`WeightedPath` (``src == dst`` alive gives a one-node path of cost 0),
    or None when either end is dead or ``dst`` is unreachable over edges of finite weight.
    Raises :class:`CostOutOfRange` when it is reachable so but every such path costs more
    than a float64 holds, and ValueError for a node id outside 0..n-1.
    """
    offsets, targets, labels, edge_label_mask = csr_arrays(
        offsets, targets, labels, edge_label_mask)
    weights = np.asarray(weights, dtype=np.float64)
    alive = np.asarray(alive, dtype=bool)
    n = len(offsets) - 1
    src, dst = check_node_ids([src, dst], n, "node id").tolist()
    if not (alive[src] and alive[dst]):
        return None
    reachable = np.zeros(n, dtype=bool)
    reachable[bfs(offsets, targets, labels, alive, [src], n, n, edge_label_mask).nodes] = True
    sources, positions = allowed_edge_positions(offsets, targets, labels, alive, edge_label_mask)
    if skip_invalid:
        usable = usable_weights(weights[positions])
        sources, positions = sources[usable], positions[usable]
    used = reachable[sources]
    sources, positions = sources[used], positions[used]
    negative = weights[positions] < 0
    if negative.any():
        at = np.argmax(negative)
        edge = positions[at]
        raise NegativeWeight(float(weights[edge]), int(sources[at]), int(targets[edge]), src)
    if not reachable[dst]:
        return None
    best = cheapest_parallel_edges(sources, targets[positions], weights[positions], n)
    sources, positions = sources[best], positions[best]
    # Built from (data, indices, indptr), explicit zero weights stay stored and csgraph
    # treats them as edges of weight 0 (SciPy 1.10 and later).
    graph = csr_matrix(
        (weights[positions], targets[positions],
         np.concatenate([[0], np.cumsum(np.bincount(sources, minlength=n))])),
        shape=(n, n))
    cost, predecessors = dijkstra(graph, directed=True, indices=src, return_predecessors=True)
    if not np.isfinite(cost[dst]):
        finite = np.isfinite(weights[positions])
        if reaches(sources[finite], targets[positions][finite], n, src, dst):
            raise CostOutOfRange(src, dst)
        return None
    nodes = [dst]
    while nodes[-1] != src:
        nodes.append(int(predecessors[nodes[-1]]))
    nodes = np.array(nodes[::-1], dtype=np.int64)
    steps = positions[np.searchsorted(sources * n + targets[positions], nodes[:-1] * n + nodes[1:])]
    return WeightedPath(nodes, weights[steps], labels[steps], float(weights[steps].sum()))
