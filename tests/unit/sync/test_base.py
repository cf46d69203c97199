"""graphsync.sync.base.cache_nbytes: what a backend's graph cache holds, as
graph.status().cache_bytes reports it."""

import numpy as np

from graphsync.algorithms import traverse
from graphsync.sync import base


def test_the_slots_traversals_keep_count_in_the_cache_once(monkeypatch):
    monkeypatch.setattr(base, "_cache", {})
    monkeypatch.setattr(base, "_beside", {})
    monkeypatch.setattr(traverse, "_SLOTS", {"slots": None})
    assert base.cache_nbytes() == 0
    traverse.first_occurrences(np.arange(5000, dtype=np.int64) % 700, 1000)  # 5,000 values of 1,000 ids
    assert base.cache_nbytes() == 4 * 1000
    traverse.node_slots(300)  # a smaller graph's: the same slots
    base._cache["held"] = np.zeros(10, dtype=np.int64)
    assert base.cache_nbytes() == 4 * 1000 + 80
