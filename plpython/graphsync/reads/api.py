"""Graph reads: traversal, shortest paths, components, over the View a read sees.

Each function takes the arguments of its SQL function (regclass values arrive as
text), applies the freshness policy (freshness.fresh_view), builds the caller's masks
(access.py), runs the pure algorithm (algorithms/) on the
effective CSR, and turns node ids back into (table, id text) (nodes.py).

Bounds: max_depth and max_nodes have defaults and hard caps; a traversal that
reaches max_nodes stops with capped = true. Bad input raises a clear error (see
errors.py): 22023 (bad argument value, negative edge weight in reach), 22003 (a
cheapest path's cost past double precision), 22004
(NULL where a value is needed, also inside an array), 22P02 (an id that is not
a key of its table), 55000 (table not registered), 42501 (table the caller may
not read), 42P01 (no such table: raised by the regclass cast itself).
"""

from graphsync import db, errors
from graphsync.algorithms import traverse
from graphsync.algorithms.lazy_numpy import np

# paths, bidijkstra and components import SciPy (a quarter of a second in a new
# backend); the functions that need them import them, so a traversal never waits.
from graphsync.db import run
from graphsync.reads import access, edge_rows, freshness, nodes, start
from graphsync.reads import view as graph_view
from graphsync.reads.arguments import (
    DEFAULT_DEPTH,
    DEFAULT_PATH_DEPTH,
    DIRECTIONS,
    HYDRATE_ROUNDS,
    INVALID_WEIGHTS,
    STRATEGIES,
    check_choice,
    check_depth,
    check_nodes,
    check_tenant,
    no_nulls,
    not_null,
    seeds,
    table_oids,
)
from graphsync.reads.literals import (
    checked_text_literal,
    coded_literal,
    element_of,
    int_literal,
    plain_text_literal,
    text_literal,
)

STABLE_TRIES = 3
# A read runs again when an apply committed while it started (view.Moved): rare
# (graph changes commit about once a second under writes), but under an apply in a
# loop more often than a rebuild.
MOVED_TRIES = 10


def _check_pairs(tables, ids, what):
    """22004/22023 unless ``tables`` and ``ids`` are arrays of the same length without NULLs."""
    if tables is None or ids is None:
        raise errors.NullValue("%s table and id must not be NULL" % what)
    if len(tables) != len(ids):
        raise errors.InvalidArgument("%s tables and ids must have the same length (%d, %d)"
                                     % (what, len(tables), len(ids)))
    if any(t is None for t in tables) or any(i is None for i in ids):
        raise errors.NullValue("%s tables and ids must not contain NULL" % what)


# The generation the running read started on (reads.start), for stable().
_started = {}


def _generation(plpy):
    return run(plpy, "SELECT s.generation FROM graph._sync_state AS s")[0]["generation"]


def stable(read):
    """Run ``read`` again when a rebuild commits while it runs.

    Node ids mean something only within one generation, and under READ COMMITTED
    each statement of a read may see a newer generation than the base it loaded:
    the read would mix two numberings. Every statement of a read that gives or
    takes node ids says which generation it saw (view.same_generation), and
    raises view.Renumbered when it is not the read's; the read then runs again.
    A read that fails otherwise runs again too when the generation moved since it
    started (the failure may come from mixed numberings), unless it was cancelled.
    It runs again too when an apply committed while it started (view.Moved), so
    that it shows one snapshot's graph (reads.freshness).
    """
    @errors.wraps(read)
    def run_stable(plpy, *args, **kwargs):
        before = db.begin_read()  # its queries share what policies asked (reads.statement_cache)
        folds_onto_kept = freshness.FOLD_ONTO_KEPT["on"]  # (a read within a read: an export's traversal)
        try:
            return _run_stable(plpy, args, kwargs)
        finally:
            db.end_read(before)
            freshness.FOLD_ONTO_KEPT["on"] = folds_onto_kept

    def _run_stable(plpy, args, kwargs):
        moved = 0
        tries = 0
        while tries < STABLE_TRIES:
            _started.clear()
            try:
                return read(plpy, *args, **kwargs)
            except graph_view.Moved as exc:
                if exc.labels:
                    freshness.FOLD_ONTO_KEPT["on"] = False
                moved += 1
                if moved < MOVED_TRIES:
                    continue
                raise errors.SerializationFailure(
                    "the graph changed %d times while this read started" % MOVED_TRIES,
                    hint="Run the read again.") from None
            except graph_view.Renumbered:
                tries += 1
                continue
            except Exception as exc:
                if (not errors.is_cancel(exc) and "generation" in _started
                        and _generation(plpy) != _started["generation"]):
                    tries += 1
                    continue  # a cancel stops the read, whatever else happened
                raise
        raise errors.SerializationFailure("the graph was rebuilt %d times during this read" % STABLE_TRIES,
                                          hint="Run the read again.")
    return run_stable


