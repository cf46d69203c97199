"""Edge sources with integer endpoints, read as packed int8 and resolved with NumPy.

build() reads an edge source whose endpoints are plain columns of a built-in integer
type (smallint, integer, bigint), each the type of its target node table's one key
column, without rendering a key text per row: the source read's statement
(sources.read) aggregates the endpoints as int8 and the weights as float8 into a few
bytea values, in the same snapshot as every other source, and build maps them to node
ids by binary search over each target table's (key, node id) pairs, read once from
graph._nodes (NODE_KEYS), instead of two hash joins of text keys per edge. What a
captured row and graph._nodes hold for such a key is its decimal text (graph._as_key_expr
renders a key of the same type as the plain value), so an integer equals a key exactly
when its decimal text does; an endpoint no node has becomes a ghost under that text, as
on the text path. Every other edge source (text, uuid, numeric, composite keys, JSON
references, label columns, endpoints of another type than their key) keeps the text
path of sources.py. Only pg_catalog functions of built-in types run on the values.
"""

from graphsync import db
from graphsync.algorithms import csr
from graphsync.algorithms.lazy_numpy import np
from graphsync.sync import sources

INTEGERS = ("int2", "int4", "int8")

# The type of a column, when it is a built-in integer type itself (not a domain).
COLUMN_TYPE = """
SELECT t.typname::text AS t
FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  AND t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype = 'b'
"""

# A node table's keys (texts, NUL-separated: no text holds one) and their node ids
# (int8, big-endian), in the same order; of the nodes numbered below $2 (replay's
# base_keys: the base's), every node (build) below INT8's top.
NODE_KEYS = """
SELECT pg_catalog.string_agg(pg_catalog.textsend(n.pk), '\\x00'::bytea) AS k,
       pg_catalog.string_agg(pg_catalog.int8send(n.node_id), ''::bytea) AS i
FROM graph._node_rows AS n WHERE n.table_oid = $1 AND n.node_id < $2
"""
INT8 = (-2 ** 63, 2 ** 63 - 1)
DENSE = 4
FEW_PER_TABLE = 32
BLOCK = 65536  # key texts parsed at a time (arrays of BLOCK x 20)
# key_index's keys parsed at a time: its gathers make int64 arrays of INDEX_BLOCK x 20
# (x 64 for text keys), which at BLOCK (10-34 MB each) the allocator kept after they
# were freed: a reader's backend kept 28 MiB more for the 3 MiB index of 200k integer
# keys, 12 MiB at this size, whose parse is no slower (issue 9)
INDEX_BLOCK = 8192
TEXT_WIDTH = 64  # key_index holds keys of other texts up to this many bytes (a uuid's: 36)


def _type(plpy, oid, col):
    rows = db.run(plpy, COLUMN_TYPE, ["oid", "text"], [oid, col])  # a kept plan: a few per edge source
    return rows[0]["t"] if rows else None


def _int_end(plpy, reg, table_oid, oid, col):
    """Whether column ``col`` of table ``oid``, an endpoint into node table
    ``table_oid``, is an integer of that table's one key column's type."""
    node = reg.nodes.get(table_oid)
    if node is None or len(node.id_columns) != 1:
        return False
    kind = _type(plpy, oid, col)
    return kind in INTEGERS and kind == _type(plpy, table_oid, node.id_columns[0])


def eligible(plpy, reg, e):
    """Whether edge source ``e`` is read as packed integers: plain endpoint columns of
    its targets' integer key types, one label (no label column)."""
    if e.label is None or e.label_column or e.from_columns is not None or e.to_columns is not None:
        return False
    if e.kind == "fk":
        node = reg.nodes.get(e.from_table)
        return (node is not None and len(node.id_columns) == 1
                and _int_end(plpy, reg, e.from_table, e.from_table, node.id_columns[0])
                and _int_end(plpy, reg, e.to_table, e.from_table, e.from_column))
    return (e.kind == "join" and _int_end(plpy, reg, e.from_table, e.via_table, e.from_column)
            and _int_end(plpy, reg, e.to_table, e.via_table, e.to_column))


