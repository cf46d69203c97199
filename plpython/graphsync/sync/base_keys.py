"""The node ids of the base's keys, held by a backend that replays, so that replay
finds the nodes of edge ends in NumPy (packed.find_keys: integers' texts as int64,
other keys up to 64 bytes -- uuids, texts, composite keys' record texts -- as bytes)
instead of with an index probe of graph._node_rows each (sync/apply.py, NODES).

An end that only an edge change of a batch names (no row of its own table changed
in the batch) needs only its node's id: NODES finds it and writes nothing. Each
costs NODES an index probe, some 5 us: an apply of 2,000 join-row updates on the
200k-node graph names some 6,000 such ends, half of its time. A table's keys are
read at once (packed.node_key_texts, as build reads them) in under 0.5 us a key, and
held as 16 bytes a node (72 for a key that is not an integer's text; counted in
status().cache_bytes). So a backend reads a table's keys when it has sent NODES a
tenth as many of the table's ends as the base has nodes (LOAD_SHARE: by then the
probes cost about what the read does), and for the rest of the generation
resolves that table's ends here; the ends it does not find (keys longer than 64
bytes, nodes made since the build, keys with no node) still go to NODES. A read
that fails leaves the table to NODES for the generation (_load).

Only nodes of the base are held (node id below the base's node count): a build
wrote those rows, committed, and within the generation a node row never changes its
key or its id (only a build deletes node rows or numbers nodes, sync/build.py), so
no rollback can take an id held here back, nor give it to another key. Nodes replay
made since may be this transaction's, and may roll back. What is held is kept
under the generation and graph._node_rows's oid (a reinstall numbers generations
from the start again), and neither read nor used in a transaction that wrote a base
(base.own_writes): its generation may roll back, and the next build number another
base the same. The caller holds graph._sync_state (FOR UPDATE), as every build
does, so the generation cannot change while a batch is applied.

The apply a read runs (graph._apply_for_read) reads no table's keys: every reading
backend would hold them. It finds ends in the index of the base's keys its backend
built for folding pending rows into reads (reads/nodes.py, key_index: the same
packed.key_index arrays, table by table), which a reader lends here (lend) -- the
same (table, key) -> node id of the same base, read from graph._nodes as the reader
(the keys of tables it may not read, or whose row-level security applies to it, are
missing: NODES looks those up). An admin's apply finds there too the ends of a table whose keys
it has not read. Lent only by a transaction that wrote no base, for the
generation of the base the reader read, and looked at only for that generation.
"""

import weakref

from graphsync import db, errors
from graphsync.sync import base, packed

LOAD_SHARE = 10
# Fewer ends than this in a batch are left to NODES: the stamp's statement costs a
# few probes.
FEW_ENDS = 64

STAMP = """
SELECT s.generation, c.node_count, 'graph._node_rows'::pg_catalog.regclass::pg_catalog.oid AS rel
FROM graph._sync_state AS s
LEFT JOIN graph._csr AS c ON c.generation = s.generation AND c.direction = 'out'
"""

# Ends resolved here (by lent indexes too: "lent"), tables' keys read, in this
# backend (read by the tests).
STATS = {"resolved": 0, "loads": 0, "lent": 0}


class Held:
    """The integer keys of some tables of a base, and the ends sent to NODES of the
    tables not read yet."""

    def __init__(self, stamp, base_count):
        self.stamp, self.base_count = stamp, base_count
        self.tables = {}  # table oid -> packed.key_index of its base nodes
        self.probed = {}  # table oid -> ends of the table sent to NODES

    def arrays(self):
        """The NumPy arrays held (base.cache_nbytes)."""
        return [a for index in self.tables.values() for a in index]


def held(plpy):
    """The Held of the generation the caller's transaction sees, None when that
    transaction wrote a base (or none was ever built)."""
    own = base.own_writes(plpy)
    if own is not None and own["rebuilt"]:
        return None
    row = db.run(plpy, STAMP)[0]
    if row["node_count"] is None:
        return None
    stamp = (row["generation"], row["rel"])
    got = base._beside.get("replay_keys")
    if got is None or got.stamp != stamp:
        got = base._beside["replay_keys"] = Held(stamp, row["node_count"])
    return got


def lend(plpy, generation, holder):
    """Lend the apply (find) the index of the base's keys of ``generation`` that
    ``holder`` keeps: its ``lent()`` returns {table oid: packed.key_index} or None,
    keys of base nodes only. Held by a weak reference: what the holder drops (a new
    generation) is not kept here. Not when the caller's transaction wrote a base: that base may
    roll back, and the next build number another the same."""
    own = base.own_writes(plpy)
    if own is None or not own["rebuilt"]:
        base._beside["lent_keys"] = (generation, weakref.ref(holder))


def lent_any():
    """Whether a reader of this backend lent replay its indexes (lend), of any
    generation: an apply that reads no keys has nothing to look ends up in otherwise."""
    return "lent_keys" in base._beside


def _lent(h):
    """{table oid: packed.key_index} of the index lent (lend) for ``h``'s generation."""
    got = base._beside.get("lent_keys")
    holder = got[1]() if got is not None and got[0] == h.stamp[0] else None
    return (holder.lent() or {}) if holder is not None else {}


def find(plpy, h, ends, load=True):
    """{key: node id} of the keys ``ends`` ((table oid, id text)) that ``h`` holds,
    or that the lent indexes (lend) hold for a table whose keys ``h`` has not read;
    with ``load``, the tables' keys read first where the ends sent to NODES so far
    make it pay."""
    by_table = {}
    for k in ends:
        by_table.setdefault(k[0], []).append(k)
    found = {}
    lent = None
    for table, keys in by_table.items():
        index = h.tables.get(table)
        if index is None:
            if lent is None:
                lent = _lent(h)
            if table in lent:
                ids = packed.find_keys(lent[table], [k[1].encode() for k in keys]).tolist()
                missed = [k for k, i in zip(keys, ids, strict=True) if i < 0]
                found.update((k, i) for k, i in zip(keys, ids, strict=True) if i >= 0)
                STATS["lent"] += len(keys) - len(missed)
                keys = missed
            h.probed[table] = h.probed.get(table, 0) + len(keys)
            if not load or h.probed[table] * LOAD_SHARE < h.base_count:
                continue
            index = h.tables[table] = _load(plpy, h, table)
        if not len(index[0]) and not len(index[2]):  # none could be read
            continue
        ids = packed.find_keys(index, [k[1].encode() for k in keys]).tolist()
        for k, i in zip(keys, ids, strict=True):
            if i >= 0:
                found[k] = i
    STATS["resolved"] += len(found)
    return found


def _load(plpy, h, table):
    """packed.key_index of the base nodes of ``table``. A read that fails (one
    table's keys past what a bytea holds, 1 GB, or memory) rolls back alone, says so
    once, and leaves the table's ends to NODES for the generation; a cancel stops
    the apply."""
    STATS["loads"] += 1
    try:
        with plpy.subtransaction():
            return packed.key_index(*packed.node_key_texts(plpy, table, h.base_count))
    except Exception as exc:
        if errors.is_cancel(exc):
            raise
        plpy.warning("graphsync: replay could not read the keys of table %s (%s); the ends of its edges are"
                     " looked up one by one" % (table, errors.first_line(exc)))
        return packed.key_index(None, None)
