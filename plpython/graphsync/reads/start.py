"""How a read starts: one statement for everything a read needs before it runs.

Every read function needs the same things first -- the freshness step
(graph._read_sync), the generation and version its view is keyed on, the tables
the caller may SELECT (and which of them have row-level security that applies
to the caller; and which join tables carrying edges do, or may not be read at
all, row-level security or not: their edges are hidden, reads/edge_rows.py),
who the caller is, the two session settings that shape a read, and the node
ids of the one or two nodes it names (a seed, path ends).
Asked one by one they cost a read about nine round trips, more than a small
traversal itself; START asks them together, through a plan kept for the
session, in one snapshot, so what it returns is consistent: the node ids are
numbered by the generation it returns.

A graph_admin member's read applies no source table's row-level security
(``row_secured``, ``edge_secured`` and ``edge_hidden`` are empty for it: it
keeps every join table's edges), as graph._nodes' policy shows it every node
(migration 180): asking the tables which rows it can see would run their
owners' policy code with an admin's privileges and hide nothing the admin
cannot read in graph._nodes anyway. (hydrate => true still reads the rows as the
caller, under their policies, as a SELECT does.)

The freshness step runs inside START. When it applied pending rows, START's own
snapshot (taken before) does not see them: the read runs START again, without
applying, and takes that answer (rare: about once a second under writes).

When the freshness step did not apply and rows are pending, START also reads
them (graph._pending_columns: graph._pending_rows' rows as one row of columns),
in its own snapshot, for the read to fold
(reads/freshness.py): only the rows the snapshot of the backend's kept folded
view did not see, when that view is of the same generation, version, applied
snapshot, caller and tables the caller may SELECT (``fold_key``), else all of
them (the rows of the transactions that snapshot did not see and START's does,
by their xids: _NEW_XIDS; graph._pending_columns when they are many or there is no
such view, by the log's index on xid, not by filtering every pending row). For a few rows it also
looks up the nodes of the keys they name (_KEYS: graph._pending_keys), so that the fold needs no
statement of its own for them: START, not START, a read of the log and a key
lookup (tests/test_reads_under_writes.py counts them). Nor does START then count
every pending row (graph._read_sync) when its answer is known: see _READ_SYNC_KEPT;
nor read the log when its snapshot sees no transaction the kept view's last
snapshot did not see: see _NEW_XIDS. And a read whose snapshot is the
very one of the backend's last busy START, with the same caller and settings (most
reads under writes: nothing ended since), does not run START at all but START_SAME,
which tells that and looks up the seed, and takes the last START's answer with
nothing new to fold. A read under writes so costs one statement, START_SAME or
START, and two when something committed since its backend's last read kept the view
(START_SAME, then START).

One snapshot. Everything START returns about the graph -- generation, version,
applied snapshot, the pending rows -- comes from START's snapshot S, and the read
shows the applied graph as of S plus exactly the pending rows committed in S.
The freshness step is the exception: graph._read_sync is VOLATILE, so its counts
come from later snapshots. An apply that commits between S and that count (on a
hot standby: its replay) makes the count say "nothing pending" while S still
sees the rows it applied, and a read that went by the count alone showed the
graph before the apply without them. So graph._read_sync also returns the
applied snapshot as the snapshot that counted saw it (``applied_snapshot``):
when it is not the one S sees, an apply committed in between, and START reads
the pending rows S sees (usually none). (This used to be a call of its own,
graph._applied_snapshot_now, on every read at rest.)

Nothing pending, told in S. graph._read_sync costs a read some 60-90 us even when
it finds nothing pending (a SECURITY DEFINER PL/pgSQL call: its pinned
search_path, its own statement), most of a read at rest's START. START makes
graph._read_sync's own "nothing pending" test first, in S, as the caller, and
calls it only when that test fails (its columns are then NULL: nothing pending,
nothing applied). The test reads graph._sync_state and the highest log id handed
out (the log's sequence, which every role may SELECT; graph.sync_health() shows
it as max_sync_log_id anyway) where graph._read_sync reads the highest log id:
every id handed out at or below the applied position (and no transaction running
when the applied snapshot was taken, or this one, committed since) means no
pending row, in S or any later snapshot -- a row of an id handed out later comes
from a transaction S does not see. It fails more often than graph._read_sync's
(an id handed out to a transaction that rolled back, or still running, or, on a
hot standby, the ids a primary logs ahead), never wrongly: graph._read_sync then
runs as before. A transaction of the applied snapshot's xip that committed since
makes it fail until the next apply, whether or not it wrote a log row -- one of
another database or of tables graphsync does not capture, nearly always one or more
after an apply on a server with other work -- and no read applies while nothing is
pending: the statements at rest pass by the ones graph._read_sync found to hold no
pending row (_settled, migration 424), so a backend's reads at rest go back to
START_QUIET after a read or two.

A read at rest runs START_QUIET: START without the freshness step and without
the pending rows, whose function scans and aggregates cost a read at rest some
40% of START's executor time though they read nothing (every plan node is set
up whether it runs or not). It makes the "nothing pending" test and says
whether it passed (``quiet``). When it did not, the read runs START_AT_REST,
which calls the freshness step when the test fails and says whether START would
have read pending rows (``fetched``); when it would, the read runs START, which
answers from a snapshot of its own. The backend's next read starts with the
statement this one ended with (_last): START until a read finds nothing pending,
START_AT_REST while the test fails with nothing pending (a log id handed out to
a transaction that rolled back, until an apply passes it), else START_QUIET.
So a read at rest and a read under writes each cost one statement; the first
read after the graph went busy costs three, after it went quiet two. A read
that names at most one node (a traversal from one seed) runs the statements
without the second key's lookup (START_QUIET_1, ...).

And a read at rest whose snapshot is the one its backend's last START_QUIET was
given, which the START_QUIET before that was given too, runs START_SAME instead
(_same_at_rest), as a read under writes does after its last busy START: the same
snapshot (no transaction with an xid ended anywhere since: no commit of a table,
the log, a catalog or a role), no xid of the caller's, read committed, the same
caller and session settings -- START_QUIET would answer what it answered, and the
read takes that answer, with the seed's node looked up (issue 9: START_QUIET cost
a read at rest some 85 of 380 us of backend CPU, 200k nodes, a tight loop). Not
when that answer was 'off' for a recent apply (graph.max_staleness), which time
alone ends. Only after two START_QUIETs saw one snapshot: on a server where
something commits between every two reads (other tables, other databases), a
read at rest runs START_QUIET alone, and tries START_SAME again once the server is
quiet; a read that tries it and finds the snapshot moved runs two statements.
Either statement looks an admin's seed up in graph._node_rows, not through
graph._nodes' policy (START_SAME_ADMIN, START_QUIET_ADMIN: the same node ids), when
the backend's last read found the caller to have graph_admin's privileges; a caller
who has them no more is refused (42501), and the read runs the normal form.

A staleness bound (graph.max_staleness, unset by default): when the caller's
transaction has no xid and every row committed that long before the read's
statement began is applied (graph._sync_state.done_at, migration 414), the
statements take the mode to be 'off' (_RECENT): no freshness step, no pending
rows, the applied graph as START's snapshot shows it -- a read at rest's one
statement under any write load, while something else applies often enough.

Settings are read here as settings.py reads a session setting (the value the
session has; unset or empty is the default) and checked by settings.parse.
"""

from graphsync import db, errors, settings
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import may_select, run
from graphsync.reads import freshness, nodes
from graphsync.records import record

FRESHNESS = settings.declared("graph.query_freshness")
TENANT = settings.declared("graph.tenant")
MAX_STALENESS = settings.declared("graph.max_staleness")
# The three govern only the caller's own reads, so the session's value is the one in
# force (settings.CURRENT); a shared setting would need settings.SHARED's rule.
if {FRESHNESS.scope, TENANT.scope, MAX_STALENESS.scope} != {"session"}:
    raise RuntimeError("reads.start reads graph.query_freshness, graph.max_staleness and graph.tenant"
                       " as session settings")


