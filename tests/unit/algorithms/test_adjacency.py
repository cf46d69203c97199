"""graphsync.algorithms.adjacency: the overlay folded incrementally, node by node,
gives the same graph as folding it into full CSR arrays (csr.fold_overlay), in
every direction, whatever the chunks the overlay arrives in."""

import math
from collections import Counter

import numpy as np
import pytest
from csr_lists import per_node

from graphsync.algorithms import adjacency, csr
from graphsync.algorithms.adjacency import Adjacency, Overlay, both_ways, cut_base
from graphsync.algorithms.traverse import bfs, bfs_over


def random_base(rng, n, m):
    e = csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.integers(1, 3, m).astype(float),
                  rng.integers(0, 3, m), rng.integers(1, 3, m))
    return csr.build(n, e)


def random_overlay(rng, base, n_rows, top):
    """Rows that remove base edges, add new ones (some beyond the base's nodes),
    and remove edges that are not there."""
    e = csr.edge_list(base)
    rows = []
    for _ in range(n_rows):
        kind = rng.integers(0, 3)
        if kind == 0 and len(e.src):
            i = rng.integers(0, len(e.src))
            key = (e.src[i], e.dst[i], e.weights[i], e.labels[i], e.sources[i])
            rows.append((-1, *key))
        elif kind == 1:
            rows.append((1, rng.integers(0, top), rng.integers(0, top), float(rng.integers(1, 3)),
                         rng.integers(0, 3), rng.integers(1, 3)))
        else:
            rows.append((-1, rng.integers(0, top), rng.integers(0, top), 1.0, 0, 1))
    return rows


def columns(rows):
    if not rows:
        return [np.zeros(0)] * 6
    return [np.asarray(c) for c in zip(*rows, strict=True)]


def reference(base, rows, cuts=frozenset()):
    """The folded graph of each direction, from full arrays."""
    ops, src, dst, w, lab, es = columns(rows)
    over = (np.asarray(ops, dtype=np.int64), csr.edges(src, dst, w, lab, es))
    folded = csr.fold_overlay(csr.edge_list(base), over, set(cuts))
    top = max([base.node_count] + [int(x) + 1 for x in np.concatenate([folded.src, folded.dst])])
    out = csr.build(top, folded)
    both = csr.Edges(*(np.concatenate([a, b]) for a, b in zip(
        folded, (folded.dst, folded.src, folded.weights, folded.labels, folded.sources), strict=True)))
    return {"out": out, "in": csr.reverse(out), "any": csr.build(top, both)}


def overlay_of(base, cuts=frozenset()):
    bases = {"out": lambda: cut_base(base, cuts), "in": lambda: csr.reverse(cut_base(base, cuts)),
             "any": lambda: both_ways(cut_base(base, cuts))}
    return Overlay(bases, base.node_count)


# (SHORT_LIST, FEW_DIRTY) of each way a node's list is recomputed: one node at a time
# (Overlay._relocate) with Python lists (a short base list, most nodes) or NumPy arrays (a
# long one); many nodes at once (Overlay._relocate_many, more than FEW_DIRTY asked for),
# all short, or those of more than two base edges each on its own with arrays.
WAYS = {"lists": (10 ** 9, 10 ** 9), "arrays": (-1, 10 ** 9), "many": (10 ** 9, -1), "many_mixed": (2, -1)}


@pytest.fixture(params=sorted(WAYS))
def relocation(request, monkeypatch):
    short, few = WAYS[request.param]
    monkeypatch.setattr(adjacency, "SHORT_LIST", short)
    monkeypatch.setattr(adjacency, "FEW_DIRTY", few)
    return request.param


@pytest.mark.parametrize("seed", range(12))
def test_incremental_fold_equals_the_full_fold(seed, relocation):
    rng = np.random.default_rng(seed)
    base = random_base(rng, 30, 120)
    rows = random_overlay(rng, base, 80, 36)
    cuts = frozenset({1}) if seed % 3 == 0 else frozenset()
    expected = reference(base, rows, cuts)
    o = overlay_of(base, cuts)
    o.adjacency("out")  # kept from the start; 'in' and 'any' are made halfway
    cut = int(rng.integers(0, len(rows)))
    chunks = [rows[:cut], rows[cut:]]
    o.add(*columns(chunks[0]))
    o.adjacency("in")
    o.adjacency("any")
    for i in range(0, len(chunks[1]), 7):
        o.add(*columns(chunks[1][i:i + 7]))
    got = {d: o.adjacency(d).compact() for d in ("out", "in", "any")}
    # 'out' keeps fold_overlay's order exactly; 'in' and 'any' the same edges per node.
    assert per_node(got["out"], True) == per_node(expected["out"], True)
    for d in ("in", "any"):
        assert per_node(got[d], False) == per_node(expected[d], False)
    assert o.stats["full"] == 3  # one per direction, never again


