"""graph.build(): write a fresh immutable base from the source tables.

Reads every registered source in one snapshot (sources.read_into_temp), brings
graph._nodes to the nodes read while keeping every remaining node's id (only the
rows that differ are written; new nodes take the ids of nodes gone, then the
next ones; a first build, graph._node_rows empty, inserts the nodes read as they
are, without comparing), resolves the edges to node ids (in chunks of packed bytes, joined
to graph._nodes by key text; edge sources with integer endpoints of their keys'
type are read as packed integers and resolved in NumPy: sync/packed.py), builds
the CSR of each direction, writes the generation's shared base file from those
arrays (so no reader has to) and the graph._csr rows of a new generation, clears
the overlay and the node delta, and sets the replay cursor to that snapshot: log
rows of transactions the read saw are applied by the base itself, the others are
replayed later. A build inside a transaction that wrote to registered tables
reads those writes too, but its snapshot counts that transaction as in progress
(what it writes after the build must still be replayed); so the build also
records that transaction and its last log id before the read, and replay skips
those rows (OWN_ROWS).

Node ids run 0..max(node_id): an id no graph._nodes row holds (its node went at
a rebuild and no new node took it yet) is in the base as a node that is not
alive, of table 0, without edges.
"""

import contextlib
import json
import time

from graphsync import db, errors
from graphsync.algorithms import csr
from graphsync.algorithms.lazy_numpy import np
from graphsync.sync import background, base, basefile, notify, packed, registry, sources

# The labels a query (its one column) gives that are not yet numbered: ON CONFLICT
# takes a number of the int4 sequence for every label it is offered, numbered or not,
# so every build took as many as the sources have labels, and a writer's statement
# moving many labelled rows as many again, until the sequence ran out and every build
# and replay of a label failed. Build (LABELS) and replay (apply.INSERT_LABELS).
# A rebuild drops unused labels (UNUSED_LABELS) but the sequence never gives their
# numbers again: a writer cycling through distinct values of a label column used it
# up however few labels remained, and then every new label stopped replay for
# everyone and failed every build. Once the sequence has no room for the new labels
# they take the lowest numbers no label holds (the free ranges between the numbers
# held, in order, expanded only as far as needed); numbering runs under
# graph._sync_state's row, so no one else numbers meanwhile. New labels are numbered in
# the order they are read (ORDER BY new.i): a hash join's order numbered them otherwise,
# and a rebuild's traversals then named another of two parallel edges' labels than
# replay's (tests/test_replay_backlog.py).
NEW_LABELS = """
WITH new AS (
    SELECT l.label, pg_catalog.row_number() OVER () AS i FROM (%s) AS l (label)
    WHERE NOT EXISTS (SELECT FROM graph._label_rows AS n WHERE n.label = l.label)
), room AS (
    SELECT coalesce(pg_catalog.pg_sequence_last_value('graph._labels_label_id_seq'::pg_catalog.regclass), 0)
           + (SELECT count(*) FROM new) <= 2147483647 AS ok
), free AS (
    SELECT f.id, pg_catalog.row_number() OVER () AS i
    FROM (SELECT g.id FROM (SELECT coalesce(pg_catalog.lag(h.id) OVER (ORDER BY h.id), 0) + 1 AS lo, h.id - 1 AS hi
                            FROM (SELECT r.label_id::bigint AS id FROM graph._label_rows AS r
                                  UNION ALL SELECT 2147483648) AS h
                            ORDER BY lo) AS r
          CROSS JOIN LATERAL pg_catalog.generate_series(r.lo, r.hi) AS g (id)
          WHERE NOT (SELECT ok FROM room)
          LIMIT (SELECT count(*) FROM new)) AS f
)
INSERT INTO graph._label_rows (label_id, label)
SELECT CASE WHEN (SELECT ok FROM room) THEN pg_catalog.nextval('graph._labels_label_id_seq'::pg_catalog.regclass)
            ELSE f.id END, new.label
FROM new LEFT JOIN free AS f ON f.i = new.i
ORDER BY new.i
ON CONFLICT DO NOTHING
"""
# The labels of the edges read: each edge source's own label, and the values of its
# label column where it has one (only those edges are scanned).
LABELS = NEW_LABELS % """
    SELECT o.label FROM pg_catalog.unnest($1::text[]) AS o (label) WHERE o.label IS NOT NULL
    UNION
    SELECT e.label FROM pg_temp._gs_src_edges AS e
    WHERE pg_catalog.cardinality($2::int[]) > 0 AND e.edge_source_id = ANY($2::int[])
"""
# The ids of some labels (by name).
LABEL_IDS = "SELECT label, label_id FROM graph._label_rows WHERE label = ANY($1::text[])"
# The labels neither an edge of the new base ($1: their ids) nor a registered edge
# source's own label ($2) uses: a label column's values no row holds any more, which
# graph._labels kept for ever before (a writer cycling through values grew it without
# bound). Run once the overlay is emptied, so no label id is held anywhere else: a
# label becomes unused only at a rebuild (until then the base or an overlay row
# holds it); replay numbers labels only under graph._sync_state's row, which the
# build holds to its end, and numbers one dropped here again when it comes back; a
# read asks label names in statements checked against its generation (reads/view.py
# LABELS, LABELS_OF), so one that still holds the old base runs again.
UNUSED_LABELS = """
DELETE FROM graph._label_rows AS l
WHERE l.label_id <> ALL ($1::int[]) AND l.label <> ALL ($2::text[])
"""