def _table_of(table):
    """The oid of the table a read names, given as regclass text (``table``: its
    parameter): a name, or an oid's digits (no catalog lookup)."""
    return "pg_catalog.regclassin(%s::pg_catalog.cstring)::pg_catalog.oid" % table


def _node_of(table, pk, when="", rows="graph._nodes"):
    """The node id graph._nodes shows the caller for the key (``table``, ``pk``: their
    parameters), NULL for no key (no index probe) -- and, with ``when``, unless it holds.
    ``rows``: graph._node_rows for a caller graph._nodes shows every row (START_SAME_ADMIN)."""
    return """CASE WHEN %s IS NOT NULL%s THEN
           (SELECT n.node_id FROM %s AS n
            WHERE n.table_oid = %s AND n.pk = %s)
       END""" % (pk, when, rows, _table_of(table), pk)


# $1 the default freshness mode, $2 whether the freshness step may apply, $3/$4
# and $5/$6 up to two (table, id text) keys to look up (NULL: none, and no index
# probe), $7 the most pending rows to read, $8 the fold_key ('generation/version/
# applied snapshot/caller/tables it may SELECT') of the kept folded view, or its
# lineage when it may be kept across an apply (_WHOLE), $9 the
# snapshot it saw (NULL: none; see above; graph._pending_columns finds the rows by
# it), $10 the rows it folded and $11 the most rows whose keys it looks up (_KEYS). Tables
# come as regclass text: a name, or an oid's digits (no catalog lookup). The plan
# is kept: after its first few calls PostgreSQL keeps one plan for all values, as
# long as that plan does not look much dearer than one made for the given
# values. graph._sync_state and graph._graph_version hold one row; LIMIT 1 tells
# the planner, which would otherwise cost the select list for thousands of rows,
# and plan anew on every call. START's pending rows come as one row of columns,
# aggregated where graph._pending_columns reads them, in no set order (_pending
# puts them in id order): an ORDER BY in each aggregate sorted all of them once
# per column (eight sorts, about a second of a read folding 100k rows on a loaded
# machine), and graph._pending_rows' own sort, every row whole, cost some 30 ms
# more at 100k (with its tuplestore). Their images and properties come as one text
# each (a row's after another, by newlines): PL/Python makes one Python object of an
# array's every element (some 25 ms for 100k images), of a text one (joined_texts).
# %(fetched)s: whether START reads pending rows (and their columns); %(node2)s the
# second key's lookup (NULL in the plans of reads that name at most one node: an
# instance of graph._nodes less to set up); %(read_sync)s the freshness step.
# ``quiet``: graph._read_sync's "nothing pending" test passed in S, or the mode is
# 'off' (START_QUIET runs no freshness step; see below).
_SELECT = """
SELECT s.generation, v.version, s.build_required, s.done,
       r.committed_rows, r.own_rows, r.applied, r.pending_mark, r.applied_snapshot, r.kept,
       %(fetched)s,
       t.visible, t.row_secured, t.registered, j.edge_secured, j.edge_hidden, lb.label_access,
       current_user::text AS me,
       pg_catalog.pg_has_role(current_user, 'graph_admin', 'USAGE') AS admin_rows,
       m.freshness, f.stale AS max_staleness,
       pg_catalog.current_setting('graph.tenant', true) AS tenant,%(same)s
       %(table1)s AS table1,
       %(table2)s AS table2,
       %(node1)s AS node1,
       %(node2)s AS node2, %(quiet)s AS quiet
FROM (SELECT pg_catalog.current_setting('graph.query_freshness', true) AS raw,
             pg_catalog.current_setting('graph.max_staleness', true) AS stale) AS f
CROSS JOIN LATERAL (SELECT s.generation, s.done_snapshot::text AS done,
                           -- or a table's registration the schema-change follower changed (migration 437)
                           s.build_required OR EXISTS (SELECT FROM graph._column_renames AS r
                                                       WHERE r.build_required) AS build_required,
                           coalesce(s.target_snapshot, s.done_snapshot)::text AS bound,
                           CASE WHEN s.target_snapshot IS NULL THEN s.done_seen_below
                                ELSE s.target_seen_below END AS bound_below, s.replay_breaks,
                           s.last_apply_at, %(recent)s AS recent
                    FROM graph._sync_state AS s LIMIT 1) AS s
CROSS JOIN LATERAL (SELECT CASE WHEN s.recent THEN 'off' ELSE coalesce(nullif(f.raw, ''), $1) END AS mode,
                           f.raw AS freshness) AS m
CROSS JOIN (SELECT v.version + (SELECT coalesce(pg_catalog.sum(r.renames), 0)::bigint
                                 FROM graph._column_renames AS r) AS version  -- (migrations 431, 437)
            FROM graph._graph_version AS v LIMIT 1) AS v
CROSS JOIN (
    SELECT coalesce(pg_catalog.array_agg(n.table_oid ORDER BY n.table_oid) FILTER (
               WHERE %(may_node)s), '{}') AS visible,
           coalesce(pg_catalog.array_agg(n.table_oid) FILTER (
               WHERE %(may_node)s
                 AND pg_catalog.row_security_active(n.table_oid)
                 AND NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')), '{}') AS row_secured,
           pg_catalog.count(*) AS registered
    FROM graph._node_tables AS n
) AS t
CROSS JOIN (
    SELECT coalesce(pg_catalog.array_agg(e.edge_source_id) FILTER (
               WHERE CASE WHEN %(may_via)s
                          THEN pg_catalog.row_security_active(e.via_table) ELSE false END), '{}') AS edge_secured,
           coalesce(pg_catalog.array_agg(e.edge_source_id) FILTER (
               WHERE %(may_via)s IS NOT true), '{}') AS edge_hidden
    FROM graph._edge_sources AS e
    WHERE e.kind = 'join' AND NOT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')
) AS j
CROSS JOIN (
    SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER')::text || ':'
           || coalesce(pg_catalog.string_agg(c.t::text || CASE
                  WHEN NOT %(may_carrier)s THEN '-'
                  WHEN pg_catalog.row_security_active(c.t) THEN 's' ELSE '+' END, ',' ORDER BY c.t), '')
           AS label_access
    FROM graph._edge_sources AS e
    CROSS JOIN LATERAL (SELECT CASE WHEN e.kind = 'join' THEN e.via_table ELSE e.from_table END AS t) AS c
    WHERE e.label_column IS NOT NULL
) AS lb
%(read_sync)s
"""

# Whether the applied graph is recent enough for the read (graph.max_staleness): the
# caller's transaction wrote nothing (no xid: no log row of its own to show) and every
# row committed before the read's start less max_staleness is applied (done_at,
# migration 414: a time at or before the applied snapshot was taken). Then the read
# runs as in 'off' (m.mode): no freshness step, no pending rows. A CASE, so that an
# unset max_staleness is never cast; a value that is no interval fails the cast
# (start() then says what is allowed). It is a column of s, whose LIMIT keeps the
# planner from pulling it up: as a column of m it was written out again at every use of
# m.mode, some ten in START's busy form (+8-10 us a read under writes, measured).
_RECENT = """CASE WHEN coalesce(f.stale, '') = '' OR pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL
                                THEN false
                                ELSE coalesce(s.done_at >= pg_catalog.statement_timestamp()
                                                           - f.stale::pg_catalog.interval, false) END"""

# graph._read_sync's "nothing pending" test, in S (see above), with room for one more
# condition on the xip's transactions (%s).
_NOTHING_PENDING_TEST = """EXISTS (
        SELECT FROM graph._sync_state AS q
        WHERE q.target_snapshot IS NULL
          AND coalesce(pg_catalog.pg_sequence_last_value('graph._sync_log_id_seq'::pg_catalog.regclass), 0)
              <= greatest(q.applied_sync_id, q.build_position)
          AND NOT EXISTS (
              SELECT FROM pg_catalog.pg_snapshot_xip(q.done_snapshot) AS x (xid)
              WHERE (x.xid = pg_catalog.pg_current_xact_id_if_assigned()
                     OR pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'in progress'
                        AND pg_catalog.pg_xact_status(x.xid) IS DISTINCT FROM 'aborted')
                AND x.xid::text::bigint IS DISTINCT FROM q.settled_xid%s))"""
