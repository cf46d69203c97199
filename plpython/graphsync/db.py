"""Talking SQL from PL/Python: kept plans, the admin check, and the snapshot text
helpers replay uses (and the snapshot a read's apply may stop at: read_bound).

Every area runs its statements through ``run`` (a plan prepared once per backend
and kept) or ``plpy.execute`` directly for one-off statements. Nothing here
imports another graphsync module but errors.
"""

from graphsync import errors

_plans = {}

# Statements run and plans prepared through run/plan in this backend: tests read
# them to show what a read costs in round trips to the executor (a repeated small
# read: one statement, no plan prepared).
COUNTS = {"statements": 0, "plans": 0}

ADMIN = """
SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') AS ok, current_user::text AS me,
       pg_catalog.pg_is_in_recovery() AS standby,
       pg_catalog.current_setting('transaction_read_only')::boolean AS read_only
"""

# What graph._require_admin says too (as 'graphsync: ...'), when an admin function cannot write.
STANDBY = "cannot change the graph on a hot standby"
STANDBY_HINT = ("Run graphsync's admin functions (apply_sync, build, maintenance, registration) on the primary:"
                " the standby's graph follows the primary's by replication, and reads here fold pending log"
                " rows in memory.")
# A time at or before every snapshot this transaction's statements take, by which
# apply and build date the snapshot they applied (graph._sync_state.done_at and
# target_at, migration 414): under READ COMMITTED each statement takes its own, after
# the transaction began (now()). Under REPEATABLE READ or SERIALIZABLE it is the
# transaction's, which SET TRANSACTION SNAPSHOT may have brought from a transaction
# that began long before: no time (NULL), and no read takes the graph dated so for
# recent (tests/test_reads_staleness.py). Every name qualified: a read's START writes it too
# (reads/start.py, _SEEN_AT), under the caller's search_path.
SNAPSHOT_TIME = ("CASE WHEN pg_catalog.current_setting('transaction_isolation') = 'read committed'"
                 " THEN pg_catalog.now() END")
# The same time as it reaches Python and goes back to the replay state (at_micros): a
# number of microseconds since 1970, not text -- text is rendered and read back in the
# session's DateStyle and TimeZone, which the caller of a read chooses: DateStyle SQL
# writes a zone's abbreviation, and TimeZone 'EST-10' (ten hours east, abbreviated EST)
# made a time read back fifteen hours late, and a plain reader's read dated the applied
# graph so (tests/test_reads_staleness.py).
SNAPSHOT_MICROS = "(pg_catalog.extract('epoch', %s) * 1000000)::pg_catalog.int8" % SNAPSHOT_TIME


def at_micros(param):
    """SQL for the time SNAPSHOT_MICROS gave, passed as parameter ``param`` (bigint)."""
    return "pg_catalog.to_timestamp(%s::pg_catalog.float8 / 1000000)" % param

# The output settings capture renders values under (graph._output_settings), as
# (setting, value) pairs; every graphsync function that renders source values to
# compare them with captured text pins them by its SET clauses (sql/output-settings.sql).
OUTPUT = (("datestyle", "ISO, YMD"), ("timezone", "UTC"), ("intervalstyle", "postgres"),
          ("extra_float_digits", "3"), ("bytea_output", "hex"), ("lc_monetary", "C"),
          ("standard_conforming_strings", "on"), ("array_nulls", "on"))
# Whether the session's output settings are those now (an SQL expression).
OUTPUT_PINNED = "(%s)" % " AND ".join("pg_catalog.current_setting('%s') = '%s'" % (k, v) for k, v in OUTPUT)


