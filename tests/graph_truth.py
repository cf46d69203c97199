"""Ground truth for the differential fuzz tests (tests/test_differential_fuzz*.py): walks
computed in Python over the edges read from the source tables by SQL. Nodes are (table,
key) pairs, edges (tail, head, label, weight). ``admit(node)``: whether a walk may start,
end or be at a node at all (it exists, its tenant); ``enter(node)``: whether a walk may
step onto one besides (node_tables, a filter: the seed is exempt)."""

import heapq
from collections import defaultdict, deque

import networkx as nx


def adjacency(edges, direction, labels=None):
    """{node: [(neighbour, label, weight)]} of the edges with ``labels`` (None: every one)."""
    adj = defaultdict(list)
    for u, v, label, w in edges:
        if labels is not None and label not in labels:
            continue
        if direction in ("out", "any"):
            adj[u].append((v, label, w))
        if direction in ("in", "any"):
            adj[v].append((u, label, w))
    return adj


def bfs(edges, seed, direction, admit, enter=None, labels=None, max_depth=6):
    """{node: its least depth} of a breadth-first walk from ``seed``."""
    if not admit(seed):
        return {}
    adj = adjacency(edges, direction, labels)
    depth = {seed: 0}
    q = deque([seed])
    while q:
        u = q.popleft()
        if depth[u] == max_depth:
            continue
        for v, _label, _w in adj[u]:
            if v in depth or not admit(v) or (enter is not None and not enter(v)):
                continue
            depth[v] = depth[u] + 1
            q.append(v)
    return depth


def dijkstra(edges, src, dst, direction, admit, enter=None, labels=None):
    """The least total weight from ``src`` to ``dst`` (both admitted), None when unreachable."""
    if not admit(src) or not admit(dst):
        return None
    adj = adjacency(edges, direction, labels)
    dist = {src: 0.0}
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, float("inf")):
            continue
        if u == dst:
            return d
        for v, _l, w in adj[u]:
            if enter is not None and not enter(v):
                continue
            if d + w < dist.get(v, float("inf")):
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return None


def components(nodes, edges, admit):
    """The connected components of the admitted nodes, each sorted, in order."""
    g = nx.Graph()
    g.add_nodes_from(n for n in nodes if admit(n))
    g.add_edges_from((u, v) for u, v, _l, _w in edges if u in g and v in g)
    return sorted(sorted(comp) for comp in nx.connected_components(g))
