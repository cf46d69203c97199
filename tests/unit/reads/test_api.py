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


def test_rows_of_over_kept_slots_holding_other_values(monkeypatch):
    """A large answer's rows come from traverse.node_slots, kept from read to read:
    slots written by an earlier read (or a traversal's first_occurrences) do not
    change them."""
    from graphsync.algorithms import traverse

    monkeypatch.setattr(traverse, "_SLOTS", {"slots": None})
    rng = np.random.default_rng(3)
    n = 3000
    for k in (400, 2000, 900):
        traverse.node_slots(n)[:] = rng.integers(-3, 10 * n, n)
        ids = rng.permutation(n)[:k].astype(np.int64)
        parents = np.where(rng.random(k) < 0.2, -1, ids[rng.integers(0, k, k)]).astype(np.int64)
        rows = _rows_of(ids, parents, n)
        has = parents >= 0
        np.testing.assert_array_equal(ids[rows[has]], parents[has])
        assert ((rows >= 0) & (rows < k)).all()


def test_rows_of_an_empty_answer():
    assert len(_rows_of(np.zeros(0, np.int64), np.zeros(0, np.int64), 10)) == 0


@pytest.mark.parametrize("seed", range(20))
def test_a_few_nodes_give_the_columns_the_whole_column_way_gives(seed):
    """_few_columns (node by node) and _columns (whole arrays) write the same
    literals: keys, parents' keys, labels (unknown ids NULL), nodes not found left
    out with their parents' columns NULL below them, node json."""
    from graphsync.reads.api import _columns, _few_columns

    rng = np.random.default_rng(seed + 20)
    n, k = 200, int(rng.integers(0, 40))
    ids = rng.permutation(n)[:k].astype(np.int64)
    depths = np.sort(rng.integers(0, 4, k)).astype(np.int32)
    parents = np.array([-1 if d == 0 or i == 0 else ids[rng.integers(0, i)] for i, d in enumerate(depths)],
                       dtype=np.int64)
    labels = np.where(parents >= 0, rng.integers(0, 4, k), -1).astype(np.int32)
    found = rng.random(k) < 0.8
    tables = np.where(found, rng.choice([16384, 16390], k), 0).astype(np.int64)
    pks = np.array([f'k"{i}\\x' if f else None for i, f in enumerate(found.tolist())], dtype=object)
    label_by_id = {0: "a", 1: "b\\c", 2: 'q"'}  # 3: no name
    names = np.array(["a", "b\\c", 'q"', None, None], dtype=object)
    named = np.array([True, True, True, False, False])
    json = [None if rng.random() < 0.3 else '{"n": %d}' % i for i in range(k)] if seed % 2 else None
    keys = [(t, pk) if f else None for f, t, pk in zip(found.tolist(), tables.tolist(), pks.tolist(), strict=True)]
    few = _few_columns(ids, depths, parents, labels, keys, label_by_id, json, seed % 3 == 0)
    assert _few_columns(ids.tolist(), depths.tolist(), parents.tolist(), labels.tolist(), keys, label_by_id, json,
                        seed % 3 == 0) == few  # lists in (traverse.bfs_lists) as arrays
    assert few == _columns(ids, depths, parents, labels, found, tables, pks, (names, named), json, seed % 3 == 0, n)


