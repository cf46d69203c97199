"""Nodes as callers name them: (table, id text) <-> node ids, and hydration.

A node's id text is its key in the form the capture log uses: the column's
text form for a one-column key, the record text form for a composite key, e.g.
``(1,abc)`` or ``("a,b",3)``. An id that does not match as given is normalised
through the key columns' types (``007`` finds integer key 7; a composite id may
carry spaces) before it is looked up again.

Keys are read from graph._nodes as the caller (row-level security applies);
hydration reads the source table as the caller, so its privileges and
row-level security apply too.
"""

import sys

from graphsync import errors
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import may_select, run
from graphsync.reads.view import GENERATION, same_generation
from graphsync.sync import base

# graph._nodes' row of one key (k.table_oid, k.pk: the outer query's), for a statement
# that looks keys up as the caller (%s: the columns it takes, n.node_id first). A
# subquery of each key, kept apart by OFFSET 0 (a plain LATERAL subquery is pulled up
# into a join): its table and key tests, leakproof, run before graph._nodes' policy
# (by the (table_oid, pk) index), so the policy asks the key's own table about the
# key's own node only. A join of graph._nodes to the keys, planned as a hash join
# (graph._node_rows analyzed with a few nodes, as autovacuum may leave it at any
# moment), read every node the caller could see, and the policy ran for each: it
# asked every table whose row-level security applies to the caller which rows it
# can see, tables the read never touches among them, running their owners' policy
# code (a read failed where that code writes in a read-only transaction, or raises).
BY_KEY = """SELECT %s FROM graph._nodes AS n
               WHERE n.table_oid = k.table_oid AND n.pk = k.pk OFFSET 0"""

# The node of each key, looked up by itself (BY_KEY): see there.
LOOKUP = """
SELECT coalesce(pg_catalog.array_agg(k.i), '{}') AS i, coalesce(pg_catalog.array_agg(n.node_id), '{}') AS ids, %s
FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS k (table_oid, pk, i)
CROSS JOIN LATERAL (%s) AS n
""" % (GENERATION, BY_KEY % "n.node_id")

KEYS = """
SELECT coalesce(array_agg(node_id), '{}') AS ids, coalesce(array_agg(table_oid), '{}') AS tables,
       coalesce(array_agg(pk), '{}') AS pks, coalesce(array_agg(tenant), '{}') AS tenants, %s
FROM graph._nodes WHERE node_id = ANY ($1)
""" % GENERATION

# Every key but those of the tables whose row-level security applies to the
# caller ($2: graph._nodes' policy would ask each of those tables which rows the
# caller can see, also tables the read never reaches; their keys are read by node
# id, KEYS, when a read asks for them). The test on table_oid is leakproof, so it
# runs before the policy.
ALL_KEYS = """
SELECT coalesce(array_agg(node_id), '{}') AS ids, coalesce(array_agg(table_oid), '{}') AS tables,
       coalesce(array_agg(pk), '{}') AS pks, %s
FROM graph._nodes WHERE node_id < $1 AND table_oid <> ALL ($2::oid[])
""" % GENERATION

# The same keys, table by table, as replay reads a table's keys (packed.NODE_KEYS):
# NUL-separated texts and big-endian int8 node ids, parsed into packed.key_index's
# arrays (key_index) with no Python string a key.
ALL_KEYS_PACKED = """
SELECT n.table_oid, pg_catalog.string_agg(pg_catalog.textsend(n.pk), '\\x00'::bytea) AS k,
       pg_catalog.string_agg(pg_catalog.int8send(n.node_id), ''::bytea) AS i, %s
FROM graph._nodes AS n WHERE n.node_id < $1 AND n.table_oid <> ALL ($2::oid[])
GROUP BY n.table_oid
""" % GENERATION

# The registered tables whose row-level security applies to the caller (as START
# tells a read: none for a graph_admin member, whom graph._nodes' policy shows every node).
SECURED = """
SELECT coalesce(pg_catalog.array_agg(n.table_oid), '{}') AS tables
FROM graph._node_tables AS n
WHERE NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')
  AND CASE WHEN %s
           THEN pg_catalog.row_security_active(n.table_oid) ELSE false END
""" % may_select("n.table_oid")

# Each key column: its name, its type as a cast target (the base type under every
# domain, so that no domain CHECK -- possibly its owner's function -- runs, with the
# modifier under them: graph._base_typmod), whether that type is built in
# (graph._builtin_type), and its text expression (graph._value_expr). Ids are
# parsed and compared in the key's type only when it is built in; a key of another
# type is compared by its text, since its casts and operators may be functions a
# table owner wrote, and reads run as their caller.
KEY_TYPES = """
SELECT a.attname::text AS name,
       pg_catalog.format_type(graph._base_type(a.atttypid), graph._base_typmod(a.atttypid, a.atttypmod)) AS type,
       graph._builtin_type(a.atttypid) AS builtin, graph._value_expr($1, a.attname, 't') AS text_expr
FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS c (name, o)
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = $1 AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.o
"""

