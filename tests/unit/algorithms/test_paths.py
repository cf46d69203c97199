"""Tests of graphsync.paths: shortest paths against NetworkX on random graphs, and edge cases."""

import contextlib

import networkx as nx
import numpy as np
import pytest

from graphsync.algorithms.paths import (
    cheapest_parallel_edges,
    shortest_path,
    weighted_shortest_path,
)

SEEDS = range(8)


def endpoint_pairs(graph, digraph, rng, count=30):
    """Random (src, dst) pairs, dead nodes included; every other dst, when possible, is one
    that ``digraph`` can reach from src."""
    pairs = []
    for i, (src, dst) in enumerate(rng.integers(0, len(graph.alive), (count, 2)).tolist()):
        below = sorted(nx.descendants(digraph, src)) if digraph.has_node(src) else []
        pairs.append((src, int(rng.choice(below)) if below and i % 2 else dst))
    return pairs


def assert_valid_steps(graph, nodes, step_labels, label_mask, step_weights=None):
    """Each step is an existing edge with an allowed label between alive nodes (and, when
    weights are given, the cheapest such parallel edge, with that weight)."""
    assert graph.alive[nodes].all()
    for i, (u, v) in enumerate(zip(nodes[:-1].tolist(), nodes[1:].tolist(), strict=True)):
        lo, hi = graph.offsets[u], graph.offsets[u + 1]
        usable = (graph.targets[lo:hi] == v) & label_mask[graph.labels[lo:hi]]
        assert (usable & (graph.labels[lo:hi] == step_labels[i])).any()
        if step_weights is not None:
            cheapest = graph.weights[lo:hi][usable].min()
            assert step_weights[i] == cheapest
            assert (usable & (graph.labels[lo:hi] == step_labels[i])
                    & (graph.weights[lo:hi] == cheapest)).any()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_depth", [1, 2, 4, 100])
def test_shortest_path_matches_networkx(make_graph, seed, max_depth):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 400)
    label_mask = rng.random(graph.n_labels) < 0.75
    digraph = graph.digraph(label_mask)
    found = 0
    for src, dst in endpoint_pairs(graph, digraph, rng):
        path = shortest_path(graph.offsets, graph.targets, graph.labels, graph.alive, src, dst,
                             max_depth, label_mask)
        reachable = digraph.has_node(src) and digraph.has_node(dst) and nx.has_path(
            digraph, src, dst)
        if not reachable or nx.shortest_path_length(digraph, src, dst) > max_depth:
            assert path is None
            continue
        found += 1
        assert len(path.nodes) - 1 == nx.shortest_path_length(digraph, src, dst)
        assert path.nodes[0] == src and path.nodes[-1] == dst
        assert len(path.labels) == len(path.nodes) - 1
        assert path.nodes.dtype == np.int64 and path.labels.dtype == np.int32
        assert_valid_steps(graph, path.nodes, path.labels, label_mask)
    assert found or max_depth == 1


def test_shortest_path_edge_cases():
    # 0 -> 1 (label 0) -> 2 (label 1); 3 is dead; 2 has no way back.
    offsets = np.array([0, 1, 2, 2, 2])
    targets, labels = np.array([1, 2]), np.array([0, 1])
    alive = np.array([True, True, True, False])
    args = offsets, targets, labels, alive
    same = shortest_path(*args, 1, 1, 0)
    assert same.nodes.tolist() == [1] and same.labels.tolist() == []
    path = shortest_path(*args, 0, 2, 2)
    assert path.nodes.tolist() == [0, 1, 2] and path.labels.tolist() == [0, 1]
    assert shortest_path(*args, 0, 2, 1) is None
    assert shortest_path(*args, 2, 0, 5) is None
    assert shortest_path(*args, 0, 3, 5) is None
    assert shortest_path(*args, 3, 3, 5) is None
    assert shortest_path(*args, 0, 2, 5, np.array([True, False])) is None
    with pytest.raises(ValueError):
        shortest_path(*args, 0, 4, 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_weighted_shortest_path_matches_networkx(make_graph, seed):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 500)
    label_mask = rng.random(graph.n_labels) < 0.75
    digraph = graph.digraph(label_mask)
    found = 0
    for src, dst in endpoint_pairs(graph, digraph, rng):
        path = weighted_shortest_path(graph.offsets, graph.targets, graph.weights, graph.labels,
                                      graph.alive, src, dst, label_mask)
        if not (digraph.has_node(src) and digraph.has_node(dst)
                and nx.has_path(digraph, src, dst)):
            assert path is None
            continue
        found += 1
        assert path.total_cost == pytest.approx(nx.dijkstra_path_length(digraph, src, dst))
        assert path.total_cost == pytest.approx(path.step_weights.sum())
        assert path.nodes[0] == src and path.nodes[-1] == dst
        assert len(path.step_weights) == len(path.step_labels) == len(path.nodes) - 1
        assert path.step_weights.dtype == np.float64 and path.step_labels.dtype == np.int32
        assert_valid_steps(graph, path.nodes, path.step_labels, label_mask, path.step_weights)
    assert found