@pytest.mark.parametrize("seed", range(12))
def test_a_large_answer_gives_the_columns_node_by_node_gives(seed):
    """Past literals.SMALL values: keys that need no escaping (the parents' literal
    then written without looking: plain_text_literal) and keys that do, some not
    found, labels by code, one table or two: what _few_columns writes."""
    from graphsync.reads.api import _columns, _few_columns

    rng = np.random.default_rng(seed + 60)
    n, k = 2000, int(rng.integers(33, 400))
    ids = rng.permutation(n)[:k].astype(np.int64)
    depths = np.sort(rng.integers(0, 5, k)).astype(np.int32)
    parents = np.array([-1 if d == 0 or i == 0 else ids[rng.integers(0, i)] for i, d in enumerate(depths)],
                       dtype=np.int64)
    labels = np.where(parents >= 0, rng.integers(0, 4, k), -1).astype(np.int32)
    found = rng.random(k) < [1, 0.9][seed % 2]
    tables = np.where(found, rng.choice([16384, 16390][: 1 + seed % 3 // 2], k), 0).astype(np.int64)
    quote = ['', '"', "\\"][seed % 3]
    pks = np.array([("%d" % i + (quote if i == 7 else "")) if f else None for i, f in enumerate(found.tolist())],
                   dtype=object)
    label_by_id = {0: "a", 1: "b\\c", 2: 'q"'}  # 3: no name
    names = np.array(["a", "b\\c", 'q"', None, None], dtype=object)
    named = np.array([True, True, True, False, False])
    keys = [(t, pk) if f else None for f, t, pk in zip(found.tolist(), tables.tolist(), pks.tolist(), strict=True)]
    few = _few_columns(ids, depths, parents, labels, keys, label_by_id, None, False)
    assert few == _columns(ids, depths, parents, labels, found, tables, pks, (names, named), None, False, n)


@pytest.mark.parametrize("seed", range(40))
def test_a_small_bfs_gives_the_columns_node_by_node_gives(seed):
    """_bfs_columns (a literal per column, one join each) writes what _few_columns
    writes for a breadth-first traversal's lists (seeds first, then nodes with
    parents) whose keys are all held, and declines (None) what it cannot write
    that way: a label without a name, a double quote or a backslash in an id or a
    label. Ids and labels cover the empty text, a comma, braces, spaces and NULL
    spelled as text (all quoted)."""
    from graphsync.reads.api import _bfs_columns, _few_columns

    rng = np.random.default_rng(seed + 100)
    n, k = 300, int(rng.integers(0, 40))
    seeds = min(k, int(rng.integers(1, 4)))
    ids = rng.permutation(n)[:k].tolist()
    depths = [0] * seeds + sorted(rng.integers(1, 4, k - seeds).tolist())
    parents = [-1] * seeds + [ids[int(rng.integers(0, i))] for i in range(seeds, k)]
    labels = [-1] * seeds + rng.integers(0, 4, k - seeds).tolist()
    plain = ["", "7", "a,b", "{x}", "NULL", "two words", "ü"]
    awkward = ['q"', "b\\c"]
    hard = seed % 4 == 0  # ids or labels that need quoting, labels without a name
    texts = plain + awkward if hard else plain
    keys = [(int(rng.choice([16384, 16390])), "%s%d" % (texts[int(rng.integers(0, len(texts)))], i))
            for i in range(k)]
    label_by_id = {0: "a", 1: "", 2: "x,y", 3: 'q"' if hard else "NULL"}
    if hard and rng.random() < 0.5:
        del label_by_id[2]
    few = _few_columns(ids, depths, parents, labels, keys, label_by_id, None, seed % 3 == 0)
    fast = _bfs_columns(ids, depths, parents, labels, [t for t, _ in keys], [pk for _, pk in keys], label_by_id,
                        seed % 3 == 0)
    if fast is None:
        assert hard, "declined a traversal it can write"
    else:
        assert fast == few


def test_a_small_bfs_of_no_node_or_only_seeds():
    from graphsync.reads.api import _bfs_columns, _few_columns

    for ids, keys in (([], []), ([5], [(16384, "5")]), ([5, 9], [(16384, "5"), (16390, "(1,x)")])):
        n = len(ids)
        args = (ids, [0] * n, [-1] * n, [-1] * n)
        assert (_bfs_columns(*args, [t for t, _ in keys], [pk for _, pk in keys], {0: "a"}, False)
                == _few_columns(*args, keys, {0: "a"}, None, False))


@pytest.mark.parametrize("depths", [[], [0], [0, 0, 0], [0, 1, 1, 3, 3], [2, 2, 5], list(range(12)) + [12] * 3,
                                    [0] + [1] * 40 + [10] * 7 + [11]])
def test_a_bfs_answers_depths_literal_is_the_one_node_by_node(depths):
    """_depths_literal writes each level's run at once: the literal a str() of each
    depth joined writes, multi-digit depths and levels with no node included."""
    from graphsync.reads.api import _depths_literal

    assert _depths_literal(depths) == "{" + ",".join(map(str, depths)) + "}"
