"""Read the registered source tables, as they are now, into temp tables.

Build and verify share this read so the graph and the check of it agree on
every key, property and edge. The whole read is one SQL statement, so it sees
one snapshot, and that snapshot is returned with it: a log row is reflected in
the read exactly when its transaction is visible in that snapshot. The statement
passes one generated SELECT per node table and per edge source direction to
graph._source_nodes / graph._source_edges (STABLE: they run it in the statement's
snapshot), so each source's query is planned on its own and planning grows
linearly with the registry (one CTE per source was reported to keep a 375-table
registry planning for minutes); the few largest tables are read by CTEs of the
same statement instead (read_statement).

Row-level security never filters this read: it runs with row_security = off
(unfiltered()), after graph._check_row_security has refused, with SQLSTATE
42501 and a hint, a caller that a policy would apply to. So build, verify,
maintenance's source check, reconcile and retry_failed see every row or fail
loudly, and a table owner's policy function never runs as the admin.

verify() and maintenance's source check read through read_each_table: the same
read, but a table whose read raises is left out and named instead of failing the
whole read (build still raises).

A registered table or column that no longer exists (dropped while the event
trigger graphsync_follow_drop was off) is refused up front (55000, naming it,
with a hint), never read through SQL generated for it.
"""

import contextlib
import hashlib

from graphsync import db, errors
from graphsync.sync import changes

NODE_COLUMNS = "table_oid oid, pk text, tenant text, properties jsonb"
EDGE_COLUMNS = ("edge_source_id int, src_oid oid, src_pk text, dst_oid oid, dst_pk text,"
                " weight float8, label text")


def _q(plpy, sql, types, args):
    return plpy.execute(plpy.prepare(sql, types), args)[0]["v"]


def _key(plpy, oid, cols, alias):
    """The key text of ``alias``, a row of table ``oid`` (graph._key_expr)."""
    return _q(plpy, "SELECT graph._key_expr($1, $2, $3) AS v", ["oid", "text[]", "text"],
              [oid, list(cols), alias])


def _object(plpy, oid, cols, alias):
    """The properties JSON of ``alias``, a row of table ``oid`` (graph._object_expr)."""
    return _q(plpy, "SELECT graph._object_expr($1, $2, $3, false) AS v",
              ["oid", "text[]", "text"], [oid, list(cols), alias])


def _captured(plpy, oid, col, alias):
    """The text a captured row holds for column ``col`` (graph._captured_expr): what
    replay reads for a tenant, an edge endpoint, a weight or a label."""
    return _q(plpy, "SELECT graph._captured_expr($1, $2, $3) AS v", ["oid", "text", "text"],
              [oid, col, alias])


# Registered tables and columns the catalog no longer has.
GONE = """
SELECT t.table_name, NULL::text AS column_name
FROM graph._captured_tables() AS t WHERE NOT t.present
UNION ALL
SELECT t.table_name, r.column_name
FROM graph._registered_column_roles() AS r
JOIN graph._captured_tables() AS t ON t.table_oid = r.table_oid AND t.present
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                  WHERE a.attrelid = r.table_oid AND a.attname = r.column_name
                    AND a.attnum > 0 AND NOT a.attisdropped)
ORDER BY 1, 2
"""


def check_present(plpy, purpose):
    """Raise 55000 naming the registered tables and columns that were dropped:
    the sources cannot be read until graph.reconcile() unregisters them."""
    gone = plpy.execute(GONE)
    if gone:
        raise errors.ObjectNotInPrerequisiteState(
            "%s cannot read the sources: %s no longer exist%s" % (
                purpose, ", ".join(r["table_name"] + ("." + r["column_name"] if r["column_name"] else "")
                                   for r in gone), "s" if len(gone) == 1 else ""),
            hint="Run graph.reconcile() to unregister what was dropped (the event triggers"
                 " graphsync_follow_ddl and graphsync_follow_drop do it as it happens when enabled).")


# The registered tables a source read takes (node and join tables that are tables
# still; ``$1``: these only, NULL: all) that the caller may SELECT (graph._lock_sources
# locks no other: graph._source_name refuses the caller those, and verify names them)
# and does not hold already as the read holds them (SHARE UPDATE EXCLUSIVE; a
# caller that locked them first locks none twice), in oid order. LOCK TABLE takes
# their partitions and children too. Each looked up in pg_class by its oid: pg_class
# filtered by the registry read every relation of the database
# (tests/test_operation_costs.py).
SOURCES = """
SELECT c.oid
FROM (SELECT DISTINCT t.table_oid FROM graph._captured_tables(NULL) AS t) AS t
JOIN LATERAL (SELECT k.oid FROM pg_catalog.pg_class AS k
              WHERE k.oid = t.table_oid AND k.relkind IN ('r', 'p') OFFSET 0) AS c ON true
WHERE ($1::pg_catalog.oid[] IS NULL OR c.oid = ANY ($1::pg_catalog.oid[]))
  AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks AS l
                  WHERE l.locktype = 'relation' AND l.relation = c.oid AND l.pid = pg_catalog.pg_backend_pid()
                    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                      WHERE d.datname = pg_catalog.current_database())
                    AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted)
ORDER BY c.oid
"""
# A source table's name now (none once it is dropped or no longer a table).
SOURCE_NAME = """
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid = $1 AND c.relkind IN ('r', 'p')
"""
# Lock a table and its partitions and children (ACCESS SHARE) by its name now: whether
# that name still named it when the lock was granted (NULL: dropped meanwhile).
LOCK_BY_OID = "SELECT graph._lock_by_oid($1, 'ACCESS SHARE', true) AS same"
# The lock a source read takes (graph._lock_sources: SHARE UPDATE EXCLUSIVE, with
# partitions and children), under the same bound: a writer of a table may hold it IN
# SHARE MODE (UPDATE lets it), which lets ACCESS SHARE through and holds that off.
HOLD = "SELECT graph._lock_sources($1, true)"
# How long a source read waits for one table's lock (the caller's lock_timeout when
# shorter): a table's owner, or any writer of it, may hold it locked in a
# transaction it leaves open.
SOURCE_LOCK_WAIT = "10s"
# (bound: what it waits, as the setting shows it, which the failure states: it said
# SOURCE_LOCK_WAIT whatever the caller's shorter lock_timeout made it wait)
LOCK_WAIT = """
SELECT pg_catalog.current_setting('lock_timeout') AS was,
       pg_catalog.set_config('lock_timeout', CASE
           WHEN pg_catalog.current_setting('lock_timeout') = '0'
             OR pg_catalog.current_setting('lock_timeout')::pg_catalog.interval > $1::pg_catalog.interval
           THEN $1 ELSE pg_catalog.current_setting('lock_timeout') END, true) AS bound
"""
# How many times a table renamed while its lock was waited for is locked again.
LOCK_TRIES = 3
LOCK_HINT = ("pg_locks shows who holds it (a writer's LOCK TABLE ... IN SHARE MODE, an open ALTER TABLE, CREATE"
             " INDEX, VACUUM or another admin's read of it); retry when that transaction has ended.")