def test_weighted_zero_weights_and_parallel_edges():
    # 0 -> 1 weights 5 (label 0) and 2 (label 1); 1 -> 2 weight 0; 0 -> 2 weight 3; 2 -> 3 weight 0.
    offsets = np.array([0, 3, 4, 5, 5])
    targets = np.array([1, 1, 2, 2, 3])
    weights = np.array([5.0, 2.0, 3.0, 0.0, 0.0])
    labels = np.array([0, 1, 0, 2, 0])
    args = offsets, targets, weights, labels, np.ones(4, bool)
    path = weighted_shortest_path(*args, 0, 3)
    assert path.nodes.tolist() == [0, 1, 2, 3]
    assert path.step_weights.tolist() == [2.0, 0.0, 0.0]
    assert path.step_labels.tolist() == [1, 2, 0]
    assert path.total_cost == 2.0
    zero_only = weighted_shortest_path(*args, 1, 3)
    assert zero_only.nodes.tolist() == [1, 2, 3] and zero_only.total_cost == 0.0
    masked = weighted_shortest_path(*args, 0, 3, np.array([True, False, True]))
    assert masked.nodes.tolist() == [0, 2, 3] and masked.total_cost == 3.0
    same = weighted_shortest_path(*args, 2, 2)
    assert same.nodes.tolist() == [2] and same.total_cost == 0.0
    assert weighted_shortest_path(*args, 3, 0) is None
    infinite = weighted_shortest_path(offsets, targets, np.full(5, np.inf), labels,
                                      np.ones(4, bool), 0, 3)
    assert infinite is None


def test_parallel_edges_reduce_to_the_cheapest_and_self_loops_go():
    sources = np.array([0, 0, 0, 1, 1, 2])
    targets = np.array([1, 1, 1, 1, 0, 2])
    weights = np.array([3.0, 1.0, 1.0, 0.0, 2.0, 0.0])
    kept = cheapest_parallel_edges(sources, targets, weights, 3)
    assert kept.tolist() == [1, 4]


def test_weighted_dead_endpoints_and_bad_ids():
    offsets, targets = np.array([0, 1, 1]), np.array([1])
    args = offsets, targets, np.array([1.0]), np.array([0])
    assert weighted_shortest_path(*args, np.array([True, False]), 0, 1) is None
    assert weighted_shortest_path(*args, np.array([False, True]), 0, 1) is None
    with pytest.raises(ValueError):
        weighted_shortest_path(*args, np.ones(2, bool), 0, 2)


