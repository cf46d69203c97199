"""graphsync.sync.packed: integer key texts parsed as integer output writes them,
endpoints resolved to node ids (a table for serial keys, binary search otherwise),
packed edge lists with their ghosts, against plain Python references."""

import numpy as np
import pytest

from graphsync.sync import packed

INT8_MIN, INT8_MAX = -2 ** 63, 2 ** 63 - 1


def parse(texts):
    ids = np.arange(len(texts), dtype=">i8").tobytes()
    keys, got = packed.parse_keys(b"\0".join(texts), ids)
    return {int(k): texts[i] for k, i in zip(keys, got, strict=True)}


def test_only_texts_integer_output_writes_are_keys():
    valid = [b"0", b"7", b"-7", b"123456789012345678", b"-123456789012345678", b"1234567890123456789",
             str(INT8_MAX).encode(), str(INT8_MIN).encode()]
    invalid = [b"-0", b"00", b"007", b"-07", b"", b"-", b"1-2", b"a1", b"12a", b" 12", b"12 ", b"+1", b"1_0",
               b"1e3", b"1.0", str(INT8_MAX + 1).encode(), str(INT8_MIN - 1).encode(), b"9" * 20,
               b"1" * 40, "١٢".encode(), b"1" * 5000, b"-" + b"9" * 4400]  # (int() refuses 4,301 digits)
    assert parse(valid + invalid) == {int(t): t for t in valid}


def test_keys_parse_like_int_over_random_texts():
    rng = np.random.default_rng(5)
    numbers = np.concatenate([rng.integers(INT8_MIN, INT8_MAX, 3000, dtype=np.int64, endpoint=True),
                              rng.integers(-1000, 1000, 3000)])
    texts = list(dict.fromkeys(str(int(v)).encode() for v in numbers))
    texts += [b"0" + t for t in texts[:50] if not t.startswith(b"-")]
    expect = {int(t): t for t in texts if str(int(t)).encode() == t}
    assert parse(texts) == expect
    assert packed.parse_keys(None, None)[0].size == 0


def test_parse_ints_takes_parse_keys_rule_up_to_18_digits():
    """parse_ints (replay's ends, sync/base_keys.py): a text is ok exactly when
    parse_keys takes it as a key and it has at most 18 digits (a longer one goes
    to NODES), with the same value."""
    rng = np.random.default_rng(6)
    texts = [str(int(v)).encode() for v in rng.integers(-10 ** 18 + 1, 10 ** 18, 2000, dtype=np.int64)]
    texts += [b"0", b"-0", b"007", b"", b"+1", b"1.0", b"abc", b"9" * 18, b"9" * 19, b"-" + b"9" * 18,
              str(INT8_MAX).encode()]
    values, ok = packed.parse_ints(texts)
    keys = parse(texts)
    want = [len(t.lstrip(b"-")) <= 18 and t.lstrip(b"-").isdigit() and keys.get(int(t)) == t for t in texts]
    assert ok.tolist() == want
    assert values[ok].tolist() == [int(t) for t, w in zip(texts, want, strict=True) if w]
    assert packed.parse_ints([])[1].size == 0


def test_parse_ints_of_a_few_texts_one_by_one_is_the_same_as_in_numpy():
    """Fewer than FEW texts are parsed one by one (a fold of a few rows): the same
    values and the same rule as the NumPy parse of many, on every kind of text."""
    rng = np.random.default_rng(7)
    texts = [str(int(v)).encode() for v in rng.integers(-10 ** 18 + 1, 10 ** 18, 300, dtype=np.int64)]
    texts += [str(int(v)).encode() for v in rng.integers(-1000, 1000, 300)]
    texts += [b"0", b"-0", b"00", b"007", b"-07", b"", b"-", b"+1", b" 1", b"1 ", b"1_0", b"1.0", b"1e3", b"abc",
              b"9" * 18, b"9" * 19, b"-" + b"9" * 18, b"-" + b"9" * 19, str(INT8_MAX).encode(), "١٢".encode(),
              "1٢".encode(), b"1" * 40]
    rng.shuffle(texts)
    assert len(texts) >= packed.FEW
    values, ok = packed.parse_ints(texts)
    for at in range(0, len(texts), packed.FEW - 1):
        part = texts[at:at + packed.FEW - 1]
        few_values, few_ok = packed.parse_ints(part)
        assert few_ok.tolist() == ok[at:at + len(part)].tolist()
        assert few_values.tolist() == values[at:at + len(part)].tolist()
    assert packed.parse_ints([b"0", b"-0", b"-7", b"07"])[1].tolist() == [True, False, True, False]


