"""Which nodes a read may enter: the caller's tables, rows, tenant, and restrictions.

Two masks over the node ids of a View:

- the *security* mask: alive nodes of registered tables the caller may SELECT,
  whose source rows the caller can see where the table's row-level security
  applies to the caller (row_security), within the tenant when one is given
  (nodes of tables without a tenant column stay allowed). Seeds, path ends and
  components obey it like every node.
- the *restriction* mask: ``node_tables`` and ``filter`` of a traversal. Seeds
  are exempt, as traverse.bfs exempts them from its node_mask.

Keys, tenants and properties are read from graph._nodes as the caller, so
row-level security there (migration 002) hides what the caller may not see even
if a mask were wrong.

Row-level security of a source table is the caller's to apply: for each table
whose policies apply to the caller (reads.start says which), a read asks which
of the table's nodes have a row the caller can see, by a query on the table as
the caller (SECURITY INVOKER, like every read), so the caller's policies decide
as they do in SQL, and nothing runs with more privileges than the caller. Its
answer depends on the source rows, the caller and any setting a policy reads, so
it is asked anew by every read (one query per such table) and never kept; what
is derived from the security mask is kept under a digest of the answer. Tables
without row-level security (or whose policies do not apply to the caller: their
owner, a superuser, a BYPASSRLS role) add nothing to a read. A traversal asks
about the nodes it reaches instead (Unresolved): graph._nodes as the caller, by
node id, whose policy asks the table about those rows' keys (reads/row_policy.py),
so it reads O(the nodes it reaches and their neighbours) of the table, not every
row the caller can see.

A read asks only the tables it can reach (``reach``): the tables of its seeds
and path ends, and those a walk from them can enter within its depth by the
registered edge sources (in its direction, into ``node_tables``), and of join
tables only those whose edges such a walk can follow (reads/edge_rows.py). The
nodes of a secured table it does not ask are out of its security mask (it
cannot reach them anyway), so no policy of a table the read never reaches runs
as the reader. Components read every table, and ask every one.
"""

from graphsync import errors
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import as_captured, run
from graphsync.reads.view import GENERATION, same_generation
from graphsync.records import record

# Walk: what bounds a read's reach, by table: the tables it starts from (seeds,
# path ends; empty: those of the read's first ``from_ends`` ends, None: of all,
# the others' tables reached as well), its direction and depth (None: unbounded),
# ``node_tables`` (None: any) and ``edge_types`` (None: any).
Walk = record("Walk", "tables direction max_depth node_tables edge_types from_ends",
                  defaults=(None, None, None))


def reach(registry, walk, ends=()):
    """(node tables, join edge source ids) a read bounded by ``walk`` can enter or
    follow: its start tables, and what a walk from them enters by the registered
    edge sources within ``walk.max_depth`` edges (``ends``: the table oids of the
    read's ends, for a walk without tables). A superset of what the read
    actually reaches (a table, not a node, at a time); None, None for no bound."""
    if walk is None:
        return None, None
    ends = tuple(ends or ())
    returned = ()
    if not walk.tables:
        walk = walk._replace(tables=ends[:walk.from_ends] if walk.from_ends is not None else ends)
        returned = ends[len(walk.tables):]
    steps = {}
    for e in registry.edges:
        if (walk.edge_types is not None and e.label_column is None and e.label is not None
                and e.label not in walk.edge_types):
            continue  # a fixed label the walk does not follow
        if walk.direction in ("out", "any") or e.bidirectional:
            steps.setdefault(e.from_table, []).append((e.to_table, e))
        if walk.direction in ("in", "any") or e.bidirectional:
            steps.setdefault(e.to_table, []).append((e.from_table, e))
    reached = set(walk.tables)
    followed = set()
    frontier = set(walk.tables)
    depth = 0
    while frontier and (walk.max_depth is None or depth < walk.max_depth):
        step = set()
        for t in frontier:
            for u, e in steps.get(t, ()):
                if walk.node_tables is not None and u not in walk.node_tables:
                    continue
                if e.kind == "join":
                    followed.add(e.edge_source_id)
                if u not in reached:
                    reached.add(u)
                    step.add(u)
        frontier = step
        depth += 1
    return frozenset(reached | set(returned)), frozenset(followed)