class Read:
    """The common start of a read: one START statement (reads.start: freshness,
    generation, the caller's tables and settings), the view, the caller's access
    and security mask, and the node ids of the nodes the read names (``ends``:
    (tables, ids) of seeds or path ends; tables as oids or regclass texts)."""

    def __init__(self, plpy, tenant=None, ends=None, what=None, walk=None, by_node=False, walk_edges=False):
        """``walk``: an access.Walk bounding what the read can reach (its tables
        empty: the tables of ``ends``), None for every table (see access.reach).
        ``by_node``: the read asks about the nodes of secured tables it reaches
        (ends, and walks through settle()) rather than every row of those tables
        (access.Unresolved); ``walk_edges``: and about the edges of secured join
        tables out of the nodes its walks expand (edge_rows.NodeEdges), rather
        than every visible row of them: then its only use of the graph is a walk
        of adjacency() through settle()."""
        self.plpy = plpy
        check_tenant(tenant)
        keys = ()
        if ends is not None:
            _check_pairs(*ends, what)
            if len(ends[0]) <= 2:  # START looks up to two keys up itself
                keys = list(zip(*ends, strict=True))
        st = start.start(plpy, keys)
        _started["generation"] = st.key[0]
        oids = None
        if ends is not None:
            oids = list(st.tables[:len(ends[0])]) if keys else table_oids(plpy, ends[0])
        # graph._labels' policy asks only the label columns of tables the read can reach
        carriers = None if walk is None else (lambda registry: access.label_carriers(registry, walk, oids))
        self.v = freshness.fresh_view(plpy, st, carriers)
        self.acc = access.Access(st, tenant)
        if walk is not None and (st.row_secured or st.edge_secured or st.edge_hidden):
            self.acc.reach_tables, self.acc.reach_joins = access.reach(self.v.registry, walk, oids)
        access.row_security(plpy, self.v, self.acc, by_node)
        self.security = access.security_mask(plpy, self.v, self.acc)
        self.unresolved = None
        if self.acc.by_node:
            self.unresolved = access.Unresolved(plpy, self.v, self.acc, self.security)
            self.security = self.unresolved.mask
        self.node_edges = {}  # direction -> edge_rows.NodeEdges (walk_edges)
        if not (walk_edges and edge_rows.by_node(plpy, self.v, self.acc)):
            edge_rows.edge_security(plpy, self.v, self.acc)
        self._given = st.nodes[:len(ends[0])] if keys else None
        self.ends = None if ends is None else self._resolve(plpy, *ends, oids)

    def _resolve(self, plpy, tables, ids, oids):
        """Node ids (None when absent or not visible to the caller) of (table, id text) pairs."""
        if len(oids) == 1:  # (the usual one seed)
            self.acc.check_table(plpy, self.v, oids[0], None if isinstance(tables[0], int) else str(tables[0]))
        else:
            named = not all(isinstance(t, int) for t in tables)
            names = dict(zip(oids, (str(t) if named else None for t in tables), strict=True))
            for oid in dict.fromkeys(oids):
                self.acc.check_table(plpy, self.v, oid, names[oid])
        found = nodes.lookup(plpy, self.v, list(zip(oids, ids, strict=True)), self._given)
        held = [f for f in found if f is not None]
        if held:  # (a graph_admin member's row of a negative id was taken for no node: an empty answer)
            graph_view.check_node_ids(held, "graph._nodes")
        if self.unresolved is not None:
            self.unresolved.ask(plpy, self.v, [f for f in found if f is not None])
        return [f if self.visible(f) else None for f in found]

    @property
    def settles(self):
        """Whether walks must go through settle (by_node, walk_edges)."""
        return self.unresolved is not None or self.acc.edge_sources is not None

    def settle(self, walk, edge_label_mask=None, restriction=None):
        """The answer of walk(), a walk over self.security and this read's
        adjacency(), once every node it may have tested was asked about
        (access.Unresolved) and the edges of every node it expanded were
        (edge_rows.NodeEdges): walked again while asking opened a node or changed
        an expanded node's edges. walk() returns (its answer, {direction: the node
        ids it expanded over adjacency(direction)}); ``edge_label_mask`` and
        ``restriction``: the labels it follows and the nodes it may enter (None: any)."""
        walks = 0
        while True:
            answer, expanded = walk()
            walks += 1
            changed = False
            for direction, ids in expanded.items():
                if direction in self.node_edges:
                    changed |= self.node_edges[direction].resolve(self.plpy, ids)
            if self.unresolved is not None:
                tested = [access.reached(self.adjacency(d), ids, edge_label_mask, restriction)
                          for d, ids in expanded.items()]
                changed |= self.unresolved.after_walk(self.plpy, self.v, np.concatenate(tested), walks)
            if not changed:
                return answer

    def graph(self, direction, edge_types):
        """(the Adjacency of ``direction`` traversals walk, the label mask)."""
        return self.adjacency(direction), self.v.label_mask(self.plpy, edge_types)

    def adjacency(self, direction):
        """The Adjacency of ``direction`` the caller may walk (reads/edge_rows.py):
        with walk_edges, one whose secured edges are asked about by settle()."""
        if self.acc.edge_sources is not None:
            if direction not in self.node_edges:
                self.node_edges[direction] = edge_rows.NodeEdges(self.plpy, self.v, self.acc, direction)
            return self.node_edges[direction].adj
        return edge_rows.walked_adjacency(self.v, self.acc, direction)

    def resolve_edges(self, direction, node_ids):
        """With walk_edges, ask about the secured edges of ``node_ids`` in this read's
        adjacency(direction) (read them through its node_edges after)."""
        asked = self.node_edges.get(direction)
        if asked is not None:
            asked.resolve(self.plpy, node_ids)

    def csr(self, direction):
        """The CSR of ``direction`` the caller may walk (reads/edge_rows.py)."""
        if self.acc.edge_sources is not None:
            raise RuntimeError("a read asking about edges node by node has no CSR")
        return edge_rows.walked_csr(self.v, self.acc, direction)

    @property
    def security_array(self):
        """The security mask as a NumPy bool array (access.security_mask may give the
        alive flags as a memoryview, which only small walks read as they are)."""
        return np.asarray(self.security, dtype=bool)

    def visible(self, node_id):
        return node_id is not None and node_id < len(self.security) and bool(self.security[node_id])


