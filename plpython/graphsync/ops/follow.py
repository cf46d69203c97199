"""Following the application's schema changes, so capture never breaks its writes.

The event trigger graph._follow_ddl (ddl_command_end and sql_drop) runs as the
role whose DDL fired it, normally the table's owner. It passes the captured
tables a change concerns (graph._followed_tables) to the SECURITY DEFINER
graph._follow_registry, which calls follow_ddl() here, then attaches the
capture triggers itself, as that owner (graph._attach_capture). Everything here
is derived from the catalog, compared with what capture was generated for
(graph._column_map, graph._capture_members); the table oids it is given only
say where to look, so a direct call can do nothing but bring the registry in
step with the catalog; and a session that may not generate the table's capture
(neither its owner's roles nor graph_admin's members) never switches it off: another
role's change that concerns a table (a rename of a type one of its columns uses, or of
a schema holding it) and cannot be followed fails (55000, follow_ddl).

For one captured table (follow_table):
- dropped table: unregister it and the edge sources that use it
- column renamed (same attnum, other name): the registry takes the new name
  everywhere it appears, and so do the pending log rows captured under the old
  one; nothing is unregistered. A renamed property or filter column changes the
  nodes' property names, so the base is rebuilt at the next build.
- column dropped: unregister that role of it (reconcile.Repairs: a property or
  filter column leaves, a weight or label column falls back to the default, an
  edge source loses its endpoint, a tenant column leaves the table without
  tenants); a dropped key column re-keys the table to its current key when it
  can, else the table is unregistered. A dropped column whose name a live
  column carries again keeps its registration (a rebuild follows the retype).
- column retyped, table renamed (also by its schema): capture is regenerated
- partitions and inheritance children created, attached, detached or dropped:
  the triggers follow the tree; rows that joined or left the table without an
  INSERT or DELETE (attaching a table that holds rows, detaching or dropping
  one) mark it for a rebuild
Every change that leaves the graph to catch up is recorded in
graph._schema_events (health shows it until a build or reconcile resolves it)
and reported to the DDL's session as a WARNING (unregistrations) or NOTICE.

follow_ddl() never lets an error reach the DDL: a table it cannot follow gets a
capture function that captures nothing (so the application's writes go on), a
WARNING, and a 'follow_failed' record for graph.reconcile(), which follows it
again and rebuilds. A cancel is never caught.
"""

from graphsync import db, errors

# graph._column_map joined with the catalog: what became of each registered column.
COLUMNS = """
SELECT m.attnum, m.column_name, m.type_name, a.attname::text AS now_name,
       coalesce(a.attisdropped, true) AS dropped,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS now_type,
       EXISTS (SELECT FROM pg_catalog.pg_attribute AS b
               WHERE b.attrelid = m.table_oid AND b.attname = m.column_name
                 AND b.attnum > 0 AND NOT b.attisdropped) AS name_live
FROM graph._column_map AS m
LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = m.table_oid AND a.attnum = m.attnum
WHERE m.table_oid = $1
ORDER BY m.attnum
"""

# Registered columns capture was not generated for (an install older than the
# map) that no live column carries: dropped, by name.
GONE_UNMAPPED = """
SELECT r.column_name FROM graph._registered_column_roles($1) AS r
WHERE r.table_oid = $1
  AND NOT EXISTS (SELECT FROM graph._column_map AS m WHERE m.table_oid = $1 AND m.column_name = r.column_name)
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                  WHERE a.attrelid = $1 AND a.attname = r.column_name AND a.attnum > 0 AND NOT a.attisdropped)
ORDER BY r.column_name
"""

# MEMBERS and NAMED_MEMBERS, after the members now (CTE tree) and those recorded (CTE
# recorded): each that came or went, with the size of each that changed (rows may have
# come or gone with it).
COMPARED = """
SELECT coalesce(t.member, r.member_oid) AS member,
       coalesce(c.oid::regclass::text, r.member_name) AS name,
       t.member IS NOT NULL AS joined, c.oid IS NOT NULL AS exists,
       CASE WHEN c.oid IS NOT NULL THEN pg_catalog.pg_relation_size(c.oid) END AS bytes
FROM tree AS t
FULL JOIN recorded AS r ON r.member_oid = t.member
-- each by its oid (OFFSET 0): a join hashed all of pg_class, every relation of the database
LEFT JOIN LATERAL (SELECT k.oid FROM pg_catalog.pg_class AS k
                   WHERE k.oid = coalesce(t.member, r.member_oid) OFFSET 0) AS c ON true
WHERE t.member IS NULL OR r.member_oid IS NULL
ORDER BY 2
"""

