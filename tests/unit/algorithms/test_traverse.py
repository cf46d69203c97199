"""Tests of graphsync.traverse: BFS/DFS against NetworkX on random graphs, and edge cases."""

from itertools import islice

import networkx as nx
import numpy as np
import pytest

from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.traverse import bfs, bfs_lists, bfs_over, dfs, first_occurrences, seed_nodes

SEEDS = range(8)


def restrictions(graph, rng):
    """Random (edge_label_mask, node_mask): about 3/4 of labels and 85% of nodes allowed."""
    label_mask = rng.random(graph.n_labels) < 0.75
    node_mask = rng.random(len(graph.alive)) < 0.85
    return label_mask, node_mask


def oracle_graph(graph, seeds, label_mask, node_mask):
    """(NetworkX digraph a traversal from ``seeds`` may use, alive seeds deduplicated)."""
    node_ok = node_mask.copy()
    node_ok[seeds] = True
    alive_seeds = list(dict.fromkeys(s for s in seeds if graph.alive[s]))
    return graph.digraph(label_mask, node_ok), alive_seeds


def oracle_depths(graph, seeds, max_depth, label_mask, node_mask):
    """Minimal depth of every node reachable from the alive seeds, by NetworkX."""
    digraph, alive_seeds = oracle_graph(graph, seeds, label_mask, node_mask)
    if not alive_seeds:
        return {}
    return nx.multi_source_dijkstra_path_length(
        digraph, alive_seeds, cutoff=max_depth, weight=lambda u, v, d: 1)


def oracle_bfs_order(graph, seeds, max_depth, label_mask, node_mask):
    """BFS visit order by NetworkX: its layers up to ``max_depth``, concatenated (NetworkX
    orders several seeds as a set, so the order is only comparable for one seed)."""
    digraph, alive_seeds = oracle_graph(graph, seeds, label_mask, node_mask)
    if not alive_seeds:
        return []
    layers = islice(nx.bfs_layers(digraph, alive_seeds), max_depth + 1)
    return [node for layer in layers for node in layer]


def assert_tree_edges(graph, result, seeds, label_mask, node_mask):
    """Every seed is a root; every other node is allowed and was reached from an earlier node
    one level up through an existing allowed edge with the reported label."""
    position = {node: i for i, node in enumerate(result.nodes.tolist())}
    assert len(position) == len(result.nodes)
    assert graph.alive[result.nodes].all()
    columns = result.nodes, result.depth, result.parent, result.parent_label
    for node, depth, parent, label in zip(*(c.tolist() for c in columns), strict=True):
        if parent == -1:
            assert node in seeds and depth == 0 and label == -1
            continue
        assert node not in seeds and node_mask[node] and label_mask[label]
        assert position[parent] < position[node]
        assert result.depth[position[parent]] == depth - 1
        lo, hi = graph.offsets[parent], graph.offsets[parent + 1]
        assert ((graph.targets[lo:hi] == node) & (graph.labels[lo:hi] == label)).any()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_depth", [0, 1, 3, 100])
