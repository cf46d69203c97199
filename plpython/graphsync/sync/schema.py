"""graph.add_schema(): register a whole schema from its catalog.

``plan`` is a pure function of catalog facts (tables, keys, foreign keys, what is
registered already) and returns one Step per registration; ``add_schema`` reads
those facts in three statements, and, unless previewing, carries out each step
through graph.add_table / graph.add_edge, so every check those make applies. The
work is linear in tables and foreign keys: one capture generation per
registration, no build (build_required is flagged, as any registration does).

What becomes what:
  * a table with a primary key or a unique key on NOT NULL columns is a node table;
  * a table whose key is exactly the columns of two of its foreign keys is a join
    table: a join-table edge between the two tables it references (labelled by
    its name), and also a node table when it has other columns or is referenced;
  * every other foreign key is an edge, labelled by its column names;
  * what cannot be registered is a skipped step with the reason: no key, a
    partition or inheritance child of a registered table, a system catalog or a
    temporary table (graph.add_table refuses them), a foreign key to an
    excluded, unkeyed or unregistered table or to columns that are not its key.
"""

from dataclasses import dataclass

from graphsync import db, errors


@dataclass(frozen=True)
class Table:
    oid: int
    name: str  # regclass text
    relname: str  # the bare name (a join-table edge's label)
    key: tuple  # key columns (graph._table_key), () when none
    columns: tuple  # every column, in attnum order
    ancestors: tuple  # oids of the tables it is a partition or inheritance child of
    may_register: bool  # the caller has SELECT and TRIGGER on it
    refused: str = None  # why graph._check_table refuses it whoever asks (a catalog, a temporary table)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    from_oid: int
    from_columns: tuple
    to_oid: int
    to_columns: tuple


@dataclass(frozen=True)
class Step:
    kind: str  # 'node_table', 'fk_edge' or 'join_edge'
    table: int  # the node table, or the table whose rows carry the edge
    edge: str  # 'fk' edges: "col -> target"; join edges: "a -> t1, b -> t2"; else None
    label: str
    action: str  # 'register', 'skipped' or 'already registered'
    reason: str
    call: tuple = ()  # what to register: ('table',) or ('edge', keyword arguments)


NO_KEY = "no primary key and no unique key on NOT NULL columns"
# What graph._check_table refuses (42809) whatever the caller's privileges: skipped
# here with the reason, so that a preview lists what a run registers.
CATALOG = "a system catalog: PostgreSQL puts no triggers on it, so its rows could not be captured"
TEMPORARY = "a temporary table: one session's, and the graph is shared by every session"


def _join_pair(table, fks):
    """The two foreign keys of ``table`` whose columns make up its key, in key order;
    None when its key is not exactly two foreign keys."""
    key = set(table.key)
    inside = [f for f in fks if set(f.from_columns) <= key]
    for i, a in enumerate(inside):
        for b in inside[i + 1:]:
            if set(a.from_columns) | set(b.from_columns) == key and a.from_columns != b.from_columns:
                pair = sorted((a, b), key=lambda f: min(table.key.index(c) for c in f.from_columns))
                return tuple(pair)
    return None


def _aligned(fk, target_key):
    """(from columns, to columns) of ``fk`` in the order of ``target_key``, or None
    when the referenced columns are not that key."""
    if sorted(fk.to_columns) != sorted(target_key) or not target_key:
        return None
    order = [fk.to_columns.index(c) for c in target_key]
    return tuple(fk.from_columns[i] for i in order), tuple(target_key)