# When a backend reads every key of the base at once (see key_arrays).
ALL_KEYS_AT_ONCE = 50_000
ALL_KEYS_SHARE = 16
# Keys a backend keeps in a dictionary before it keeps arrays of every base node (KeyCache).
FEW_KEYS = 4096

_sql = {}  # (table_oid, registry entry, its name now) -> hydrate SQL text (_hydrate_sql)
KEPT_STATEMENTS = 64  # at most (a table renamed again and again keeps one a name)


def parse_record(text):
    """The fields of a record's text form, e.g. '(1,"a,b",)' -> ['1', 'a,b', None]."""
    if len(text) < 2 or text[0] != "(" or text[-1] != ")":
        raise ValueError("a composite id must look like (v1,v2,...), not %r" % text)
    fields, cur, quoted, i, body = [], [], False, 0, text[1:-1]
    in_quotes = False
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 == len(body):  # it escapes the closing ')': the text ends inside the record
                raise ValueError("composite id %r ends in a backslash that escapes its ')'" % text)
            cur.append(body[i + 1])
            i += 2
            continue
        if in_quotes:
            if ch == '"' and i + 1 < len(body) and body[i + 1] == '"':
                cur.append('"')
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                cur.append(ch)
        elif ch == '"':
            in_quotes = quoted = True
        elif ch == ",":
            fields.append("".join(cur) if cur or quoted else None)
            cur, quoted = [], False
        elif ch == ")":  # PostgreSQL's record_in ends the record here: what follows is junk
            raise ValueError("junk after the ')' that ends composite id %r" % text)
        else:
            cur.append(ch)
        i += 1
    if in_quotes:
        raise ValueError("unterminated quoted field in composite id %r" % text)
    fields.append("".join(cur) if cur or quoted else None)
    return fields


def _key_types(plpy, node):
    return [(r["name"], r["type"] if r["builtin"] else None, r["text_expr"])
            for r in run(plpy, KEY_TYPES, ["oid", "text[]"], [node.table_oid, list(node.id_columns)])]


def _not_a_key(node, pk, detail=None):
    return errors.InvalidTextRepresentation("%r is not an id of %s" % (pk, node.table_name), detail=detail)


def _normalise(plpy, node, pk):
    """``pk`` in the canonical text form of ``node``'s key (22P02 when it is not a
    valid key: the key columns' types refuse it, or a composite id is malformed)."""
    types = _key_types(plpy, node)
    if len(types) == 1:
        if types[0][1] is None:
            return pk  # not a built-in type: the id is its text as given
        sql, args = "SELECT ($1::text)::%s::text AS k" % types[0][1], [pk]
    else:
        try:
            fields = parse_record(pk)
        except ValueError as exc:
            raise _not_a_key(node, pk, str(exc)) from None
        if len(fields) != len(types):
            raise _not_a_key(node, pk, "It has %d fields; the key (%s) has %d."
                             % (len(fields), ", ".join(name for name, _, _ in types), len(types)))
        sql = "SELECT ROW(%s)::text AS k" % ", ".join(
            "$%d::text::%s" % (i + 1, t) if t else "$%d::text" % (i + 1) for i, (_, t, _) in enumerate(types))
        args = fields
    try:
        with plpy.subtransaction():
            return run(plpy, sql, ["text"] * len(args), args)[0]["k"]
    except plpy.SPIError as exc:
        if not errors.is_data_exception(exc):
            raise
        raise _not_a_key(node, pk, errors.spi_message(exc)) from None