def test_bfs_matches_networkx(make_graph, seed, max_depth):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 100)
    label_mask, node_mask = restrictions(graph, rng)
    seeds = rng.integers(0, len(graph.alive), 3).tolist()
    result = bfs(graph.offsets, graph.targets, graph.labels, graph.alive, seeds, max_depth,
                 len(graph.alive), label_mask, node_mask)
    expected = oracle_depths(graph, seeds, max_depth, label_mask, node_mask)
    assert dict(zip(result.nodes.tolist(), result.depth.tolist(), strict=True)) == expected
    assert (np.diff(result.depth) >= 0).all()
    assert not result.capped
    assert_tree_edges(graph, result, seeds, label_mask, node_mask)
    assert result.nodes.dtype == np.int64 and result.parent.dtype == np.int64
    assert result.depth.dtype == np.int32 and result.parent_label.dtype == np.int32


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("masked", [False, True])
def test_bfs_order_matches_networkx_layers(make_graph, seed, masked):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 150)
    label_mask, node_mask = restrictions(graph, rng)
    if not masked:
        label_mask, node_mask = np.ones_like(label_mask), np.ones_like(node_mask)
    source = int(np.flatnonzero(graph.alive)[seed])
    result = bfs(graph.offsets, graph.targets, graph.labels, graph.alive, [source], 4, 10_000,
                 label_mask if masked else None, node_mask if masked else None)
    assert result.nodes.tolist() == oracle_bfs_order(graph, [source], 4, label_mask, node_mask)
    expected = oracle_depths(graph, [source], 4, label_mask, node_mask)
    assert dict(zip(result.nodes.tolist(), result.depth.tolist(), strict=True)) == expected


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_depth", [0, 1, 2, 5, 100])
def test_bfs_levels_in_python_and_in_numpy_agree(make_graph, seed, max_depth):
    # Small levels are expanded edge by edge in Python, large ones with NumPy (from the
    # first large level on): every mix gives the same traversal, caps included.
    graph = make_graph(seed, n=300, m=900)
    rng = np.random.default_rng(seed + 300)
    label_mask, node_mask = restrictions(graph, rng)
    adj = Adjacency(graph.offsets, graph.targets, graph.labels)
    seeds = rng.integers(0, len(graph.alive), 1 + seed % 3).tolist()
    for masks in ((None, None), (label_mask, node_mask)):
        for max_nodes in (1, 7, 40, 10_000):
            runs = [bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=small)
                    for small in (0, 4, 30, 10**9)]
            for other in runs[1:]:
                for a, b in zip(runs[0][:4], other[:4], strict=True):
                    np.testing.assert_array_equal(a, b)
                    assert a.dtype == b.dtype
                assert runs[0].capped == other.capped


def test_seed_nodes_from_a_short_list_and_from_an_array_agree():
    alive = np.array([True, False, True, True])
    for seeds in ([2, 0, 2, 1, 3], [1], [], [3, 3]):
        np.testing.assert_array_equal(seed_nodes(seeds, alive), seed_nodes(np.array(seeds, dtype=np.int64), alive))
        assert seed_nodes(seeds, alive).dtype == np.int64
    for bad in ([4], [-1], [0, 9]):
        with pytest.raises(ValueError, match="out of range 0..3"):
            seed_nodes(bad, alive)
        with pytest.raises(ValueError, match="out of range 0..3"):
            seed_nodes(np.array(bad), alive)


