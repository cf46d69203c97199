"""graphsync.reads.freshness._folded_overlay: many pending edge changes folded into
full arrays give the graph folding them node by node gives (adjacency.Overlay.add),
in every direction -- the same edge lists in the same order for 'out', the same
edges for 'in' and 'any' -- with and without removals, edges past the base."""

from collections import Counter

import numpy as np
import pytest
from csr_lists import per_node

from graphsync.algorithms import adjacency, csr
from graphsync.algorithms.adjacency import Overlay, both_ways
from graphsync.reads.freshness import _folded_overlay


def random_rows(rng, base, k, top):
    e = csr.edge_list(base)
    rows = []
    for _ in range(k):
        kind = rng.integers(0, 3)
        if kind == 0 and len(e.src):
            i = rng.integers(0, len(e.src))
            rows.append((-1, e.src[i], e.dst[i], e.weights[i], e.labels[i], e.sources[i]))
        elif kind == 1:
            rows.append((1, rng.integers(0, top), rng.integers(0, top), float(rng.integers(1, 3)),
                         rng.integers(0, 3), rng.integers(1, 3)))
        else:
            rows.append((-1, rng.integers(0, top), rng.integers(0, top), 1.0, 0, 1))
    ops = np.array([r[0] for r in rows], dtype=np.int64)
    return ops, csr.edges(*(list(c) for c in zip(*(r[1:] for r in rows), strict=True)))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("only_additions", [False, True])
def test_folding_into_full_arrays_equals_folding_node_by_node(seed, only_additions):
    rng = np.random.default_rng(seed)
    e = csr.edges(rng.integers(0, 40, 160), rng.integers(0, 40, 160), rng.integers(1, 3, 160).astype(float),
                  rng.integers(0, 3, 160), rng.integers(1, 3, 160))
    base = csr.build(40, e)
    applied = Overlay({"out": lambda: base, "in": lambda: csr.reverse(base), "any": lambda: both_ways(base)}, 40)
    applied.adjacency("out")
    held_ops, held = random_rows(rng, base, 50, 44)
    applied.add(held_ops, *held)  # what the view holds already
    n = 50
    ops, pending = random_rows(rng, base, 120, n)
    if only_additions:
        ops = np.ones_like(ops)
    incremental = applied.copy()
    incremental.grow(n)
    incremental.add(ops, *pending)
    folded = _folded_overlay(applied, ops, pending, n)
    for direction, ordered in (("out", True), ("in", False), ("any", False)):
        want = incremental.adjacency(direction).compact()
        got = folded.adjacency(direction).compact()
        assert got.node_count == n
        assert per_node(got, ordered) == per_node(want, ordered), direction
    assert not any(folded.adjacency(d).relocated for d in ("out", "in", "any"))


def random_net(rng, nodes, weights, labels, sources):
    """_net of random held edges and rows (each key a draw from nodes x nodes x
    weights x labels x sources) against what adding the rows to the Counter gives."""
    from graphsync.reads.freshness import _net

    def pick(values, size=None):
        return np.asarray(values)[rng.integers(0, len(values), size)]
    held = Counter()
    for _ in range(int(rng.integers(0, 30))):
        held[(int(rng.integers(0, nodes)), int(rng.integers(0, nodes)), float(pick(weights)),
              int(pick(labels)), int(pick(sources)))] += int(rng.choice([-1, 1]))
    k = int(rng.integers(0, 40))
    ops = rng.choice([-1, 1], k).astype(np.int64)
    e = csr.edges(rng.integers(0, nodes, k), rng.integers(0, nodes, k), pick(weights, k).astype(float),
                  pick(labels, k), pick(sources, k))
    want = Counter(held)
    for op, key in zip(ops.tolist(), zip(*(c.tolist() for c in e), strict=True), strict=True):
        want[key] += op
    got, counts = _net({adjacency.NET.pack(*key): n for key, n in held.items()}, ops, e)
    assert list(zip(zip(*(c.tolist() for c in got), strict=True), counts.tolist(), strict=True)) == [
        (key, c) for key, c in want.items() if c]
    return got, counts


@pytest.mark.parametrize("seed", range(10))
def test_net_counts_are_what_adding_the_rows_to_the_counter_gives(seed):
    got, counts = random_net(np.random.default_rng(seed + 70), 5, [0.0, 1.0], [0, 1], [1, 2])
    assert got.labels.dtype == np.int32 and got.sources.dtype == np.int32 and counts.dtype == np.int64