@errors.entry_point
@stable
def traverse_columns(plpy, seed_table, seed_id, seed_tables, seed_ids, max_depth=None, direction=None,
                     edge_types=None, node_tables=None, filter_json=None, tenant=None, strategy=None,
                     max_nodes=None, hydrate=False):
    """The one row of graph._traverse: the rows of graph.traverse (see there for the
    arguments) as parallel columns in visit order, each an array literal of final
    values: table oids, id texts, depths, parent table oids, parent id texts,
    label names, node json texts (None when not hydrating); capped; and
    node_table: when every node is of one table, its oid, and the two columns of
    table oids are None (their literals are some of the dearest to read back:
    about a third of a large answer's parsing in graph.traverse).
    PL/Python re-enters a set-returning function and converts values one by one
    for every row it returns: for thousands of nodes one row of columns,
    unnested by graph.traverse, is several times faster."""
    seed_tables, seed_ids = seeds(plpy, seed_table, seed_id, seed_tables, seed_ids)
    max_depth = check_depth(plpy, max_depth, DEFAULT_DEPTH)
    max_nodes = check_nodes(plpy, max_nodes)
    direction = check_choice(plpy, "direction", direction, DIRECTIONS, "out")
    strategy = check_choice(plpy, "strategy", strategy, STRATEGIES, "bfs")
    no_nulls("edge_types", edge_types)
    node_tables = table_oids(plpy, node_tables, "node_tables")
    r = Read(plpy, tenant, (seed_tables, seed_ids), "seed",
             access.Walk((), direction, max_depth, node_tables, edge_types, None),  # (every field: the fast path)
             by_node=True, walk_edges=True)
    starts = [s for s in r.ends if s is not None]
    restriction = access.restriction_mask(plpy, r.v, r.acc, node_tables, filter_json)
    adj, label_mask = r.graph(direction, edge_types)
    run_one = traverse.bfs_over if strategy == "bfs" else traverse.dfs_over
    hidden = set()  # nodes whose rows hydration could not read (hydrate: each round's)
    hydrated = {}

    def enterable():
        if not hidden:
            return r.security_array
        mask = r.security_array.copy()
        mask[list(hidden)] = False
        return mask

    def walk():
        t = run_one(adj, enterable(), starts, max_depth, max_nodes, label_mask, restriction)
        return t, {direction: t.nodes[t.depth < max_depth]}

    # the nodes and edges of secured tables the walk reaches asked about first: the
    # walk that found nothing more to ask about is the answer's first round
    settled = r.settle(walk, label_mask, restriction) if r.settles else None
    levels = None
    if settled is None and strategy == "bfs" and not hydrate:
        # A small traversal (every level of at most traverse.SMALL_LEVEL edges) stays in
        # Python lists from the walk to the literals: written a column at a time when
        # the backend holds every key, else node by node when at most FEW nodes, else
        # as a large one below. A larger one goes on below from the levels walked here.
        levels = traverse.bfs_levels(adj, r.security, starts, max_depth, max_nodes, label_mask, restriction)
        small = traverse.lists_of(levels)
        if small is not None:
            ids, depths, parents, labels, capped = small
            held = nodes.key_columns(r.v, ids)
            r.v.know_labels(plpy, labels)
            out = held and _bfs_columns(ids, depths, parents, labels, *held, r.v.labels, capped)
            if out:
                return out
            if len(ids) <= FEW:
                keys = nodes.key_list(plpy, r.v, ids)  # every parent is a visited node
                return _few_columns(ids, depths, parents, labels, keys, r.v.labels, None, capped)
    for _ in range(HYDRATE_ROUNDS if hydrate else 1):
        if settled is not None:
            t, settled = settled, None
        elif levels is not None:
            t = traverse.bfs_over(adj, enterable(), starts, max_depth, max_nodes, label_mask, restriction,
                                  levels=levels)
        elif r.settles:  # settled above; a round that hides nodes may reach others (max_nodes)
            t = r.settle(walk, label_mask, restriction)
        else:
            t = walk()[0]
        if not hydrate:
            break
        found = _hydrate(plpy, r.v, t.nodes, hydrated)
        now_hidden = {int(i) for i in t.nodes if int(i) not in found}
        if not now_hidden - hidden:
            break
        hidden |= now_hidden
        starts = [s for s in starts if s not in hidden]
    ids, depths, parents, labels = t.nodes, t.depth, t.parent, t.parent_label
    if hydrate and hidden:  # still hidden after the last round: drop them and what hangs below
        keep, dropped = [], set()
        for i, (node, parent) in enumerate(zip(ids.tolist(), parents.tolist(), strict=True)):
            if node in hidden or parent in dropped:
                dropped.add(node)
            else:
                keep.append(i)
        keep = np.asarray(keep, dtype=np.int64)
        ids, depths, parents, labels = ids[keep], depths[keep], parents[keep], labels[keep]
    json = [hydrated.get(i) for i in ids.tolist()] if hydrate else None
    if len(ids) <= FEW:
        keys = nodes.key_list(plpy, r.v, ids.tolist())  # every parent is a visited node
        r.v.know_labels(plpy, labels)
        return _few_columns(ids, depths, parents, labels, keys, r.v.labels, json, t.capped)
    found, tables, pks = nodes.key_arrays(plpy, r.v, ids)
    return _columns(ids, depths, parents, labels, found, tables, pks,
                    r.v.label_names(plpy, labels), json, t.capped, len(r.security))