def lookup(plpy, v, pairs, found=None):
    """Node id of each (table_oid, id text) pair, None when there is no such node
    the caller can see (tables must be registered node tables). ``found``: the
    node ids of the pairs as given, when the caller looked them up already
    (reads.start); then only ids that did not match are looked up again."""
    if found is not None and None not in found:
        return list(found)  # every one found as given: nothing to look up or take from the view's own
    by_key = {k: i for i, k in v.extra_keys.items()} if v.extra_keys else {}

    def search(todo):
        r = run(plpy, LOOKUP, ["oid[]", "text[]"], [[pairs[i][0] for i in todo], [keys[i] for i in todo]])[0]
        same_generation(v.key[0], r)
        for i, node_id in zip(r["i"], r["ids"], strict=True):
            found[todo[i - 1]] = node_id

    def extra(todo):
        for i in todo:
            if found[i] is None and (pairs[i][0], keys[i]) in by_key:
                found[i] = by_key[(pairs[i][0], keys[i])]

    keys = [p[1] for p in pairs]
    if found is None:
        found = [None] * len(pairs)
        search(list(range(len(pairs))))
    else:
        found = list(found)
    extra(range(len(pairs)))
    missing = [i for i in range(len(pairs)) if found[i] is None]
    if missing:
        for i in missing:
            keys[i] = _normalise(plpy, v.registry.nodes[pairs[i][0]], pairs[i][1])
        again = [i for i in missing if keys[i] != pairs[i][1]]
        if again:
            search(again)
            extra(again)
    return found