@pytest.mark.parametrize("traversal", [bfs, dfs])
@pytest.mark.parametrize("seed", SEEDS)
def test_max_nodes_cuts_the_full_order(make_graph, traversal, seed):
    graph = make_graph(seed, dead_fraction=0.0)
    args = graph.offsets, graph.targets, graph.labels, graph.alive, [seed, seed + 1], 100
    full = traversal(*args, 10_000)
    reached = len(full.nodes)
    assert reached > 4 and not full.capped
    for max_nodes in (1, 2, reached // 2, reached - 1):
        part = traversal(*args, max_nodes)
        assert part.capped
        np.testing.assert_array_equal(part.nodes, full.nodes[:max_nodes])
        np.testing.assert_array_equal(part.depth, full.depth[:max_nodes])
        np.testing.assert_array_equal(part.parent, full.parent[:max_nodes])
    exact = traversal(*args, reached)
    assert not exact.capped
    np.testing.assert_array_equal(exact.nodes, full.nodes)


@pytest.mark.parametrize("traversal", [bfs, dfs])
def test_cap_is_not_reported_beyond_max_depth(traversal):
    # 0 -> 1 -> 2: with max_depth 1 only {0, 1} is reachable, so 2 nodes are not capped.
    offsets, targets, labels = np.array([0, 1, 2, 2]), np.array([1, 2]), np.array([0, 0])
    result = traversal(offsets, targets, labels, np.ones(3, bool), [0], 1, 2)
    assert result.nodes.tolist() == [0, 1] and not result.capped
    assert traversal(offsets, targets, labels, np.ones(3, bool), [0], 2, 2).capped


@pytest.mark.parametrize("traversal", [bfs, dfs])
def test_seeds_deduplicated_dead_dropped_and_exempt_from_node_mask(traversal):
    # 0 -> 1, 2 -> 1, 3 dead; node_mask excludes seed 2 and node 1.
    offsets = np.array([0, 1, 1, 2, 2])
    targets, labels = np.array([1, 1]), np.array([0, 0])
    alive = np.array([True, True, True, False])
    node_mask = np.array([True, False, False, True])
    result = traversal(offsets, targets, labels, alive, [2, 3, 0, 2], 5, 10, None, node_mask)
    assert result.nodes.tolist() == [2, 0]
    assert result.depth.tolist() == [0, 0]
    assert result.parent.tolist() == [-1, -1] and result.parent_label.tolist() == [-1, -1]


@pytest.mark.parametrize("traversal", [bfs, dfs])
def test_dead_nodes_are_never_entered(traversal):
    # 0 -> 1 -> 2 with 1 dead: nothing beyond the seed.
    offsets, targets, labels = np.array([0, 1, 2, 2]), np.array([1, 2]), np.array([0, 0])
    alive = np.array([True, False, True])
    assert traversal(offsets, targets, labels, alive, [0], 5, 10).nodes.tolist() == [0]
    assert traversal(offsets, targets, labels, alive, [1], 5, 10).nodes.tolist() == []


@pytest.mark.parametrize("traversal", [bfs, dfs])
def test_empty_graph_and_no_seeds(traversal):
    empty = np.zeros(0, np.int64)
    result = traversal(np.zeros(1, np.int64), empty, empty, np.zeros(0, bool), [], 3, 10)
    assert len(result.nodes) == 0 and not result.capped
    assert result.nodes.dtype == np.int64 and result.depth.dtype == np.int32


@pytest.mark.parametrize("traversal", [bfs, dfs])
def test_invalid_arguments_raise(traversal):
    offsets, targets, labels = np.array([0, 1, 1]), np.array([1]), np.array([0])
    alive = np.ones(2, bool)
    for seeds, max_depth, max_nodes in (([2], 1, 5), ([-1], 1, 5), ([0], -1, 5), ([0], 1, 0)):
        with pytest.raises(ValueError):
            traversal(offsets, targets, labels, alive, seeds, max_depth, max_nodes)


def assert_dfs_preorder(result):
    """The visit order is a DFS preorder: each node's parent is on the current root path and
    the node's depth is its position on that path."""
    path = []
    columns = result.nodes, result.depth, result.parent
    for node, depth, parent in zip(*(c.tolist() for c in columns), strict=True):
        if parent == -1:
            path = []
        else:
            assert parent in path
            del path[path.index(parent) + 1:]
        assert depth == len(path)
        path.append(node)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_depth", [1, 2, 3, 100])
def test_dfs_order_matches_networkx_preorder(make_graph, seed, max_depth):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 200)
    label_mask, node_mask = restrictions(graph, rng)
    source = int(np.flatnonzero(graph.alive)[seed])
    node_ok = node_mask.copy()
    node_ok[source] = True
    digraph = graph.digraph(label_mask, node_ok)
    result = dfs(graph.offsets, graph.targets, graph.labels, graph.alive, [source], max_depth,
                 10_000, label_mask, node_mask)
    expected = list(nx.dfs_preorder_nodes(digraph, source, depth_limit=max_depth))
    assert result.nodes.tolist() == expected
    predecessors = nx.dfs_predecessors(digraph, source, depth_limit=max_depth)
    tree = zip(result.nodes.tolist()[1:], result.parent.tolist()[1:], strict=True)
    assert dict(tree) == predecessors
    assert result.depth.max() <= max_depth
    assert_dfs_preorder(result)
    assert_tree_edges(graph, result, [source], label_mask, node_mask)


@pytest.mark.parametrize("seed", SEEDS)
def test_dfs_from_several_seeds_reaches_what_bfs_reaches(make_graph, seed):
    graph = make_graph(seed)
    rng = np.random.default_rng(seed + 300)
    label_mask, node_mask = restrictions(graph, rng)
    seeds = rng.integers(0, len(graph.alive), 4).tolist()
    n = len(graph.alive)
    result = dfs(graph.offsets, graph.targets, graph.labels, graph.alive, seeds, n, n,
                 label_mask, node_mask)
    assert set(result.nodes.tolist()) == set(oracle_depths(graph, seeds, n, label_mask, node_mask))
    assert not result.capped
    assert_dfs_preorder(result)
    assert_tree_edges(graph, result, seeds, label_mask, node_mask)


