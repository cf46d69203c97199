"""Unit-test setup: import path for plpython/graphsync and a seeded random CSR graph."""

import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plpython"))


@dataclass
class Graph:
    """A directed multigraph in the CSR contract, plus each edge's source node."""

    offsets: np.ndarray
    sources: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    labels: np.ndarray
    alive: np.ndarray
    n_labels: int

    def digraph(self, label_mask=None, node_ok=None):
        """NetworkX DiGraph of the usable edges, added in CSR order, each pair carrying its
        minimum weight; nodes are the alive ones that ``node_ok`` (bool[n]) allows."""
        ok = self.alive if node_ok is None else self.alive & node_ok
        graph = nx.DiGraph()
        graph.add_nodes_from(np.flatnonzero(ok).tolist())
        for u, v, w, lab in zip(self.sources.tolist(), self.targets.tolist(),
                                self.weights.tolist(), self.labels.tolist(), strict=True):
            if ok[u] and ok[v] and (label_mask is None or label_mask[lab]):
                w = min(w, graph.edges[u, v]["weight"]) if graph.has_edge(u, v) else w
                graph.add_edge(u, v, weight=w)
        return graph


def random_graph(seed, n=60, m=170, n_labels=4, dead_fraction=0.1):
    """Random graph with parallel edges, self loops, zero weights (weights 0..4) and dead nodes."""
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, n, m)
    targets = rng.integers(0, n, m)
    again = rng.integers(0, m, m // 8)
    loops = rng.integers(0, n, m // 20)
    sources = np.concatenate([sources, sources[again], loops])
    targets = np.concatenate([targets, targets[again], loops])
    order = np.argsort(sources, kind="stable")
    degrees = np.bincount(sources, minlength=n)
    return Graph(
        offsets=np.concatenate([[0], np.cumsum(degrees)]).astype(np.int64),
        sources=sources[order].astype(np.int64),
        targets=targets[order].astype(np.int64),
        weights=rng.integers(0, 5, len(order)).astype(np.float64),
        labels=rng.integers(0, n_labels, len(order)).astype(np.int32),
        alive=rng.random(n) >= dead_fraction,
        n_labels=n_labels,
    )


@pytest.fixture
def make_graph():
    """Factory fixture: ``make_graph(seed, **options)`` returns a seeded random :class:`Graph`."""
    return random_graph