@pytest.mark.parametrize("seed", range(4))
def test_find_keys_finds_each_key_of_the_index_by_its_exact_text(seed):
    """key_index/find_keys (replay's ends, sync/base_keys.py) against a dict: every
    key of at most TEXT_WIDTH bytes is found by its exact text, whatever it is
    (integers' texts, '007', '-0', 19 digits, uuids, record texts, unicode, spaces,
    the empty text); nothing else is, and a longer key never."""
    rng = np.random.default_rng(seed)
    keys = {str(int(v)).encode() for v in rng.integers(-10 ** 6, 10 ** 6, 400)}
    keys |= {b"007", b"-0", b"0", b"", b" 7", b"7 ", b"9" * 19, str(INT8_MAX).encode(), "é1".encode(),
             b"(1,2)", b"(1,\"a b\")", b"x" * packed.TEXT_WIDTH, b"y" * (packed.TEXT_WIDTH + 1)}
    keys |= {("%032x" % int(v)).encode() for v in rng.integers(0, 2 ** 62, 300)}
    keys = sorted(keys)
    ids = rng.permutation(len(keys)) * 3
    index = packed.key_index(b"\0".join(keys), ids.astype(">i8").tobytes())
    held = {k: int(i) for k, i in zip(keys, ids, strict=True) if len(k) <= packed.TEXT_WIDTH}
    asked = list(keys) + [b"7", b"07", b"1 ", b"-", b"(1,3)", b"z" * 10, b"x" * (packed.TEXT_WIDTH - 1)]
    asked += [str(int(v)).encode() for v in rng.integers(-10 ** 6, 10 ** 6, 400)]
    rng.shuffle(asked)
    assert packed.find_keys(index, asked).tolist() == [held.get(t, -1) for t in asked]
    assert packed.find_keys(packed.key_index(None, None), asked).tolist() == [-1] * len(asked)


@pytest.mark.parametrize("keys", [
    [str(-v).encode() for v in range(1, packed.INDEX_BLOCK + 3000)]  # 2 blocks
    + [("k%d" % v).encode() for v in range(packed.INDEX_BLOCK + 500)],
    [b""], [b"", b"7"], [b"abc"], [b"-12", b"x" * 200, b""],
], ids=["two_blocks_negative", "one_empty", "empty_first", "one_text", "long_between"])
def test_key_index_reads_the_bytes_as_a_list_of_texts_would_be_read(keys):
    """key_index reads its keys from the NUL-separated bytes in place (no bytes object
    a key), INDEX_BLOCK at a time: each key of at most TEXT_WIDTH bytes found by its text,
    as a dictionary of the split texts finds it, across blocks, a block of negative
    numbers only, the empty key and keys around a longer one (left out) included."""
    ids = np.arange(len(keys)) * 7 + 1
    index = packed.key_index(b"\0".join(keys), ids.astype(">i8").tobytes())
    held = {k: int(i) for k, i in zip(keys, ids, strict=True) if len(k) <= packed.TEXT_WIDTH}
    assert packed.find_keys(index, keys).tolist() == [held.get(k, -1) for k in keys]
    assert len(index[0]) + len(index[2]) == len(held)


