"""Fewest-edges paths by two breadth-first searches that meet in the middle.

paths.shortest_path grows one BFS from the source until it reaches the target:
on a graph of average degree d, a path of k edges costs about d^k work. Growing
a BFS from each end, always the side whose frontier has fewer edges, one whole
level at a time, costs about 2 d^(k/2). Each level is a few whole-array NumPy
steps over the frontier's edges (gathered by Adjacency.frontier_edges).

Nothing is allocated over every node of the graph: each side keeps the nodes it
has visited as a sorted array (membership by binary search) and its levels, so a
search costs in proportion to what it visits, not to the graph's size. Arrays
over every node (distances, parents, an enterable mask per side) cost six
allocations of up to 8 bytes a node per call, whose pages the kernel faults in
one by one: on 200k nodes that made a short path several times dearer than its
search.

When a new level of one side reaches nodes the other side has visited, the
best meeting node m (least total depth) gives a fewest-edges path: no shorter
one exists, or the searches would have met at an earlier level. Among equally
short paths, which one is returned is unspecified.
"""

from __future__ import annotations

from typing import NamedTuple

from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.csr import Csr
from graphsync.algorithms.lazy_numpy import np
from graphsync.algorithms.traverse import first_occurrences, member, merge_sorted


class Path(NamedTuple):
    """An unweighted path: ``labels[i]`` is the label id of the edge nodes[i] -> nodes[i+1].
    Defined here, not in paths (which imports SciPy, a quarter of a second in a cold
    backend that only needs a BFS); paths uses it too."""

    nodes: np.ndarray
    labels: np.ndarray


class _Side:
    """One side of the search: its graph, the nodes it has visited (sorted, with the
    depth of each), its levels (nodes, parents, labels) and its frontier."""

    def __init__(self, adj, root):
        self.adj = adj
        self.seen = np.array([root], dtype=np.int64)
        self.seen_depth = np.zeros(1, dtype=np.int64)
        self.levels = [(self.seen, np.array([-1], dtype=np.int64), np.array([-1], dtype=np.int32))]
        self.frontier = self.seen
        self.depth = 0

    def expand(self, alive, edge_label_mask):
        """The nodes first reached from the frontier through one allowed edge, not
        visited before, each once in discovery order (frontier order, then edge-list
        order) with the node and label it was first reached by; they become the
        frontier."""
        sources, reached, labels = self.adj.frontier_edges(self.frontier)
        keep = alive[reached] & ~member(self.seen, reached)
        if edge_label_mask is not None:
            keep &= edge_label_mask[labels]
        reached, sources, labels = reached[keep], sources[keep], labels[keep]
        first = first_occurrences(reached, len(alive))
        nodes = reached[first]
        self.depth += 1
        self.levels.append((nodes, sources[first], labels[first].astype(np.int32)))
        self.seen, self.seen_depth = merge_sorted(self.seen, nodes, (self.seen_depth, self.depth))
        self.frontier = nodes
        return nodes

    def depth_of(self, nodes):
        """The depth of each of ``nodes`` (visited by this side)."""
        return self.seen_depth[np.searchsorted(self.seen, nodes)]

    def chain(self, node):
        """Nodes and labels from ``node`` along parent pointers to the root."""
        parent = {}
        for nodes, parents, labels in self.levels:
            parent.update(zip(nodes.tolist(), zip(parents.tolist(), labels.tolist(), strict=True), strict=True))
        nodes, labels = [int(node)], []
        while parent[nodes[-1]][0] >= 0:
            up, label = parent[nodes[-1]]
            labels.append(label)
            nodes.append(up)
        return nodes, labels


def shortest_path(forward, backward, alive, src, dst, max_depth, edge_label_mask=None, expanded=None):
    """A fewest-edges path from ``src`` to ``dst`` of at most ``max_depth`` edges, as a
    Path, or None. ``forward`` is the graph to walk (an adjacency.Adjacency, or what
    walks like one: frontier_edges, degrees; or a csr.Csr), ``backward`` the same
    edges reversed; ``alive`` the nodes that may be used. ``expanded``: a dict of two
    lists, "forward" and "backward", to which each side's frontiers are appended as
    it expands them (the nodes whose edge lists, and whose edges' ends, the search
    read: what reads.api.Read.settle asks about)."""
    forward, backward = (Adjacency.of(g) if isinstance(g, Csr) else g for g in (forward, backward))
    alive = np.asarray(alive, dtype=bool)
    if edge_label_mask is not None:
        edge_label_mask = np.asarray(edge_label_mask, dtype=bool)
    if not (alive[src] and alive[dst]):
        return None
    if src == dst:
        return Path(np.array([src], dtype=np.int64), np.empty(0, dtype=np.int32))
    f, b = _Side(forward, src), _Side(backward, dst)
    while f.depth + b.depth < max_depth and len(f.frontier) and len(b.frontier):
        work = [int(s.adj.degrees(s.frontier).sum()) for s in (f, b)]
        side, other = (f, b) if work[0] <= work[1] else (b, f)
        if expanded is not None:
            expanded["forward" if side is f else "backward"].append(side.frontier)
        nodes = side.expand(alive, edge_label_mask)
        meet = nodes[member(other.seen, nodes)]
        if len(meet):
            m = int(meet[np.argmin(other.depth_of(meet))])
            head, head_labels = f.chain(m)
            tail, tail_labels = b.chain(m)
            nodes = head[::-1] + tail[1:]
            return Path(np.array(nodes, dtype=np.int64),
                        np.array(head_labels[::-1] + tail_labels, dtype=np.int32))
    return None