def plan(tables, fks, registered, edges, names, exclude):
    """The steps add_schema takes.

    tables      [Table] of the schema
    fks         [ForeignKey] declared on those tables
    registered  {oid: key columns} of the registered node tables (any schema)
    edges       set of registered edge sources: ('fk', from, (cols), to) and
                ('join', via, (from cols), (to cols)), columns in key order
    names       {oid: name} of every table named in fks
    exclude     set of oids to leave out
    """
    steps = []
    by_oid = {t.oid: t for t in tables}
    outgoing = {}
    for f in fks:
        outgoing.setdefault(f.from_oid, []).append(f)
    referenced = {f.to_oid for f in fks} | {e[3] for e in edges if e[0] == "fk"}
    node_key = dict(registered)  # oid -> key of tables that are or will be nodes
    skipped = {}  # oid -> why the table is no node
    joins = {}  # oid -> its two foreign keys
    # Parents before their partitions and children.
    for t in sorted(tables, key=lambda t: (len(t.ancestors), t.name)):
        covered = next((a for a in t.ancestors if a in node_key), None)
        pair = _join_pair(t, outgoing.get(t.oid, [])) if t.key and t.oid not in exclude else None
        reason = None
        if t.oid in exclude:
            reason = "excluded"
        elif t.refused is not None:
            reason = t.refused
        elif t.oid in registered:
            if pair is not None:
                joins[t.oid] = pair
            steps.append(Step("node_table", t.oid, None, None, "already registered", None))
            continue
        elif covered is not None:
            reason = "partition or inheritance child of %s, which is registered and captures its rows" % (
                names.get(covered) or by_oid[covered].name)
        elif not t.key:
            reason = NO_KEY
        elif not t.may_register:
            reason = "registering it needs SELECT and TRIGGER on it"
        if reason is not None:
            skipped[t.oid] = reason
            steps.append(Step("node_table", t.oid, None, None, "skipped", reason))
            continue
        if pair is not None:
            joins[t.oid] = pair
            if set(t.columns) <= set(t.key) and t.oid not in referenced:
                continue  # a pure join table: an edge only
        node_key[t.oid] = tuple(t.key)
        steps.append(Step("node_table", t.oid, None, None, "register", None, ("table",)))

    def target_problem(fk):
        to = fk.to_oid
        if to in exclude:
            return "references %s, which is excluded" % names[to]
        if to not in node_key:
            why = skipped.get(to) or ("not in the schema and not registered"
                                      if to not in by_oid else "not registered")
            return "references %s, which is not registered (%s)" % (names[to], why)
        if _aligned(fk, node_key[to]) is None:
            return "references %s (%s), not its key (%s)" % (
                names[to], ", ".join(fk.to_columns), ", ".join(node_key[to]))
        return None

    for t in sorted(tables, key=lambda t: t.name):
        if t.oid in exclude or (t.oid in skipped and t.oid not in joins):
            continue
        pair = joins.get(t.oid, ())
        if pair:
            a, b = pair
            edge = "%s -> %s, %s -> %s" % (", ".join(a.from_columns), names[a.to_oid],
                                          ", ".join(b.from_columns), names[b.to_oid])
            problem = target_problem(a) or target_problem(b)
            if problem is not None:
                steps.append(Step("join_edge", t.oid, edge, None, "skipped", problem))
            else:
                a_cols, _ = _aligned(a, node_key[a.to_oid])
                b_cols, _ = _aligned(b, node_key[b.to_oid])
                if ("join", t.oid, a_cols, b_cols) in edges:
                    steps.append(Step("join_edge", t.oid, edge, None, "already registered", None))
                else:
                    steps.append(Step("join_edge", t.oid, edge, t.relname, "register", None, ("edge", {
                        "from_table": a.to_oid, "from_columns": list(a_cols),
                        "to_table": b.to_oid, "to_columns": list(b_cols), "via_table": t.oid})))
        if t.oid not in node_key:
            continue
        for fk in sorted(outgoing.get(t.oid, []), key=lambda f: (f.from_columns, f.name)):
            if fk in pair:
                continue
            edge = "%s -> %s" % (", ".join(fk.from_columns), names[fk.to_oid])
            label = ",".join(fk.from_columns)
            problem = target_problem(fk)
            if problem is not None:
                steps.append(Step("fk_edge", t.oid, edge, label, "skipped", problem))
                continue
            cols, _ = _aligned(fk, node_key[fk.to_oid])
            if ("fk", t.oid, cols, fk.to_oid) in edges:
                steps.append(Step("fk_edge", t.oid, edge, label, "already registered", None))
                continue
            call = {"from_table": t.oid, "from_columns": list(cols), "to_table": fk.to_oid, "label": label}
            edges = edges | {("fk", t.oid, cols, fk.to_oid)}
            steps.append(Step("fk_edge", t.oid, edge, label, "register", None, ("edge", call)))
    return steps