def label_carriers(registry, walk, ends=()):
    """The tables carrying a label column whose edges a read bounded by ``walk``
    can follow (``reach``'s bound: a join source it follows, a foreign-key source
    whose two tables it reaches): graph._labels' policy asks only these of the
    tables whose row-level security applies to the reader (label_policy.narrowed).
    None for no bound. Kept by registry, walk and ends (_CARRIERS)."""
    if walk is None:
        return None
    key = (_hashable(walk.tables), walk.direction, walk.max_depth, _hashable(walk.node_tables),
           _hashable(walk.edge_types), walk.from_ends, tuple(ends or ()))
    kept = _CARRIERS.get(key)
    if kept is not None and kept[0] is registry:
        return kept[1]
    tables, joins = reach(registry, walk, ends)
    carriers = frozenset(e.carrier for e in registry.edges if e.label_column is not None and (
        e.edge_source_id in joins if e.kind == "join" else e.from_table in tables and e.to_table in tables))
    if len(_CARRIERS) >= CARRIERS_KEPT:
        _CARRIERS.clear()
    _CARRIERS[key] = (registry, carriers)
    return carriers


# label_carriers' answers, a function of the registry (kept by identity: a backend
# loads a new one when the registry changes), the walk and its ends alone. Every read
# that folds pending rows asks it (reads/freshness.py: the labels its kept view was
# read for), some 10-16 us a read under writes; a backend's reads come in a few
# shapes. At most CARRIERS_KEPT, emptied when full.
_CARRIERS = {}
CARRIERS_KEPT = 64


def _hashable(values):
    """``values`` (a list of a read's arguments, a set, or None) as a tuple, or None."""
    return None if values is None else tuple(values)

# The nodes of a tenant, but those of the secured tables the read does not ask ($2:
# graph._nodes' policy would ask them; a leakproof test, so it runs first). The
# tenant index holds the tenants of at most 2,000 bytes (migration 441: a btree entry
# holds no more): the first branch, for such a tenant, names the index's condition,
# so the planner takes it; the second, for a longer one, reads the nodes without it.
# Each branch's test of $1 alone is decided once, before its scan runs.
TENANT_NODES = """
SELECT coalesce(array_agg(t.node_id), '{}') AS ids, %s
FROM (SELECT n.node_id FROM graph._nodes AS n
      WHERE n.tenant = $1 AND n.table_oid <> ALL ($2::oid[])
        AND pg_catalog.octet_length(n.tenant) <= 2000 AND pg_catalog.octet_length($1) <= 2000
      UNION ALL
      SELECT n.node_id FROM graph._nodes AS n
      WHERE n.tenant = $1 AND n.table_oid <> ALL ($2::oid[]) AND pg_catalog.octet_length($1) > 2000) AS t
""" % GENERATION

# The nodes of one table whose source row the caller can see: the table read as
# the caller (its row-level security applies), each row's key (graph._key_expr)
# joined to graph._nodes (OFFSET 0 keeps the key a plain text value, so the
# planner may probe graph._nodes' (table_oid, pk) index row by row when the
# caller sees few rows, or hash the table's nodes when it sees many). The keys of
# visible rows that have no node there below $2, the view's node count (pending
# rows a read folds in, or rows applied after the view was read), come back as
# text. No row while a key column's name ($3, the registry's key columns) no longer
# means the column capture was generated for (db.as_captured: renamed, and another
# column given its name, where the rename could not be followed): the keys of the
# column now of that name would match nodes of rows the caller cannot see, among
# them the pending ones folded in. %s: the key expression, the table (regclass text).
ROW_VISIBLE = """
SELECT coalesce(pg_catalog.array_agg(n.node_id) FILTER (WHERE n.node_id < $2), '{}') AS ids,
       coalesce(pg_catalog.array_agg(r.pk) FILTER (WHERE n.node_id IS NULL OR n.node_id >= $2), '{}') AS pks, %s
FROM (SELECT %%s AS pk FROM %%s AS t WHERE {captured} OFFSET 0) AS r
LEFT JOIN graph._nodes AS n ON n.table_oid = $1 AND n.pk = r.pk
""".replace("{captured}", as_captured("$1", "$3::pg_catalog.text[]")) % GENERATION

