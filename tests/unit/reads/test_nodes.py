"""graphsync.reads.nodes: parse_record (the fields of a composite key's record text form) and the KeyCache.

Expected values are written by hand from PostgreSQL's rules for composite values
(docs, "Composite Types", 8.16.6 Composite Type Input and Output Syntax):

- output (record_out): fields between parentheses, separated by commas; a NULL field is
  written as nothing; a field is double-quoted when it is empty or holds a double
  quote, backslash, comma, parenthesis or white space; inside the quotes, a double
  quote and a backslash are each written twice.
- input (record_in): double quotes may surround any part of a field; inside them ""
  is a double quote; a backslash takes the next character literally, inside quotes or
  not; white space is part of the field; an empty unquoted field is NULL and "" is the
  empty string; nothing may follow the closing parenthesis.
"""

import numpy as np
import pytest

from graphsync.reads import nodes
from graphsync.reads.nodes import parse_record

WHITESPACE = " \t\n\r\v\f"  # what C isspace() sees in the C locale


def record_out(fields):
    """A record's text form, by record_out's rules (the reference for the round trip)."""
    out = []
    for value in fields:
        if value is None:
            out.append("")
        elif value == "" or any(ch in '"\\(),' or ch in WHITESPACE for ch in value):
            out.append('"' + value.replace('"', '""').replace("\\", "\\\\") + '"')
        else:
            out.append(value)
    return "(" + ",".join(out) + ")"


# The reference itself, against outputs PostgreSQL gives for ROW(value, 1)::text.
@pytest.mark.parametrize(("value", "text"), [
    ("plain", "(plain,1)"),
    (None, "(,1)"),
    ("", '("",1)'),
    ("a b", '("a b",1)'),
    ('x"y', '("x""y",1)'),
    ("back\\slash", '("back\\\\slash",1)'),
    ("(p)", '("(p)",1)'),
    ("c,d", '("c,d",1)'),
    ("tab\there", '("tab\there",1)'),
    ("new\nline", '("new\nline",1)'),
    ("NULL", "(NULL,1)"),
    ("{b}", "({b},1)"),
    ("it's", "(it's,1)"),
    ("é", "(é,1)"),
])
def test_record_out_reference(value, text):
    assert record_out([value, "1"]) == text


@pytest.mark.parametrize(("text", "fields"), [
    ("(1,abc)", ["1", "abc"]),
    ("(42)", ["42"]),
    ('(1,"a,b",)', ["1", "a,b", None]),
    ("(,)", [None, None]),
    ("()", [None]),
    ('("")', [""]),
    ('("",)', ["", None]),
    ('(,"")', [None, ""]),
    ('("a""b")', ['a"b']),
    ('("""")', ['"']),
    ('("a\\"b")', ['a"b']),
    ('("a\\\\b")', ["a\\b"]),
    ('("a\\\\")', ["a\\"]),
    ("(a\\,b)", ["a,b"]),
    ("(a\\\\b)", ["a\\b"]),
    ('("(x)","y)")', ["(x)", "y)"]),
    ("(a(b)", ["a(b"]),
    ('( a , b )', [" a ", " b "]),
    ('(" a ")', [" a "]),
    ('(ab"c,d"e)', ["abc,de"]),
    ('(a"b")', ["ab"]),
    ('("a"b)', ["ab"]),
    ('("a,b"",c",d)', ['a,b",c', "d"]),
    ("(NULL)", ["NULL"]),
    ('("tab\there")', ["tab\there"]),
    ("(é,\"ü \")", ["é", "ü "]),
])
def test_parse_record(text, fields):
    assert parse_record(text) == fields


@pytest.mark.parametrize("text", [
    "", "(", ")", "1,2", "(1,2", "1,2)", "[1,2]", "x(1)", "(1)x",
    '("abc)', '(",)', '(a,"b)', '("a"")',
])
def test_malformed_record_text_raises_value_error(text):
    with pytest.raises(ValueError):
        parse_record(text)


