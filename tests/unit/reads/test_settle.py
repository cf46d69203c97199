"""What reads.api.Read.settle leans on: a walk's answer depends only on the edge lists
of the nodes it expands and on the mask at the nodes it may test (its seeds and
access.reached of what it expanded). A read under row-level security walks with
the nodes and edges it has not asked about closed or unfiltered, asks about those,
and walks again; its last walk asked about everything it read, so it answers as a
walk over the whole-table filter would. Here: change every other node's list (its
length kept: a path's search reads the degrees of a frontier it may not expand) and
its mask bit, and the answer stays the same."""

import numpy as np
import pytest

from graphsync.algorithms import bibfs, csr, traverse
from graphsync.algorithms.adjacency import Adjacency
from graphsync.reads.access import reached


def _csr(g):
    return csr.Csr(g.offsets, g.targets, g.weights, g.labels, np.zeros(len(g.targets), dtype=np.int32))


def _scrambled(c, keep, rng):
    """Csr ``c`` with the targets and labels of every node outside ``keep`` drawn at random."""
    targets, labels = c.targets.copy(), c.labels.copy()
    for u in range(c.node_count):
        if u not in keep:
            lo, hi = int(c.offsets[u]), int(c.offsets[u + 1])
            targets[lo:hi] = rng.integers(0, c.node_count, hi - lo)
            labels[lo:hi] = rng.integers(0, int(c.labels.max(initial=0)) + 1, hi - lo)
    return csr.Csr(c.offsets, targets, c.weights, labels, c.sources)


def _flipped(alive, keep, rng):
    out = alive.copy()
    outside = np.setdiff1d(np.arange(len(alive)), np.asarray(sorted(keep), dtype=np.int64))
    out[outside] = rng.random(len(outside)) < 0.5
    return out


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("walk", [traverse.bfs_over, traverse.dfs_over])
def test_a_traversal_reads_only_what_it_expands_and_reaches(make_graph, seed, walk):
    g = make_graph(seed, n=80, m=200)
    rng = np.random.default_rng(seed)
    c = _csr(g)
    label_mask = rng.random(g.n_labels) < 0.75 if seed % 2 else None
    restriction = rng.random(80) < 0.8 if seed % 3 == 0 else None
    seeds = rng.integers(0, 80, 1 + seed % 3).tolist()
    depth, cap = int(rng.integers(0, 5)), (1000 if seed % 4 else 12)
    t = walk(Adjacency.of(c), g.alive, seeds, depth, cap, label_mask, restriction)
    expanded = t.nodes[t.depth < depth]
    tested = set(reached(Adjacency.of(c), expanded, label_mask, restriction).tolist()) | set(seeds)
    for trial in range(3):
        other = _scrambled(c, set(expanded.tolist()), rng)
        alive = _flipped(g.alive, tested, rng)
        u = walk(Adjacency.of(other), alive, seeds, depth, cap, label_mask, restriction)
        for name in ("nodes", "depth", "parent", "parent_label", "capped"):
            assert np.array_equal(np.asarray(getattr(t, name)), np.asarray(getattr(u, name))), (trial, name)


@pytest.mark.parametrize("seed", range(30))
def test_a_paths_search_reads_only_what_it_expands_and_reaches(make_graph, seed):
    g = make_graph(seed, n=80, m=200)
    rng = np.random.default_rng(seed)
    forward = _csr(g)
    backward = csr.reverse(forward)
    label_mask = rng.random(g.n_labels) < 0.75 if seed % 2 else None
    for a, b in rng.integers(0, 80, (6, 2)).tolist():
        expanded = {"forward": [], "backward": []}
        p = bibfs.shortest_path(forward, backward, g.alive, a, b, 6, label_mask, expanded)
        ahead, behind = (np.concatenate([np.zeros(0, dtype=np.int64)] + expanded[k]) for k in ("forward", "backward"))
        tested = {a, b} | set(reached(Adjacency.of(forward), ahead, label_mask).tolist()) | set(
            reached(Adjacency.of(backward), behind, label_mask).tolist())
        other_forward = _scrambled(forward, set(ahead.tolist()), rng)
        other_backward = _scrambled(backward, set(behind.tolist()), rng)
        q = bibfs.shortest_path(other_forward, other_backward, _flipped(g.alive, tested, rng), a, b, 6, label_mask)
        assert (p is None) == (q is None)
        if p is not None:
            assert np.array_equal(p.nodes, q.nodes) and np.array_equal(p.labels, q.labels)
