"""graphsync.algorithms.csr: build, edge lists, reverse, bytes, drop_dead and overlay folding.

fold_overlay is checked against references over Python multisets (collections.Counter of
(src, dst, weight, label, source) tuples). Its contract, from reads/view.py's OVERLAY query
and sync/apply.py: the overlay is graph._edge_overlay in id order, '+' adds one edge and
'-' removes one matching edge; a TRUNCATE records a cut (edge source, highest overlay id
then), and the query hands fold_overlay only the overlay rows after their source's cut,
plus the cut sources, whose base edges are all gone. Rows are +1/-1 counts netted per
edge, so they commute (sync/retry.py applies a skipped row after later ones).
"""

import threading
from collections import Counter

import numpy as np
import pytest

from graphsync.algorithms import csr

SOURCES = (1, 2, 3)


def multiset(e):
    return Counter(zip(e.src.tolist(), e.dst.tolist(), e.weights.tolist(), e.labels.tolist(),
                       e.sources.tolist(), strict=True))


def from_tuples(rows):
    return csr.edges(*(zip(*rows, strict=True) if rows else ([], [], [], [], [])))


def overlay(rows):
    """(ops, Edges) from [(op, (src, dst, weight, label, source))]."""
    return (np.array([1 if op == "+" else -1 for op, _ in rows], dtype=np.int64),
            from_tuples([edge for _, edge in rows]))


def random_edge(rng, n):
    """Few distinct values, so parallel edges and near-misses (same ends, other weight,
    label or source) are common."""
    return (int(rng.integers(0, n)), int(rng.integers(0, n)), float(rng.choice([0.5, 1.0, 2.0])),
            int(rng.integers(0, 2)), int(rng.choice(SOURCES)))