# Lock order: the sources, then graph._sync_state's row (build, verify, reconcile,
# registrations, maintenance that will check or rebuild). A call that took the row
# first and only then finds it must read the sources (an apply that rebuilds a
# backlog, retry_failed, a read that applies) can meet one of those in a deadlock;
# PostgreSQL fails one side (40P01), whose work rolls back whole, and says so.
RACE_HINT = ("Nothing was lost: pending log rows stay pending and are applied by a later call. Retry the call; the"
             " other session's call went on.")
STATE_RACE = ("%s: lost a lock race for graph._sync_state with another session that holds it and waits for a"
              " source table this call locked (an apply that rebuilds, graph.retry_failed(), a read that applies)")


def lock_state(plpy, why, statement):
    """Run ``statement``, which takes graph._sync_state's row, after lock_sources: a
    deadlock with a session that took the row first is raised as 40P01 naming ``why``
    (the call) and what it raced, with a hint to retry (RACE_HINT), not PostgreSQL's
    bare 'deadlock detected'. The statement's rows."""
    try:
        with plpy.subtransaction():
            return plpy.execute(statement)
    except plpy.SPIError as exc:
        if getattr(exc, "sqlstate", None) != errors.DEADLOCK_DETECTED:
            raise
        raise errors.DeadlockDetected(STATE_RACE % why, hint=RACE_HINT) from None


class NotLocked(errors.ObjectNotInPrerequisiteState):
    """A source table lock_sources did not get (55000): ``why`` (the call that wanted
    it), ``what`` (which table, and why not), the hint. renamed(): the same failure
    said for another call -- a maintenance run that locked its sources for its source
    check and, the check not run, fails its rebuild with it (not waited for twice)."""

    def __init__(self, why, what, hint=None):
        super().__init__("%s: %s" % (why, what), hint=hint)
        self.why, self.what = why, what

    def renamed(self, why):
        return NotLocked(why, self.what, self.hint)


class _Renamed(Exception):
    """The name a lock was taken by named another relation, or none, once granted."""


def lock_sources(plpy, why, oids=None):
    """Lock the registered source tables (``oids``; None: every one) as reading them
    takes (ACCESS SHARE, then SHARE UPDATE EXCLUSIVE: HOLD; held to the end of the
    transaction), waiting at most SOURCE_LOCK_WAIT for each (the caller's lock_timeout
    when shorter: the failure states which), before ``why`` (graph.build(),
    graph.verify(), graph.reconcile(), maintenance's source check or rebuild, an
    apply's rebuild of a backlog: the call made, which every message names) reads
    them. A table not locked in time fails the call (NotLocked: 55000, naming it, with a hint); a
    cancel still stops it. Tables this transaction holds so already are not locked
    again.
    Waited for without bound, a writer holding its table IN SHARE MODE in a
    transaction left open kept the caller waiting, and whatever it held with it: the
    maintenance lock (every later run 'skipped'), or graph._sync_state's row, and with
    it every other session's replay (tests/test_writer_poison.py). So the callers that
    take that row lock their sources first (graph.build(), graph.verify(),
    graph.reconcile()), and only then the row: sources, then state, one order.
    LOCK TABLE takes a name, which PostgreSQL looks up again when a lock it waited
    for is granted: an owner holding its table locked who swapped the names of two
    schemas it owns had a run lock another role's table that then bore the name
    (tests/test_abuse_review44.py). A lock holds only when the name still names the
    table it was taken for; otherwise its subtransaction gives it back and the table
    is locked again under its name now (a dropped table is left out).
    A read locks its tables (``oids``) so before any of them is checked by
    graph._source_name: a read of several tables that checked one, then waited for
    another's lock, planned the first with what its owner created meanwhile
    (graph._lock_sources); after a caller that locked them all first, it locks none."""
    wanted = None if oids is None else sorted(set(int(o) for o in oids))
    for r in db.run(plpy, SOURCES, ["oid[]"], [wanted]):
        oid = r["oid"]
        for attempt in range(1, LOCK_TRIES + 1):
            name = None
            bound = SOURCE_LOCK_WAIT
            try:
                with plpy.subtransaction():
                    rows = db.run(plpy, SOURCE_NAME, ["oid"], [oid])
                    if not rows:
                        break  # dropped meanwhile: nothing to read
                    name = rows[0]["name"]
                    wait = plpy.execute(plpy.prepare(LOCK_WAIT, ["text"]), [SOURCE_LOCK_WAIT])[0]
                    was, bound = wait["was"], wait["bound"]
                    if not db.run(plpy, LOCK_BY_OID, ["oid"], [oid])[0]["same"]:
                        raise _Renamed()
                    db.run(plpy, HOLD, ["oid[]"], [[oid]])
                    plpy.execute(plpy.prepare("SELECT pg_catalog.set_config('lock_timeout', $1, true)", ["text"]),
                                 [was])
                break
            except _Renamed:
                pass
            except plpy.SPIError as exc:
                state = getattr(exc, "sqlstate", None)
                if state == errors.UNDEFINED_TABLE:
                    pass  # renamed away while waited for: its name now
                elif state == errors.DEADLOCK_DETECTED:
                    # typically: this transaction took graph._sync_state's row first (an
                    # apply that rebuilds, retry_failed, a read that applies) and a build()
                    # or verify() holding the table waits for it
                    raise errors.DeadlockDetected(
                        "%s: deadlock detected while locking table %s, which another session holds while it"
                        " waits for a lock this transaction holds (such as graph._sync_state's row, which an"
                        " apply, a retry or a read that applies takes before the sources)" % (why, name),
                        hint=RACE_HINT) from None
                elif state != errors.LOCK_TIMEOUT:
                    raise
                else:
                    raise NotLocked(why, "could not lock table %s within %s: another session holds a lock on it"
                                    % (name, bound), hint=LOCK_HINT) from None
            if attempt == LOCK_TRIES:
                raise NotLocked(why, "could not lock table %s: it was renamed while its lock was waited for" % name,
                                hint="Retry when the table's or its schema's name has settled.")