def test_negative_weight_raises_only_where_the_search_can_go():
    # 0 -> 1 (1.0), 1 -> 2 (label 1, -1.0), 3 -> 0 (-2.0), 1 -> 4 (-1.0) with 4 dead.
    offsets = np.array([0, 1, 3, 3, 4, 4])
    targets = np.array([1, 2, 4, 0])
    weights = np.array([1.0, -1.0, -1.0, -2.0])
    labels = np.array([0, 1, 0, 0])
    alive = np.array([True, True, True, True, False])
    args = offsets, targets, weights, labels, alive
    with pytest.raises(ValueError, match="negative edge weight"):
        weighted_shortest_path(*args, 0, 1)
    with pytest.raises(ValueError, match="negative edge weight"):
        weighted_shortest_path(*args, 3, 0)
    only_label_0 = np.array([True, False])
    assert weighted_shortest_path(*args, 0, 1, only_label_0).total_cost == 1.0
    assert weighted_shortest_path(*args, 2, 2).total_cost == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_negative_weight_on_a_reachable_edge_raises(make_graph, seed):
    graph = make_graph(seed, dead_fraction=0.0)
    src = seed
    digraph = graph.digraph()
    reachable = nx.descendants(digraph, src) | {src}
    candidates = np.flatnonzero(np.isin(graph.sources, list(reachable)))
    weights = graph.weights.copy()
    weights[candidates[len(candidates) // 2]] = -0.5
    with pytest.raises(ValueError, match="negative edge weight"):
        weighted_shortest_path(graph.offsets, graph.targets, weights, graph.labels, graph.alive,
                               src, (src + 1) % len(graph.alive))


# Weights a cheapest path cannot use: the graph keeps NaN as +inf, but a caller may pass it.
UNUSABLE = [np.nan, np.inf, -np.inf, -1.0, -0.5]


@pytest.mark.parametrize("bad", UNUSABLE)
def test_skip_invalid_leaves_unusable_edges_out(bad):
    # 0 -> 1 (1), 1 -> 3 (1): the cheapest way to 3 (cost 2); 0 -> 2 (bad), 2 -> 3 (1);
    # 0 -> 4 (bad) the only way to 4; 1 -> 3 again (bad), a parallel edge.
    offsets = np.array([0, 3, 5, 6, 6, 6])
    targets = np.array([1, 2, 4, 3, 3, 3])
    weights = np.array([1.0, bad, bad, 1.0, bad, 1.0])
    labels = np.array([0, 0, 0, 1, 2, 0])
    args = offsets, targets, weights, labels, np.ones(5, bool)
    with pytest.raises(ValueError) if bad < 0 else contextlib.nullcontext():
        weighted_shortest_path(*args, 0, 3)  # the default: a negative edge in reach raises
    path = weighted_shortest_path(*args, 0, 3, skip_invalid=True)
    assert path.nodes.tolist() == [0, 1, 3] and path.step_weights.tolist() == [1.0, 1.0]
    assert path.step_labels.tolist() == [0, 1] and path.total_cost == 2.0
    assert weighted_shortest_path(*args, 0, 4, skip_invalid=True) is None  # only over a bad edge
    assert weighted_shortest_path(*args, 0, 2, skip_invalid=True) is None
    assert weighted_shortest_path(*args, 2, 3, skip_invalid=True).total_cost == 1.0
    assert weighted_shortest_path(*args, 4, 4, skip_invalid=True).total_cost == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_skip_invalid_matches_networkx_without_the_unusable_edges(make_graph, seed):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 700)
    bad = rng.random(len(graph.weights)) < 0.2
    weights = graph.weights.copy()
    weights[bad] = rng.choice(UNUSABLE, int(bad.sum()))
    label_mask = rng.random(graph.n_labels) < 0.75
    kept = graph.digraph(label_mask)  # the reference: the allowed edges but the unusable ones
    kept.remove_edges_from(list(kept.edges))
    for u, v, w, lab in zip(graph.sources.tolist(), graph.targets.tolist(), weights.tolist(),
                            graph.labels.tolist(), strict=True):
        if kept.has_node(u) and kept.has_node(v) and label_mask[lab] and np.isfinite(w) and w >= 0:
            w = min(w, kept.edges[u, v]["weight"]) if kept.has_edge(u, v) else w
            kept.add_edge(u, v, weight=w)
    found = 0
    for src, dst in endpoint_pairs(graph, kept, rng):
        path = weighted_shortest_path(graph.offsets, graph.targets, weights, graph.labels, graph.alive,
                                      src, dst, label_mask, skip_invalid=True)
        if not (kept.has_node(src) and kept.has_node(dst) and nx.has_path(kept, src, dst)):
            assert path is None
            continue
        found += 1
        assert path.total_cost == pytest.approx(nx.dijkstra_path_length(kept, src, dst))
        assert path.nodes[0] == src and path.nodes[-1] == dst
        for u, v, w in zip(path.nodes[:-1].tolist(), path.nodes[1:].tolist(), path.step_weights.tolist(),
                           strict=True):
            assert kept.edges[u, v]["weight"] == w
    assert found