# The tables (and partitioned tables) of schema $1, as c (a FROM item): found through
# the schema's dependents in pg_depend (by pg_depend_reference_index) and each looked up
# in pg_class by its oid, never by reading all of pg_class, which has no index on the
# schema alone: beside 2,000 unrelated tables, add_schema of two tables read some
# 17,000 pg_class rows (tests/test_operation_costs.py). A pinned schema (pg_catalog)
# has no dependents recorded: its relations are read from pg_class.
_SCHEMA_TABLES = """(
    SELECT d.objid FROM pg_catalog.pg_depend AS d
    WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid = $1::pg_catalog.oid
      AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0 AND d.deptype = 'n'
    UNION
    SELECT k.oid FROM pg_catalog.pg_class AS k
    WHERE $1::pg_catalog.oid = 'pg_catalog'::pg_catalog.regnamespace AND k.relnamespace = $1::pg_catalog.oid
) AS s (oid)
CROSS JOIN LATERAL (
    SELECT k.oid, k.relname, k.relnamespace, k.relpersistence FROM pg_catalog.pg_class AS k
    WHERE k.oid = s.oid AND k.relnamespace = $1::pg_catalog.oid AND k.relkind IN ('r', 'p')
    OFFSET 0
) AS c"""

# The tables of a schema: key (graph._table_key), columns, the tables they are
# partitions or inheritance children of (nearest first), whether the caller
# may register them (graph._check_table asks for SELECT and TRIGGER), and whether
# they are system catalogs or temporary tables (which graph._check_table refuses).
TABLES = """
WITH RECURSIVE up (child, parent, depth) AS (
    SELECT i.inhrelid, i.inhparent, 1 FROM pg_catalog.pg_inherits AS i
    UNION ALL
    SELECT up.child, i.inhparent, up.depth + 1 FROM up JOIN pg_catalog.pg_inherits AS i ON i.inhrelid = up.parent
)
SELECT c.oid::int8 AS oid, c.oid::pg_catalog.regclass::text AS name, c.relname::text AS relname,
       coalesce(graph._table_key(c.oid), '{}') AS key,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
       ARRAY(SELECT up.parent::int8 FROM up WHERE up.child = c.oid ORDER BY up.depth) AS ancestors,
       pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.has_table_privilege(c.oid, 'TRIGGER')
           AS may_register,
       c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AS catalog, c.relpersistence = 't' AS temporary
FROM %s
ORDER BY c.oid
""" % _SCHEMA_TABLES

# Foreign keys declared on those tables (not the copies PostgreSQL makes on
# partitions), columns in the constraint's order: looked up by each table of the
# schema (OFFSET 0: by pg_constraint's index on conrelid), never by reading every
# foreign key of the database and the table of each (tests/test_operation_costs.py).
FOREIGN_KEYS = """
SELECT k.conname::text AS name, k.conrelid::int8 AS from_oid, k.confrelid::int8 AS to_oid,
       k.confrelid::pg_catalog.regclass::text AS to_name,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(k.conkey) WITH ORDINALITY AS u (n, i)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = u.n
             ORDER BY u.i) AS from_columns,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(k.confkey) WITH ORDINALITY AS u (n, i)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.confrelid AND a.attnum = u.n
             ORDER BY u.i) AS to_columns
FROM %s
CROSS JOIN LATERAL (
    SELECT x.conname, x.conrelid, x.confrelid, x.conkey, x.confkey FROM pg_catalog.pg_constraint AS x
    WHERE x.conrelid = c.oid AND x.contype = 'f' AND x.conparentid = 0
    OFFSET 0
) AS k
ORDER BY k.conrelid, k.conname
""" % _SCHEMA_TABLES