# An answer of at most this many nodes is put together in Python, node by node:
# each NumPy call costs about a microsecond whatever its size, and the
# whole-column way takes some thirty of them.
FEW = 64


def _columns(ids, depths, parents, labels, found, tables, pks, label_names, json, capped, n):
    """The columns of graph._traverse (see traverse_columns) of a traversal's
    arrays, the keys of its nodes (found, tables, pks: nodes.key_arrays),
    ``label_names`` (View.label_names), the node json of each (None: not
    hydrating), over ``n`` node ids. Rows of nodes not found are left out.
    The parents' ids are ids of the answer: when the ids' literal needed no
    escaping, theirs is one join with nothing looked for (plain_text_literal);
    the labels' is a join of their elements, each name written once
    (coded_literal)."""
    has_parent = parents >= 0
    rows = _rows_of(ids, parents, n)  # each parent's row (any row for a seed: masked below)
    parent_found = has_parent & found[rows]
    ptables, ppks = tables[rows], pks[rows]
    names, named = label_names
    label_at = np.where(has_parent, labels, -1)  # names[-1] is None: no edge
    elements = np.array([element_of(name) for name in names.tolist()], dtype=object)
    if json is not None:
        json = np.array(json, dtype=object)
    if not found.all():  # not readable after all: row-level security of graph._nodes
        keep = found
        depths, tables, pks, ptables, ppks, label_at, parent_found = (
            a[keep] for a in (depths, tables, pks, ptables, ppks, label_at, parent_found))
        json = None if json is None else json[keep]
    one = len(tables) and tables[0] == tables[-1] and bool((tables == tables[0]).all())
    ids_text, plain = checked_text_literal(pks)
    return {
        "tables": None if one else int_literal(tables),
        "ids": ids_text,
        "depths": int_literal(depths),
        "parent_tables": None if one else int_literal(ptables, ~parent_found),
        "parent_ids": (plain_text_literal if plain else text_literal)(ppks, ~parent_found),
        "labels": coded_literal(label_at, elements),
        "nodes": None if json is None else text_literal(json, np.array([j is None for j in json.tolist()],
                                                                       dtype=bool)),
        "capped": capped,
        "node_table": int(tables[0]) if one else None,
    }