@pytest.mark.parametrize("text", ["(a)b)", "(1,2)3)", "(a,b)c)"])
def test_unquoted_close_paren_inside_is_malformed(text):
    with pytest.raises(ValueError):
        parse_record(text)


def test_trailing_lone_backslash_is_malformed():
    with pytest.raises(ValueError):
        parse_record("(a\\)")


def test_error_message_names_the_text():
    with pytest.raises(ValueError, match=r"\(v1,v2,\.\.\.\)"):
        parse_record("1,2")
    with pytest.raises(ValueError, match="unterminated"):
        parse_record('("abc)')


@pytest.mark.parametrize("fields", [
    [None], [""], ["", ""], [None, None, None], ['"'], ["\\"], ['\\"'], ['""'], [","], ["(", ")"],
    [" "], ["a b", None, ""], ["NULL", None], ['a"b\\c,d(e)f g'], ["\t\n"], ["x" * 300, "y"],
])
def test_round_trip_of_hand_picked_fields(fields):
    assert parse_record(record_out(fields)) == fields


@pytest.mark.parametrize("seed", range(30))
def test_round_trip_of_random_fields(seed):
    rng = np.random.default_rng(seed)
    alphabet = list('ab1 ,()"\\\t\nNUL{}é\'') + ["", "NULL"]
    for _ in range(40):
        fields = []
        for _ in range(int(rng.integers(1, 5))):
            r = rng.random()
            if r < 0.15:
                fields.append(None)
            elif r < 0.25:
                fields.append("")
            else:
                fields.append("".join(rng.choice(alphabet, int(rng.integers(1, 8))).tolist()))
        assert parse_record(record_out(fields)) == fields


def test_key_cache_keeps_few_keys_in_a_dictionary_then_arrays_with_the_same_answers(monkeypatch):
    monkeypatch.setattr(nodes, "FEW_KEYS", 10)
    cache = nodes.KeyCache(1, 100)
    cache.add([5, 7, 150], [16400, 16401, 16400], ["a", "b", "past the base"])
    assert cache.tables is None and cache.count == 2  # no per-node arrays for two keys
    tables, pks = cache.take([7, 5, 6, 150])
    assert tables.tolist() == [16401, 16400, 0, 0] and pks.tolist() == ["b", "a", None, None]
    assert cache.get(5) == (16400, "a") and cache.get(6) is None
    ids, ts, ps = cache.items()
    assert sorted(zip(ids.tolist(), ts.tolist(), ps.tolist(), strict=True)) == [(5, 16400, "a"), (7, 16401, "b")]
    cache.add(list(range(20, 40)), [16402] * 20, ["k%d" % i for i in range(20, 40)])
    assert cache.tables is not None and not cache.few and cache.count == 22  # now arrays
    tables, pks = cache.take([7, 5, 6, 25])
    assert tables.tolist() == [16401, 16400, 0, 16402] and pks.tolist() == ["b", "a", None, "k25"]
    assert cache.get(7) == (16401, "b") and cache.get(99) is None
    assert len(cache.items()[0]) == 22


def test_key_columns_answers_only_when_the_arrays_hold_every_key(monkeypatch):
    """nodes.key_columns: the keys of a list of node ids as two lists, from the
    KeyCache's arrays; None (ask key_list) while the cache is a dictionary, for a
    node it does not hold, for a node past the base, and for no node."""
    from types import SimpleNamespace

    from graphsync.sync import base

    monkeypatch.setattr(nodes, "FEW_KEYS", 2)
    monkeypatch.setattr(base, "_cache", {})
    v = SimpleNamespace(key=(3, 1), base_count=50)
    cache = nodes._key_cache(v)
    cache.add([4, 9], [16400, 16401], ["a", "b"])
    assert cache.tables is None and nodes.key_columns(v, [4, 9]) is None  # few keys: a dictionary
    cache.add([10, 11, 12], [16400] * 3, ["c", "d", "e"])
    assert cache.tables is not None
    assert nodes.key_columns(v, [11, 4, 9]) == ([16400, 16400, 16401], ["d", "a", "b"])
    assert nodes.key_columns(v, [11, 5]) is None  # 5 is not held
    assert nodes.key_columns(v, [11, 50]) is None  # past the base
    assert nodes.key_columns(v, []) is None
    assert nodes.key_list(None, v, [11, 4]) == [(16400, "d"), (16400, "a")]  # the same keys, the other way