def random_base(rng, n, m):
    """A base edge list sorted by src (as edge_list returns), with parallel edges."""
    rows = [random_edge(rng, n) for _ in range(m)]
    rows += [rows[i] for i in rng.integers(0, m, m // 4)] if m else []
    return csr.edge_list(csr.build(n, from_tuples(rows)))


def check_dtypes(e):
    assert [a.dtype for a in e] == [np.int64, np.int64, np.float64, np.int32, np.int32]


# build, edge_list, reverse

def test_edges_give_the_canonical_dtypes():
    e = csr.edges([1], [2.0], [3], [4.0], [5])
    check_dtypes(e)
    assert e.dst.tolist() == [2] and e.weights.tolist() == [3.0]


@pytest.mark.parametrize("seed", range(8))
def test_build_groups_edges_by_source_node_keeping_their_order(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    rows = [random_edge(rng, n) for _ in range(int(rng.integers(0, 80)))]
    c = csr.build(n + 3, from_tuples(rows))  # the last nodes have no edges
    assert c.node_count == n + 3 and c.edge_count == len(rows)
    assert c.offsets[0] == 0 and c.offsets[-1] == len(rows) and np.all(np.diff(c.offsets) >= 0)
    assert c.offsets.dtype == np.int64
    for u in range(c.node_count):
        lo, hi = c.offsets[u], c.offsets[u + 1]
        mine = [r[1:] for r in rows if r[0] == u]  # stable: input order within a node
        assert list(zip(c.targets[lo:hi].tolist(), c.weights[lo:hi].tolist(), c.labels[lo:hi].tolist(),
                        c.sources[lo:hi].tolist(), strict=True)) == mine
    e = csr.edge_list(c)
    check_dtypes(e)
    assert multiset(e) == Counter(rows)
    assert np.all(np.diff(e.src) >= 0)


def test_build_of_no_edges():
    c = csr.build(4, from_tuples([]))
    assert c.offsets.tolist() == [0, 0, 0, 0, 0] and c.edge_count == 0
    assert csr.edge_list(c).src.tolist() == []
    c = csr.build(0, from_tuples([]))
    assert c.offsets.tolist() == [0] and c.node_count == 0


def test_build_small_example():
    c = csr.build(4, from_tuples([(2, 0, 1.0, 0, 1), (0, 3, 2.0, 1, 2), (2, 1, 1.5, 0, 1), (0, 0, 1.0, 0, 3)]))
    assert c.offsets.tolist() == [0, 2, 2, 4, 4]
    assert c.targets.tolist() == [3, 0, 0, 1]
    assert c.weights.tolist() == [2.0, 1.0, 1.0, 1.5]
    assert c.labels.tolist() == [1, 0, 0, 0]
    assert c.sources.tolist() == [2, 3, 1, 1]


@pytest.mark.parametrize("seed", range(6))
def test_reverse_flips_every_edge(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 25))
    c = csr.build(n, csr.edges(*zip(*[random_edge(rng, n) for _ in range(60)], strict=True)))
    r = csr.reverse(c)
    assert r.node_count == c.node_count and r.edge_count == c.edge_count
    assert multiset(csr.edge_list(r)) == Counter(
        (d, s, w, lab, src) for s, d, w, lab, src in multiset(csr.edge_list(c)).elements())
    assert multiset(csr.edge_list(csr.reverse(r))) == multiset(csr.edge_list(c))


# bytes

def test_bytes_round_trip_little_endian():
    c = csr.build(3, csr.edges([0, 2, 2], [1, 0, 2], [0.5, 1.0, -2.0], [7, 0, 1], [1, 2, 3]))
    buffers = csr.to_bytes(c)
    assert set(buffers) == set(csr.Csr._fields)
    assert buffers["offsets"] == np.array([0, 1, 1, 3], dtype="<i8").tobytes()
    assert buffers["labels"] == b"\x07\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"
    assert buffers["weights"][:8] == b"\x00\x00\x00\x00\x00\x00\xe0\x3f"  # 0.5
    back = csr.from_bytes(buffers)
    for name in csr.Csr._fields:
        assert getattr(back, name).dtype == np.dtype(csr.DTYPES[name])
        assert getattr(back, name).tolist() == getattr(c, name).tolist()


def test_to_bytes_converts_other_dtypes():
    """An array of another dtype (say int32 targets, big-endian weights) is written in
    the stored dtype, not as its own bytes."""
    c = csr.Csr(np.array([0, 2], dtype=np.int32), np.array([5, 6], dtype=np.int32),
                np.array([1.5, 2.5], dtype=">f8"), np.array([1, 2], dtype=np.int64),
                np.array([3, 4], dtype=np.int64))
    back = csr.from_bytes(csr.to_bytes(c))
    assert back.offsets.tolist() == [0, 2] and back.targets.tolist() == [5, 6]
    assert back.weights.tolist() == [1.5, 2.5] and back.labels.tolist() == [1, 2]
    assert back.sources.tolist() == [3, 4]


def test_bytes_of_an_empty_graph():
    back = csr.from_bytes(csr.to_bytes(csr.build(0, from_tuples([]))))
    assert back.node_count == 0 and back.edge_count == 0


# drop_dead

@pytest.mark.parametrize("seed", range(5))
def test_drop_dead_keeps_edges_between_alive_nodes(seed):
    rng = np.random.default_rng(200 + seed)
    n = 20
    e = random_base(rng, n, 70)
    alive = rng.random(n) < 0.7
    kept = csr.drop_dead(e, alive)
    check_dtypes(kept)
    assert multiset(kept) == Counter({k: c for k, c in multiset(e).items() if alive[k[0]] and alive[k[1]]})


def test_drop_dead_with_everyone_dead_or_alive():
    e = csr.edges([0, 1], [1, 1], [1.0, 2.0], [0, 0], [1, 1])
    assert multiset(csr.drop_dead(e, np.ones(2, dtype=bool))) == multiset(e)
    assert len(csr.drop_dead(e, np.zeros(2, dtype=bool)).src) == 0


# fold_overlay: examples

A = (0, 1, 1.0, 0, 1)
A_W = (0, 1, 2.0, 0, 1)     # A with another weight
A_L = (0, 1, 1.0, 1, 1)     # ... another label
A_S = (0, 1, 1.0, 0, 2)     # ... another edge source
B = (1, 0, 1.0, 0, 1)       # A reversed: same src range lookup must not confuse them
C = (2, 1, 1.0, 0, 3)


def fold(base_rows, rows, cuts=()):
    base = csr.edge_list(csr.build(4, from_tuples(base_rows)))
    folded = csr.fold_overlay(base, overlay(rows), set(cuts))
    check_dtypes(folded)
    return multiset(folded)


def test_no_overlay_no_cut_is_the_base():
    base = random_base(np.random.default_rng(1), 10, 40)
    folded = csr.fold_overlay(base, overlay([]), set())
    assert [a.tolist() for a in folded] == [a.tolist() for a in base]


def test_plus_adds_one_edge_each_time():
    assert fold([], [("+", A)]) == Counter([A])
    assert fold([A], [("+", A), ("+", A)]) == Counter({A: 3})


def test_minus_removes_one_of_parallel_edges():
    assert fold([A, A, C], [("-", A)]) == Counter({A: 1, C: 1})


def test_minus_of_an_edge_not_there_removes_nothing():
    assert fold([C], [("-", A)]) == Counter([C])
    assert fold([A, A], [("-", A)] * 3) == Counter()


def test_minus_matches_every_field():
    assert fold([A], [("-", A_W), ("-", A_L), ("-", A_S), ("-", B)]) == Counter([A])
    assert fold([A, A_W, A_L, A_S, B], [("-", A)]) == Counter([A_W, A_L, A_S, B])


def test_plus_then_minus_in_the_overlay_cancel():
    assert fold([C], [("+", A), ("-", A)]) == Counter([C])
    assert fold([A], [("+", A), ("-", A), ("-", A)]) == Counter()


def test_minus_then_plus_of_a_base_edge_keeps_it():
    assert fold([A], [("-", A), ("+", A)]) == Counter([A])


def test_a_cut_removes_the_base_edges_of_its_source_only():
    assert fold([A, A, A_S, C], [], cuts={1}) == Counter([A_S, C])
    assert fold([A, A_S, C], [], cuts={1, 3}) == Counter([A_S])


def test_overlay_rows_after_a_cut_survive_it():
    """The overlay handed in holds only rows after the cut: its '+' rows stand."""
    assert fold([A, A], [("+", A)], cuts={1}) == Counter([A])


def test_minus_after_a_cut_does_not_reach_past_it():
    """A '-' of an edge the cut already took removes nothing else: not a twin of another
    source, not the edge the overlay added again."""
    assert fold([A, A_S], [("-", A)], cuts={1}) == Counter([A_S])
    assert fold([A], [("+", A), ("-", A), ("-", A)], cuts={1}) == Counter()


def test_cut_sources_may_be_any_iterable():
    base = csr.edge_list(csr.build(4, from_tuples([A, C])))
    for cuts in ({1}, frozenset({1}), [1], (1,)):
        assert multiset(csr.fold_overlay(base, overlay([]), cuts)) == Counter([C])


def test_overlay_may_name_nodes_past_the_base():
    """An apply gives new node ids; their edges come only from the overlay."""
    folded = fold([A], [("+", (7, 9, 1.0, 0, 2)), ("+", (9, 0, 1.0, 0, 2))])
    assert folded == Counter([A, (7, 9, 1.0, 0, 2), (9, 0, 1.0, 0, 2)])


def test_minus_on_a_node_without_base_edges():
    """src beyond the base's last node, and a node with an empty range, match nothing."""
    assert fold([A, C], [("-", (3, 1, 1.0, 0, 3)), ("-", (8, 1, 1.0, 0, 3))]) == Counter([A, C])


# fold_overlay: against a sequential reference on random histories

def simulate(rng, base, steps, n, absent_minus=0.0):
    """A random history over ``base`` (Counter): '+', '-' and cuts (TRUNCATE of an edge
    source), replayed the way replay writes it, and the graph it leaves.

    Returns (overlay rows as graph._edge_overlay holds them [(id, op, edge)], cuts
    {source: overlay id at the cut}, expected Counter). A '-' removes an edge that is
    there at that moment, as a captured DELETE/UPDATE does; with probability
    ``absent_minus`` it names an edge that was never there instead (a different weight:
    nothing in the history ever adds it)."""
    state = Counter(base)
    rows, cuts = [], {}
    for _ in range(steps):
        kind = rng.random()
        if kind < 0.08:
            source = int(rng.choice(SOURCES))
            cuts[source] = len(rows)
            state = Counter({k: c for k, c in state.items() if k[4] != source})
        elif kind < 0.5 and state:
            if rng.random() < absent_minus:
                s, d, _, lab, source = random_edge(rng, n)
                rows.append((len(rows) + 1, "-", (s, d, 99.0, lab, source)))
            else:
                edge = list(state.elements())[int(rng.integers(0, sum(state.values())))]
                state[edge] -= 1
                state = +state
                rows.append((len(rows) + 1, "-", edge))
        else:
            edge = random_edge(rng, n) if rng.random() < 0.6 or not state else \
                list(state.elements())[int(rng.integers(0, sum(state.values())))]
            state[edge] += 1
            rows.append((len(rows) + 1, "+", edge))
    return rows, cuts, state


def visible(rows, cuts):
    """reads/view.py's OVERLAY: rows in id order, minus those at or before their source's cut."""
    return [(op, edge) for i, op, edge in rows if i > cuts.get(edge[4], 0)]


@pytest.mark.parametrize("seed", range(60))
def test_fold_overlay_equals_replaying_the_history(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 8))
    base = random_base(rng, n, int(rng.integers(0, 40)))
    rows, cuts, expected = simulate(rng, multiset(base), int(rng.integers(0, 60)), n)
    folded = csr.fold_overlay(base, overlay(visible(rows, cuts)), set(cuts))
    check_dtypes(folded)
    assert multiset(folded) == expected


@pytest.mark.parametrize("seed", range(30))
def test_removing_edges_that_are_not_there_changes_nothing_else(seed):
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.integers(1, 8))
    base = random_base(rng, n, int(rng.integers(0, 40)))
    rows, cuts, expected = simulate(rng, multiset(base), int(rng.integers(0, 60)), n, absent_minus=0.5)
    assert multiset(csr.fold_overlay(base, overlay(visible(rows, cuts)), set(cuts))) == expected