# At most this many edge sources are read packed, those of the largest tables: each is a
# CTE of the read's statement and three columns of its row, and a registry of hundreds of
# sources would make the statement too wide (1,664 columns at most) and slow to plan.
PACKED_SOURCES = 16


def chosen(plpy, reg):
    """The edge sources build reads packed: eligible ones, PACKED_SOURCES at most,
    those of the largest carrier tables first (registry order among equals)."""
    candidates = [e for e in reg.edges if eligible(plpy, reg, e)]
    if len(candidates) <= PACKED_SOURCES:
        return candidates
    pages = {int(r["oid"]): int(r["pages"] or 0)
             for r in db.run(plpy, sources.SIZES, ["oid[]"], [sorted({e.carrier for e in candidates})])}
    return sorted(candidates, key=lambda e: -pages.get(e.carrier, 0))[:PACKED_SOURCES]


def select(plpy, reg, e, safe=False):
    """The SELECT of one row (s, d, w: bytea, NULL without rows) reading ``e``'s edges
    in the from -> to direction: the endpoints as int8, the weights as float8 (w NULL
    without a weight column: every weight 1), packed big-endian in the same row order.
    ``safe``: a row the row filter raises on fails it (sources.passes)."""
    qi = plpy.quote_ident
    oid = e.carrier
    if e.kind == "fk":
        ends = (reg.nodes[e.from_table].id_columns[0], e.from_column)
    else:
        ends = (e.from_column, e.to_column)
    where = ["pg_catalog.num_nulls(t.%s) = 0" % qi(c) for c in ends]
    where.append(sources._filter(plpy, oid, e.row_filter, "t", safe))
    agg = "pg_catalog.string_agg(pg_catalog.%s(%s), ''::bytea)"
    columns = [agg % ("int8send", "(t.%s)::pg_catalog.int8" % qi(c)) for c in ends]
    columns.append(agg % ("float8send", sources.weight_expr(plpy, oid, e.weight_column, "t"))
                   if e.weight_column else "NULL::bytea")
    return "SELECT %s FROM %s AS t WHERE %s" % (
        ", ".join("%s AS %s" % (c, n) for c, n in zip(columns, "sdw", strict=True)),
        sources._table(plpy, oid), " AND ".join(where))


def node_keys(plpy, table_oid):
    """(sorted int8 keys, their node ids) of node table ``table_oid`` (NODE_KEYS)."""
    return parse_keys(*node_key_texts(plpy, table_oid))


def node_key_texts(plpy, table_oid, below=INT8[1]):
    """NODE_KEYS' (key texts, node ids) of node table ``table_oid``'s nodes numbered
    below ``below``."""
    row = db.run(plpy, NODE_KEYS, ["oid", "bigint"], [table_oid, below])[0]
    return row["k"], row["i"]


def parse_keys(texts, ids):
    """(keys, ids) sorted by key, native int64: the keys of NUL-separated key texts
    ``texts`` that are the decimal text of an int8 exactly as integer output writes
    it ('-' for a negative number, no other sign, no leading zero, no space), with
    their node ids from the big-endian int8 ``ids``, in the same order. Other texts
    can equal no integer's text and are left out."""
    ids = np.frombuffer(ids or b"", dtype=">i8").astype(np.int64)
    split = texts.split(b"\0") if texts is not None else []
    keys, ok, lengths = _parse_blocks(split)
    low, high = INT8
    # 19 and 20 characters (the longest int8 text, -9223372036854775808): beyond 10**18, one by
    # one. No longer text: it is no int8's, and int() refuses a text of more than 4,300
    # digits (a writer's 5,000-digit reference, kept as a ghost key, failed every build).
    for i in np.flatnonzero((lengths >= 19) & (lengths <= 20)).tolist():
        t = split[i]
        if t.isdigit() or t[:1] == b"-" and t[1:].isdigit():  # int() also takes "+1", " 1", "1_0"
            v = int(t)
            if str(v).encode() == t and low <= v <= high:
                keys[i], ok[i] = v, True
    keys, ids = keys[ok], ids[ok]
    order = np.argsort(keys, kind="stable")
    return keys[order], ids[order]