_NOTHING_PENDING = _NOTHING_PENDING_TEST % ""

# The test of the statements at rest (START_QUIET, START_AT_REST) passes by the
# transactions of the applied snapshot's xip this backend found to hold no pending row
# ($7: graph._read_sync's settled_xids, kept in _settled): they committed and wrote no
# log row (a transaction of another database or table, one the apply named completing
# its snapshot), and the test failed for them at every read until the next apply, which
# no read makes while nothing is pending: every read at rest ran START_AT_REST, whose
# count of pending rows cost it some 0.2 ms more than START_QUIET (issue 9, migration
# 424). IS NOT TRUE: a NULL array passes nothing by.
_NOTHING_PENDING_AT_REST = _NOTHING_PENDING_TEST % """
                AND (x.xid::text::bigint = ANY ($7::pg_catalog.int8 [])) IS NOT TRUE"""

# The caller, as the regrole graph._read_sync and graph._pending_columns are given: its
# name quoted first, as regrole's input reads a name as SQL reads an identifier
# (current_user::regrole failed for a role named "Graph Reader", and named "reader" for
# one named "Reader": another role, whose pending rows a read by "Reader" did not get).
_ME = "pg_catalog.quote_ident(current_user)::pg_catalog.regrole"

# The freshness step, when the test fails (its condition refers to nothing of the
# row, so the plan tests it once, before the function scan). It returns a row
# whenever it runs: ``quiet`` is then r.committed_rows IS NULL.
_READ_SYNC = """LEFT JOIN LATERAL (
    SELECT x.committed_rows, x.own_rows, x.applied, x.pending_mark, x.applied_snapshot, false AS kept,
           x.settled_xids
    FROM graph._read_sync(m.mode = 'apply_pending_sync' AND $2, """ + _ME + """, %s) AS x
    WHERE m.mode <> 'off' AND NOT """ + _NOTHING_PENDING_AT_REST + """
) AS r ON true"""

# No freshness step: what graph._read_sync returns when its test passes.
_NO_READ_SYNC = """CROSS JOIN (
    SELECT NULL::bigint AS committed_rows, NULL::bigint AS own_rows, NULL::boolean AS applied,
           NULL::text AS pending_mark, NULL::text AS applied_snapshot, false AS kept
) AS r"""

# The freshness step's answer carried over from START_AT_REST of the same read
# ($12-$15: its committed_rows, own_rows, pending_mark and applied_snapshot), for
# START_FOLLOW (below).
_CARRIED = """CROSS JOIN (
    SELECT $12::bigint AS committed_rows, $13::bigint AS own_rows, false AS applied,
           $14::text AS pending_mark, $15::text AS applied_snapshot, false AS kept
) AS r"""

_NODE2 = _node_of("$5", "$6")

# Whether START reads the pending rows: the freshness step ran and did not apply,
# and rows are pending, or the applied snapshot it saw after counting is not the
# one START's snapshot sees (an apply committed in between: see above); never
# when 'error_on_pending' is about to raise.
_FETCH = """coalesce(m.mode <> 'off' AND NOT r.applied
                                AND (r.committed_rows > 0 OR r.own_rows > 0 OR r.kept
                                     OR r.applied_snapshot IS DISTINCT FROM s.done)
                                AND NOT (m.mode = 'error_on_pending' AND r.committed_rows > 0), false)"""

# The node of each key the pending rows START read may name (KEYS_IN_START rows at
# most), looked up in START's snapshot, as the caller (graph._pending_keys: graph._nodes'
# row-level security), so that the fold resolves them without a statement of its own
# (reads/freshness.py: RESOLVE cost a read under writes one more statement than a
# read at rest). A key it asks and graph._nodes does not show the caller comes back
# with a NULL node (node_id NULL): no node. The fold takes only what is asked there; a
# key made another way (a computed source, a composite key) is not among them and is
# looked up as before. Only for a few rows (the rows committed since a backend's last
# read; $11, keys_in_start()): reading the images as JSON there costs some 10-100 us a
# row on a loaded machine, which the fold of many rows (from the applied view) does in
# Python anyway: 1,000 rows cost START 250 ms this way, at load 10. A function, called
# only when START read such rows: as a subquery of START its plan nodes were set up on
# every busy read, some 17 us of a read that reads no row (most reads under writes;
# issue 9).
KEYS_IN_START = 64
_KEYS = """LEFT JOIN LATERAL (
        SELECT y.key_tables, y.key_pks, y.key_ids, y.key_extra
        FROM graph._pending_keys(x.table_oids, x.old_pks, x.new_pks, x.old_rows, x.new_rows) AS y
        WHERE pg_catalog.cardinality(x.ids) <= $11
        OFFSET 0
    ) AS z ON true"""


def keys_in_start():
    """START's $11: the most pending rows whose keys START looks up (_KEYS): 0
    once the backend holds the base's key index (nodes.index_held): the fold finds the
    rows' ends there, in memory, where START's lookup of 50 rows' keys cost a read
    under writes some 1.7 ms of its 5 (200k nodes, idle; issue 9); a key the index does
    not hold (a node added since the base, a node row's own key) the fold looks up
    by a statement (reads/freshness.py, RESOLVE)."""
    return 0 if nodes.index_held() else KEYS_IN_START


# What START_SAME compares beyond the columns every form returns: only START's busy
# form, whose answer it may take (a column costs every read at rest about a microsecond).
_SAME_COLUMNS = """
       pg_catalog.current_setting('row_security') AS row_security,
       pg_catalog.date_part('epoch', s.last_apply_at) AS last_apply,"""


# What START_SAME compares for START_QUIET's answer (_same_at_rest): its snapshot, and
# whether its mode was 'off' for a recent apply (graph.max_staleness: an answer that
# time alone can change).
_QUIET_COLUMNS = """
       pg_catalog.current_setting('row_security') AS row_security,
       pg_catalog.pg_current_snapshot()::pg_catalog.text AS snapshot, s.recent,"""


def _statement(fetched, node2, read_sync, rows="graph._nodes"):
    quiet = ("r.committed_rows IS NULL" if read_sync is not _NO_READ_SYNC
             else "m.mode = 'off' OR " + _NOTHING_PENDING_AT_REST)
    same = {_READ_SYNC_KEPT: _SAME_COLUMNS, _NO_READ_SYNC: _QUIET_COLUMNS}.get(read_sync, "")
    return _SELECT % {"fetched": fetched, "node2": node2, "read_sync": read_sync, "quiet": quiet,
                      "recent": _RECENT, "same": same, "table1": _table_of("$3"), "table2": _table_of("$5"),
                      "node1": _node_of("$3", "$4", rows=rows), "may_node": may_select("n.table_oid"),
                      "may_via": may_select("e.via_table"),
                      "may_carrier": may_select("c.t")}


# Whether a fold by the caller leaves out no pending row: every registered table
# (node tables and join tables) is one the caller may SELECT and whose row-level
# security does not apply to it (graph._pending_visible's test). Only then is
# ``lineage`` set: the key under which a folded view is kept across an apply
# (reads/freshness.py, re-keyed): the generation, graph._sync_state.replay_breaks
# (migration 406), the caller and its tables (``bound``: a snapshot that sees every
# row applied, the half-done pass's target, else done_snapshot). A kept view's lineage comes as $8 where its
# fold_key would: START reads only the rows its snapshot did not see (``same``)
# when either matches, and the fold tells which did.
# The two keys a kept folded view is named by ($8), written once for the statements
# that compute them (_NAMES) and those that compare them (_READ_SYNC_KEPT, _PENDING).
# The fold_key names the join tables the caller may not SELECT (j.edge_hidden) beside
# the node tables it may: their pending rows are not folded for it (graph._pending_rows),
# so a view kept from before a GRANT of one lacked its rows committed before the view's
# snapshot, and the reads after the GRANT folded onto it only those committed since
# (tests/test_reads_start.py; the lineage is set only when the caller may SELECT every table).
_FOLD_KEY = ("s.generation || '/' || v.version || '/' || s.done || '/' || current_user || '/' || t.visible::text"
             " || '/' || j.edge_hidden::text")