# The source rows just read against graph._nodes, in one join: only the rows that
# differ, so a rebuild that changes few nodes writes few rows, and every node keeps
# its node id. op: 'I' a node graph._nodes lacks; 'U' a row to bring to the state
# read (a node whose state differs or that replay marked; a row no source holds any
# more: not alive, no tenant or properties -- it stays if an edge still ends there,
# as a ghost, else it goes: see build). change: what changed_nodes() records of the
# rebuild (notify.rebuilt): 'I' a node alive now and not before, 'D' the reverse,
# 'U' another tenant or other properties.
PLAN_COLUMNS = ('node_id bigint, table_oid oid, pk text, alive boolean, tenant text, properties jsonb,'
                ' op "char", change "char"')
NODE_PLAN = """
INSERT INTO pg_temp._gs_node_plan
SELECT n.node_id, coalesce(w.table_oid, n.table_oid), coalesce(w.pk, n.pk), w.pk IS NOT NULL, w.tenant,
       w.properties, CASE WHEN n.node_id IS NULL THEN 'I' ELSE 'U' END,
       CASE WHEN n.node_id IS NULL OR (w.pk IS NOT NULL AND NOT n.alive) THEN 'I'
            WHEN w.pk IS NULL THEN (CASE WHEN n.alive THEN 'D' END)
            WHEN n.tenant IS DISTINCT FROM w.tenant OR n.properties IS DISTINCT FROM w.properties THEN 'U' END
FROM pg_temp._gs_src_nodes AS w
FULL JOIN graph._node_rows AS n ON n.table_oid = w.table_oid AND n.pk = w.pk
WHERE n.node_id IS NULL OR n.touched OR n.extra_rows <> 0 OR n.change_id IS NOT NULL
   OR (w.pk IS NULL AND (n.alive OR n.tenant IS NOT NULL OR n.properties IS NOT NULL))
   OR (w.pk IS NOT NULL AND (NOT n.alive OR n.tenant IS DISTINCT FROM w.tenant
                             OR n.properties IS DISTINCT FROM w.properties));
"""

# A first build (graph._node_rows empty, FIRST): every node read is new, and joining
# millions of rows with an empty table and copying them into the plan buys nothing.
# The plan holds only what notify.rebuilt reads of it (at most MAX_REBUILD_CHANGES + 1
# rows: all of them, or enough to tell that there are more), and the new rows go into
# graph._node_rows straight from the read (NEW_READ_NODES).
FIRST = "SELECT NOT EXISTS (SELECT FROM graph._node_rows) AS first"
FIRST_PLAN = """INSERT INTO pg_temp._gs_node_plan
SELECT NULL, w.table_oid, w.pk, true, w.tenant, w.properties, 'I', 'I'
FROM pg_temp._gs_src_nodes AS w
LIMIT $1
"""
NEW_READ_NODES = """SELECT table_oid, pk, true AS alive, tenant, properties FROM pg_temp._gs_src_nodes"""
READ_NODES = "SELECT count(*) AS n FROM pg_temp._gs_src_nodes"
PLANNED_NODES = "SELECT count(*) AS n FROM pg_temp._gs_node_plan WHERE op = 'I'"

NODE_UPDATE = """
UPDATE graph._node_rows AS n
SET alive = p.alive, tenant = p.tenant, properties = p.properties, touched = false, extra_rows = 0,
    change_id = NULL
FROM pg_temp._gs_node_plan AS p WHERE p.op = 'U' AND n.node_id = p.node_id
"""

NODE_IDS = "SELECT count(*) AS n, coalesce(max(node_id), -1) AS top FROM graph._node_rows"

# New nodes (%(rows)s: rows of table_oid, pk, alive, tenant, properties), in (table,
# key) order, take the free node ids $1..$2 in order: first the ids no row holds
# (nodes gone at earlier rebuilds; $1 is 0 then), then the next ones. %(returning)s:
# what the caller needs back (the ids of ghosts; nothing for the nodes read, which
# can be millions of rows).
NODE_INSERT = """
INSERT INTO graph._node_rows (node_id, table_oid, pk, alive, tenant, properties)
SELECT f.id, p.table_oid, p.pk, p.alive, p.tenant, p.properties
FROM (SELECT q.*, row_number() OVER (ORDER BY q.table_oid, q.pk) AS i FROM (%(rows)s) AS q) AS p
JOIN (SELECT h.id, row_number() OVER (ORDER BY h.id) AS i
      FROM pg_catalog.generate_series($1, $2) AS h (id)
      WHERE NOT EXISTS (SELECT FROM graph._node_rows AS n WHERE n.node_id = h.id)) AS f
  ON f.i = p.i
%(returning)s
"""
# The same when no id below the top is free (a first build, or no node went): the new
# nodes take $1, $1 + 1, ... in (table, key) order, numbered as they are read instead of
# joined to a series of ids (which cost a sort and a merge join of every new row).
NODE_APPEND = """
INSERT INTO graph._node_rows (node_id, table_oid, pk, alive, tenant, properties)
SELECT $1 - 1 + row_number() OVER (ORDER BY q.table_oid, q.pk), q.table_oid, q.pk, q.alive, q.tenant,
       q.properties
FROM (%(rows)s) AS q
%(returning)s
"""
RETURNING = "RETURNING node_id, table_oid, pk"
NEW_NODES = """SELECT table_oid, pk, alive, tenant, properties FROM pg_temp._gs_node_plan WHERE op = 'I'"""
NEW_GHOSTS = """SELECT DISTINCT g.table_oid, g.pk, false AS alive, NULL::text AS tenant, NULL::jsonb AS properties
FROM ROWS FROM (pg_catalog.unnest($3::oid[]), pg_catalog.unnest($4::text[])) AS g (table_oid, pk)"""