class KeyCache:
    """Keys of base nodes seen so far in this backend: while few (up to FEW_KEYS), a
    dictionary ``few`` {node id: (table oid, id text)}; past that, arrays indexed
    by node id: ``tables`` (table oid, 0 when not cached) and ``pks`` (id text,
    None when not cached), so a read looks up thousands of keys with one NumPy
    indexing instead of a dictionary lookup each. (Arrays of every base node cost
    12 bytes a node, 24 MB at 2M nodes, in every backend: not for the few keys a
    backend that runs small reads returns.) A base node's key never changes within
    a generation, and the cache lives in base._cache, which a new generation
    clears. Keys come from graph._nodes as some caller (row-level security); a
    read hands out only the nodes of its own security mask (tables its caller
    may SELECT), so a key cached for one role never reaches a role that could
    not read it."""

    def __init__(self, key, base_count):
        self.key = key
        self.base_count = base_count
        self.few = {}  # node id -> (table oid, id text), until FEW_KEYS are held
        self.tables = None  # uint32[base_count], once more are
        self.pks = None  # object[base_count]
        self.count = 0  # keys cached
        self.fetched = 0  # keys asked for piecemeal (KEYS) so far
        self.resolved = 0  # keys folds looked up in graph._nodes (reads/freshness.py: RESOLVE) so far
        self.loaded_all = False  # ALL_KEYS was read (as the caller of that read)
        self.text_bytes = 0
        self.index = None  # key_index: {table oid: packed.key_index}, made on first use

    def add(self, ids, tables, pks):
        if not len(ids):
            return
        if self.tables is None and self.count + len(ids) <= FEW_KEYS:  # a dictionary: no NumPy
            added = 0
            for i, table, pk in zip(ids.tolist() if hasattr(ids, "tolist") else ids, tables, pks, strict=True):
                i = int(i)
                if i < self.base_count and i not in self.few:
                    self.few[i] = (int(table), pk)
                    self.text_bytes += sys.getsizeof(pk)
                    added += 1
            self.count += added
            return
        if self.tables is None:
            self.tables = np.zeros(self.base_count, dtype=np.uint32)
            self.pks = np.empty(self.base_count, dtype=object)
            if self.few:
                held = np.fromiter(self.few, dtype=np.int64, count=len(self.few))
                self.tables[held] = [k[0] for k in self.few.values()]
                self.pks[held] = [k[1] for k in self.few.values()]
                self.few = {}
        ids = np.asarray(ids, dtype=np.int64)
        new = ids < self.base_count
        new[new] = self.tables[ids[new]] == 0
        if not new.any():
            return
        fresh = ids[new]
        fresh_pks = np.asarray(pks, dtype=object)[new]
        self.tables[fresh] = np.asarray(tables, dtype=np.int64)[new]
        self.pks[fresh] = fresh_pks
        self.count += len(fresh)
        self.text_bytes += sum(map(sys.getsizeof, fresh_pks.tolist()))

    def take(self, ids):
        """(table oids int64[k], 0 when not cached; id texts object[k]) of node ids ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        tables = np.zeros(len(ids), dtype=np.int64)
        pks = np.empty(len(ids), dtype=object)
        if self.tables is not None:
            if len(ids) and ids.max() < self.base_count:  # all in the base
                return self.tables[ids].astype(np.int64), self.pks[ids]
            in_base = ids < self.base_count
            tables[in_base] = self.tables[ids[in_base]]
            pks[in_base] = self.pks[ids[in_base]]
        elif self.few:
            for j, i in enumerate(ids.tolist()):
                k = self.few.get(i)
                if k is not None:
                    tables[j], pks[j] = k
        return tables, pks

    def get(self, i):
        """(table oid, id text) of node id ``i``, None when not cached."""
        if self.tables is None:
            return self.few.get(i)
        if i < self.base_count and self.tables[i]:
            return int(self.tables[i]), self.pks[i]
        return None

    def items(self):
        """(node ids int64[], table oids int64[], id texts object[]) of every key held."""
        if self.tables is None:
            ids = np.fromiter(self.few, dtype=np.int64, count=len(self.few))
            return (ids, np.array([k[0] for k in self.few.values()], dtype=np.int64),
                    np.array([k[1] for k in self.few.values()] or [], dtype=object))
        held = np.flatnonzero(self.tables)
        return held, self.tables[held].astype(np.int64), self.pks[held]

    def held_nbytes(self):
        # the key strings and the dictionary of few keys; arrays()
        return self.text_bytes + (sys.getsizeof(self.few) if self.few else 0)

    def arrays(self):
        held = [a for a in (self.tables, self.pks) if a is not None]
        return held + [a for index in (self.index or {}).values() for a in index]

    def lent(self):
        """The index held now (key_index), as replay looks ends up in it (sync/base_keys.lend)."""
        return self.index


def _lend(plpy, cache):
    """Lend replay the key indexes ``cache`` holds: the apply a read runs in this
    backend finds the ends of edge changes there rather than by an index probe each
    (sync/base_keys.lend)."""
    from graphsync.sync import base_keys  # here: only a backend that builds an index needs it

    base_keys.lend(plpy, cache.key, cache)


def _key_cache(v):
    generation = v.key[0]
    cache = base._cache.get("keys")
    if cache is None or cache.key != generation:
        cache = base._cache["keys"] = KeyCache(generation, v.base_count)
    return cache


def key_arrays(plpy, v, ids):
    """(found bool[k], table oids int64[k], id texts object[k]) of node ids ``ids``:
    found is False for a node the caller cannot see (its table and id are then
    0 and None). A node of a table outside the caller's security mask must not
    be asked for.

    Keys missing from the cache are read from graph._nodes. A key read by node id
    costs an index probe and a heap fetch at random (about 10 µs); every key of
    the base read at once costs well under 1 µs a key. So a small base
    (ALL_KEYS_AT_ONCE nodes or fewer: tens of milliseconds) is read whole at the
    first miss; a larger one key by key until this backend has asked for one
    ALL_KEYS_SHARE-th of it (a read that misses that many at once included), and
    then whole, once: by then the keys read one by one have cost about what the
    whole read does, and every later read of the generation finds its keys here
    (what a recursive CTE would read from the heap, it takes from memory)."""
    ids = np.asarray(ids, dtype=np.int64)
    cache = _key_cache(v)
    tables, pks = cache.take(ids)
    missing = np.flatnonzero(tables == 0)
    if len(missing) and v.extra_keys:
        extra = v.extra_keys
        for j in missing.tolist():
            k = extra.get(int(ids[j]))
            if k is not None:
                tables[j], pks[j] = k
        missing = missing[tables[missing] == 0]
    if len(missing) and _load_all_due(plpy, v, cache, len(missing)):
        tables[missing], pks[missing] = cache.take(ids[missing])
        missing = missing[tables[missing] == 0]
    if len(missing):
        # Not cached: base nodes the caller could not read so far, and nodes past the base.
        asked = ids[missing]
        r = _ask(plpy, v, cache, asked.tolist())
        if r["ids"]:
            got = np.asarray(r["ids"], dtype=np.int64)
            order = np.argsort(got)
            at = np.searchsorted(got, asked, sorter=order)
            at[at == len(got)] = 0
            hit = got[order[at]] == asked
            rows = order[at[hit]]
            tables[missing[hit]] = np.asarray(r["tables"], dtype=np.int64)[rows]
            pks[missing[hit]] = np.asarray(r["pks"], dtype=object)[rows]
    return tables != 0, tables, pks


def _ask(plpy, v, cache, ids, counted=True):
    """KEYS' row for the node ids of the list ``ids`` (graph._nodes as the caller),
    the keys it found added to ``cache``; ``counted``: as keys asked for piecemeal
    (KeyCache.fetched, which decides when the base is read whole)."""
    r = run(plpy, KEYS, ["bigint[]"], [ids])[0]
    same_generation(v.key[0], r)
    if counted:
        cache.fetched += sum(1 for i in ids if i < cache.base_count)
    if r["ids"]:
        cache.add(r["ids"], r["tables"], r["pks"])
    return r


def _load_all_due(plpy, v, cache, missing):
    """Read every key of the base into ``cache`` when it is due (see key_arrays),
    ``missing`` keys not being held: whether it was read now."""
    if cache.loaded_all or cache.count >= cache.base_count or not (
            cache.base_count <= ALL_KEYS_AT_ONCE or cache.fetched + missing > cache.base_count // ALL_KEYS_SHARE):
        return False
    _load_all(plpy, v, cache)
    return True


def _load_all(plpy, v, cache):
    """Read every key of the base the caller can read into ``cache`` (once), but
    those of tables whose row-level security applies to the caller (ALL_KEYS)."""
    secured = run(plpy, SECURED)[0]["tables"]
    r = run(plpy, ALL_KEYS, ["bigint", "oid[]"], [cache.base_count, secured])[0]
    same_generation(v.key[0], r)
    cache.add(r["ids"], r["tables"], r["pks"])
    cache.loaded_all = True


def key_index(plpy, v, build=True):
    """{table oid: packed.key_index of its base nodes} -- (int64 keys sorted, node ids)
    of the keys that are the decimal text of an integer (at most 18 digits), (keys of
    at most packed.TEXT_WIDTH bytes sorted, node ids) of the others -- for every table
    of the base the caller can read but those whose row-level security applies to it
    (ALL_KEYS_PACKED): for a read that resolves many keys at once (folding many
    pending rows), built once per generation, 16 bytes a node of an integer key (72
    for another), read and parsed with no Python string a key (packed.find_keys and
    packed.resolve look keys up in it). It holds what some caller could read: look up
    only tables the caller may SELECT (graph._nodes shows a caller the nodes of those
    tables). ``build`` False: None unless this backend holds it already (a fold of a
    few keys looks them up in it then, rather than by a statement)."""
    cache = _key_cache(v)
    if cache.index is None:
        if not build:
            return None
        from graphsync.sync import packed  # here: only a fold of many rows needs it

        secured = run(plpy, SECURED)[0]["tables"]
        index = {}
        for r in run(plpy, ALL_KEYS_PACKED, ["bigint", "oid[]"], [cache.base_count, secured]):
            same_generation(v.key[0], r)
            index[int(r["table_oid"])] = packed.key_index(r["k"], r["i"])
        cache.index = index
        base.release_freed()  # the parse's temporaries: some 100 MiB at 2M nodes
        _lend(plpy, cache)
    return cache.index


def index_held():
    """Whether this backend holds the base's key index (key_index) of the latest
    generation it read, as a fold would find it (a graph rebuilt since: the fold
    builds it again, or asks graph._nodes)."""
    cache = base._cache.get("keys")
    return cache is not None and cache.index is not None


# The share of the base's keys a backend's folds ask graph._nodes for (index_due) before
# a fold builds the key index. At one sixteenth (ALL_KEYS_SHARE), 12,500 keys at 200k
# nodes, a reader under unthrottled writers asked RESOLVE for some 400 keys a read
# (4-11 ms of statement on the loaded machine, 25 us a key) for the first few seconds
# of each generation, and those folds were a third of the reads over 50 ms; at one
# 128th (the floor, the fold's own KEYS_BY_INDEX, rules at 200k) the goal's benchmark's
# p99 was 0.51x the sixteenth's at the median of six pairs (0.38-1.09x; alternating,
# load 4-7; benchmarks/READS_UNDER_WRITES.md). Such a reader builds the index within a
# second of writes anyway; a backend that folds a few rows now and then still asks
# graph._nodes. At every size: the index is packed arrays (key_index: 16 bytes an
# integer key, read with no Python string a key). When it was a dictionary of every
# key's string (some 165 bytes a key; 416-444 MiB of private memory a reader at 2M
# nodes / 10M edges against 94-100, a build of 3.8 s of CPU), it was built this early
# only up to 250,000 nodes.
INDEX_SHARE = 128


def index_due(v, asked, many):
    """Whether a fold that looks up ``asked`` keys builds the base's key index
    (key_index) rather than asking graph._nodes: when they are more than ``many``, or
    when the keys this backend's folds asked graph._nodes for in this generation
    (``resolved``), these with them, pass ``many`` and one INDEX_SHARE-th of the base.
    A reader under heavy writes folds some hundreds of rows a read, each key a probe
    of graph._nodes' index; past that its lookups cost more than building the index
    once, and every later fold of the generation finds its keys in memory."""
    cache = _key_cache(v)
    return asked > many or cache.resolved + asked > max(many, cache.base_count // INDEX_SHARE)


def note_resolved(v, count):
    """Count ``count`` keys a fold looked up in graph._nodes (index_due)."""
    _key_cache(v).resolved += count


def key_list(plpy, v, ids):
    """(table_oid, id text) of each node id of the list ``ids``, None for a node the
    caller cannot see: key_arrays for a few ids, one by one from the cache (no
    NumPy call per id list), asking key_arrays only for those it does not hold.
    A node of a table outside the caller's security mask must not be asked for."""
    cache = _key_cache(v)
    out = [None] * len(ids)
    missing = []
    if cache.tables is None:
        few = cache.few
        for j, i in enumerate(ids):
            k = few.get(i)
            if k is not None:
                out[j] = k
            else:
                missing.append(j)
    else:
        # an element through a memoryview: a Python int, no NumPy scalar made
        tables, pks, held = memoryview(cache.tables), cache.pks, cache.base_count
        for j, i in enumerate(ids):
            table = tables[i] if i < held else 0
            if table:
                out[j] = (table, pks[i])
            else:
                missing.append(j)
    if missing:
        got = _uncached_keys(plpy, v, cache, [ids[j] for j in missing])
        for j in missing:
            out[j] = got.get(ids[j])
    return out