class _Newcomers(Exception):
    """Rolls back a subtransaction that took graph._sync_state's row and found tables
    registered that it had not locked: it runs again, locking them too."""


class _GiveBack(Exception):
    """Rolls back a subtransaction that waited for graph._sync_state's row: what it
    took (the sources' locks and what was done under them; or the row's lock alone,
    once free) is given back."""


class StateRowBusy(Exception):
    """Raised by hold_state_row within ``first`` of lock_sources_then_state: the row
    was not granted within the bound; handled as that call's own wait for the row
    running out (the sources' locks and ``first``'s work given back, the row waited for
    holding none, it all run again)."""


# What takes graph._sync_state's row ahead of a registry write (hold_state_row).
HOLD_STATE = "SELECT FROM graph._sync_state FOR UPDATE"


def hold_state_row(plpy, why):
    """Take graph._sync_state's row now, from ``first`` of lock_sources_then_state
    (reconcile's repair), before a statement that takes it without bound: a write of
    the registry (graph._node_tables, graph._edge_sources), whose statement trigger
    graph._bump_graph_version locks the row under the session's lock_timeout (none by
    default). Waited for so under the sources' locks, a session whose transaction
    applied and stayed open (an open graph.apply_sync(), a read that applied) kept
    every source table under SHARE UPDATE EXCLUSIVE for as long as it liked
    (tests/test_writer_poison.py). Here the wait is bounded as lock_sources_then_state
    bounds its own (SOURCE_LOCK_WAIT, the caller's lock_timeout when shorter; the
    caller's again afterwards); past it StateRowBusy, which lock_sources_then_state
    handles as its own wait running out. A deadlock is lock_state's 40P01."""
    was = plpy.execute(plpy.prepare(LOCK_WAIT, ["text"]), [SOURCE_LOCK_WAIT])[0]["was"]
    try:
        lock_state(plpy, why, HOLD_STATE)
    except plpy.SPIError as exc:
        if getattr(exc, "sqlstate", None) != errors.LOCK_TIMEOUT:
            raise
        raise StateRowBusy() from None
    finally:
        plpy.execute(plpy.prepare("SELECT pg_catalog.set_config('lock_timeout', $1, true)", ["text"]), [was])