# Every node id, packed: node id (int8), table oid (int8), alive (1 byte), big-endian.
NODE_ARRAYS = """
SELECT pg_catalog.string_agg(pg_catalog.int8send(n.node_id) || pg_catalog.int8send(n.table_oid::bigint)
                             || CASE WHEN n.alive THEN '\\x01'::bytea ELSE '\\x00'::bytea END, ''::bytea) AS b
FROM graph._node_rows AS n
"""
NODE_RECORD = np.dtype([("id", ">i8"), ("table", ">i8"), ("alive", "u1")])

# The edges of a range of pages of pg_temp._gs_src_edges with their endpoints'
# node ids, packed (src, dst int8, -1 for an endpoint graph._nodes lacks: a ghost;
# weight float8; label id, edge source int4; big-endian): one bytea per chunk
# instead of a Python object per value. The keys of the ends graph._nodes lacks
# follow, in the same order. An edge without a label has none (as when the label
# was joined in). %(label)s: the label id from graph._labels when some edge source
# has a label column; else -1, each edge source's own label id being filled in
# afterwards (LABEL_IDS), which spares a join of every edge.
EDGE_CHUNK = """
SELECT pg_catalog.string_agg(pg_catalog.int8send(coalesce(s.node_id, -1))
                             || pg_catalog.int8send(coalesce(d.node_id, -1)) || pg_catalog.float8send(e.weight)
                             || pg_catalog.int4send(%(label)s)
                             || pg_catalog.int4send(e.edge_source_id), ''::bytea) AS b,
       pg_catalog.array_agg(e.src_oid) FILTER (WHERE s.node_id IS NULL) AS src_oid,
       pg_catalog.array_agg(e.src_pk) FILTER (WHERE s.node_id IS NULL) AS src_pk,
       pg_catalog.array_agg(e.dst_oid) FILTER (WHERE d.node_id IS NULL) AS dst_oid,
       pg_catalog.array_agg(e.dst_pk) FILTER (WHERE d.node_id IS NULL) AS dst_pk
FROM pg_temp._gs_src_edges AS e
%(join)s
LEFT JOIN graph._node_rows AS s ON s.table_oid = e.src_oid AND s.pk = e.src_pk
LEFT JOIN graph._node_rows AS d ON d.table_oid = e.dst_oid AND d.pk = e.dst_pk
WHERE e.ctid >= $1 AND e.ctid < $2 AND e.label IS NOT NULL
"""
LABEL_JOIN = {"label": "l.label_id", "join": "JOIN graph._label_rows AS l ON l.label = e.label"}
NO_LABEL_JOIN = {"label": "-1", "join": ""}
EDGE_RECORD = np.dtype([("src", ">i8"), ("dst", ">i8"), ("weight", ">f8"), ("label", ">i4"), ("source", ">i4")])

EDGE_PAGES = """
SELECT (SELECT count(*) FROM pg_temp._gs_src_edges) AS n,
       pg_catalog.pg_relation_size('pg_temp._gs_src_edges') / pg_catalog.current_setting('block_size')::bigint AS pages
"""

# Edges resolved per chunk (a bytea holds under 1 GB; smaller chunks hold less
# memory twice, as PostgreSQL's aggregate and as Python bytes, at once).
CHUNK_EDGES = 2_000_000

DROP_NODES = "DELETE FROM graph._node_rows WHERE node_id = ANY($1::bigint[])"


RESOLVE_EVENTS = """
UPDATE graph._schema_events SET resolved_at = now()
WHERE resolved_at IS NULL AND repair = 'rebuild'
  AND (pg_visible_in_snapshot(xid::text::xid8, $1::pg_snapshot)
       OR xid::text::xid8 = pg_current_xact_id_if_assigned())
"""


# The log rows this transaction wrote before the read (its own writes, which the
# read sees although the snapshot counts the transaction as in progress): they
# are in the base, and replay must skip them (graph._sync_state.build_xid and
# build_position, migration 040).
OWN_ROWS = """
SELECT x.xid, coalesce((SELECT max(l.id) FROM graph._sync_log AS l WHERE l.xid = x.xid), 0) AS position
FROM (SELECT coalesce(pg_current_xact_id_if_assigned()::text::bigint, 0) AS xid) AS x
"""