def _uncached_keys(plpy, v, cache, ids):
    """{node id: (table oid, id text)} of the node ids of the list ``ids``, which
    ``cache`` does not hold, that the caller can see: key_arrays' steps (the view's
    own keys, every key of the base at once, else those asked), in Python lists
    (no NumPy: a few keys, the first read's)."""
    got, todo = {}, []
    for i in ids:
        k = v.extra_keys.get(i) if v.extra_keys else None
        if k is not None:
            got[i] = k
        else:
            todo.append(i)
    if todo and _load_all_due(plpy, v, cache, len(todo)):
        rest = []
        for i in todo:
            k = cache.get(i)
            if k is not None:
                got[i] = k
            else:
                rest.append(i)
        todo = rest
    if todo:
        r = _ask(plpy, v, cache, todo)
        if r["ids"]:
            got.update(zip(r["ids"], zip(r["tables"], r["pks"], strict=True), strict=True))
    return got


def visible_ids(plpy, v, ids, tenant=None):
    """The node ids of ``ids`` (int64[]) whose rows the caller can see now, asked of
    graph._nodes as the caller whatever this backend holds (its row-level security
    decides: reads.access.Unresolved); their keys are kept (KeyCache), so the read
    that asked returns them without asking again. ``tenant``: (the tenant a read is
    kept to, the tables whose nodes must be of it): those of other tenants are left
    out, but a node whose tenant a pending row the view folded set (View.node_values:
    decided by the mask already)."""
    r = _ask(plpy, v, _key_cache(v), ids.tolist(), counted=False)
    if tenant is None or not tenant[1]:
        return np.asarray(r["ids"], dtype=np.int64)
    keep, tables = tenant
    return np.asarray([i for i, t, value in zip(r["ids"], r["tables"], r["tenants"], strict=True)
                       if t not in tables or value == keep or i in v.node_values], dtype=np.int64)


