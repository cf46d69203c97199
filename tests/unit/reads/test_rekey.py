"""What graphsync.reads.freshness.rekeyed relies on, over random histories of
concurrent transactions: a folded view kept across an apply, with the rows
committed since folded onto it, is the graph a fresh fold from the new applied
graph gives, whenever the apply's snapshot sees only transactions the view's last
snapshot saw (db.snapshot_within) -- and the rows to fold onto it are exactly those
START reads for it (pending in its snapshot, not seen by the view's).

A history: transactions with an xid (in start order), a commit time and log rows
(edge changes) whose ids come in the order they were written. A snapshot taken at
time t sees the transactions committed by t. The applied graph G0 is a fold of the
rows visible in snapshot D0; a reader folds the rows pending in D0 in chunks, one
per read at times t1 < t2 < ... (each chunk: visible in its snapshot, not in the
last one, in id order); an apply at time a takes D1 and applies the rows visible in
it and not in D0, in id order; the reader's next read at time s > a folds the rows
visible then and pending in D1 that its last snapshot did not see. Compared with a
fresh fold: G0 + the rows of D1 (id order) + the rows pending in D1 that the
snapshot at s sees (id order), per node, in every direction, as multisets of edges
(the order of a node's list may differ: freshness.rekeyed)."""


import numpy as np
import pytest
from csr_lists import per_node

from graphsync import db
from graphsync.algorithms import csr
from graphsync.algorithms.adjacency import Overlay, both_ways


def history(rng, transactions, top):
    """[(xid, start, commit, [(log id, row)])]: rows are edge changes (op, src, dst,
    weight, label, source); a row's log id is the order in which it was written."""
    starts = np.sort(rng.uniform(0, 100, transactions))
    txs = []
    writes = []
    for i, s in enumerate(starts):
        c = s + rng.exponential(6)
        xid = 1000 + i
        for _ in range(int(rng.integers(1, 4))):
            at = rng.uniform(s, c)
            op = 1 if rng.random() < 0.6 else -1
            row = (op, int(rng.integers(0, top)), int(rng.integers(0, top)), float(rng.integers(1, 3)),
                   int(rng.integers(0, 2)), 1)
            writes.append((at, xid, row))
        txs.append((xid, s, c))
    writes.sort()
    rows = {}
    for log_id, (_, xid, row) in enumerate(writes, 1):
        rows.setdefault(xid, []).append((log_id, row))
    return [(xid, s, c, rows.get(xid, [])) for xid, s, c in txs]


def snapshot(txs, t):
    """The pg_snapshot text of a snapshot taken at time t."""
    started = [x for x, s, _, _ in txs if s <= t]
    high = (max(started) + 1) if started else 1000
    running = [x for x, s, c, _ in txs if s <= t < c]
    low = min(running) if running else high
    return "%d:%d:%s" % (low, high, ",".join(map(str, running)))


def visible(snap, xid):
    low, high, xip = snap.split(":")
    return xid < int(low) or (xid < int(high) and str(xid) not in xip.split(","))


def rows_of(txs, see, not_in=()):
    """The rows of transactions visible in snapshot ``see`` and in none of ``not_in``, in id order."""
    out = [r for x, _, _, rows in txs for r in rows if visible(see, x) and not any(visible(n, x) for n in not_in)]
    return [row for _, row in sorted(out)]


def add(o, rows):
    if rows:
        o.add(*(np.asarray(c) for c in zip(*rows, strict=True)))


def overlay(base):
    return Overlay({"out": lambda: base, "in": lambda: csr.reverse(base), "any": lambda: both_ways(base)},
                   base.node_count)


@pytest.mark.parametrize("seed", range(40))
def test_a_view_kept_across_an_apply_within_its_rows_is_a_fresh_fold(seed):
    rng = np.random.default_rng(seed)
    top = 12
    e = csr.edges(rng.integers(0, top, 40), rng.integers(0, top, 40), rng.integers(1, 3, 40).astype(float),
                  rng.integers(0, 2, 40), np.ones(40, dtype=np.int64))
    base = csr.build(top, e)
    txs = history(rng, 80, top)
    d0_at, *reads = np.sort(rng.uniform(10, 90, 5))
    apply_at = rng.uniform(d0_at, reads[-1] + 20)
    next_read = max(apply_at, reads[-1]) + rng.uniform(0, 8)
    d0, d1 = snapshot(txs, d0_at), snapshot(txs, apply_at)
    g0 = overlay(base)
    for d in ("out", "in", "any"):
        g0.adjacency(d)
    add(g0, rows_of(txs, d0))
    # the reader's kept view: G0 copied, the rows pending in D0 folded read by read
    view = g0.copy()
    seen = d0
    for t in reads:
        now = snapshot(txs, t)
        add(view, rows_of(txs, now, (d0, seen)))
        seen = now
    s = snapshot(txs, next_read)
    kept = db.snapshot_within(d0, d1) and db.snapshot_within(d1, seen)
    if not kept:  # freshness.rekeyed refuses: the read folds from the applied graph
        return
    # the rows START reads for it: pending in D1, visible in S, not seen by the view
    add(view, rows_of(txs, s, (d1, seen)))
    fresh = g0.copy()
    add(fresh, rows_of(txs, d1, (d0,)))  # the apply
    add(fresh, rows_of(txs, s, (d1,)))  # a fresh fold of what is pending in S
    for d in ("out", "in", "any"):
        assert per_node(view.adjacency(d).compact()) == per_node(fresh.adjacency(d).compact()), d


def test_random_histories_keep_the_view_often_and_not_always():
    """The histories above exercise both answers of the snapshot test."""
    kept = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        txs = history(rng, 80, 12)
        d0_at, *reads = np.sort(rng.uniform(10, 90, 5))
        apply_at = rng.uniform(d0_at, reads[-1] + 20)
        kept += db.snapshot_within(snapshot(txs, d0_at), snapshot(txs, apply_at)) and db.snapshot_within(
            snapshot(txs, apply_at), snapshot(txs, reads[-1]))
    assert 5 <= kept <= 35, kept  # (of 40)
