"""Tests of graphsync.components against NetworkX on random graphs, and edge cases."""

from collections import Counter

import networkx as nx
import numpy as np
import pytest

from graphsync.algorithms.components import component_stats, connected_components


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("m", [20, 60, 170])
def test_components_match_networkx(make_graph, seed, m):
    graph = make_graph(seed, m=m, dead_fraction=0.2)
    labels = connected_components(graph.offsets, graph.targets, graph.alive)
    # NetworkX partition, numbered in the order of each component's smallest node id.
    parts = sorted(nx.weakly_connected_components(graph.digraph()), key=min)
    expected = np.full(len(graph.alive), -1, dtype=np.int64)
    for number, part in enumerate(parts):
        expected[list(part)] = number
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("seed", range(5))
def test_component_stats_counts_every_component(make_graph, seed):
    graph = make_graph(seed, m=40, dead_fraction=0.2)
    labels = connected_components(graph.offsets, graph.targets, graph.alive)
    ids, sizes = component_stats(labels)
    counts = Counter(labels[labels >= 0].tolist())
    assert sorted(zip(ids.tolist(), sizes.tolist(), strict=True)) == sorted(counts.items())
    ranked = list(zip((-sizes).tolist(), ids.tolist(), strict=True))
    assert ranked == sorted(ranked)
    assert ids.dtype == np.int64 and sizes.dtype == np.int64


def test_component_stats_orders_by_size_then_id():
    ids, sizes = component_stats(np.array([2, -1, 0, 1, 1, 2, 3, 3, -1]))
    assert ids.tolist() == [1, 2, 3, 0] and sizes.tolist() == [2, 2, 2, 1]


def test_dead_node_splits_a_chain():
    # 0 -> 1 -> 2 <- 3 with 1 dead: {0}, {2, 3}; the isolated 4 is its own component.
    offsets = np.array([0, 1, 2, 2, 3, 3])
    targets = np.array([1, 2, 2])
    alive = np.array([True, False, True, True, True])
    labels = connected_components(offsets, targets, alive)
    assert labels.tolist() == [0, -1, 1, 1, 2]


def test_empty_and_all_dead_graphs():
    empty = np.zeros(0, np.int64)
    assert connected_components(np.zeros(1, np.int64), empty, np.zeros(0, bool)).tolist() == []
    offsets, targets = np.array([0, 1, 1]), np.array([1])
    assert connected_components(offsets, targets, np.zeros(2, bool)).tolist() == [-1, -1]
    ids, sizes = component_stats(np.array([-1, -1]))
    assert ids.tolist() == [] and sizes.tolist() == []
