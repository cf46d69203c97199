"""Large answers as array literals: how reads hand thousands of values to SQL.

Large answers cross from PL/Python to SQL as one row of array literals
('{1,1,2}', '{"a",NULL}'), which the public function casts back and unnests:
PL/Python converts each element of a returned list through its text form and
the element type's input function (about 0.1 µs an element), and re-enters a
set-returning function for every row; a text is converted in one go, and
array_in reads it back in C at a fraction of that. Pure NumPy: no database access.
"""

from graphsync.algorithms.lazy_numpy import np

NUL = "\x1e"  # stands for NULL while a text literal is built

# At most this many values are written one by one in Python: each NumPy call
# costs about a microsecond whatever its size, and the whole-column ways below
# take several, more than joining a few texts.
SMALL = 32


def literal_of_ints(values):
    """The array literal of a list of ints, None for NULL."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def literal_of_texts(values):
    """The array literal of a list of strings, None for NULL: each double-quoted,
    its backslashes and double quotes escaped."""
    return "{" + ",".join("NULL" if v is None else '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
                          for v in values) + "}"


def int_literal(values, nulls=None):
    """The array literal of the integers ``values``, NULL where the bool array
    ``nulls`` is True. Runs of equal values (a table, a BFS level, a component)
    are written by string repetition, so they cost next to nothing."""
    values = np.asarray(values, dtype=np.int64)
    n = len(values)
    if not n:
        return "{}"
    if n <= SMALL:
        if nulls is None:
            return "{" + ",".join(map(str, values.tolist())) + "}"
        return literal_of_ints([None if null else v for v, null in zip(
            values.tolist(), np.asarray(nulls, dtype=bool).tolist(), strict=True)])
    nulls = np.zeros(n, dtype=bool) if nulls is None else np.asarray(nulls, dtype=bool)
    starts = np.flatnonzero((values[1:] != values[:-1]) | (nulls[1:] != nulls[:-1])) + 1
    if len(starts) < n // 4:
        starts = np.concatenate([[0], starts])
        counts = np.diff(np.append(starts, n)).tolist()
        text = "".join(("NULL," if null else "%d," % v) * c for v, null, c in zip(
            values[starts].tolist(), nulls[starts].tolist(), counts, strict=True))
        return "{" + text[:-1] + "}"
    texts = list(map(str, values.tolist()))
    for i in np.flatnonzero(nulls).tolist():
        texts[i] = "NULL"
    return "{" + ",".join(texts) + "}"


def text_literal(values, nulls=None):
    """The array literal of the strings ``values`` (an object array), NULL where
    the bool array ``nulls`` is True. Joined and quoted a whole column at a
    time; escaped element by element only when a value holds a double quote, a
    backslash or the NULL placeholder."""
    return checked_text_literal(values, nulls)[0]


def checked_text_literal(values, nulls=None):
    """(text_literal(values, nulls), plain): plain is True when no value needed
    escaping (no double quote, backslash or NULL placeholder in any), so any
    values among them can be written by plain_text_literal."""
    values = np.asarray(values, dtype=object)
    if not len(values):
        return "{}", True
    return _text_literal(values, nulls)


def plain_text_literal(values, nulls=None):
    """text_literal of strings known to need no escaping (each is a value of a
    literal checked_text_literal found plain), without looking for what would:
    one join, no scan of the joined text but for NULLs."""
    values = np.asarray(values, dtype=object)
    if not len(values):
        return "{}"
    nones = 0
    if nulls is not None and nulls.any():
        values = values.copy()
        values[nulls] = NUL
        nones = 1
    literal = '{"' + '","'.join(values.tolist()) + '"}'
    return literal.replace('"%s"' % NUL, "NULL") if nones else literal


def coded_literal(codes, elements):
    """The array literal of ``elements[codes]``: ``elements`` an object array of
    elements already written for a literal ('"a"', 'NULL': element_of), ``codes``
    ints indexing it. For a column of a few distinct values (edge labels): one
    gather and one join, no quoting or scan per value."""
    if not len(codes):
        return "{}"
    return "{" + ",".join(elements[codes].tolist()) + "}"


def element_of(text):
    """An element of an array literal: NULL for None, else ``text`` double-quoted,
    its backslashes and double quotes escaped."""
    if text is None:
        return "NULL"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_literal(values, nulls):
    """checked_text_literal of a non-empty object array (up to SMALL values, value
    by value, and never found plain)."""
    if len(values) <= SMALL:
        if nulls is None:
            return literal_of_texts(values.tolist()), False
        return literal_of_texts([None if null else v for v, null in zip(
            values.tolist(), np.asarray(nulls, dtype=bool).tolist(), strict=True)]), False
    if nulls is not None and nulls.any():
        values = values.copy()
        values[nulls] = NUL
        nones = int(np.count_nonzero(nulls))
    else:
        nones = 0
    joined = '","'.join(values.tolist())
    if joined.count('"') == 2 * (len(values) - 1) and "\\" not in joined and joined.count(NUL) == nones:
        literal = '{"' + joined + '"}'
        return literal.replace('"%s"' % NUL, "NULL") if nones else literal, True
    texts = ['"%s"' % v.replace("\\", "\\\\").replace('"', '\\"') for v in values.tolist()]
    for i in np.flatnonzero(nulls).tolist() if nones else ():
        texts[i] = "NULL"
    return "{" + ",".join(texts) + "}", False