def may_select(oid, namespace=None):
    """SQL: whether the caller may read table ``oid``'s rows as a SELECT of it by name
    would -- the SELECT privilege on the table and USAGE on its schema (``namespace``:
    its pg_class.relnamespace where the statement joins pg_class; else looked up by
    oid, one index probe, where a join of the registry with pg_class was planned as a
    hash of all of pg_class): a role granted SELECT
    on a table of a schema it may not use cannot read the table, and has_table_privilege
    looks at the table's grants only (tests/test_abuse_readers44.py; migration 454 for
    the policies and views). Written out, not a SQL function: one that cannot be
    inlined cost a statement some 0.1 ms to plan and set up. NULL for a table dropped
    since, as has_table_privilege is."""
    if namespace is None:
        namespace = "(SELECT _gs_c.relnamespace FROM pg_catalog.pg_class AS _gs_c WHERE _gs_c.oid = %s)" % oid
    return ("(pg_catalog.has_table_privilege(%s, 'SELECT') AND pg_catalog.has_schema_privilege(%s, 'USAGE'))"
            % (oid, namespace))


def still_named(ns, rel, oid):
    """SQL making, for a statement a policy keeps (reads/row_policy.py TABLE,
    reads/label_policy.py LABELLED: its text names a table by schema and name, from
    the catalog), the condition that the table the statement reads is that table:
    false once the name means another, so that a kept statement reads no other
    table that took the name. Within one query a table owner's SECURITY DEFINER
    function may rename the table between two rows the policy asks about, and the
    asker rename a table of its own to the name: the statement then read the
    asker's rows as the table's (tests/test_reads_rls_scope.py). The name is a
    regclass literal, looked up by the same parse analysis that looks up the table
    the statement reads (a kept plan is analyzed again when the table is renamed),
    so the planner folds the test: it costs an execution nothing. A name that means
    no table fails the statement as its FROM does. ``ns``, ``rel``, ``oid``: SQL expressions of the
    schema's name, the table's name and its oid."""
    return ("pg_catalog.format('%%L::pg_catalog.regclass::pg_catalog.oid OPERATOR(pg_catalog.=) %%s::pg_catalog.oid',"
            " pg_catalog.format('%%I.%%I', %s, %s), %s)" % (ns, rel, oid))


def as_captured(oid, names):
    """SQL: the condition that each of ``names`` (an SQL expression of a text[] of
    column names of table ``oid``, an SQL expression of its oid) still names the
    column capture was generated for: the column graph._column_map records under
    that name, at its attribute number, is still there under that name. The
    registry names columns; a table's owner may rename a registered column and add
    another of its name, and where the schema-change follower could not follow it
    (a session outside graph_admin and the owner's: graph._write_capture) the
    registry kept the old name, which then meant the new column: the row policies
    asked it for the nodes' keys and labels, and showed a reader the nodes and
    labels of rows it cannot see (tests/test_reads_rls_rekeyed.py). False for a
    name the map does not hold. The column's name now is pg_identify_object_as_address's,
    which reads the catalog caches, not the statement's snapshot: a policy's
    statement runs in the snapshot of the query that asks, and a column renamed
    and replaced between two rows of that query (by a SECURITY DEFINER function it
    calls) is what a kept statement, analyzed again, reads, while a SELECT of
    pg_attribute in that snapshot still showed the column as it was. A few catalog
    cache lookups a name; every operator qualified: some of the statements it is
    part of run under the caller's search_path."""
    return ("NOT EXISTS (SELECT FROM pg_catalog.unnest(%s) AS u (name) WHERE NOT EXISTS ("
            "SELECT FROM graph._column_map AS m"
            " CROSS JOIN LATERAL pg_catalog.pg_identify_object_as_address("
            "1259::pg_catalog.oid, m.table_oid, m.attnum) AS i"  # (1259: pg_class; no quote in the text)
            " WHERE m.table_oid OPERATOR(pg_catalog.=) %s AND m.column_name OPERATOR(pg_catalog.=) u.name"
            " AND i.object_names[pg_catalog.cardinality(i.object_names)] OPERATOR(pg_catalog.=) u.name))"
            % (names, oid))