@pytest.mark.parametrize("seed", range(10))
def test_net_counts_keep_signed_zero_and_infinite_weights_one_key(seed):
    """_net groups by three int64 keys: a weight of -0.0 is the key of 0.0 (as the
    Counter, where they are equal), +Infinity its own; labels and sources of any int32."""
    random_net(np.random.default_rng(seed + 90), 4, [0.0, -0.0, 1.5, float("inf")], [-2, -1, 0, 1],
               [-3, -2, -1, 0, 1, 2])


def test_held_arrays_are_kept_until_the_overlay_changes():
    from graphsync.reads.freshness import _held_arrays

    o = Overlay({}, 4)
    o.add([1, 1], [0, 1], [1, 2], [1.0, 2.0], [0, 0], [1, 1])
    table, counts = _held_arrays(o)
    assert table.tolist() == [[0, 1, 1.0, 0, 1], [1, 2, 2.0, 0, 1]] and counts.tolist() == [1, 1]
    assert _held_arrays(o)[0] is table  # kept
    o.add([-1], [0], [1], [1.0], [0], [1])
    table, counts = _held_arrays(o)
    assert counts.tolist() == [1, 1, -1] and table.tolist()[2] == [0, 1, 1.0, 0, 1]  # the row appended
    assert _held_arrays(o)[0] is table


@pytest.mark.parametrize("seed", range(20))
def test_held_arrays_extended_by_add_net_as_the_counter(seed):
    """The held arrays extended by every add() (keys then appear more than once) give
    _net what the Counter does: the same net counts, in order of first appearance,
    weights keyed as the Counter keys them (NaN as +Infinity, -0.0 as 0.0)."""
    from graphsync.reads.freshness import _held_arrays, _net

    rng = np.random.default_rng(seed + 500)
    o = Overlay({}, 5)
    weights = [0.0, -0.0, 1.5, float("nan"), float("inf")]
    for step in range(int(rng.integers(1, 6))):
        k = int(rng.integers(0, 25))
        o.add(rng.choice([-1, 1], k).tolist(), rng.integers(0, 5, k).tolist(), rng.integers(0, 5, k).tolist(),
              np.asarray(weights)[rng.integers(0, len(weights), k)].tolist(), rng.integers(0, 3, k).tolist(),
              rng.integers(1, 3, k).tolist())
        if step == 0 or rng.random() < 0.5:
            _held_arrays(o)  # made here, then extended by the next add()
    k = int(rng.integers(0, 10))
    ops = rng.choice([-1, 1], k).astype(np.int64)
    e = csr.edges(rng.integers(0, 5, k), rng.integers(0, 5, k), np.asarray(weights)[rng.integers(0, 5, k)],
                  rng.integers(0, 3, k), rng.integers(1, 3, k))
    want, want_counts = _net(o.net, ops, e)
    got, counts = _net(o.net, ops, e, _held_arrays(o))
    assert counts.tolist() == want_counts.tolist()
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("seed", range(8))
def test_a_few_ends_found_one_by_one_are_those_found_table_by_table(seed):
    """freshness.ends_one_by_one (a fold of a few rows) finds each end where
    ends_by_table (NumPy, table by table) does: integer ends among a table's integer
    keys, text ends among its text keys (or its integer keys, for an integer's text),
    nothing in a table the caller may not SELECT or the index does not hold, nothing
    for a key whose extra rows graph._nodes must give (``counted``)."""
    from graphsync.reads.freshness import ends_by_table, ends_one_by_one
    from graphsync.sync import imagetext, packed

    rng = np.random.default_rng(seed)
    keys = {10: [str(v).encode() for v in range(1, 300)] + [b"a", b"b", b"007", b"-0", b"9" * 19],
            11: [("k%d" % v).encode() for v in range(200)] + [b"5", b"-12"],
            12: [str(v).encode() for v in range(1000, 1100)]}
    index = {t: packed.key_index(b"\0".join(k), (np.arange(len(k)) * 7 + t).astype(">i8").tobytes())
             for t, k in keys.items() if t != 12 or seed % 2}
    visible = {10, 11, 12} - ({11} if seed % 3 == 0 else set())
    counted = {10: {"5", "a"}} if seed % 4 == 1 else {}
    # the counted keys as integers and as texts, an integer's text, another table's 5
    tables, pks, ints = [10, 10, 10, 11, 10], [None, "a", "5", None, "7"], [5, imagetext.NOT_INT,
                                                                          imagetext.NOT_INT, 5, imagetext.NOT_INT]
    for _ in range(packed.FEW - 6):
        t = int(rng.choice([10, 11, 12, 13]))
        choice = rng.integers(0, 4)
        if choice == 0:  # an integer end
            tables.append(t), pks.append(None), ints.append(int(rng.integers(-5, 1200)))
        else:
            text = rng.choice([str(int(rng.integers(-5, 1200))), "a", "b", "007", "-0", "9" * 19, "k%d" % rng.integers(
                0, 250), "5", "-12", "zz"])
            tables.append(t), pks.append(str(text)), ints.append(imagetext.NOT_INT)
    tables = np.array(tables, dtype=np.int64)
    pks = np.array(pks + [None], dtype=object)[:-1]
    for held in (np.array(ints, dtype=np.int64), None):
        if held is None:  # no end read as an integer: every key a text
            pks = np.array([p if p is not None else str(v) for p, v in zip(pks, ints, strict=True)] + [None],
                           dtype=object)[:-1]
        for n in (1, 2, 5, len(tables)):
            part = (index, visible, counted, tables[:n], pks[:n], None if held is None else held[:n])
            want = ends_by_table(*part)
            values = [imagetext.NOT_INT] * n if held is None else held[:n].tolist()
            one_by_one = ends_one_by_one(index, visible, counted, tables[:n].tolist(), pks[:n].tolist(), values)
            assert one_by_one == want.tolist()
        assert (want >= 0).any() and (want < 0).any()  # (all of them: some found, some not)