_LINEAGE = "s.generation || '/' || s.replay_breaks || '/' || current_user || '/' || t.visible::text"

_WHOLE = """NOT EXISTS (
                                 SELECT FROM (SELECT n.table_oid FROM graph._node_tables AS n
                                              UNION ALL
                                              SELECT e.via_table FROM graph._edge_sources AS e
                                              WHERE e.via_table IS NOT NULL) AS u (oid)
                                 WHERE NOT coalesce(CASE WHEN %s
                                                         THEN NOT pg_catalog.row_security_active(u.oid) END,
                                                    false))""" % may_select("u.oid")

# The names of a folded view this read would keep (fold_key, and lineage when the
# caller's fold leaves out no table: ``whole``), computed once for the statements
# that compare them with the kept view's ($8: _READ_SYNC_KEPT) and return them
# (_PENDING): written out in each, _WHOLE ran twice a read under writes (some 7 us).
_NAMES = """CROSS JOIN LATERAL (
    SELECT %s AS fold_key, CASE WHEN u.whole THEN %s END AS lineage, u.whole
    FROM (SELECT %s AS whole OFFSET 0) AS u
    OFFSET 0
) AS kn""" % (_FOLD_KEY, _LINEAGE, _WHOLE)

# What is new since the kept folded view (issue 9: a read under writes): the transactions
# START's snapshot S sees that the view's last snapshot ($9) did not -- those of $9's
# xip that S sees (committed since, or rolled back), and those from $9's xmax up to S's
# xmax that are not running in S (its xip) -- as an array of xids. Every log row S
# sees that the view did not fold belongs to one of them (the caller has no xid,
# START's ``same`` asks own_rows = 0), so START reads exactly their rows (_PENDING),
# by the log's index on xid: one probe each. Empty: nothing new, and the read folds
# nothing onto the kept view (``unchanged``; reads/freshness.py: no rows). Exact, never
# a guess: one committed transaction since (a writer's, another backend's apply or
# build, a GRANT) and START reads its rows; a subtransaction's xid or one that rolled
# back is a probe that finds no row. NULL when more than 256 xids were handed out
# since $9's xmax: graph._pending_columns reads the rows then, as before (a range and
# the xip, by the same index). Under writes at 200 commits/s and a read every 4 ms a
# backend, some half of the reads find nothing new. (An xid8 is compared as its text's
# bigint: an xid8 - xid8 operator is not in PostgreSQL 15.)
NEW_XIDS_AT_MOST = 256
_NEW_XIDS = """(SELECT CASE WHEN pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint
                                 - pg_catalog.pg_snapshot_xmax($9::pg_catalog.pg_snapshot)::text::bigint <= %d
                            THEN coalesce(pg_catalog.array_agg(n.xid), '{}') END
                FROM (SELECT x.xid::text::bigint AS xid
                      FROM pg_catalog.pg_snapshot_xip($9::pg_catalog.pg_snapshot) AS x (xid)
                      WHERE pg_catalog.pg_visible_in_snapshot(x.xid, pg_catalog.pg_current_snapshot())
                      UNION ALL
                      SELECT g.xid
                      FROM pg_catalog.generate_series(
                               pg_catalog.pg_snapshot_xmax($9::pg_catalog.pg_snapshot)::text::bigint,
                               least(pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint,
                                     pg_catalog.pg_snapshot_xmax($9::pg_catalog.pg_snapshot)::text::bigint + %d) - 1)
                           AS g (xid)
                      WHERE pg_catalog.pg_visible_in_snapshot(g.xid::text::pg_catalog.xid8,
                                                              pg_catalog.pg_current_snapshot())) AS n)""" % (
    NEW_XIDS_AT_MOST, NEW_XIDS_AT_MOST + 1)

# The rows of the transactions _NEW_XIDS names, read in START: graph._pending_columns'
# statement without the function's call (a PL/pgSQL call, its settings, its RETURN
# QUERY: some 40 of START's 250 us in a tight loop, 200k nodes). The xids are a column
# of w, and = ANY of them reaches into the security-barrier view (int8eq is leakproof)
# as an index condition. So do the bounds every one of them lies within ($9's xmin, S's
# xmax, columns of w as well): a range whose ends the planner does not know, which it
# takes for half a percent of the log whatever its statistics say (one transaction
# that logged a million rows makes the xid's statistics say = ANY reads most of
# them), so that the plan reads the log by its index on xid as graph._pending_columns
# does (there by its settings; tests/test_reads_under_writes.py).
_NEW_ROWS = """SELECT pg_catalog.array_agg(p.id) AS ids, pg_catalog.string_agg(p.op::text, '') AS ops,
               pg_catalog.array_agg(p.table_oid) AS table_oids, pg_catalog.array_agg(p.old_pk) AS old_pks,
               pg_catalog.array_agg(p.new_pk) AS new_pks,
               pg_catalog.string_agg(coalesce(p.properties, ''), E'\\n') AS properties,
               pg_catalog.string_agg(coalesce(p.old_row, ''), E'\\n') AS old_rows,
               pg_catalog.string_agg(coalesce(p.new_row, ''), E'\\n') AS new_rows
        FROM (SELECT q.id, q.op, q.table_oid, q.old_pk, q.new_pk, q.properties, q.old_row, q.new_row
              FROM graph._pending_by_xid AS q
              WHERE q.xid = ANY (w.new_xids) AND q.xid >= w.xid_from AND q.xid < w.xid_below
              LIMIT w.most) AS p"""

# A time at or before START's snapshot was taken (db.SNAPSHOT_MICROS: a number, not
# text in the caller's DateStyle and TimeZone): the date of a read's apply that stops at
# a kept view's snapshot (db.read_bound). It and the snapshot (``seen``) reach that
# apply, which runs as graphsync's owner: both are written with every name qualified,
# so that no type or function of the caller's search_path makes them (the apply checks
# the snapshot too: sync/apply.py, _bound_within).
_SEEN_AT = db.SNAPSHOT_MICROS

# START's pending rows. Each subquery ends in OFFSET 0, which keeps the planner from
# pulling it up into the one above: pulled up, a column made of a test was written
# out again wherever it was used, and the test ran (and its plan nodes were set up)
# once per use -- _WHOLE (every registered table's privileges) four times,
# the test of nothing new twice. The lateral of the pending rows is fenced too: pulled
# up below a fenced w, its condition was tested after the call, which then ran on every
# read; fenced, each branch sits under a one-time test that skips it. START's busy form,
# in one reader's backend, 200k nodes / 1M edges, idle: 172-184 -> 117-123 us with
# nothing new since the kept view, 324-336 -> 243-253 us reading five rows (issue 9;
# benchmarks/READS_UNDER_WRITES.md).
_PENDING = """CROSS JOIN LATERAL (
    SELECT w.fetch AS fetched, w.same AS from_seen, w.fold_key, w.lineage, s.bound, s.bound_below,
           pg_catalog.pg_current_snapshot()::pg_catalog.text AS seen, %s AS seen_at,
           coalesce(pg_catalog.cardinality(w.new_xids) = 0, false) AS unchanged,
           x.ids, x.ops, x.table_oids, x.old_pks, x.new_pks, x.properties, x.old_rows, x.new_rows,
           z.key_tables, z.key_pks, z.key_ids, z.key_extra
    FROM (SELECT k.fetch, k.same, k.fold_key, k.lineage,
                 CASE WHEN k.fetch AND k.same AND $9 IS NOT NULL THEN %s END AS new_xids,
                 pg_catalog.pg_snapshot_xmin($9::pg_catalog.pg_snapshot)::text::bigint AS xid_from,
                 pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint AS xid_below,
                 CASE WHEN k.same THEN $9::pg_catalog.pg_snapshot END AS seen,
                 CASE WHEN k.same THEN $7 - $10 ELSE $7 END AS most
          FROM (SELECT %s AS fetch,
                       coalesce(r.own_rows = 0 AND ($8 = kn.fold_key OR $8 = kn.lineage), false) AS same,
                       kn.fold_key, kn.lineage
                OFFSET 0) AS k
    OFFSET 0) AS w
    LEFT JOIN LATERAL (
        SELECT y.ids, y.ops, y.table_oids, y.old_pks, y.new_pks, y.properties, y.old_rows, y.new_rows
        FROM (%s) AS y
        WHERE w.fetch AND pg_catalog.cardinality(w.new_xids) > 0
        UNION ALL
        SELECT y.ids, y.ops, y.table_oids, y.old_pks, y.new_pks, y.properties, y.old_rows, y.new_rows
        FROM graph._pending_columns(%s, w.most, w.seen) AS y
        WHERE w.fetch AND w.new_xids IS NULL
        OFFSET 0
    ) AS x ON true
    %s
) AS p
""" % (_SEEN_AT, _NEW_XIDS, _FETCH, _NEW_ROWS, _ME, _KEYS)

