"""Fields of many captured JSON images read from their text with NumPy, without parsing.

A log row's image (``old_row``/``new_row``, see sync/changes.py) is jsonb rendered as
text: an object ``{"key": value, ...}`` whose values capture wrote as strings (a
column's text) or ``null``. jsonb writes ``: `` after a key and ``, `` between pairs,
and escapes a ``"`` or a ``\\`` inside a string (and control characters) with a
backslash. So in texts holding no backslash every ``"`` opens or closes a string, a
string followed by ``:`` is a key, and where each value of a key lies in each of many
images is found by a few array operations over their bytes (fields()): no dict per
image and no string per value, as json.loads makes. Reads that fold many pending rows
(sync/columns.py) take their join rows' ends, weights and labels so; an end that is
an integer's decimal text becomes an int64 (ints()), resolved to a node id with
NumPy (reads/freshness.py), never a Python string.

Texts of another form -- a backslash, a character beyond ASCII, a value that is not
a string or null, an image without one of the keys asked, anything not shaped like
jsonb's output -- give None: the caller parses them with json (changes.parse_texts).
Pure NumPy: no database access.
"""

from __future__ import annotations

from typing import NamedTuple

from graphsync.algorithms.lazy_numpy import np

# ints() of a text that is not the decimal text of an integer of at most 18 digits
# (no such integer is this one: its text has 19 digits).
NOT_INT = -(2 ** 63)
_DIGITS = 18
_WIDTH = 20  # '-', 18 digits, and one more byte to tell a longer text
_QUOTE, _COLON, _SPACE, _COMMA = ord('"'), ord(":"), ord(" "), ord(",")
_OPEN, _CLOSE = ord("{"), ord("}")


class Field(NamedTuple):
    """Where the value of one key lies in each of k images: ``data`` (the images'
    bytes, one after another), ``present`` (bool[k]: a string, not null), and the
    string's bytes ``data[starts[i]:ends[i]]`` (0, 0 where null)."""

    data: bytes
    present: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def fields(texts, names):
    """{name: Field} of each of ``names`` in ``texts`` (k image texts), or None when
    the texts are not all of the simple form (see the module docstring) or one of
    them has no such key."""
    k = len(texts)
    if not k:
        empty = np.zeros(0, dtype=np.int64)
        return {n: Field(b"", np.zeros(0, dtype=bool), empty, empty) for n in names}
    joined = "\0".join(texts)  # a text of the log holds no NUL
    if "\\" in joined:
        return None
    data = joined.encode()
    if len(data) != len(joined):  # beyond ASCII: a character is more than a byte
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    if np.count_nonzero(buf < _SPACE) != k - 1:  # a control character but the k - 1 NULs (jsonb escapes them)
        return None
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=k)
    if lengths.min() < 2:
        return None
    row_starts = np.zeros(k, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=row_starts[1:])
    if (buf[row_starts] != _OPEN).any() or (buf[row_starts + lengths - 1] != _CLOSE).any():
        return None
    quotes = np.flatnonzero(buf == _QUOTE)
    if len(quotes) % 2:
        return None
    opens, closes = quotes[0::2], quotes[1::2]
    row_ends = row_starts + lengths
    if (np.searchsorted(quotes, row_ends) % 2).any():  # a text of an odd number of quotes
        return None
    last = len(buf) - 1
    after = buf[closes + 1]  # a text ends in '}': no quote is the last byte
    is_key = after == _COLON
    keys = np.flatnonzero(is_key)
    # A key: '": ' then a string (the next string, right there) or null; a value
    # string: just after a key, then ',' or '}' (for a value '}' ends its text).
    value_at = closes[keys] + 3
    if (buf[closes[keys] + 2] != _SPACE).any():  # (closes[keys] + 1 is ':', not the last byte)
        return None
    is_string = buf[np.minimum(value_at, last)] == _QUOTE
    following = np.minimum(keys + 1, len(opens) - 1)
    if (is_string & ((keys + 1 >= len(opens)) | (opens[following] != value_at))).any():
        return None
    nulls = value_at[~is_string]
    if len(nulls):
        if (nulls + 4 > last).any():
            return None
        if (buf[nulls[:, None] + np.arange(4)] != np.frombuffer(b"null", dtype=np.uint8)).any():
            return None
        after_null = buf[nulls + 4]
        if not ((after_null == _COMMA) | (after_null == _CLOSE)).all():
            return None
    values = np.zeros(len(opens), dtype=bool)
    values[keys[is_string] + 1] = True
    if (values & is_key).any() or ((~values & ~is_key).any()):  # every string a key or a key's value
        return None
    after_value = after[values]
    if not ((after_value == _COMMA) | (after_value == _CLOSE)).all():
        return None
    out = {}
    key_opens = opens[keys] + 1
    key_lengths = closes[keys] - key_opens
    # each key's length and first and last bytes as one number: one comparison a key
    # finds a name's candidates, whose other bytes are compared then
    signature = (key_lengths << 16) | (buf[key_opens].astype(np.int64) << 8) | buf[closes[keys] - 1]
    for name in names:
        wanted = name.encode() if name.isascii() else None
        if wanted is None:
            return None
        if wanted:
            same = np.flatnonzero(signature == (len(wanted) << 16 | wanted[0] << 8 | wanted[-1]))
            for j in range(1, len(wanted) - 1):
                same = same[buf[key_opens[same] + j] == wanted[j]]
        else:  # "" (a key no plain image has)
            same = np.flatnonzero(key_lengths == 0)
        at = key_opens[same]
        if len(same) != k or (at < row_starts).any() or (at >= row_ends).any():  # not once in every image
            return None
        string = is_string[same]
        starts = np.where(string, value_at[same] + 1, 0)
        ends = np.where(string, closes[np.minimum(keys[same] + 1, len(closes) - 1)], 0)
        out[name] = Field(data, string, starts, ends)
    return out