# The recursive step of MEMBERS' and NAMED_MEMBERS' CTE tree: the children of each
# member found, each level looked up by its oids (OFFSET 0): a join read all of
# pg_inherits, every partition of the database, other tables' too
# (tests/test_operation_costs.py).
CHILDREN = """    UNION
    SELECT i.inhrelid FROM tree
    CROSS JOIN LATERAL (SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i
                        WHERE i.inhparent = tree.member OFFSET 0) AS i
"""

# Partitions and children now (tree) against those recorded (graph._capture_members).
MEMBERS = """
WITH RECURSIVE tree AS (
    SELECT i.inhrelid AS member FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = $1
""" + CHILDREN + """), recorded AS (
    SELECT m.member_oid, m.member_name FROM graph._capture_members AS m
    WHERE m.table_oid = $1 AND m.member_oid <> $1
)
""" + COMPARED

# The same of the relations a schema change named ($2) only, where it concerns the table
# through members only (graph._named_members_only): each of those that is in the tree now,
# with its own partitions and children, against those of them recorded. A DDL naming only
# tables that are not partitioned cannot detach anything from them, so no other member
# can have come or gone (graph._followed_tables compares so too). Comparing the whole
# tree at each partition created made that grow with the table's partitions
# (tests/test_operation_costs.py).
NAMED_MEMBERS = """
WITH RECURSIVE up AS (
    SELECT r.oid AS origin, r.oid AS rel FROM unnest($2::oid[]) AS r (oid) WHERE r.oid IS NOT NULL AND r.oid <> $1
    UNION
    SELECT up.origin, i.inhparent FROM up
    CROSS JOIN LATERAL (SELECT i.inhparent FROM pg_catalog.pg_inherits AS i
                        WHERE i.inhrelid = up.rel OFFSET 0) AS i
), named AS (
    SELECT DISTINCT up.origin AS member FROM up WHERE up.rel = $1
), tree AS (
    SELECT named.member FROM named
""" + CHILDREN + """), recorded AS (
    SELECT m.member_oid, m.member_name FROM graph._capture_members AS m
    WHERE m.table_oid = $1 AND m.member_oid <> $1
      AND (m.member_oid = ANY ($2::oid[]) OR m.member_oid IN (SELECT tree.member FROM tree))
)
""" + COMPARED

TABLE = """
SELECT c.oid::regclass::text AS name,
       (SELECT m.member_name FROM graph._capture_members AS m
        WHERE m.table_oid = $1 AND m.member_oid = $1) AS captured_name,
       coalesce((SELECT n.table_name FROM graph._node_tables AS n WHERE n.table_oid = $1),
                (SELECT m.member_name FROM graph._capture_members AS m
                 WHERE m.table_oid = $1 AND m.member_oid = $1),
                (SELECT min(r.table_name) FROM graph._registered_columns AS r WHERE r.table_oid = $1),
                $1::text) AS registered_name
FROM (SELECT $1::oid AS oid) AS o
LEFT JOIN pg_catalog.pg_class AS c ON c.oid = o.oid AND c.relkind IN ('r', 'p')
"""


def _renamed(field):
    """SQL: ``field`` (a column name) mapped through $2 (old names) -> $3 (new names)."""
    return ("coalesce((SELECT rn.new FROM unnest($2::text[], $3::text[]) AS rn (old, new)"
            " WHERE rn.old = %s), %s)" % (field, field))


def _renamed_array(field):
    """SQL: each name of array ``field`` mapped through $2 -> $3, in order."""
    return ("coalesce((SELECT array_agg(coalesce(rn.new, u.c) ORDER BY u.o)"
            " FROM unnest(%s) WITH ORDINALITY AS u (c, o)"
            " LEFT JOIN unnest($2::text[], $3::text[]) AS rn (old, new) ON rn.old = u.c), %s)"
            % (field, field))


def _renamed_keys(field):
    """SQL: jsonb ``field`` with its keys mapped through $2 -> $3."""
    return ("CASE WHEN %s ?| $2::text[] THEN (SELECT pg_catalog.jsonb_object_agg(coalesce(rn.new, e.key), e.value)"
            " FROM pg_catalog.jsonb_each(%s) AS e"
            " LEFT JOIN unnest($2::text[], $3::text[]) AS rn (old, new) ON rn.old = e.key) ELSE %s END"
            % (field, field, field))