def _quoted(text):
    """An element of an array literal: ``text`` double-quoted, its backslashes and
    double quotes escaped."""
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def _few_columns(ids, depths, parents, labels, keys, label_by_id, json, capped):
    """_columns of a few nodes, node by node, as Python lists (or arrays) in;
    ``keys``: (table oid, id text) or None of each node (nodes.key_list),
    ``label_by_id``: label id -> name."""
    ids, depths, parents, labels = (a if isinstance(a, list) else a.tolist()
                                    for a in (ids, depths, parents, labels))
    row = {node: i for i, node in enumerate(ids)}
    tables, pks, depth_out, ptables, ppks, names, docs = [], [], [], [], [], [], []
    for i, key in enumerate(keys):
        if key is None:  # not readable after all: row-level security of graph._nodes
            continue
        parent = parents[i]
        pkey = keys[row[parent]] if parent >= 0 else None
        tables.append(str(key[0]))
        pks.append(_quoted(key[1]))
        depth_out.append(str(depths[i]))
        if pkey is None:
            ptables.append("NULL")
            ppks.append("NULL")
        else:
            ptables.append(str(pkey[0]))
            ppks.append(_quoted(pkey[1]))
        name = label_by_id.get(labels[i]) if parent >= 0 else None
        names.append("NULL" if name is None else _quoted(name))
        if json is not None:
            docs.append("NULL" if json[i] is None else _quoted(json[i]))
    one = bool(tables) and tables.count(tables[0]) == len(tables)
    return {
        "tables": None if one else "{" + ",".join(tables) + "}",
        "ids": "{" + ",".join(pks) + "}",
        "depths": "{" + ",".join(depth_out) + "}",
        "parent_tables": None if one else "{" + ",".join(ptables) + "}",
        "parent_ids": "{" + ",".join(ppks) + "}",
        "labels": "{" + ",".join(names) + "}",
        "nodes": None if json is None else "{" + ",".join(docs) + "}",
        "capped": capped,
        "node_table": int(tables[0]) if one else None,
    }


def _bfs_columns(ids, depths, parents, labels, tables, pks, label_by_id, capped):
    """_few_columns of a small breadth-first traversal (traverse.bfs_lists: its seeds
    first, each without a parent, then every node with one) whose every key the
    backend holds (``tables``, ``pks``: nodes.key_columns), a column at a time:
    each literal is one str.join of the values, checked once for what would need
    quoting, where _few_columns quotes value by value (some microseconds a node on
    a loaded machine). None when that does not apply -- a label without a name,
    an id or label with a double quote or backslash --: then _few_columns answers."""
    seeds = 0
    for p in parents:
        if p >= 0:
            break
        seeds += 1
    rest = parents[seeds:]  # the parents of the nodes below the seeds
    if -1 in rest:
        return None
    names = list(map(label_by_id.get, labels[seeds:]))
    if None in names:
        return None
    ids_text = '","'.join(pks)
    label_text = '","'.join(names)
    # the separators' double quotes, and no other; no backslash
    if ("\\" in ids_text or "\\" in label_text or ids_text.count('"') != 2 * max(len(pks) - 1, 0)
            or label_text.count('"') != 2 * max(len(names) - 1, 0)):
        return None
    one = bool(tables) and tables.count(tables[0]) == len(tables)
    if rest:
        head = ",".join(["NULL"] * seeds) + "," if seeds else ""
        ptables = None
        if not one:
            table_of = dict(zip(ids, tables, strict=True))
            ptables = "{" + head + ",".join(map(str, map(table_of.__getitem__, rest))) + "}"
        pk_of = dict(zip(ids, pks, strict=True))  # ids checked above: parents are nodes
        ppks = "{" + head + '"' + '","'.join(map(pk_of.__getitem__, rest)) + '"}'
        label_names = "{" + head + '"' + label_text + '"}'
    else:
        ptables = ppks = label_names = "{" + ",".join(["NULL"] * seeds) + "}"
        if one:
            ptables = None
    return {
        "tables": None if one else "{" + ",".join(map(str, tables)) + "}",
        "ids": '{"' + ids_text + '"}' if pks else "{}",
        "depths": _depths_literal(depths),
        "parent_tables": ptables,
        "parent_ids": ppks,
        "labels": label_names,
        "nodes": None,
        "capped": capped,
        "node_table": int(tables[0]) if one else None,
    }


def _depths_literal(depths):
    """The array literal of ``depths``, a breadth-first answer's (traverse.lists_of:
    level by level, never falling): each level's run written at once (str.count,
    string repetition), not a str() of each node's depth joined (issue 9,
    benchmarks/HISTORY.md, forty-ninth stop)."""
    if not depths:
        return "{}"
    runs = []
    for depth in range(depths[0], depths[-1] + 1):
        runs.append((str(depth) + ",") * depths.count(depth))
    return "{" + "".join(runs)[:-1] + "}"