# What START returns beside the start's own columns: the pending rows (_PENDING).
_FETCHED = """p.fetched, p.from_seen, p.unchanged, p.fold_key, p.lineage, p.bound, p.bound_below, p.seen, p.seen_at,
       p.ids, p.ops,
       p.table_oids, p.old_pks, p.new_pks, p.properties, p.old_rows, p.new_rows, p.key_tables, p.key_pks, p.key_ids,
       p.key_extra"""

# START's freshness step, skipped when it could only say "fold them" (issue 9: a read
# under writes). graph._read_sync counts every pending row (and runs its own
# statements: the state row, the xip, the tables' row-level security for the
# caller), O(pending) a read: some 0.3 ms of a read at 300 rows pending, idle,
# several times the fold of the one row committed since the backend's last read. It
# is not called (``kept``) when this backend keeps a folded view that START may
# fold onto ($8 is the view's lineage or fold_key, and the caller's fold leaves out
# no table: _WHOLE, so graph._read_sync's row-level security test finds nothing)
# and its answer is known without counting: not applying (the mode is
# 'apply_pending_sync' and it may not apply, or the last apply is less than a second
# old, or the transaction is read-only -- while the view holds fewer than 1,000
# rows, graph._read_sync's own rule), no own rows (the transaction has no xid, so
# it wrote no log row), and rows pending: those the view folded ($10, a bound: an
# apply may have applied some since) and those its snapshot did not see, which
# START reads (start() adds them); and not when the state row tells nothing is
# pending (the test above: another backend applied what the view folded, and the
# read adopts it as the applied graph, view.Live.adopt, as before). The count is
# then a bound (rekeyed keeps the view's bound, not lowered to what an apply left
# pending) which only grows, up to 1,000, where graph._read_sync counts again. The
# applied snapshot is S's. Whether a row
# failed matters only to an apply. So a read under writes visits the log rows
# committed since its last read and not every pending row (tests/
# test_reads_under_writes.py counts them). A read that may apply (the last apply a
# second old or more) still calls it, and applies.
# Nor, whatever the view holds and whenever the last apply was, while another
# backend's apply (or build) holds the state row (SELECT ... FOR UPDATE, then UPDATE:
# the locks on graph._sync_state those take, which only graphsync's roles may, as
# pg_locks shows them now): graph._read_sync's SKIP LOCKED would find the row taken,
# and the read would fold. Under unthrottled writers an apply runs most of the time
# and the kept view holds more than 1,000 rows: each read counted every pending row
# first, some milliseconds a read at a few thousand (issue 9). An apply that ends
# between START's snapshot and this look leaves the read to graph._read_sync, as
# before; one that began after the snapshot holds the row, as graph._read_sync would
# find it. Looked at only when the rule above does not keep the view (pg_locks
# reads every backend's locks).
_APPLYING = """EXISTS (SELECT FROM pg_catalog.pg_locks AS l
                  WHERE l.locktype = 'relation' AND l.relation = 'graph._sync_state'::pg_catalog.regclass
                    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                      WHERE d.datname = pg_catalog.current_database())
                    AND l.mode IN ('RowShareLock', 'RowExclusiveLock') AND l.granted
                    AND l.pid <> pg_catalog.pg_backend_pid())"""
# graph._read_sync's rule: while fewer rows than this are pending and the last apply is
# under a second old, a read folds them (the kept view's count of them: $10, START_SAME).
FOLD_UNDER = 1000
_READ_SYNC_KEPT = _NAMES + """
CROSS JOIN LATERAL (
    SELECT coalesce(m.mode = 'apply_pending_sync'
           AND CASE WHEN $10 < %d
                         AND (NOT $2 OR s.last_apply_at > pg_catalog.statement_timestamp() - interval '1 second'
                              OR pg_catalog.current_setting('transaction_read_only')::boolean)
                    THEN true ELSE %s END
           AND ($8 = kn.lineage OR $8 = kn.fold_key)
           AND pg_catalog.pg_current_xact_id_if_assigned() IS NULL
           AND NOT q.idle
           AND kn.whole, false) AS kept, q.idle
    FROM (SELECT """ % (FOLD_UNDER, _APPLYING) + _NOTHING_PENDING + """ AS idle OFFSET 0) AS q
    OFFSET 0
) AS k0
LEFT JOIN LATERAL (
    SELECT x.committed_rows, x.own_rows, x.applied, x.pending_mark, x.applied_snapshot
    FROM graph._read_sync(m.mode = 'apply_pending_sync' AND $2, """ + _ME + """, true) AS x
    WHERE m.mode <> 'off' AND NOT k0.kept AND NOT k0.idle
    OFFSET 0
) AS r0 ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN k0.kept THEN $10::bigint ELSE r0.committed_rows END AS committed_rows,
           CASE WHEN k0.kept THEN 0::bigint ELSE r0.own_rows END AS own_rows,
           CASE WHEN k0.kept THEN false ELSE r0.applied END AS applied,
           CASE WHEN k0.kept THEN NULL ELSE r0.pending_mark END AS pending_mark,
           CASE WHEN k0.kept THEN s.done ELSE r0.applied_snapshot END AS applied_snapshot,
           k0.kept
) AS r"""

START = _statement(_FETCHED, _NODE2, _READ_SYNC_KEPT) + _PENDING

# START_AT_REST's freshness step warns (graph._read_sync's warn) as START's does,
# for START_FOLLOW runs none; not when the read is about to raise
# ('error_on_pending' with rows pending: it reads none).
_WARN = "m.mode <> 'error_on_pending'"

# START at rest: the same but for the pending rows, which it never reads: it
# says only whether START would (``fetched``), and then the read runs START.
START_AT_REST = _statement("%s AS fetched, r.settled_xids" % _FETCH, _NODE2, _READ_SYNC % _WARN)

# START quiet: START_AT_REST without the freshness step, whose function scan costs
# a read at rest a third of the statement (its plan nodes are set up whether it
# runs or not). When its test fails (``quiet`` false) the read runs START_AT_REST.
START_QUIET = _statement("false AS fetched", _NODE2, _NO_READ_SYNC)

# START_QUIET for a caller the backend's last read found to have graph_admin's
# privileges (``admin_rows``): the keys looked up in graph._node_rows, as
# START_SAME_ADMIN looks them up (see there), not through graph._nodes' policy, whose
# setup cost a depth-2 read at rest on a server where something commits between
# every two reads (so that START_SAME never answers) some 7% (issue 9,
# benchmarks/HISTORY.md). The last read's answer is a guess (_quiet_row): its row is
# taken only when its own ``admin_rows`` says the caller has them in this statement;
# a caller who has them no more may not read graph._node_rows (42501), and the read
# runs START_QUIET.
_ADMIN_ROWS = "graph._node_rows"
START_QUIET_ADMIN = _statement("false AS fetched", _node_of("$5", "$6", rows=_ADMIN_ROWS), _NO_READ_SYNC,
                               _ADMIN_ROWS)
START_QUIET_ADMIN_1 = _statement("false AS fetched", "NULL::bigint", _NO_READ_SYNC, _ADMIN_ROWS)

