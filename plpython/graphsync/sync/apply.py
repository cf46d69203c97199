"""graph.apply_sync(): replay committed log rows into the graph.

Which rows are applied is decided by transaction visibility, as PgQ's
two-snapshot batches do, never by an id cursor alone. graph._sync_state holds
done_snapshot and, while a pass is under way, target_snapshot and
target_position: a log row is applied when its xid is visible in
done_snapshot, or visible in target_snapshot with id <= target_position. A
pass takes a target snapshot, applies the rows visible in it and not in
done_snapshot in id order, batch by batch, and ends with done := target. A
transaction that took a low id but committed after a higher id was applied is
invisible to that pass's target, so a later pass applies it. Rows that a
build read in its own transaction (graph._sync_state.build_xid, up to
build_position; see sync/build.py) are in the base already and are skipped.

Graph writes and the cursor move in the caller's transaction: a crash rolls
both back together. The state row is locked FOR UPDATE, so concurrent calls
run one after the other and never apply a row twice.
"""

import gc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

from graphsync import db, errors, settings
from graphsync.sync import base, base_keys, build, changes, notify, registry

# A batch's rows: read in id order from the pass's position along the primary key,
# with sequential and bitmap scans off, and the xid test (xid + 0) no index
# condition: a plan that went by the statistics of a log just written (none yet:
# autovacuum analyzes it later) read every pending row through the xid index and
# sorted them, for each batch of the backlog -- quadratic in the backlog.
# ``renames``: RENAMES, read in the same snapshot as the rows (see Replayer.fetch).
FETCH = """
SELECT id, op, table_oid, old_pk, new_pk, properties::text AS properties,
       old_row::text AS old_row, new_row::text AS new_row, error_message,
       (SELECT coalesce(sum(r.renames), 0)::bigint FROM graph._column_renames AS r) AS renames
FROM graph._sync_log
WHERE id > $1 AND xid + 0 >= $2
  AND NOT pg_visible_in_snapshot(xid::text::xid8, $3::pg_snapshot)
  AND pg_visible_in_snapshot(xid::text::xid8, $4::pg_snapshot)
  -- rows a build read in its own transaction are in the base (migration 040)
  AND NOT (xid = $6 AND id <= $7)
ORDER BY id
LIMIT $5
"""


# The changes of the registry the schema-change follower committed so far (columns
# renamed or unregistered, tables unregistered or renamed: migrations 431, 437): a
# count that grows with each. The follower changes the registry (and renames the
# pending log rows) of a table in its owner's DDL transaction without holding replay
# up (ops/follow.py, CHANGED, RENAME_LOG), so that transaction may commit while a replay runs:
# a replay reads it with the registry and with each batch, and uses a batch only
# with a registry read at the same count (Replayer.fetch).
RENAMES = "SELECT coalesce(sum(r.renames), 0)::bigint AS n FROM graph._column_renames AS r"


class EdgeBufferFull(Exception):
    """Applying a batch would grow the edge overlay past graph.edge_buffer_size."""


@dataclass
class Counts:
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    truncates: int = 0
    batches: int = 0
    failed: int = 0

    def add(self, op, n=1):
        name = {"I": "inserts", "U": "updates", "D": "deletes", "T": "truncates"}[op]
        setattr(self, name, getattr(self, name) + n)

    def add_rows(self, rows):
        for op, n in Counter(r["op"] for r in rows).items():
            self.add(op, n)


# Replay's statements find a batch's keys (a few thousand) among graph._nodes (up
# to millions of rows). Their plans must not depend on what the statistics say
# about graph._nodes, nor on its size when a kept plan was made: an ANALYZE
# (autovacuum's) that runs while a long apply has written many uncommitted nodes
# records the table as a few rows in many pages, and a planner that believes that
# joins each batch to a sequential scan of all of it, once per key of the batch (a
# 1M-row apply that takes 38 s otherwise ran 12 minutes; a batch of 3,000 node
# updates took 97 s); and a plan kept from the first batches of an apply that
# starts on a small graph keeps scanning the table for every key while the apply
# grows it. So the node statements run with sequential scans off (db.no_seqscan,
# around the node work of each flush), each with one plan left:
# - NODES finds each key in a LATERAL subquery with a LIMIT (never flattened
#   into a join): a nested loop over the batch with one probe of the
#   (table_oid, pk) index per key; it numbers the missing keys from the end of
#   the primary key and inserts them, and writes the rows it found by their
#   ctid: a nested loop over the batch with a TID scan per row (no index orders
#   by ctid);
# - TRUNCATE_NODES reads a range of the
#   (table_oid, pk) index.
# JIT is off for the whole call (PIN): a cost estimate that a batch of keys
# inflates starts compilations that take longer than the statements.
PIN = """
SELECT o.jit, set_config('jit', 'off', true)
FROM (SELECT current_setting('jit') AS jit OFFSET 0) AS o
"""
RESTORE = "SELECT set_config('jit', $1, true)"


