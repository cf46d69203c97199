"""The graph a read sees: the applied graph, kept per backend and brought up to
date in O(change), never by rebuilding full CSR arrays because a few edges changed.

Each backend keeps one ``Live`` graph per generation (in ``base._cache["live"]``):

- the base CSR of the generation (base.load: mapped from the generation's shared
  file, or loaded, once per generation; never written), with the 'any' direction and
  the table of every base node when the file holds them;
- an ``adjacency.Overlay``: the edge overlay folded in node by node, per direction
  ('out', 'in', 'any', each made the first time a read asks for it);
- the alive flag of every node id, and (loaded on first use) its table;
- the registry;
- how far it has read: the last overlay row id and the last node change id.

When graph._graph_version moves (every change of a graph table does, migration
002), ``current`` reads only what is new: overlay rows with a higher id, nodes
with a higher change_id (migration 070), the cuts. Graph writes are
serialized by the lock on graph._sync_state, so ids and change ids grow in commit
order and nothing committed is skipped. A new TRUNCATE cut re-folds the overlay
on the cut base (rare); a new generation loads a new base.

When the backend holds a view folded with pending rows (reads/freshness.py)
and another backend applies them, the next refresh takes that view's graph
instead of folding the applied overlay rows in again, when it is provably the
graph the refresh would make (Live.adopt checks it on content: the overlay rows
written since begin with exactly the edges the view added, in order). Under
writes that is the exception: a reader usually folded rows committed after the
apply's snapshot too; it then refreshes and keeps its folded view, re-keyed
onto the refreshed graph (reads/freshness.py, rekeyed). That refresh reads only what
rekeyed() compares -- node changes, cuts, registry, version -- not the overlay rows
the apply wrote, which the read never walks (``Live.overlay_behind``): the backend's
next refresh of the applied graph itself reads them, for a read that walks it (at
rest) or copies it (a fold that cannot go onto its kept view). The applied graph's
overlay also makes the directions its copies walk (adjacency.Overlay.wanted) and
follows later rows into them when next walked or copied, so a copy copies them
rather than making them again from every overlay edge since the base.

A transaction that wrote the graph itself (a read that applied pending rows, or
an admin's apply in the same transaction) sees its uncommitted rows, and the kept
graph takes them too; the next read checks that they still exist (the transaction
committed, and no savepoint rolled them back) and starts again from the base
when they do not. A transaction that wrote a new base keeps nothing.

Dead nodes keep their edges: the algorithms take an ``alive``/enterable mask.
Everything held is structural (node ids, tables of node ids, alive flags, edges,
label ids): the same for every role, and read as graphsync's definer role
(db.as_definer: the base, the overlay, the cuts), since the tables it comes from hold
the edges of rows the reading role may not read; each read drops those. Label names
are row values (a label column's): they are asked of graph._labels as the reading role, so graph._labels'
row-level security (migration 240) gives a read the names of the labels its caller
may see; an edge whose label it may not see has no name. A read asks only for the
labels it needs -- those its answer carries, the edge types it follows, the labels
of the pending rows it folds and of the join rows it reads (``LabelNames.know``) --
for that policy asks about each label row it checks (migration 425): asking for
every label cost a read some 6 us a label in the graph. What a role was told is
kept for the role and the generation (``with_labels``: a label's id and name never
change; a label asked for and not shown is asked again at the next version); a role
for which some label column's table has row-level security active is told anew on
every read, as its rows may show or hide a label without any graph change; a read's
policy then asks only the secured label columns of the tables the read can reach
(``carriers``: access.label_carriers, label_policy.narrowed).
Keys, tenants and properties stay in graph._nodes, behind row-level security. ``STATS`` counts what refreshing cost
(tests assert that writes never make a read rebuild full arrays).
"""

from graphsync import errors
from graphsync.algorithms import csr
from graphsync.algorithms import weights as weights_mod
from graphsync.algorithms.adjacency import Overlay, both_ways, cut_base
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import as_definer, may_select, run
from graphsync.reads import label_policy
from graphsync.sync import base, registry

# The version: graph._graph_version's, plus the changes of the registry the
# schema-change follower committed (renames, drops), which leave that row alone
# (migrations 431, 437).
VERSION = "(v.version + (SELECT coalesce(sum(r.renames), 0)::bigint FROM graph._column_renames AS r))"
KEY = "SELECT s.generation, %s AS version FROM graph._sync_state AS s, graph._graph_version AS v" % VERSION

# A column every statement of a read that gives or takes node ids carries: the
# generation its snapshot sees (see same_generation).
GENERATION = "(SELECT s.generation FROM graph._sync_state AS s) AS generation"

CUTS = "SELECT c.edge_source_id, c.overlay_id FROM graph._edge_cuts AS c"