@pytest.mark.parametrize("seed", range(20))
def test_folded_edges_build_a_csr_with_the_same_edges(seed):
    """What reads do with the folded list: build the CSR over the grown node count."""
    rng = np.random.default_rng(3000 + seed)
    base = random_base(rng, 6, 30)
    rows, cuts, expected = simulate(rng, multiset(base), 40, 9)
    c = csr.build(9, csr.fold_overlay(base, overlay(visible(rows, cuts)), set(cuts)))
    assert multiset(csr.edge_list(c)) == expected


@pytest.mark.parametrize("seed", range(20))
def test_overlay_rows_commute(seed):
    """Overlay rows are +1/-1 counts, so their order does not matter (sync/retry.py relies
    on it: a skipped row applied again after later rows must give the same graph)."""
    rng = np.random.default_rng(4000 + seed)
    base = random_base(rng, 5, 25)
    rows, cuts, _ = simulate(rng, multiset(base), 40, 5, absent_minus=0.3)
    seen = visible(rows, cuts)
    folded = multiset(csr.fold_overlay(base, overlay(seen), set(cuts)))
    shuffled = [seen[i] for i in rng.permutation(len(seen))]
    assert multiset(csr.fold_overlay(base, overlay(shuffled), set(cuts))) == folded


def test_a_retried_insert_after_its_delete_leaves_no_edge():
    """A '-' that found nothing still counts: the skipped insert's '+', retried after the
    delete's '-', cancels against it (replaying the rows in arrival order would leave an
    edge whose row is gone)."""
    assert fold([], [("-", A), ("+", A)]) == Counter()
    assert fold([A], [("-", A), ("-", A), ("+", A)]) == Counter()