def as_captured_text(oid, names):
    """SQL making the text of ``as_captured`` for a statement a policy keeps (as
    ``still_named``): ``oid`` and ``names`` SQL expressions of the table's oid and
    the column names, written into the text as literals, so that the statement
    checks them each time it runs (a table owner's SECURITY DEFINER function may
    rename and replace a column between two rows the policy asks about)."""
    # (format's arguments in the order the text names them: the names first)
    return "pg_catalog.format('%s', %s, %s)" % (
        as_captured("%s::pg_catalog.oid", "%L::pg_catalog.text[]"), names, oid)


# The settings now, as they are set to OUTPUT (for this transaction) after they are read.
_PIN = "SELECT o.*, %s FROM (SELECT %s OFFSET 0) AS o" % (
    ", ".join("pg_catalog.set_config('%s', '%s', true) AS set_%d" % (k, v, i) for i, (k, v) in enumerate(OUTPUT)),
    ", ".join("pg_catalog.current_setting('%s') AS %s" % (k, k) for k, _ in OUTPUT))
_UNPIN = "SELECT %s" % ", ".join("pg_catalog.set_config('%s', $%d, true) AS set_%d" % (k, i + 1, i)
                                  for i, (k, _) in enumerate(OUTPUT))


class output_pinned:
    """Within the block, the session's output settings are OUTPUT, then what they
    were (``pinned``: they are OUTPUT already, nothing is set). For the statements a
    policy function runs as whoever reads a graph table, in its settings (called
    once per row, it has no SET clauses: graph._row_visible, graph._label_visible),
    which render source values as text to compare with what capture wrote: a
    reader's extra_float_digits -13 rendered its visible key 1.14 as the hidden
    row's key 1.1. A class, not contextlib.contextmanager: a first read loads this
    module, and contextlib would cost it an import."""

    def __init__(self, plpy, pinned):
        self.plpy, self.pinned, self.was = plpy, pinned, None

    def __enter__(self):
        if not self.pinned:
            r = run(self.plpy, _PIN)[0]
            self.was = [r[k] for k, _ in OUTPUT]

    def __exit__(self, *exc):
        if self.was is not None:
            run(self.plpy, _UNPIN, ["text"] * len(OUTPUT), self.was)
            self.was = None


# A statement's text wrapped so that its one row also says whether it ran in OUTPUT
# (run_in_output): ``%s`` the statement.
SAYS_PINNED = "SELECT %s AS pinned, s.* FROM (%%s) AS s" % OUTPUT_PINNED


def run_in_output(plpy, pinned, sql, types=(), args=()):
    """(the one row of ``sql``, whether the settings were OUTPUT): ``sql`` run with
    its values rendered as capture renders them -- in the caller's settings when they
    are OUTPUT (``pinned``), else with those pinned around it (output_pinned). ``sql``
    says whether it ran in OUTPUT (its column ``pinned``: SAYS_PINNED): the caller's
    own code may set them between two questions of one query (a function called for
    each row), so a statement that did not runs again pinned, and the caller keeps
    the answer for its later ones. For the statements the row policies keep
    (reads/row_policy.py, reads/label_policy.py): a query's first word on the
    settings, kept for the query, made a reader's extra_float_digits -13, set after
    its first row, render the visible key 1.14 as the hidden row's 1.1
    (tests/test_reads_output_settings.py)."""
    with output_pinned(plpy, pinned):
        r = run(plpy, sql, types, args)[0]
    if r["pinned"]:
        return r, pinned
    with output_pinned(plpy, False):
        return run(plpy, sql, types, args)[0], False


_SCANS = ("SELECT pg_catalog.current_setting('enable_seqscan') AS s,"
          " pg_catalog.current_setting('enable_bitmapscan') AS b, pg_catalog.current_setting('jit') AS j")
_SET_SCANS = ("SELECT pg_catalog.set_config('enable_seqscan', $1, true),"
              " pg_catalog.set_config('enable_bitmapscan', $2, true), pg_catalog.set_config('jit', $3, true)")