def key_columns(v, ids):
    """(table oids, id texts), two lists, of the node ids of the list ``ids`` when
    this backend holds every key of them in its arrays (KeyCache, once it holds
    more than a few), else None (ask key_list): two NumPy indexings, no Python
    step per node. A node of a table outside the caller's security mask must not
    be asked for."""
    cache = _key_cache(v)
    if cache.tables is None or not ids or max(ids) >= cache.base_count:
        return None
    at = np.array(ids, dtype=np.intp)  # (indexing by the list itself converts it twice, more slowly)
    tables = cache.tables.take(at).tolist()
    if 0 in tables:
        return None
    return tables, cache.pks.take(at).tolist()


def keys(plpy, v, ids):
    """{node id: (table_oid, id text)} of ``ids`` the caller can see (a node of a
    table outside the caller's security mask must not be asked for)."""
    ids = [int(i) for i in ids]
    return {i: k for i, k in zip(ids, key_list(plpy, v, ids), strict=True) if k is not None}


def _hydrate_sql(plpy, node, table):
    """The statement reading ``node``'s rows by key, naming the table ``table``: the
    name graph._source_name gives it now (checked_source), part of the key the
    statement is kept under. An entry of the registry does not name the table: one
    kept after a rename the registry did not follow (follow_failed) read whatever
    held the old name then, a view whose function ran as a superuser who had
    hydrated before in that backend (tests/test_abuse_session44.py)."""
    key = (node.table_oid, node, table)
    sql = _sql.get(key)
    if sql is None:
        if len(_sql) >= KEPT_STATEMENTS:
            _sql.clear()
        types = _key_types(plpy, node)
        key_expr = run(plpy, "SELECT graph._key_expr($1, $2, 't') AS e", ["oid", "text[]"],
                       [node.table_oid, list(node.id_columns)])[0]["e"]
        obj = run(plpy, "SELECT graph._object_expr($1, $2, 't', false) AS e", ["oid", "text[]"],
                  [node.table_oid, list(dict.fromkeys(node.id_columns + node.property_columns))])[0]["e"]
        qi = plpy.quote_ident
        if len(types) == 1:
            name, type_name, text_expr = types[0]
            match = ("t.%s = ANY ($1::text[]::%s[])" % (qi(name), type_name) if type_name
                     else "%s = ANY ($1::text[])" % text_expr)
            sql = "SELECT %s AS pk, %s::text AS node FROM %s AS t WHERE %s" % (key_expr, obj, table, match)
        else:
            cols = ", ".join("c%d" % i for i in range(len(types)))
            args = ", ".join("pg_catalog.unnest($%d::text[])" % (i + 1) for i in range(len(types)))
            on = " AND ".join("t.%s = k.c%d::%s" % (qi(name), i, t) if t else "%s = k.c%d" % (expr, i)
                              for i, (name, t, expr) in enumerate(types))
            sql = ("SELECT %s AS pk, %s::text AS node FROM %s AS t JOIN ROWS FROM (%s) AS k (%s) ON %s"
                   % (key_expr, obj, table, args, cols, on))
        _sql[key] = sql
    return sql, len(node.id_columns)


