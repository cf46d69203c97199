"""graph.reconcile(): repair schema drift and bring the graph back to equal its
sources.

graph._schema_drift() (SQL, read through ops/drift.py) finds the drift; this
module repairs it:

- table dropped: unregister it, and the edge sources that use it
- column dropped: unregister a property or filter column; drop a weight or
  label column from its edge source (default weight and label); remove an
  edge source whose endpoint column is gone; a dropped tenant column leaves
  the table without tenants (choosing another tenant column is left to a
  person: register the table again)
- column renamed, partitions or children changed, table renamed: followed as
  the event trigger follows them (ops/follow.py), first, for every captured
  table, so a change made while the event trigger was off is a rename, not a
  drop; a table whose following had failed is followed again
- key changed: re-key the table to its current key (graph._table_key) unless
  edge sources reference its key values (then re-register by hand)
- column retyped or replaced: rebuild
- capture trigger disabled, missing, an impostor (graphsync's name, another
  function) or a stray one calling a capture function: graph._install_capture
  puts graphsync's own trigger in place, enabled ALWAYS (triggers are
  recognised by their function, graph._trigger_states)

These repairs run under the sources' locks, before graph._sync_state's row is
taken (a registration's order: their trigger DDL waits for the tables' writers,
who may apply meanwhile, each table at most 5 s, graph._install_capture_bounded: past it the repair
rolls back with the sources' locks and the run is 'failed', naming the table, 55000
as a source not locked in time); then apply pending sync, compare with the sources (graph.verify()) and
rebuild when anything differs, so writes made while triggers were off or with
session_replication_role = replica reach the graph. A table the comparison
could not read keeps the rebuild from running, as in maintenance, unless each
such table failed only on rows its row filter raised a data exception on, which
the rebuild takes as failing the filter (verify.read_past). The job row records the
differences found (sync_health().last_verify_differences); the run is
'partial', saying what, when drift is left for a person or differences remain
after the rebuild, or when it lost a deadlock (40P01: a lock race; the phase it lost
in rolled back, nothing is lost, run it again: one row 'lost_lock_race' after what the
phases before it did). The settings it reads (through apply_sync and
graph._rebuild_reasons) are checked before it starts: a bad value is an error
(22023), not a failed run.

A repair that writes the registry (a column unregistered, a table re-keyed) takes
graph._sync_state's row before that write, its wait bounded as the run's own for
it (Repairs.write, sources.hold_state_row): the registry's statement trigger
(graph._bump_graph_version) waited for the row without bound, holding every
source's lock, as long as another session's transaction that applied stayed open
(tests/test_writer_poison.py).
"""

from graphsync import db, errors, settings
from graphsync.ops import drift, follow, jobs, verify
from graphsync.sync import apply, build, notify, sources

# graphsync's event triggers as install creates them (sql/functions/graph._follow_ddl.sql,
# graph._follow_subscription.sql; graph._schema_drift quotes the same statements):
# what reconcile() run by a superuser creates when one is missing.
EVENT_TRIGGERS = {
    "graphsync_follow_ddl":
        "CREATE EVENT TRIGGER graphsync_follow_ddl ON ddl_command_end EXECUTE FUNCTION graph._follow_ddl()",
    "graphsync_follow_drop":
        "CREATE EVENT TRIGGER graphsync_follow_drop ON sql_drop EXECUTE FUNCTION graph._follow_ddl()",
    "graphsync_follow_subscription":
        "CREATE EVENT TRIGGER graphsync_follow_subscription ON ddl_command_end WHEN TAG IN"
        " ('CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION', 'DROP SUBSCRIPTION')"
        " EXECUTE FUNCTION graph._follow_subscription()",
}

# What a run that lost a deadlock (40P01) records and returns (%s: the error's first line).
LOST_RACE = ("lost a lock race with another session (%s); nothing was lost: what the run repaired or applied"
             " before stands and pending log rows stay pending; run graph.reconcile() again")

# What graph._install_capture_bounded's 55P03 starts with (a repair's trigger DDL that
# waited its bound for the table's writers: Repairs.install_capture says the rest).
BOUNDED_BY = "graphsync "

# The call a run is, as its messages name it: its apply's rebuild of a backlog
# ("graph.reconcile()'s rebuild of a backlog"), its source check and its rebuild
# ("graph.reconcile()'s source check", "...'s rebuild"; they named graph.apply_sync(),
# graph.verify() and graph.build(), calls nobody made: tests/test_maintenance_locks.py).
CALL = "graph.reconcile()"