@pytest.mark.parametrize("base_count, due_after", [
    (3_000, 2_000),  # KEYS_BY_INDEX, the floor
    (40_000, 2_000),
    (250_000, 2_000),  # a 128th is 1,953
    (400_000, 3_125),  # a 128th
    (2_000_000, 15_625),  # (a sixteenth until the index held no key as a Python string: 125,000)
])
def test_a_backends_folds_build_the_key_index_after_keys_that_grow_with_the_base(monkeypatch, base_count, due_after):
    """nodes.index_due: a fold of few keys builds the key index once this backend's
    folds asked graph._nodes for KEYS_BY_INDEX keys and a 128th of the base, at every
    size (the index 16 bytes an integer key); a fold of more than KEYS_BY_INDEX keys
    builds it at once."""
    from types import SimpleNamespace

    from graphsync.reads import freshness
    from graphsync.sync import base

    monkeypatch.setattr(base, "_cache", {})
    v = SimpleNamespace(key=(3, 1), base_count=base_count)
    many = freshness.KEYS_BY_INDEX
    assert nodes.index_due(v, many + 1, many)
    nodes.note_resolved(v, due_after - 300)
    assert not nodes.index_due(v, 300, many)
    assert nodes.index_due(v, 301, many)


def test_the_key_index_is_read_table_by_table_as_arrays_with_no_key_held_as_a_string(monkeypatch):
    """nodes.key_index: one statement (ALL_KEYS_PACKED, after SECURED) gives each
    table's keys as NUL-separated bytes and big-endian node ids; the index holds them
    as packed.key_index arrays (integers' texts as int64, other keys as bytes), and
    the KeyCache keeps no key of them as a Python string (before, every key of the
    base was read into it first: some 165 bytes a key at 2M nodes). A statement of
    another generation raises Renumbered."""
    from types import SimpleNamespace

    from graphsync.reads import view
    from graphsync.sync import base, packed

    monkeypatch.setattr(base, "_cache", {})
    lent = []
    monkeypatch.setattr(nodes, "_lend", lambda plpy, cache: lent.append(cache.index))
    ints = [str(k).encode() for k in (7, -3, 120, 5)]
    texts = [b"6f1c2a4e-0000-4000-8000-000000000001", b"(acme,42)", b"007"]
    rows = [{"table_oid": 16400, "k": b"\0".join(ints), "generation": 3,
             "i": np.array([10, 11, 12, 13], dtype=">i8").tobytes()},
            {"table_oid": 16401, "k": b"\0".join(texts), "generation": 3,
             "i": np.array([20, 21, 22], dtype=">i8").tobytes()}]
    asked = []

    def run(plpy, sql, types=None, args=None):
        asked.append(sql)
        return [{"tables": [16402]}] if sql == nodes.SECURED else rows

    monkeypatch.setattr(nodes, "run", run)
    v = SimpleNamespace(key=(3, 1), base_count=50)
    assert nodes.key_index(None, v, build=False) is None and asked == []
    index = nodes.key_index(None, v)
    assert asked == [nodes.SECURED, nodes.ALL_KEYS_PACKED] and lent == [index]
    assert packed.find_keys(index[16400], [b"120", b"-3", b"8", b"07"]).tolist() == [12, 11, -1, -1]
    assert packed.find_keys(index[16401], texts + [b"7"]).tolist() == [20, 21, 22, -1]
    assert packed.resolve(np.array([5, 7, 6]), index[16400][0], index[16400][1]).tolist() == [13, 10, -1]
    cache = nodes._key_cache(v)
    assert cache.count == 0 and not cache.loaded_all and cache.held_nbytes() == 0
    assert nodes.key_index(None, v) is index and len(asked) == 2  # once a generation
    base._cache.clear()
    rows[0]["generation"] = 4
    with pytest.raises(view.Renumbered):
        nodes.key_index(None, v)