def test_minus_removes_an_edge_whose_weight_is_nan():
    """nan != nan, and every NaN object hashes differently: fold_overlay compares weights
    by weights.key (NaN as +Infinity, README "Weights"), so a '-' of a NaN-weighted edge
    removes it and a '+'/'-' pair of one cancels, whatever NaN objects they hold."""
    nan_edge = (0, 1, float("nan"), 0, 1)
    assert len(csr.fold_overlay(csr.edge_list(csr.build(2, from_tuples([nan_edge]))),
                                overlay([("-", nan_edge)]), set()).src) == 0
    assert len(csr.fold_overlay(csr.edge_list(csr.build(2, from_tuples([]))),
                                overlay([("+", nan_edge), ("-", nan_edge)]), set()).src) == 0
    other_nan = (0, 1, -float("nan"), 0, 1)  # another object, another sign bit
    assert len(csr.fold_overlay(csr.edge_list(csr.build(2, from_tuples([nan_edge, nan_edge]))),
                                overlay([("-", other_nan)]), set()).src) == 1
    # NaN is +Infinity: a '+' of one and a '-' of the other cancel
    inf_edge = (0, 1, float("inf"), 0, 1)
    assert len(csr.fold_overlay(csr.edge_list(csr.build(2, from_tuples([]))),
                                overlay([("+", inf_edge), ("-", other_nan)]), set()).src) == 0
    kept = csr.fold_overlay(csr.edge_list(csr.build(2, from_tuples([]))), overlay([("+", nan_edge)]), set())
    assert kept.weights.tolist() == [float("inf")]