# Each key's node, created where missing or given its new state where it exists, in
# one statement: the keys go in as arrays once, each with what the batch did to its
# row count (changes.NodeChange: add, floor, absolute) and the state (tenant,
# properties) of the last row that came in (has_state false: none did, the node
# keeps its own); the node ids come back as an array in the keys' order. A key only
# an edge names goes in as add 0, floor 0 (a node it creates is not alive; one it
# finds keeps its count): its key alone, after the changed keys, where the other
# arrays have run out (ROWS FROM pads them with NULL); absolute is NULL when no key's
# change is absolute (replay's never are: only retry's). In the statement:
# - k finds each key by a LATERAL subquery with a LIMIT (never flattened into a
#   join): one probe of the (table_oid, pk) index per key; c is the key's row count
#   after the batch (NodeChange.count from the count before: 1 + extra_rows when
#   alive, else 0);
# - added numbers the missing keys after the largest node id (the end of the
#   primary key) and inserts them, with one change_id for the batch;
# - written gives the found nodes their new state by the ctid the lookup returned
#   (a nested loop over the batch with a TID scan per row; the lookup's snapshot is
#   the update's, and this transaction holds graph._sync_state, as every writer of
#   graph._nodes does, so no row moved in between). A node whose state the batch
#   leaves as it was (an update of edge columns only, a property set to the value
#   it had), and the node of a key only an edge names, is not written: no new row
#   version and index entries. A node written that stays alive (other properties,
#   tenant or row count) keeps its change_id and touched flag: change_id numbers
#   what reads keep of a node, its alive flag (migration 070; reads/view.py), and
#   a build compares properties and tenants with the sources whatever touched
#   says; so a node whose properties or row count change (not its tenant, which
#   is indexed) changes no indexed column, and its new version is a HOT update
#   where its page has room (graph._node_rows' fillfactor, migration 439): no
#   entry in any index. A node whose alive flag changes takes a new change_id and is
#   touched; one whose count falls to 0 is a tombstone: not alive, no tenant, no
#   properties.
NODES = """
WITH k AS MATERIALIZED (
    SELECT k.i, k.table_oid, k.pk, k.tenant, k.props, n.node_id, n.tid,
           CASE WHEN k.absolute THEN k.floor
                ELSE greatest(coalesce(n.row_count, 0) + k.add, k.floor) END AS c,
           k.has_state, k.absolute OR k.add <> 0 OR k.floor <> 0 OR k.has_state AS changed
    FROM (SELECT k.table_oid, k.pk, coalesce(k.add, 0) AS add, coalesce(k.floor, 0) AS floor,
                 coalesce(k.absolute, false) AS absolute, coalesce(k.has_state, false) AS has_state,
                 k.tenant, k.props, k.i
          FROM ROWS FROM (unnest($1::oid[]), unnest($2::text[]), unnest($3::int[]), unnest($4::int[]),
                          unnest($5::boolean[]), unnest($6::boolean[]), unnest($7::text[]), unnest($8::text[]))
               WITH ORDINALITY AS k (table_oid, pk, add, floor, absolute, has_state, tenant, props, i)) AS k
    LEFT JOIN LATERAL (
        SELECT n.node_id, n.ctid AS tid, CASE WHEN n.alive THEN 1 + n.extra_rows ELSE 0 END AS row_count
        FROM graph._node_rows AS n
        WHERE n.table_oid = k.table_oid AND n.pk = k.pk
        LIMIT 1
    ) AS n ON true
), new AS MATERIALIZED (
    SELECT k.i, (SELECT coalesce(max(node_id), -1) + 1 FROM graph._node_rows) + row_number() OVER (ORDER BY k.i) - 1
           AS node_id
    FROM k
    WHERE k.node_id IS NULL
), added AS (
    INSERT INTO graph._node_rows (node_id, table_oid, pk, alive, extra_rows, tenant, properties, touched, change_id)
    SELECT new.node_id, k.table_oid, k.pk, k.c > 0, greatest(k.c - 1, 0),
           CASE WHEN k.c > 0 THEN k.tenant END, CASE WHEN k.c > 0 THEN k.props::jsonb END, true,
           (SELECT nextval('graph._node_change_seq'))
    FROM new JOIN k USING (i)
    ORDER BY new.node_id
), u AS MATERIALIZED (
    SELECT k.tid, k.c > 0 AS alive, greatest(k.c - 1, 0) AS extra, k.c > 0 AND NOT k.has_state AS keep,
           CASE WHEN k.c > 0 THEN k.tenant END AS tenant, CASE WHEN k.c > 0 THEN k.props::jsonb END AS props
    FROM k
    WHERE k.node_id IS NOT NULL AND k.changed
), written AS (
    UPDATE graph._node_rows AS n
    SET alive = u.alive, extra_rows = u.extra,
        tenant = CASE WHEN u.keep THEN n.tenant ELSE u.tenant END,
        properties = CASE WHEN u.keep THEN n.properties ELSE u.props END,
        touched = n.touched OR n.alive IS DISTINCT FROM u.alive,
        change_id = CASE WHEN n.alive IS DISTINCT FROM u.alive THEN (SELECT nextval('graph._node_change_seq'))
                         ELSE n.change_id END
    FROM u
    WHERE n.ctid = u.tid
      AND (n.alive IS DISTINCT FROM u.alive OR n.extra_rows IS DISTINCT FROM u.extra
           OR NOT u.keep AND (n.tenant IS DISTINCT FROM u.tenant OR n.properties IS DISTINCT FROM u.props))
)
SELECT array_agg(coalesce(k.node_id, new.node_id) ORDER BY k.i) AS ids
FROM k LEFT JOIN new USING (i)
"""

# The labels of a statement's edges not yet numbered (build.NEW_LABELS), then their ids.
INSERT_LABELS = build.NEW_LABELS % "SELECT pg_catalog.unnest($1::text[])"
LABEL_IDS = build.LABEL_IDS