class no_seqscan:
    """Within the block, enable_seqscan off (and enable_bitmapscan with ``bitmaps``),
    and JIT off, then what they were: for statements that must find their rows
    through an index whatever the statistics say (replay's, sync/apply.py; a column
    rename's log rewrite, ops/follow.py). JIT with them: a plan that must still scan
    a table (the rename's, of a log with no row to find) costs the planner some
    10^10, past every JIT threshold, and was compiled for at each run (0.6 s of an
    owner's ALTER TABLE: tests/test_no_jit.py). A class, as output_pinned is."""

    def __init__(self, plpy, bitmaps=False):
        self.plpy, self.bitmaps, self.was = plpy, bitmaps, None

    def __enter__(self):
        r = run(self.plpy, _SCANS)[0]
        self.was = (r["s"], r["b"], r["j"])
        run(self.plpy, _SET_SCANS, ["text", "text", "text"], ["off", "off" if self.bitmaps else r["b"], "off"])

    def __exit__(self, *exc):
        run(self.plpy, _SET_SCANS, ["text", "text", "text"], list(self.was))


# Who owns the relation of that name in this session's temporary schema (no row: none
# is there), and whether it is the role running the call.
TEMP_OWNER = """
SELECT c.relowner::pg_catalog.regrole::pg_catalog.text AS owner,
       c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) AS own
FROM pg_catalog.pg_class AS c WHERE c.oid = pg_catalog.to_regclass($1)
"""
READ_ONLY = "cannot change the graph in a read-only transaction"
READ_ONLY_HINT = "Run it in a read-write transaction."


# Plans kept at most: past that, every one is let go (and made again when asked). The
# statements are graphsync's own, but some are made per argument set a reader chooses
# (reads/edge_rows.py: one per set of secured join tables followed): 189 reads with
# new sets of six kept 186 plans, 70 MB.
KEPT_PLANS = 512


def plan(plpy, sql, types=()):
    """A prepared plan of ``sql``, kept for the life of the backend (KEPT_PLANS)."""
    key = (sql, tuple(types))
    p = _plans.get(key)
    if p is None:
        if len(_plans) >= KEPT_PLANS:
            _plans.clear()
        p = _plans[key] = plpy.prepare(sql, list(types))
        COUNTS["plans"] += 1
    return p


def run(plpy, sql, types=(), args=()):
    """Execute ``sql`` through a kept plan."""
    COUNTS["statements"] += 1
    return plpy.execute(plan(plpy, sql, types), list(args))


# Requests as_definer hands graph._run_as_definer: request number -> [fn, args,
# result, exception]. Only this backend's Python writes them, so SQL can name one but
# never make one (serve).
_requests = {}
_last_request = 0

RUN_AS_DEFINER = "SELECT graph._run_as_definer($1)"


def as_definer(plpy, fn, *args):
    """``fn(*args)``, run as graphsync's definer role (graph_sync) through
    graph._run_as_definer: what it returns or raises, as if called here.

    For the reads' loads of the graph's structural tables (graph._csr,
    graph._edge_overlay, graph._edge_cuts), which hold the edges and weights of every
    row and so are not PUBLIC's: the rows go into this backend's memory and never
    back to SQL, and the read drops what its caller may not see. ``fn`` must run no
    statement that evaluates code a table owner controls (a source's policies,
    triggers, operators): it runs with graph_sync's rights."""
    global _last_request
    _last_request += 1
    request = _last_request
    box = _requests[request] = [fn, args, None, None]
    try:
        run(plpy, RUN_AS_DEFINER, ["bigint"], [request])
    finally:
        _requests.pop(request, None)
    if box[3] is not None:
        raise box[3]
    return box[2]


@errors.entry_point
def serve(plpy, request):
    """Run request ``request`` of as_definer (graph._run_as_definer's body): its
    result or exception is kept for as_definer. A request this backend's Python did
    not make (a direct call) is refused: 42501."""
    box = _requests.get(request)
    if box is None or box[0] is None:  # (none made, or run already)
        raise errors.InsufficientPrivilege("graph._run_as_definer is internal: only graphsync's reads call it")
    fn, box[0] = box[0], None
    try:
        box[2] = fn(*box[1])
    except BaseException as exc:  # noqa: BLE001 (handed back to as_definer, which raises it)
        box[3] = exc