# What is registered: node tables with their keys; edge sources that are no JSON
# references, with their end columns (one column or a list, in key order).
REGISTERED = """
SELECT 'node' AS what, n.table_oid::int8 AS a, n.id_columns AS cols, NULL::text[] AS to_cols,
       NULL::int8 AS b, n.table_name AS name
FROM graph._node_tables AS n
UNION ALL
SELECT e.kind, coalesce(e.via_table, e.from_table)::int8, coalesce(e.from_columns, ARRAY[e.from_column]),
       coalesce(e.to_columns, ARRAY[e.to_column]), e.to_table::int8, NULL
FROM graph._edge_sources AS e
WHERE e.json_path IS NULL
"""

ADD_TABLE = "SELECT graph.add_table(tbl => $1::oid::pg_catalog.regclass)"
# Endpoints as column lists (graph.add_edge keeps a one-column list as from_column).
ADD_EDGE = {
    "fk": ("SELECT graph.add_edge(from_table => $1::oid::pg_catalog.regclass, from_column => NULL,"
           " from_columns => $2, to_table => $3::oid::pg_catalog.regclass, label => $4) AS id",
           ["int8", "text[]", "int8", "text"], ("from_table", "from_columns", "to_table", "label")),
    "join": ("SELECT graph.add_edge(from_table => $1::oid::pg_catalog.regclass, from_column => NULL,"
             " from_columns => $2, to_table => $3::oid::pg_catalog.regclass, to_columns => $4,"
             " via_table => $5::oid::pg_catalog.regclass) AS id", ["int8", "text[]", "int8", "text[]", "int8"],
             ("from_table", "from_columns", "to_table", "to_columns", "via_table")),
}

# graph._install_capture does nothing while this is 'on' (in this transaction):
# add_schema installs capture once per table it touched, after registering, in
# one call (graph._install_capture(oid[]): one pass over the triggers), whose
# trigger DDL waits at most 5 s for the tables' open writers, then 55P03 naming
# the table, as every registration's (graph._install_capture_bounded): it waited
# for a writer's UPDATE left open without bound (tests/test_writer_poison.py).
DEFER = "SELECT pg_catalog.set_config('graphsync.deferring_capture', $1, true)"
INSTALL_CAPTURE = "SELECT graph._install_capture_bounded($1::pg_catalog.oid[], 'install')"
# ... and before its first registry write (which takes graph._sync_state's row:
# graph._bump_graph_version), the lock that trigger DDL takes (SHARE ROW EXCLUSIVE) on
# each table it will register or carry an edge of that has no triggers yet: taken
# after the row, it waited for a writer of the table whose transaction then applied
# (waiting for the row), 40P01 for one of them (tests/test_lock_order_race.py). At
# most 5 s, then 55P03 naming the table (graph._lock_for_capture: a definer, given
# only the tables the caller has TRIGGER on). "No triggers yet" is what graph.add_edge
# asks too: not among graph._captured_tables() (node tables and join tables), asked
# of each planned table: asked of all, it read every registered table's pg_class row
# (tests/test_operation_costs.py).
LOCK_FOR_CAPTURE = """
SELECT graph._lock_for_capture(ARRAY(
    SELECT u.t FROM pg_catalog.unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u (t, o)
    WHERE pg_catalog.has_table_privilege(u.t, 'TRIGGER') IS true
      AND NOT EXISTS (SELECT FROM graph._captured_tables(u.t))
    ORDER BY u.o), 'install')
"""


OIDS = """
SELECT $1::pg_catalog.regnamespace::pg_catalog.oid::int8 AS oid, $1::pg_catalog.regnamespace::text AS schema,
       ARRAY(SELECT x::pg_catalog.regclass::pg_catalog.oid::int8 FROM pg_catalog.unnest($2) AS x
             WHERE x IS NOT NULL) AS exclude
"""