@errors.entry_point
@notify.top_level
def build(plpy, why="graph.build()"):
    """Rebuild the base; returns (generation, node_count, edge_count, seconds). ``why``:
    the call the rebuild is part of, as its errors name it (a lock not granted, a
    table dropped, row-level security, a lost lock race): graph.build(), or
    maintenance's or an apply's rebuild, which named graph.build(), a call nobody
    made (tests/test_maintenance_locks.py)."""
    started = time.monotonic()
    step = _steps(plpy, started)
    db.require_admin(plpy)
    # The sources' locks first, bounded, and graph._sync_state's row only then: held
    # while a writer's LOCK TABLE ... IN SHARE MODE kept the build waiting, the row
    # held every other session's replay (sources.lock_sources); the row's wait bounded
    # too, the sources given back past it (sources.lock_sources_then_state).
    generation = sources.lock_sources_then_state(
        plpy, why, "SELECT generation FROM graph._sync_state FOR UPDATE")[0]["generation"] + 1
    reg = registry.load(plpy)
    plpy.notice("graphsync build: reading %d node tables and %d edge sources"
                % (len(reg.nodes), len(reg.edges)))
    with planned_for_bulk(plpy):
        sources.lock_sources(plpy, why,  # before any check
                             list(reg.nodes) + [e.carrier for e in reg.edges])
        snapshot, read, direct = read_sources(plpy, reg, why)
        snapshot, _, below = db.complete_snapshot(plpy, snapshot)  # as the replay cursor keeps it
        step("sources read")
        own = plpy.execute(OWN_ROWS)[0]
        base.note_own_write(plpy, rebuilt=True)
        labelled = [e.edge_source_id for e in reg.edges if e.label_column]
        own_labels = sorted({e.label for e in reg.edges if e.label is not None})
        with no_nested_loops(plpy):
            db.run(plpy, LABELS, ["text[]", "int[]"], [own_labels, labelled])
            first = plpy.execute(FIRST)[0]["first"]
            db.empty_temp_table(plpy, "_gs_node_plan", PLAN_COLUMNS)
            if first:
                db.run(plpy, FIRST_PLAN, ["bigint"], [notify.MAX_REBUILD_CHANGES + 1])
            else:
                plpy.execute(NODE_PLAN)
            step("nodes compared")
            notify.rebuilt(plpy, reg)  # the nodes it changes (pg_temp._gs_node_plan), for changed_nodes()
            if not first:
                plpy.execute(NODE_UPDATE)
            step("nodes updated")
            left_out = set()  # keys too long to index (insert_nodes)
            insert_nodes(plpy, NEW_READ_NODES if first else NEW_NODES, count=READ_NODES if first else PLANNED_NODES,
                         left_out=left_out)
            step("new nodes inserted")
            parts = packed_edges(plpy, reg, read)
            if len(direct) < len(reg.edges):  # the sources read as key texts
                parts.insert(0, read_edges(plpy, LABEL_JOIN if labelled else NO_LABEL_JOIN))
            e, missing = packed.concat(parts) if parts else edge_arrays((), 0)
            step("edges resolved")
            if missing:  # ghosts: edge ends no source row holds, new in graph._nodes
                ids = insert_nodes(plpy, NEW_GHOSTS, [[k[0] for _, _, k in missing], [k[1] for _, _, k in missing]],
                                   left_out=left_out)
                e = fill_ghosts(e, missing, ids)
            unfit = warn_left_out(plpy, left_out)
        if not labelled:
            source_labels(plpy, reg, e)
        nodes = plpy.execute(NODE_ARRAYS)[0]["b"]
        node_count, alive, tables = node_arrays(nodes)
        del nodes
        step("node ids read")
        # Rows neither alive nor the end of an edge go; their ids are free for new nodes.
        gone = unreferenced(node_count, alive, tables, e)
        if len(gone):
            db.run(plpy, DROP_NODES, ["bigint[]"], [gone.tolist()])
            tables[gone] = 0
            node_count = top_node(alive, tables) + 1
            alive, tables = alive[:node_count], tables[:node_count]
    alive_count = int(alive.sum())
    plpy.notice("graphsync build: %d nodes, %d edges read; writing generation %d"
                % (alive_count, len(e.src), generation))
    edge_count = len(e.src)
    out = csr.build(node_count, e)
    del e  # before the reverse is made: what the build holds at its peak
    into = csr.reverse(out, background.start)  # half of its gathers in a thread
    step("CSRs built")
    with SharedFile(plpy, generation, out, into, alive, tables) as shared:
        step("shared file written")  # its bytes, hashed; fsync'd in a thread meanwhile
        base.write_base(plpy, generation, out, alive, tables)
        step("graph._csr written")
        plpy.execute("DELETE FROM graph._edge_overlay")
        plpy.execute("DELETE FROM graph._edge_cuts")
        db.run(plpy, UNUSED_LABELS, ["int[]", "text[]"], [np.unique(out.labels).tolist(), own_labels])
        plpy.execute(plpy.prepare(
            """UPDATE graph._sync_state SET done_snapshot = $1::pg_snapshot, settled_xid = $3,
                   target_snapshot = NULL, target_position = 0, generation = $2, overlay_count = 0,
                   read_only = false, read_only_reason = NULL, build_required = false,
                   last_build_at = now(), done_at = %s, target_at = NULL, done_seen_below = $5,
                   target_seen_below = NULL, build_xid = $3, build_position = $4, unfit_keys = $6::jsonb,
                   applied_sync_id = greatest(applied_sync_id, coalesce((
                       SELECT max(id) FROM graph._sync_log
                       WHERE pg_visible_in_snapshot(xid::text::xid8, $1::pg_snapshot)), 0))""" % db.SNAPSHOT_TIME,
            ["text", "bigint", "bigint", "bigint", "bigint", "text"]),
            [snapshot, generation, own["xid"], own["position"], below, unfit])
        # The tables whose registration the schema-change follower changed (migration
        # 437): loaded now. A change that commits while the build runs cannot be
        # cleared unseen: the build holds every registered table it read (ACCESS
        # SHARE) to its end, and the DDL followed waits for it.
        plpy.execute("UPDATE graph._column_renames SET build_required = false WHERE build_required")
        # Record column types (drift), clear folded TRUNCATE markers and failed rows.
        plpy.execute(plpy.prepare("SELECT graph._after_build($1::pg_snapshot)", ["text"]), [snapshot])
        plpy.execute(plpy.prepare(
            """UPDATE graph._sync_log SET needs_vacuum = false
               WHERE needs_vacuum AND xid = $1 AND id <= $2""", ["bigint", "bigint"]),
            [own["xid"], own["position"]])
        # The schema changes this read saw (graph._schema_events a rebuild catches up
        # with: columns unregistered or renamed, partitions attached or detached) are.
        plpy.execute(plpy.prepare(RESOLVE_EVENTS, ["text"]), [snapshot])
        step("state written")
        base.record_file(plpy, generation, shared.finish())
    del out, into
    step("done")
    return generation, alive_count, edge_count, time.monotonic() - started


