"""graphsync.reads.literals: int_literal and text_literal, read back as PostgreSQL would.

Each literal is parsed back with a reference parser of PostgreSQL's one-dimensional
array-literal syntax (docs, "Arrays", 8.15.6 Array Input and Output Syntax), written
here, and with psycopg's own text-format array loader; both must give the values back.
"""

import numpy as np
import pytest
from psycopg.adapt import Transformer
from psycopg.pq import Format

from graphsync.reads.literals import (
    NUL,
    checked_text_literal,
    coded_literal,
    element_of,
    int_literal,
    plain_text_literal,
    text_literal,
)

INT8_ARRAY, TEXT_ARRAY = 1016, 1009  # pg_type oids of int8[] and text[]
WHITESPACE = " \t\n\r\v\f"


def parse_array(text):
    """The elements of a one-dimensional array literal: str, or None for NULL.

    '{' elements separated by ',' '}'. An element is double-quoted (a backslash takes
    the next character literally, anything else is data) or unquoted (a backslash
    escapes, unescaped white space around it is dropped, NULL in any case is the null
    value, and it may not be empty). White space may surround elements and braces.
    Stricter than array_in where that does not matter here: quoted and unquoted
    parts are not mixed within an element, and nested braces are refused."""
    s = text.strip(WHITESPACE)
    if len(s) < 2 or s[0] != "{" or s[-1] != "}":
        raise ValueError("not an array literal: %r" % text)
    body, i, out = s[1:-1], 0, []
    if body.strip(WHITESPACE) == "":
        return out
    while True:
        while i < len(body) and body[i] in WHITESPACE:
            i += 1
        if i < len(body) and body[i] == '"':
            i += 1
            chars = []
            while True:
                if i >= len(body):
                    raise ValueError("unterminated quoted element in %r" % text)
                ch = body[i]
                if ch == "\\":
                    if i + 1 >= len(body):
                        raise ValueError("dangling backslash in %r" % text)
                    chars.append(body[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    chars.append(ch)
                    i += 1
            out.append("".join(chars))
            while i < len(body) and body[i] in WHITESPACE:
                i += 1
        else:
            chars, escaped, kept = [], False, 0  # kept: length up to the last escaped char
            while i < len(body) and body[i] != ",":
                ch = body[i]
                if ch in '"{}':
                    raise ValueError("unexpected %r in %r" % (ch, text))
                if ch == "\\":
                    if i + 1 >= len(body):
                        raise ValueError("dangling backslash in %r" % text)
                    chars.append(body[i + 1])
                    escaped, kept = True, len(chars)
                    i += 2
                else:
                    chars.append(ch)
                    i += 1
            value = "".join(chars)
            value = value[:kept] + value[kept:].rstrip(WHITESPACE)
            if value == "":
                raise ValueError("empty unquoted element in %r" % text)
            out.append(None if not escaped and value.upper() == "NULL" else value)
        if i == len(body):
            return out
        if body[i] != ",":
            raise ValueError("junk after an element in %r" % text)
        i += 1


_tx = Transformer()


def psycopg_load(text, oid):
    return _tx.get_loader(oid, Format.TEXT).load(text.encode())


def ints_back(text):
    return [None if v is None else int(v) for v in parse_array(text)]


# The reference parser itself

@pytest.mark.parametrize(("text", "values"), [
    ("{}", []),
    (" { } ", []),
    ("{1,2,3}", ["1", "2", "3"]),
    ('{"a\\"b",NULL,"NULL"," x ",""}', ['a"b', None, "NULL", " x ", ""]),
    ("{ a , null ,Null, c d }", ["a", None, None, "c d"]),
    ("{a\\ ,\\ b,\\NULL}", ["a ", " b", "NULL"]),
    ('{"\\\\",\\\\}', ["\\", "\\"]),
])
def test_reference_parser(text, values):
    assert parse_array(text) == values


@pytest.mark.parametrize("text", ["", "{", "1,2", "{1,}", "{,1}", "{1,,2}", '{"a}', '{"a"b}', "{{1}}",
                                  "{a\\}", "{1} x"])
def test_reference_parser_refuses_malformed_literals(text):
    with pytest.raises(ValueError):
        parse_array(text)


# int_literal

def expected_ints(values, nulls):
    return "{" + ",".join("NULL" if null else str(int(v)) for v, null in zip(values, nulls, strict=True)) + "}"


def test_int_literal_examples():
    assert int_literal([]) == "{}"
    assert int_literal(np.array([], dtype=np.int64), np.array([], dtype=bool)) == "{}"
    assert int_literal([7]) == "{7}"
    assert int_literal([1, 2, 3]) == "{1,2,3}"
    assert int_literal([1, 2, 3], [False, True, False]) == "{1,NULL,3}"
    assert int_literal([1, 2], [True, True]) == "{NULL,NULL}"
    assert int_literal([-(2 ** 63), 2 ** 63 - 1, 0, -1]) == "{-9223372036854775808,9223372036854775807,0,-1}"


def test_int_literal_of_runs():
    """One long run, and runs of NULLs over values that differ underneath."""
    assert int_literal([5] * 100) == "{" + ",".join(["5"] * 100) + "}"
    values = [1] * 30 + [2] * 30 + [3] * 40
    nulls = [False] * 20 + [True] * 50 + [False] * 30
    assert int_literal(values, nulls) == expected_ints(values, nulls)
    assert int_literal(np.arange(100) // 50, np.ones(100, dtype=bool)) == "{" + ",".join(["NULL"] * 100) + "}"


def test_int_literal_takes_other_integer_dtypes():
    assert int_literal(np.array([3, 3, 4], dtype=np.int32)) == "{3,3,4}"
    assert int_literal(np.array([1, 0], dtype=np.uint32), np.array([0, 1], dtype=np.int8)) == "{1,NULL}"


@pytest.mark.parametrize("seed", range(40))
def test_int_literal_random(seed):
    """Arrays from all runs of one value to no runs at all, NULLs in runs or scattered:
    exactly the element-by-element literal, and read back to the values."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    mean_run = [1, 2, 8, 50, 1000][seed % 5]
    lengths = rng.geometric(1 / mean_run, n)
    values = np.repeat(rng.integers(-5, 5, n) * (10 ** int(rng.integers(0, 18))), lengths)[:n]
    if seed % 2:
        nulls = np.repeat(rng.random(n) < 0.3, lengths)[:n]
    else:
        nulls = rng.random(n) < 0.1
    text = int_literal(values, nulls)
    assert text == expected_ints(values, nulls)
    back = [None if null else int(v) for v, null in zip(values, nulls, strict=True)]
    assert ints_back(text) == back
    assert psycopg_load(text, INT8_ARRAY) == back


# text_literal

@pytest.mark.parametrize(("values", "nulls", "literal"), [
    ([], None, "{}"),
    (["a", "b"], None, '{"a","b"}'),
    (["a", "x"], [False, True], '{"a",NULL}'),
    (["x", "y"], [True, True], "{NULL,NULL}"),
    (["a", "b"], [False, False], '{"a","b"}'),
    (["NULL", "null"], None, '{"NULL","null"}'),
    (["", ""], None, '{"",""}'),
    ([" a ", "{,}", "c d"], None, '{" a ","{,}","c d"}'),
    (['a"b'], None, '{"a\\"b"}'),
    (["a\\b"], None, '{"a\\\\b"}'),
    (['\\"'], [False], '{"\\\\\\""}'),
    ([NUL], None, '{"' + NUL + '"}'),
    ([NUL, "x"], [False, True], '{"' + NUL + '",NULL}'),
    (["a" + NUL, "x", 'q"'], [False, True, False], '{"a' + NUL + '",NULL,"q\\""}'),
    (["é", "日本"], None, '{"é","日本"}'),
])
def test_text_literal_examples(values, nulls, literal):
    nulls = None if nulls is None else np.array(nulls, dtype=bool)
    assert text_literal(np.array(values, dtype=object), nulls) == literal


def test_text_literal_leaves_the_callers_array_alone():
    values = np.array(["a", "b", "c"], dtype=object)
    text_literal(values, np.array([False, True, False]))
    assert values.tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("seed", range(40))
def test_text_literal_random(seed):
    """Strings with quotes, backslashes, the NULL placeholder, braces, commas, white space
    and 'NULL' itself, with and without NULLs: read back to the values."""
    rng = np.random.default_rng(seed)
    pieces = ["a", "b", "1", " ", ",", "{", "}", '"', "\\", NUL, "NULL", "\t", "é", "'", ""]
    plain = seed % 3 == 0  # some arrays need no escaping at all (the whole-column path)
    if plain:
        pieces = ["a", "b", "1", " ", ",", "{", "}", "NULL", "é", ""]
    n = int(rng.integers(1, 60))
    values = np.array(["".join(rng.choice(pieces, int(rng.integers(0, 6))).tolist()) for _ in range(n)],
                      dtype=object)
    nulls = None if seed % 4 == 1 else rng.random(n) < 0.2
    text = text_literal(values, nulls)
    back = [None if nulls is not None and nulls[i] else v for i, v in enumerate(values.tolist())]
    assert parse_array(text) == back
    assert psycopg_load(text, TEXT_ARRAY) == back


@pytest.mark.parametrize("seed", range(30))
def test_a_few_values_give_the_literal_the_whole_column_ways_give(seed, monkeypatch):
    """Up to literals.SMALL values are written one by one in Python: the same text."""
    from graphsync.reads import literals

    rng = np.random.default_rng(seed + 500)
    n = int(rng.integers(1, literals.SMALL + 1))
    ints = np.repeat(rng.integers(-3, 3, n), rng.integers(1, 4, n))[:n]
    pieces = ["a", "1", " ", ",", "{", '"', "\\", NUL, "NULL", "é", ""]
    texts = np.array(["".join(rng.choice(pieces, int(rng.integers(0, 5))).tolist()) for _ in range(n)],
                     dtype=object)
    nulls = None if seed % 3 == 0 else rng.random(n) < 0.3
    few = int_literal(ints, nulls), text_literal(texts, nulls)
    monkeypatch.setattr(literals, "SMALL", 0)
    assert (int_literal(ints, nulls), text_literal(texts, nulls)) == few


# checked_text_literal, plain_text_literal, coded_literal

@pytest.mark.parametrize("seed", range(30))
def test_a_plain_literal_is_the_checked_one(seed):
    """checked_text_literal writes text_literal's literal and calls it plain only when
    no value needed escaping; then plain_text_literal of any of its values (NULLs
    anywhere) writes what text_literal writes, and reads back to them."""
    rng = np.random.default_rng(seed + 100)
    n = int(rng.integers(0, 300))
    alphabet = ["a", "7", " ", ",", "{", "é"] + (['"', "\\", NUL] if seed % 3 == 0 else [])
    values = np.array(["".join(rng.choice(alphabet, int(rng.integers(0, 5)))) for _ in range(n)], dtype=object)
    literal, plain = checked_text_literal(values)
    assert literal == text_literal(values)
    needs = any('"' in v or "\\" in v or NUL in v for v in values.tolist())
    if n > 32:  # SMALL: value by value, never called plain
        assert plain is (not needs)
    if not plain:
        return
    some = values[rng.integers(0, n, int(rng.integers(0, 2 * n)))] if n else values
    nulls = rng.random(len(some)) < [0, 0.2, 1][seed % 3]
    assert plain_text_literal(some, nulls) == text_literal(some, nulls)
    assert plain_text_literal(some) == text_literal(some)
    back = [None if null else v for v, null in zip(some.tolist(), nulls.tolist(), strict=True)]
    assert parse_array(plain_text_literal(some, nulls)) == back
    assert psycopg_load(plain_text_literal(some, nulls), TEXT_ARRAY) == back


@pytest.mark.parametrize("seed", range(20))
def test_coded_literal_is_the_text_literal_of_the_names(seed):
    """A column of a few names (None: NULL), given as codes into written elements."""
    rng = np.random.default_rng(seed + 200)
    names = np.array(["a", 'q"', "b\\c", None, "", "NULL", NUL][: 1 + seed % 7], dtype=object)
    codes = rng.integers(-1, len(names), int(rng.integers(0, 200)))
    elements = np.array([element_of(x) for x in names.tolist()], dtype=object)
    want = names[codes]
    nulls = np.array([x is None for x in want.tolist()], dtype=bool)
    assert coded_literal(codes, elements) == text_literal(np.where(nulls, "", want), nulls)
    assert parse_array(coded_literal(codes, elements)) == want.tolist()