# The first object of a role that is neither a superuser nor the caller that a row-level
# security policy of table $1 reaches when the policy filters a graph_admin member's SELECT
# of the table (row security active for it: no BYPASSRLS, not the owner; for SELECT or
# ALL; to PUBLIC or a role of the caller's): a function it calls (directly or as an
# operator's), another relation it reads (whose own policies, a view's functions and the
# planner's folding of its indexes would run as the caller too, unchecked and unlocked
# here), or a domain it casts to (whose CHECK runs). Its rows: the policy, what it does
# with the object, the object, the object's owner.
POLICY_CODE = """
WITH RECURSIVE y AS (
    SELECT y.oid, pg_catalog.format('policy %I of %s', y.polname, y.polrelid::pg_catalog.regclass) AS what,
           y.polqual
    FROM pg_catalog.pg_policy AS y
    WHERE y.polrelid OPERATOR(pg_catalog.=) $1 AND y.polcmd IN ('r', '*')
      AND pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')
      AND pg_catalog.row_security_active($1)
      AND EXISTS (SELECT FROM pg_catalog.unnest(y.polroles) AS g (role)
                  WHERE g.role OPERATOR(pg_catalog.=) 0 OR pg_catalog.pg_has_role(current_user, g.role, 'MEMBER'))
),
dep AS (
    SELECT y.what, d.refclassid, d.refobjid
    FROM y JOIN pg_catalog.pg_depend AS d
        ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
       AND d.objid OPERATOR(pg_catalog.=) y.oid
),
fn AS (
    SELECT dep.what, dep.refobjid AS fn
    FROM dep WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION ALL
    SELECT dep.what, f.fn
    FROM dep JOIN pg_catalog.pg_operator AS op ON op.oid OPERATOR(pg_catalog.=) dep.refobjid
    CROSS JOIN LATERAL (VALUES (op.oprcode::pg_catalog.oid), (op.oprrest::pg_catalog.oid),
                               (op.oprjoin::pg_catalog.oid)) AS f (fn)
    WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
      AND f.fn OPERATOR(pg_catalog.<>) 0
    UNION ALL
    -- pg_depend records no PostgreSQL function (they are pinned): those it calls, from its expression
    SELECT y.what, m.m[1]::pg_catalog.oid
    FROM y CROSS JOIN LATERAL pg_catalog.regexp_matches(y.polqual::text, ':funcid ([0-9]+)', 'g') AS m (m)
),
typ (what, oid) AS (  -- the types it names, and the types their values hold
    SELECT dep.what, dep.refobjid
    FROM dep WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
    UNION
    SELECT typ.what, h.oid
    FROM typ JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) typ.oid
    CROSS JOIN LATERAL (
        SELECT t.typelem UNION ALL SELECT t.typbasetype
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute AS a
                  WHERE a.attrelid OPERATOR(pg_catalog.=) t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL SELECT g.rngsubtype FROM pg_catalog.pg_range AS g WHERE g.rngtypid OPERATOR(pg_catalog.=) t.oid
        UNION ALL SELECT g.rngtypid FROM pg_catalog.pg_range AS g WHERE g.rngmultitypid OPERATOR(pg_catalog.=) t.oid
    ) AS h (oid)
    WHERE h.oid OPERATOR(pg_catalog.<>) 0
),
reached AS (
    SELECT fn.what, 'calls function' AS verb, p.oid::pg_catalog.regprocedure::text AS obj, p.proowner AS owner,
           false AS always
    FROM fn JOIN pg_catalog.pg_proc AS p ON p.oid OPERATOR(pg_catalog.=) fn.fn
    UNION ALL
    -- PostgreSQL's own functions that run SQL given as a value, read a relation or
    -- schema named by one, or set a setting (search_path: the statements graphsync
    -- makes after the read would name the owner's operators): known only when they run;
    -- and the one that sends what it is given to whoever listens (the owner, a setting
    -- or file the policy read with the reader's rights in the payload).
    SELECT fn.what, b.verb, p.oid::pg_catalog.regprocedure::text, p.proowner, true
    FROM fn JOIN pg_catalog.pg_proc AS p ON p.oid OPERATOR(pg_catalog.=) fn.fn
    JOIN (SELECT s.src, 'calls, to run SQL, read relations or set settings it is given at run time, function'
          FROM pg_catalog.unnest(ARRAY[
              'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml',
              'cursor_to_xmlschema', 'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
              'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema', 'database_to_xml',
              'database_to_xmlschema', 'database_to_xml_and_xmlschema', 'ts_stat1', 'ts_stat2',
              'tsquery_rewrite_query', 'set_config_by_name']) AS s (src)
          UNION ALL
          VALUES ('pg_notify', 'calls, to send the reader''s values to other sessions, function')) AS b (src, verb)
        ON b.src OPERATOR(pg_catalog.=) p.prosrc
    WHERE p.prolang OPERATOR(pg_catalog.=) 12
    UNION ALL
    SELECT dep.what, 'reads relation', c.oid::pg_catalog.regclass::text, c.relowner, false
    FROM dep JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) dep.refobjid
    WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
      AND c.oid OPERATOR(pg_catalog.<>) $1
    UNION ALL
    -- a domain it casts to, or one an array, composite or range it makes holds
    -- (the input function of the type checks the domain's CHECK)
    SELECT typ.what, 'casts to domain', t.oid::pg_catalog.regtype::text, t.typowner, false
    FROM typ JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) typ.oid
    WHERE t.typtype = 'd'
)
SELECT c.what, c.verb, c.obj, r.rolname::text AS owner
FROM reached AS c
JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) c.owner
WHERE c.always OR (NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) current_user)
LIMIT 1
"""