def lock_sources_then_state(plpy, why, statement, first=None):
    """lock_sources(plpy, why), then ``first()`` when given (what the caller does under
    the sources' locks before it takes the row: reconcile's repair, whose DDL waits for
    the tables' writers), then ``statement`` (the one of the caller that takes
    graph._sync_state's row: FOR UPDATE, FOR SHARE), its wait for the row bounded as
    a source's (SOURCE_LOCK_WAIT); its rows. Past that bound the sources' locks are
    given back, and ``first``'s work with them (their subtransaction rolls back: it
    must be one that can run again), the row is waited for holding none of them (as
    long as the caller's lock_timeout lets it), and it all runs again. Waited for
    without bound while the sources were held, the row -- which a reader outside
    graph_admin holds from its read's apply to the end of a transaction it may leave
    open -- kept every source table under SHARE UPDATE EXCLUSIVE for as long as that
    reader liked: its owner's VACUUM, ANALYZE and CREATE INDEX waited, an admin's read
    of a join table failed (55P03) and so did maintenance's source check
    (tests/test_writer_poison.py). Only the row's wait is bounded so: what ``first``
    raises is raised (a lock it waits for, as long as the caller's lock_timeout lets
    it). ``first`` takes the row itself through hold_state_row before a statement
    that would wait for it without bound (a registry write): past the same bound, the
    same (StateRowBusy). A cancel still stops it; a deadlock with a session that took
    the row first is lock_state's 40P01.
    A table registered while the sources were locked (before the row was taken: a
    registration takes the row too) is not among them: the caller locked it later,
    in its read, holding the row, and a writer of it holding it IN SHARE MODE that
    then applied deadlocked with the caller (tests/test_lock_order_race.py). Once the
    row is held, such newcomers are looked for (SOURCES: none can come now); found,
    the row and the sources' locks are given back with ``first``'s work and it all
    runs again, the newcomers locked with the rest, at most LOCK_TRIES times in a row
    (then NotLocked, naming them)."""
    newcomers = 0
    while True:
        try:
            with plpy.subtransaction():
                lock_sources(plpy, why)
                if first is not None:
                    first()
                was = plpy.execute(plpy.prepare(LOCK_WAIT, ["text"]), [SOURCE_LOCK_WAIT])[0]["was"]
                try:
                    rows = lock_state(plpy, why, statement)
                except plpy.SPIError as exc:
                    if getattr(exc, "sqlstate", None) != errors.LOCK_TIMEOUT:
                        raise
                    raise _GiveBack() from None
                late = [r["oid"] for r in db.run(plpy, SOURCES, ["oid[]"], [None])]
                if late:
                    newcomers += 1
                    if newcomers >= LOCK_TRIES:
                        names = [n for o in late for n in (r["name"] for r in db.run(plpy, SOURCE_NAME, ["oid"], [o]))]
                        raise NotLocked(why, "could not lock its sources: tables were registered while they were"
                                        " being locked, %d times in a row (last: %s)" % (newcomers, ", ".join(names)),
                                        hint="Retry when the registrations have settled.")
                    raise _Newcomers()
                plpy.execute(plpy.prepare("SELECT pg_catalog.set_config('lock_timeout', $1, true)", ["text"]),
                             [was])
            return rows
        except _Newcomers:
            continue
        except (_GiveBack, StateRowBusy):  # (StateRowBusy: first's own wait for the row, hold_state_row)
            pass
        try:
            with plpy.subtransaction():
                plpy.execute(statement)  # the row, once free (the caller's lock_timeout: 55P03)
                raise _GiveBack()
        except _GiveBack:
            pass


def _table(plpy, oid):
    return _q(plpy, "SELECT graph._source_name($1) AS v", ["oid"], [oid])  # no view (graph._source_name)


def _node_select(plpy, node, safe=False):
    oid = node.table_oid
    tenant = _captured(plpy, oid, node.tenant_column, "t") if node.tenant_column else "NULL::text"
    return "SELECT %d::oid, (%s)::text, (%s)::text, (%s)::jsonb FROM %s AS t WHERE %s" % (
        oid, _key(plpy, oid, node.id_columns, "t"), tenant,
        _object(plpy, oid, node.property_columns, "t"), _table(plpy, oid),
        _filter(plpy, oid, node.row_filter, "t", safe))


def _filter(plpy, oid, row_filter, alias, safe=False):
    """Whether ``alias``, a row of table ``oid``, passes a registered row filter
    (graph._filter_expr), as capture evaluates it; 'true' without one. A filter that
    no longer checks against the table's columns fails the read (55000). ``safe``:
    a row it raises on fails it (passes)."""
    if row_filter is None:
        return "true"
    return passes(plpy, lambda a: _q(plpy, "SELECT graph._filter_expr($1, $2, $3, true) AS v",
                                     ["oid", "text", "text"], [oid, row_filter, a]), alias, safe, oid)


# The alias under which a second try hands a filter the row (passes).
SAFE_ROW = "_gs_safe_row"

# A build's evaluator of a filter in its second try: the rendered expression in a
# function of the session's temporary schema over the table's row type, with an
# exception block. PL/pgSQL keeps the expression's plan, where graph._row_passes
# parses and plans it again for every row: a build of 200,000 rows, each under a
# node and an edge filter, took 3 s with it and 30 s with graph._row_passes. A read
# makes none (it writes nothing, on a hot standby too). use_column: a column the
# filter reads is never taken for the parameter.
SAFE_FILTER = """
CREATE OR REPLACE FUNCTION pg_temp.%s(_gs_safe_row %s) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS %s
"""
SAFE_BODY = """#variable_conflict use_column
BEGIN
    RETURN %s;
EXCEPTION WHEN data_exception THEN
    RETURN false;
END"""


# Whether the filter raises a data exception on the row (_raising_filter: what a
# check that could not read a table says of it).
RAISES_BODY = """#variable_conflict use_column
BEGIN
    PERFORM %s;
    RETURN false;
EXCEPTION WHEN data_exception THEN
    RETURN true;
END"""


def _row_function(plpy, table, expr, body, prefix, alias):
    """A call on ``alias`` of a function of this session's temporary schema over the
    row type of ``table``, made per table and expression, that runs ``body`` with the
    filter's expression ``expr`` (over SAFE_ROW) in place of %s."""
    name = "%s_%d_%s" % (prefix, table, hashlib.sha256(expr.encode()).hexdigest()[:16])
    rowtype = _q(plpy, "SELECT pg_catalog.format('%s', $1::pg_catalog.regclass) AS v", ["oid"], [table])
    plpy.execute(SAFE_FILTER % (name, rowtype, plpy.quote_literal(body % expr)))
    return "pg_temp.%s(%s)" % (name, plpy.quote_ident(alias))


