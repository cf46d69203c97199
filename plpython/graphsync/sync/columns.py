"""Graph changes of many log rows at once, as columns: what changes.fold_rows gives,
for reads that fold many pending rows (reads/freshness.py).

changes.fold_rows reads a row at a time and gives every edge change as a tuple of
tuples; at 100k pending rows that alone costs a read seconds. Here the rows come as
columns (graph._pending_columns' columns, as reads.start reads them) and the edge
changes go out as columns (EdgeColumns), in the order fold_rows gives them:

- the rows that only carry edges of plain columns -- an insert or a delete into a
  table that is no node table (a join table) whose edge sources capture does not
  compute -- are read column by column: for each edge source, its endpoint, weight
  and label values of all such rows found in the images' text at once
  (sync/imagetext.py; images of another form are parsed by json, then read in one
  list comprehension each), the weights through one weight_of() call per distinct
  text, an endpoint that is an integer's decimal text as an int64
  (EdgeColumns.from_ints), resolved to a node id with NumPy by reads/freshness.py;
- an update of such a table with both images and both keys (a read under writes
  that change join rows folds mostly these) is read the same way, each image on
  its own, and an edge both images give is left out (add_rows' diff of the two,
  worked out per edge source with array comparisons: _update_part);
- every other row (node tables, computed sources, rows that cannot be gathered
  whole) goes through changes.add_rows, run by run of consecutive rows, as
  fold_rows would take it;
- the edge changes of both are put back in log order (row, then the order within
  a row that changes._plain_edges and add_rows give).

Anything unusual -- a TRUNCATE, a JSON image that does not parse, a value that is
not text -- folds all rows with changes.fold_rows, exactly as before. Pure Python
and NumPy: no database access.
"""

from __future__ import annotations

from typing import NamedTuple

from graphsync.algorithms.lazy_numpy import np
from graphsync.sync import changes, imagetext


class EdgeColumns(NamedTuple):
    """Edge changes (changes.fold_rows' (op, source, key, key, weight, label) tuples)
    as parallel columns, in the same order."""

    ops: np.ndarray  # int64: +1 an addition, -1 a removal
    sources: np.ndarray  # int64: the edge source id
    from_tables: np.ndarray  # int64: table oid of the from key
    from_pks: np.ndarray  # object: id text of the from key
    to_tables: np.ndarray
    to_pks: np.ndarray  # object
    weights: np.ndarray  # float64
    labels: np.ndarray  # object
    # int64: the integer whose decimal text the from key is (imagetext.ints), NOT_INT
    # where it is another text; from_pks holds None where this holds the integer.
    # None: every key is in from_pks.
    from_ints: np.ndarray | None = None
    to_ints: np.ndarray | None = None

    def __len__(self):
        return len(self.ops)

    def key_texts(self, end):
        """object[]: the id text of every from (``end`` 0) or to (1) key."""
        return imagetext.key_texts(*((self.from_pks, self.from_ints) if end == 0 else (self.to_pks, self.to_ints)))

    def tuples(self):
        """The changes as fold_rows gives them."""
        return [("+" if op > 0 else "-", s, (ft, fp), (tt, tp), w, lab)
                for op, s, ft, fp, tt, tp, w, lab in zip(
                    self.ops.tolist(), self.sources.tolist(), self.from_tables.tolist(), self.key_texts(0).tolist(),
                    self.to_tables.tolist(), self.key_texts(1).tolist(), self.weights.tolist(), self.labels.tolist(),
                    strict=True)]