OVERLAY_AFTER = """
SELECT coalesce(pg_catalog.array_agg(CASE o.op WHEN '+' THEN 1 ELSE -1 END ORDER BY o.id),
                           '{}') AS ops,
       coalesce(pg_catalog.array_agg(o.src ORDER BY o.id), '{}') AS src,
       coalesce(pg_catalog.array_agg(o.dst ORDER BY o.id), '{}') AS dst,
       coalesce(pg_catalog.array_agg(o.weight ORDER BY o.id), '{}') AS w,
       coalesce(pg_catalog.array_agg(o.label_id ORDER BY o.id), '{}') AS lab,
       coalesce(pg_catalog.array_agg(o.edge_source_id ORDER BY o.id), '{}') AS es,
       pg_catalog.max(o.id) AS last
FROM graph._edge_overlay AS o
LEFT JOIN graph._edge_cuts AS c ON c.edge_source_id = o.edge_source_id
WHERE o.id > $1 AND o.id <= $2 AND o.id > coalesce(c.overlay_id, 0)
"""

NODE_CHANGES = "SELECT node_ids, alive, table_oids, last, %s FROM graph._node_changes($1, $2)" % GENERATION

NODE_RUNS = "SELECT r.table_oid, r.first_id, r.last_id, %s FROM graph._node_runs($1) AS r" % GENERATION

NODE_IDS_HELD = "SELECT graph._node_ids_held($1, $2) AS held, %s" % GENERATION

# What a read needs before it asks for any label (with_labels): the highest label
# id there is (the sequence: a number, no label), which new labels folded from
# pending rows start above, who the caller is, and whether what graph._labels shows
# it may change without a graph change: the row-level security of a label column's
# table applies to the caller. A graph_admin member (superusers too) sees every
# label, and graph._labels' policy asks nothing for it: it is told them all at once
# (ids, names; empty for anyone else). With the generation it saw: a rebuild drops
# the labels its base no longer uses (sync/build.py UNUSED_LABELS), so a read still
# holding the base before it runs again (Renumbered) rather than miss their names.
LABELS = """
SELECT (SELECT s.last_value FROM graph._labels_label_id_seq AS s) AS top,
       current_user::text AS me, %s,
       a.admin, d.ids, d.names,
       (NOT a.admin AND EXISTS (
           SELECT FROM graph._edge_sources AS e
           CROSS JOIN LATERAL (SELECT CASE WHEN e.kind = 'join' THEN e.via_table ELSE e.from_table END AS t) AS c
           WHERE e.label_column IS NOT NULL
             AND CASE WHEN %s
                      THEN pg_catalog.row_security_active(c.t) ELSE false END)) AS per_read
FROM (SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') AS admin) AS a
CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.array_agg(l.label_id), '{}') AS ids,
                           coalesce(pg_catalog.array_agg(l.label), '{}') AS names
                    FROM graph._labels AS l WHERE a.admin) AS d
""" % (GENERATION, may_select("c.t"))

# The labels of ids $1 and names $2 the caller may see (LabelNames.know): both
# conditions are leakproof, so graph._labels' policy is asked only about the rows
# the two unique indexes find. With the generation it saw, as LABELS.
LABELS_OF = """
SELECT coalesce(pg_catalog.array_agg(l.label_id), '{}') AS ids, coalesce(pg_catalog.array_agg(l.label), '{}') AS names,
       %s
FROM graph._labels AS l
WHERE l.label_id = ANY ($1) OR l.label = ANY ($2)
""" % GENERATION


class LabelNames:
    """The label names one reader was told (graph._labels as that reader, see the
    module docstring): label id -> name (``by_id``) and name -> id (``by_name``) of
    the labels asked for so far, and which ids and names were asked for."""

    __slots__ = ("role", "narrow", "by_id", "by_name", "asked_ids", "asked_names", "complete")

    def __init__(self, role=None, narrow=None):
        self.role = role
        self.narrow = narrow  # the label carriers graph._labels' policy asks (label_policy.narrowed)
        self.by_id, self.by_name = {}, {}
        self.asked_ids, self.asked_names = set(), set()
        self.complete = False  # told every label (an admin's): nothing to ask

    def copy(self):
        other = LabelNames(self.role, self.narrow)
        other.by_id, other.by_name = dict(self.by_id), dict(self.by_name)
        other.asked_ids, other.asked_names = set(self.asked_ids), set(self.asked_names)
        other.complete = self.complete
        return other

    def add(self, label_id, name):
        self.by_id[label_id] = name
        self.by_name[name] = label_id

    def know(self, plpy, ids=(), names=(), generation=None):
        """Ask graph._labels for the labels of ``ids`` (label ids; -1, no edge, is
        passed by) and ``names`` not asked for yet, in one statement; Renumbered
        when it saw another ``generation`` than the read's (see LABELS)."""
        if self.complete:
            return
        ids = [i for i in set(ids) if i >= 0 and i not in self.by_id and i not in self.asked_ids]
        names = [n for n in set(names) if n is not None and n not in self.by_name and n not in self.asked_names]
        if not ids and not names:
            return
        with label_policy.narrowed(self.narrow):
            r = run(plpy, LABELS_OF, ["integer[]", "text[]"], [ids, names])[0]
        if generation is not None:
            same_generation(generation, r)
        for label_id, name in zip(r["ids"], r["names"], strict=True):
            self.add(label_id, name)
        if len(self.asked_ids) + len(self.asked_names) + len(ids) + len(names) > ASKED_AT_MOST:
            # (every name a reader's edge_types held was kept for the backend's life: 200
            # reads of new 100 kB names held 100 MB; forgotten, they are asked again)
            self.asked_ids.clear()
            self.asked_names.clear()
        self.asked_ids.update(ids)
        self.asked_names.update(names)


