"""Cheapest paths by two Dijkstra searches that meet in the middle.

paths.weighted_shortest_path runs one full single-source Dijkstra per call and
rebuilds its SciPy matrix each time: on 1M edges that is a few hundred ms. A
read instead prepares the matrix of the allowed edges once per view (prepare())
and answers each pair with two searches bounded by ``limit`` (SciPy's
dijkstra), one from the source forwards and one from the target backwards:

If the cheapest path costs C <= 2L, its edge (u, v) where the forward distance
crosses C/2 has d_s(u) <= L and d_t(v) < L, so min over edges of
d_s(u) + w(u, v) + d_t(v), taken over the explored balls, finds C. If that
minimum mu is finite it is the cost of a real path, so C <= mu: one more round
with L = mu / 2 is exact. Otherwise L doubles, until the forward search has
explored everything the source reaches (then dst is unreachable).

Sums past float64's largest value are +inf, which SciPy's dijkstra takes for
"not reached": a node reachable only at such a cost looks unreachable, and two
such costs compare equal. So a cost or mu counts only when finite; when the
search with no limit still leaves edges unexplored, the sums to their heads
overflowed, and one breadth-first search decides between CostOutOfRange (dst
is among them) and None. The check costs a read nothing until then.

Same contract as paths.weighted_shortest_path (parallel edges count with their
cheapest weight, self loops ignored, +inf weights never used) for graphs
without negative weights; prepare() records whether any allowed edge is
negative, and the caller then falls back to paths.weighted_shortest_path,
which raises only for a negative edge the search could use. prepare(skip_invalid=True)
leaves negative edges out as well (a read's invalid_weights => 'skip'): no fallback.
"""

from __future__ import annotations

from typing import NamedTuple

from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from graphsync.algorithms.lazy_numpy import np
from graphsync.algorithms.paths import (
    CostOutOfRange,
    WeightedPath,
    allowed_edge_positions,
    cheapest_parallel_edges,
    reaches,
    usable_weights,
)


class Prepared(NamedTuple):
    forward: csr_matrix
    backward: csr_matrix
    sources: np.ndarray  # per kept edge, sorted by (source, target)
    targets: np.ndarray
    positions: np.ndarray  # the edge's position in the CSR it came from
    has_negative: bool
    start_limit: float


def prepare(offsets, targets, weights, labels, alive, edge_label_mask=None, skip_invalid=False):
    """The matrices of the cheapest allowed edge of each (source, target) pair. With
    ``skip_invalid`` a negative edge is left out like an infinite one (and
    has_negative is False): paths.weighted_shortest_path's ``skip_invalid``."""
    n = len(offsets) - 1
    weights = np.asarray(weights, dtype=np.float64)
    sources, positions = allowed_edge_positions(offsets, targets, labels, alive, edge_label_mask)
    if skip_invalid:
        kept = usable_weights(weights[positions])
        has_negative = False
    else:
        has_negative = bool((weights[positions] < 0).any())
        kept = np.isfinite(weights[positions])
    sources, positions = sources[kept], positions[kept]
    best = cheapest_parallel_edges(sources, targets[positions], weights[positions], n)
    sources, positions = sources[best], positions[best]
    ends, w = targets[positions], weights[positions]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(sources, minlength=n))])
    forward = csr_matrix((w, ends, indptr), shape=(n, n))
    backward = forward.T.tocsr()
    positive = w[w > 0]
    with np.errstate(over="ignore"):  # weights near float64's top: an unlimited first search
        start = float(np.median(positive)) * 4 if len(positive) else 1.0
    return Prepared(forward, backward, sources, ends, positions, has_negative, start)


def _walk(predecessors, start, stop):
    nodes = [stop]
    while nodes[-1] != start:
        nodes.append(int(predecessors[nodes[-1]]))
    return nodes


def shortest(p, weights, labels, src, dst):
    """The cheapest path from ``src`` to ``dst`` (a paths.WeightedPath) or None; the
    ends must be alive (the caller checks) and p.has_negative False. Raises
    paths.CostOutOfRange when ``dst`` is reachable but only at a cost past float64."""
    if src == dst:
        return WeightedPath(np.array([src], dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int32), 0.0)
    limit = p.start_limit
    while True:
        ds, pred_s = dijkstra(p.forward, indices=src, limit=limit, return_predecessors=True)
        dt, pred_t = dijkstra(p.backward, indices=dst, limit=limit, return_predecessors=True)
        reached_s = np.isfinite(ds)
        edge_ok = reached_s[p.sources] & np.isfinite(dt[p.targets])
        if edge_ok.any():
            cand = np.flatnonzero(edge_ok)
            with np.errstate(over="ignore"):  # a sum past float64 is inf: no candidate
                total = ds[p.sources[cand]] + p.forward.data[cand] + dt[p.targets[cand]]
            best = int(cand[np.argmin(total)])
            mu = float(total.min())
        else:
            mu = np.inf
        if ds[dst] <= mu and ds[dst] <= 2 * limit and ds[dst] < np.inf:
            nodes = _walk(pred_s, src, dst)[::-1]
            break
        if mu <= 2 * limit and mu < np.inf:
            u, v = int(p.sources[best]), int(p.targets[best])
            nodes = _walk(pred_s, src, u)[::-1] + _walk(pred_t, dst, v)
            break
        if mu < np.inf:
            limit = mu / 2
            continue
        leaving = reached_s[p.sources]
        if not (leaving & ~reached_s[p.targets]).any():
            return None  # the forward search explored all the source reaches
        if limit == np.inf:  # it explored all it reaches below float64's top: the rest overflowed
            if reaches(p.sources, p.targets, len(ds), src, dst):
                raise CostOutOfRange(src, dst)
            return None
        limit *= 2
    nodes = np.array(nodes, dtype=np.int64)
    key = p.sources * len(ds) + p.targets
    steps = p.positions[np.searchsorted(key, nodes[:-1] * len(ds) + nodes[1:])]
    w = np.asarray(weights, dtype=np.float64)[steps]
    return WeightedPath(nodes, w, np.asarray(labels, dtype=np.int32)[steps], float(w.sum()))