def _chars(f, width):
    """(uint8[k, width] of each value's first ``width`` bytes, 0 past its end; lengths int64[k])."""
    lengths = f.ends - f.starts
    at = f.starts[:, None] + np.arange(width)
    inside = np.arange(width) < lengths[:, None]
    buf = np.frombuffer(f.data, dtype=np.uint8)
    chars = np.where(inside, buf[np.minimum(at, max(len(buf) - 1, 0))] if len(buf) else 0, 0).astype(np.uint8)
    return chars, lengths


def ints(f):
    """int64[k]: the integer each value of ``f`` is the decimal text of, as integer
    output writes it ('-' for a negative number, no other sign, no leading zero, at
    most 18 digits); NOT_INT where it is another text, or null."""
    k = len(f.present)
    if not k:
        return np.zeros(0, dtype=np.int64)
    longest = int((f.ends - f.starts).max())
    if not longest:
        return np.full(k, NOT_INT, dtype=np.int64)
    width = min(longest, _WIDTH)  # a text longer than _WIDTH is no such integer
    chars, lengths = _chars(f, width)
    negative = chars[:, 0] == ord("-")
    body = np.arange(width) < lengths[:, None]
    body[:, 0] &= ~negative
    digits = body.sum(axis=1)
    first = np.where(negative, chars[:, min(1, width - 1)], chars[:, 0])
    d = chars.astype(np.int64) - ord("0")
    ok = f.present & (lengths <= _DIGITS + 1) & (digits >= 1) & (digits <= _DIGITS)
    ok &= (((d >= 0) & (d <= 9)) | ~body).all(axis=1)
    ok &= (first != ord("0")) | (digits == 1) & ~negative
    d[~body] = 0
    value = np.zeros(k, dtype=np.int64)
    for j in range(width):  # the digits of each text, right-aligned: 10 * value + digit where inside
        value = np.where(body[:, j], value * 10 + d[:, j], value)
    return np.where(ok, np.where(negative, -value, value), NOT_INT)


def texts_at(f, at):
    """[str | None]: the values of ``f`` at positions ``at`` (a list), one by one."""
    data, present, starts, ends = f.data, f.present, f.starts, f.ends
    return [data[starts[i]:ends[i]].decode() if present[i] else None for i in at]


def distinct(f):
    """(values, inverse): the distinct values of ``f`` (a list of str, None for null)
    and the position of each row's among them (int64[k]), each decoded once: for
    columns of few values (weights, labels)."""
    k = len(f.present)
    if not k:
        return [], np.zeros(0, dtype=np.int64)
    width = int((f.ends - f.starts).max())
    if width > 64:  # long values: one by one
        values = texts_at(f, range(k))
        first = dict.fromkeys(values)
        at = {v: i for i, v in enumerate(first)}
        return list(first), np.fromiter(map(at.__getitem__, values), dtype=np.int64, count=k)
    width = max(8, -(-width // 8) * 8)
    chars, _ = _chars(f, width)
    # a null as one byte no text value starts with (a value is ASCII text, no NUL)
    chars[~f.present, 0] = 0xFF
    if width == 8:  # one uint64 a value: one comparison each (all the same, often), or a sort of numbers
        rows = np.ascontiguousarray(chars).view(np.uint64).ravel()
        if (rows == rows[0]).all():
            unique, inverse = rows[:1], np.zeros(k, dtype=np.int64)
        else:
            unique, inverse = np.unique(rows, return_inverse=True)
        unique = [v.tobytes() for v in unique]
    else:
        rows = np.ascontiguousarray(chars).view(np.dtype((np.void, width))).ravel()
        unique, inverse = np.unique(rows, return_inverse=True)
        unique = [bytes(v) for v in unique]
    values = [None if v[:1] == b"\xff" else v.rstrip(b"\0").decode() for v in unique]
    return values, inverse.reshape(-1).astype(np.int64)


def texts(f):
    """object[k]: every value of ``f`` as a str (None where null), each distinct
    value decoded once (distinct())."""
    values, inverse = distinct(f)
    decoded = np.empty(len(values), dtype=object)
    decoded[:] = values
    return decoded[inverse] if len(values) else np.empty(len(inverse), dtype=object)


def key_texts(pks, ints, at=None):
    """object[]: the key texts of ``pks`` (at positions ``at``; every one when None),
    the decimal text of ``ints`` where that holds the key (not NOT_INT; ``pks`` holds
    None there). ``ints`` None: ``pks`` as they are. ``pks`` itself is never written."""
    texts = pks if at is None else pks[at]
    if ints is None:
        return texts
    of = ints if at is None else ints[at]
    held = np.flatnonzero(of != NOT_INT)
    if not len(held):
        return texts
    if at is None:
        texts = texts.copy()
    texts[held] = texts_of_ints(of[held])
    return texts


def texts_of_ints(values):
    """object[k]: the decimal text of each of ``values`` (int64, no NOT_INT)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(map(str, values.tolist()))
    return out