RENAME_STATEMENTS = (
    """UPDATE graph._node_tables AS n SET id_columns = %s, columns = %s, filter_columns = %s,
                                        tenant_column = %s
       WHERE n.table_oid = $1""" % (_renamed_array("n.id_columns"), _renamed_array("n.columns"),
                                     _renamed_array("n.filter_columns"), _renamed("n.tenant_column")),
    # Columns of the table that carries the edges.
    """UPDATE graph._edge_sources AS e SET from_column = %s, weight_column = %s, label_column = %s,
                                         to_column = CASE WHEN e.kind = 'join' THEN %s ELSE e.to_column END,
                                         via_id_columns = CASE WHEN e.kind = 'join' THEN %s ELSE e.via_id_columns END,
                                         from_columns = %s, to_columns = %s
       WHERE coalesce(e.via_table, e.from_table) = $1""" % (
        _renamed("e.from_column"), _renamed("e.weight_column"), _renamed("e.label_column"),
        _renamed("e.to_column"), _renamed_array("e.via_id_columns"), _renamed_array("e.from_columns"),
        _renamed_array("e.to_columns")),
    # Row filters name columns: parsed again under the old names, deparsed under the new.
    """UPDATE graph._node_tables AS n SET (row_filter, row_filter_columns) = (
           SELECT f.expression, f.columns FROM graph._check_filter(n.table_oid::regclass, n.row_filter, $2, $3) AS f)
       WHERE n.table_oid = $1 AND n.row_filter_columns && $2::text[]""",
    """UPDATE graph._edge_sources AS e SET (row_filter, row_filter_columns) = (
           SELECT f.expression, f.columns
           FROM graph._check_filter(coalesce(e.via_table, e.from_table)::regclass, e.row_filter, $2, $3) AS f)
       WHERE coalesce(e.via_table, e.from_table) = $1 AND e.row_filter_columns && $2::text[]""",
    # A foreign-key edge names its target's key column.
    """UPDATE graph._edge_sources AS e SET to_column = %s
       WHERE e.kind = 'fk' AND e.to_table = $1 AND e.to_column IS NOT NULL""" % _renamed("e.to_column"),
    """WITH moved AS (
           DELETE FROM graph._registered_columns AS r
           WHERE r.table_oid = $1 AND r.column_name = ANY ($2::text[]) RETURNING r.*
       )
       INSERT INTO graph._registered_columns (table_oid, column_name, table_name, attnum, type_name)
       SELECT m.table_oid, %s, m.table_name, m.attnum, m.type_name FROM moved AS m""" % _renamed("m.column_name"),
)

# Log rows captured under the old names and not applied yet (of a transaction
# done_snapshot does not see: at or above its xmax, or named in its xip -- not every
# row from its xmin on, which a transaction holding an xid open holds back), and
# failed rows, which a retry applies: renamed too, so replay reads them under the names it knows. The
# DDL holds the table's ACCESS EXCLUSIVE lock, so no writer of it is still open. No
# replay is kept out meanwhile: the DDL's transaction is the owner's, who may leave
# it open, and the state row it locked (and wrote, for a renamed property) held every
# replay of every table until it ended. A replay that runs meanwhile reads the
# registry and these rows as they were (the rename is not committed); one that this
# rename's commit reaches halfway finds the count (CHANGED) moved and reads both again
# (sync/apply.py, Replayer.fetch). Rows such a replay applies before the commit are
# renamed too, harmlessly. With sequential scans off (db.no_seqscan): the bounds come
# from the state row, which the planner cannot see, and with statistics that saw the
# applied rows it read them all.
RENAME_LOG = """
UPDATE graph._sync_log AS l SET properties = %s, old_row = %s, new_row = %s
WHERE l.table_oid = $1
  AND (l.xid >= (SELECT pg_catalog.pg_snapshot_xmax(s.done_snapshot)::text::bigint FROM graph._sync_state AS s)
       OR l.xid = ANY (ARRAY(SELECT x.xid::text::bigint FROM graph._sync_state AS s,
                                    pg_catalog.pg_snapshot_xip(s.done_snapshot) AS x (xid)))
       OR (l.error_message IS NOT NULL
           AND l.id = ANY (ARRAY(SELECT a.id FROM graph._sync_log_attention AS a))))
  AND (l.properties ?| $2::text[] OR l.old_row ?| $2::text[] OR l.new_row ?| $2::text[])
""" % (_renamed_keys("l.properties"), _renamed_keys("l.old_row"), _renamed_keys("l.new_row"))