SETTINGS_READ = ("graph.sync_batch_size", "graph.edge_buffer_size", "graph.sync_error_policy",
                 "graph.rebuild_overlay_fraction", "graph.rebuild_tombstone_fraction")


class Repairs:
    """What reconcile changed: rows (action, table_name, items, detail)."""

    def __init__(self, plpy, why=None):
        self.plpy = plpy
        # the call whose repair this is (graph.reconcile()): its registry writes take
        # graph._sync_state's row first, bounded (sources.hold_state_row); None (the
        # event trigger's follower) leaves them to the registry's trigger
        self.why = why
        self.kept = 0  # how many actions stand (a phase that rolled back: not its own)
        self.given = {}  # (level, message, hint) -> how many times a client was given it
        self.reset()

    def reset(self):
        """Nothing repaired (again: a repair that ran under the sources' locks and was
        rolled back with them, sources.lock_sources_then_state)."""
        self.actions = []
        self.tables = set()  # tables whose capture must be regenerated
        self.registration_changed = False
        self.unrepaired = []
        self.said = {}  # (level, message, hint) -> how many times this repair said it
        self.state_held = False  # graph._sync_state's row taken by this repair (hold_state_row)
        self.renames_marked = False  # follow.follow_tables' mark: its registry writes spare the row

    def say(self, level, message, hint=None):
        """A WARNING or NOTICE (``level``) of the repair, given once: a repair that
        runs again (reset: its first run rolled back with the sources' locks when the
        wait for graph._sync_state's row ran out) gives a client only what its earlier
        runs did not (each message as many times as the run that says it most), where
        every run gave its own (tests/test_event_triggers.py)."""
        key = (level, message, hint)
        self.said[key] = self.said.get(key, 0) + 1
        if self.said[key] <= self.given.get(key, 0):
            return
        self.given[key] = self.said[key]
        if hint is None:
            getattr(self.plpy, level)(message)
        else:
            getattr(self.plpy, level)(message, hint=hint)

    def add(self, action, table_name, items, detail):
        self.actions.append((action, table_name, items, detail))

    def q(self, sql, types=(), args=()):
        """A statement of the repair or the follower that writes no registry table (a
        read; the follower's records and marks)."""
        return self.plpy.execute(self.plpy.prepare(sql, list(types)), list(args))

    def write(self, sql, types=(), args=()):
        """A write of the registry (graph._node_tables, graph._edge_sources), whose
        statement trigger graph._bump_graph_version takes graph._sync_state's row
        without bound: for reconcile's repair (``why``) the row is taken first, its
        wait bounded (sources.hold_state_row, StateRowBusy past it), rather than waited
        for there holding the sources' locks; unless the follower's mark spares the
        row its writes (renames_marked)."""
        if self.why is not None and not self.state_held and not self.renames_marked:
            sources.hold_state_row(self.plpy, self.why)
            self.state_held = True
        return self.q(sql, types, args)

    def remove_edge_sources(self, where, types, args, why):
        for e in self.write("DELETE FROM graph._edge_sources WHERE " + where + " RETURNING edge_source_id,"
                            " label, coalesce(via_table, from_table) AS carrier,"
                            " coalesce((SELECT n.table_name FROM graph._node_tables AS n"
                            " WHERE n.table_oid = from_table), from_table::regclass::text) AS from_name",
                            types, args):
            self.tables.add(int(e["carrier"]))
            self.registration_changed = True
            self.add("removed_edge_source", e["from_name"], 1,
                     "edge source %d (%s): %s" % (e["edge_source_id"], e["label"], why))

    def table_dropped(self, d):
        oid = d["table_oid"]
        self.remove_edge_sources("$1 IN (from_table, to_table) OR via_table = $1", ["oid"], [oid],
                                 "table %s was dropped" % d["table_name"])
        if self.write("DELETE FROM graph._node_tables WHERE table_oid = $1 RETURNING 1", ["oid"], [oid]):
            self.add("unregistered_table", d["table_name"], 1, "the table was dropped")
            self.registration_changed = True
        self.tables.add(int(oid))

    def column_dropped(self, d):
        oid, col, name = d["table_oid"], d["column_name"], d["table_name"]
        roles = set(self.q("SELECT roles FROM graph._registered_column_roles()"
                           " WHERE table_oid = $1 AND column_name = $2",
                           ["oid", "text"], [oid, col])[0]["roles"])
        for role, field in (("property", "columns"), ("filter", "filter_columns")):
            if role in roles:
                self.write("UPDATE graph._node_tables SET %s = array_remove(%s, $2) WHERE table_oid = $1"
                           % (field, field), ["oid", "text"], [oid, col])
                self.add("unregistered_column", name, 1, "%s column %s was dropped" % (role, col))
        for role, field in (("weight", "weight_column"), ("label", "label_column")):
            if role in roles:
                self.write("UPDATE graph._edge_sources SET %s = NULL"
                           " WHERE coalesce(via_table, from_table) = $1 AND %s = $2" % (field, field),
                           ["oid", "text"], [oid, col])
                self.add("unregistered_column", name, 1,
                         "%s column %s was dropped; its edges take the default %s" % (role, col, role))
        if "edge_end" in roles:
            self.remove_edge_sources(
                "coalesce(via_table, from_table) = $1 AND (from_column = $2 OR $2 = ANY (from_columns)"
                " OR (kind = 'join' AND (to_column = $2 OR $2 = ANY (to_columns))))", ["oid", "text"], [oid, col],
                "endpoint column %s was dropped" % col)
        if "row_filter" in roles:
            # No row passes until a new filter is registered: a filter that hid rows
            # (soft-deleted, private) never lets them in by being dropped.
            for table, where in (("_node_tables", "table_oid = $1"),
                                 ("_edge_sources", "coalesce(via_table, from_table) = $1")):
                self.write("UPDATE graph.%s SET row_filter = 'false', row_filter_columns = '{}'"
                           " WHERE %s AND $2 = ANY (row_filter_columns)" % (table, where), ["oid", "text"], [oid, col])
            self.add("unregistered_column", name, 1,
                     "row filter column %s was dropped: the row filter is now false (no row passes) until a new"
                     " one is registered" % col)
        if "tenant" in roles:
            self.write("UPDATE graph._node_tables SET tenant_column = NULL WHERE table_oid = $1 AND tenant_column = $2",
                       ["oid", "text"], [oid, col])
            self.add("unregistered_column", name, 1,
                     "tenant column %s was dropped: the table's nodes have no tenant now, so a read for any"
                     " tenant sees them; register the table again with another tenant_column to scope them" % col)
        self.tables.add(int(oid))
        self.registration_changed = True

    def key_changed(self, d):
        oid, name = d["table_oid"], d["table_name"]
        new_key = self.q("SELECT graph._table_key($1) AS k", ["oid"], [oid])[0]["k"]
        node = self.q("SELECT id_columns FROM graph._node_tables WHERE table_oid = $1", ["oid"], [oid])
        referenced = self.q(
            """SELECT count(*) AS n FROM graph._edge_sources
               WHERE (kind = 'fk' AND to_table = $1) OR (kind = 'join' AND $1 IN (from_table, to_table))""",
            ["oid"], [oid])[0]["n"]
        if new_key is None or (node and referenced):
            self.unrepaired.append(d)
            why = ("it has no primary key or unique key on NOT NULL columns now" if new_key is None
                   else "%d edge sources reference its key values" % referenced)
            self.add("needs_attention", name, 0, "key %s is no longer a key and %s: re-register the table"
                     % (d["column_name"], why))
            return
        if node:
            self.write("UPDATE graph._node_tables SET id_columns = $2 WHERE table_oid = $1",
                       ["oid", "text[]"], [oid, new_key])
        self.write("UPDATE graph._edge_sources SET via_id_columns = $2 WHERE via_table = $1",
                   ["oid", "text[]"], [oid, new_key])
        self.add("rekeyed_table", name, 1, "key %s -> %s" % (d["column_name"], ",".join(new_key)))
        self.tables.add(int(oid))
        self.registration_changed = True

    def trigger_disabled(self, d):
        # graph._install_capture enables it ALWAYS (through graph._enable_capture_trigger
        # when the admin does not own the table).
        self.tables.add(int(d["table_oid"]))
        self.add("enabled_trigger", d["table_name"], len(d["detail"].split(", ")), d["detail"])

    def ddl_not_followed(self, d):
        """Enable (or create) graphsync's event trigger ALWAYS: only a superuser may.
        Anyone else gets needs_attention and a WARNING whose hint is the statement
        a superuser runs (the drift's detail says it too).
        Only graphsync's own event triggers (EVENT_TRIGGERS), and only for the finding
        graph._schema_drift() computes from the catalog (table_oid NULL): a row of
        graph._schema_events, which graph_admin may write, always has a table_oid, and
        one naming another event trigger had a superuser's reconcile enable it ALWAYS
        (tests/test_abuse_ops.py). Such a row is left to the rebuild that resolves it."""
        name = d["table_name"]
        if d["table_oid"] is not None or name not in EVENT_TRIGGERS:
            return
        if not self.q("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")[0]["rolsuper"]:
            exists = self.q("SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1", ["text"], [name])
            statement = ("ALTER EVENT TRIGGER %s ENABLE ALWAYS" % self.plpy.quote_ident(name) if exists
                         else EVENT_TRIGGERS[name])
            self.say("warning", "graphsync: only a superuser may enable or create event trigger %s" % name,
                     hint="As a superuser run: %s; or run graph.reconcile() as a superuser,"
                          " or install.py again." % statement)
            self.add("needs_attention", name, 0, d["detail"])
            return
        if not self.q("SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1", ["text"], [name]):
            self.plpy.execute(EVENT_TRIGGERS[name])
        self.plpy.execute("ALTER EVENT TRIGGER %s ENABLE ALWAYS" % self.plpy.quote_ident(name))
        self.add("enabled_event_trigger", name, 1,
                 "subscriptions are followed again" if name == "graphsync_follow_subscription"
                 else "DDL on registered tables is followed again")

    def trigger_impostor(self, d):
        self.tables.add(int(d["table_oid"]))
        self.add("replaced_trigger", d["table_name"], len(d["detail"].split(", ")), d["detail"])

    def trigger_extra(self, d):
        self.tables.add(int(d["table_oid"]))
        self.add("dropped_trigger", d["table_name"], len(d["detail"].split(", ")), d["detail"])

    def trigger_missing(self, d):
        self.tables.add(int(d["table_oid"]))
        self.add("installed_trigger", d["table_name"], len(d["detail"].split(", ")), d["detail"])

    def repair(self, drifted):
        done_keys = set()
        for d in drifted:
            kind = d["kind"]
            if kind == "key_changed":
                if d["table_oid"] not in done_keys:
                    done_keys.add(d["table_oid"])
                    self.key_changed(d)
            elif kind in ("table_dropped", "column_dropped", "trigger_disabled", "trigger_missing",
                          "trigger_impostor", "trigger_extra", "ddl_not_followed"):
                getattr(self, kind)(d)
        for oid in sorted(self.tables):
            self.install_capture(oid)

    def install_capture(self, oid):
        """graph._install_capture_bounded(oid, 'repair'): its trigger DDL (SHARE ROW
        EXCLUSIVE) waits at most 5 s (the caller's lock_timeout when shorter) for the
        table's writers, then 55P03 naming the table, raised here as NotLocked (55000)
        for graph.reconcile(): waited for without bound, a writer's UPDATE left open kept
        the run waiting with its sources' locks and the maintenance lock
        (tests/test_writer_poison.py). The bound and its message are the registrations'
        (one SQL form). The repair rolls back with the sources' locks
        (sources.lock_sources_then_state) and the run ends 'failed'."""
        plpy = self.plpy
        try:
            with plpy.subtransaction():
                self.q("SELECT graph._install_capture_bounded(ARRAY[$1], 'repair')", ["oid"], [oid])
        except plpy.SPIError as exc:
            if getattr(exc, "sqlstate", None) != errors.LOCK_TIMEOUT:
                raise
            said = exc.args[0] if exc.args else str(exc)
            if said.startswith(BOUNDED_BY):
                said = said[len(BOUNDED_BY):]
            raise sources.NotLocked(
                "graph.reconcile()", "%s, nothing was lost: run graph.reconcile() again when that transaction has"
                " ended" % said, hint=getattr(exc, "hint", None) or sources.LOCK_HINT) from None