def parse_ints(texts):
    """(int64 values, ok) of key texts ``texts`` (a list of bytes): ok where a text
    is the decimal text of an integer of up to 18 digits as integer output writes it
    (parse_keys's rule; a longer text is not ok here). Fewer than FEW texts one by
    one (_parse_few), more in NumPy."""
    if len(texts) < FEW:
        return _parse_few(texts)
    values, ok, _ = _parse_blocks(texts)
    return values, ok


# Below this many texts parse_ints reads them one by one: _parse's thirty-odd NumPy
# operations cost some 110-170 us whatever the number of texts (1 to 128 alike),
# Python's test and int() 1-2 us a text (the fold of the few rows a read under
# writes folds parsed its ends this way; issue 9).
FEW = 128


def _parse_few(texts):
    """parse_ints of ``texts``, one by one."""
    values = np.zeros(len(texts), dtype=np.int64)
    ok = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        value = int_of(t)
        if value is not None:
            values[i], ok[i] = value, True
    return values, ok


def int_of(text):
    """The integer key text ``text`` (bytes) is the decimal text of, as integer output
    writes it, of at most 18 digits (parse_ints' rule); None when it is not one."""
    digits = text[1:] if text[:1] == b"-" else text
    # bytes.isdigit: ASCII digits only; no leading zero, but "0" itself (not "-0")
    if 0 < len(digits) <= 18 and digits.isdigit() and (digits[:1] != b"0" or digits == text == b"0"):
        return int(text)
    return None


def _parse_blocks(texts):
    """_parse's (values, ok) of ``texts`` (a list of bytes), BLOCK at a time, and
    their lengths."""
    values = np.zeros(len(texts), dtype=np.int64)
    ok = np.zeros(len(texts), dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    for at in range(0, len(texts), BLOCK):
        values[at:at + BLOCK], ok[at:at + BLOCK] = _parse(texts[at:at + BLOCK], lengths[at:at + BLOCK])
    return values, ok, lengths


def _parse(texts, lengths):
    """(values, ok) of key texts ``texts`` (bytes, of ``lengths``): ok where a text is
    the decimal text of an integer of up to 18 digits as integer output writes it."""
    return _parse_strings(np.array(texts, dtype="S%d" % INT_WIDTH), lengths)


INT_WIDTH = 20  # a longer text is not the text of such an integer, whatever its first 20 bytes


def _parse_strings(strings, lengths):
    """_parse of ``strings`` (an S20 array: each text cut at 20 bytes) of ``lengths``."""
    chars = strings.view(np.uint8).reshape(len(strings), INT_WIDTH)
    negative = chars[:, 0] == ord("-")
    body = np.arange(INT_WIDTH) < lengths[:, None]
    body[:, 0] &= ~negative
    digits = body.sum(axis=1)
    first = np.where(negative, chars[:, 1], chars[:, 0])
    ok = (lengths <= 19) & (digits >= 1) & (digits <= 18)
    ok &= (((chars - np.uint8(ord("0"))) < 10) & body).sum(axis=1) == digits
    ok &= (first != ord("0")) | (digits == 1) & ~negative
    # the digits read left to right (at most 18: no int64 overflow), as arithmetic
    values = np.zeros(len(strings), dtype=np.int64)
    for j in range(min(int(lengths.max(initial=0)), INT_WIDTH - 1)):
        values = np.where(body[:, j], values * 10 + (chars[:, j].astype(np.int64) - ord("0")), values)
    values = np.where(ok, np.where(negative, -values, values), 0)
    return values, ok


def _spans(texts):
    """(the bytes as uint8, the start and the length of each text) of NUL-separated
    texts ``texts`` (bytes): where each is, with no bytes object made for it."""
    buf = np.frombuffer(texts, dtype=np.uint8)
    ends = np.append(np.flatnonzero(buf == 0), len(buf))
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1] + 1])
    return buf, starts, ends - starts


