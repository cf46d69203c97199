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