def test_frontier_edges_read_base_and_relocated_nodes_in_order():
    base = csr.build(4, csr.edges([0, 0, 1, 2], [1, 2, 2, 3], [1, 1, 1, 1], [0, 1, 0, 0], [1, 1, 1, 1]))
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add([1, -1], [1, 0], [3, 1], [1.0, 1.0], [2, 0], [1, 1])  # 1 gains 1->3; 0 loses 0->1
    sources, targets, labels = a.frontier_edges(np.array([0, 1, 2], dtype=np.int64))
    assert sources.tolist() == [0, 1, 1, 2]
    assert targets.tolist() == [2, 2, 3, 3]
    assert labels.tolist() == [1, 0, 2, 0]
    assert a.degrees(np.array([0, 1, 2, 3])).tolist() == [1, 2, 1, 0]


def test_removing_an_edge_that_is_not_there_removes_nothing_and_new_nodes_grow():
    base = csr.build(2, csr.edges([0], [1], [1.0], [0], [1]))
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add([-1, 1], [0, 5], [0, 0], [1.0, 1.0], [0, 0], [1, 1])
    assert a.node_count == 6
    assert per_node(a.compact(), True) == {0: [(1, 1.0, 0, 1)], 5: [(0, 1.0, 0, 1)]}


def test_a_copy_does_not_see_later_changes_and_the_tail_compacts(relocation):
    rng = np.random.default_rng(7)
    base = random_base(rng, 20, 60)
    o = overlay_of(base)
    o.adjacency("out")
    snapshot = o.copy()
    before = per_node(snapshot.adjacency("out").compact(), True)
    rows = []
    for _ in range(200):  # the same few nodes relocated again and again
        s, d = int(rng.integers(0, 3)), int(rng.integers(0, 20))
        rows.append((1, s, d, 1.0, 0, 1))
        rows.append((-1, s, d, 1.0, 0, 1))
    for i in range(0, len(rows), 2):
        o.add(*columns(rows[i:i + 2]))
    assert per_node(snapshot.adjacency("out").compact(), True) == before
    a = o.adjacency("out")
    assert per_node(a.compact(), True) == per_node(reference(base, rows)["out"], True)
    assert a.tail_used <= 4 * max(a.tail_live, 256)


def test_traversal_over_a_patched_adjacency_equals_traversal_over_full_arrays(relocation):
    rng = np.random.default_rng(3)
    base = random_base(rng, 40, 160)
    rows = random_overlay(rng, base, 60, 40)
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add(*columns(rows))
    full = reference(base, rows)["out"]
    alive = np.ones(a.node_count, dtype=bool)
    alive[rng.integers(0, a.node_count, 5)] = False
    for seed in range(10):
        want = bfs(full.offsets, full.targets, full.labels, alive, [seed], 3, 1000)
        got = bfs_over(a, alive, [seed], 3, 1000)
        assert got.nodes.tolist() == want.nodes.tolist()
        assert got.parent.tolist() == want.parent.tolist()


def test_an_adjacency_of_plain_arrays_needs_no_weights():
    a = Adjacency([0, 1, 1], [1], [0])
    assert a.frontier_edges(np.array([0, 1]))[1].tolist() == [1]


def test_an_empty_base_grows_and_compacts(relocation):
    empty = csr.build(0, csr.edges([], [], [], [], []))
    o = overlay_of(empty)
    a = o.adjacency("out")
    a.grow(3)
    assert a.compact().offsets.tolist() == [0, 0, 0, 0]
    o.add([1], [2], [0], [1.0], [0], [1])
    assert a.frontier_edges(np.array([0, 1, 2]))[1].tolist() == [0]
    assert per_node(a.compact(), True) == {2: [(0, 1.0, 0, 1)]}