# The overlay rows and their count (graph._sync_state.overlay_count, migration 095)
# in one statement, so the count commits and rolls back with the rows. The count is
# the arrays' length ($7): every element is one row (the insert runs whether or not
# the outer statement reads it; no RETURNING to keep the rows for a count). The
# operations come as one text, a character ('+', '-') each: one argument to convert,
# not an array element per row.
INSERT_EDGES = """
WITH added AS (
    INSERT INTO graph._edge_overlay (op, edge_source_id, src, dst, weight, label_id)
    SELECT * FROM unnest(string_to_array($1, NULL), $2::int[], $3::bigint[], $4::bigint[], $5::float8[], $6::int[])
)
UPDATE graph._sync_state SET overlay_count = overlay_count + $7
"""

TRUNCATE_NODES = """
UPDATE graph._node_rows SET alive = false, extra_rows = 0, tenant = NULL, properties = NULL,
    touched = true, change_id = (SELECT nextval('graph._node_change_seq'))
WHERE table_oid = $1 AND alive
"""

CUT_EDGES = """
INSERT INTO graph._edge_cuts (edge_source_id, overlay_id)
SELECT s, (SELECT coalesce(max(id), 0) FROM graph._edge_overlay)
FROM unnest($1::int[]) AS s
ON CONFLICT (edge_source_id) DO UPDATE SET overlay_id = excluded.overlay_id
"""


def _node_ids(plpy, changed, edges, hold_keys=True):
    """Node id of each key: the keys of ``changed`` ({key: changes.NodeChange}),
    given the state their change leaves them in, and the ends of ``edges`` (edge
    changes (op, source, key, key, weight, label)), created not alive where unknown
    (NODES); ends of base nodes that no change of the batch names otherwise, where
    this backend holds their table's keys (read when it pays with ``hold_keys``, or
    lent by its reads), without NODES (base_keys). Returns {key: node id}."""
    keys = list(changed)
    ends = {c[2] for c in edges}
    ends.update([c[3] for c in edges])
    ends.difference_update(changed)
    known = {}
    if len(ends) >= base_keys.FEW_ENDS and (hold_keys or base_keys.lent_any()):
        held = base_keys.held(plpy)
        if held is not None:
            known = base_keys.find(plpy, held, ends, load=hold_keys)
            ends.difference_update(known)
    if not keys and not ends:
        return known
    # The changed keys' columns, then the ends' keys alone (NODES)
    values = list(changed.values())
    add = [c.add for c in values]
    floor = [c.floor for c in values]
    absolute = [c.absolute for c in values]
    if not any(absolute):
        absolute = None
    states = [c.state for c in values]
    has_state = [s is not None for s in states]
    tenant = [s[0] if s is not None else None for s in states]
    props = [s[1] if s is not None else None for s in states]
    keys.extend(ends)
    r = db.run(plpy, NODES, ["oid[]", "text[]", "int[]", "int[]", "boolean[]", "boolean[]", "text[]", "text[]"],
               [[k[0] for k in keys], [k[1] for k in keys], add, floor, absolute, has_state, tenant, props])[0]
    ids = dict(zip(keys, r["ids"] or (), strict=True))
    ids.update(known)
    return ids


def _label_ids(plpy, labels):
    labels = sorted(set(labels))
    db.run(plpy, INSERT_LABELS, ["text[]"], [labels])
    rows = db.run(plpy, LABEL_IDS, ["text[]"], [labels])
    return {r["label"]: r["label_id"] for r in rows}