def _summarize(repairs, found, action):
    """One action per kind and table of the differences found (verify.differences)."""
    for d in sorted(found, key=lambda d: (d["difference"], d["table_name"] or "")):
        sample = ", ".join(str(i) for i in d["ids"]) + (", ..." if d["n"] > len(d["ids"]) else "")
        repairs.add("%s_%s" % (action, d["difference"]), d["table_name"], d["n"], "ids: " + sample)


def _follow_all(plpy, repairs):
    """Follow the schema of every captured table as the event trigger would (renames,
    drops, partitions, retypes), and give EXECUTE on its capture functions to its owner
    now; resolve the 'follow_failed' records, whose tables get their capture generated
    again."""
    tables = [int(r["table_oid"]) for r in plpy.execute("SELECT table_oid FROM graph._captured_tables()")]
    repairs.tables |= set(follow.follow_tables(plpy, repairs, tables))  # (its keys: the tables)
    # EXECUTE on each capture function to graph_admin and its table's owner now: an
    # owner change that fired no event trigger (REASSIGN OWNED BY) left it with the
    # former owner (graph._grant_capture: a no-op for the tables in step).
    plpy.execute(plpy.prepare("SELECT graph._grant_capture($1)", ["oid[]"]), [tables])
    for r in plpy.execute("UPDATE graph._schema_events SET resolved_at = now()"
                          " WHERE repair = 'reconcile' AND resolved_at IS NULL"
                          " RETURNING table_oid, table_name, detail"):
        repairs.tables.add(int(r["table_oid"]))
        repairs.add("followed_again", r["table_name"], 1, r["detail"])