# START following START_AT_REST in the same read, when that said START would read
# pending rows: START without its freshness step, which START_AT_REST ran just
# before (counting every pending row, some tens of milliseconds at 100,000 rows,
# several times that on a loaded machine): its answer comes as parameters
# (_CARRIED). It was taken before START's snapshot S, as graph._read_sync's own
# count in START is taken after it: rows committed in between are read all the
# same (START reads every pending row S sees), and an apply committed in between
# shows as an applied snapshot other than the one S sees, as in START (see above).
# It never applies: START_AT_REST's step applied already, or could not.
_FOLLOWED = _NAMES + "\n" + _CARRIED  # the carried answer, and the names _PENDING compares
START_FOLLOW = _statement(_FETCHED, _NODE2, _FOLLOWED) + _PENDING

# The same statements for a read that names at most one node ($5/$6 unused).
START_1, START_AT_REST_1, START_QUIET_1, START_FOLLOW_1 = (
    _statement(f, "NULL::bigint", r) + tail for f, r, tail in (
        (_FETCHED, _READ_SYNC_KEPT, _PENDING),
        ("%s AS fetched, r.settled_xids" % _FETCH, _READ_SYNC % _WARN, ""),
        ("false AS fetched", _NO_READ_SYNC, ""),
        (_FETCHED, _FOLLOWED, _PENDING)))

TYPES = ["text", "boolean", "text", "text", "text", "text", "int", "text", "text", "int", "int"]
TYPES_AT_REST = TYPES[:6] + ["bigint[]"]  # $7: _settled
TYPES_FOLLOW = TYPES + ["bigint", "bigint", "text", "text"]

# START_SAME: whether nothing changed since the snapshot of the last busy START, whose
# answer (its row, _kept) said to fold onto the kept view without counting (``kept``):
# START's snapshot is the one that START's was, as text ($1: the same xmin, xmax and
# running transactions -- every transaction with an xid that ended since, committed or
# rolled back, moves one of them, as every change of a table, a catalog (a GRANT, a
# role's membership, row-level security turned on) or the log does), the caller's
# transaction has no xid (no own row, no change of its own), the statement takes a
# snapshot of its own (read committed: a repeatable read transaction's snapshot is older
# than the catalogs its privileges are read from), and the caller and the session
# settings START reads are those it read. Then START would answer what it answered,
# with nothing new to fold (_NEW_XIDS) -- but for the seed's and the end's node,
# looked up here as START looks them up (only then) -- and the read takes that answer from here,
# in one statement some six times cheaper than START's busy form (12 against 75 us a
# call in a tight loop, 200k nodes: every plan node of START is set up whether it runs
# or not). Whether START would still not apply (its ``kept``) depends on the time too:
# $6, the last apply START saw (the state row, unchanged; as seconds since the epoch),
# less than a second before
# this statement, as graph._read_sync's rule (or a read-only transaction, or a read that
# may not apply). When anything differs the read runs START as before (two statements
# then: under writes at 200 commits/s about three reads in ten). A read at rest asks it
# the same about its backend's last START_QUIET ($6 NULL: ``folds`` is not read then;
# _same_at_rest).
_START_SAME = """
SELECT q.same,
       current_user::text AS me,
       pg_catalog.current_setting('graph.query_freshness', true) AS freshness,
       pg_catalog.current_setting('graph.max_staleness', true) AS max_staleness,
       pg_catalog.current_setting('graph.tenant', true) AS tenant,
       pg_catalog.current_setting('row_security') AS row_security,
       coalesce($6 > pg_catalog.date_part('epoch', pg_catalog.statement_timestamp()) - 1, false)
           OR pg_catalog.current_setting('transaction_read_only')::boolean AS folds,
       %s AS table1,
       %s AS table2,
       %s AS node1,
       %%s AS node2
FROM (SELECT pg_catalog.pg_current_snapshot()::text = $1 AND pg_catalog.pg_current_xact_id_if_assigned() IS NULL
             AND pg_catalog.current_setting('transaction_isolation') = 'read committed' AS same
      OFFSET 0) AS q"""
START_SAME = _START_SAME % (_table_of("$2"), _table_of("$4"), _node_of("$2", "$3", " AND q.same"))
START_SAME_1 = START_SAME % "NULL::bigint"
START_SAME = START_SAME % _node_of("$4", "$5", " AND q.same")
TYPES_SAME = ["text", "text", "text", "text", "text", "float8"]

# START_SAME for a caller its answer found to have graph_admin's privileges (a
# superuser, or a member that inherits them: ``admin_rows``), whom graph._nodes'
# policy shows every row: the keys looked up in graph._node_rows, which graph_admin
# may read and whose policy for it shows every row. The same node ids, without
# graph._nodes' policy, whose InitPlans and catalog probes were set up at every call
# though its first branch answers for such a caller: about 8% of a depth-2
# traversal at rest (issue 9, benchmarks/HISTORY.md). It answers only in the
# snapshot that answer was given in, in which the caller had them; a caller who no
# longer has them (a REVOKE, SET ROLE) may not read graph._node_rows: its 42501 is
# taken as "not the same" (_ask_same), and START_QUIET or START answers.
START_SAME_ADMIN = _START_SAME % (_table_of("$2"), _table_of("$4"),
                                  _node_of("$2", "$3", " AND q.same", _ADMIN_ROWS))
START_SAME_ADMIN_1 = START_SAME_ADMIN % "NULL::bigint"
START_SAME_ADMIN = START_SAME_ADMIN % _node_of("$4", "$5", " AND q.same", _ADMIN_ROWS)

# The last busy START's row that START_SAME may answer for (see above), else None.
_kept = {"row": None}

# What a row START_SAME answers for takes from it: the nodes looked up, and nothing new
# to fold (the columns of the rows START read: none).
_NOTHING_READ = dict.fromkeys(("ids", "ops", "table_oids", "old_pks", "new_pks", "properties", "old_rows",
                               "new_rows", "key_tables", "key_pks", "key_ids", "key_extra"))


# What START_SAME tells of the caller and the session settings, which must be those of
# the answer it stands for (_same, _same_at_rest).
_SAME_SESSION = ("me", "freshness", "max_staleness", "tenant", "row_security")


def _ask_same(plpy, r, snapshot, args, one, last_apply):
    """START_SAME's row when the statement's snapshot is ``snapshot`` and the caller
    and session settings are those of answer ``r`` (``args``: START's arguments, the
    keys to look up among them; ``last_apply``: START_SAME's $6), else None."""
    if r["admin_rows"]:
        try:
            q = run(plpy, START_SAME_ADMIN_1 if one else START_SAME_ADMIN, TYPES_SAME,
                    [snapshot, *args[2:6], last_apply])[0]
        except plpy.SPIError as exc:
            if getattr(exc, "sqlstate", None) != "42501":
                raise
            STATS["admin_refused"] += 1
            _last["admin"] = False  # (START_QUIET then runs its normal form alone)
            return None  # the caller has graph_admin's privileges no more: not the same caller
        STATS["same_admin"] += 1
    else:
        q = run(plpy, START_SAME_1 if one else START_SAME, TYPES_SAME, [snapshot, *args[2:6], last_apply])[0]
    if q["same"] and all(q[k] == r[k] for k in _SAME_SESSION):
        return q
    return None


def _with_nodes(r, q, **changed):
    """Answer ``r`` with the keys' tables and nodes START_SAME (``q``) looked up."""
    return dict(r, **changed, table1=q["table1"], table2=q["table2"], node1=q["node1"], node2=q["node2"])


def _same(plpy, args, one):
    """START's row for this read when START_SAME shows nothing changed since the last
    busy START that folded onto the kept view without counting (see START_SAME),
    else None. ``args``: START's arguments (TYPES), the kept view's fold_from() among them."""
    r = _kept["row"]
    if r is None or not args[1]:
        return None
    key, seen, rows_folded = args[7:10]  # freshness.fold_from(), as START would be given it
    if seen != r["seen"] or key not in (r["fold_key"], r["lineage"]) or rows_folded >= FOLD_UNDER:
        return None
    q = _ask_same(plpy, r, r["seen"], args, one, r["last_apply"])
    if q is None or not q["folds"]:
        return None
    STATS["same"] += 1
    return _with_nodes(r, q, **_NOTHING_READ, committed_rows=rows_folded, from_seen=True, unchanged=True)