class Replayer:
    """Applies gathered changes; tracks the overlay size against its bound.

    ``reg`` None: the registry is read when a row first needs it. ``overlay_used``
    None: read from graph._sync_state.overlay_count (migration 095). ``hold_keys``:
    read the keys of a table whose ends replay resolves when it pays (base_keys);
    not for a read's apply, or every reading backend would hold them (it finds
    ends in what its backend's reads hold, base_keys.lend)."""

    def __init__(self, plpy, reg, buffer_size, overlay_used=None, hold_keys=True):
        self.plpy, self._reg, self.buffer_size = plpy, reg, buffer_size
        self.hold_keys = hold_keys
        if overlay_used is None:
            overlay_used = db.run(plpy, "SELECT overlay_count FROM graph._sync_state")[0]["overlay_count"]
        self.overlay_used = overlay_used
        self.pinned = None
        self.plans = {}  # changes.add_rows's reading of each table, kept for the call
        self.renames = None  # RENAMES when the registry was read (None: given, or not read yet)

    @property
    def reg(self):
        if self._reg is None:
            self._load()
        return self._reg

    def _load(self):
        """Read the registry (two statements) between two readings of RENAMES, again
        until they agree: no rename committed in between, so it is the registry of that count."""
        while True:
            before = db.run(self.plpy, RENAMES)[0]["n"]
            self._reg, self.plans = registry.load(self.plpy), {}
            if db.run(self.plpy, RENAMES)[0]["n"] == before:
                self.renames = before
                return

    def fetch(self, read):
        """A batch of log rows, ``read()`` (FETCH), and the registry, both under the
        same column names: a rename of a registered column that committed after the
        registry was read and before the batch (or the other way round) has the batch
        carry the new names and the registry the old ones. The batch carries RENAMES
        as of its own snapshot: while it differs from the registry's, the registry is
        read again and, when that differs too (another rename committed meanwhile),
        the batch."""
        rows = read()
        while rows:
            renames = rows[0]["renames"]
            if self.renames != renames:
                self._load()
            if self.renames == renames:
                return rows
            rows = read()
        return rows

    def pin(self):
        """JIT off until unpin() (see PIN): call outside any subtransaction."""
        if self.pinned is None:
            self.pinned = db.run(self.plpy, PIN)[0]["jit"]

    def unpin(self):
        if self.pinned is not None:
            db.run(self.plpy, RESTORE, ["text"], [self.pinned])
            self.pinned = None

    def flush(self, gathered):
        plpy = self.plpy
        if not gathered.nodes and not gathered.edges:
            return
        # An edge the batch adds and removes again writes no overlay row (its keys'
        # nodes are still found or created, as when it was written).
        edges = changes.cancel_edges(gathered.edges)
        if self.overlay_used + len(edges) > self.buffer_size:
            raise EdgeBufferFull()
        base.note_own_write(plpy)
        with db.no_seqscan(plpy):
            ids = _node_ids(plpy, gathered.nodes, gathered.edges, self.hold_keys)

        if edges:
            labels = _label_ids(plpy, [c[5] for c in edges])
            ops, sources, src, dst, weights, names = zip(*edges, strict=True)
            db.run(plpy, INSERT_EDGES, ["text", "int[]", "bigint[]", "bigint[]", "float8[]", "int[]", "bigint"],
                   ["".join(ops), list(sources), list(map(ids.__getitem__, src)), list(map(ids.__getitem__, dst)),
                    list(weights), list(map(labels.__getitem__, names)), len(edges)])
            self.overlay_used += len(edges)

    def truncate(self, table_oid):
        """TRUNCATE: the table's nodes die, and every edge its rows carried."""
        plpy = self.plpy
        base.note_own_write(plpy)
        with db.no_seqscan(plpy):
            db.run(plpy, TRUNCATE_NODES, ["oid"], [table_oid])
        carried = [e.edge_source_id for e in self.reg.edges_carried_by(table_oid)]
        db.run(plpy, CUT_EDGES, ["int[]"], [carried])

    def apply_rows(self, rows):
        """Apply log rows in id order (all or nothing: the caller wraps this in a
        subtransaction): the rows between TRUNCATEs gathered in one go
        (changes.add_rows, every row's JSON parsed at once) and flushed together."""
        gathered = changes.Changes()
        old_rows, new_rows = changes.parse_images(rows)
        start = 0
        for at in [i for i, row in enumerate(rows) if row["op"] == "T"] + [len(rows)]:
            if at > start:
                changes.add_rows(self.reg, rows[start:at], gathered, (old_rows[start:at], new_rows[start:at]),
                                 plans=self.plans)
            if at == len(rows):
                break
            self.flush(gathered)
            gathered = changes.Changes()
            self.truncate(int(rows[at]["table_oid"]))
            start = at + 1
        self.flush(gathered)
        notify.record(self.plpy, self.reg, rows)  # numbered for NOTIFY graphsync and changed_nodes()


# A failed row keeps its error in the log and its id in graph._sync_log_attention
# (migration 385), where health, retry and maintenance find it. Recording errors,
# or clearing them (retry applied the rows: a NULL error), bumps
# graph._sync_state.replay_breaks (migration 406) once: the graph then changed
# otherwise than by replaying the pending rows in order, and no read keeps a
# folded view across it (reads/freshness.py). One statement for the rows of a
# call: each write of graph._sync_state's one row leaves a version the caller's
# transaction cannot prune, which every later statement reading it walks.
# Run with sequential scans off (the log's primary key, whatever its statistics).
RECORD_ERRORS = """
WITH failed AS (
    UPDATE graph._sync_log AS l SET error_message = e.message
    FROM unnest($1::bigint[], $2::text[]) AS e (id, message)
    WHERE l.id = e.id
    RETURNING l.id
),
broke AS (UPDATE graph._sync_state SET replay_breaks = replay_breaks + 1 WHERE EXISTS (SELECT FROM failed))
INSERT INTO graph._sync_log_attention (id) SELECT f.id FROM failed AS f ON CONFLICT (id) DO NOTHING
"""
# Whether a log row (alias l of graph._sync_log) is a failed row: its error set, found
# through its id there (by the log's primary key, whatever the statistics say). The one
# definition: the reports below, and retry's SKIPPED, FAILED_TRUNCATE and FAILED.
FAILED_ROW = "l.error_message IS NOT NULL AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a))"
# The failed rows, as retry's and maintenance's reports read them.
FAILED_CTE = """
WITH failed AS MATERIALIZED (
    SELECT l.id, l.error_message FROM graph._sync_log AS l
    WHERE %s
)""" % FAILED_ROW


def record_errors(plpy, ids, messages):
    """Set the error of log rows ``ids`` to ``messages`` (None clears it), in one statement."""
    if ids:
        with db.no_seqscan(plpy):
            db.run(plpy, RECORD_ERRORS, ["bigint[]", "text[]"], [ids, messages])


def attempt(plpy, replayer, apply_part):
    """A function that runs ``apply_part(part)`` in a subtransaction of its own and,
    when that raises, restores what ``replayer`` counts of the overlay before raising
    it on (the overlay rows went with the subtransaction)."""
    def run(part):
        used = replayer.overlay_used
        try:
            with plpy.subtransaction():
                apply_part(part)
        except BaseException:
            replayer.overlay_used = used
            raise
    return run


# A log row that names a key graph._nodes' unique index on (table_oid, pk) cannot hold:
# what its error says (PostgreSQL's own message after it).
UNFIT_KEY_MESSAGE = changes.UNFIT_KEY_ERROR + (
    " in graph._nodes (a btree entry holds some 2.7 kB that compression does not shorten): no node can hold it,"
    " so no retry applies this row; a build leaves the key out: %s")