def empty_temp_table(plpy, name, columns):
    """pg_temp.``name`` (``columns``: a constant of the caller's), empty and dropped at
    commit: created if this transaction has none yet, else truncated, so a second
    use in one transaction (maintenance runs verify, then the source check) sends
    the caller no NOTICE that it already exists. Only a table the role running the
    call owns is truncated and written again: every role that runs SQL in a session
    may create temporary tables in it (a table owner's SECURITY DEFINER function a
    superuser calls), put its own triggers on one and open it to anyone, and they
    ran as the caller who wrote it next (a superuser's build() made the owner one).
    One another role made is refused (42501) untouched."""
    found = run(plpy, TEMP_OWNER, ["text"], ["pg_temp." + name])
    if not found:
        plpy.execute("CREATE TEMP TABLE %s (%s) ON COMMIT DROP" % (name, columns))
    elif found[0]["own"]:
        plpy.execute("TRUNCATE pg_temp.%s" % name)
    else:
        raise errors.InsufficientPrivilege(
            "pg_temp.%s was made by role %s in this session: it is not written (its triggers would run as %s)"
            % (name, found[0]["owner"], run(plpy, "SELECT current_user AS u")[0]["u"]),
            hint="Reconnect (temporary tables end with the session), or drop it after checking what it is.")


def require_admin(plpy):
    """Raise 42501 unless the caller is a superuser or a member of graph_admin, then
    25006 on a hot standby or in a read-only transaction (every admin function
    writes the graph, the log or its job rows): the check graph._require_admin
    makes for the SQL functions, for the Python ones."""
    r = run(plpy, ADMIN)[0]
    if not r["ok"]:
        raise errors.InsufficientPrivilege("permission denied: %s is not a member of graph_admin" % r["me"])
    if r["standby"]:
        raise errors.ReadOnlySqlTransaction(STANDBY, hint=STANDBY_HINT)
    if r["read_only"]:
        raise errors.ReadOnlySqlTransaction(READ_ONLY, hint=READ_ONLY_HINT)


def xmin(snapshot):
    """The xmin of a pg_snapshot's text form (xmin:xmax:xip)."""
    return int(snapshot.split(":", 1)[0])


def xmax(snapshot):
    """The xmax of a pg_snapshot's text form (xmin:xmax:xip)."""
    return int(snapshot.split(":")[1])


def xip(snapshot):
    """The xids a pg_snapshot's text form (xmin:xmax:xip) names running, as a list."""
    return [int(x) for x in snapshot.split(":")[2].split(",") if x]


def exclude_xid(snapshot, xid):
    """``snapshot`` (xmin:xmax:xip text) with ``xid`` counted as in progress."""
    low, high, xip = snapshot.split(":")
    if xid >= int(high):
        return snapshot
    xips = sorted({int(x) for x in xip.split(",") if x} | {xid})
    return "%d:%s:%s" % (min(int(low), xid), high, ",".join(map(str, xips)))


def snapshot_within(inner, outer):
    """Whether every transaction ``inner`` sees is one ``outer`` sees (pg_snapshot
    texts xmin:xmax:xip): pg_visible_in_snapshot(x, inner) implies it for ``outer``,
    for every xid x. An xid is visible in a snapshot when it is below its xmax and
    not in its xip. Exact, whatever the xids' statuses: a snapshot taken after
    another (their xids running then still running, or named: listing_running)
    holds it; it says False wherever some xid would tell them apart."""
    _, in_high, in_xip = inner.split(":")
    _, out_high, out_xip = outer.split(":")
    in_high, out_high = int(in_high), int(out_high)
    hidden = {int(x) for x in in_xip.split(",") if x}
    # the xids outer does not see below inner's xmax: its xip, and its xmax on
    if in_high > out_high and (in_high - out_high > len(hidden)
                               or any(x not in hidden for x in range(out_high, in_high))):
        return False
    return all(int(x) in hidden for x in out_xip.split(",") if x and int(x) < in_high)