# A large table makes the query above look costly enough for JIT compilation,
# which takes longer than the query: off around it (as graph._read_sync does), then back.
JIT_OFF = "SELECT pg_catalog.current_setting('jit') AS was, pg_catalog.set_config('jit', 'off', true)"
JIT_BACK = "SELECT pg_catalog.set_config('jit', $1, true)"

ROW_SQL = """
SELECT graph._source_name($1) AS tbl, graph._key_expr($1, $2, 't') AS key_expr
"""
SOURCE_NAME = "SELECT graph._source_name($1) AS tbl"

_key_exprs = {}  # (table oid, registry entry) -> the key's expression in ROW_VISIBLE


FILTER_NODES = """
SELECT coalesce(array_agg(node_id), '{}') AS ids, %s FROM graph._nodes
WHERE table_oid = ANY ($1) AND properties -> $2 = ANY ($3::jsonb[])
""" % GENERATION


class Access:
    """The caller's view of the registry for one read, from its reads.start.Start:
    the registered tables it may SELECT (has_table_privilege as the caller), who
    it is, and the tenant it keeps to (the argument, else graph.tenant)."""

    def __init__(self, st, tenant=None):
        # What the read can reach (reach()): node tables and join edge sources,
        # None for every one; set by the read before row_security.
        self.reach_tables = None
        self.reach_joins = None
        self.visible = st.visible
        self.me = st.me
        # Until a build, the graph may still hold nodes of tables no longer registered.
        self.all_visible = len(self.visible) == st.registered and not st.build_required
        self.tenant = st.tenant if tenant is None else tenant
        # Tables whose row-level security applies to the caller, and (row_security)
        # bool[n]: the nodes whose rows the caller can see there.
        self.row_secured = st.row_secured
        self.row_visible = None
        self.unasked = ()  # of those, the ones the read does not reach: never asked (row_security)
        self.by_node = ()  # of those, the ones the read asks about node by node (row_security: Unresolved)
        # (secured join edge sources, those a walk asks about node by node): edge_rows.by_node
        self.edge_sources = None
        # Join edge sources whose rows the caller may see only some of (row-level
        # security) or none of (no SELECT on the table, or no USAGE on its schema,
        # row-level security or not), and (edge_rows.edge_security) the edges
        # the rows it can see carry.
        self.edges_secured = st.edge_secured
        self.edges_hidden = st.edge_hidden
        self.carried = None
        # What the security mask depends on, to key what a view derives from it: the
        # tables the caller may SELECT now (a GRANT or REVOKE changes no graph version),
        # whether they are all of them, the tenant (and, added by row_security, a
        # digest of the rows the caller can see).
        self.scope = (self.visible, self.all_visible, self.tenant)

    def check_table(self, plpy, v, table_oid, name=None):
        """Raise unless ``table_oid`` is a registered node table the caller may read
        (``name``: how the caller named it; by default its regclass text)."""
        if table_oid in v.registry.nodes and table_oid in self.visible:
            return
        if name is None:
            name = run(plpy, "SELECT $1::pg_catalog.regclass::text AS t", ["oid"], [table_oid])[0]["t"]
        if table_oid not in v.registry.nodes:
            raise errors.ObjectNotInPrerequisiteState(
                "%s is not a registered node table" % name,
                hint="Register it with graph.add_table and run graph.build().")
        raise errors.InsufficientPrivilege("permission denied for table %s" % name)