def by_halves(rows, run, exc=None, stop_at_failure=False):
    """Apply ``rows`` (in log order) by ``run(part)`` (see attempt), which raises
    what failed: a part that fails is applied again as its two halves, in order,
    down to single rows, so k failing rows among n cost some 2k log2(n) runs of
    parts, not one per row. ``exc``: what the whole of ``rows`` already failed
    with (not run again). A part that fills the edge buffer is halved too, so that
    as many rows as fit are applied, in order. A cancel or timeout
    (errors.is_cancel) raises. Returns (done, applied, failures, stop): how many
    rows from the first were applied or failed, the rows applied, [(row, its
    error's first line)], and None, or why it stopped at rows[done]:
    'edge_buffer_full', or 'failed_row' (``stop_at_failure``; that row is the
    last of failures). A row whose filter raised at capture
    (changes.CapturedFilterError) never stops: no apply of it can succeed, and
    stopping at it would hold every later row of every table back for one
    writer's value. Nor does a row that names a key too long for graph._nodes'
    unique index (errors.is_unfit_key: some 2.7 kB that compression does not
    shorten, a writer's value too), recorded as changes.UNFIT_KEY_ERROR says."""
    done, applied, failures = 0, [], []
    parts = [(0, len(rows))] if rows else []  # still to apply, the next last
    while parts:
        lo, hi = parts.pop()
        if exc is None:
            try:
                run(rows[lo:hi])
            except EdgeBufferFull as full:
                if hi - lo == 1:
                    return done, applied, failures, "edge_buffer_full"
                exc = full
            except Exception as error:
                if errors.is_cancel(error):
                    raise
                exc = error
            else:
                applied += rows[lo:hi]
                done = hi
                continue
        if hi - lo > 1:
            half = (lo + hi) // 2
            parts += [(half, hi), (lo, half)]
        else:
            unfit = errors.is_unfit_key(exc)
            failures.append((rows[lo], errors.first_line(exc) if not unfit else UNFIT_KEY_MESSAGE
                             % errors.first_line(exc)))
            if stop_at_failure and not unfit and not isinstance(exc, changes.CapturedFilterError):
                return done, applied, failures, "failed_row"
            done = hi
        exc = None
    return done, applied, failures, None


def _apply_batch(plpy, replayer, rows, policy, counts):
    """Apply one batch. Returns (last applied-or-skipped id or None, stop reason or
    None, ids of rows that failed). A failing batch is applied again by halves to
    find its failing rows (by_halves), whose errors are then recorded together:
    applied row by row, each row cost a subtransaction and writes of
    graph._sync_state's one row, whose versions the caller's transaction cannot
    prune, so that each cost more than the one before (a 20,000-row batch with one
    failing row took minutes). A cancel or timeout (errors.is_cancel) is not a
    failing row: it stops the call, and the caller's transaction rolls back."""
    run = attempt(plpy, replayer, replayer.apply_rows)
    try:
        run(rows)
    except EdgeBufferFull:
        return None, "edge_buffer_full", []
    except Exception as exc:
        if errors.is_cancel(exc):
            raise
        done, applied, failures, stop = by_halves(rows, run, exc, policy == "stop")
    else:
        counts.add_rows(rows)
        return rows[-1]["id"], None, []
    counts.add_rows(applied)
    counts.failed += len(failures)
    record_errors(plpy, [row["id"] for row, _ in failures], [message for _, message in failures])
    for row, message in failures:
        plpy.warning("graphsync: log row %d failed: %s" % (row["id"], message))
    return (rows[done - 1]["id"] if done else None), stop, [row["id"] for row, _ in failures]


# A backlog large against the graph is folded into a rebuild of the base rather than
# replayed (apply_sync, graph.rebuild_backlog_rows): replay costs each log row a
# share of a node row, an overlay row and a change-log row with their index
# entries (some 20 us of CPU a row), a rebuild reads the sources once and writes
# the graph (some 5 us per node or edge), whatever the log holds. The graph's size
# is the base's nodes and edges (graph._csr, exact since its build) and the
# overlay's rows; the backlog is counted, never estimated from statistics, and
# only up to the bound that decides (LIMIT), by a range of the log's primary key
# (the rows FETCH would read, in the same pass). BACKLOG_SHARE: the backlog must
# hold at least this share of the graph's size; on the replay benchmark's graph a
# rebuild costs as much as replaying about a fifth of its size in log rows, so at
# half it takes less than half the replay's CPU (benchmarks/REPLAY.md, "A backlog
# large against the graph").
BACKLOG_SHARE = 0.5
GRAPH_SIZE = """
SELECT s.overlay_count + coalesce((SELECT c.node_count + c.edge_count FROM graph._csr AS c
                                   WHERE c.generation = s.generation AND c.direction = 'out'), 0) AS n
FROM graph._sync_state AS s
"""
# Every row of the pass has an id above its position and at most the log's last: when
# they are fewer than the bound, nothing is counted.
LAST_ID = "SELECT coalesce(max(id), 0) AS n FROM graph._sync_log"
BACKLOG = """
SELECT count(*) AS n FROM (
    SELECT 1 FROM graph._sync_log
    WHERE id > $1 AND xid + 0 >= $2
      AND NOT pg_visible_in_snapshot(xid::text::xid8, $3::pg_snapshot)
      AND pg_visible_in_snapshot(xid::text::xid8, $4::pg_snapshot)
      AND NOT (xid = $6 AND id <= $7)
    LIMIT $5
) AS l
"""