@pytest.mark.parametrize("seed", range(12))
def test_a_few_ends_resolved_in_lists_are_those_resolved_in_arrays(seed, monkeypatch):
    """freshness._resolve_ends of a few ends (FEW_ENDS: in Python lists, _few_ends)
    gives the ids, new keys and extra rows its arrays' way gives: ends found in the
    key index (or none held), the rest through _resolve (here a stand-in that gives
    known keys their ids and new ones ids past the end), integer ends and text ends,
    the keys of node changes left to _resolve."""
    from graphsync.reads import freshness, nodes
    from graphsync.sync import columns, imagetext, packed

    rng = np.random.default_rng(seed + 40)
    keys = {10: [str(v).encode() for v in range(1, 60)] + [b"a", b"007"],
            11: [("k%d" % v).encode() for v in range(40)] + [b"5"]}
    index = {t: packed.key_index(b"\0".join(k), (np.arange(len(k)) * 3 + t).astype(">i8").tobytes())
             for t, k in keys.items()}
    held = None if seed % 3 == 0 else index
    monkeypatch.setattr(nodes, "index_due", lambda v, asked, many: False)
    monkeypatch.setattr(nodes, "key_index", lambda plpy, v, build=True: held)
    known = {(10, "70"): 500, (11, "zz"): 501, (10, "a"): 502}

    def resolve(plpy, v, asked, visible, counted=(), onto=None, known_=None):
        ids, extra = {}, {}
        for k in sorted(asked, key=repr):
            if k in known:
                ids[k] = known[k]
            else:
                ids[k] = 1000 + len(extra)
                extra[ids[k]] = k
        return ids, extra, {k: 1 for k in asked if k in known}

    monkeypatch.setattr(freshness, "_resolve", resolve)
    m = int(rng.integers(1, 6))
    texts = ["3", "59", "70", "a", "007", "k7", "zz", "5", "-4", "k39", "new"]
    edges = [("+" if rng.random() < 0.5 else "-", 1, (int(rng.choice([10, 11])), str(rng.choice(texts))),
              (int(rng.choice([10, 11])), str(rng.choice(texts))), 1.0, "x") for _ in range(m)]
    ec = columns.edge_columns(edges)
    node_changes = {(10, "a"): None} if seed % 2 else {}
    visible = {10, 11} if seed % 4 else {10}
    monkeypatch.setattr(freshness, "FEW_ENDS", 100)
    few = freshness._resolve_ends(None, None, ec, visible, node_changes, None)
    monkeypatch.setattr(freshness, "FEW_ENDS", 0)
    arrays = freshness._resolve_ends(None, None, ec, visible, node_changes, None)
    assert few[0].tolist() == arrays[0].tolist() and few[1].tolist() == arrays[1].tolist()
    assert few[2:] == arrays[2:]
    assert few[0].dtype == arrays[0].dtype == np.int64
    assert imagetext.NOT_INT not in few[0].tolist() + few[1].tolist()
