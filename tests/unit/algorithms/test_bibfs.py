"""graphsync.bibfs (the meet-in-the-middle BFS reads use) against paths.shortest_path
and NetworkX on random graphs."""

import networkx as nx
import numpy as np
import pytest

from graphsync.algorithms import bibfs, csr, paths


@pytest.mark.parametrize("seed", range(40))
def test_path_lengths_match_the_reference_and_networkx(make_graph, seed):
    g = make_graph(seed, n=50, m=120)
    forward = csr.Csr(g.offsets, g.targets, g.weights, g.labels, np.zeros(len(g.targets), dtype=np.int32))
    backward = csr.reverse(forward)
    rng = np.random.default_rng(seed)
    label_mask = rng.random(g.n_labels) < 0.75 if seed % 2 else None
    digraph = g.digraph(label_mask)
    for a, b in rng.integers(0, 50, (15, 2)).tolist():
        for depth in (2, 50):
            ours = bibfs.shortest_path(forward, backward, g.alive, a, b, depth, label_mask)
            reference = paths.shortest_path(g.offsets, g.targets, g.labels, g.alive, a, b, depth, label_mask)
            assert (ours is None) == (reference is None)
            if ours is None:
                continue
            assert len(ours.nodes) == len(reference.nodes) == nx.shortest_path_length(digraph, a, b) + 1
            assert ours.nodes[0] == a and ours.nodes[-1] == b
            for u, v, lab in zip(ours.nodes[:-1].tolist(), ours.nodes[1:].tolist(), ours.labels.tolist(),
                                 strict=True):
                edges = range(g.offsets[u], g.offsets[u + 1])
                assert any(g.targets[e] == v and g.labels[e] == lab for e in edges)


def _peak_bytes(run):
    """Bytes NumPy and Python allocated at most while ``run()`` ran (tracemalloc sees
    NumPy's array buffers)."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_short_path_in_a_large_graph_allocates_by_the_search_not_by_the_graph():
    # The cause of shortest_path's 1.2 -> 14.6 ms: each call made six arrays over every
    # node (distances, parents, labels, enterable, per side), some 30 MB at 1M nodes, whose
    # pages the kernel then faulted in one by one (thousands of faults a call). A search
    # that meets after a few levels allocates in proportion to what it visits.
    n = 1_000_000
    rng = np.random.default_rng(3)
    degree = 3
    offsets = np.arange(0, degree * n + 1, degree, dtype=np.int64)
    targets = rng.integers(0, n, degree * n).astype(np.int64)
    forward = csr.Csr(offsets, targets, np.ones(len(targets)), np.zeros(len(targets), dtype=np.int32),
                      np.zeros(len(targets), dtype=np.int32))
    backward = csr.reverse(forward)
    alive = np.ones(n, dtype=bool)
    src, dst = 5, int(targets[offsets[int(targets[offsets[5]])]])  # two edges away
    found = []
    peak = _peak_bytes(lambda: found.append(bibfs.shortest_path(forward, backward, alive, src, dst, 32)))
    assert found[0] is not None and len(found[0].nodes) <= 3
    assert peak < n  # under a byte a node: nothing of the graph's size