def _gather(buf, starts, lengths, width):
    """An S``width`` array of the texts of ``buf`` at ``starts`` of ``lengths`` (cut at
    ``width`` bytes), as np.array(list of bytes, dtype=S``width``) would hold them."""
    if not len(buf):
        return np.zeros(len(starts), dtype="S%d" % width)
    inside = np.arange(width) < lengths[:, None]
    at = np.minimum(starts[:, None] + np.arange(width), len(buf) - 1)
    chars = np.where(inside, buf[at], np.uint8(0)).astype(np.uint8)
    return np.ascontiguousarray(chars).view("S%d" % width).reshape(len(starts))


def key_index(texts, ids):
    """(int keys, their ids, text keys, their ids) of the NUL-separated key texts
    ``texts`` (bytes, None: none) with their node ids ``ids`` (big-endian int8
    bytes, in the same order), for find_keys: the keys that are the text of an
    integer of at most 18 digits as int64 (parse_ints), sorted; every other key of
    at most TEXT_WIDTH bytes as a bytes array, sorted (longer ones are left out).
    Read from the bytes INDEX_BLOCK keys at a time, with no bytes object a key (2M keys:
    0.75 s of CPU in all, where splitting them into a list first took 1.5 s)."""
    node_ids = np.frombuffer(ids or b"", dtype=">i8").astype(np.int64)
    if texts is None:
        buf, starts, lengths = np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    else:
        buf, starts, lengths = _spans(texts)
    values = np.zeros(len(starts), dtype=np.int64)
    ok = np.zeros(len(starts), dtype=bool)
    for at in range(0, len(starts), INDEX_BLOCK):
        part = slice(at, at + INDEX_BLOCK)
        values[part], ok[part] = _parse_strings(_gather(buf, starts[part], lengths[part], INT_WIDTH), lengths[part])
    order = np.argsort(values[ok], kind="stable")
    int_keys, int_ids = values[ok][order], node_ids[ok][order]
    other = np.flatnonzero(~ok & (lengths <= TEXT_WIDTH))
    text_keys = np.zeros(len(other), dtype="S%d" % TEXT_WIDTH)
    for at in range(0, len(other), INDEX_BLOCK):
        part = other[at:at + INDEX_BLOCK]
        text_keys[at:at + INDEX_BLOCK] = _gather(buf, starts[part], lengths[part], TEXT_WIDTH)
    order = np.argsort(text_keys, kind="stable")
    return int_keys, int_ids, text_keys[order], node_ids[other][order]


def find_int(index, value):
    """find_keys of one integer key ``value`` (an int, as parse_ints reads its text):
    its node id among ``index``'s integer keys, -1 where none."""
    int_keys, int_ids = index[0], index[1]
    at = int(int_keys.searchsorted(value))
    return int(int_ids[at]) if at < len(int_keys) and int_keys[at] == value else -1


def find_key(index, text):
    """find_keys of one key text ``text`` (bytes), with no NumPy pass of many."""
    value = int_of(text)
    if value is not None:
        return find_int(index, value)
    text_keys, text_ids = index[2], index[3]
    if len(text) > TEXT_WIDTH or not len(text_keys):
        return -1
    at = int(text_keys.searchsorted(text))
    return int(text_ids[at]) if at < len(text_keys) and text_keys[at] == text else -1


def find_keys(index, texts):
    """int64 node ids of the key texts ``texts`` (a list of bytes) in ``index``
    (key_index), -1 where it holds none: integers' texts among its integer keys
    (resolve), the others among its text keys (equal bytes), a text longer than
    TEXT_WIDTH nowhere."""
    int_keys, int_ids, text_keys, text_ids = index
    values, ok = parse_ints(texts)
    got = np.full(len(texts), -1, dtype=np.int64)
    if len(int_keys) and ok.any():
        got[ok] = resolve(values[ok], int_keys, int_ids)
    if len(text_keys):
        rest = [i for i in np.flatnonzero(~ok).tolist() if len(texts[i]) <= TEXT_WIDTH]
        if rest:
            asked = np.array([texts[i] for i in rest], dtype=text_keys.dtype)
            at = np.searchsorted(text_keys, asked)
            at[at == len(text_keys)] = 0
            got[rest] = np.where(text_keys[at] == asked, text_ids[at], -1)
    return got