# The mark by which the registry's statement triggers know the follower's
# statements (migration 438): a row of this transaction only graphsync's definer
# role (graph._follow_registry runs as it) may write, deleted right after them --
# not a setting, which any session may set. An admin's graph.reconcile(), which runs
# as the admin, may not write it: the changes it follows move graph._graph_version
# and lock the state row, as every other change of the registry does. Written
# around every table the follower follows (follow_tables), not around a rename's
# statements alone: a drop's, a table rename's are counted by CHANGED as well.
# MAY_MARK first: an INSERT the caller may not make fails whatever its WHERE says.
MAY_MARK = "SELECT pg_catalog.has_table_privilege('graph._following_renames', 'INSERT') AS may"
MARK = "INSERT INTO graph._following_renames (xid) VALUES (pg_catalog.pg_current_xact_id())"
UNMARK = "DELETE FROM graph._following_renames WHERE xid = pg_catalog.pg_current_xact_id()"

# One more followed change of the table's registration (migrations 431, 437): a
# column renamed or unregistered, the table unregistered, re-keyed or renamed; $2:
# whether it leaves a build due (what the graph holds of the table changed). Locks
# the table's row alone: not graph._sync_state's (build_required there), which every
# apply locks first, nor graph._graph_version's, which every apply writes -- the
# owner may leave the DDL's transaction open, and held every replay of every table
# until it ended (tests/test_abuse_open_rename.py). Replay and reads read the sum of
# the counts (sync/apply.py RENAMES, reads/view.py VERSION), and build_required ORed
# with the state row's.
CHANGED = """
INSERT INTO graph._column_renames AS r (table_oid, renames, build_required) VALUES ($1, 1, $2)
ON CONFLICT (table_oid) DO UPDATE SET renames = r.renames + 1, build_required = r.build_required OR $2
"""

RECORD = """
INSERT INTO graph._schema_events (table_oid, table_name, column_name, kind, detail, repair)
VALUES ($1, $2, $3, $4, $5, $6)
"""

OPEN_FAILURE = """
SELECT 1 FROM graph._schema_events
WHERE table_oid = $1 AND kind = 'follow_failed' AND resolved_at IS NULL
"""

# What a table that cannot be followed captures until reconcile(): nothing. Its
# writes go on; the follow_failed record says so and reconcile() rebuilds.
CAPTURE_NOTHING = """
CREATE OR REPLACE FUNCTION %s()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
BEGIN
    RETURN NULL;
END;
$body$
"""

# Repairs actions -> schema event kinds (all caught up with by a rebuild).
EVENT_KINDS = {
    "unregistered_table": "table_unregistered",
    "unregistered_column": "column_unregistered",
    "removed_edge_source": "edge_source_removed",
    "rekeyed_table": "table_rekeyed",
    "needs_attention": "table_unregistered",
}


def _cancelled(exc):
    """Whether ``exc`` is a cancel, timeout or shutdown (SQLSTATE class 57): never caught.
    Not errors.is_cancel: a lock timeout (55P03) here is a table that could not be
    followed (capture switched off, recorded), since graph._follow_ddl's WHEN OTHERS
    would catch it and let the DDL go on with capture not followed."""
    return (getattr(exc, "sqlstate", None) or "").startswith("57")