def _facts(plpy, schema):
    tables = [Table(int(r["oid"]), r["name"], r["relname"], tuple(r["key"]), tuple(r["columns"]),
                    tuple(int(a) for a in r["ancestors"]), r["may_register"],
                    CATALOG if r["catalog"] else TEMPORARY if r["temporary"] else None)
              for r in db.run(plpy, TABLES, ["int8"], [schema])]
    names = {t.oid: t.name for t in tables}
    fks = []
    for r in db.run(plpy, FOREIGN_KEYS, ["int8"], [schema]):
        names[int(r["to_oid"])] = r["to_name"]
        fks.append(ForeignKey(r["name"], int(r["from_oid"]), tuple(r["from_columns"]), int(r["to_oid"]),
                              tuple(r["to_columns"])))
    registered, edges = {}, set()
    for r in db.run(plpy, REGISTERED):
        if r["what"] == "node":
            registered[int(r["a"])] = tuple(r["cols"])
            names.setdefault(int(r["a"]), r["name"])
        elif r["what"] == "fk":
            edges.add(("fk", int(r["a"]), tuple(r["cols"]), int(r["b"])))
        else:
            edges.add(("join", int(r["a"]), tuple(r["cols"]), tuple(r["to_cols"])))
    return tables, fks, registered, edges, names


def _register(plpy, step):
    """Carry out one step; returns (edge source id or None, error message or None).
    A refusal of graph.add_table/add_edge becomes the step's reason; a cancel is raised."""
    what, args = step.call[0], (step.call[1] if len(step.call) > 1 else None)
    try:
        with plpy.subtransaction():
            if what == "table":
                db.run(plpy, ADD_TABLE, ["int8"], [step.table])
                return None, None
            kind = "join" if step.kind == "join_edge" else "fk"
            sql, types, params = ADD_EDGE[kind]
            return db.run(plpy, sql, types, [args[n] for n in params])[0]["id"], None
    except plpy.SPIError as exc:
        if errors.is_cancel(exc):
            raise
        return None, errors.spi_message(exc)


@errors.entry_point
def add_schema(plpy, schema, preview, exclude):
    """Rows (kind, table, edge, edge_source, label, action, reason), one per step."""
    db.require_admin(plpy)
    if schema is None:
        raise errors.NullValue("schema must not be NULL")
    if preview is None:  # not a run: a NULL preview registered the whole schema
        raise errors.NullValue("preview must not be NULL", hint="Pass preview => true for the plan, false to register.")
    # regnamespace and regclass[] arrive as their text (search_path is pinned, so
    # names are schema-qualified): back to oids.
    ids = db.run(plpy, OIDS, ["text", "text[]"], [schema, exclude or []])[0]
    if ids["schema"] == "graph":
        raise errors.InvalidArgument("schema graph is graphsync's own")
    schema, excluded = ids["oid"], {int(x) for x in ids["exclude"]}
    tables, fks, registered, edges, names = _facts(plpy, schema)
    out, touched = [], []
    steps = plan(tables, fks, registered, edges, names, excluded)
    if not preview:
        planned = list(dict.fromkeys(s.table for s in steps if s.action == "register"))
        if planned:
            db.run(plpy, LOCK_FOR_CAPTURE, ["int8[]"], [planned])
        db.run(plpy, DEFER, ["text"], ["on"])
    for s in steps:
        edge_id, action, reason = None, s.action, s.reason
        if s.action == "register":
            if preview:
                action = "would register"
            else:
                edge_id, reason = _register(plpy, s)
                action = "registered" if reason is None else "skipped"
                if reason is None:
                    touched.append(s.table)
        out.append((s.kind, s.table, s.edge, edge_id, s.label, action, reason))
    if not preview:
        db.run(plpy, DEFER, ["text"], [""])
        if touched:
            db.run(plpy, INSTALL_CAPTURE, ["int8[]"], [list(dict.fromkeys(touched))])
    return out