def _row_statements(plpy, node):
    """ROW_VISIBLE of ``node``'s table, naming it as graph._source_name does now (one
    small statement, some 0.1 ms, for a query reading every row the caller sees
    there). The statement was kept for the backend by the registry entry, which does
    not name the table: after a rename the registry did not follow (follow_failed),
    the reader's backend read whatever held the old name, a view whose function ran
    as the reader (tests/test_abuse_session44.py). The key's expression is kept by the
    entry; the text is the same while the name is, and so is its kept plan (db.run)."""
    key = (node.table_oid, node)
    expr = _key_exprs.get(key)
    if expr is None:
        r = run(plpy, ROW_SQL, ["oid", "text[]"], [node.table_oid, list(node.id_columns)])[0]
        expr = _key_exprs[key] = r["key_expr"]
        table = r["tbl"]
    else:
        table = run(plpy, SOURCE_NAME, ["oid"], [node.table_oid])[0]["tbl"]
    return ROW_VISIBLE % (expr, table)


def row_security(plpy, v, acc, by_node=False):
    """Set acc.row_visible to bool[n], False for the nodes of a table whose
    row-level security applies to the caller and hides their source row from the
    caller, or that the read does not reach (acc.reach_tables), and add a digest
    of it to acc.scope; nothing when no such table is registered (see the module
    docstring). One query per such table the read reaches, as the caller.

    ``by_node``: the read asks about the nodes it reaches, not the tables (see
    Unresolved): the tables it reaches are left out of the query and their nodes
    are True in acc.row_visible (so in the security mask, which the read then
    narrows), and acc.by_node names them. Not when the view holds nodes of such
    a table that graph._nodes does not (pending rows folded in): those tables
    are asked whole."""
    secured = sorted(t for t in acc.row_secured if t in v.registry.nodes)
    if not secured:
        return
    asked = [t for t in secured if acc.reach_tables is None or t in acc.reach_tables]
    if by_node and asked:
        folded = {t for t, _ in v.extra_keys.values()} if v.extra_keys else ()
        acc.by_node = tuple(t for t in asked if t not in folded)
        asked = [t for t in asked if t in folded]
    n = v.node_count
    ok = np.ones(n, dtype=bool)
    tables = v.tables(plpy)
    import hashlib  # here, not at the top: loading it is a first read's cost
    digest = hashlib.blake2b(digest_size=16)
    rows = {}
    if acc.by_node:
        digest.update(b"by node" + np.asarray(acc.by_node, dtype=np.int64).tobytes())
    if asked:
        from graphsync.reads import row_policy  # (not a first read's cost: its policy's module)

        jit = run(plpy, JIT_OFF)[0]["was"]
        row_policy.WHOLE.update(asked)  # graph._nodes' policy: every row asked, no probe first
        try:
            for table in asked:
                node = v.registry.nodes[table]
                rows[table] = run(plpy, _row_statements(plpy, node), ["oid", "bigint", "text[]"],
                                  [table, n, list(node.id_columns)])[0]
        finally:
            row_policy.WHOLE.clear()
            run(plpy, JIT_BACK, ["text"], [jit])
    unasked = acc.unasked = [t for t in secured if t not in rows and t not in acc.by_node]
    if unasked:  # not reached: out of the mask, never asked
        ok[np.isin(tables, np.asarray(unasked, dtype=np.int64))] = False
        digest.update(b"unasked" + np.asarray(unasked, dtype=np.int64).tobytes())
    for table in asked:
        r = rows[table]
        same_generation(v.key[0], r)
        ids = np.sort(np.asarray(r["ids"], dtype=np.int64))
        ok[tables == table] = False
        ok[ids] = True
        digest.update(np.int64(table).tobytes() + ids.tobytes())
        if r["pks"] and v.extra_keys:  # rows with no node in the view's range: pending rows folded in?
            seen = set(r["pks"])
            shown = sorted(i for i, (t, pk) in v.extra_keys.items() if t == table and pk in seen)
            ok[shown] = True
            digest.update(np.asarray(shown, dtype=np.int64).tobytes())
    acc.row_visible = ok
    acc.scope = acc.scope + (digest.hexdigest(),)


# A read's walks (reads.api.Read.settle) ask about the nodes each walk stopped at for
# at most this many walks; then about every node still waiting at once (a walk of a
# long path asks one level a walk).
SETTLE_WALKS = 12