def backlog_rebuilds(plpy, done, target, position, built, least):
    """Whether the pass from ``position`` (rows visible in ``target``, not in ``done``,
    but the rows ``built`` names) holds at least ``least`` rows and at least
    BACKLOG_SHARE of the graph's size: then a rebuild costs less than replaying it."""
    if position is None:
        return False
    most = db.run(plpy, LAST_ID)[0]["n"] - position
    if most < least:
        return False
    bound = max(least, int(BACKLOG_SHARE * db.run(plpy, GRAPH_SIZE)[0]["n"]))
    if most < bound:
        return False
    with db.no_seqscan(plpy, bitmaps=True):  # a range of the primary key, as FETCH reads it
        n = db.run(plpy, BACKLOG, ["bigint", "bigint", "text", "text", "bigint", "bigint", "bigint"],
                   [position, db.xmin(done), done, target, bound, *built])[0]["n"]
    return n >= bound


# build_required: the state row's, or a table's registration the schema-change
# follower changed (graph._column_renames, migration 437: not the state row, which
# the owner's DDL transaction would hold).
STATE = """
SELECT done_snapshot::text AS done, done_seen_below, target_snapshot::text AS target, target_position,
       read_only, read_only_reason,
       build_required OR EXISTS (SELECT FROM graph._column_renames AS r WHERE r.build_required) AS build_required,
       build_xid, build_position, overlay_count
FROM graph._sync_state FOR UPDATE
"""

READ_ONLY = "UPDATE graph._sync_state SET read_only = true, read_only_reason = 'edge_buffer_full'"

# This moment's snapshot, and a time at or before it was taken (db.SNAPSHOT_MICROS).
NOW = "SELECT pg_current_snapshot()::text AS s, %s AS at" % db.SNAPSHOT_MICROS

# The apply a read runs stops at the snapshot of the reading backend's kept folded
# view, when it can (db.read_bound: the read sets it around its START): the read then
# keeps its view across the apply (reads/freshness.py, rekeyed) -- an apply to this
# moment applies rows the view has not folded, and the read dropped it: it read the
# overlay rows every apply since its backend's last had written (tens of thousands
# under unthrottled writers), copied the applied graph and folded the pending rows onto
# the copy (issue 9). Used only when it lies within reach (_bound_within), else the pass
# goes to this moment as any other. READ_BOUND_XIDS: the most xids handed out between
# it and this moment: the pass's target names each of those that can hold a log row in
# its xip (db.complete_snapshot), which every read's "nothing pending" test and count
# of the pending rows then go through.
READ_BOUND_XIDS = 512
STATS = {"bounded_passes": 0}


def _bound_within(done, done_below, seen, now):
    """Whether a pass may take ``seen`` for its target: it sees every transaction the
    applied snapshot ``done`` sees (cut at its xmax as taken, ``done_below``:
    db.seen_below), only transactions ``now`` (this moment's snapshot) sees, and at
    most READ_BOUND_XIDS xids were handed out between the two. Completed
    (db.complete_snapshot), it is then a target as good as this moment's: every
    transaction running or committed since it was taken is named in its xip, and its
    rows, not applied, are found by their xid (graph._pending_log)."""
    return (db.xmax(now) - db.xmax(seen) <= READ_BOUND_XIDS
            and db.snapshot_within(seen, now)
            and db.snapshot_within(db.seen_below(done, done_below), seen))


# Where a pass starts: the lowest id of a row done_snapshot does not see -- of a
# transaction it names running (its xip, $3) or of one that began after it (xid at
# or above its xmax, $1); the rows of every other transaction are applied (or were
# rolled back, and left none). Not the lowest id of a row not older than its xmin: a
# transaction that holds an xid open (a long report that wrote, a session idle in
# transaction, another database's) holds every later snapshot's xmin back, and each
# pass, idle applies too, read every row applied since it began (and left them out)
# until it ended (tests/test_replay_plans.py). As min(id) alone it was planned as a
# walk of the primary key from the oldest row the log keeps, reading every applied
# row kept for graph.log_retention (millions under a steady write load) until it met
# one. Now, with sequential scans off: among the log's first $2 rows by id (a log that
# keeps few applied rows: its start is there, whatever the backlog), else by the log's
# xid index (the rows of such transactions, those pending and few others; OFFSET 0
# keeps min() from being planned as that walk). COALESCE runs the second part only
# when the first finds nothing. No such row (every row of the log applied: an idle
# apply, once writers pause): NULL, no pass to read -- a start at id 0 made FETCH,
# which reads along the primary key, walk the whole log in every idle apply.
# settled: whether this transaction ($4) has logged no row so far (db.complete_snapshot),
# through the xid index: asked beside its fresh xid, in a statement without sequential
# scans off, the plan a connection kept from a call while the log was empty read the
# whole log at every pass after (tests/test_operation_costs.py).
PASS_START_NEAR = 256
PASS_START = """
SELECT coalesce(
    (SELECT min(l.id) FROM (SELECT id, xid FROM graph._sync_log ORDER BY id LIMIT $2) AS l
     WHERE l.xid >= $1 OR l.xid = ANY ($3)),
    least((SELECT min(l.id) FROM (SELECT id FROM graph._sync_log WHERE xid >= $1 OFFSET 0) AS l),
          (SELECT min(l.id) FROM (SELECT id FROM graph._sync_log WHERE xid = ANY ($3) OFFSET 0) AS l))
) - 1 AS p,
NOT EXISTS (SELECT FROM graph._sync_log AS l WHERE l.xid = $4) AS settled
"""