def listing_running(snapshot, fresh, named):
    """``snapshot`` (xmin:xmax:xip text) with its xmax raised to ``fresh``, an xid
    assigned after it was taken, and the xids of ``named`` from its xmax up listed in
    its xip. A snapshot's xip names only the running transactions below its xmax (the
    last completed xid + 1): one that had a higher xid when it was taken is running
    but unnamed, and its log rows can have lower ids than rows the snapshot sees.
    ``named`` holds every xid from the old xmax up to ``fresh`` that can hold a log
    row (complete_snapshot): for those, which rows the snapshot sees does not change
    (an xid at or above xmax was not visible either); each is now named in its xip."""
    low, high, xip = snapshot.split(":")
    xips = {int(x) for x in xip.split(",") if x} | {x for x in named if int(high) <= x < fresh}
    return "%s:%d:%s" % (low, max(int(high), fresh), ",".join(map(str, sorted(xips))))


# An xid assigned now: the row version a subtransaction writes carries the
# subtransaction's own xid as xmin (32 bits; the top-level xid8 gives its epoch).
FRESH_XID = """UPDATE graph._sync_state SET last_apply_at = last_apply_at
RETURNING xmin::text AS sub, pg_catalog.pg_current_xact_id()::text AS top"""
# The xids (32 bits) whose transactions run now in other backends (or prepared). A
# backend's top-level xid is in the process array (pg_stat_get_activity's backend_xid,
# shown to every role) from the moment it is assigned; the transaction takes its xid's
# lock only after that, so pg_locks alone missed a transaction between the two, whose
# xid NAMED then took for one that holds no log row: its rows were never applied. A
# prepared transaction is in no backend and holds its xid's lock (pg_locks; so does a
# subtransaction until it ends or commits into its parent). Read after the xid that
# bounds them was assigned (every xid below it was in the process array by then) and
# before the statuses (NAMED), so that a transaction ending in between is seen by one
# of the two; a backend's activity is read afresh (CLEAR: the statement would
# otherwise see what an earlier one of this transaction read).
CLEAR = "SELECT pg_catalog.pg_stat_clear_snapshot()"
RUNNING = """SELECT coalesce(pg_catalog.array_agg(DISTINCT r.xid), '{}') AS xids
FROM (SELECT l.transactionid::text::bigint AS xid
      FROM pg_catalog.pg_locks AS l
      WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
        AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
      UNION ALL
      SELECT a.backend_xid::text::bigint
      FROM pg_catalog.pg_stat_get_activity(NULL) AS a
      WHERE a.backend_xid IS NOT NULL AND a.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()) AS r"""
# The xids from $1 up to $2 that can hold a log row: this transaction ($3), the ones
# running now ($4, 32 bits) and the ones committed. Not an aborted one, nor a
# subtransaction that committed into its running parent (a log row carries its
# top-level xid): this transaction's own, which ran before the snapshot was
# completed, would otherwise be named and, committed with it, make every read
# look for pending rows until the next apply.
NAMED = """SELECT coalesce(pg_catalog.array_agg(x), '{}') AS named
FROM pg_catalog.generate_series($1::bigint, $2::bigint - 1) AS x
WHERE x = $3 OR x % 4294967296 = ANY ($4::bigint[])
   OR pg_catalog.pg_xact_status(x::text::pg_catalog.xid8) = 'committed'"""


# The snapshot the apply a read runs may stop at (sync/apply.py, _new_pass), set by the
# read around its START (reads/start.py, _busy), in this backend's interpreter, where no
# caller's code runs: "seen", a snapshot's text taken by an earlier statement of this
# backend (the kept folded view's), and "at", a time at or before it was taken, in
# microseconds (None: none known, SNAPSHOT_MICROS).
read_bound = {"seen": None, "at": None}