def passes(plpy, render, alias, safe, table=None):
    """SQL: whether ``alias`` passes a row filter, ``render(a)`` its expression over
    the row alias ``a``: that expression itself, or, ``safe``, the same expression
    evaluated row by row, a data exception counting as false (a division by zero, a
    text no integer, an overflow: a writer's value), as NULL does. The one way a
    build and a read take a row a filter raises on (retry_raising runs the statement
    again so); both evaluate the expression the first try rendered, as the caller,
    under the pinned search_path. ``table`` (the oid of the table ``alias`` reads: a
    build's, which may write its session's temporary schema): through a function made
    there (SAFE_FILTER), for its plan; without (a read's): graph._row_passes."""
    if not safe:
        return render(alias)
    expr = render(SAFE_ROW)
    if table is None:
        return "graph._row_passes(%s, %s)" % (plpy.quote_literal(expr), plpy.quote_ident(alias))
    return _row_function(plpy, table, expr, SAFE_BODY, "_gs_safe_filter", alias)


def _raising_filter(plpy, oid, row_filter, alias):
    """Whether ``row_filter`` raises a data exception on ``alias``, a row of table ``oid``."""
    expr = _q(plpy, "SELECT graph._filter_expr($1, $2, $3, true) AS v", ["oid", "text", "text"],
              [oid, row_filter, SAFE_ROW])
    return _row_function(plpy, oid, expr, RAISES_BODY, "_gs_raising_filter", alias)


def retry_raising(plpy, statement, notice=None, when=errors.is_data_exception):
    """``statement(False)``, or, when that raised a data exception (SQLSTATE class 22:
    a row filter may have raised on some row), ``statement(True)``, which evaluates
    each filter through passes(..., safe=True), so a row the filter raises on fails
    it rather than fail the whole statement (a build: every build while the row
    exists; a read over join rows: every reader their row-level security applies
    to). The first try pays nothing for it; the second a subtransaction per row of
    a filtered table (a read's, a statement too). ``notice``: said before the
    second try, with the error's first line for its %s. ``when``: which errors
    (plpy.SPIError) a second try takes other rows for (build.insert_nodes: a key
    too long for graph._nodes' index, errors.is_unfit_key, which the second try
    leaves out); any other raises."""
    try:
        return statement(False)
    except plpy.SPIError as exc:
        if not when(exc):
            raise
        if notice:
            plpy.notice(notice % errors.first_line(exc))
    return statement(True)


def _end(plpy, oid, cols, key_table, json_path, alias):
    """The keys (text[]) ``alias`` references through ``cols`` (graph._end_expr)."""
    return _q(plpy, "SELECT graph._end_expr($1, $2, $3, $4, $5) AS v",
              ["oid", "text[]", "oid", "text[]", "text"],
              [oid, list(cols), key_table, list(json_path) if json_path else None, alias])


# The type a weight column holds (a domain's base type): integer and float types
# render texts that float8 always takes.
WEIGHT_TYPE = """
SELECT graph._base_type(a.atttypid)::regtype::text AS t
FROM pg_catalog.pg_attribute AS a
WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
"""


def weight_expr(plpy, oid, col, alias):
    """The SQL expression of the weight an edge of ``alias`` (a row of table ``oid``)
    takes from its weight column ``col``: changes.weight_of in SQL, on the same text
    capture holds (NULL 1, NaN +Infinity, beyond float8 +-Infinity, closer to 0
    than float8 holds 0), so build, verify and replay agree, and a numeric weight
    float8 cannot hold never fails a build."""
    if col is None:
        return "1.0::float8"
    text = _captured(plpy, oid, col, alias)
    null = "%s.%s IS NULL" % (plpy.quote_ident(alias), plpy.quote_ident(col))
    rows = plpy.execute(plpy.prepare(WEIGHT_TYPE, ["oid", "text"]), [oid, col])
    kind = rows[0]["t"] if rows else None
    # The read runs with extra_float_digits = 3 (graph._output_settings): a float8's
    # text is exact, and an integer's text and the integer both round to the nearest
    # float8, so these take the value itself, not its text (a real's text does not).
    value = "%s.%s" % (plpy.quote_ident(alias), plpy.quote_ident(col))
    if kind in ("smallint", "integer", "bigint"):
        number = "(%s)::pg_catalog.float8" % value
    elif kind == "double precision":
        number = "coalesce(nullif((%s)::pg_catalog.float8, 'NaN'::float8), 'Infinity'::float8)" % value
    elif kind == "real":
        number = "coalesce(nullif((%s)::float8, 'NaN'::float8), 'Infinity'::float8)" % text
    else:
        number = (
            "(SELECT CASE WHEN n = 'NaN'::numeric OR n > %(max)s THEN 'Infinity'::float8"
            " WHEN n < -%(max)s THEN '-Infinity'::float8"
            " WHEN n <> 0 AND abs(n) < %(min)s THEN 0::float8 ELSE n::float8 END"
            " FROM (VALUES ((%(text)s)::numeric)) AS w (n))"
            % {"max": changes.FLOAT8_MAX, "min": changes.FLOAT8_MIN, "text": text})
    return "CASE WHEN %s THEN 1.0::float8 ELSE %s END" % (null, number)