# ``$3``, ``$4``: the pass's target_at (db.SNAPSHOT_MICROS) and target_seen_below
# (db.complete_snapshot's below; migration 423); NULL for a pass an earlier call began
# (and saved).
SAVE = """
UPDATE graph._sync_state SET target_snapshot = $1::pg_snapshot, target_position = $2,
    applied_sync_id = greatest(applied_sync_id, $2), last_apply_at = now(),
    target_at = coalesce(%s, target_at), target_seen_below = coalesce($4, target_seen_below)
""" % db.at_micros("$3")

DONE = """
UPDATE graph._sync_state SET done_snapshot = $1::pg_snapshot, settled_xid = $2, target_snapshot = NULL,
    target_position = 0, last_apply_at = now(), done_at = coalesce(%s, target_at), target_at = NULL,
    done_seen_below = coalesce($4, target_seen_below), target_seen_below = NULL
""" % db.at_micros("$3")

CLEAR_ERRORS = """
UPDATE graph._sync_log SET error_message = NULL WHERE id = ANY ($1) AND error_message IS NOT NULL
"""


@errors.entry_point
@notify.top_level
def apply_sync(plpy, max_batches=None, rebuild=True, caller="graph.apply_sync()"):
    """Replay committed log rows; returns a dict of what was applied (and, under
    "rebuilt", why the call rebuilt the base, or None). ``caller``: the call made
    (maintenance's apply is its run's), which a rebuild's messages name (_rebuild).

    A backlog that holds more edge changes than graph.edge_buffer_size has room for
    (a bulk load after registration) is folded into a rebuild of the base in this
    call when ``rebuild`` (_rebuild), and the graph stays writable; without
    ``rebuild`` (the apply a read runs, graph._apply_for_read) the call stops and
    the graph turns read-only until a rebuild. A graph already read-only for that
    reason is rebuilt the same way. A read's apply reads no keys (Replayer)."""
    db.require_admin(plpy)
    batch_size = settings.get(plpy, "graph.sync_batch_size")
    buffer_size = settings.get(plpy, "graph.edge_buffer_size")
    policy = settings.get(plpy, "graph.sync_error_policy")
    st = db.run(plpy, STATE)[0]
    counts = Counts()
    result = {"stopped": None, "rebuilt": None}
    if st["read_only"]:
        why = "read-only (%s)" % st["read_only_reason"]
        if not (rebuild and st["read_only_reason"] == "edge_buffer_full" and _rebuild(plpy, why, caller)):
            plpy.notice("graphsync: the graph is read-only (%s); run graph.build() to recover"
                        % st["read_only_reason"])
            result["stopped"] = st["read_only_reason"]
            return _result(counts, result)
        result["rebuilt"] = why
        st = db.run(plpy, STATE)[0]
    if st["build_required"]:
        plpy.notice("graphsync: the registration changed; run graph.build() to load it")
    done, target, position = st["done"], st["target"], st["target_position"]
    resumed = target is not None
    # the apply a read runs, in a pass of its own: to the read's kept view's snapshot
    bound = None if rebuild or resumed or db.read_bound["seen"] is None else (
        st["done_seen_below"], db.read_bound["seen"], db.read_bound["at"])
    replayer = Replayer(plpy, None, buffer_size, st["overlay_count"], hold_keys=rebuild)
    # A backlog large against the graph: rebuilt, not replayed (once a call; not when
    # the call is bounded, nor when the registration changed and waits for a build).
    backlog = settings.get(plpy, "graph.rebuild_backlog_rows") if (
        rebuild and max_batches is None and not st["build_required"]) else None
    while True:
        settled = at = below = None  # a pass an earlier call began: its transaction is not known here
        if target is None:
            target, position, settled, at, below = _new_pass(plpy, done, bound)
        if backlog is not None and result["rebuilt"] is None and backlog_rebuilds(
                plpy, done, target, position, (st["build_xid"], st["build_position"]), backlog):
            why = ("at least graph.rebuild_backlog_rows (%d) log rows are pending, and at least half as many"
                   " as the graph has nodes and edges" % backlog)
            backlog = None
            if _rebuild(plpy, why, caller):
                result["rebuilt"] = why
                st = db.run(plpy, STATE)[0]
                done, target, resumed = st["done"], None, False
                replayer.overlay_used = st["overlay_count"]
                continue
            # The build failed (its WARNING says why): replay the backlog instead.
        finished, stop = _run_pass(plpy, replayer, done, target, position, batch_size, policy,
                                   max_batches, counts, (st["build_xid"], st["build_position"]), settled, at, below)
        why = "the pending rows hold more edge changes than graph.edge_buffer_size (%d) has room for" % buffer_size
        if stop == "edge_buffer_full" and rebuild and _rebuild(plpy, why, caller):
            # The base now holds every row committed before the build's snapshot: go
            # on with a fresh pass over what committed after it.
            result["rebuilt"] = why
            st = db.run(plpy, STATE)[0]
            done, target, resumed = st["done"], None, False
            replayer.overlay_used = st["overlay_count"]
            continue
        if stop:
            result["stopped"] = stop
            if stop == "edge_buffer_full":
                db.run(plpy, READ_ONLY)
                plpy.warning("graphsync: edge buffer full (graph.edge_buffer_size = %d); the"
                             " graph is read-only until graph.build()" % buffer_size)
        # A call that finished a pass an earlier call left unfinished goes on with a fresh one.
        if not (finished and resumed and max_batches is None and not stop):
            break
        done, target, resumed = target, None, False
    # Not in a finally: after an error the (sub)transaction that rolls back restores them.
    replayer.unpin()
    return _result(counts, result)