def test_dfs_depth_limit_follows_the_dfs_tree():
    # 0 -> 1 -> 2 -> 3 and 0 -> 2. DFS reaches 2 at depth 2 first (via 1), so with
    # max_depth 2 it never expands 2 and misses 3, which BFS finds at depth 2.
    offsets = np.array([0, 2, 3, 4, 4])
    targets, labels = np.array([1, 2, 2, 3]), np.array([0, 1, 0, 0])
    alive = np.ones(4, bool)
    result = dfs(offsets, targets, labels, alive, [0], 2, 10)
    assert result.nodes.tolist() == [0, 1, 2]
    assert result.depth.tolist() == [0, 1, 2]
    assert result.parent.tolist() == [-1, 0, 1]
    assert result.parent_label.tolist() == [-1, 0, 0]
    assert bfs(offsets, targets, labels, alive, [0], 2, 10).nodes.tolist() == [0, 1, 2, 3]
    assert dfs(offsets, targets, labels, alive, [0], 3, 10).nodes.tolist() == [0, 1, 2, 3]
    assert dfs(offsets, targets, labels, alive, [0], 0, 10).nodes.tolist() == [0]


@pytest.mark.parametrize("seed", range(20))
def test_first_occurrences_matches_a_sort_based_dedupe(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = rng.integers(0, n, int(rng.integers(0, 400)))
    _, expected = np.unique(values, return_index=True)
    expected.sort()
    assert first_occurrences(values, n).tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_first_occurrences_over_kept_slots_holding_other_calls_values(seed, monkeypatch):
    """The slots first_occurrences keeps from call to call (node_slots) hold what
    earlier calls wrote, for other values and other node counts (larger and
    smaller): the answer is the sort-based one all the same, whether slots are held
    yet or not."""
    from graphsync.algorithms import traverse

    monkeypatch.setattr(traverse, "_SLOTS", {"slots": None})
    rng = np.random.default_rng(seed + 900)
    for _ in range(6):
        n = int(rng.integers(1, 500))
        values = rng.integers(0, n, int(rng.integers(0, 1200)))
        _, expected = np.unique(values, return_index=True)
        expected.sort()
        assert first_occurrences(values, n).tolist() == expected.tolist()
        # what a later call finds in the slots: garbage of this call's
        traverse.node_slots(n)[:] = rng.integers(-5, 2000, n)


def test_first_occurrences_of_no_value_over_no_node_id(monkeypatch):
    from graphsync.algorithms import traverse

    monkeypatch.setattr(traverse, "_SLOTS", {"slots": None})
    assert first_occurrences(np.zeros(0, dtype=np.int64), 0).tolist() == []
    assert first_occurrences(np.zeros(0, dtype=np.int64), 5).tolist() == []


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_levels_over_sorted_visited_nodes_and_over_a_mask_agree(make_graph, seed, monkeypatch):
    # The NumPy levels keep the visited nodes as a sorted array while they are few
    # (MASK_SHARE) and as a mask over every node id after: every mix of the two
    # gives the same traversal as the Python levels, caps and restrictions included.
    from graphsync.algorithms import traverse

    graph = make_graph(seed, n=300, m=900)
    rng = np.random.default_rng(seed + 600)
    label_mask, node_mask = restrictions(graph, rng)
    adj = Adjacency(graph.offsets, graph.targets, graph.labels)
    seeds = rng.integers(0, len(graph.alive), 1 + seed % 3).tolist()
    for masks in ((None, None), (label_mask, node_mask)):
        for max_depth, max_nodes in ((2, 10_000), (5, 40), (100, 10_000)):
            expected = bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=10**9)
            for share in (0, 1, 16, 10**9):  # 0: never a mask; 10**9: a mask at once
                monkeypatch.setattr(traverse, "MASK_SHARE", share)
                got = bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=0)
                for a, b in zip(expected[:4], got[:4], strict=True):
                    np.testing.assert_array_equal(a, b)
                    assert a.dtype == b.dtype
                assert expected.capped == got.capped