@pytest.mark.parametrize("seed", range(8))
def test_a_few_frontier_nodes_are_gathered_as_a_whole_frontier_is(seed, monkeypatch):
    """Up to SMALL_FRONTIER nodes are read slice by slice: the same edges, order
    and dtypes, for base, relocated and grown nodes."""
    from graphsync.algorithms import adjacency

    rng = np.random.default_rng(seed + 40)
    base = random_base(rng, 30, 120)
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add(*columns(random_overlay(rng, base, 60, 36)))
    frontiers = [rng.integers(0, a.node_count, int(rng.integers(0, adjacency.SMALL_FRONTIER + 1)))
                 for _ in range(20)]
    few = [a.frontier_edges(f) for f in frontiers]
    monkeypatch.setattr(adjacency, "SMALL_FRONTIER", -1)
    for f, got in zip(frontiers, few, strict=True):
        for x, y in zip(got, a.frontier_edges(f), strict=True):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype


@pytest.mark.parametrize("seed", range(6))
def test_edge_lists_are_the_frontier_edges_node_by_node(seed):
    rng = np.random.default_rng(seed + 90)
    base = random_base(rng, 30, 120)
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add(*columns(random_overlay(rng, base, 60, 36)))
    for _ in range(20):
        frontier = rng.integers(0, a.node_count, int(rng.integers(0, 12))).tolist()
        lists = a.edge_lists(frontier, 10**9)
        sources, targets, labels = a.frontier_edges(np.array(frontier, dtype=np.int64))
        assert [u for u, (t, _) in zip(frontier, lists, strict=True) for _ in t] == sources.tolist()
        assert [x for t, _ in lists for x in t] == targets.tolist()
        assert [x for _, lab in lists for x in lab] == labels.tolist()
        total = len(targets)
        assert a.edge_lists(frontier, total) is not None
        assert total == 0 or a.edge_lists(frontier, total - 1) is None


def test_changed_edge_lists_are_made_when_read_and_only_those_read():
    """Relocation is lazy: a change relocates nothing; a read relocates the changed
    nodes it asks about, once each however often they changed; a copy taken while
    changes wait makes its own lists from its own counts; every accessor reads the
    changed lists (and the result equals the full fold)."""
    rng = np.random.default_rng(11)
    base = random_base(rng, 40, 160)
    o = overlay_of(base)
    a = o.adjacency("out")
    rows = [(1, 3, 7, 1.0, 0, 1), (1, 3, 8, 1.0, 0, 1), (1, 5, 9, 2.0, 1, 2), (1, 30, 1, 1.0, 0, 1)]
    o.add(*columns(rows[:2]))
    o.add(*columns(rows[2:]))
    assert o.stats["nodes"] == 0 and set(a.dirty) == {3, 5, 30}
    copy = o.copy()
    o.add(*columns([(-1, 3, 7, 1.0, 0, 1)]))  # not in the copy
    sources, targets, _ = a.frontier_edges(np.array([3, 4], dtype=np.int64))
    assert o.stats["nodes"] == 1 and set(a.dirty) == {5, 30}  # only 3, once
    assert targets[sources == 3].tolist()[-1:] == [8] and 7 not in targets[sources == 3].tolist()[-2:]
    assert a.edge_lists([5], 100)[0][0][-1] == 9 and set(a.dirty) == {30}
    assert a.degrees(np.array([30])).tolist() == [int(base.offsets[31] - base.offsets[30]) + 1] and not a.dirty
    expected = reference(base, rows + [(-1, 3, 7, 1.0, 0, 1)])["out"]
    assert per_node(a.compact(), True) == per_node(expected, True)
    c = copy.adjacency("out")
    assert set(c.dirty) == {3, 5, 30}
    assert per_node(c.compact(), True) == per_node(reference(base, rows)["out"], True)


def test_a_minus_removes_a_nan_weighted_edge_and_plus_minus_of_one_cancel(relocation):
    """The incremental overlay keys its counts and matches base edges by weights.key: a
    NaN weight (nan != nan) is +Infinity, whichever NaN object a row holds."""
    nan = float("nan")
    base = csr.build(3, csr.edges([0, 0], [1, 2], [nan, 1.0], [0, 0], [1, 1]))
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add([-1, 1, -1], [0, 1, 1], [1, 2, 2], [-nan, nan, float("nan")], [0, 0, 0], [1, 1, 1])
    assert per_node(a.compact(), True) == {0: [(2, 1.0, 0, 1)]}
    assert {adjacency.NET.unpack(k): n for k, n in o.net.items() if n} == {(0, 1, math.inf, 0, 1): -1}
    o.adjacency("any")  # made after the rows: from the net counts
    assert per_node(o.adjacency("any").compact(), False) == {0: Counter([(2, 1.0, 0, 1)]),
                                                             2: Counter([(0, 1.0, 0, 1)])}