# The graphsync read running in this backend (reads.api.stable): [the role it reads
# as, named by its START (None before), its number], or None. reads.statement_cache
# gives all its queries one epoch for that role, so that they share what the
# policies of graph._nodes and graph._labels asked (here, not there: a read without
# a policy to ask loads no statement_cache).
running_read = None
_reads_begun = 0


def begin_read():
    """A graphsync read begins. Returns what end_read restores (reads within reads nest)."""
    global running_read, _reads_begun
    before = running_read
    _reads_begun += 1
    running_read = [None, _reads_begun]
    return before


def read_by(role):
    """The running read reads as ``role`` (its START's current_user; the first call names it)."""
    if running_read is not None and running_read[0] is None:
        running_read[0] = role


def end_read(before):
    """The read begin_read began ends; ``before`` is what begin_read returned."""
    global running_read
    running_read = before


def complete_snapshot(plpy, snapshot):
    """``snapshot`` (taken by this transaction, or earlier by this backend: see
    read_bound; this transaction's own xid counted as in progress:
    exclude_xid) as the replay cursor keeps it (graph._sync_state.done_snapshot):
    every transaction it does not see that began before it and can hold a log row is
    named in its xip (listing_running), so that the pending rows are found by id
    above the rows it saw or by the xids its xip names (graph._pending_log) -- a
    transaction with an xid above the snapshot's xmax, running when it was taken,
    can hold lower log ids than rows it saw. The xid that bounds them is assigned
    here, after the snapshot, in a subtransaction of its own (one row version of
    graph._sync_state). Returns (snapshot, top, below): top is this transaction's
    xid (the caller's settled xid, graph._sync_state.settled_xid, migration 370, when
    it has written no log row so far: its rows to come take ids above every row the
    snapshot sees; sync/apply.py asks the log's xid index, PASS_START, which a plan
    kept from when the log was empty did not: tests/test_operation_costs.py); below
    is the snapshot's xmax as it was taken (graph._sync_state.done_seen_below,
    migration 423). Every xid from below up that the completed snapshot counts as
    visible holds no log row (NAMED names each one that can), so as to the log rows
    it sees, it is seen_below(snapshot, below)."""
    with plpy.subtransaction():
        r = run(plpy, FRESH_XID)[0]
    top, sub = int(r["top"]), int(r["sub"])
    fresh = (top >> 32 << 32) | sub
    if fresh < top:  # the 32-bit counter wrapped between the two: the next epoch
        fresh += 1 << 32
    high = int(snapshot.split(":")[1])
    named = []
    if fresh > high:
        run(plpy, CLEAR)
        running = run(plpy, RUNNING)[0]["xids"]
        named = run(plpy, NAMED, ["bigint", "bigint", "bigint", "bigint[]"], [high, fresh, top, running])[0]["named"]
    return listing_running(exclude_xid(snapshot, top), fresh, named), top, high


def seen_below(snapshot, below):
    """``snapshot`` (xmin:xmax:xip text) seeing only the xids below ``below`` that it
    sees (None: all of them). A snapshot complete_snapshot completed counts as visible
    the xids from its xmax as taken (below) up to its new xmax that can hold no log
    row -- this transaction's own subtransactions, rolled-back ones -- and names the
    others in its xip: cut at below, it sees the same log rows, and no transaction a
    snapshot taken before those xids began (a reader's) does not see for that reason
    (reads/freshness.py, rekeyed)."""
    if below is None:
        return snapshot
    low, high, xip = snapshot.split(":")
    if int(high) <= below:
        return snapshot
    kept = [x for x in xip.split(",") if x and int(x) < below]
    return "%s:%d:%s" % (low, below, ",".join(kept))


def snapshot_excluding_self(plpy, snapshot):
    """``snapshot`` with the calling transaction's own xid (when it has one) counted
    as in progress, so the caller's later writes are still replayed."""
    me = plpy.execute("SELECT pg_current_xact_id_if_assigned()::text AS x")[0]["x"]
    return exclude_xid(snapshot, int(me)) if me is not None else snapshot