def test_a_small_traversal_of_a_large_graph_allocates_by_what_it_visits():
    # A level of more than SMALL_LEVEL edges is walked with NumPy; it made a mask over
    # every node and an int64 slot per node id for each level (~9 bytes a node), whose
    # pages the kernel faults in one by one: at 200k nodes some 150 faults per depth-3
    # traversal, more than the traversal itself.
    import tracemalloc

    n = 1_000_000
    rng = np.random.default_rng(5)
    degree = 6
    offsets = np.arange(0, degree * n + 1, degree, dtype=np.int64)
    targets = rng.integers(0, n, degree * n).astype(np.int64)
    adj = Adjacency(offsets, targets, np.zeros(len(targets), dtype=np.int32))
    alive = np.ones(n, dtype=bool)
    bfs_over(adj, alive, [0], 3, 10_000)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = bfs_over(adj, alive, [0], 3, 10_000)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(result.nodes) > 1 + degree + degree ** 2  # the last level had more than SMALL_LEVEL edges
    assert peak < n  # under a byte a node: nothing of the graph's size


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("max_depth", [0, 1, 2, 5])
def test_bfs_lists_is_bfs_over_as_lists_while_levels_are_small(make_graph, seed, max_depth):
    graph = make_graph(seed, n=300, m=900)
    rng = np.random.default_rng(seed + 900)
    label_mask, node_mask = restrictions(graph, rng)
    adj = Adjacency(graph.offsets, graph.targets, graph.labels)
    seeds = rng.integers(0, len(graph.alive), 1 + seed % 3).tolist()
    answered = 0
    for masks in ((None, None), (label_mask, node_mask)):
        for max_nodes in (1, 7, 40, 10_000):
            for small in (0, 4, 30, 10**9):
                expected = bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=small)
                got = bfs_lists(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=small)
                if got is None:  # a level of more than ``small`` edges
                    assert small < 10**9
                    continue
                answered += 1
                assert got[:4] == tuple(a.tolist() for a in expected[:4])
                assert got[4] is expected.capped
    assert answered


def test_bfs_lists_checks_its_arguments_as_bfs_over_does():
    adj = Adjacency(np.array([0, 1, 1]), np.array([1]), np.array([0]))
    alive = np.ones(2, bool)
    for seeds, max_depth, max_nodes in (([2], 1, 5), ([-1], 1, 5), ([0], -1, 5), ([0], 1, 0)):
        for run in (bfs_over, bfs_lists):
            with pytest.raises(ValueError):
                run(adj, alive, seeds, max_depth, max_nodes)


@pytest.mark.parametrize("seed", SEEDS)
def test_bfs_over_goes_on_from_the_levels_walked_in_python(make_graph, seed, monkeypatch):
    # traverse_columns walks the small levels once (bfs_levels) and, when a level is
    # too large for Python, hands them to bfs_over: the same traversal as bfs_over's
    # own, and no level walked twice (counted: bfs_levels runs once in all).
    from graphsync.algorithms import traverse

    graph = make_graph(seed, n=300, m=900)
    rng = np.random.default_rng(seed + 700)
    label_mask, node_mask = restrictions(graph, rng)
    adj = Adjacency(graph.offsets, graph.targets, graph.labels)
    seeds = rng.integers(0, len(graph.alive), 1 + seed % 3).tolist()
    walks = []
    real = traverse.bfs_levels
    monkeypatch.setattr(traverse, "bfs_levels", lambda *a: walks.append(1) or real(*a))
    for masks in ((None, None), (label_mask, node_mask)):
        for max_depth, max_nodes in ((2, 10_000), (5, 40), (100, 10_000)):
            for small_level in (0, 3, 10**9):
                expected = bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=small_level)
                walks.clear()
                levels = traverse.bfs_levels(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level)
                got = bfs_over(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level=small_level,
                               levels=levels)
                assert len(walks) == 1
                for a, b in zip(expected[:4], got[:4], strict=True):
                    np.testing.assert_array_equal(a, b)
                    assert a.dtype == b.dtype
                assert expected.capped == got.capped
                small = traverse.lists_of(levels)
                assert small == bfs_lists(adj, graph.alive, seeds, max_depth, max_nodes, *masks, small_level)
                if small is not None:
                    assert small[0] == got.nodes.tolist() and small[1] == got.depth.tolist()
