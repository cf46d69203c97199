"""Fewest-edges paths by two breadth-first searches that meet in the middle.

paths.shortest_path grows one BFS from the source until it reaches the target:
on a graph of average degree d, a path of k edges costs about d^k work. Growing
a BFS from each end, always the side whose frontier has fewer edges, one whole
level at a time, costs about 2 d^(k/2). Levels are expanded with
traverse.expand_level, the same vectorised step bfs uses.

When a new level of one side reaches nodes the other side has visited, the
best meeting node m (least total depth) gives a fewest-edges path: no shorter
one exists, or the searches would have met at an earlier level. Among equally
short paths, which one is returned is unspecified.
"""

from typing import NamedTuple

import numpy as np

from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.traverse import expand_level


class Path(NamedTuple):
    """An unweighted path: ``labels[i]`` is the label id of the edge nodes[i] -> nodes[i+1].
    Defined here, not in paths (which imports SciPy, a quarter of a second in a cold
    backend that only needs a BFS); paths uses it too."""

    nodes: np.ndarray
    labels: np.ndarray


def _chain(parent, label, node):
    """Nodes and labels from ``node`` along parent pointers to the root (parent -1)."""
    nodes, labels = [int(node)], []
    while parent[nodes[-1]] >= 0:
        labels.append(int(label[nodes[-1]]))
        nodes.append(int(parent[nodes[-1]]))
    return nodes, labels


def shortest_path(forward, backward, alive, src, dst, max_depth, edge_label_mask=None):
    """A fewest-edges path from ``src`` to ``dst`` of at most ``max_depth`` edges, as a
    Path, or None. ``forward`` is the graph to walk (an adjacency.Adjacency or a
    csr.Csr), ``backward`` the same edges reversed; ``alive`` the nodes that may be used."""
    forward, backward = (g if isinstance(g, Adjacency) else Adjacency.of(g) for g in (forward, backward))
    alive = np.asarray(alive, dtype=bool)
    if not (alive[src] and alive[dst]):
        return None
    if src == dst:
        return Path(np.array([src], dtype=np.int64), np.empty(0, dtype=np.int32))
    n = len(alive)
    sides = []
    for c, root in ((forward, src), (backward, dst)):
        dist = np.full(n, -1, dtype=np.int64)
        dist[root] = 0
        enterable = alive.copy()
        enterable[root] = False
        sides.append({"csr": c, "dist": dist, "enterable": enterable,
                      "parent": np.full(n, -1, dtype=np.int64), "label": np.full(n, -1, dtype=np.int32),
                      "frontier": np.array([root], dtype=np.int64), "depth": 0})
    f, b = sides
    while f["depth"] + b["depth"] < max_depth and len(f["frontier"]) and len(b["frontier"]):
        work = [int(s["csr"].degrees(s["frontier"]).sum()) for s in sides]
        side, other = (f, b) if work[0] <= work[1] else (b, f)
        c = side["csr"]
        nodes, parents, labels = expand_level(c, side["frontier"], side["enterable"], edge_label_mask)
        side["depth"] += 1
        side["enterable"][nodes] = False
        side["dist"][nodes] = side["depth"]
        side["parent"][nodes] = parents
        side["label"][nodes] = labels
        side["frontier"] = nodes
        meet = nodes[other["dist"][nodes] >= 0]
        if len(meet):
            m = int(meet[np.argmin(other["dist"][meet])])
            head, head_labels = _chain(f["parent"], f["label"], m)
            tail, tail_labels = _chain(b["parent"], b["label"], m)
            nodes = head[::-1] + tail[1:]
            return Path(np.array(nodes, dtype=np.int64),
                        np.array(head_labels[::-1] + tail_labels, dtype=np.int32))
    return None