def _edge_selects(plpy, reg, e, reader=False, keyed=None, guard=None, safe=False):
    # Every value is rendered as capture renders it (graph._captured_expr): an
    # endpoint as its target's key type renders it, no owner's cast ever.
    qi = plpy.quote_ident
    oid = e.carrier
    weight = weight_expr(plpy, oid, e.weight_column, "t")
    label = plpy.quote_literal(e.label)
    if e.label_column:
        label = "coalesce(%s, %s)" % (_captured(plpy, oid, e.label_column, "t"), label)
    # An endpoint is a plain column (NULL: no edge) or the keys graph._end_expr
    # computes (several columns, JSON), each a row of a lateral unnest.
    joins, where = [], ["pg_catalog.num_nulls(t.%s) = 0" % qi(c)
                        for c in (e.from_column, e.to_column if e.kind == "join" else None) if c]
    if e.kind == "fk":
        src = _key(plpy, oid, reg.nodes[e.from_table].id_columns, "t")
    elif e.from_columns is None:
        src = _captured(plpy, oid, e.from_column, "t")
    else:
        joins.append("CROSS JOIN LATERAL pg_catalog.unnest(%s) AS _gs_f (k)"
                     % _end(plpy, oid, e.from_columns, e.from_table, e.json_path, "t"))
        src = "_gs_f.k"
    if e.kind == "join" and e.to_columns is not None:
        joins.append("CROSS JOIN LATERAL pg_catalog.unnest(%s) AS _gs_t (k)"
                     % _end(plpy, oid, e.to_columns, e.to_table, None, "t"))
        dst = "_gs_t.k"
    elif e.kind == "join":
        dst = _captured(plpy, oid, e.to_column, "t")
    elif e.from_columns is not None:
        joins.append("CROSS JOIN LATERAL pg_catalog.unnest(%s) AS _gs_t (k)"
                     % _end(plpy, oid, e.from_columns, e.to_table, e.json_path, "t"))
        dst = "_gs_t.k"
    else:
        dst = _captured(plpy, oid, e.from_column, "t")
    if reader and e.row_filter is not None:
        # (a read cannot check the filter again as _filter does: graph._edge_filter_expr)
        where.append(passes(plpy, lambda a: _q(plpy, "SELECT graph._edge_filter_expr($1, $2) AS v",
                                               ["integer", "text"], [e.edge_source_id, a]), "t", safe))
    else:
        where.append(_filter(plpy, oid, e.row_filter, "t", safe))
    ends = [(e.from_table, src, e.to_table, dst, e.from_column, e.to_column)]
    if e.bidirectional:
        ends.append((e.to_table, dst, e.from_table, src, e.to_column, e.from_column))
    table = _table(plpy, oid)
    selects = []
    for i, (a, a_pk, b, b_pk, a_col, b_col) in enumerate(ends):
        cond = list(where) + ([guard] if guard else [])
        if keyed is not None:  # (side, first parameter): see edge_selects
            side, first = keyed
            cond.append("t.%s = ANY ($%d)" % (qi(a_col if side == "a" else b_col), first + i))
        selects.append(
            "SELECT %d, %d::oid, (%s)::text, %d::oid, (%s)::text, (%s)::float8, (%s)::text FROM %s AS t %s WHERE %s"
            % (e.edge_source_id, a, a_pk, b, b_pk, weight, label, table, " ".join(joins), " AND ".join(cond)))
    return selects


def edge_selects(plpy, reg, e, reader=False, keyed=None, guard=None, safe=False):
    """The SELECTs (one per direction the source stores) of the edges of edge
    source ``e`` over its carrying table, as build reads them: (edge source,
    from table, from key, to table, to key, weight, label). reads.edge_rows runs
    them as a reader (``reader``: the row filter as registration stored it,
    graph._edge_filter_expr, which makes no temporary table). ``keyed``: (side,
    first): only the rows whose column behind each select's end ``side`` ('a': its
    from end, 'b': its to end; a plain column of a join source) is one of the
    values of parameter ``first`` + the select's number, an array of the column's
    base type (a condition its index can answer under row-level security too: a
    cast in the condition is not leakproof, and the planner would not use the
    index before the table's policy). ``guard``: a condition (SQL, naming no column
    of the row) each select's rows must also meet: reads.edge_rows passes
    db.as_captured of the columns the selects read by name. ``safe``: a row the
    row filter raises on (a data exception) fails it (passes)."""
    return _edge_selects(plpy, reg, e, reader, keyed, guard, safe)


@contextlib.contextmanager
def unfiltered(plpy, table_oids, purpose):
    """Run the statements of the block with row_security = off, after refusing
    (42501, graph._check_row_security) a caller that row-level security applies
    to on any of ``table_oids``. The previous value comes back afterwards, also
    when the block fails, so nothing else the transaction reads loses its policies
    (graph._nodes has some)."""
    plpy.execute(plpy.prepare("SELECT graph._check_row_security($1, $2)", ["oid[]", "text"]),
                 [sorted(set(table_oids)), purpose])
    was = plpy.execute("SELECT pg_catalog.current_setting('row_security') AS v")[0]["v"]
    plpy.execute("SELECT pg_catalog.set_config('row_security', 'off', true)")
    try:
        yield
    finally:
        plpy.execute(plpy.prepare("SELECT pg_catalog.set_config('row_security', $1, true)",
                                  ["text"]), [was])


# The read: one statement, so one snapshot, running each source's own query (in
# registry order) through the STABLE functions that run it in that snapshot.
READ = """
WITH n AS (
    INSERT INTO pg_temp._gs_src_nodes
    SELECT r.* FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS q (query, i)
    CROSS JOIN LATERAL graph._source_nodes(q.query) AS r
), e AS (
    INSERT INTO pg_temp._gs_src_edges
    SELECT r.* FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS q (query, i)
    CROSS JOIN LATERAL graph._source_edges(q.query) AS r
)%s
SELECT pg_catalog.pg_current_snapshot()::text AS snap
"""

# A function returns its rows through a tuplestore, which costs a large table about
# half again the time of its read: the sources whose tables hold at least
# DIRECT_PAGES pages, DIRECT_SOURCES of them at most (the largest first), are read
# by CTEs of the same statement instead, so its planning stays small.
DIRECT_PAGES = 128
DIRECT_SOURCES = 16
SIZES = """SELECT t.oid, pg_catalog.pg_relation_size(t.oid) / pg_catalog.current_setting('block_size')::bigint AS pages
FROM pg_catalog.unnest($1::oid[]) AS t (oid)"""