def test_a_copy_shares_the_relocation_arrays_until_either_side_relocates_a_node(relocation):
    """Adjacency.copy copies on write: a copy that relocates nothing copies no array,
    and a node relocated on either side afterwards is not seen by the other."""
    rng = np.random.default_rng(11)
    base = random_base(rng, 30, 90)
    rows = random_overlay(rng, base, 40, 30)
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add(*columns(rows[:20]))
    a.compact()  # relocates the nodes the rows changed
    kept = per_node(a.compact(), True)
    c = o.copy()
    b = c.adjacency("out")
    assert b.slot is a.slot and b.t_targets is a.t_targets  # shared: nothing copied
    c.add(*columns(rows[20:]))
    assert per_node(b.compact(), True) == per_node(reference(base, rows)["out"], True)
    assert b.slot is not a.slot and b.t_targets is not a.t_targets  # copied when written
    assert per_node(a.compact(), True) == kept  # the original does not see the copy's rows
    o.add(*columns(rows[20:]))  # and the copy does not see the original's
    assert per_node(a.compact(), True) == per_node(reference(base, rows)["out"], True)
    more = [(1, 0, 1, 1.0, 0, 1)] * 3
    o.add(*columns(more))
    a.compact()
    assert per_node(b.compact(), True) == per_node(reference(base, rows)["out"], True)


def test_a_short_list_a_long_one_and_many_at_once_relocate_alike(monkeypatch):
    """A node's base list with repeated edges (the same key several times, NaN and
    signed-zero weights): a removal takes the first matching edges still kept, in base
    order, and the additions follow -- the same list by Python lists, by arrays and
    many nodes at once, and what fold_overlay gives."""
    nan = float("nan")
    targets = [1, 2, 1, 1, 3, 2, 1, 4, 1, 2]
    weights = [1.0, nan, 1.0, 2.0, -0.0, nan, 1.0, 1.0, 1.0, 2.0]
    labels = [0, 0, 0, 0, 1, 0, 1, 0, 0, 0]
    base = csr.build(5, csr.edges([0] * 10, targets, weights, labels, [1] * 10))
    rows = [(-1, 0, 1, 1.0, 0, 1), (-1, 0, 1, 1.0, 0, 1), (-1, 0, 2, nan, 0, 1), (-1, 0, 3, 0.0, 1, 1),
            (1, 0, 4, 3.0, 2, 1), (-1, 0, 9, 1.0, 0, 1), (1, 0, 1, 1.0, 0, 1), (-1, 0, 1, 1.0, 0, 1)]
    got = {}
    for way, (short, few) in WAYS.items():
        monkeypatch.setattr(adjacency, "SHORT_LIST", short)
        monkeypatch.setattr(adjacency, "FEW_DIRTY", few)
        o = overlay_of(base)
        a = o.adjacency("out")
        o.add(*columns(rows))
        got[way] = without_nan(per_node(a.compact(), True))
    assert got["lists"] == got["arrays"] == got["many"] == got["many_mixed"] == without_nan(
        per_node(reference(base, rows)["out"], True))
    assert [e[0] for e in got["lists"][0]] == [1, 2, 1, 4, 1, 2, 4]  # base 3, 5, 6, 7, 8, 9; then the addition


def without_nan(lists):
    """per_node's lists with a NaN weight as the text 'nan' (NaN != NaN)."""
    return {u: [(t, "nan" if w != w else w, lab, es) for t, w, lab, es in edges] for u, edges in lists.items()}


@pytest.mark.parametrize("seed", range(4))
def test_a_direction_a_copy_made_is_made_once_more_in_the_overlay_copied_and_copied_after(seed, relocation):
    """An overlay that never walks a direction itself (the applied graph a reader under
    writes only copies, to fold onto): the first copy makes the direction from the net
    counts, the overlay makes it at its next copy, and every copy after copies it --
    two makings in all (``stats``, shared by the copies), not one per copy -- and each
    graph is the one its rows give."""
    rng = np.random.default_rng(seed)
    base = random_base(rng, 30, 120)
    rows = random_overlay(rng, base, 70, 36)
    o = overlay_of(base)
    o.add(*columns(rows[:20]), later=True)
    copies = []
    for i in range(5):
        fold = rows[20 + 10 * i:30 + 10 * i]
        c = o.copy()
        c.add(*columns(fold))  # a fold's rows, onto the copy
        c.adjacency("out").compact()
        copies.append((c, rows[:30 + 10 * i]))
        o.add(*columns(fold), later=True)  # the same rows, applied
    assert o.stats["full"] == 2
    for c, folded in copies:
        assert per_node(c.adjacency("out").compact(), True) == per_node(reference(base, folded)["out"], True)
    assert per_node(o.adjacency("out").compact(), True) == per_node(reference(base, rows)["out"], True)
    assert o.stats["full"] == 2