@pytest.mark.parametrize("seed", range(6))
def test_both_directions_equals_both_ways(seed):
    """csr.both_directions(out, reverse(out)) is array for array what
    adjacency.both_ways(out) builds by sorting (the 'any' direction of a base file)."""
    from graphsync.algorithms.adjacency import both_ways

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    rows = [random_edge(rng, n) for _ in range(int(rng.integers(0, 120)))]
    out = csr.build(n, from_tuples(rows))
    got, want = csr.both_directions(out, csr.reverse(out)), both_ways(out)
    for name in csr.Csr._fields:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == np.dtype(csr.DTYPES[name]).newbyteorder("=") or a.dtype.str == csr.DTYPES[name]
        assert a.tolist() == b.tolist(), name


def test_both_directions_of_no_edges():
    out = csr.build(3, csr.edges([], [], [], [], []))
    got = csr.both_directions(out, csr.reverse(out))
    assert got.offsets.tolist() == [0, 0, 0, 0] and got.edge_count == 0


@pytest.mark.parametrize("bound", [1, 7, 2 ** 16, 2 ** 16 + 1, 200_000, 2 ** 32, 2 ** 40])
def test_stable_order_is_a_stable_argsort(bound):
    rng = np.random.default_rng(bound % 1000)
    keys = rng.integers(0, bound, 5000, dtype=np.int64)
    keys[:10] = bound - 1
    assert np.array_equal(csr.stable_order(keys, bound), np.argsort(keys, kind="stable"))
    assert np.array_equal(csr.stable_order(keys[:1], bound), [0])
    assert len(csr.stable_order(keys[:0], bound)) == 0


@pytest.mark.parametrize("seed", range(20))
def test_build_appended_is_build_of_both_lists(seed):
    """A base edge list (sorted by src) with edges appended: the CSR build() makes of
    the two lists one after the other, arrays and dtypes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    m, k = int(rng.integers(0, 80)), int(rng.integers(0, 40))
    base = csr.build(n, csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m),
                                  rng.integers(0, 3, m), rng.integers(1, 4, m)))
    sorted_edges = csr.edge_list(base)
    if seed % 3 == 0 and m:  # a part of one kept in order (a fold's removals)
        keep = rng.random(m) < 0.7
        sorted_edges = csr.Edges(*(a[keep] for a in sorted_edges))
    extra = csr.edges(rng.integers(0, n, k), rng.integers(0, n, k), rng.random(k), rng.integers(0, 3, k),
                      rng.integers(1, 4, k))
    want = csr.build(n, csr.Edges(*(np.concatenate([a, b]) for a, b in zip(sorted_edges, extra, strict=True))))
    got = csr.build_appended(n, sorted_edges, extra)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.tolist() == b.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_appended_is_build_of_the_base_then_the_extra_edges(seed):
    """appended() of a Csr base and edges to append (over as many nodes or more: new
    nodes): the CSR build() makes of the base's edges then the extra ones, arrays and
    dtypes, as build_appended() of the base's edge list."""
    rng = np.random.default_rng(seed)
    n0 = int(rng.integers(1, 30))
    n = n0 + int(rng.integers(0, 5))
    m, k = int(rng.integers(0, 80)), int(rng.integers(0, 40))
    base = csr.build(n0, csr.edges(rng.integers(0, n0, m), rng.integers(0, n0, m), rng.random(m),
                                   rng.integers(0, 3, m), rng.integers(1, 4, m)))
    extra = csr.edges(rng.integers(0, n, k), rng.integers(0, n, k), rng.random(k), rng.integers(0, 3, k),
                      rng.integers(1, 4, k))
    want = csr.build(n, csr.Edges(*(np.concatenate([a, b]) for a, b in zip(csr.edge_list(base), extra,
                                                                             strict=True))))
    got = csr.appended(n, base, extra)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.tolist() == b.tolist()
    assert [a.tolist() for a in csr.build_appended(n, csr.edge_list(base), extra)] == [a.tolist() for a in got]


