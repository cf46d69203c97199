"""graphsync.bidijkstra (the meet-in-the-middle Dijkstra reads use) against
paths.weighted_shortest_path and NetworkX on random graphs."""

import networkx as nx
import numpy as np
import pytest

from graphsync.algorithms import bidijkstra, paths


@pytest.mark.parametrize("seed", range(40))
def test_costs_match_the_reference_and_networkx(make_graph, seed):
    g = make_graph(seed, n=50, m=120)
    prepared = bidijkstra.prepare(g.offsets, g.targets, g.weights, g.labels, g.alive)
    assert not prepared.has_negative
    digraph = g.digraph()
    rng = np.random.default_rng(seed)
    for a, b in rng.integers(0, 50, (15, 2)).tolist():
        if not (g.alive[a] and g.alive[b]):
            continue
        ours = bidijkstra.shortest(prepared, g.weights, g.labels, a, b)
        reference = paths.weighted_shortest_path(g.offsets, g.targets, g.weights, g.labels, g.alive, a, b)
        assert (ours is None) == (reference is None) == (not nx.has_path(digraph, a, b))
        if ours is None:
            continue
        assert ours.total_cost == pytest.approx(nx.dijkstra_path_length(digraph, a, b))
        assert ours.nodes[0] == a and ours.nodes[-1] == b and len(ours.step_weights) == len(ours.nodes) - 1
        for u, v, w in zip(ours.nodes[:-1].tolist(), ours.nodes[1:].tolist(), ours.step_weights.tolist(),
                           strict=True):
            assert digraph.edges[u, v]["weight"] == w


def test_negative_weights_are_reported_for_the_fallback(make_graph):
    g = make_graph(1)
    weights = g.weights.copy()
    weights[3] = -1
    assert bidijkstra.prepare(g.offsets, g.targets, weights, g.labels, np.ones_like(g.alive)).has_negative