def _rows_of(ids, nodes, n):
    """The position in ``ids`` (distinct node ids below ``n``) of each of ``nodes``
    (which are in ``ids``, or -1: then any position). A small answer is sorted (O(k log k));
    a large one is scattered into slots over every node id (O(k): traverse.node_slots,
    kept from read to read, of which only those of ``ids`` are written and read)."""
    if not len(ids):
        return np.zeros(len(nodes), dtype=np.int64)
    if len(ids) > n // 64:
        row_of = traverse.node_slots(n)
        row_of[ids] = np.arange(len(ids))
        return row_of[np.where(nodes < 0, ids[0], nodes)]
    order = np.argsort(ids)
    at = np.searchsorted(ids, nodes, sorter=order)
    at[at == len(ids)] = 0
    return order[at]


def _hydrate(plpy, v, ids, hydrated):
    """Hydrate the nodes of ``ids`` not hydrated yet into ``hydrated`` (node id ->
    json text); returns the set of ids that have a row the caller can read."""
    todo = [int(i) for i in ids if int(i) not in hydrated]
    keys = nodes.keys(plpy, v, todo)
    by_table = {}
    for i, (table, pk) in keys.items():
        by_table.setdefault(table, []).append((i, pk))
    # Tables in oid order, not as the answer lists them: a superuser's or admin's hydration
    # holds each table it reads SHARE UPDATE EXCLUSIVE (graph._hold_sources), which conflicts
    # with itself, so two reads taking two tables in opposite orders deadlocked (40P01).
    for table in sorted(by_table):
        items = by_table[table]
        rows = nodes.hydrate(plpy, v.registry.nodes[table], [pk for _, pk in items])
        for i, pk in items:
            if pk in rows:
                hydrated[i] = rows[pk]
    return {int(i) for i in ids if int(i) in hydrated}


def _ends(plpy, src_table, src_id, dst_table, dst_id, tenant, walk, by_node=False):
    """The Read of a path from (src_table, src_id) to (dst_table, dst_id), and
    both ends' node ids (None, None when either is absent or hidden); ``walk``:
    how a path from the source may walk (its tables: the source's, see access.Walk);
    ``by_node``: the read asks about the nodes and edges it reaches (Read.settle)."""
    not_null(src_table=src_table, src_id=src_id, dst_table=dst_table, dst_id=dst_id)
    r = Read(plpy, tenant, ([src_table, dst_table], [src_id, dst_id]), "path end", walk._replace(from_ends=1),
             by_node=by_node, walk_edges=by_node)
    src, dst = r.ends
    if src is None or dst is None:
        return r, None, None
    return r, src, dst


def _path_rows(plpy, r, node_ids, step_labels, step_weights=None):
    keys = nodes.keys(plpy, r.v, node_ids)
    if len(keys) < len(set(node_ids)):
        return []
    r.v.know_labels(plpy, step_labels)
    out, cost = [], 0.0
    total = float(sum(step_weights)) if step_weights is not None else None
    for i, node in enumerate(node_ids):
        table, pk = keys[node]
        label = r.v.labels.get(step_labels[i - 1]) if i else None
        if step_weights is None:
            out.append((i, table, pk, label))
        else:
            weight = float(step_weights[i - 1]) if i else None
            cost += weight or 0.0
            out.append((i, table, pk, label, weight, cost, total))
    return out


@errors.entry_point
@stable
def shortest_path_rows(plpy, src_table, src_id, dst_table, dst_id, max_depth=None, direction=None,
                       edge_types=None, tenant=None):
    """Rows of graph.shortest_path: one per node of a fewest-edges path."""
    max_depth = check_depth(plpy, max_depth, DEFAULT_PATH_DEPTH)
    direction = check_choice(plpy, "direction", direction, DIRECTIONS, "out")
    no_nulls("edge_types", edge_types)
    r, src, dst = _ends(plpy, src_table, src_id, dst_table, dst_id, tenant,
                        access.Walk((), direction, max_depth, None, edge_types), by_node=True)
    if src is None:
        return []
    adj, label_mask = r.graph(direction, edge_types)
    reverse = {"out": "in", "in": "out", "any": "any"}[direction]
    back = r.adjacency(reverse)
    from graphsync.algorithms import bibfs  # here: a traversal never imports it (first-read cost)

    def walk():
        expanded = {"forward": [], "backward": []}
        path = bibfs.shortest_path(adj, back, r.security_array, src, dst, max_depth, label_mask, expanded)
        ids = {}
        for side, d in (("forward", direction), ("backward", reverse)):
            ids[d] = np.concatenate([ids.get(d, np.zeros(0, dtype=np.int64))] + expanded[side])
        return path, ids

    if r.settles:  # the nodes and edges of secured tables the search reaches asked about
        p = r.settle(walk, label_mask)
    else:
        p = bibfs.shortest_path(adj, back, r.security_array, src, dst, max_depth, label_mask)
    if p is None:
        return []
    return _path_rows(plpy, r, p.nodes.tolist(), p.labels.tolist())