def follow_ddl(plpy, tables, named=None):
    """The event trigger's follower (graph._follow_registry): ops/follow.py, with
    this module's repairs (``named``: the relations the schema change named).
    Returns (table, members) of the tables whose triggers to attach (follow.follow_ddl)."""
    return follow.follow_ddl(plpy, Repairs, tables, named)


def _note_unread(repairs, result, unread):
    """Record the tables the source check could not read (verify.differences): in the job
    row, and as one 'check_failed' action each (those not recorded yet)."""
    noted = {u["table"] for u in result.get("check_failures") or []}
    result["check_failures"] = unread
    for u in unread:
        if u["table"] not in noted:
            repairs.add("check_failed", u["table"], 1, "SQLSTATE %s: %s" % (u["sqlstate"], u["message"]))


def _reconcile(plpy, job_id, repairs, result):
    """Repair, apply, verify, rebuild; returns what is left undone (the run is
    'partial' then), one line each."""
    jobs.phase(plpy, job_id, "repair drift")
    # The sources' locks (bounded) before anything takes graph._sync_state's row (the
    # apply): the row held while a writer's LOCK TABLE ... IN SHARE MODE kept the check
    # waiting held every other session's replay (sources.lock_sources); the row taken
    # after the repair, its wait bounded too, the sources given back past it, and the
    # repair with them, to run again (sources.lock_sources_then_state).
    # The repair runs under the sources' locks and before the row, the order of a
    # registration (the table, the registry, then the state row): its trigger DDL
    # (ALTER, CREATE, DROP TRIGGER) waits for the table's writers, and one of them that
    # then applied (as a read applies) waited for the row this run held: a deadlock,
    # and the run 'failed', 'deadlock detected' (tests/test_lock_order_race.py).
    def repair():
        repairs.reset()
        _follow_all(plpy, repairs)
        repairs.repair(drift.rows(plpy))

    sources.lock_sources_then_state(plpy, "graph.reconcile()", "SELECT FROM graph._sync_state FOR UPDATE",
                                    first=repair)
    if repairs.registration_changed:
        plpy.execute("UPDATE graph._sync_state SET build_required = true")
    repairs.kept = len(repairs.actions)
    remaining = drift.rows(plpy)
    unreadable = [d for d in remaining if d["kind"] in drift.UNREADABLE]
    if unreadable:
        result["reason"] = "schema drift left for a person to repair"
        return ["the sources cannot be read until %s is repaired" % drift.describe(unreadable)]
    jobs.phase(plpy, job_id, "apply")
    with plpy.subtransaction():
        applied = apply.apply_sync(plpy, None, caller=CALL)
    result["rows_applied"] = sum(applied[k] for k in ("inserts", "updates", "deletes", "truncates"))
    jobs.phase(plpy, job_id, "verify")
    diffs, unread = verify.differences(plpy, CALL + "'s source check")
    result["differences"] = sum(d["n"] for d in diffs)
    reasons = list(plpy.execute("SELECT graph._rebuild_reasons() AS r")[0]["r"])
    if diffs:
        reasons.append("%d differences from the sources" % result["differences"])
    past = []  # the tables the rebuild reads past (verify.read_past)
    if unread:
        # not checked, so not clean; and a rebuild reads them too: it fails on them,
        # unless what failed was only rows a row filter raised a data exception on,
        # which the rebuild takes as failing the filter, as maintenance's does: a
        # reconcile skipped it, leaving the differences of every other table in the
        # graph as long as such a row stayed (tests/test_check_per_table.py)
        _note_unread(repairs, result, unread)
        if not (reasons and verify.read_past(unread)):
            undone = ["the source check could not read %s; fix the cause, then run graph.reconcile() again"
                      % jobs.describe_check_failures(unread)]
            if reasons:
                _summarize(repairs, diffs, "unrepaired")
                undone.append("rebuild due but not tried, as it reads those tables too (%s)" % "; ".join(reasons))
            return undone
        past = unread
    if not reasons:
        return []
    jobs.phase(plpy, job_id, "rebuild")
    with plpy.subtransaction():
        generation, nodes, edges, _ = build.build(plpy, CALL + "'s rebuild")
        apply.apply_sync(plpy, None, caller=CALL)
    result["rebuilt"], result["generation"] = True, generation
    _summarize(repairs, diffs, "repaired")
    for u in past:  # (in the job row's check_failures: health says it too)
        u["rebuilt"] = True
    repairs.add("rebuilt", None, 1, "generation %d (%d nodes, %d edges) because: %s%s"
                % (generation, nodes, edges, "; ".join(reasons), "".join(
                    "; it read %s, which the source check could not read: its row filter %s raised on a row"
                    " (SQLSTATE %s), taken as failing the filter (no node, no edge of that row)"
                    % (u["table"], u["row_filter"], u["sqlstate"]) for u in past)))
    jobs.phase(plpy, job_id, "verify")
    still, unread = verify.differences(plpy, CALL + "'s source check")
    _summarize(repairs, still, "still")
    undone = []
    if still:
        undone.append("%d differences from the sources remain after the rebuild (see graph.verify())"
                      % sum(d["n"] for d in still))
    if past:  # still not checked: the row is still there
        undone.append("the source check could not read %s; fix those rows (or the filter), then run"
                      " graph.reconcile() again" % jobs.describe_check_failures(past))
    known = {u["table"] for u in past}
    unread = [u for u in unread if u["table"] not in known]
    if unread:  # (a table that read for the rebuild and no longer does)
        _note_unread(repairs, result, past + unread)
        undone.append("the source check could not read %s after the rebuild" % jobs.describe_check_failures(unread))
    return undone


