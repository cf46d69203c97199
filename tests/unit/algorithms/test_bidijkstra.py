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


def _csr(n, edges):
    """CSR arrays (offsets, targets, weights, labels) of ``edges`` [(u, v, w)]."""
    edges = sorted(edges, key=lambda e: e[0])
    degrees = np.bincount([u for u, _, _ in edges], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(degrees)]).astype(np.int64)
    targets = np.array([v for _, v, _ in edges], dtype=np.int64)
    weights = np.array([w for _, _, w in edges], dtype=np.float64)
    return offsets, targets, weights, np.zeros(len(edges), dtype=np.int32)


# 4 -> 0 (1), 0 -> 1 (1e308), 1 -> 2 (1e308, and a dearer parallel 1.7e308), 2 -> 3 (2);
# 5 alone; 0 -> 6 (1.5e308), 6 -> 2 (1.5e308): a second way to 2 past float64 too.
HUGE_EDGES = [(4, 0, 1.0), (0, 1, 1e308), (1, 2, 1e308), (1, 2, 1.7e308), (2, 3, 2.0),
              (0, 6, 1.5e308), (6, 2, 1.5e308)]


def _both(offsets, targets, weights, labels, src, dst):
    """bidijkstra.shortest and the reference, each a result or the exception it raised."""
    alive = np.ones(len(offsets) - 1, dtype=bool)
    prepared = bidijkstra.prepare(offsets, targets, weights, labels, alive)
    out = []
    for run in (lambda: bidijkstra.shortest(prepared, weights, labels, src, dst),
                lambda: paths.weighted_shortest_path(offsets, targets, weights, labels, alive, src, dst)):
        try:
            out.append(run())
        except paths.CostOutOfRange as exc:
            out.append(exc)
    return out


@pytest.mark.parametrize(("src", "dst"), [(0, 2), (0, 3), (4, 3), (1, 3)])
def test_a_cheapest_cost_past_float64_raises(src, dst):
    """Finite weights whose sum passes float64's largest value: no path of cost
    inf (any two such costs compare equal), no None as if dst were unreachable."""
    csr = _csr(7, HUGE_EDGES)
    if (src, dst) == (1, 3):  # 1e308 + 2 rounds to 1e308: in range
        assert [p.total_cost for p in _both(*csr, src, dst)] == [1e308, 1e308]
        return
    for result in _both(*csr, src, dst):
        assert isinstance(result, paths.CostOutOfRange), result
        assert (result.source, result.target) == (src, dst)


def test_past_float64_elsewhere_is_no_error():
    csr = _csr(7, HUGE_EDGES)
    for result in _both(*csr, 0, 5):
        assert result is None  # unreachable, though the search passed float64 on its way
    for result in _both(*csr, 4, 1):
        assert result.nodes.tolist() == [4, 0, 1] and result.total_cost == 1e308
    cheap = _csr(7, HUGE_EDGES + [(0, 2, 7.0)])  # a way to 2 and 3 in range
    for result in _both(*cheap, 0, 3):
        assert result.nodes.tolist() == [0, 2, 3] and result.total_cost == 9.0
    infinite = _csr(3, [(0, 1, np.inf), (1, 2, 1.0)])  # an infinite weight is never used
    assert _both(*infinite, 0, 2) == [None, None]


@pytest.mark.parametrize("seed", range(20))
def test_skip_invalid_matches_the_reference(make_graph, seed):
    """prepare(skip_invalid=True) leaves negative, -inf, +inf and NaN edges out: no
    fallback is needed, and the answers are the reference's over the other edges."""
    g = make_graph(seed, n=50, m=120)
    rng = np.random.default_rng(seed + 900)
    weights = g.weights.copy()
    bad = rng.random(len(weights)) < 0.2
    weights[bad] = rng.choice([np.nan, np.inf, -np.inf, -1.0], int(bad.sum()))
    prepared = bidijkstra.prepare(g.offsets, g.targets, weights, g.labels, g.alive, skip_invalid=True)
    assert not prepared.has_negative
    assert bidijkstra.prepare(g.offsets, g.targets, weights, g.labels, g.alive).has_negative
    for a, b in rng.integers(0, 50, (15, 2)).tolist():
        if not (g.alive[a] and g.alive[b]):
            continue
        ours = bidijkstra.shortest(prepared, weights, g.labels, a, b)
        reference = paths.weighted_shortest_path(g.offsets, g.targets, weights, g.labels, g.alive, a, b,
                                                 skip_invalid=True)
        assert (ours is None) == (reference is None)
        if ours is not None:
            assert ours.total_cost == pytest.approx(reference.total_cost)
            assert np.isfinite(ours.step_weights).all() and (ours.step_weights >= 0).all()