# graph._source_name($1) and, in the same statement, POLICY_CODE's function if any.
CHECKED_SOURCE = """
SELECT graph._source_name($1) AS t, p.what, p.verb, p.obj, p.owner
FROM (VALUES (1)) AS one (x) LEFT JOIN (%s) AS p ON true
""" % POLICY_CODE


def checked_source(plpy, table_oid):
    """graph._source_name(``table_oid``), the name a read of the source rows as the
    caller reads the table by; and 42501 when the caller, a graph_admin member, would
    run another role's code through a row-level security policy of it (POLICY_CODE:
    a function it calls, a relation it reads, a domain it casts to): the policy runs
    as the reader, so the owner's code would run with graph_admin's rights, as
    graph._source_name refuses for code the planner runs. Build, verify and
    maintenance read unfiltered (sync/sources.unfiltered) and run no policy."""
    r = run(plpy, CHECKED_SOURCE, ["oid"], [table_oid])[0]
    if r["what"] is not None:
        raise errors.InsufficientPrivilege(
            "graphsync will not read %s as a graph_admin member: %s %s %s of role %s, and row-level"
            " security runs a policy, with all it reaches, as whoever reads the table"
            % (r["t"], r["what"], r["verb"], r["obj"], r["owner"]),
            hint="Drop the policy or make it reach only what a superuser or you own (or have a superuser who"
                 " checked that object take it over: ALTER ... OWNER TO); reads that do not read the source"
                 " rows (no hydrate, search or label_property) see every node without it.")
    return r["t"]


def hydrate(plpy, node, pks):
    """{id text: node json text} of the rows of ``node``'s table with those keys that
    the caller can read (its privileges and row-level security apply)."""
    # Asked at every call, not only when the statement was made: a kept plan is made
    # again after the table gains an index, as whoever reads then (graph._source_name).
    # And whether a policy of the table would run another role's code as an admin.
    # The statement names the table by the name this returns (_hydrate_sql).
    sql, width = _hydrate_sql(plpy, node, checked_source(plpy, node.table_oid))
    pks = list(pks)
    if width == 1:
        rows = run(plpy, sql, ["text[]"], [pks])
    else:
        columns = list(zip(*(parse_record(pk) for pk in pks), strict=True))
        rows = run(plpy, sql, ["text[]"] * width, [list(c) for c in columns])
    return {r["pk"]: r["node"] for r in rows}
