"""The edges among a set of nodes (the induced subgraph's edges).

A traversal answers with a tree: each node with the one edge it was reached by.
A picture of the neighbourhood it found shows every edge between the nodes it
returned, with its label and weight (reads/export.py). This module finds them.

Pure NumPy over one direction of the graph, given either as an
``adjacency.Adjacency`` (what reads walk: base CSR plus relocated edge lists) or
as a ``csr.Csr``; no database access. Cost: O(the edges out of ``nodes``), never
O(the whole graph).
"""

from graphsync.algorithms import csr as csr_mod
from graphsync.algorithms.lazy_numpy import np


def _unique_in_order(nodes):
    nodes = np.asarray(nodes, dtype=np.int64).ravel()
    _, first = np.unique(nodes, return_index=True)
    return nodes[np.sort(first)]


def _out_edges_csr(c, nodes):
    """(tails, heads, weights, labels, sources) of every edge out of ``nodes`` of Csr ``c``."""
    inside = nodes[(nodes >= 0) & (nodes < c.node_count)]
    lo, hi = c.offsets[inside], c.offsets[inside + 1]
    counts = hi - lo
    block_start = np.cumsum(counts) - counts
    positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(lo - block_start, counts)
    return (np.repeat(inside, counts), c.targets[positions], c.weights[positions], c.labels[positions],
            c.sources[positions])


def _out_edges_adjacency(a, nodes):
    """The same for an Adjacency, node by node (relocated nodes live in its tail)."""
    inside = nodes[(nodes >= 0) & (nodes < a.node_count)]
    parts = [a.node_edges(int(u)) for u in inside]
    if not parts:
        return (np.zeros(0, dtype=np.int64),) * 2 + (np.zeros(0),) + (np.zeros(0, dtype=np.int32),) * 2
    counts = np.array([len(p[0]) for p in parts], dtype=np.int64)
    targets, weights, labels, sources = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return np.repeat(inside, counts), targets, weights, labels, sources


def induced_edges(graph, nodes, label_mask=None):
    """Every edge of ``graph`` (an Adjacency or a Csr of one direction) whose tail
    and head are both in ``nodes`` and whose label ``label_mask`` (bool indexed by
    label id; None: every label) allows, as a csr.Edges list: grouped by tail in
    the order of ``nodes`` (repeats ignored), each tail's edges in edge-list
    order. Parallel edges and self loops are kept, one entry each; node ids the
    graph does not cover have no edges."""
    nodes = _unique_in_order(nodes)
    if isinstance(graph, csr_mod.Csr):
        tails, heads, weights, labels, sources = _out_edges_csr(graph, nodes)
    else:
        tails, heads, weights, labels, sources = _out_edges_adjacency(graph, nodes)
    keep = np.isin(heads, nodes)
    if label_mask is not None:
        mask = np.asarray(label_mask, dtype=bool)
        known = (labels >= 0) & (labels < len(mask))
        allowed = np.zeros(len(labels), dtype=bool)
        allowed[known] = mask[labels[known]]
        keep &= allowed
    return csr_mod.edges(tails[keep], heads[keep], weights[keep], labels[keep], sources[keep])