# START_QUIET's last answer that START_SAME may answer for (``row``; None: none), and
# whether the snapshot it was given was the one of the START_QUIET before it (``steady``:
# only then does the next read try START_SAME, see _same_at_rest); ``typed``: (that
# row, its Start) once a read START_SAME answered for it made it (start()).
_quiet = {"row": None, "steady": False, "typed": None}


def _note_quiet(r):
    """Keep START_QUIET's answer ``r`` for _same_at_rest, when time alone cannot change
    it: nothing pending in its snapshot (not the 'off' of a recent apply)."""
    kept = _quiet["row"]
    fit = bool(r["quiet"]) and not r["recent"]
    _quiet["steady"] = fit and kept is not None and kept["snapshot"] == r["snapshot"]
    _quiet["row"] = dict(r) if fit else None


def _same_at_rest(plpy, args, one):
    """(START_QUIET's kept row, ((table1, table2), (node1, node2)) of this read's keys
    as START_SAME looked them up) when START_SAME shows that nothing changed since the
    last START_QUIET (its snapshot, caller and settings), else None. The row is the
    kept one, not a copy with the keys' columns: start() types it once (_quiet)."""
    r = _quiet["row"]
    if r is None or not _quiet["steady"]:
        return None
    q = _ask_same(plpy, r, r["snapshot"], args, one, None)
    if q is None:
        _quiet["steady"] = False
        STATS["missed_at_rest"] += 1
        return None
    STATS["same_at_rest"] += 1
    return r, ((q["table1"], q["table2"]), (q["node1"], q["node2"]))


# How this backend's next read starts: "quiet" (its last read's "nothing pending"
# test passed: START_QUIET), "at_rest" (the test failed but there was nothing to
# read, e.g. a log id handed out to a transaction that rolled back:
# START_AT_REST, whose freshness step answers) or "busy" (its last read read
# pending rows: START).
_last = {"mode": "quiet", "admin": False}

# The transactions of the applied snapshot's xip that graph._read_sync last found to
# hold no pending row (its settled_xids): the statements at rest pass them by
# (_NOTHING_PENDING_AT_REST). Replaced, not added to, at each answer: a transaction
# that has committed is named in no later snapshot's xip.
_settled = {"xids": None}

# The reads this backend started, by the first START statement each ran
# ("quiet": START_QUIET, ...; tests read them: a read at rest runs START_QUIET alone, or
# START_SAME on a steady snapshot: "same_at_rest", and "missed_at_rest" its tries that
# found the snapshot moved; "same_admin": the START_SAMEs that ran START_SAME_ADMIN, and
# "admin_refused" those a caller without graph_admin's privileges made fail;
# "quiet_admin": the START_QUIETs that ran START_QUIET_ADMIN, and "quiet_admin_refused"
# those that ran START_QUIET after it, for a caller without the privileges),
# and those whose freshness step applied the pending rows ("applied"); "unchanged": the
# reads whose snapshot saw nothing new since the kept folded view's (_NEW_XIDS);
# "settled": the answers of graph._read_sync that gave settled_xids (_settled).
STATS = {"quiet": 0, "at_rest": 0, "busy": 0, "applied": 0, "kept": 0, "unchanged": 0, "same": 0, "settled": 0,
         "same_at_rest": 0, "missed_at_rest": 0, "same_admin": 0, "admin_refused": 0, "quiet_admin": 0,
         "quiet_admin_refused": 0}


class Pending:
    """The pending rows START read, as columns: ``cols`` {column of
    graph._pending_rows: list}, in id order (sync/columns.py folds them so)."""

    __slots__ = ("cols",)

    def __init__(self, cols):
        self.cols = cols

    def __len__(self):
        return len(self.cols["id"])

    @property
    def ops(self):
        return self.cols["op"]

    def rows(self):
        """The rows, as graph._pending_rows returns them (dicts)."""
        from graphsync.sync import columns  # (see _pending)

        return columns.rows_of(self.cols)


class Start(record("Start", (
        "key",  # tuple: (generation, version): the view this read runs on
        "freshness",  # str: graph.query_freshness in force
        "committed_rows",  # int: pending committed log rows (0 when freshness is 'off')
        "own_rows",  # int: the caller's own uncommitted log rows (0 when 'off')
        "pending_mark",  # object: names the pending rows (graph._read_sync); None when none
        "visible",  # frozenset: registered tables the caller may SELECT
        "row_secured",  # frozenset: of those, the ones whose row-level security applies to the caller
        "registered",  # int: registered node tables
        "edge_secured",  # frozenset: join edge sources whose table's row-level security applies to the caller
        "edge_hidden",  # frozenset: join edge sources whose table the caller may not SELECT (or whose schema use)
        "build_required",  # bool
        "done",  # str: the applied snapshot (graph._sync_state.done_snapshot)
        "pending",  # Pending | None: the pending rows START read (None: it read none), in id order
        "from_seen",  # bool: they are only those the kept folded view's snapshot did not see
        "fold_key",  # str: what a folded view of this read is kept under (see START)
        "lineage",  # str | None: what it is kept under across an apply (see _WHOLE); None: not
        "bound",  # str: a snapshot that sees every applied row: the pass's target, else done
        "bound_below",  # int | None: its xmax as taken (migration 423; db.seen_below)
        "seen",  # str: the snapshot they were read in
        "seen_at",  # int | None: a time at or before it was taken, in microseconds (_SEEN_AT)
        "keys",  # dict: {(table oid, id text): (node id, extra rows) or None} of keys the pending rows name
        "me",  # str: current_user
        "tenant",  # object: graph.tenant in force (None: no tenant)
        "tables",  # tuple: the table oid of each key asked
        "nodes",  # tuple: its node id, as given (None: no node the caller can see)
        "label_access",  # str: what graph._labels' policy shows the caller depends on (view.with_labels)
))):
    """What START returned, typed."""

    __slots__ = ()


_defaults = {}  # setting name -> its default's typed value (parsed once)
# Values of graph.max_staleness found to be intervals of 0 or more (START casts it; a
# negative one never makes the applied graph recent, but is refused all the same):
# the unset ones and at most STALENESS_KEPT others, the set emptied of those when full
# (a session may set a new text before every read).
_staleness_ok = {None, ""}
STALENESS_KEPT = 32


def _check_staleness(plpy, raw):
    """22023 unless ``raw``, graph.max_staleness as START read it, is unset or allowed."""
    if raw not in _staleness_ok:
        settings.parse(plpy, MAX_STALENESS, raw)
        if len(_staleness_ok) >= STALENESS_KEPT + 2:
            _staleness_ok.intersection_update((None, ""))
        _staleness_ok.add(raw)


def _setting(plpy, s, raw):
    """The typed value of session setting ``s`` whose text is ``raw`` (settings.get's rule)."""
    if raw is None or raw == "":
        if s.name not in _defaults:
            _defaults[s.name] = None if s.default is None else settings.parse(plpy, s, s.default)
        return _defaults[s.name]
    return settings.parse(plpy, s, raw)


def _pending(r):
    """The pending rows START read (Pending), None when it read none."""
    if not r["fetched"]:
        return None
    # Here, not at the top: folding pending rows needs sync/columns.py (and what it
    # imports), a read of the graph at rest does not (a first read's cost).
    from graphsync.sync import columns

    if r["ids"] is None:  # no row
        return Pending({c: [] for c in columns.COLUMNS})
    k = len(r["ids"])
    cols = {"id": r["ids"], "op": list(r["ops"]), "table_oid": r["table_oids"], "old_pk": r["old_pks"],
            "new_pk": r["new_pks"]}
    for c, a in (("properties", "properties"), ("old_row", "old_rows"), ("new_row", "new_rows")):
        cols[c] = joined_texts(r[a], k)
    ids = np.array(cols["id"], dtype=np.int64)
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        # graph._pending_columns gives them in the order its view reads them: by id,
        # then the rows found by their transaction (lower ids): put back in id order
        order = np.argsort(ids, kind="stable").tolist()
        cols = {c: [v[i] for i in order] for c, v in cols.items()}
    return Pending(cols)