def _rebuild(plpy, why, caller):
    """Fold the pending log rows into a new base (sync/build.py: its messages name
    ``caller``'s rebuild of a backlog, not graph.build(), which nobody called) instead of the
    overlay, in a subtransaction: the build reads the sources in one snapshot and
    marks every log row that snapshot sees applied (and the rows this transaction
    wrote before it: build_xid, build_position), the replay of this call before it
    included. True when built. A build that fails (not a cancel) rolls back alone
    and is reported in a WARNING: the caller then stops as without ``rebuild``."""
    plpy.notice("graphsync: rebuilding the base instead of replaying: %s" % why)
    try:
        with plpy.subtransaction():
            build.build(plpy, "%s's rebuild of a backlog" % caller)
    except Exception as exc:
        if errors.is_cancel(exc):
            raise
        message = errors.first_line(exc)
        plpy.warning("graphsync: rebuilding the base instead of replaying failed: %s" % message)
        return False
    return True


def _new_pass(plpy, done, bound=None):
    """A pass's target (this moment's snapshot, our own xid counted as in progress,
    every transaction it does not see that began before it named in its xip:
    db.complete_snapshot) and its start: every unapplied row is of a transaction
    done does not see (named in its xip, or at or above its xmax), so start at the
    lowest id of those (PASS_START; None when the log holds none: every transaction
    that may still commit a row is one of them, and none of those this moment sees
    logged one); whether this transaction has logged no row so far (its xid then
    settled, as DONE keeps it; else None); and the time the snapshot was taken
    at the latest (NOW). ``bound``: (done's xmax as taken, a read's snapshot, its
    time: db.read_bound): the target is that snapshot, when it may be (_bound_within)."""
    now = db.run(plpy, NOW)[0]
    snapshot, at = now["s"], now["at"]
    if bound is not None and _bound_within(done, bound[0], bound[1], snapshot):
        snapshot, at = bound[1], bound[2]
        STATS["bounded_passes"] += 1
    target, top, below = db.complete_snapshot(plpy, snapshot)
    with db.no_seqscan(plpy):
        start = db.run(plpy, PASS_START, ["bigint", "int", "bigint[]", "bigint"],
                       [db.xmax(done), PASS_START_NEAR, db.xip(done), top])[0]
    return target, start["p"], top if start["settled"] else None, at, below


@contextmanager
def cycles_paused():
    """Python's cycle collector off for the block (a batch), as it was after. A
    batch makes some 100,000 container objects that live until it ends (FETCH's
    rows, their parsed images, the gathered changes and the statements'
    arguments), none of them in a cycle but what a failing part's exception
    holds while by_halves runs; the collector, started every 700 new ones, walked
    them over and over (its fuller runs every other object of the backend's
    interpreter too) and found nothing to free (benchmarks/HISTORY.md, fortieth
    stop). What a batch leaves in cycles is collected after it, at the
    collector's next run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_pass(plpy, replayer, done, target, position, batch_size, policy, max_batches, counts,
              built=(0, 0), settled=None, at=None, below=None):
    """Apply the rows visible in ``target`` and not in ``done``, from ``position`` on
    (None: there are none), batch by batch, but the rows ``built`` (build_xid,
    build_position) names: the last build read them in its own transaction.
    ``settled``: the transaction ``target`` names that holds no pending row
    (db.complete_snapshot); ``at``: the time it was taken at the latest (_new_pass;
    None: a pass an earlier call began, which saved it); ``below``: target's xmax as
    taken (db.complete_snapshot; None with ``at``). Returns (finished, stop reason or None)."""
    while max_batches is None or counts.batches < max_batches:
        with cycles_paused():  # the batch's rows, from FETCH on, to the state's SAVE
            rows = []
            if position is not None:
                def read(position=position):
                    with db.no_seqscan(plpy, bitmaps=True):
                        return db.run(plpy, FETCH, ["bigint", "bigint", "text", "text", "int", "bigint", "bigint"],
                                      [position, db.xmin(done), done, target, batch_size, *built])
                rows = replayer.fetch(read)
            if not rows:
                db.run(plpy, DONE, ["text", "bigint", "bigint", "bigint"], [target, settled, at, below])
                return True, None
            replayer.pin()  # here, outside the batch's subtransaction
            last, stop, failed = _apply_batch(plpy, replayer, rows, policy, counts)
            if last is not None:
                position = last
                db.run(plpy, SAVE, ["text", "bigint", "bigint", "bigint"], [target, position, at, below])
                _clear_errors(plpy, [r["id"] for r in rows if r["error_message"]
                                     and r["id"] <= last and r["id"] not in failed])
            counts.batches += 1
            if stop:
                return False, stop
            if len(rows) < batch_size and last == rows[-1]["id"]:
                # FETCH found every row left (fewer than it could take), all applied: the
                # pass is done. Not another FETCH to find none: from a position far below
                # the log's end (a transaction that logged a row early, held its xid open
                # while later rows were applied, then committed) it walked every row
                # applied since, a second time.
                db.run(plpy, DONE, ["text", "bigint", "bigint", "bigint"], [target, settled, at, below])
                return True, None
    return False, None


def _clear_errors(plpy, ids):
    if ids:
        db.run(plpy, CLEAR_ERRORS, ["bigint[]"], [ids])


def _result(counts, extra):
    out = dict(counts.__dict__)
    out.update(extra)
    return out