class Follower:
    """Follows the tables of one schema change; collects what to regenerate and record."""

    def __init__(self, plpy, repairs, named=None):
        self.plpy = plpy
        self.repairs = repairs  # a reconcile.Repairs: the one implementation of unregistering
        # the relations the schema change named (named_members): a table it concerns
        # through members only compares those
        self.named = named
        self.events = []  # (table_oid, table_name, column_name, kind, detail, repair)
        self.regenerate = set()  # tables whose capture function must be generated again
        # table -> the members that joined or left its tree (members): its triggers to check
        self.moved = {}
        self.related = set()  # other tables whose capture depends on a changed one
        self.dropped = set()  # tables that no longer exist
        self.changed = False  # follow_table's table's registry rows changed (renamed)

    def q(self, sql, types=(), args=()):
        return self.repairs.q(sql, types, args)

    def write(self, sql, types=(), args=()):
        """A write of the registry (reconcile.Repairs.write)."""
        return self.repairs.write(sql, types, args)

    def event(self, oid, name, column, kind, detail, repair="rebuild", level="warning"):
        self.events.append((oid, name, column, kind, detail, repair))
        self.repairs.say(level, "graphsync: %s%s: %s" % (name, "." + column if column else "", detail))

    def follow_table(self, oid):
        """Bring the registration and capture of captured table ``oid`` in step with the catalog."""
        t = self.q(TABLE, ["oid"], [oid])[0]
        before = len(self.repairs.actions)
        # Whether following this table changes what the graph holds of it (Repairs
        # flags it): kept apart from the changes of the tables followed before it.
        changed_before, self.repairs.registration_changed = self.repairs.registration_changed, False
        self.changed = False
        if t["name"] is None:
            self.repairs.table_dropped({"table_oid": oid, "table_name": t["registered_name"]})
            self.dropped.add(oid)
        else:
            self.columns(oid, t["name"])
            self.members(oid, t["name"])
            if t["captured_name"] is not None and t["captured_name"] != t["name"]:
                self.table_renamed(oid, t["captured_name"], t["name"])
        for action, table, _items, detail in self.repairs.actions[before:]:
            kind = EVENT_KINDS.get(action)
            if kind:
                self.event(oid, table or t["registered_name"], None, kind, detail)
        self.related |= {c for c in self.repairs.tables if c != oid}
        if oid in self.repairs.tables and oid not in self.dropped:
            self.regenerate.add(oid)
        unregistered = self.repairs.registration_changed
        self.repairs.registration_changed = changed_before or unregistered
        if unregistered or self.changed:
            self.q(CHANGED, ["oid", "bool"], [oid, unregistered])

    def columns(self, oid, name):
        renames, dropped, retyped = {}, [], []
        for c in self.q(COLUMNS, ["oid"], [oid]):
            if c["dropped"]:
                if not c["name_live"]:  # else dropped and added again: kept, rebuilt as retyped
                    dropped.append(c["column_name"])
                else:
                    self.regenerate.add(oid)
            elif c["now_name"] != c["column_name"]:
                renames[c["column_name"]] = c["now_name"]
            elif c["now_type"] != c["type_name"]:
                retyped.append(c["column_name"])
        dropped += [r["column_name"] for r in self.q(GONE_UNMAPPED, ["oid"], [oid])
                    if r["column_name"] not in dropped]
        if renames:
            self.rename(oid, name, renames)
        for col in dropped:
            self.column_dropped(oid, name, col)
        if retyped:
            self.regenerate.add(oid)
            self.related |= self.referencing(oid)

    def referencing(self, oid):
        """Tables carrying foreign-key edges to ``oid`` (their capture renders its key type)."""
        return {int(r["c"]) for r in self.q(
            "SELECT DISTINCT from_table AS c FROM graph._edge_sources WHERE kind = 'fk' AND to_table = $1"
            " UNION SELECT via_table FROM graph._edge_sources WHERE kind = 'join' AND $1 IN (from_table, to_table)",
            ["oid"], [oid])}

    def rename(self, oid, name, renames):
        old, new = list(renames), [renames[c] for c in renames]
        roles = {r["column_name"]: set(r["roles"]) for r in self.q(
            "SELECT column_name, roles FROM graph._registered_column_roles($1) WHERE table_oid = $1"
            " AND column_name = ANY ($2)", ["oid", "text[]"], [oid, old])}
        self.changed = True  # counted (CHANGED), not on graph._sync_state: see RENAME_LOG
        for sql in RENAME_STATEMENTS:
            self.write(sql, ["oid", "text[]", "text[]"], [oid, old, new])
        with db.no_seqscan(self.plpy):  # (see RENAME_LOG)
            self.q(RENAME_LOG, ["oid", "text[]", "text[]"], [oid, old, new])
        for o, n in renames.items():
            named = roles.get(o, set())
            if named & {"property", "filter"}:
                # A rebuild is due: the column_renamed record says so (schema drift, a
                # rebuild reason) until the build. Not build_required, on the state row.
                self.event(oid, name, n, "column_renamed",
                           "renamed from %s; the registration follows it, and the nodes' %s name changes at"
                           " the next rebuild" % (o, " and ".join(sorted(named & {"property", "filter"}))))
            else:
                self.repairs.say("notice", "graphsync: %s.%s was renamed to %s; its registration (%s) follows it"
                                 % (name, o, n, ", ".join(sorted(named)) or "capture"))
        self.regenerate.add(oid)
        self.related |= self.referencing(oid)

    def column_dropped(self, oid, name, col):
        found = self.q("SELECT roles FROM graph._registered_column_roles($1)"
                       " WHERE table_oid = $1 AND column_name = $2", ["oid", "text"], [oid, col])
        if not found:
            return  # unregistered with the table already (its key went first)
        roles = set(found[0]["roles"])
        if roles & {"key", "via_key"}:
            self.key_dropped(oid, name, col)
            if not self.q("SELECT 1 FROM graph._registered_column_roles($1)"
                          " WHERE table_oid = $1 AND column_name = $2", ["oid", "text"], [oid, col]):
                return
        self.repairs.column_dropped({"table_oid": oid, "table_name": name, "column_name": col})

    def key_dropped(self, oid, name, col):
        """A key column went: re-key to the table's current key when reconcile would,
        else unregister the table (capture cannot key its rows any more)."""
        node = self.q("SELECT id_columns FROM graph._node_tables WHERE table_oid = $1", ["oid"], [oid])
        via = self.q("SELECT via_id_columns FROM graph._edge_sources WHERE via_table = $1 LIMIT 1", ["oid"], [oid])
        key = (node[0]["id_columns"] if node else via[0]["via_id_columns"]) if (node or via) else [col]
        d = {"table_oid": oid, "table_name": name, "column_name": ",".join(key), "kind": "key_changed"}
        unrepaired = len(self.repairs.unrepaired)
        self.repairs.key_changed(d)
        if len(self.repairs.unrepaired) == unrepaired:
            return
        self.repairs.unrepaired.pop()
        self.repairs.actions.pop()  # its needs_attention row: the table is unregistered instead
        why = "its key column %s was dropped and it has no key graphsync could use instead" % col
        self.repairs.remove_edge_sources("$1 IN (from_table, to_table) OR via_table = $1", ["oid"], [oid], why)
        if self.write("DELETE FROM graph._node_tables WHERE table_oid = $1 RETURNING 1", ["oid"], [oid]):
            self.repairs.registration_changed = True
            self.repairs.add("unregistered_table", name, 1,
                             why + ": register it again with graph.add_table(..., id_columns => ...)")
        self.repairs.tables.add(int(oid))

    def named_members(self, oid):
        """The relations the schema change named, when it concerns table ``oid`` through
        members of its tree only (graph._named_members_only); None when the whole tree
        is compared."""
        if self.named is None or not self.q("SELECT graph._named_members_only($1, $2) AS only",
                                            ["oid", "oid[]"], [oid, self.named])[0]["only"]:
            return None
        return self.named

    def members(self, oid, name):
        named = self.named_members(oid)
        with db.no_seqscan(self.plpy):  # each member's partitions by index, however small the catalog
            if named is None:
                changed = self.q(MEMBERS, ["oid"], [oid])
            else:
                changed = self.q(NAMED_MEMBERS, ["oid", "oid[]"], [oid, named])
        for m in changed:
            self.moved.setdefault(oid, set()).add(int(m["member"]))
            if m["joined"]:
                if m["bytes"]:
                    self.event(oid, name, None, "members_changed",
                               "%s became a partition or child of it holding rows; they enter the graph at the"
                               " next rebuild" % m["name"])
            elif not m["exists"]:
                self.event(oid, name, None, "members_changed",
                           "its partition or child %s was dropped with its rows; they leave the graph at the"
                           " next rebuild" % m["name"])
            elif m["bytes"]:
                self.event(oid, name, None, "members_changed",
                           "%s is no longer a partition or child of it and took its rows along; they leave the"
                           " graph at the next rebuild" % m["name"])

    def table_renamed(self, oid, old, new):
        self.write("UPDATE graph._node_tables SET table_name = $2 WHERE table_oid = $1", ["oid", "text"], [oid, new])
        self.q("UPDATE graph._registered_columns SET table_name = $2 WHERE table_oid = $1",
               ["oid", "text"], [oid, new])
        self.repairs.say("notice", "graphsync: table %s is now %s; capture logs the new name" % (old, new))
        self.changed = True
        self.regenerate.add(oid)

    def forget(self, oid):
        """A dropped table: its triggers went with it; drop its capture function
        (and any trigger a table that left its tree still had) and its records."""
        for prefix in ("_capture_", "_capture_row_"):
            fn = self.q("SELECT pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', $2 || $1))::text"
                        " AS fn", ["oid", "text"], [oid, prefix])[0]["fn"]
            if fn is not None:
                self.plpy.execute("DROP FUNCTION IF EXISTS %s CASCADE" % fn)
        self.q("SELECT graph._map_capture($1)", ["oid"], [oid])

    def regenerated(self, oid):
        """Generate the capture function of ``oid`` again and record what it was
        generated for; True when the table is still captured (attach its triggers)."""
        captured = self.q("SELECT graph._write_capture($1) AS ok", ["oid"], [oid])[0]["ok"]
        self.q("SELECT graph._write_capture($1, true)", ["oid"], [oid])
        self.q("SELECT graph._map_capture($1)", ["oid"], [oid])
        return captured

    def record(self):
        for e in self.events:
            self.q(RECORD, ["oid", "text", "text", "text", "text", "text"], list(e))
        self.events = []