# The labels a LabelNames keeps as asked for and not shown, at most (see know).
ASKED_AT_MOST = 1024

# The LabelNames of the last role told labels in this backend without row-level
# security of a label column applying to it, and of which generation (with_labels).
_told = {"for": None, "names": None}


UNBOUNDED = 2 ** 62


class Renumbered(Exception):
    """A statement of a read saw another generation than the read's view: a
    rebuild committed while the read ran (reads.api.stable runs it again)."""


class Moved(Renumbered):
    """The graph a read was about to show is not the one its START statement's
    snapshot saw (an apply committed in between: reads.freshness): the read runs
    again (reads.api.stable), so that it shows one snapshot's graph. ``labels``: the
    backend's kept folded view was read for other label carriers than the read asks
    (reads.freshness.folded)."""

    def __init__(self, labels=False):
        super().__init__()
        self.labels = labels


def same_generation(generation, row):
    """Raise Renumbered unless the statement that returned ``row`` (with a
    ``generation`` column, GENERATION) saw ``generation``.

    Node ids mean something only within one generation, and under READ COMMITTED
    each statement of a read has its own snapshot: a rebuild that commits between
    two of them renumbers the nodes. Each statement that gives or takes node ids
    says which generation it saw, so no extra round trip checks it."""
    if row["generation"] != generation:
        raise Renumbered()


# overlay_rows/node_changes: the rows a refresh read and folded in; copies: Live.copy;
# adoptions: refreshes that took a folded view's graph (Live.adopt), whose
# overlay rows it compared (rows_compared) instead of folding them in again
STATS = {"base_loads": 0, "adjacency_builds": 0, "refreshes": 0, "nodes_relocated": 0,
         "full_arrays": 0, "copies": 0, "overlay_rows": 0, "node_changes": 0,
         "adoptions": 0, "rows_compared": 0}