def _fold_one_removal_at_a_time(base, overlay_, cuts):
    """fold_overlay as it was written before its removals were vectorized: one
    searchsorted and one match per removal, the first ``count`` kept matches in base order."""
    from graphsync.algorithms import weights as weights_mod
    keep = np.ones(len(base.src), dtype=bool)
    if cuts:
        keep &= ~np.isin(base.sources, np.fromiter(cuts, dtype=np.int32))
    ops, extra = overlay_
    net = Counter()
    for i in range(len(ops)):
        net[(int(extra.src[i]), int(extra.dst[i]), weights_mod.key(extra.weights[i]),
             int(extra.labels[i]), int(extra.sources[i]))] += int(ops[i])
    base_weights = weights_mod.keys(base.weights)
    for (s, d, w, lab, source), n in net.items():
        if n < 0:
            lo, hi = np.searchsorted(base.src, [s, s + 1])
            c = np.arange(lo, hi)
            match = c[keep[c] & (base.dst[c] == d) & (base_weights[c] == w) & (base.labels[c] == lab)
                      & (base.sources[c] == source)]
            keep[match[:-n]] = False
    return keep


@pytest.mark.parametrize("seed", range(40))
def test_removals_at_once_remove_the_edges_one_at_a_time_did(seed):
    """The vectorized removals (csr._remove_matching) keep exactly the base edges, in base
    order, that one removal at a time kept: parallel edges, counts above one, NaN weights,
    removals of edges not there, cuts."""
    rng = np.random.default_rng(900 + seed)
    n = int(rng.integers(1, 12))
    base = random_base(rng, n, int(rng.integers(0, 120)))
    if len(base.src) and seed % 3 == 0:
        w = base.weights.copy()
        w[rng.random(len(w)) < 0.2] = np.nan
        base = csr.Edges(base.src, base.dst, w, base.labels, base.sources)
    pool = list(zip(base.src.tolist(), base.dst.tolist(), base.weights.tolist(), base.labels.tolist(),
                    base.sources.tolist(), strict=True))
    rows = []
    for _ in range(int(rng.integers(0, 60))):
        edge = pool[int(rng.integers(0, len(pool)))] if pool and rng.random() < 0.7 else random_edge(rng, n)
        rows.append(("-" if rng.random() < 0.7 else "+", edge))
    cuts = {int(c) for c in rng.choice(SOURCES, int(rng.integers(0, 2)))}
    keep = _fold_one_removal_at_a_time(base, overlay(rows), cuts)
    folded = csr.fold_overlay(base, overlay(rows), cuts)
    kept = len(np.flatnonzero(keep))
    for f in csr.Edges._fields:
        a, b = getattr(folded, f)[:kept], getattr(base, f)[keep]
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f


def reversed_by_building(c):
    """reverse as a build of the flipped edge list (what reverse computes)."""
    e = csr.edge_list(c)
    return csr.build(c.node_count, csr.Edges(e.dst, e.src, e.weights, e.labels, e.sources))