class Unresolved:
    """The security mask of a read that asks about the nodes it reaches, not the
    tables (acc.by_node: reads.api.traverse_columns), and the nodes of those
    tables it has not asked about yet (``waiting``), closed in the mask until it does.

    A traversal asked each secured table it could reach for every row the caller
    can see (ROW_VISIBLE: some 400 ms for a depth-2 read at 100,000 rows). Now it
    walks with the waiting nodes closed, asks graph._nodes as the caller about
    those the walk stopped at (nodes.visible_ids: graph._nodes' row-level
    security asks the table about those keys only, reads/row_policy.py), opens
    those whose rows the caller sees, and walks again, until a walk stops at no
    waiting node. A walk's answer depends only on the mask at the nodes it tests
    (the seeds, and the ends of the edges out of the nodes it visits above its
    depth): the last walk's tested nodes were all asked, so its answer is the
    answer under the whole-table mask. A walk of depth d settles in at most d + 1
    walks and asks about O(the nodes it reaches and their neighbours)."""

    def __init__(self, plpy, v, acc, security):
        tables = v.tables(plpy)
        member = v.derived(("by node", acc.by_node),
                           lambda: np.isin(tables, np.asarray(acc.by_node, dtype=np.int64)))
        self.mask = np.array(security, dtype=bool)
        self.waiting = self.mask & member
        self.mask[self.waiting] = False
        self.left = int(np.count_nonzero(self.waiting))
        self.asked = 0  # nodes asked about (tests read it)
        # a read kept to a tenant: the tables whose nodes' tenant is asked with them (_tenant_ok)
        self.tenant = acc.tenant
        self.tenant_tables = {t for t in acc.by_node if v.registry.nodes[t].tenant_column}

    def ask(self, plpy, v, ids):
        """Ask about the waiting nodes among ``ids``; whether any of them opened."""
        if not self.left or not len(ids):
            return False
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[self.waiting[ids]]
        if not len(ids):
            return False
        from graphsync.reads import nodes  # (nodes imports this module's neighbours: here)

        seen = nodes.visible_ids(plpy, v, ids, (self.tenant, self.tenant_tables) if self.tenant is not None else None)
        self.waiting[ids] = False
        self.left -= len(ids)
        self.asked += len(ids)
        self.mask[seen] = True
        return len(seen) > 0

    def after_walk(self, plpy, v, tested, walks):
        """Ask about the waiting nodes among ``tested`` (those walk number ``walks``
        may have tested: reached; past SETTLE_WALKS walks, every waiting node);
        whether any of them opened (then the read walks again)."""
        if not self.left:
            return False
        if walks >= SETTLE_WALKS:
            return self.ask(plpy, v, np.flatnonzero(self.waiting))
        return self.ask(plpy, v, tested)


def reached(adj, expanded, edge_label_mask=None, restriction=None):
    """The node ids a walk that expanded ``expanded`` (node ids) over ``adj`` may
    have tested beyond its start: the ends of the edges out of them (of labels
    ``edge_label_mask`` allows, into nodes ``restriction`` allows)."""
    if not len(expanded):
        return np.zeros(0, dtype=np.int64)
    _, ends, labels = adj.frontier_edges(np.asarray(expanded, dtype=np.int64))
    if edge_label_mask is not None:
        ends = ends[np.asarray(edge_label_mask, dtype=bool)[labels]]
    if restriction is not None:
        ends = ends[np.asarray(restriction, dtype=bool)[ends]]
    return ends


def security_mask(plpy, v, acc):
    """bool[n]: the nodes the caller may see and enter (see the module docstring).
    row_security has run for ``acc``. When that is every alive node, the view's
    alive flags as they are (View.alive_flags: at rest, a memoryview of the mapped
    base file, so that a small walk needs no NumPy); code that works on whole
    arrays takes np.asarray of it (reads.api.Read.security_array)."""
    def make():
        mask = v.alive.copy()
        if not acc.all_visible:
            mask &= np.isin(v.tables(plpy), np.fromiter(acc.visible, dtype=np.int64))
        if acc.row_visible is not None:
            mask &= acc.row_visible
        if acc.tenant is not None:
            mask &= _tenant_ok(plpy, v, acc.tenant, acc.unasked, acc.by_node)
        return mask
    if acc.all_visible and acc.tenant is None and acc.row_visible is None:
        return v.alive_flags()
    return v.derived(("security",) + acc.scope, make)