class Live:
    """The applied graph of one generation as this backend holds it (see above)."""

    def __init__(self, plpy, generation, keep=True):
        b = base.load(plpy, generation, keep=keep)
        STATS["base_loads"] += 1
        self.generation = generation
        self.base = b
        self.base_count = len(b["alive"])
        self._alive = None  # this graph's own alive flags (the property alive), made when first asked
        self.tables = None
        self.cuts = {}
        self.last_overlay = 0
        self.last_change = 0
        self.book = LabelNames()  # the label names of a view of this graph (a fold's: reads/freshness.py)
        self.label_top = 0  # no label has a higher id
        self.registry = None
        self.overlay = self._new_overlay()
        # overlay rows past last_overlay left unread by the last refresh (changes(overlay=False)):
        # the next refresh reads them; until then this graph is only what current() rekeys by
        self.overlay_behind = False
        # the highest graph version a statement after a refresh saw (current): what this
        # graph holds is of that version or older
        self.version = -1

    def _new_overlay(self):
        b, cuts = self.base, set(self.cuts)
        bases = {"out": lambda: cut_base(b["out"], cuts),
                 "in": (lambda: b["in"]) if not cuts else (lambda: csr.reverse(cut_base(b["out"], cuts))),
                 "any": (lambda: b["any"]) if not cuts and b.get("any") is not None
                 else (lambda: both_ways(cut_base(b["out"], cuts)))}
        o = Overlay(bases, max(self.base_count, self.node_count))
        o.stats = STATS_PROXY
        return o

    def copy(self, overlay=True):
        """A copy a fold may change. ``overlay`` False: the copy's overlay is an empty
        one over the same bases sharing this graph's net counts (Overlay.net) to read,
        never to write: for a fold that replaces it with full arrays
        (reads/freshness.py), which so copies neither those counts nor the adjacencies."""
        other = object.__new__(Live)
        other.__dict__.update(self.__dict__)
        other.alive = self.alive.copy()  # (makes this graph's own flags: a fold writes the copy's)
        other.tables = None if self.tables is None else self.tables.copy()
        other.cuts = dict(self.cuts)
        if overlay:
            other.overlay = self.overlay.copy()
        else:
            other.overlay = Overlay(self.overlay.bases, self.overlay.node_count)
            other.overlay.net, other.overlay.stats = self.overlay.net, self.overlay.stats
        STATS["copies"] += 1
        return other

    @property
    def alive(self):
        """The alive flag of every node id, as this graph's own NumPy bool array: a copy
        of the base's, made the first time it is asked for (a change of a node writes
        it; whole-array reads read it). Reads that walk a few nodes read alive_flags()."""
        if self._alive is None:
            self._alive = np.array(self.base["alive"], dtype=bool)
        return self._alive

    @alive.setter
    def alive(self, flags):
        self._alive = flags

    def alive_flags(self):
        """The alive flags to read one by one (indexable, len): this graph's own array
        once made, else the base's as given (a memoryview of the mapped file at rest:
        no copy, no NumPy)."""
        return self.base["alive"] if self._alive is None else self._alive

    @property
    def node_count(self):
        return len(self.alive_flags())

    def _grow(self, n):
        if n > self.node_count:
            self.alive = np.concatenate([self.alive, np.zeros(n - len(self.alive), dtype=bool)])
            if self.tables is not None:
                self.tables = np.concatenate([self.tables, np.zeros(n - len(self.tables), dtype=np.int64)])
        self.overlay.grow(self.node_count)

    def _check_growth(self, plpy, read):
        """Refuse the node ids of ``read`` ((table, int64 ids) pairs, ids not empty: what
        one refresh read) unless every one is a node id: not negative (check_node_ids),
        and none past the nodes held unless every id in between is a graph._nodes row.
        Returns the node count that holds them. Node ids are dense above the base
        (replay gives each new node the next id after the largest, and the ends of an
        overlay row are nodes of its batch), so this holds for whatever replay wrote; a
        role that may write the graph tables (graph_admin) could write one row of id
        2^40 (or 2^31), and every reading backend then allocated arrays of one entry
        per id up to it (a MemoryError, or gigabytes of each backend). Growing by no
        more entries than the ids read needs no statement (that much memory was read
        already, and a refresh reads every node replay added, with its overlay rows);
        beyond, NODE_IDS_HELD counts the rows of the ids in between through the primary
        key (as many as the growth when it holds, the few a forged id leaves when not):
        errors.DataCorrupted (XX001) naming the table of the largest id."""
        have, n, count, far = self.node_count, 0, 0, None
        for table, ids in read:
            check_node_ids(ids, table)
            top = int(ids.max()) + 1
            if top > n:
                n, far = top, table
            count += len(ids)
        if n > have + count:
            r = as_definer(plpy, run, plpy, NODE_IDS_HELD, ["bigint", "bigint"], [have, n])[0]
            same_generation(self.generation, r)  # (a rebuild renumbers the nodes: Renumbered)
            if r["held"] < n - have:
                raise errors.DataCorrupted(
                    "%s holds node id %d, past the graph's %d nodes: graph._nodes holds %d of the %d ids"
                    " between" % (far, n - 1, have, r["held"], n - have),
                    hint="Run graph.build() to build the graph again from its source tables.")
        return n

    def changes(self, plpy, upto_overlay=UNBOUNDED, upto_change=UNBOUNDED, overlay=True):
        """(cuts, overlay row, node change row): what changed since the last refresh (up
        to the given ids), as refresh folds it in; the whole overlay when the cuts changed.
        ``overlay`` False: no overlay row while the cuts are the same (an overlay row of
        last None, ``behind``: refresh leaves them for a later refresh, overlay_behind).
        Read as graphsync's definer role (db.as_definer): graph._edge_overlay and
        graph._edge_cuts are not the reading role's."""
        return as_definer(plpy, self._changes, plpy, upto_overlay, upto_change, overlay)

    def _changes(self, plpy, upto_overlay, upto_change, overlay):
        cuts = {int(r["edge_source_id"]): r["overlay_id"] for r in run(plpy, CUTS)}
        if overlay or cuts != self.cuts:
            after = self.last_overlay if cuts == self.cuts else 0
            o = run(plpy, OVERLAY_AFTER, ["bigint", "bigint"], [after, upto_overlay])[0]
        else:
            o = {"last": None, "behind": True}
        d = run(plpy, NODE_CHANGES, ["bigint", "bigint"], [self.last_change, upto_change])[0]
        return cuts, o, d

    def refresh(self, plpy, upto_overlay=UNBOUNDED, upto_change=UNBOUNDED, changes=None):
        """Fold in what changed since the last refresh (up to the given ids; ``changes``:
        what self.changes() read, when read already)."""
        STATS["refreshes"] += 1
        cuts, o, d = changes if changes is not None else self.changes(plpy, upto_overlay, upto_change)
        if cuts != self.cuts:  # a TRUNCATE since: fold the whole overlay on the cut base
            self.cuts, self.last_overlay = cuts, 0
            self.overlay = self._new_overlay()
        self._take(plpy, o, d)
        self.overlay_behind = o.get("behind", False)
        self.registry = registry.load(plpy)

    def _take(self, plpy, o, d):
        """Fold in overlay rows ``o`` and node changes ``d`` (rows of OVERLAY_AFTER and
        NODE_CHANGES, or slices of them), once their node ids are (_check_growth)."""
        edges = o["last"] is not None and len(o["ops"])
        nodes = d["last"] is not None and len(d["node_ids"])
        if edges or nodes:
            read = [("graph._edge_overlay", np.asarray(o["src"] + o["dst"], dtype=np.int64))] if edges else []
            if nodes:
                read.append(("graph._nodes", np.asarray(d["node_ids"], dtype=np.int64)))
            self._grow(self._check_growth(plpy, read))
        if o["last"] is not None:
            if len(o["ops"]):
                # (into the directions held when next walked or copied: Overlay.add)
                self.overlay.add(o["ops"], o["src"], o["dst"], o["w"], o["lab"], o["es"], later=True)
                STATS["overlay_rows"] += len(o["ops"])
            self.last_overlay = o["last"]
        if d["last"] is not None:
            ids = np.asarray(d["node_ids"], dtype=np.int64)
            self.alive[ids] = np.asarray(d["alive"], dtype=bool)
            STATS["node_changes"] += len(ids)
            if self.tables is not None:
                self.tables[ids] = np.asarray(d["table_oids"], dtype=np.int64)
            self.last_change = d["last"]

    def adopt(self, plpy, f, changes):
        """The Live graph of folded view ``f`` brought up to date, when it is the graph
        refresh(changes) would make of this one; else None (this graph is unchanged).

        The condition, checked on content, not on which rows whose apply wrote what:
        ``f`` was folded from this graph as it is now (the same object, read up to the
        same overlay row and node change: ``f.applied``), by folds that only added edges
        and changed nodes' flags (``f.edge_log``: no TRUNCATE, no full arrays, no
        temporary node id), the cuts did not change, and the overlay rows written since
        begin with exactly the edges ``f`` added, in the same order (Overlay.add folds
        rows one after the other, so adding a sequence in two goes -- the fold's, then
        the rest -- leaves what adding it in one does). Node flags: refresh sets those
        of every node changed since to the applied values; ``f`` changed only the nodes
        its folds counted (``f.node_counts``); those the apply did not change must hold
        this graph's flags in ``f``. The rest of the overlay rows and the node changes
        are then taken into ``f``'s graph as refresh takes them. Labels and the registry
        are read again as after any refresh. So the graph returned holds the same base,
        cuts, overlay sequence, flags and tables as this one refreshed."""
        log = getattr(f, "edge_log", None)
        if log is None or f.extra_keys or f.applied != (self, self.last_overlay, self.last_change):
            return None
        cuts, o, d = changes
        if cuts != self.cuts:
            return None
        n = sum(len(ops) for ops, _ in log)
        got = 0 if o["last"] is None else len(o["ops"])
        if got < n:
            return None
        if n:
            ops = np.concatenate([np.asarray(ops, dtype=np.int64) for ops, _ in log])
            edges = [np.concatenate([e[j] for _, e in log]) for j in range(5)]
            wrote = [np.asarray(o[c][:n], dtype=t) for c, t in (
                ("ops", np.int64), ("src", np.int64), ("dst", np.int64), ("w", np.float64),
                ("lab", np.int64), ("es", np.int64))]
            STATS["rows_compared"] += n
            if not (np.array_equal(ops, wrote[0]) and np.array_equal(edges[0], wrote[1])
                    and np.array_equal(edges[1], wrote[2])
                    and np.array_equal(weights_mod.keys(edges[2]), weights_mod.keys(wrote[3]))
                    and np.array_equal(edges[3].astype(np.int64), wrote[4])
                    and np.array_equal(edges[4].astype(np.int64), wrote[5])):
                return None
        live = f.live
        changed = np.fromiter(f.node_counts, dtype=np.int64, count=len(f.node_counts))
        if len(changed):
            applied = np.asarray(d["node_ids"] if d["last"] is not None else [], dtype=np.int64)
            only = changed[~np.isin(changed, applied)]  # changed by f alone
            if len(only) and not np.array_equal(live.alive[only],
                                                np.asarray(self.alive_flags())[only].astype(bool)):
                return None
        rest = {c: o[c][n:] for c in ("ops", "src", "dst", "w", "lab", "es")} if got else o
        live._take(plpy, {**rest, "last": o["last"]}, d)
        live.registry = registry.load(plpy)
        STATS["refreshes"] += 1
        STATS["adoptions"] += 1
        return live

    def node_tables(self, plpy):
        """Table oid of every node id (int64[node_count]), made on first use: the
        base's (recorded by build, else runs over the base ids from graph._nodes),
        then every node changed since the build. Read as graphsync's definer role
        (db.as_definer), as the overlay is."""
        if self.tables is None:
            self.tables = as_definer(plpy, self._read_node_tables, plpy)
        return self.tables

    def _read_node_tables(self, plpy):
        tables = np.zeros(self.node_count, dtype=np.int64)
        if self.base.get("tables") is not None:  # recorded by build (migration 130)
            tables[:self.base_count] = np.asarray(self.base["tables"])
        else:
            for r in run(plpy, NODE_RUNS, ["bigint"], [self.base_count]):
                same_generation(self.generation, r)
                tables[r["first_id"]:r["last_id"] + 1] = int(r["table_oid"])
        d = run(plpy, NODE_CHANGES, ["bigint", "bigint"], [0, self.last_change])[0]
        same_generation(self.generation, d)
        if d["node_ids"]:
            ids = np.asarray(d["node_ids"], dtype=np.int64)
            keep = ids < len(tables)
            tables[ids[keep]] = np.asarray(d["table_oids"], dtype=np.int64)[keep]
        return tables

    def arrays(self):
        """What this graph holds, for base.cache_nbytes()."""
        held = [self._alive, self.tables]
        for a in self.overlay.adj.values():  # only what it made (see adjacency._OnUse)
            held += [a.slot] + [a.__dict__.get(name) for name in (
                "seg_lo", "seg_hi", "t_targets", "t_labels", "t_weights", "t_sources",
                "offsets", "targets", "labels", "weights", "sources")]
        return held