def in_a_thread(fn):
    got = {}
    t = threading.Thread(target=lambda: got.update(v=fn()))
    t.start()
    return lambda: (t.join(), got["v"])[1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("start", [None, in_a_thread])
def test_reverse_is_a_build_of_the_flipped_edge_list_array_for_array(seed, start):
    """reverse (half of its gathers in a thread or not) gives exactly the arrays of
    building the flipped edge list: the shared file's checksum is of these bytes, and
    a reader that writes the file again makes 'in' by reverse(out) from graph._csr."""
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(1, 70_000 if seed == 5 else 25))
    m = 200_000 if seed == 5 else 60
    e = csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.integers(0, 4, m) / 2, rng.integers(0, 3, m),
                  rng.integers(1, 4, m))
    out = csr.build(n, e)
    into, want = csr.reverse(out, start), reversed_by_building(out)
    for name in csr.Csr._fields:
        a, b = getattr(into, name), getattr(want, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_reverse_of_no_edges():
    r = csr.reverse(csr.build(3, csr.edges([], [], [], [], [])))
    assert r.offsets.tolist() == [0, 0, 0, 0] and r.edge_count == 0
    assert csr.reverse(csr.build(0, csr.edges([], [], [], [], []))).offsets.tolist() == [0]


def test_problem_finds_every_array_out_of_bounds_and_nothing_in_a_built_csr():
    """csr.problem / base_problem: what a read refuses to index (sync/base.py)."""
    rng = np.random.default_rng(5)
    n, m = 30, 90
    out = csr.build(n, csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m),
                                 rng.integers(0, 3, m), rng.integers(1, 4, m)))
    base = {"out": out, "in": csr.reverse(out), "any": None, "alive": np.ones(n, dtype=bool),
            "tables": np.zeros(n, dtype=np.uint32)}
    assert csr.problem(out, n) is None and csr.base_problem(base) is None
    assert csr.problem(csr.build(0, csr.edges([], [], [], [], [])), 0) is None

    def changed(name, value):
        return out._replace(**{name: value})

    targets, offsets = np.asarray(out.targets), np.asarray(out.offsets)
    bad = {
        "negative target": changed("targets", np.where(np.arange(m) == 4, -1, targets)),
        "target past the nodes": changed("targets", np.where(np.arange(m) == 4, n, targets)),
        "decreasing offsets": changed("offsets", np.where(np.arange(n + 1) == 3, offsets[5] + 1, offsets)),
        "too few offsets": changed("offsets", offsets[:-2]),
        "offsets past the edges": changed("offsets", np.append(offsets[:-1], m + 1)),
        "offsets not from 0": changed("offsets", np.where(np.arange(n + 1) == 0, 1, offsets)),
        "short weights": changed("weights", np.asarray(out.weights)[:-1]),
        "short labels": changed("labels", np.asarray(out.labels)[:-1]),
        "short sources": changed("sources", np.asarray(out.sources)[:-1]),
    }
    for why, c in bad.items():
        assert csr.problem(c, n) is not None, why
        assert csr.base_problem({**base, "in": c}).startswith("in: "), why
    assert csr.base_problem({**base, "alive": np.ones(n - 1, dtype=bool)}).startswith("tables: ")
    assert csr.base_problem({**base, "alive": np.full(n, 2, dtype=np.uint8).view(bool)}).startswith("alive: ")
    assert csr.base_problem({**base, "tables": None}) is None


def test_derived_problem_finds_in_and_any_arrays_not_made_from_out():
    """csr.derived_problem: a shared file's 'in' and 'any' CSRs must be reverse(out) and
    BothDirections(out, reverse(out)) (sync/basefile.py)."""
    rng = np.random.default_rng(8)
    n, m = 30, 90
    out = csr.build(n, csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m),
                                 rng.integers(0, 3, m), rng.integers(1, 4, m)))
    into = csr.reverse(out)
    both = csr.BothDirections(out, into)
    anyway = csr.Csr(*(both.array(f) for f in csr.Csr._fields))
    base = {"out": out, "in": into, "any": anyway}
    assert csr.derived_problem(base) is None
    for name in ("targets", "weights", "labels", "sources"):
        a = np.asarray(getattr(into, name)).copy()
        a[3] = a[3] + 1
        assert csr.derived_problem({**base, "in": into._replace(**{name: a})}).startswith("in: " + name), name
        b = np.asarray(getattr(anyway, name)).copy()
        b[5] = b[5] + 1
        assert csr.derived_problem({**base, "any": anyway._replace(**{name: b})}).startswith("any: " + name), name