def follow_tables(plpy, repairs, tables, named=None):
    """Follow ``tables`` (captured table oids) with ``repairs``, raising on error
    (reconcile() uses this). ``named``: the relations a schema change named
    (follow_ddl): a table concerned through members only has those compared and
    recorded. Returns {table: members} of the tables whose triggers to attach:
    ``members`` the relations whose triggers (with their own partitions' and
    children's) to check, or None for every member's. Where only members joined or
    left the tree, those that did, as the comparison found them (of the members named,
    or of the whole tree): an ATTACH or DETACH of one partition beside 2,000 checked
    every member's triggers (tests/test_operation_costs.py)."""
    # The registry's statement triggers leave the state row and graph._graph_version
    # alone for the follower's own statements (MARK; migrations 431, 437, 438): CHANGED
    # counts each change instead. (An error leaves the mark in a (sub)transaction that
    # then rolls back, and with it.)
    f = Follower(plpy, repairs, named)
    marked = f.q(MAY_MARK)[0]["may"]
    if marked:
        f.q(MARK)
        repairs.renames_marked = True  # (reconcile's repair takes the row for no write of these)
    for oid in sorted(set(int(t) for t in tables)):
        f.follow_table(oid)  # counts each change (CHANGED): no build_required on graph._sync_state
    if marked:
        f.q(UNMARK)
        repairs.renames_marked = False
    attach = {}
    for oid in sorted(f.dropped):
        f.forget(oid)
    for oid in sorted(f.regenerate):
        if f.regenerated(oid):
            attach[oid] = None
    for oid in sorted(set(f.moved) - f.regenerate - f.dropped):
        moved = sorted(f.moved[oid])
        f.q("SELECT graph._map_capture($1, $2)", ["oid", "oid[]"], [oid, moved])
        attach[oid] = moved
    # Tables whose capture depends on a changed one (edge sources removed, a key
    # renamed or retyped): generated again where the caller may; capture that
    # stays as it was only renders stale values, which reconcile() repairs.
    for oid in sorted(f.related - f.regenerate - f.dropped):
        if not f.q("SELECT 1 FROM pg_catalog.pg_class WHERE oid = $1", ["oid"], [oid]):
            continue
        try:
            with plpy.subtransaction():
                if f.regenerated(oid):
                    attach[oid] = None
        except plpy.SPIError as exc:
            if _cancelled(exc):
                raise
            f.event(oid, f.q(TABLE, ["oid"], [oid])[0]["name"], None, "follow_failed",
                    "its capture depends on a table that changed and could not be generated again (%s)"
                    % (exc.args[0] if exc.args else exc), repair="reconcile")
    f.record()
    return attach