def check_node_ids(ids, table):
    """Refuse node ids ``ids`` (an int64 array or a list, not empty) read from ``table``
    unless every one is a node id: no build or replay writes a negative one, which
    NumPy and Python would take for a node counted from the end, and SciPy's C code
    for a place before its arrays (a role that may write the graph tables could write
    one: errors.DataCorrupted)."""
    low = int(ids.min()) if hasattr(ids, "min") else min(ids)  # (a list: no NumPy)
    if low < 0:
        raise errors.DataCorrupted("%s holds node id %d, which is no node id" % (table, low),
                                   hint="Run graph.build() to build the graph again from its source tables.")


class _StatsProxy(dict):
    """Overlay counters, kept in STATS under the names reads report."""

    def __getitem__(self, key):
        return STATS[{"full": "adjacency_builds", "nodes": "nodes_relocated"}[key]]

    def __setitem__(self, key, value):
        STATS[{"full": "adjacency_builds", "nodes": "nodes_relocated"}[key]] = value


STATS_PROXY = _StatsProxy()


class View:
    """The graph one read runs on: a Live graph (or a copy of one) under a key."""

    def __init__(self, key, live):
        self.key = key
        self.live = live
        self.node_count = live.node_count
        self.base_count = live.base_count
        self.book = live.book  # the label names the caller was told (with_labels)
        self.label_top = live.label_top
        self.labels_for = None  # (role, key) the names were loaded for (with_labels)
        self.registry = live.registry
        self.cuts = set(live.cuts)  # edge sources cut (TRUNCATE) since the build
        self._csr = {}
        self._derived = {}
        # Set on a view folded with pending rows (freshness.fold): node id ->
        # (table_oid, pk) of nodes not in graph._nodes, and node id -> (tenant,
        # properties json) of nodes whose pending row changed them.
        self.extra_keys = {}
        self.node_values = {}
        self.pending = False
        # False when the graph held is newer than ``key`` says (current(): a graph
        # change committed while it was read; a read then starts again, see Moved)
        self.exact = True

    @property
    def alive(self):
        """The alive flag of every node id (bool[node_count], its Live graph's)."""
        return self.live.alive

    def alive_flags(self):
        """The alive flags to read one by one (Live.alive_flags): no NumPy at rest."""
        return self.live.alive_flags()

    def adjacency(self, direction):
        """The Adjacency of ``direction`` ('out', 'in' or 'any') that traversals walk."""
        a = self.live.overlay.adjacency(direction)
        a.grow(self.node_count)
        return a

    def csr(self, direction):
        """The effective graph of ``direction`` as contiguous CSR arrays, for the
        algorithms that take whole arrays (components, weighted paths, verify):
        O(edges), once per view and direction."""
        c = self._csr.get(direction)
        if c is None:
            c = self.adjacency(direction).compact()
            if c.node_count < self.node_count:
                more = np.full(self.node_count - c.node_count, c.offsets[-1], dtype=np.int64)
                c = csr.Csr(np.concatenate([c.offsets, more]), *c[1:])
            STATS["full_arrays"] += 1
            self._csr[direction] = c
        return c

    def tables(self, plpy):
        """Table oid of every node id (int64[node_count])."""
        tables = self.live.node_tables(plpy)
        for i, k in self.extra_keys.items():
            tables[i] = k[0]
        return tables

    def derived(self, key, make):
        """A value computed from this view, kept with it (bounded: a few entries)."""
        if key not in self._derived:
            if len(self._derived) >= 16:
                self._derived.pop(next(iter(self._derived)))
            self._derived[key] = make()
        return self._derived[key]

    @property
    def labels(self):
        """label id -> name of the labels the caller was told (know_labels)."""
        return self.book.by_id

    @property
    def label_ids(self):
        """label name -> id of the labels the caller was told (know_labels)."""
        return self.book.by_name

    def know_labels(self, plpy, ids=(), names=()):
        """Ask for the names of label ids ``ids`` (a list, or a NumPy array) and the ids
        of label names ``names`` the caller was not told yet (LabelNames.know)."""
        if self.book.complete:
            return
        if not isinstance(ids, (list, tuple, set)):  # (a mask, not np.unique's sort: a large answer's)
            ids = np.asarray(ids)
            ids = ids[ids >= 0]
            seen = np.zeros(int(ids.max(initial=-1)) + 1, dtype=bool)
            seen[ids] = True
            ids = np.flatnonzero(seen).tolist()
        self.book.know(plpy, ids, names, self.key[0])

    def label_names(self, plpy, labels):
        """(names object[], named bool[]) indexed by label id, covering the ids in
        ``labels`` (a NumPy array of label ids), whose names it asks for; the last
        entry (index -1) is None: no edge."""
        self.know_labels(plpy, labels)
        top = int(labels.max(initial=-1))
        told = (self.book, len(self.book.by_id))
        names = self._derived.get("label_names")
        if names is None or names[2] != told or len(names[0]) < top + 2:
            names = np.empty(max(max(self.labels, default=-1), self.label_top, top) + 2, dtype=object)
            for label_id, name in self.labels.items():
                names[label_id] = name
            names = (names, np.array([name is not None for name in names.tolist()], dtype=bool), told)
            self._derived["label_names"] = names
        return names[:2]

    def label_mask(self, plpy, edge_types):
        """None (every label), or bool[max label id + 1] of the labels in ``edge_types``."""
        if edge_types is None:
            return None
        self.know_labels(plpy, names=edge_types)
        mask = np.zeros(max(max(self.labels, default=-1), self.label_top) + 1, dtype=bool)
        for name in edge_types:
            i = self.label_ids.get(name)
            if i is not None:
                mask[i] = True
        return mask

    def arrays(self):
        """What this view holds beyond its Live graph, for base.cache_nbytes()."""
        return [self._csr, self._derived]