def read_statement(plpy, node_queries, edge_queries):
    """(sql, node queries, edge queries) of the read: ``*_queries`` are (table oid,
    query) pairs; those of large tables become CTEs of the statement, the others
    are passed to it (READ's $1 and $2)."""
    pairs = [("n", oid, q) for oid, q in node_queries] + [("e", oid, q) for oid, q in edge_queries]
    pages = {int(r["oid"]): int(r["pages"] or 0)
             for r in db.run(plpy, SIZES, ["oid[]"], [sorted({oid for _, oid, _ in pairs})])}
    largest = sorted(range(len(pairs)), key=lambda i: -pages.get(pairs[i][1], 0))[:DIRECT_SOURCES]
    direct = {i for i in largest if pages.get(pairs[i][1], 0) >= DIRECT_PAGES}
    ctes = "".join(", d%d AS (INSERT INTO pg_temp.%s %s)" % (
        i, "_gs_src_nodes" if pairs[i][0] == "n" else "_gs_src_edges", pairs[i][2]) for i in sorted(direct))
    rest = [[q for i, (kind, _, q) in enumerate(pairs) if kind == k and i not in direct] for k in ("n", "e")]
    return READ % ctes, rest[0], rest[1]


def read_into_temp(plpy, reg, purpose="graph.build()", analyze=True):
    """Fill pg_temp._gs_src_nodes/_gs_src_edges from the sources; return the
    snapshot (text) the read saw, with this transaction's own xid counted as
    in progress so its later writes are still replayed. ``purpose`` names the
    caller (e.g. 'graph.build()') in the error a filtered read raises; ``analyze``:
    ANALYZE the temp tables after the read."""
    return read(plpy, reg, purpose, analyze)[0]


def read(plpy, reg, purpose="graph.build()", analyze=True, packed=None, safe=False):
    """read_into_temp, but the edge sources of ``packed`` ({edge_source_id: SELECT of
    one row}, sync/packed.py) are read by their SELECT in the same statement (so the
    same snapshot) instead of into _gs_src_edges; returns (snapshot, {edge_source_id:
    the row its SELECT returned}). ``safe``: a row a row filter raises on fails it
    (passes)."""
    packed = packed or {}
    check_present(plpy, purpose)
    lock_sources(plpy, purpose, list(reg.nodes) + [e.carrier for e in reg.edges])
    db.empty_temp_table(plpy, "_gs_src_nodes", NODE_COLUMNS)
    db.empty_temp_table(plpy, "_gs_src_edges", EDGE_COLUMNS)
    node_queries = [(n.table_oid, _node_select(plpy, n, safe)) for n in reg.nodes.values()]
    edge_queries = []
    for e in reg.edges:
        if e.edge_source_id not in packed:
            edge_queries.extend((e.carrier, q) for q in _edge_selects(plpy, reg, e, safe=safe))
    sql, nodes, edges = read_statement(plpy, node_queries, edge_queries)
    ids = sorted(packed)
    if ids:  # one CTE of one row per packed source, its columns beside the snapshot
        sql = sql.replace("\nSELECT pg_catalog.pg_current_snapshot()::text AS snap", "".join(
            ", p%d AS (%s)" % (i, packed[i]) for i in ids) + "\nSELECT pg_catalog.pg_current_snapshot()::text AS snap")
        sql = sql.rstrip() + "".join(", p%d.s AS p%d_s, p%d.d AS p%d_d, p%d.w AS p%d_w" % ((i,) * 6) for i in ids) \
            + " FROM " + " CROSS JOIN ".join("p%d" % i for i in ids)
    tables = list(reg.nodes) + [e.carrier for e in reg.edges]
    with unfiltered(plpy, tables, purpose):
        row = plpy.execute(plpy.prepare(sql, ["text[]", "text[]"]), [nodes, edges])[0]
    # Fresh temp tables have no statistics: without them the planner joins a million
    # edges to the nodes by nested loop (seconds instead of a fraction). A caller that
    # plans without nested loops passes analyze=False (build).
    if analyze:
        plpy.execute("ANALYZE pg_temp._gs_src_nodes, pg_temp._gs_src_edges")
    got = {i: {c: row["p%d_%s" % (i, c)] for c in "sdw"} for i in ids}
    return db.snapshot_excluding_self(plpy, row["snap"]), got


# The name each captured table is reported by (graph._captured_tables).
TABLE_NAMES = "SELECT t.table_oid, t.table_name FROM graph._captured_tables(NULL) AS t"

# Edges whose end is a row of a table that was not read: what they reach is unknown.
DROP_UNREAD_ENDS = """
DELETE FROM pg_temp._gs_src_edges AS e
WHERE e.src_oid = ANY ($1::oid[]) OR e.dst_oid = ANY ($1::oid[])
"""


class Unread:
    """The part of a source read that failed: the tables whose read raised (for
    each, its name, the error's SQLSTATE and message, the edge sources it carries)
    and, from them, what a comparison must leave out."""

    __slots__ = ("failures",)

    def __init__(self, failures=()):
        self.failures = list(failures)

    def __bool__(self):
        return bool(self.failures)

    @property
    def node_tables(self):
        """Node tables whose rows were not read (sorted oids)."""
        return sorted(f["table_oid"] for f in self.failures if f["node_table"])

    @property
    def edge_sources(self):
        """Edge sources whose carrying table was not read (sorted ids)."""
        return sorted(i for f in self.failures for i in f["edge_sources"])