def _tenant_ok(plpy, v, tenant, unasked=(), by_node=()):
    """bool[n]: the nodes of ``tenant`` and of tables without a tenant column. Not
    asked: the tables ``unasked`` (out of the mask) and ``by_node`` (every node of
    theirs allowed here: Unresolved asks each node's tenant with its row, where
    asking graph._nodes for the tenant's nodes ran the table's policy on every one
    at each graph change)."""
    tenant_tables = [oid for oid, nt in v.registry.nodes.items() if nt.tenant_column]
    tables = v.tables(plpy)
    has_tenant = np.isin(tables, np.asarray(tenant_tables, dtype=np.int64))
    ok = ~has_tenant
    r = run(plpy, TENANT_NODES, ["text", "oid[]"], [tenant, list(unasked) + list(by_node)])[0]
    same_generation(v.key[0], r)
    ids = np.asarray(r["ids"], dtype=np.int64)
    ok[ids[ids < len(ok)]] = True
    if len(by_node):
        ok[np.isin(tables, np.asarray(by_node, dtype=np.int64))] = True
    for i, (value, _) in v.node_values.items():
        if has_tenant[i]:
            ok[i] = value == tenant
    return ok


def restriction_mask(plpy, v, acc, node_tables=None, filter_json=None):
    """None (no restriction) or bool[n] of the nodes ``node_tables`` and ``filter`` allow."""
    if node_tables is None and not filter_json:
        return None
    tables = v.tables(plpy)
    mask = np.ones(v.node_count, dtype=bool)
    if node_tables is not None:
        mask &= np.isin(tables, np.asarray(node_tables, dtype=np.int64))
    if filter_json:
        import json  # here, not at the top: only filters need it (json imports re: a first read's cost)

        try:
            wanted = json.loads(filter_json)
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict):
            raise errors.InvalidArgument("filter must be a JSON object of filter column: value")
        for column, value in wanted.items():
            mask &= _filter_ok(plpy, v, acc, tables, column, value)
    return mask


def _filter_ok(plpy, v, acc, tables, column, value):
    import json  # (see restriction_mask)

    holders = [oid for oid, nt in v.registry.nodes.items() if column in nt.filter_columns]
    if not holders:
        raise errors.InvalidArgument("%s is not a registered filter column of any node table"
                                     % json.dumps(column), hint="Register it with graph.add_filter_column.")
    values = value if isinstance(value, list) else [value]
    asked = [oid for oid in holders if oid not in acc.unasked]  # the others are out of the mask

    def make():
        has_column = np.isin(tables, np.asarray(holders, dtype=np.int64))
        ok = ~has_column
        r = run(plpy, FILTER_NODES, ["oid[]", "text", "text[]"], [asked, column, [json.dumps(x) for x in values]])[0]
        same_generation(v.key[0], r)
        ids = np.asarray(r["ids"], dtype=np.int64)
        ok[ids[ids < len(ok)]] = True
        for i, (_, props) in v.node_values.items():
            if has_column[i]:
                ok[i] = (json.loads(props) if props else {}).get(column) in values
        return ok
    if any(oid in acc.by_node for oid in asked):
        # FILTER_NODES reads graph._nodes through its policy, which shows the nodes of
        # a table asked node by node as this caller sees them now (its role, its
        # settings), which acc.scope does not name for such a table: not kept, or
        # another role's (or setting's) visible nodes would decide this caller's filter.
        return make()
    import hashlib  # (see row_security)

    # the values by a digest: a key holding a filter of 40,000 values kept 2 MB a read
    values_key = hashlib.blake2b(json.dumps(values, sort_keys=True).encode(), digest_size=16).digest()
    return v.derived(("filter",) + acc.scope + (column, values_key), make)