# Set while the kept Live graph holds rows of a transaction that has not ended
# (this backend's own writes): {"xid", "overlay", "change"}, the last ids read then.
_taint = {}


# Whether the rows the kept graph read last in a transaction that wrote the graph
# still exist, and, $1 given, that transaction committed: the last node change id it
# read ($2, 0 for none), as the reader; the last overlay row id (_STILL_THERE_OVERLAY),
# as graphsync's definer role (db.as_definer: graph._edge_overlay is not the reader's).
_STILL_THERE = """
SELECT ($1 IS NULL OR pg_catalog.pg_xact_status($1::pg_catalog.xid8) = 'committed')
       AND ($2 = 0 OR EXISTS (SELECT FROM graph._nodes AS n WHERE n.change_id = $2)) AS ok"""
_STILL_THERE_OVERLAY = "SELECT EXISTS (SELECT FROM graph._edge_overlay AS o WHERE o.id = $1) AS ok"


def _still_there(plpy, xid, overlay, change):
    if overlay and not as_definer(plpy, run, plpy, _STILL_THERE_OVERLAY, ["bigint"], [overlay])[0]["ok"]:
        return False
    return run(plpy, _STILL_THERE, ["text", "bigint"], [xid, change])[0]["ok"]


def _untaint(plpy, own):
    """False when the kept graph holds rows that no longer exist: its transaction
    rolled back, or rolled back to a savepoint before them -- also one that then
    committed (a committed transaction's status alone kept the edges of rows a
    savepoint took back, for the rest of the generation:
    tests/test_abuse_session44.py)."""
    if own is not None and own["xid"] == _taint["xid"]:
        return _still_there(plpy, None, _taint["overlay"], _taint["change"])
    ok = _still_there(plpy, _taint["xid"], _taint["overlay"], _taint["change"])
    _taint.clear()
    return ok