def _failed(plpy, oid, exc):
    """(the name of table ``oid``, now or as registered; the message of ``exc``) of a
    failed follow of it (_switch_off, _not_followed)."""
    t = plpy.execute(plpy.prepare(TABLE, ["oid"]), [oid])[0]
    return t["name"] or t["registered_name"], getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))


def _switch_off(plpy, oid, exc):
    """After a failed follow of ``oid``: capture nothing for it until reconcile(),
    and say so (WARNING, a follow_failed record)."""
    name, message = _failed(plpy, oid, exc)
    fns = [r["fn"] for r in plpy.execute(plpy.prepare(
        "SELECT pg_catalog.to_regprocedure(pg_catalog.format('graph.%I()', p || $1)) AS fn"
        " FROM unnest(ARRAY['_capture_', '_capture_row_']) AS p", ["oid"]), [oid])]
    off = False
    if fns[0] is not None:
        try:
            with plpy.subtransaction():
                for fn in fns:  # the statement capture function, and the row-level one if there is one
                    if fn is not None:
                        plpy.execute(CAPTURE_NOTHING % fn.replace("()", ""))
            off = True
        except plpy.SPIError as err:
            if _cancelled(err):
                raise
    detail = ("a schema change of it could not be followed (%s); %s until graph.reconcile() follows"
              " it again and rebuilds" % (message, "its writes are not captured" if off
                                          else "its capture may fail"))
    plpy.warning("graphsync: %s: %s" % (name, detail))
    with plpy.subtransaction():
        if not plpy.execute(plpy.prepare(OPEN_FAILURE, ["oid"]), [oid]):
            plpy.execute(plpy.prepare(RECORD, ["oid", "text", "text", "text", "text", "text"]),
                         [oid, name, None, "follow_failed", detail, "reconcile"])


