"""The one rule by which two edge weights are the same weight.

An edge is matched by its exact key (source, from, to, weight, label): replay
cancels an addition against a later removal (sync.changes.cancel_edges), a read
folds the overlay into the base (csr.fold_overlay, adjacency.Overlay), and the
join-row check keeps as many edges of each key as the visible rows carry
(carried.carried). Comparing weights with ``==`` or keying a dict by float
objects would never match a NaN weight (nan != nan; and since Python 3.10 every
NaN object hashes differently), so a removal could never remove it. Every one
of those comparisons goes through ``key``/``keys`` instead: NaN, whatever its
sign or payload, is +Infinity, the rule the SQL side applies to a weight
column's value (README "Weights", changes.weight_of, sources.weight_expr); -0.0
is 0.0. Pure Python/NumPy, no database.
"""

import math

from graphsync.algorithms.lazy_numpy import np


def key(w):
    """The weight ``w`` (any real number) as a float that compares and hashes like
    every other weight it is the same weight as: NaN as +Infinity, -0.0 as 0.0."""
    w = float(w)
    if w != w:
        return math.inf
    return w + 0.0  # -0.0 + 0.0 is 0.0


def keys(a):
    """``key`` of every weight of array ``a``, as a float64 array (``a`` itself when it
    holds no NaN: -0.0 == 0.0 already under NumPy's comparisons and sorts)."""
    a = np.asarray(a, dtype=np.float64)
    nan = np.isnan(a)
    if not nan.any():
        return a
    return np.where(nan, np.inf, a)