def with_labels(plpy, v, caller=None, carriers=None, shared=True):
    """``v`` ready to tell its caller the label names it may see (see the module
    docstring): the kept graph is shared by every role a backend runs reads as.
    ``caller``: (current_user, what graph._labels' policy shows it depends on: whether
    it is an admin, and which label columns' tables it may SELECT and under row-level
    security -- reads.start's label_access), when the caller knows them; what a role
    was told is kept under both, so that a GRANT, a REVOKE or row-level security
    turned on or off makes it be told anew (a book kept for the role alone answered
    with the labels it could not see before a GRANT: tests/test_reads_label_grant.py).
    ``carriers``: a callable of the registry giving the tables whose secured label
    columns graph._labels' policy may ask (label_policy.narrowed), None: every one.
    ``shared`` False: the read's transaction wrote the graph (base.own_writes), and
    graph._labels shows it the labels its apply added, which a rollback takes back
    while their ids stay taken (a sequence's): the book kept for the backend
    (``_told``) is neither used nor kept then. (It was: a reader whose read applied a
    new label in a transaction it rolled back kept that label's name under an id no
    label holds, and its later reads filtering by the name dropped every edge of the
    label, until the next rebuild: tests/test_abuse_session44.py.)"""
    if caller is not None and v.labels_for == (caller, v.key):
        return v
    r = run(plpy, LABELS)[0]
    same_generation(v.key[0], r)
    known = caller is not None and caller[0] == r["me"]
    v.labels_for = (caller, v.key) if known and not r["per_read"] else None
    if r["admin"]:
        book = LabelNames(r["me"])
        for label_id, name in zip(r["ids"], r["names"], strict=True):
            book.add(label_id, name)
        book.complete = True
    elif r["per_read"]:
        book = LabelNames(r["me"], None if carriers is None else carriers(v.registry))
    elif not shared:
        book = LabelNames(r["me"])
    elif known and _told["for"] == (v.key[0], caller):
        book = _told["names"]
        book.asked_ids.clear()  # (a label not shown before may be now)
        book.asked_names.clear()
    else:
        book = LabelNames(r["me"])
        _told.update({"for": (v.key[0], caller) if known else None, "names": book})
    v.book = book
    v.live.label_top = max(int(r["top"] or 0), v.live.label_top)
    v.label_top = v.live.label_top
    return v