# Whether the session may have capture of table $1 generated (graph._write_capture's
# test: a graph_admin member, a superuser or a role of the table's owner), or the table
# is gone: else a failed follow fails the change (_not_followed), unless the table is
# what the change itself altered or dropped (OWN_CHANGE).
MAY_FOLLOW = """
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = $1)
       OR pg_catalog.pg_has_role(session_user, 'graph_admin', 'MEMBER')
       OR (SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'USAGE')
           FROM pg_catalog.pg_class AS c WHERE c.oid = $1) AS may
"""

# Whether table $1 is an object the schema change being followed altered (or whose
# column it dropped, not by a cascade): PostgreSQL let only its owner (or a superuser)
# do that, so the change is the owner's, made in another role's session (a SECURITY
# DEFINER function of the owner's). Raises outside a schema change (a direct call).
OWN_CHANGE = {
    "ddl_command_end": """
SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
               WHERE c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.objid = $1) AS own
""",
    "sql_drop": """
SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
               WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = $1
                 AND d.original) AS own
""",
}


def _may_switch_off(plpy, oid):
    """Whether a table that could not be followed may have its capture switched off
    here (_switch_off): the session may generate its capture (MAY_FOLLOW), or the
    change being followed is its owner's (OWN_CHANGE)."""
    if plpy.execute(plpy.prepare(MAY_FOLLOW, ["oid"]), [oid])[0]["may"]:
        return True
    for sql in OWN_CHANGE.values():
        try:
            with plpy.subtransaction():
                if plpy.execute(plpy.prepare(sql, ["oid"]), [oid])[0]["own"]:
                    return True
        except plpy.SPIError as exc:
            if _cancelled(exc):
                raise
    return False


def _not_followed(plpy, oid, exc):
    """A failed follow of ``oid`` in a session that may not generate its capture, of a
    change that is not its owner's (_may_switch_off): raise 55000, so that the schema
    change (or the direct call) fails and the table keeps its capture and
    registration. _switch_off would give it a capture function that captures
    nothing: the owner of a type one of its columns uses, who renamed the type and
    called graph._follow_registry, or of a schema holding it, who renamed the
    schema, had capture generation refuse them (42501) and so switched off another
    role's capture (tests/test_abuse_paths44.py); and leaving a followed drop
    unfollowed would leave capture reading a column that is gone, failing the
    owner's writes. graph._follow_ddl lets this error through."""
    name, message = _failed(plpy, oid, exc)
    user = plpy.execute("SELECT session_user::text AS u")[0]["u"]
    errors.raise_(plpy, errors.ObjectNotInPrerequisiteState(
        "this change concerns %s, registered with graphsync, which role %s (neither its owner nor a member"
        " of graph_admin) cannot have followed: %s" % (name, user, message),
        hint="Have the owner of %s or a member of graph_admin make the change." % name))


def follow_ddl(plpy, repairs_for, tables, named=None):
    """What the event trigger calls (through graph._follow_registry): follow each
    of ``tables``, one at a time, never raising but for a cancel and _not_followed. ``repairs_for``
    makes a reconcile.Repairs. ``named``: the relations the schema change named
    (Follower.named_members). Returns (table, members) of the tables whose triggers
    the caller attaches, in table order: ``members`` the relations whose triggers to
    check, or None for every member's (follow_tables). A table that cannot be
    followed has its capture switched off (_switch_off), but for another role's
    change in a session that may not generate its capture, where the change fails
    instead (_not_followed)."""
    named = None if named is None else [int(r) for r in named if r is not None]
    attach = {}
    for oid in sorted(set(int(t) for t in tables)):
        try:
            with plpy.subtransaction():
                for table, members in follow_tables(plpy, repairs_for(plpy), [oid], named).items():
                    # (every member's when any follow of the table asks for every member's)
                    known = attach.get(table, ())
                    attach[table] = None if members is None or known is None else sorted(set(known) | set(members))
        except Exception as exc:  # noqa: BLE001 - anything but a cancel is turned into a record
            if _cancelled(exc):
                raise
            if _may_switch_off(plpy, oid):
                _switch_off(plpy, oid, exc)
            else:
                _not_followed(plpy, oid, exc)
    return sorted(attach.items())