# What build's statements run with: hash joins and aggregates over every source row
# in memory rather than in batches spilled to disk (work_mem at least BULK_WORK_MEM,
# a larger value in force is kept), and no JIT compilation, which costs seconds per
# statement and saves nothing on these (one pass of simple expressions per row).
BULK_WORK_MEM = "64MB"
BULK = """
SELECT pg_catalog.current_setting('work_mem') AS work_mem, pg_catalog.current_setting('jit') AS jit,
       CASE WHEN pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem')) < pg_catalog.pg_size_bytes($1)
            THEN $1 ELSE pg_catalog.current_setting('work_mem') END AS bulk
"""
SET = "SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', $2, true)"
NESTLOOP = "SELECT pg_catalog.current_setting('enable_nestloop') AS v"
SET_NESTLOOP = "SELECT pg_catalog.set_config('enable_nestloop', $1, true)"


def _steps(plpy, started):
    """step(name): a DEBUG2 message of the seconds since the last step (and since the
    start), for profiling a build (client_min_messages = debug2 shows them)."""
    last = [started]

    def step(name):
        now = time.monotonic()
        plpy.debug("graphsync build step: %s in %.2f s (%.2f s in all)" % (name, now - last[0], now - started))
        last[0] = now
    return step


@contextlib.contextmanager
def planned_for_bulk(plpy):
    """Run the block with work_mem and jit for bulk statements (for the transaction),
    then put back the values they had, also when the block fails."""
    was = plpy.execute(plpy.prepare(BULK, ["text"]), [BULK_WORK_MEM])[0]
    plan = plpy.prepare(SET, ["text", "text"])
    plpy.execute(plan, [was["bulk"], "off"])
    try:
        yield
    finally:
        plpy.execute(plan, [was["work_mem"], was["jit"]])


@contextlib.contextmanager
def no_nested_loops(plpy):
    """Run the block without nested-loop joins: the temp tables of the read have no
    statistics (an ANALYZE of them cost a third of a CREATE TABLE AS of the same rows),
    and without them the planner may take a million rows for a few and probe
    graph._nodes once per row. Only around the statements over those tables: the
    catalog lookups of the rest (a few per registered table) need their index loops."""
    was = plpy.execute(NESTLOOP)[0]["v"]
    plan = plpy.prepare(SET_NESTLOOP, ["text"])
    plpy.execute(plan, ["off"])
    try:
        yield
    finally:
        plpy.execute(plan, [was])


# A key graph._nodes' unique index on (table_oid, pk) cannot hold (a btree entry of
# at most some 2.7 kB, after compression: errors.is_unfit_key) is a writer's value
# like any other: it failed every build while its row existed. insert_nodes tries its
# statement as it is and, on that error only (sources.retry_raising), again without
# the keys that do not fit (unfit_keys), which it finds among the rows' keys longer
# than an entry holds uncompressed (the few that may not fit; a shorter key always
# does) without trying any: stored in pg_temp._gs_unfit_keys, each is compressed there
# as the index entry would compress it (the same compression, of a value past some
# 2 kB in a row of the default storage, by the column's and the index's default
# method; a value already compressed stays so in both) and, still past that, kept out
# of line, where pg_catalog.pg_column_size gives its stored bytes less the 4-byte length
# word: the entry holds those bytes and 16 more (ENTRY_MOST), so a key fits exactly
# when they are at most ENTRY_MOST. Each was tried in an index of the same columns
# before, a subtransaction (and an XID) each: past 64 in one build every other
# session's snapshot had to look up pg_subtrans (tests/test_writer_poison.py counts
# the XIDs of a build of 100 such keys, and checks the keys left out against an
# index). The build leaves those nodes out (and the edges that need them:
# fill_ghosts) and says so once (left_out).
UNFIT_COLUMNS = "table_oid oid, pk text"
# The largest btree entry of this server's block size (BTMaxItemSize: 2,704 at 8 kB);
# an entry of graph._nodes' index holds 16 bytes besides the key's text (the tuple's
# header, the oid, the text's length word).
ENTRY_MOST = "SELECT ((pg_catalog.current_setting('block_size')::int - 56) / 3) / 8 * 8 - 8 - 16 AS n"
LONG_KEYS = """INSERT INTO pg_temp._gs_unfit_keys
SELECT r.table_oid, r.pk FROM (%s) AS r WHERE pg_catalog.octet_length(r.pk) > $5"""
# (what is left in pg_temp._gs_unfit_keys: the keys that do not fit)
FIT = "DELETE FROM pg_temp._gs_unfit_keys WHERE pg_catalog.pg_column_size(pk) <= $1"
UNFIT = "SELECT DISTINCT table_oid, pk FROM pg_temp._gs_unfit_keys"
FITTING = """SELECT r.* FROM (%s) AS r
WHERE NOT EXISTS (SELECT FROM pg_temp._gs_unfit_keys AS u WHERE u.table_oid = r.table_oid AND u.pk = r.pk)"""
# Rows (table_oid, pk) of two arrays, for unfit_keys: $1 and $2 unused ($3, $4 as NEW_GHOSTS).
KEY_ARRAYS = """SELECT g.table_oid, g.pk
FROM ROWS FROM (pg_catalog.unnest($3::oid[]), pg_catalog.unnest($4::text[])) AS g (table_oid, pk)"""