def current(plpy, key=None, caller=None, carriers=None, adopt=True):
    """The View of the applied graph: the kept Live graph, brought up to date.
    ``key``: (generation, version) when the caller has read them (reads.start);
    ``caller``, ``carriers``: see with_labels.
    ``adopt`` False: the kept folded view is not taken for the applied graph (the read
    means to keep it as a folded view: reads/freshness.py, rekeyed)."""
    if key is None:
        row = run(plpy, KEY)[0]
        key = (row["generation"], row["version"])
    own = base.own_writes(plpy)
    if own is not None and own["rebuilt"]:  # this transaction wrote a base: keep nothing
        live = Live(plpy, key[0], keep=False)
        live.refresh(plpy)
        return with_labels(plpy, View(key, live), caller, carriers, shared=False)
    if _taint and not _untaint(plpy, own):
        base._cache.pop("live", None)
        base._cache.pop("view", None)
    cached = base._cache.get("view")
    # (a view of a graph whose overlay rows were left unread serves only reads that keep
    # their folded view: see below)
    if cached is not None and cached.key == key and not (adopt and cached.live.overlay_behind):
        return with_labels(plpy, cached, caller, carriers, shared=own is None)
    live = base._cache.get("live")
    if live is not None and live.generation == key[0] and key[1] < live.version:
        # The read's snapshot is older than what the kept graph holds (a transaction that
        # imported an older one: SET TRANSACTION SNAPSHOT), which a refresh never takes
        # back: it showed edges committed after that snapshot (tests/test_abuse_session44.py).
        # Read again from the base, as of the read's snapshot; later reads go on from there.
        live = None
    if live is None or live.generation != key[0]:
        base._cache.pop("live", None)
        live = Live(plpy, key[0])  # base.load clears base._cache on a new generation
    base._cache.pop("view", None)
    kept = base._cache.pop("folded", None)
    # A read that means to keep its folded view (adopt False: it folds onto it, rekeyed
    # across the apply) reads of the applied graph only what rekeyed() compares: node
    # changes, cuts, registry, version -- not the overlay rows the apply wrote (some
    # thousands under unthrottled writers, half of such a read), which this backend's
    # next refresh of the applied graph itself reads (Live.overlay_behind). The view it
    # returns is kept for the reads of the same key that keep theirs (above).
    # So does a read whose own transaction wrote the graph -- the apply its freshness step
    # ran, which stopped at the kept view's snapshot (db.read_bound): the
    # overlay rows left unread are read by the next refresh, from last_overlay, whether
    # they committed or not (and the taint below holds only what was read).
    lazy = not adopt and kept is not None
    changes = live.changes(plpy, overlay=not lazy)
    # this backend's folded view of the pending rows an apply elsewhere has written:
    # its graph is the applied one (Live.adopt), no need to fold them in again
    adopted = None if own is not None or kept is None or not adopt else live.adopt(plpy, kept[1], changes)
    if adopted is not None:
        live = adopted
    else:
        if kept is not None:  # still this backend's pending rows: the read may keep it (freshness.rekeyed)
            base._cache["folded"] = kept
        live.refresh(plpy, changes=changes)
    # Each statement above has its own snapshot: a rebuild that committed in between
    # renumbered the nodes, and what was read may mix generations. Keep nothing then
    # (reads.api.stable runs the read again).
    now = run(plpy, KEY)[0]
    if now["generation"] != key[0]:
        base._cache.pop("live", None)
        raise Renumbered()
    if own is not None:
        _taint.update(xid=own["xid"], overlay=live.last_overlay, change=live.last_change)
    live.version = max(live.version, now["version"])
    base._cache["live"] = live
    v = View(key, live)
    v.exact = now["version"] == key[1]
    if v.exact:  # a view newer than its key is never taken for that key again
        base._cache["view"] = v
    return with_labels(plpy, v, caller, carriers, shared=own is None)
