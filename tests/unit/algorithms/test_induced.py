"""graphsync.algorithms.induced: the edges among a node set equal a brute-force
filter of the whole edge list, for a Csr and for an Adjacency with relocated
nodes, with label masks, repeated and out-of-range node ids."""

import numpy as np
import pytest

from graphsync.algorithms import csr
from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.induced import induced_edges


def as_csr(g):
    return csr.Csr(g.offsets, g.targets, g.weights, g.labels, np.arange(len(g.targets), dtype=np.int32))


def brute_force(c, nodes, label_mask=None):
    """(tail, head, weight, label, source) of every edge of ``c`` among ``nodes``, in
    the order of ``nodes`` (first occurrence), then edge-list order."""
    chosen = list(dict.fromkeys(int(u) for u in nodes))
    allowed = set(chosen)
    out = []
    for u in chosen:
        if not 0 <= u < c.node_count:
            continue
        for at in range(c.offsets[u], c.offsets[u + 1]):
            v, lab = int(c.targets[at]), int(c.labels[at])
            if v in allowed and (label_mask is None or (lab < len(label_mask) and label_mask[lab])):
                out.append((u, v, float(c.weights[at]), lab, int(c.sources[at])))
    return out


def rows(e):
    return list(zip(e.src.tolist(), e.dst.tolist(), e.weights.tolist(), e.labels.tolist(), e.sources.tolist(),
                    strict=True))


def relocated(c, rng, count):
    """An Adjacency of ``c`` in which ``count`` nodes got new edge lists (in its tail),
    the Csr it equals, and the nodes moved."""
    a = Adjacency.of(c, node_count=c.node_count + 3)  # three nodes past the base, no edges yet
    moved = rng.choice(a.node_count, count, replace=False)
    for u in moved:
        k = int(rng.integers(0, 6))
        a.set_node(int(u), rng.integers(0, a.node_count, k), rng.integers(0, 5, k).astype(float),
                   rng.integers(0, 4, k), rng.integers(1000, 2000, k))
    return a, a.compact(), moved


@pytest.mark.parametrize("seed", range(10))
def test_csr_edges_among_nodes_equal_brute_force(make_graph, seed):
    g = make_graph(seed)
    c = as_csr(g)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(c.node_count, int(rng.integers(1, c.node_count)), replace=False)
    assert rows(induced_edges(c, nodes)) == brute_force(c, nodes)
    mask = rng.random(g.n_labels) < 0.5
    assert rows(induced_edges(c, nodes, mask)) == brute_force(c, nodes, mask)


@pytest.mark.parametrize("seed", range(10))
def test_adjacency_with_relocated_nodes_equals_its_compact_csr(make_graph, seed):
    g = make_graph(seed)
    rng = np.random.default_rng(100 + seed)
    a, c, moved = relocated(as_csr(g), rng, 12)
    nodes = np.concatenate([rng.choice(a.node_count, int(rng.integers(1, a.node_count)), replace=False),
                            moved[:6]])
    expected = brute_force(c, nodes)
    assert a.relocated and all(a.slot[u] >= 0 for u in moved)  # the test reads relocated lists
    assert rows(induced_edges(a, nodes)) == expected
    assert rows(induced_edges(c, nodes)) == expected
    mask = np.array([True, False, True, False])
    assert rows(induced_edges(a, nodes, mask)) == brute_force(c, nodes, mask)


def test_parallel_edges_self_loops_repeats_and_unknown_nodes():
    # 0 -> 1 twice (labels 0 and 1), 1 -> 0, 1 -> 1 (loop), 1 -> 2, 2 -> 3
    c = csr.build(4, csr.edges([0, 0, 1, 1, 1, 2], [1, 1, 0, 1, 2, 3], [1, 2.5, 1, 0, 7, 1],
                               [0, 1, 0, 0, 1, 0], [1, 2, 1, 3, 2, 1]))
    got = rows(induced_edges(c, [1, 0, 1, 99, -1]))
    assert got == [(1, 0, 1.0, 0, 1), (1, 1, 0.0, 0, 3), (0, 1, 1.0, 0, 1), (0, 1, 2.5, 1, 2)]
    assert rows(induced_edges(c, [2])) == []
    assert rows(induced_edges(c, [])) == []
    # a label mask shorter than the label ids: labels past its end are not allowed
    assert rows(induced_edges(c, [0, 1], np.array([False]))) == []
    assert rows(induced_edges(c, [0, 1], np.array([False, True]))) == [(0, 1, 2.5, 1, 2)]
    a = Adjacency.of(c)
    assert rows(induced_edges(a, [1, 0, 1, 99, -1])) == got
    assert rows(induced_edges(a, [])) == []


def test_the_edges_returned_have_the_canonical_dtypes():
    c = csr.build(2, csr.edges([0], [1], [3.0], [2], [5]))
    for g in (c, Adjacency.of(c)):
        e = induced_edges(g, [0, 1])
        assert [a.dtype for a in e] == [np.int64, np.int64, np.float64, np.int32, np.int32]