@errors.entry_point
@notify.top_level
def reconcile(plpy):
    """Repair drift and differences; rows (action, table_name, items, detail)."""
    db.require_admin(plpy)
    for name in SETTINGS_READ:
        settings.get(plpy, name)
    jobs.lock(plpy, wait=True)
    job_id = jobs.job_start(plpy, "reconcile")
    result = jobs.new_result(job_id)
    repairs = Repairs(plpy, CALL)
    try:
        undone = _reconcile(plpy, job_id, repairs, result)
        undone[:0] = ["%s: %s" % (a[1], a[3]) for a in repairs.actions if a[0] == "needs_attention"]
        result["status"] = "partial" if undone else "succeeded"
        result["error"] = "; ".join(undone) or None
    except Exception as exc:
        if errors.is_cancel(exc):  # cancel means stop: the whole run rolls back
            raise
        if getattr(exc, "sqlstate", None) == errors.DEADLOCK_DETECTED:
            # A lost lock race (PostgreSQL failed this side of a deadlock: e.g. a
            # transaction that wrote a table whose trigger the repair alters, then
            # built): the phase it lost in rolled back, what the phases before it did
            # stands, pending log rows stay pending. Not a failure: said so, run again.
            result["status"], result["error"] = "partial", LOST_RACE % errors.first_line(exc)
            repairs.actions = repairs.actions[:repairs.kept] + [("lost_lock_race", None, 0, result["error"])]
        else:
            result["status"], result["error"] = "failed", errors.first_line(exc)
            repairs.actions = [("failed", None, 0, result["error"])]
    if not repairs.actions:
        repairs.add("nothing_to_repair", None, 0, "the graph equals the sources")
    result["reason"] = result["reason"] or "; ".join(
        "%s %s (%s)" % (a[0], a[1] or "", a[3]) for a in repairs.actions)[:2000]
    jobs.job_finish(plpy, job_id, result)
    return repairs.actions
