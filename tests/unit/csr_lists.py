"""A Csr's edges per node, for comparing folds in tests."""

from collections import Counter

import numpy as np


def per_node(c, ordered=False):
    """{node: edge list} of a Csr, as ordered lists or as multisets (a reversed edge's
    source, stored as -1 - source in 'any', is read back)."""
    out = {}
    sources = np.where(c.sources < 0, -1 - c.sources, c.sources)
    for u in range(c.node_count):
        lo, hi = c.offsets[u], c.offsets[u + 1]
        edges = list(zip(c.targets[lo:hi].tolist(), c.weights[lo:hi].tolist(), c.labels[lo:hi].tolist(),
                         sources[lo:hi].tolist(), strict=True))
        if edges:
            out[u] = edges if ordered else Counter(edges)
    return out