def unfit_keys(plpy, rows, args=None):
    """The keys of ``rows`` (insert_nodes; or KEY_ARRAYS with ``args``, two arrays
    of table oids and key texts) graph._nodes' index cannot hold, as
    {(table_oid, pk)}, also left in pg_temp._gs_unfit_keys (FITTING reads them).
    Set-based: no key is tried (above)."""
    most = plpy.execute(ENTRY_MOST)[0]["n"]
    db.empty_temp_table(plpy, "_gs_unfit_keys", UNFIT_COLUMNS)
    db.run(plpy, LONG_KEYS % rows, ["bigint", "bigint", "oid[]", "text[]", "int"],
           [0, 0, *(args or (None, None)), most])
    db.run(plpy, FIT, ["int"], [most])
    return {(int(r["table_oid"]), r["pk"]) for r in plpy.execute(UNFIT)}


def insert_nodes(plpy, rows, args=(), count=PLANNED_NODES, left_out=None):
    """Insert the new nodes ``rows`` (NEW_NODES or NEW_READ_NODES, whose rows ``count``
    counts; or NEW_GHOSTS with ``args``) under the free node ids; returns
    {(table_oid, pk): node_id} of the ghosts inserted (``args`` given), {} for the
    nodes read (nothing is read back). A key graph._nodes' index cannot hold is left
    out (unfit_keys) and added to the set ``left_out``."""
    def insert(fitting):
        if not fitting:
            return _insert_nodes(plpy, rows, args, count)
        unfit = unfit_keys(plpy, rows, args)
        if left_out is not None:
            left_out.update(unfit)
        return _insert_nodes(plpy, FITTING % rows, args, count)

    return sources.retry_raising(plpy, insert, when=errors.is_unfit_key)


def _insert_nodes(plpy, rows, args, count):
    ids = plpy.execute(NODE_IDS)[0]
    holes = ids["n"] <= ids["top"]
    # enough ids: every free one below the top, and one after it per new row
    last = ids["top"] + (len(args[0]) if args else plpy.execute(count)[0]["n"])
    if last == ids["top"]:
        return {}
    parts = {"rows": rows, "returning": RETURNING if args else ""}
    types = ["bigint", "bigint", "oid[]", "text[]"][:2 + len(args)]
    with sort_memory(plpy, last - ids["top"]):
        if holes:
            got = db.run(plpy, NODE_INSERT % parts, types, [0, last, *args])
        else:  # $2 unused: every id from $1 on is free
            got = db.run(plpy, NODE_APPEND % parts, types, [ids["top"] + 1, last, *args])
    return {(int(r["table_oid"]), r["pk"]): int(r["node_id"]) for r in got} if args else {}


# The new nodes are numbered in (table, key) order: one sort of every new row. With
# build's work_mem (BULK_WORK_MEM) a first build's sort of 2M rows spills to disk
# (about 100 MB of temp files at 2M nodes); up to SORT_WORK_MEM it runs in memory.
SORT_WORK_MEM = "512MB"
SORT_ROWS = 200_000  # fewer new rows sort within BULK_WORK_MEM
WORK_MEM = "SELECT pg_catalog.current_setting('work_mem') AS v"
SET_WORK_MEM = "SELECT pg_catalog.set_config('work_mem', $1, true)"


@contextlib.contextmanager
def sort_memory(plpy, rows):
    """Run the block with work_mem raised to SORT_WORK_MEM when it sorts ``rows`` new
    nodes, at least SORT_ROWS (a larger value in force is kept), then put back the
    value it had, also when the block fails."""
    if rows < SORT_ROWS:
        yield
        return
    was = plpy.execute(plpy.prepare(BULK, ["text"]), [SORT_WORK_MEM])[0]
    plan = plpy.prepare(SET_WORK_MEM, ["text"])
    plpy.execute(plan, [was["bulk"]])
    try:
        yield
    finally:
        plpy.execute(plan, [was["work_mem"]])


