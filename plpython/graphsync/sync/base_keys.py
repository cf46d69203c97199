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
"""

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

# Ends resolved here and tables' keys read, in this backend (read by the tests).
STATS = {"resolved": 0, "loads": 0}


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


def find(plpy, h, ends):
    """{key: node id} of the keys ``ends`` ((table oid, id text)) that ``h`` holds;
    the tables' keys read first where the ends sent to NODES so far make it pay."""
    by_table = {}
    for k in ends:
        by_table.setdefault(k[0], []).append(k)
    found = {}
    for table, keys in by_table.items():
        index = h.tables.get(table)
        if index is None:
            h.probed[table] = h.probed.get(table, 0) + len(keys)
            if h.probed[table] * LOAD_SHARE < h.base_count:
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