@errors.entry_point
@stable
def weighted_shortest_path_rows(plpy, src_table, src_id, dst_table, dst_id, direction=None,
                                edge_types=None, tenant=None, invalid_weights=None):
    """Rows of graph.weighted_shortest_path: one per node of a cheapest path.
    ``invalid_weights``: 'error' (None: the default) refuses an edge in reach whose
    weight a cheapest path cannot use (_refuse_unusable_weights); 'skip' leaves
    such edges out of this read's graph (README "Weights")."""
    direction = check_choice(plpy, "direction", direction, DIRECTIONS, "out")
    invalid_weights = check_choice(
        plpy, "invalid_weights", invalid_weights, INVALID_WEIGHTS, "error",
        hint="Pass 'error' (the default: an edge in reach weighing less than 0, NaN or Infinity is an error)"
             " or 'skip' (such edges are left out of the search).")
    skip = invalid_weights == "skip"
    no_nulls("edge_types", edge_types)
    r, src, dst = _ends(plpy, src_table, src_id, dst_table, dst_id, tenant,
                        access.Walk((), direction, None, None, edge_types))
    if src is None:
        return []
    from graphsync.algorithms import bidijkstra, paths

    c, label_mask = r.csr(direction), r.v.label_mask(plpy, edge_types)
    if not skip:
        _refuse_unusable_weights(plpy, r, c, label_mask, direction, src)
    prepared = r.v.derived(
        ("weighted", skip) + r.acc.scope + (direction, tuple(edge_types) if edge_types is not None else None),
        lambda: bidijkstra.prepare(c.offsets, c.targets, c.weights, c.labels, r.security_array, label_mask,
                                   skip_invalid=skip))
    try:
        if prepared.has_negative:  # the reference decides whether a negative edge is in reach ('error' only)
            p = paths.weighted_shortest_path(c.offsets, c.targets, c.weights, c.labels, r.security_array,
                                             src, dst, label_mask)
        else:
            p = bidijkstra.shortest(prepared, c.weights, c.labels, src, dst)
    except paths.CostOutOfRange:
        raise _cost_out_of_range(plpy, r, src, dst) from None
    except paths.NegativeWeight as exc:
        ends = nodes.keys(plpy, r.v, [exc.tail, exc.head])  # both in the caller's mask
        detail = None
        if exc.tail in ends and exc.head in ends:
            (tail_table, tail_id), (head_table, head_id) = ends[exc.tail], ends[exc.head]
            detail = "The edge from (%s, %s) to (%s, %s) has weight %s." % (
                r.v.registry.nodes[tail_table].table_name, tail_id,
                r.v.registry.nodes[head_table].table_name, head_id, exc.weight)
        raise errors.InvalidArgument("negative edge weight %s on an edge reachable from the source" % exc.weight,
                                     detail=detail,
                                     hint="Edge weights must be >= 0 (a NULL weight counts as 1); invalid_weights"
                                          " => 'skip' leaves such edges out.") from None
    if p is None:
        return []
    rows = _path_rows(plpy, r, p.nodes.tolist(), p.step_labels.tolist(), p.step_weights.tolist())
    if rows and rows[-1][6] == np.inf:  # the search's sum in range, the steps' in their order not
        raise _cost_out_of_range(plpy, r, src, dst)
    return rows


def _cost_out_of_range(plpy, r, src, dst):
    """22003 for a cheapest path from node ``src`` to ``dst`` (both in the caller's
    mask, so named) whose finite weights sum past double precision: no total_cost
    holds it, and as +Infinity it would equal every other such cost."""
    ends = nodes.keys(plpy, r.v, [src, dst])
    (src_table, src_id), (dst_table, dst_id) = ends[src], ends[dst]
    return errors.NumericValueOutOfRange(
        "the cheapest path from (%s, %s) to (%s, %s) costs more than double precision holds" % (
            r.v.registry.nodes[src_table].table_name, src_id, r.v.registry.nodes[dst_table].table_name, dst_id),
        detail="Its edge weights are finite, but they sum past %r." % float(np.finfo(np.float64).max),
        hint="Scale the weights down (a larger unit), or leave the dearest edges out with edge_types.")