def node_arrays(packed):
    """(node_count, alive bool[n], tables uint32[n]) from NODE_ARRAYS' bytes: node ids
    run 0..max; an id no row holds (a node gone at a rebuild, its id free for a new
    one) is not alive, of table 0, and has no edges."""
    rec = np.frombuffer(packed or b"", dtype=NODE_RECORD)
    node_count = int(rec["id"].max()) + 1 if len(rec) else 0
    alive = np.zeros(node_count, dtype=bool)
    tables = np.zeros(node_count, dtype=np.uint32)
    ids = rec["id"].astype(np.int64)
    alive[ids] = rec["alive"].astype(bool)
    tables[ids] = rec["table"]
    return node_count, alive, tables


def edge_arrays(chunks, total):
    """(csr.Edges, missing) from EDGE_CHUNK's rows: ``chunks`` an iterable of rows
    (b: packed bytes, None when empty; src_oid, src_pk, dst_oid, dst_pk: the keys of
    the ends graph._nodes lacks, marked -1 in the bytes, in order), filled into arrays
    preallocated for ``total`` edges (at least as many as the chunks hold) and cut to
    what they held. ``missing``: [(index, end, (table_oid, pk))], end 0 src, 1 dst."""
    e = csr.Edges(np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64),
                  np.empty(total, dtype=np.float64), np.empty(total, dtype=np.int32),
                  np.empty(total, dtype=np.int32))
    at, missing = 0, []
    for row in chunks:
        rec = np.frombuffer(row["b"] or b"", dtype=EDGE_RECORD)
        n = len(rec)
        for name, field in zip(csr.Edges._fields, ("src", "dst", "weight", "label", "source"), strict=True):
            getattr(e, name)[at:at + n] = rec[field]
        for end, (oids, pks) in enumerate(((row["src_oid"], row["src_pk"]), (row["dst_oid"], row["dst_pk"]))):
            if oids:
                where = at + np.flatnonzero((e.src if end == 0 else e.dst)[at:at + n] == -1)
                missing.extend(zip(where.tolist(), [end] * len(where), zip(map(int, oids), pks, strict=True),
                                   strict=True))
        at += n
        del rec, row
    return csr.Edges(*(a[:at] for a in e)), missing


def fill_ghosts(e, missing, ids):
    """Put the node ids ``ids`` ({(table_oid, pk): node_id}) of the ghosts just
    inserted in the edge ends ``missing`` (edge_arrays) left at -1; returns the
    edges of ``e`` but those with an end ``ids`` lacks (a key too long to index,
    left out: insert_nodes)."""
    lacking = []
    for index, end, key in missing:
        node = ids.get(key)
        if node is None:
            lacking.append(index)
        else:
            (e.src if end == 0 else e.dst)[index] = node
    if not lacking:
        return e
    keep = np.ones(len(e.src), dtype=bool)
    keep[lacking] = False
    return csr.Edges(*(a[keep] for a in e))


def warn_left_out(plpy, left_out):
    """One WARNING naming each table whose keys the build left out (insert_nodes) and
    how many; returns {table oid (text): count} for graph._sync_state.unfit_keys
    (NULL when none)."""
    if not left_out:
        return None
    counts = {}
    for table, _ in left_out:
        counts[table] = counts.get(table, 0) + 1
    names = {int(r["oid"]): r["name"] for r in db.run(
        plpy, "SELECT t.oid, t.oid::pg_catalog.regclass::text AS name FROM pg_catalog.unnest($1::oid[]) AS t (oid)",
        ["oid[]"], [sorted(counts)])}
    plpy.warning("graphsync build: left out of the graph: %s, a key too long to index in graph._nodes (a btree"
                 " entry holds some 2.7 kB that compression does not shorten), and the edges that end there;"
                 " graph.verify() shows them as unfit_key until the rows' keys are shortened and a build"
                 " reads them again" % ", ".join("%d key%s of %s" % (n, "" if n == 1 else "s", names[t])
                                                 for t, n in sorted(counts.items(), key=lambda i: names[i[0]])))
    return json.dumps({str(t): n for t, n in sorted(counts.items())})


def unreferenced(node_count, alive, tables, e):
    """The node ids of rows (table not 0) that are not alive and no edge of ``e`` ends
    at: rows whose node left the sources (and ghosts no edge needs any more)."""
    used = np.zeros(node_count, dtype=bool)
    used[e.src] = True
    used[e.dst] = True
    return np.flatnonzero(~alive & ~used & (tables != 0))


def top_node(alive, tables):
    """The highest node id a row holds (-1: none)."""
    held = np.flatnonzero(tables != 0)
    return int(held[-1]) if len(held) else -1


def read_sources(plpy, reg, why="graph.build()"):
    """(snapshot, packed rows, packed SELECTs) of sources.read of every source (for
    ``why``, the call: build's), the
    packed edge sources by their SELECT. A read a row filter may have raised on (a data
    exception) is read again with each row the filter raises on failing it, as NULL
    does (sources.retry_raising): a writer's value (a / b with b = 0) failed every
    build while its row existed."""
    def read(safe):
        direct = {e.edge_source_id: packed.select(plpy, reg, e, safe) for e in packed.chosen(plpy, reg)}
        snapshot, rows = sources.read(plpy, reg, why, analyze=False, packed=direct, safe=safe)  # see no_nested_loops
        return snapshot, rows, direct

    return sources.retry_raising(plpy, read, "graphsync build: a row filter raised on some row (%s); reading"
                                             " again, such rows failing their filter")


