"""Weakly connected components of a graph held in CSR arrays.

Pure NumPy/SciPy: no database access. The CSR contract is the one described in
:mod:`graphsync.traverse`.
"""

from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from graphsync.algorithms.lazy_numpy import np


def connected_components(offsets, targets, alive):
    """Label each node with its weakly connected component (edge direction ignored).

    Dead nodes and their edges are ignored; dead nodes get -1. Components are numbered
    0..k-1 in the order of the smallest alive node id they contain, so the labelling is
    deterministic. Returns an int64 array of length n.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    alive = np.asarray(alive, dtype=bool)
    n = len(offsets) - 1
    result = np.full(n, -1, dtype=np.int64)
    if not alive.any():
        return result
    sources = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    keep = alive[sources] & alive[targets]
    graph = csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (sources[keep], targets[keep])), shape=(n, n))
    count, raw = scipy_components(graph, directed=True, connection="weak")
    raw = raw[alive]
    _, first = np.unique(raw, return_index=True)
    renumber = np.full(count, -1, dtype=np.int64)
    renumber[raw[np.sort(first)]] = np.arange(len(first))
    result[alive] = renumber[raw]
    return result


def component_stats(component_labels):
    """Return (component ids, sizes), both int64, largest component first, ties by id.

    Labels below 0 (dead nodes) are not counted.
    """
    component_labels = np.asarray(component_labels, dtype=np.int64)
    ids, sizes = np.unique(component_labels[component_labels >= 0], return_counts=True)
    order = np.lexsort((ids, -sizes))
    return ids[order], sizes[order].astype(np.int64)