def _failure(exc):
    """(SQLSTATE, message, hint) of an error a table's read raised, or None when it
    must not be caught (a cancel, a timeout, a termination: cancel means stop)."""
    if errors.is_cancel(exc):
        return None
    if isinstance(exc, errors.GraphsyncError):
        return exc.sqlstate or "P0001", exc.message, exc.hint
    return getattr(exc, "sqlstate", None) or "XX000", errors.spi_message(exc), errors.spi_detail_hint(exc)[1]


def filter_raised_on(plpy, reg, oid, purpose):
    """{"row_filter", "key"} for the first registered row filter of table ``oid`` (its
    node table's, then those of the edge sources it carries) that raises a data
    exception on one of its rows, with that row's key (None when the table is no node
    table); None when none raises. For a table whose check's read raised such an
    error (read_each_table), so what helps can be said: fix that row or the filter.
    Read as the caller and unfiltered as that read was: the key of a row the caller
    may read (row-level security that applies to it refuses the read first,
    unfiltered). Each filter is evaluated row by row, a subtransaction each, up to
    the first row it raises on: one such read of the table, only after it raised."""
    node = reg.nodes.get(oid)
    filters = ([node.row_filter] if node is not None and node.row_filter is not None else []) + [
        e.row_filter for e in reg.edges_carried_by(oid) if e.row_filter is not None]
    key = _key(plpy, oid, node.id_columns, "t") if node is not None else "NULL::text"
    for row_filter in dict.fromkeys(filters):
        sql = "SELECT %s AS k FROM %s AS t WHERE %s LIMIT 1" % (
            key, _table(plpy, oid), _raising_filter(plpy, oid, row_filter, "t"))
        with unfiltered(plpy, [oid], purpose):
            rows = plpy.execute(sql)
        if rows:
            return {"row_filter": row_filter, "key": rows[0]["k"]}
    return None


def _raised_on(plpy, reg, oid, table, purpose):
    """What a check that could not read ``table`` (oid ``oid``: a data exception)
    adds to its failure: the row filter that raised and the key of a row it raised on,
    and a hint saying what helps; nothing when no filter raises (another cause), or
    when looking raised (the error passed on as it is, but a cancel)."""
    try:
        with plpy.subtransaction():
            found = filter_raised_on(plpy, reg, oid, purpose)
    except plpy.SPIError as exc:
        if errors.is_cancel(exc):
            raise
        return {}
    if found is None:
        return {}
    row = "the row with key %s" % found["key"] if found["key"] is not None else "a row"
    found["hint"] = ("The row filter %s of %s raises on %s: fix the row or the filter, then run graph.build()."
                     " Until then a build takes the row as failing the filter and this check cannot read the"
                     " table; no retry applies a log row whose filter raised when it was captured, a build reads"
                     " the row again." % (found["row_filter"], table, row))
    return found


def read_each_table(plpy, reg, purpose):
    """Fill pg_temp._gs_src_nodes/_gs_src_edges from the sources, as
    read_into_temp does, but a table whose read raises (a row filter that raises on
    one of its rows, a policy that refuses the caller: anything but a cancel) is
    left out instead of failing the whole read; returns an Unread naming those
    tables (empty when every table was read).

    The read is first tried whole, one statement and one snapshot as build's. Only
    when it raises is each table read again on its own (its node query and the
    edge sources it carries, in one statement), each in a subtransaction, so one
    table's error rolls back that table's rows alone: as many subtransactions as
    tables, never one per row, and a full read at most twice. Each table is then
    read in its own snapshot. Edges with an end in a table not read are dropped
    from _gs_src_edges (their ends cannot be checked); a caller comparing with the
    graph leaves those tables' nodes and edges out (Unread)."""
    check_present(plpy, purpose)
    lock_sources(plpy, purpose, list(reg.nodes) + [e.carrier for e in reg.edges])
    try:
        with plpy.subtransaction():
            read_into_temp(plpy, reg, purpose)
        return Unread()
    except (plpy.SPIError, errors.GraphsyncError) as exc:
        if _failure(exc) is None:
            raise
    db.empty_temp_table(plpy, "_gs_src_nodes", NODE_COLUMNS)
    db.empty_temp_table(plpy, "_gs_src_edges", EDGE_COLUMNS)
    names = {int(r["table_oid"]): r["table_name"] for r in plpy.execute(TABLE_NAMES)}
    tables = list(dict.fromkeys(list(reg.nodes) + [e.carrier for e in reg.edges]))
    failures = []
    for oid in tables:
        node, carried = reg.nodes.get(oid), reg.edges_carried_by(oid)
        try:
            with plpy.subtransaction():
                node_queries = [(oid, _node_select(plpy, node))] if node is not None else []
                edge_queries = [(oid, q) for e in carried for q in _edge_selects(plpy, reg, e)]
                sql, nodes, edges = read_statement(plpy, node_queries, edge_queries)
                with unfiltered(plpy, [oid], purpose):
                    plpy.execute(plpy.prepare(sql, ["text[]", "text[]"]), [nodes, edges])
        except (plpy.SPIError, errors.GraphsyncError) as exc:
            got = _failure(exc)
            if got is None:
                raise
            failure = {"table_oid": oid, "table": names.get(oid, node.table_name if node else str(oid)),
                       "sqlstate": got[0], "message": got[1], "hint": got[2], "node_table": node is not None,
                       "edge_sources": [e.edge_source_id for e in carried]}
            if errors.is_data_exception(exc):
                failure.update(_raised_on(plpy, reg, oid, failure["table"], purpose))
            failures.append(failure)
    unread = Unread(failures)
    if unread.node_tables:
        plpy.execute(plpy.prepare(DROP_UNREAD_ENDS, ["oid[]"]), [unread.node_tables])
    plpy.execute("ANALYZE pg_temp._gs_src_nodes, pg_temp._gs_src_edges")
    return unread