def source_labels(plpy, reg, e):
    """Fill in the label id of every edge of ``e`` (left -1 by EDGE_CHUNK) from its
    edge source's label: no edge source has a label column."""
    got = {r["label"]: r["label_id"]
           for r in db.run(plpy, LABEL_IDS, ["text[]"], [sorted({s.label for s in reg.edges if s.label is not None})])}
    ids = {s.edge_source_id: got[s.label] for s in reg.edges if s.label is not None}
    by_source = np.full(max([0, *ids]) + 1, -1, dtype=np.int32)
    for source, label_id in ids.items():
        by_source[source] = label_id
    e.labels[:] = by_source[e.sources]


def read_edges(plpy, label):
    """(csr.Edges, missing) of the edges just read, their endpoints as node ids,
    resolved CHUNK_EDGES at a time by ranges of pages of pg_temp._gs_src_edges
    (edge_arrays); ``label``: how EDGE_CHUNK gets label ids (LABEL_JOIN, NO_LABEL_JOIN)."""
    size = plpy.execute(EDGE_PAGES)[0]
    total, pages = int(size["n"]), int(size["pages"])
    step = max(1, -(-pages * CHUNK_EDGES // max(total, 1)))
    plan = plpy.prepare(EDGE_CHUNK % label, ["tid", "tid"])

    def chunks():
        for first in range(0, pages, step):
            # the last range is open-ended: pages added since the size was read
            last = first + step if first + step < pages else 2 ** 32 - 2
            yield plpy.execute(plan, ["(%d,0)" % first, "(%d,0)" % last])[0]

    return edge_arrays(chunks(), total)


def packed_edges(plpy, reg, read):
    """[(csr.Edges, missing)] of the edge sources read as packed integers (``read``:
    {edge_source_id: row of packed.select}), their ends resolved to node ids among
    their target tables' keys, read once per table; each row is dropped once used."""
    by_id = {e.edge_source_id: e for e in reg.edges}
    sources_read = [by_id[i] for i in sorted(read)]
    got = {r["label"]: r["label_id"] for r in db.run(
        plpy, LABEL_IDS, ["text[]"], [sorted({e.label for e in sources_read})])} if sources_read else {}
    keys, parts = {}, []
    for e in sources_read:
        row = read.pop(e.edge_source_id)
        for table in (e.from_table, e.to_table):
            if table not in keys:
                keys[table] = packed.node_keys(plpy, table)
        src, dst = packed.ints(row["s"]), packed.ints(row["d"])
        weights = packed.floats(row["w"], len(src))
        del row
        parts.append(packed.edges(src, dst, weights, keys[e.from_table], keys[e.to_table],
                                  (e.from_table, e.to_table), e.edge_source_id, got[e.label], e.bidirectional))
    return parts


class SharedFile:
    """The shared base file of ``generation``, written by the build from the arrays in
    hand (so no reader has to), under the directory's lock from entering the block to
    its end: its bytes are written on entering (basefile.Pending: each piece hashed
    in a thread while it is written), then fsync'd in a thread while the block writes
    graph._csr and the build's state (one call that holds no GIL, so it proceeds
    while PostgreSQL executes the block's statements, which hold it). Readers wait
    for the lock only to write a file that is missing, of a generation committed
    before this build took its locks: nothing they hold is what the block needs.
    finish() gives its (size, SHA-256) to record in graph._csr; when
    the file cannot be written here (a warning says why; the first read writes it
    then), the SHA-256 of the contents computed from the arrays. A block that fails
    leaves no file (its temp file removed)."""

    def __init__(self, plpy, generation, out, into, alive, tables):
        self.plpy, self.generation, self.pending, self.stack = plpy, generation, None, None
        self.arrays = (out, into, alive, tables)

    def __enter__(self):
        plpy = self.plpy
        self.stack = contextlib.ExitStack()
        try:
            db_oid = plpy.execute("SELECT d.oid FROM pg_catalog.pg_database AS d"
                                  " WHERE d.datname = pg_catalog.current_database()")[0]["oid"]
            folder = basefile.directory(basefile.root(), db_oid)
            self.stack.enter_context(basefile.Lock(folder, lambda: plpy.execute(base.WAIT)))
            # Keep the file of the generation readers use until this one commits; temp
            # files seen under the lock are dead writers' (before ours exists).
            basefile.remove_old(folder, self.generation - 1)
            # The contents (with the positions of the 'any' edges, 160 MB at 10M edges)
            # go once written: the block runs without them.
            self.pending = basefile.begin(folder, self.generation,
                                          *basefile.contents(self.generation, *self.arrays, lazy=True),
                                          background.start)
        except OSError as exc:
            self.stack.close()
            self._cannot(exc)
        except BaseException:
            self.stack.close()
            raise
        return self

    def finish(self):
        """(size, SHA-256 hex) of the file of this generation's contents."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            try:
                return pending.finish()
            except OSError as exc:
                self._cannot(exc)
        return basefile.digest(*basefile.contents(self.generation, *self.arrays, lazy=True))

    def __exit__(self, kind, exc, tb):
        if self.pending is not None:  # the block failed before finish(): no file
            self.pending.abandon()
            self.pending = None
        self.arrays = None
        self.stack.close()
        return False

    def _cannot(self, exc):
        self.plpy.warning("graphsync build: the shared base file of generation %d cannot be written (%s); the"
                          " first read writes it" % (self.generation, exc.strerror or exc))
