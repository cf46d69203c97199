"""graphsync.algorithms.carried: keep the edges of secured sources that visible rows carry.

Checked against a reference over Python multisets: of the edges of a secured source,
the kept ones are, per exact key (source, src, dst, weight, label), as many as the
visible rows carry (never more than the graph has); every edge of another source stays."""

from collections import Counter

import numpy as np
import pytest

from graphsync.algorithms import carried, csr


def keys(e, mask=None):
    rows = zip(e.sources.tolist(), e.src.tolist(), e.dst.tolist(), e.weights.tolist(), e.labels.tolist(),
               strict=True)
    return Counter(r for i, r in enumerate(rows) if mask is None or mask[i])


def reference(e, secured, visible):
    shown = keys(visible)
    out = Counter()
    for k, count in keys(e).items():
        out[k] = min(count, shown[k]) if k[0] in secured else count
    return +out


def test_a_hidden_row_between_visible_ends_loses_its_edge_its_weight_and_its_label():
    # source 1 (a join table): 0 -> 1 twice (weight 1 label 0, weight 0.5 label 1), 1 -> 2;
    # source 2 (a foreign key): 0 -> 2. The caller sees the rows of 0 -> 1 (1, 0) only.
    e = csr.edges([0, 0, 1, 0], [1, 1, 2, 2], [1.0, 0.5, 1.0, 1.0], [0, 1, 0, 2], [1, 1, 1, 2])
    visible = csr.edges([0], [1], [1.0], [0], [1])
    assert carried.carried(e, [1], visible).tolist() == [True, False, False, True]
    assert carried.carried(e, [], visible).tolist() == [True] * 4
    assert carried.carried(e, [1], csr.edges([], [], [], [], [])).tolist() == [False, False, False, True]


def test_copies_are_kept_as_many_times_as_visible_rows_carry_them():
    e = csr.edges([3, 3, 3], [4, 4, 4], [1.0, 1.0, 1.0], [0, 0, 0], [5, 5, 5])
    assert carried.carried(e, [5], csr.edges([3], [4], [1.0], [0], [5])).sum() == 1
    assert carried.carried(e, [5], csr.edges([3, 3], [4, 4], [1.0, 1.0], [0, 0], [5, 5])).sum() == 2
    # a visible row whose edge the graph does not hold (not applied yet) adds nothing
    assert carried.carried(e, [5], csr.edges([3] * 5, [4] * 5, [1.0] * 5, [0] * 5, [5] * 5)).sum() == 3


@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_match_the_multiset_reference(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(0, 60)), 6
    e = csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.choice([0.5, 1.0, np.inf], m),
                  rng.integers(0, 3, m), rng.integers(1, 4, m))
    k = int(rng.integers(0, 40))
    visible = csr.edges(rng.integers(0, n, k), rng.integers(0, n, k), rng.choice([0.5, 1.0, np.inf], k),
                        rng.integers(0, 3, k), rng.integers(1, 3, k))
    secured = [1, 2]
    keep = carried.carried(e, secured, visible)
    assert keys(e, keep) == reference(e, set(secured), visible)
    out = csr.build(n, e)
    kept = carried.visible_csr(out, secured, visible)
    assert keys(csr.edge_list(kept)) == reference(e, set(secured), visible)


def test_a_nan_weight_is_the_same_weight_as_another_nan_and_as_infinity():
    """nan != nan: without weights.keys every NaN-weighted edge would be a key of its own,
    and a visible row carrying it would never keep it."""
    nan = float("nan")
    e = csr.edges([0, 0, 0], [1, 1, 1], [nan, -nan, 1.0], [0, 0, 0], [1, 1, 1])
    assert carried.carried(e, [1], csr.edges([0], [1], [nan], [0], [1])).tolist() == [True, False, False]
    assert carried.carried(e, [1], csr.edges([0, 0], [1, 1], [np.inf, nan], [0, 0], [1, 1])).tolist() == [
        True, True, False]
