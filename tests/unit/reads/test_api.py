"""graphsync.reads.api._rows_of: where each parent of a traversal sits in its answer,
by sorting (small answers) or by scattering over every node id (large ones)."""

import numpy as np
import pytest

from graphsync.reads.api import _rows_of


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 5, 40, 300, 2000])
def test_rows_of_finds_every_parent_both_ways(seed, k):
    rng = np.random.default_rng(seed)
    n = 3000
    ids = rng.permutation(n)[:k].astype(np.int64)
    parents = np.where(rng.random(k) < 0.2, -1, ids[rng.integers(0, k, k)]).astype(np.int64)
    rows = _rows_of(ids, parents, n)
    has = parents >= 0
    np.testing.assert_array_equal(ids[rows[has]], parents[has])
    assert ((rows >= 0) & (rows < k)).all()  # a seed's (-1) row is some valid row


def test_rows_of_an_empty_answer():
    assert len(_rows_of(np.zeros(0, np.int64), np.zeros(0, np.int64), 10)) == 0
