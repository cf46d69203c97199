"""Keep only the edges a reader can see the carrying rows of.

Pure NumPy: no database access. The CSR and the overlay do not record which
source row carries an edge, only its edge source (``sources``). Where a reader
may see only some rows of an edge source's carrying table (its row-level
security), reads.edge_rows reads the rows the reader can see, as the edges they
carry, and ``carried`` keeps, of the edges of those sources, as many edges of
each exact key (source, src, dst, weight, label) as the visible rows carry: an
edge that a hidden row carries between the same two nodes as a visible row, with
another weight or label, is dropped, and so is the second copy when only one of
two rows carrying the same edge is visible. Edges of other sources are kept.
Weights are compared by algorithms.weights.key (a NaN weight is +Infinity).
"""

from graphsync.algorithms import csr as csr_mod
from graphsync.algorithms import weights
from graphsync.algorithms.lazy_numpy import np

FIELDS = ("sources", "src", "dst", "weights", "labels")


def carried(e, secured, visible):
    """bool[m]: which edges of edge list ``e`` (csr.Edges) to keep. ``secured``:
    the edge sources whose edges must be carried by a visible row; ``visible``:
    a csr.Edges of the edges the visible rows carry (of those sources)."""
    m = len(e.src)
    keep = np.ones(m, dtype=bool)
    if not len(secured) or not m:
        return keep
    candidates = np.flatnonzero(np.isin(e.sources, np.asarray(secured, dtype=np.int32)))
    if not len(candidates):
        return keep
    keep[candidates] = False
    k = len(visible.src)
    if not k:
        return keep
    # Candidates and visible edges together, sorted by key, the candidates of a key
    # first: a candidate is kept when its rank among its key's candidates is below
    # the number of visible edges of that key.
    cols = [np.concatenate([np.asarray(getattr(e, f))[candidates], np.asarray(getattr(visible, f))])
            for f in FIELDS]
    cols[FIELDS.index("weights")] = weights.keys(cols[FIELDS.index("weights")])  # NaN: see weights.py
    is_visible = np.concatenate([np.zeros(len(candidates), dtype=np.int8), np.ones(k, dtype=np.int8)])
    order = np.lexsort([is_visible] + cols[::-1])
    ordered = [c[order] for c in cols]
    starts = np.zeros(len(order), dtype=bool)
    starts[0] = True
    for c in ordered:
        starts[1:] |= c[1:] != c[:-1]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    vis_sorted = is_visible[order] == 1
    shown = np.bincount(group[vis_sorted], minlength=len(first))
    rank = np.arange(len(order)) - first[group]
    kept = ~vis_sorted & (rank < shown[group])
    keep[candidates[order[kept]]] = True
    return keep


def visible_csr(out, secured, visible):
    """The 'out' csr.Csr ``out`` without the edges ``carried`` drops."""
    e = csr_mod.edge_list(out)
    keep = carried(e, secured, visible)
    if keep.all():
        return out
    return csr_mod.build(out.node_count, csr_mod.Edges(*(a[keep] for a in e)))