def test_rows_added_for_later_reach_a_direction_when_it_is_walked_or_copied(monkeypatch):
    """add(later=True) counts the rows in ``net`` at once and in the directions held
    only when one is asked for (adjacency) or the overlay copied -- or at once when
    more than MAX_BEHIND rows wait -- and then as add() does: an adjacency taken before
    is up to date after."""
    rng = np.random.default_rng(5)
    base = random_base(rng, 30, 120)
    rows = random_overlay(rng, base, 40, 36)
    o = overlay_of(base)
    a = o.adjacency("out")
    o.add(*columns(rows[:20]), later=True)
    assert not a.dirty and o.behind_rows == 20  # not folded into 'out' yet
    assert sum(abs(n) for n in o.net.values()) > 0
    c = o.copy()  # folds them first: the copy holds them
    assert not o.behind and a.dirty
    assert per_node(c.adjacency("out").compact(), True) == per_node(reference(base, rows[:20])["out"], True)
    o.add(*columns(rows[20:]), later=True)
    assert per_node(o.adjacency("out").compact(), True) == per_node(reference(base, rows)["out"], True)
    assert per_node(a.compact(), True) == per_node(reference(base, rows)["out"], True)
    monkeypatch.setattr(adjacency, "MAX_BEHIND", 5)
    o.add(*columns(rows[:10]), later=True)  # more than 5 wait: folded now
    assert not o.behind


def test_the_garbage_collector_never_follows_the_overlays_counts_nor_its_node_sets():
    """What an overlay keeps from read to read -- its counts (``net``, each node's in
    every direction) and its node sets (each direction's ``owned`` and its adjacency's
    ``dirty``) -- holds only bytes, numbers and None in plain dicts, which Python's
    cyclic garbage collector never tracks, from the start and whatever is added later
    (before: tuple keys, re-tracked by every store that named a new tuple, and sets,
    always followed; each full collection in a reader's backend under unthrottled
    writes walked them: 25-35 ms of CPU). Only the one dict per direction that holds
    the nodes' counts is tracked (it holds dicts)."""
    import gc

    rng = np.random.default_rng(9)
    base = random_base(rng, 50, 200)
    rows = random_overlay(rng, base, 300, 60)
    o = overlay_of(base)
    o.add(*columns(rows[:50]))
    for d in ("out", "in", "any"):
        o.adjacency(d)  # made from ``net``
    o.add(*columns(rows[50:150]))
    c = o.copy()
    c.add(*columns(rows[150:250]), later=True)
    c.adjacency("out").edge_lists([0, 1, 2], 1000)  # caught up, some nodes relocated
    o.add(*columns(rows[250:]))
    for overlay in (o, c):
        counts = [overlay.net] + [e for entries in overlay.entries.values() for e in entries.values()]
        sets = [*overlay.owned.values()] + [a.dirty for a in overlay.adj.values()]
        assert len(counts) > 100 and sum(map(len, sets)) > 50
        assert not [x for x in counts + sets if gc.is_tracked(x)]


@pytest.mark.parametrize("fields", [adjacency._NET_FIELDS, adjacency._EDGE_FIELDS])
def test_keys_packed_one_by_one_are_those_the_record_array_makes(fields):
    """A few rows' keys are packed one by one, more through a record array: a dict
    finds a key made either way (the same bytes), weight keys and signed ints alike."""
    rng = np.random.default_rng(3)
    n = 3 * adjacency.FEW_KEYS
    columns = [rng.integers(-2**31, 2**31, n) if kind == "<i4" else
               rng.choice([0.0, 1.5, math.inf, 2.0**60], n) if kind == "<f8" else rng.integers(0, 2**40, n)
               for _, kind in fields]
    many = adjacency._packed(fields, columns)
    few = [k for i in range(0, n, adjacency.FEW_KEYS)
           for k in adjacency._packed(fields, [c[i:i + adjacency.FEW_KEYS] for c in columns])]
    assert len(many) == n and many == few
    struct = adjacency.NET if fields is adjacency._NET_FIELDS else adjacency.EDGE
    assert [struct.unpack(k) for k in many] == list(zip(*(c.tolist() for c in columns), strict=True))