def _refuse_unusable_weights(plpy, r, c, label_mask, direction, src):
    """Raise 22023 naming the edge when the search from ``src`` could reach an edge
    whose weight a cheapest path cannot use (README "Weights"): negative, or
    +-Infinity (NaN is kept as +Infinity, see changes.weight_of). Dijkstra would
    silently skip an infinite edge (a path would seem missing) or answer wrongly
    past a negative one. Such edges elsewhere in the graph are no error."""
    w = c.weights
    bad = r.v.derived(("unusable_weights", direction) + r.acc.scope,
                      lambda: np.flatnonzero(~(np.isfinite(w) & (w >= 0))))
    if not len(bad):
        return
    tails = np.searchsorted(c.offsets, bad, side="right") - 1
    heads = c.targets[bad]
    allowed = r.security_array[tails] & r.security_array[heads]
    if label_mask is not None:
        allowed &= np.asarray(label_mask, dtype=bool)[c.labels[bad]]
    bad, tails, heads = bad[allowed], tails[allowed], heads[allowed]
    if not len(bad):
        return
    n = len(c.offsets) - 1
    reached = np.zeros(n, dtype=bool)
    reached[traverse.bfs(c.offsets, c.targets, c.labels, r.security_array, [src], n, n, label_mask).nodes] = True
    found = np.flatnonzero(reached[tails])
    if not len(found):
        return
    at, tail, head = int(bad[found[0]]), int(tails[found[0]]), int(heads[found[0]])
    weight = float(w[at])
    text = "Infinity" if weight == np.inf else "-Infinity" if weight == -np.inf else repr(weight)
    ends = nodes.keys(plpy, r.v, [tail, head])  # both in the caller's mask
    detail = None
    if tail in ends and head in ends:
        (tail_table, tail_id), (head_table, head_id) = ends[tail], ends[head]
        detail = "The edge from (%s, %s) to (%s, %s) has weight %s." % (
            r.v.registry.nodes[tail_table].table_name, tail_id,
            r.v.registry.nodes[head_table].table_name, head_id, text)
    source = next((e for e in r.v.registry.edges if e.edge_source_id == int(c.sources[at])), None)
    column = ""
    if source is not None and source.weight_column is not None:
        column = " It comes from column %s of %s." % (
            plpy.quote_ident(source.weight_column),
            plpy.execute(plpy.prepare("SELECT $1::regclass::text AS t", ["oid"]), [source.carrier])[0]["t"])
    raise errors.InvalidArgument(
        "%s edge weight %s on an edge reachable from the source" % ("negative" if weight < 0 else "infinite",
                                                                     text), detail=detail,
        hint="Edge weights must be >= 0 and finite (a NULL weight counts as 1, NaN as Infinity).%s Fix"
             " the row, leave the edge out of the search with edge_types, or pass invalid_weights => 'skip'"
             " to leave every such edge out." % column)


def _component_labels(plpy, r):
    from graphsync.algorithms import components

    c = r.csr("out")
    return r.v.derived(("components",) + r.acc.scope,
                       lambda: components.connected_components(c.offsets, c.targets, r.security_array))


@errors.entry_point
@stable
def connected_components_columns(plpy, tenant=None):
    """The one row of graph._components: every node the caller may see, in node id
    order, and its component, as parallel array literals (see int_literal): table
    oids, id texts, components. One row that graph.connected_components unnests
    instead of a row per node (see traverse_columns)."""
    r = Read(plpy, tenant)
    labels = _component_labels(plpy, r)
    ids = np.flatnonzero(labels >= 0)
    found, tables, pks = nodes.key_arrays(plpy, r.v, ids)
    if not found.all():
        ids, tables, pks = ids[found], tables[found], pks[found]
    return {"tables": int_literal(tables), "pks": text_literal(pks), "components": int_literal(labels[ids])}


@errors.entry_point
@stable
def component_of_columns(plpy, tbl, node_id, tenant=None):
    """The one row of graph._component_of: the nodes of the component holding (tbl,
    node_id), in node id order, as array literals of table oids and id texts
    (empty when the node does not exist or the caller may not see it)."""
    not_null(tbl=tbl, id=node_id)  # the names of graph.component_of
    r = Read(plpy, tenant, ([tbl], [node_id]), "node", access.Walk((), "any", None))
    [node] = r.ends
    if node is None:
        return {"tables": "{}", "ids": "{}"}
    labels = _component_labels(plpy, r)
    found, tables, pks = nodes.key_arrays(plpy, r.v, np.flatnonzero(labels == labels[node]))
    return {"tables": int_literal(tables[found]), "ids": text_literal(pks[found])}


@errors.entry_point
@stable
def component_stats_rows(plpy, tenant=None):
    """Rows (component, size), largest first."""
    from graphsync.algorithms import components

    r = Read(plpy, tenant)
    ids, sizes = components.component_stats(_component_labels(plpy, r))
    return list(zip(ids.tolist(), sizes.tolist(), strict=True))