def resolve(values, keys, ids):
    """The node ids of integer endpoints ``values`` among sorted ``keys`` with node
    ``ids``; -1 where no key equals the value (a ghost). Keys spanning a range of
    at most DENSE times their number (serial keys) are looked up in a table indexed
    by the key, others by binary search -- and so are a few values (fewer than one
    per FEW_PER_TABLE of the range): the table is made for each call, O(range),
    where a read folding a hundred rows asks a few hundred ends among 200k keys
    (0.3-0.5 ms a fold for the table, some microseconds by binary search)."""
    values = np.asarray(values, dtype=np.int64)
    if not len(keys):
        return np.full(len(values), -1, dtype=np.int64)
    low, high = int(keys[0]), int(keys[-1])
    if high - low < DENSE * len(keys) + 1024 and len(values) * FEW_PER_TABLE > high - low:
        table = np.full(high - low + 1, -1, dtype=np.int64)
        table[keys - low] = ids
        inside = (values >= low) & (values <= high)
        return np.where(inside, table[np.where(inside, values - low, 0)], -1)
    at = np.searchsorted(keys, values)
    at[at == len(keys)] = 0
    return np.where(keys[at] == values, ids[at], -1)


def ints(packed):
    """Native int64 values of big-endian packed int8 bytes (None: none)."""
    return np.frombuffer(packed or b"", dtype=">i8").astype(np.int64)


def floats(packed, n):
    """Native float64 weights of packed float8 bytes; ``n`` ones when None."""
    if packed is None:
        return np.ones(n, dtype=np.float64)
    return np.frombuffer(packed, dtype=">f8").astype(np.float64)


def edges(src, dst, weights, src_keys, dst_keys, ends, source_id, label_id, bidirectional):
    """(csr.Edges, missing) of one packed edge source: integer endpoints ``src`` and
    ``dst`` (int64), ``weights`` (float64), resolved among (keys, ids) ``src_keys`` and
    ``dst_keys`` of the target tables ``ends`` (src table oid, dst table oid); each edge
    labelled ``label_id`` and of edge source ``source_id``, and, ``bidirectional``, each
    also from dst to src after all of them. ``missing``: [(index, end, (table_oid, key
    text))] of the ends no node has, left -1 (end 0 src, 1 dst), as build.edge_arrays."""
    a, b = resolve(src, *src_keys), resolve(dst, *dst_keys)
    values, tables = [src, dst], list(ends)
    if bidirectional:
        a, b = np.concatenate([a, b]), np.concatenate([b, a])
        values = [np.concatenate([src, dst]), np.concatenate([dst, src])]
        tables = [tables, tables[::-1]]
        weights = np.concatenate([weights, weights])
    n = len(a)
    missing = []
    for end, ids in enumerate((a, b)):
        for i in np.flatnonzero(ids == -1).tolist():
            table = tables[end] if not bidirectional else tables[i >= len(src)][end]
            missing.append((i, end, (int(table), str(int(values[end][i])))))
    missing.sort()
    return csr.Edges(a, b, np.ascontiguousarray(weights, dtype=np.float64), np.full(n, label_id, dtype=np.int32),
                     np.full(n, source_id, dtype=np.int32)), missing


def concat(parts):
    """(csr.Edges, missing) of edge lists ``parts`` [(Edges, missing)] one after
    another, the indices of ``missing`` moved with their edges."""
    at, missing = 0, []
    for e, m in parts:
        missing.extend((at + i, end, key) for i, end, key in m)
        at += len(e.src)
    if len(parts) == 1:
        return parts[0][0], missing
    return csr.Edges(*(np.concatenate(arrays) for arrays in zip(*(e for e, _ in parts), strict=True))), missing