def _objects(values):
    """An object array of ``values`` (a list), one element each (never a 2-d array)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def edge_columns(edges):
    """EdgeColumns of changes.fold_rows' edge change tuples, an end that is an
    integer's decimal text held as that integer (from_ints, to_ints), as the columns'
    ends are: a fold read row by row resolves them among the integer keys too. Each
    column made from a list in one NumPy call (a read under writes folds the row or
    two committed since its last read this way: issue 9)."""
    if not edges:
        return EdgeColumns(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), _objects([]),
                           np.zeros(0, np.int64), _objects([]), np.zeros(0, np.float64), _objects([]))
    ops, sources, froms, tos, weights, labels = zip(*edges, strict=True)
    from_tables, from_pks, from_ints = _key_ends(froms)
    to_tables, to_pks, to_ints = _key_ends(tos)
    return EdgeColumns(np.array([1 if op == "+" else -1 for op in ops], dtype=np.int64),
                       np.array(sources, dtype=np.int64), from_tables, from_pks, to_tables, to_pks,
                       np.array(weights, dtype=np.float64), _objects(list(labels)), from_ints, to_ints)


def _key_ends(keys):
    """(table oids int64[k], texts object[k]: None where ints holds the key, ints
    int64[k]: NOT_INT where it does not) of (table oid, key) ends ``keys``: a key held
    as an integer is the decimal text of one as integer output writes it, of at most
    18 digits (packed.int_of, the rule of imagetext.ints); a key that is not a str (a
    JSON number) is kept as it is."""
    from graphsync.sync import packed  # here: only a fold row by row needs it

    tables, texts, ints = [], [], []
    for table, pk in keys:
        value = packed.int_of(pk.encode()) if type(pk) is str else None
        tables.append(table)
        texts.append(pk if value is None else None)
        ints.append(imagetext.NOT_INT if value is None else value)
    return np.array(tables, dtype=np.int64), _objects(texts), np.array(ints, dtype=np.int64)


COLUMNS = ("id", "op", "table_oid", "old_pk", "new_pk", "properties", "old_row", "new_row")


def rows_of(cols, at=None):
    """Log rows (dicts, as graph._pending_rows returns them) of columns ``cols``
    ({column: list}), those at positions ``at`` (all when None)."""
    picked = [cols[c] for c in COLUMNS]
    if at is not None:
        picked = [[c[i] for i in at] for c in picked]
    return [dict(zip(COLUMNS, row, strict=True)) for row in zip(*picked, strict=True)]


class _Unusual(Exception):
    """Columns the fast reading does not take: fold them row by row (fold_rows)."""


def _texts(values):
    """``values`` when each is a text or None, else _Unusual."""
    if not set(map(type, values)) <= {str, type(None)}:
        raise _Unusual()
    return values


def fold_columns(reg, cols):
    """changes.fold_rows of the log rows given as columns ``cols`` ({column name:
    list}, rows in id order): (node changes, EdgeColumns, truncated table oids, cut
    edge sources), the same changes in the same order."""
    try:
        return _fold_columns(reg, cols)
    except _Unusual:
        nodes, edges, truncated, cuts = changes.fold_rows(reg, rows_of(cols))
        return nodes, edge_columns(edges), truncated, cuts


def _fold_columns(reg, cols):
    ops = cols["op"]
    n = len(ops)
    if "T" in ops:
        raise _Unusual()
    tables = np.array(cols["table_oid"], dtype=np.int64)
    plans = {t: changes._Plan(reg, t) for t in np.unique(tables).tolist()}
    plain = [t for t, p in plans.items() if p.node is None and not p.general and p.specs]
    # Rows read column by column: an insert or a delete of a table in ``plain``, with
    # its key and image, and no image on the other side (add_rows' branch for
    # signed edges), and an update with both (_update_part); an image "{}" (no
    # captured column) goes row by row.
    if ops.count("I") == n and cols["old_row"].count(None) == n and cols["new_row"].count(None) == 0 \
            and cols["new_pk"].count(None) == 0 and len(plain) == len(plans):
        # only inserts into plain tables, each with its key and image (a backlog of join
        # rows, the common case): every row is read column by column, no object array
        fast, is_insert = np.arange(n), np.ones(n, dtype=bool)
        texts, pks = cols["new_row"], _objects(_texts(cols["new_pk"]))
        updates = np.zeros(0, dtype=np.int64)
    else:
        op = np.array(ops, dtype="U1")
        old_texts, new_texts = _objects(cols["old_row"]), _objects(cols["new_row"])
        old_pks, new_pks = _objects(cols["old_pk"]), _objects(cols["new_pk"])
        no_old, no_new = old_texts == None, new_texts == None  # noqa: E711 (elementwise)
        inserts = (op == "I") & no_old & ~no_new & (new_pks != None)  # noqa: E711
        deletes = (op == "D") & no_new & ~no_old & (old_pks != None) & (old_texts != "{}")  # noqa: E711
        in_plain = np.isin(tables, plain) if plain else np.zeros(n, dtype=bool)
        fast = np.flatnonzero(in_plain & (inserts | deletes))
        is_insert = inserts[fast]
        texts = np.where(is_insert, new_texts[fast], old_texts[fast]).tolist()
        pks = np.where(is_insert, new_pks[fast], old_pks[fast])
        _texts(pks.tolist())
        # updates with both images and keys (an image "{}" goes row by row, as above)
        updates = np.flatnonzero(in_plain & (op == "U") & ~no_old & ~no_new & (old_pks != None)  # noqa: E711
                                 & (new_pks != None) & (old_texts != "{}") & (new_texts != "{}"))  # noqa: E711
    sign = np.where(is_insert, 1, -1).astype(np.int64)
    parts = []  # (row keys, within-row keys, EdgeColumns)
    fast_tables = tables[fast]
    for table in plain:
        at = np.flatnonzero(fast_tables == table)
        if len(at) == len(fast):  # one table's rows
            parts += _plain_part(plans[table].specs, fast, sign, texts, pks)
        elif len(at):
            parts += _plain_part(plans[table].specs, fast[at], sign[at], [texts[j] for j in at.tolist()], pks[at])
    if len(updates):
        _texts(old_pks[updates].tolist())
        _texts(new_pks[updates].tolist())
        update_tables = tables[updates]
        for table in plain:
            at = updates[update_tables == table]
            if len(at):
                parts += _update_part(plans[table].specs, at, old_texts[at].tolist(), new_texts[at].tolist(),
                                      old_pks[at], new_pks[at])
        fast = np.concatenate([fast, updates])
    # The other rows, run by run of consecutive ones, through add_rows (skipping
    # what it cannot gather, as fold_rows does).
    gathered = changes.Changes()
    is_fast = np.zeros(n, dtype=bool)
    is_fast[fast] = True
    others = np.flatnonzero(~is_fast)
    if len(others):
        other_rows = rows_of(cols, others.tolist())
        olds = changes.parse_texts([r["old_row"] for r in other_rows])
        news = changes.parse_texts([r["new_row"] for r in other_rows])
        breaks = np.flatnonzero(np.diff(others) != 1) + 1
        add_plans = {}
        done = 0
        for run in np.split(others, breaks):
            start = len(gathered.edges)
            end = done + len(run)
            changes.add_rows(reg, other_rows[done:end], gathered, (olds[done:end], news[done:end]), True, set(),
                             add_plans)
            done = end
            added = len(gathered.edges) - start
            if added:
                e = edge_columns(gathered.edges[start:])
                parts.append((np.full(added, run[0], dtype=np.int64), np.arange(added, dtype=np.int64), e))
    return gathered.nodes, _concat(parts), set(), set()


def _present(values):
    """bool[k]: which of ``values`` (a list) are not None."""
    if None not in values:
        return np.ones(len(values), dtype=bool)
    return _objects(values) != None  # noqa: E711 (elementwise)


def _plain_part(specs, rows, sign, texts, pks):
    """The edge changes of one plain table's fast rows (log positions ``rows``,
    ``sign`` +1 an insert, -1 a delete; their images' ``texts`` and keys ``pks``),
    per edge source as changes._plain_edges gives them, with their order keys. A row
    whose weight does not read as one (weight_of raises) gives no change of any
    source, as add_rows skips it."""
    ok, ends = _spec_ends(specs, texts, pks)
    parts = []
    for s, spec in enumerate(specs):
        parts += _emit(spec, 2 * s, rows, sign, ends[s], ok)
    return parts


def _update_part(specs, rows, old_texts, new_texts, old_pks, new_pks):
    """The edge changes of one plain table's updates (log positions ``rows``, each
    with both images and both keys), as add_rows gives them: per edge source, the
    old image's edges and the new one's; an edge in both (the same ends, weight and
    label; for a bidirectional source between rows of one table also the ends
    swapped, which gives the same two edges) changes nothing; the others are
    removed, every source's, then added. A row whose old or new weight does not
    read as one gives no change, as add_rows skips it."""
    ok_old, old = _spec_ends(specs, old_texts, old_pks)
    ok_new, new = _spec_ends(specs, new_texts, new_pks)
    ok = ok_old & ok_new
    k = len(rows)
    parts = []
    for s, spec in enumerate(specs):
        bi, ft, tt = spec[9], spec[2], spec[3]
        (a0, ai0, ap0, b0, bi0, bp0, w0, l0), (a1, ai1, ap1, b1, bi1, bp1, w1, l1) = old[s], new[s]
        both = ok & ap0 & bp0 & ap1 & bp1
        if both.any():
            alike = both & (w0 == w1) & _equal(l0, l1)
            same = alike & _same_ends(a0, ai0, a1, ai1) & _same_ends(b0, bi0, b1, bi1)
            if bi and ft == tt:
                same |= alike & _same_ends(a0, ai0, b1, bi1) & _same_ends(b0, bi0, a1, ai1)
        else:
            same = np.zeros(k, dtype=bool)
        parts += _emit(spec, 2 * s, rows, np.full(k, -1, dtype=np.int64), old[s], ok & ~same)
        parts += _emit(spec, 2 * (len(specs) + s), rows, np.ones(k, dtype=np.int64), new[s], ok & ~same)
    return parts


def _equal(x, y):
    """bool[k]: x == y elementwise (object or number arrays of one length)."""
    return np.asarray(x == y, dtype=bool) if len(x) else np.zeros(0, dtype=bool)


def _same_ends(t0, i0, t1, i1):
    """bool[k]: whether two end columns (_ends' texts and ints) hold the same key
    texts, where both are present (elsewhere anything)."""
    if (i0 is None) != (i1 is None):  # one read from parsed images: compare as texts
        t0, i0, t1, i1 = imagetext.key_texts(t0, i0), None, imagetext.key_texts(t1, i1), None
    if i0 is None:
        return _equal(t0, t1)
    eq = i0 == i1
    as_text = np.flatnonzero(eq & (i0 == imagetext.NOT_INT))
    if len(as_text):
        eq[as_text] = _equal(t0[as_text], t1[as_text])
    return eq


def _spec_ends(specs, texts, pks):
    """(ok bool[k]: the rows whose every weight reads as one, and per edge source
    its (from texts, from ints, from present, to texts, to ints, to present,
    weights, labels)) of k images ``texts`` with keys ``pks``. The images' fields
    are read from their text (imagetext.fields), an end that is an integer's text
    as that integer (EdgeColumns.from_ints); images of another form are parsed
    (json)."""
    names = {c for spec in specs for c in (None if spec[1] else spec[4], spec[5], spec[6], spec[7]) if c}
    found = imagetext.fields(texts, sorted(names))
    if found is None:
        images = changes.parse_texts(texts)
        if texts and (images[0] is changes._UNPARSED or None in images):
            raise _Unusual()
        found = {c: _Parsed(_texts([r.get(c) for r in images])) for c in names}
    k = len(texts)
    ok = np.ones(k, dtype=bool)
    ends = []
    for _, fk, _, _, fc, tc, wc, lc, label, _ in specs:
        if not wc:
            w = np.ones(k)
        else:
            values, inverse = _distinct(found[wc])
            of = []
            for text in values:
                try:
                    of.append(changes.weight_of(text))
                except (ValueError, TypeError, KeyError, AttributeError):  # add_rows skips the row
                    of.append(None)
            if None in of:
                ok &= ~np.isin(inverse, [i for i, x in enumerate(of) if x is None])
                of = [1.0 if x is None else x for x in of]
            w = np.array(of, dtype=np.float64)[inverse] if k else np.zeros(0)
        if fk:
            a, a_ints, a_present = pks, None, np.ones(k, dtype=bool)
        else:
            a, a_ints, a_present = _ends(found[fc])
        b, b_ints, b_present = _ends(found[tc])
        if lc:
            values, inverse = _distinct(found[lc])
            values = [label if x is None else x for x in values]
            labels = _objects(values)[inverse] if k else _objects([])
        else:
            labels = _objects([label] * k)
        if a_ints is None and b_ints is not None:
            a_ints = np.full(k, imagetext.NOT_INT, dtype=np.int64)
        ends.append((a, a_ints, a_present, b, b_ints, b_present, w, labels))
    return ok, ends


def _emit(spec, within, rows, sign, ends, keep):
    """(row keys, within-row keys, EdgeColumns) of one edge source's edges of the
    rows ``keep`` selects (both ends present), forward at ``within``, and for a
    bidirectional source backward at ``within`` + 1."""
    sid, _, ft, tt, _, _, _, _, _, bi = spec
    a, a_ints, a_present, b, b_ints, b_present, w, labels = ends
    keep = keep & a_present & b_present
    these, signs = rows, sign
    if not keep.all():
        a, b, labels, w, these, signs = a[keep], b[keep], labels[keep], w[keep], rows[keep], sign[keep]
        if b_ints is not None:
            a_ints, b_ints = a_ints[keep], b_ints[keep]
    m = len(these)
    if not m:
        return []
    e = EdgeColumns(signs, np.full(m, sid, dtype=np.int64), np.full(m, ft, dtype=np.int64), a,
                    np.full(m, tt, dtype=np.int64), b, w, labels, a_ints, b_ints)
    parts = [(these, np.full(m, within, dtype=np.int64), e)]
    if bi:
        r = EdgeColumns(signs, e.sources, e.to_tables, b, e.from_tables, a, w, labels, b_ints, a_ints)
        parts.append((these, np.full(m, within + 1, dtype=np.int64), r))
    return parts


class _Parsed(NamedTuple):
    """A column's values read from parsed images (the texts of imagetext.Field)."""

    values: list


def _distinct(field):
    """imagetext.distinct() of a Field or a _Parsed column."""
    if isinstance(field, _Parsed):
        first = dict.fromkeys(field.values)
        at = {v: i for i, v in enumerate(first)}
        return list(first), np.fromiter(map(at.__getitem__, field.values), dtype=np.int64, count=len(field.values))
    return imagetext.distinct(field)


def _ends(field):
    """(texts object[k]: None where ints holds the key, or it is null; ints int64[k]
    or None; present bool[k]) of an end column."""
    if isinstance(field, _Parsed):
        return _objects(field.values), None, _present(field.values)
    ints = imagetext.ints(field)
    texts = np.empty(len(ints), dtype=object)
    other = np.flatnonzero((ints == imagetext.NOT_INT) & field.present)
    if len(other):
        texts[other] = imagetext.texts_at(field, other.tolist())
    return texts, ints, field.present


def _concat(parts):
    """One EdgeColumns of ``parts`` ((row keys, within-row keys, EdgeColumns)), in
    the order of their keys."""
    if not parts:
        return edge_columns([])
    row_keys = np.concatenate([p[0] for p in parts])
    within = np.concatenate([p[1] for p in parts])
    order = np.lexsort((within, row_keys))
    joined = []
    for c in zip(*(p[2] for p in parts), strict=True):
        if any(x is None for x in c):  # from_ints, to_ints: NOT_INT where a part has none (its texts hold them)
            if all(x is None for x in c):
                joined.append(None)
                continue
            c = [np.full(len(p[2]), imagetext.NOT_INT, dtype=np.int64) if x is None else x
                 for x, p in zip(c, parts, strict=True)]
        joined.append(np.concatenate(c))
    if not (order[1:] > order[:-1]).all():
        joined = [None if c is None else c[order] for c in joined]
    return EdgeColumns(*joined)