@pytest.mark.parametrize("spread", [1, 3, 10 ** 12])
def test_resolve_finds_the_node_of_each_key_and_minus_one_elsewhere(spread):
    rng = np.random.default_rng(spread)
    keys = np.unique(rng.integers(-10 ** 5, 10 ** 5, 2000)) * spread
    ids = rng.permutation(len(keys)).astype(np.int64)
    values = np.concatenate([rng.choice(keys, 5000), rng.integers(-2 * 10 ** 5, 2 * 10 ** 5, 5000) * spread,
                             [INT8_MIN, INT8_MAX]])
    node = dict(zip(keys.tolist(), ids.tolist(), strict=True))
    got = packed.resolve(values, keys, ids)
    assert got.tolist() == [node.get(v, -1) for v in values.tolist()]
    assert packed.resolve(values, keys[:0], ids[:0]).tolist() == [-1] * len(values)


@pytest.mark.parametrize("asked", [3, 200, 50_000])
def test_resolve_among_serial_keys_makes_a_table_only_for_many_values(asked):
    """Serial keys are looked up in a table indexed by the key, made for the call,
    O(keys): only for many values; a few (a read folding a few rows) by binary
    search, which allocates nothing of the keys' size (tracemalloc sees NumPy's
    allocations). The answers are the same either way."""
    import tracemalloc

    keys = np.arange(1, 1_000_001, dtype=np.int64)
    ids = np.arange(len(keys), dtype=np.int64)[::-1].copy()
    rng = np.random.default_rng(asked)
    values = rng.integers(-5, 1_000_010, asked)
    tracemalloc.start()
    try:
        got = packed.resolve(values, keys, ids)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.tolist() == [len(keys) - v if 1 <= v <= len(keys) else -1 for v in values.tolist()]
    table = 8 * len(keys)
    assert (peak >= table) == (asked * packed.FEW_PER_TABLE > len(keys)), peak


def test_packed_edges_with_ghosts_and_both_directions():
    keys = (np.array([1, 2, 3], dtype=np.int64), np.array([10, 20, 30], dtype=np.int64))
    other = (np.array([5], dtype=np.int64), np.array([50], dtype=np.int64))
    src = np.array([1, 4, 3], dtype=np.int64)
    dst = np.array([5, 5, 6], dtype=np.int64)
    e, missing = packed.edges(src, dst, np.array([1.5, 2.0, 3.0]), keys, other, (100, 200), 7, 9, True)
    assert e.src.tolist() == [10, -1, 30, 50, 50, -1]
    assert e.dst.tolist() == [50, 50, -1, 10, -1, 30]
    assert e.weights.tolist() == [1.5, 2.0, 3.0, 1.5, 2.0, 3.0]
    assert set(e.labels.tolist()) == {9} and set(e.sources.tolist()) == {7}
    assert missing == [(1, 0, (100, "4")), (2, 1, (200, "6")), (4, 1, (100, "4")), (5, 0, (200, "6"))]
    one, m1 = packed.edges(src, dst, np.ones(3), keys, other, (100, 200), 7, 9, False)
    both, m = packed.concat([(one, m1), (e, missing)])
    assert both.src.tolist() == [10, -1, 30] + e.src.tolist()
    assert m == m1 + [(3 + i, end, key) for i, end, key in missing]


def _rss_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_the_memory_a_key_index_of_2m_keys_freed_goes_back_to_the_system():
    """Building key_index at 2M keys frees some 100 MiB of NumPy temporaries that
    glibc's allocator keeps (a reader's backend held them for its life);
    base.release_freed gives them back, and the index stays whole."""
    from graphsync.sync import base

    n = 2_000_000
    keys = b"\0".join(b"%d" % v for v in range(1, n + 1))
    ids = np.arange(n, dtype=">i8").tobytes()
    base.release_freed()
    before = _rss_mib()
    index = packed.key_index(keys, ids)
    built = _rss_mib()
    assert base.release_freed()
    after = _rss_mib()
    held = sum(a.nbytes for a in index) / 2 ** 20
    assert built - before > held + 50, (before, built, held)  # what the allocator kept (else nothing to test)
    assert after - before < held + 20, (before, built, after, held)
    assert packed.find_keys(index, [b"1", b"2000000", b"0"]).tolist() == [0, n - 1, -1]