def joined_texts(joined, k):
    """[str | None]: the ``k`` texts of ``joined``, as graph._pending_columns joins
    jsonb texts (by newlines, which none holds; a NULL as the empty text, which none is)."""
    if joined is None or len(joined) == k - 1:  # (every one NULL: k - 1 newlines)
        return [None] * k
    texts = joined.split("\n")
    if len(texts) != k:
        raise ValueError("graphsync: %d texts where %d rows were read" % (len(texts), k))
    if "" in texts:
        texts = [t or None for t in texts]
    return texts


def _keys(r):
    """{(table oid, id text): (node id, extra rows), or None: no node the caller can
    see} of the keys START looked up for the pending rows (see _KEYS); {} for none."""
    if not r["fetched"] or r["key_tables"] is None:
        return {}
    return {(int(t), pk): None if i is None else (i, x)
            for t, pk, i, x in zip(r["key_tables"], r["key_pks"], r["key_ids"], r["key_extra"], strict=True)}


def start(plpy, keys=()):
    """Run START, with the freshness step; ``keys``: up to two (table, id text)
    pairs, table as an oid or its regclass text, whose node ids to look up as given."""
    try:
        r, at_rest, same = _run(plpy, keys)
    except plpy.SPIError as exc:
        if not errors.is_cancel(exc):
            settings.get(plpy, MAX_STALENESS.name)  # no interval, START's cast failed: 22023, what is allowed
        raise
    _check_staleness(plpy, r["max_staleness"])
    db.read_by(r["me"])  # the read's later queries share what policies asked (reads.statement_cache)
    if same is None:
        return _typed(plpy, r, at_rest)
    # START_SAME answered for the kept START_QUIET row ``r``: its Start, typed once, with
    # this read's keys' tables and nodes (by position: Start's last three fields)
    typed = _quiet["typed"]
    if typed is None or typed[0] is not r:
        typed = _quiet["typed"] = (r, _typed(plpy, r, at_rest))
    return Start._make(typed[1][:-3] + same + typed[1][-1:])


def _run(plpy, keys):
    """START's row for ``keys`` (see start), whether the read is at rest (START
    read no pending rows), and, when START_SAME answered for the kept START_QUIET
    row (_same_at_rest), the keys' (tables, nodes) it looked up (else None: the
    row's own)."""
    one = len(keys) <= 1
    keys = list(keys) + [(None, None)] * (2 - len(keys))
    args = [FRESHNESS.default, True]
    for table, pk in keys:
        args += [None if table is None else str(table), pk]
    mode = _last["mode"]
    r = carried = same = None
    if mode == "quiet":
        r = _same_at_rest(plpy, args, one)
        if r is not None:
            r, same = r
        else:
            STATS["quiet"] += 1
            r = _quiet_row(plpy, [*args, _settled["xids"]], one)
            _note_quiet(r)
            if not r["quiet"]:
                mode, r = "at_rest", None
    if mode == "at_rest":
        STATS["at_rest"] += _last["mode"] == "at_rest"
        r = run(plpy, START_AT_REST_1 if one else START_AT_REST, TYPES_AT_REST, [*args, _settled["xids"]])[0]
        if r["applied"]:
            STATS["applied"] += 1
            args[1] = False
            r = run(plpy, START_AT_REST_1 if one else START_AT_REST, TYPES_AT_REST, [*args, _settled["xids"]])[0]
        if r["settled_xids"] is not None:
            _settled["xids"] = r["settled_xids"]
            STATS["settled"] += 1
        if r["fetched"]:
            # The freshness step did not apply (or its rerun came here): START_FOLLOW
            # reads the pending rows with its answer, no second count.
            carried = [r["committed_rows"], r["own_rows"], r["pending_mark"], r["applied_snapshot"]]
            mode, r = "busy", None
    at_rest = r is not None
    if not at_rest:
        STATS["busy"] += mode == "busy"
        args += [freshness.MAX_FOLD_ROWS + 1, *freshness.fold_from(), keys_in_start()]
        if carried is not None:
            r = run(plpy, START_FOLLOW_1 if one else START_FOLLOW, TYPES_FOLLOW, args + carried)[0]
        else:
            r = _same(plpy, args, one)
            if r is None:
                r = _busy(plpy, START_1 if one else START, args)
                if r["applied"]:
                    STATS["applied"] += 1
                    args[1] = False
                    r = run(plpy, START_1 if one else START, TYPES, args)[0]
    # START_SAME answers for this row while nothing changes (see there)
    _kept["row"] = dict(r) if not at_rest and r["kept"] and r["fetched"] and args[1] else None
    STATS["kept"] += bool(r["kept"])
    if not at_rest:
        STATS["unchanged"] += bool(r["unchanged"])
    _last["mode"] = "busy" if r["fetched"] else "quiet" if r["quiet"] else "at_rest"
    _last["admin"] = r["admin_rows"]
    return r, at_rest, same


def _quiet_row(plpy, args, one):
    """START_QUIET's row; START_QUIET_ADMIN's when the backend's last read found the
    caller to have graph_admin's privileges and this statement finds it to have them
    still (else, refused or not, START_QUIET's)."""
    if _last["admin"]:
        try:
            r = run(plpy, START_QUIET_ADMIN_1 if one else START_QUIET_ADMIN, TYPES_AT_REST, args)[0]
        except plpy.SPIError as exc:
            if getattr(exc, "sqlstate", None) != "42501":
                raise
            r = None  # (the caller may not read graph._node_rows)
        if r is not None and r["admin_rows"]:
            STATS["quiet_admin"] += 1
            return r
        STATS["quiet_admin_refused"] += 1
    return run(plpy, START_QUIET_1 if one else START_QUIET, TYPES_AT_REST, args)[0]


def _busy(plpy, statement, args):
    """START's row; an apply its freshness step runs stops at the snapshot of the
    backend's kept folded view, when the read may keep it across the apply
    (freshness.apply_bound; db.read_bound, sync/apply.py)."""
    bound = freshness.apply_bound() if args[1] else None
    if bound is None:
        return run(plpy, statement, TYPES, args)[0]
    db.read_bound.update(seen=bound[0], at=bound[1])
    try:
        return run(plpy, statement, TYPES, args)[0]
    finally:
        db.read_bound.update(seen=None, at=None)


def _typed(plpy, r, at_rest):
    """The Start of START's row ``r``."""
    # By position (a record's keyword path costs a read some microseconds), in
    # Start's field order.
    return Start(
        (r["generation"], r["version"]),
        _setting(plpy, FRESHNESS, r["freshness"]),
        (r["committed_rows"] or 0) + (len(r["ids"] or ()) if r["kept"] else 0),
        r["own_rows"] or 0,
        r["pending_mark"],
        _oids(r["visible"]),
        _oids(r["row_secured"]),
        r["registered"],
        _oids(r["edge_secured"]),
        _oids(r["edge_hidden"]),
        r["build_required"],
        r["done"],
        None if at_rest else _pending(r),
        False if at_rest else bool(r["from_seen"]),
        None if at_rest else r["fold_key"],
        None if at_rest else r["lineage"],
        None if at_rest else r["bound"],
        None if at_rest else r["bound_below"],
        None if at_rest else r["seen"],
        None if at_rest else r["seen_at"],
        None if at_rest else _keys(r),
        r["me"],
        _setting(plpy, TENANT, r["tenant"]),
        (r["table1"], r["table2"]),
        (r["node1"], r["node2"]),
        r["label_access"],
    )


_NONE = frozenset()


def _oids(values):
    """frozenset of the ints of an oid[] or int[] column (PL/Python gives them as
    ints); the one empty set for none, the usual answer."""
    return frozenset(values) if values else _NONE
