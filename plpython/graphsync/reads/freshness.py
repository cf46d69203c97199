"""graph.query_freshness: what a read does about log rows not yet applied.

- ``'apply_pending_sync'`` (default): apply the committed pending rows first
  (graph._read_sync, in the reader's transaction). When that cannot happen
  without blocking or writing -- a read-only transaction, a hot standby, an
  apply or build running elsewhere, a read-only graph, a failed row -- the
  pending rows are folded into this one read in memory instead (fold()).
- ``'off'``: read what has been applied.
- ``'error_on_pending'``: raise SQLSTATE 55000 when committed rows are pending.

graph.max_staleness (unset by default): in the two other modes, a read whose
transaction wrote nothing runs as in 'off' while every row committed that long
before it started is applied (graph._sync_state.done_at); START decides
(reads/start.py, _RECENT), and this module then sees nothing pending.

In every mode but 'off' the caller's own uncommitted writes are folded in, so
a transaction reads its own writes. Folding uses sync/changes.py, the same code
replay uses, so a folded read and an applied one agree; sync/columns.py reads the
rows START returns as columns (inserts and deletes of join tables column by
column, every other row through changes.add_rows) and gives the edge changes as
arrays, whose ends are looked up table by table (_resolve_ends: integer ends as
int64 among the base's integer keys, nodes.key_index). A fold is bounded by
MAX_FOLD_ROWS rows (SQLSTATE 54000 past it) and its view is cached for as long
as the pending rows and the applied graph stay the same.

Under writes, reads fold more often than they apply (graph._read_sync applies
about once a second), so a fold costs O(change): while the applied graph and
its applied snapshot stay the same, pending rows only join (commits), and the
next read folds only the rows its last fold's snapshot did not see onto the
view it kept (fold's ``onto``), in place. START (reads/start.py) reads those
rows, in the snapshot it names (``Start.seen``), so the folded view is kept by
that snapshot, not by counts. The caller's own rows, a TRUNCATE or a fold into
full arrays starts again from the applied view (a view folded into full arrays,
or with a TRUNCATE, is kept for the reads that find no row committed since: they
fold nothing).

A new applied graph (another backend's apply) keeps the view too, when the apply
applied only rows the view had folded (``rekeyed``: its snapshot sees only
transactions the view's last snapshot saw): the view is then the new applied graph
plus the rows it folded that are still pending, and the read folds onto it only
the rows its last snapshot did not see, as between applies -- no copy of the
graph, no fold of the whole backlog again (which every reader did after every
apply before). START reads those rows when the view's ``lineage`` (generation, the
caller and its tables, no failed or retried row since: reads/start.py) matches;
when rekeyed() cannot show the view is right, the read starts again without it.
``STATS`` counts the log rows folded (tests assert that a fold under writes
reads each row once).

One snapshot: a read shows the applied graph as of START's snapshot S plus
exactly the pending rows committed in S. The rows are START's, never read again
in a later snapshot (an apply that committed since would have taken rows the
view does not hold): when the view the read gets is not the one S saw
(view.current: a graph change committed meanwhile, ``View.exact``), or when
START's rows cannot be folded onto the kept view (it went, or they are many or a
TRUNCATE), the read starts again (view.Moved; reads.api.stable). In the second case
it has dropped the kept folded view, so that START reads all pending rows; in the
first it keeps it (it holds no row of this read's START): the next START reads onto
it by its names as any read does (by its lineage across that graph change, rekeyed),
where dropping it made the read fold every pending row again -- some thousands,
under unthrottled writers, a few times a second among a backend's reads.

So does a read whose freshness step applies: the apply stops at the kept view's
snapshot (``apply_bound``; db.read_bound, sync/apply.py), so that it applies only
rows the view folded, and the read keeps the view across it as across another
backend's apply.
"""

from graphsync import db, errors
from graphsync.algorithms import adjacency, csr
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import run
from graphsync.reads import nodes
from graphsync.reads import view as graph_view
from graphsync.sync import base

MAX_FOLD_ROWS = 200_000

# A fold of more edge changes than FOLD_IN_ARRAYS, and than one per EDGES_PER_CHANGE
# edges of the graph, builds full arrays (_folded_overlay), O(edges); below that it
# adds them to the overlay node by node (adjacency.Overlay.add), O(changes), each
# changed node's list remade only when a read reaches it. Measured at 200k nodes /
# 1M edges (load about 5): full arrays 280-380 ms whatever the count; node by node
# 3-5 us a change (8,000: 25 ms, 30,000: 170 ms, 60,000: 320 ms). At 128 edges a
# change (7,812 changes there) a reader that folded the backlog after each apply
# built full arrays for a few thousand rows. The same bound holds rows folded onto a
# kept view (folded): more are folded from the applied view, into full arrays.
FOLD_IN_ARRAYS = 1_000
EDGES_PER_CHANGE = 16

# A fold of at most this many rows reads them row by row (changes.fold_rows), not as
# columns (sync/columns.py): the columns' NumPy calls cost a fixed few milliseconds
# whatever the count (8 updates of a join table: some 3 ms as columns, 0.5 ms row by
# row; the two agree, tests/unit/sync/test_columns.py), which a read under writes,
# folding the rows committed since its last read, paid on every read. Row by row
# costs some 4 us a join row update (its ends held as integers, columns.edge_columns,
# found among the base's integer keys as the columns' are), the columns 1.5-2 ms at
# 100 rows, 2-2.5 ms at 400 (200k nodes, idle): a reader under unthrottled writers
# folds some 100-200 rows a read.
FOLD_BY_ROW = 256

# A fold that resolves more keys than this looks the base's up in memory
# (nodes.key_index) rather than in graph._nodes, key by key: it builds the index
# (every key of the base, once per generation). A fold of fewer keys looks them up
# there too when this backend holds the index already (a reader under heavy writes,
# once it folded a large backlog): a read folding 300 join-row updates onto its kept
# view, 200k nodes, took 8.6 ms against 14.4 with the statement (benchmarks/reads.py
# --fold-updates-only REV --fold-rows 300, idle machine). So does a fold of fewer ends
# once the folds of this backend have asked graph._nodes for that many keys and a
# share of the base's in the generation (nodes.index_due): a reader under
# unthrottled writers, folding a few hundred rows a read, asked it some 300 keys a read.
KEYS_BY_INDEX = 2_000

# A fold of at most this many ends finds them in the key index one by one
# (ends_one_by_one: 5 us an end, 200k integer keys), more table by table in NumPy
# (ends_by_table: some 45 us whatever their number; the two cost alike at 16-20 ends).
FEW_ENDS = 16

# rekeys: kept folded views taken across an apply (rekeyed); rekeys_refused: kept
# views START read onto by their lineage that rekeyed() refused (the read starts again)
STATS = {"rows_folded": 0, "folds": 0, "incremental_folds": 0, "rekeys": 0, "rekeys_refused": 0}

# Each key's node looked up by itself (nodes.BY_KEY: graph._nodes' policy asks about
# the keys' own nodes only, whatever the plan).
RESOLVE = """
SELECT k.i, n.node_id, n.extra_rows, %s
FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS k (table_oid, pk, i)
CROSS JOIN LATERAL (%s) AS n
""" % (graph_view.GENERATION, nodes.BY_KEY % "n.node_id, n.extra_rows")


def fresh_view(plpy, st, carriers=None):
    """The View a read runs on, after applying the freshness policy. ``st``: the
    read's reads.start.Start, whose freshness step has run (and applied what it
    could, in 'apply_pending_sync'). ``carriers``: see view.with_labels."""
    if st.freshness == "error_on_pending" and st.committed_rows:
        raise errors.ObjectNotInPrerequisiteState(
            "%d committed log rows are not applied yet" % st.committed_rows,
            hint="graph.query_freshness is 'error_on_pending'; run graph.apply_sync().")
    # START read only the rows the kept folded view did not see: the read keeps it
    # (rekeyed), it is not the applied graph (view.Live.adopt)
    v = graph_view.current(plpy, st.key, (st.me, st.label_access), carriers,
                           adopt=not (st.from_seen and st.pending is not None))
    if not v.exact:  # v is newer than START's snapshot: start again (see the module docstring)
        raise graph_view.Moved()
    # START read the pending rows (st.pending) also when its count said none: an
    # apply committed after its snapshot (reads.start).
    if st.freshness != "off" and (st.committed_rows or st.own_rows or st.pending is not None):
        v = folded(plpy, v, st, None if carriers is None else carriers(v.registry))
    return v


# Whether START may read only the pending rows the kept folded view has not folded
# (fold_from). Off for the rest of a read that found the view read for other label
# carriers (view.Moved's ``labels``; reads.api.stable): an export reads twice, the
# traversal and the edges among the nodes it found, for different carriers, and each
# time it ran again the first read kept its view and the second would not fold onto
# it (40001 after ten tries: tests/test_export_fold.py). Each then folds from the
# applied view.
FOLD_ONTO_KEPT = {"on": True}


def fold_from():
    """What START needs to read only the pending rows the backend's kept folded
    view has not folded (reads.start.start's ``fold_from``)."""
    cached = base._cache.get("folded")
    if cached is None or not FOLD_ONTO_KEPT["on"]:
        return None, None, 0
    grows, f, _ = cached
    # a view that may be kept across an apply is named by its lineage (reads.start's
    # _WHOLE), which an apply does not change: START then reads only the rows its
    # snapshot did not see, and rekeyed() tells whether the view may be kept
    key = f.lineage if f.lineage is not None and f.rekeyable else grows
    return key, f.seen, f.rows_folded


def apply_bound():
    """(snapshot, its time or None) of the backend's kept folded view when it may be
    kept across an apply (rekeyed) that stops there (db.read_bound), else
    None."""
    cached = base._cache.get("folded")
    if cached is None or cached[1].lineage is None or not cached[1].rekeyable:
        return None
    return cached[1].seen, cached[1].seen_at


def folded(plpy, v, st, narrow=None):
    """``v`` with the pending rows the caller may read folded in. The folded view
    is kept, with the snapshot whose pending rows it holds; while only the
    pending rows grew (the same view, applied snapshot, caller and tables, and
    no own rows), the rows committed since are folded onto it (see the module
    docstring): a read that finds no new row folds nothing. The rows folded are
    START's, read in its snapshot; when they cannot be folded onto the kept view,
    the read starts again without it (view.Moved). ``narrow``: the label carriers
    the read asked (view.with_labels); a kept view whose labels were read for
    other ones is not folded onto."""
    grows = st.fold_key  # (generation, version, applied snapshot, caller, tables): START's
    cached = base._cache.pop("folded", None)
    rows = st.pending
    onto = None
    if rows is None:  # START read none (a pending count from after its snapshot): read them all
        raise graph_view.Moved()
    if st.from_seen:  # START read only the rows the kept view's snapshot did not see
        if cached is None or st.own_rows:
            raise graph_view.Moved()  # the kept view went meanwhile (view.current)
        if cached[2] != narrow:
            raise graph_view.Moved(labels=True)  # (api.stable: from the applied view, the read again)
        onto = cached[1]
        if onto.seen != st.seen and not db.snapshot_within(onto.seen, st.seen):
            # The read's snapshot is not newer than the view's (a transaction that imported an
            # older one: SET TRANSACTION SNAPSHOT): START found nothing new since, but the view
            # holds rows this snapshot does not see. It is dropped (popped above); the read
            # starts again and folds from the applied view what its snapshot sees.
            raise graph_view.Moved()
        if cached[0] != grows:  # an apply since: START read onto the view's lineage
            onto = rekeyed(onto, v, st)
            if onto is None:
                STATS["rekeys_refused"] += 1
                raise graph_view.Moved()
        if rows and (not onto.foldable or len(rows) > in_arrays_above(v) or "T" in rows.ops):
            # a view that cannot be folded onto (full arrays, a TRUNCATE), many rows or
            # a TRUNCATE: fold all of them from the applied view
            raise graph_view.Moved()
    seen = st.seen
    if len(rows) + (onto.rows_folded if onto else 0) > MAX_FOLD_ROWS:
        raise errors.ProgramLimitExceeded(
            "more than %d log rows are pending; a read cannot fold them in memory" % MAX_FOLD_ROWS,
            hint="Run graph.apply_sync(), or read the applied graph with SET graph.query_freshness = 'off'.")
    if onto is not None:
        f = fold(plpy, v, rows, st.visible, onto, st.keys) if rows else onto
    else:
        f = fold(plpy, v, rows, st.visible, known=st.keys) if rows else v
    # A view with own rows folded in is never kept (they may roll back); one that
    # cannot be folded onto (see fold) is kept for the reads that find no new row.
    if f is not v and st.own_rows == 0:
        f.seen, f.seen_at = seen, st.seen_at
        f.lineage = st.lineage
        if onto is None:  # the applied graph it was folded from: rekeyed() compares
            f.applied_bound, f.applied_nodes = db.seen_below(st.bound, st.bound_below), v.node_count
        base._cache["folded"] = (grows, f, narrow)
    return f


def in_arrays_above(v):
    """The most edge changes (or rows onto a kept view) a fold over ``v`` folds node
    by node (see FOLD_IN_ARRAYS)."""
    return max(FOLD_IN_ARRAYS, len(v.live.base["out"].targets) // EDGES_PER_CHANGE)


def rekeyed(f, v, st):
    """Kept folded view ``f`` as the view of ``v`` (the applied graph START's snapshot
    sees, after an apply) plus the pending rows ``f`` folded that the apply did not
    apply, or None when that cannot be shown. The rows the read then folds onto it
    are START's: those its snapshot sees that ``f.seen`` did not.

    ``f`` is the applied graph G0 plus the rows X pending in G0 that ``f.seen``
    sees. Applies took G0 to G1 by applying rows A, each visible in ``bound`` (the
    snapshot of G1's half-done pass, else of its last, cut at its xmax as taken:
    db.seen_below, migration 423 -- every row applied is visible in it) and pending in
    G0: when every transaction ``bound`` sees is one ``f.seen`` sees
    (db.snapshot_within), A lies within X,
    so ``f`` is G1 plus the rows of X left pending -- the edge changes add up as net
    counts in any order (adjacency.Overlay), node changes of one source row come in
    commit order both ways -- and the view START would fold from G1 is ``f`` plus
    the rows ``f.seen`` did not see. Also needed, all checked here or by START's
    lineage (the same generation, caller and tables; no row failed or retried since:
    migration 406; a fold that leaves out no table's rows):
    ``f`` holds no temporary node id, no label of its own, no TRUNCATE and no full
    arrays (``rekeyable``), and G1 has the registry, cuts and node ids of G0 (an
    apply within X gives no node an id ``f`` had not).

    The edges of a node's list may come in another order than a fresh fold's (the
    order in which the rows were folded, as for rows committed late, see folded).
    A view whose last snapshot was taken before the apply's transaction took its
    xids is kept too when no other transaction committed in between: the apply's
    snapshot counts its own subtransactions as visible (db.complete_snapshot: they
    hold no log row), which ``f.seen`` does not, but they lie above its xmax as
    taken. Refused, though right, when that is not known (``bound_below`` NULL: an
    apply of the release before migration 423)."""
    if not getattr(f, "rekeyable", False) or f.lineage is None or f.lineage != st.lineage:
        return None
    if f.key[0] != v.key[0] or f.applied_nodes != v.node_count or f.cuts != v.cuts:
        return None
    if (f.registry.nodes, f.registry.edges) != (v.registry.nodes, v.registry.edges):
        return None
    bound = db.seen_below(st.bound, st.bound_below)
    if not (db.snapshot_within(f.applied_bound, bound) and db.snapshot_within(bound, f.seen)):
        return None
    f.key, f.applied_bound = v.key, bound
    f.edge_log = None  # (never view.Live.adopt's: v's Live graph is not what it was folded from)
    # a bound of the rows it holds now (MAX_FOLD_ROWS): those the apply left pending
    f.rows_folded = min(f.rows_folded, st.committed_rows)
    STATS["rekeys"] += 1
    return f


def _resolve(plpy, v, keys, visible, counted=(), onto=None, known=None):
    """Node id of each (oid, pk) key: its id in graph._nodes when the caller can see
    it and ``v`` knows it, else a temporary id past the end of ``v`` (``onto``: a
    view folded from ``v`` earlier; its temporary ids stay, new ones come past its
    end). Returns (ids, new keys by id, extra rows holding each key of ``counted``:
    graph._nodes.extra_rows).

    Many keys (a fold of many rows), or any number once the backend holds it,
    are looked up in the backend's index of the base's keys (nodes.key_index)
    where the caller may SELECT the table: a key of a table the caller may SELECT
    has the node id graph._nodes shows it. The rest, and the keys of ``counted``
    (whose extra_rows are needed), by RESOLVE.

    ``known``: what START looked up in its snapshot ({key: (node id, extra rows), or
    None: no node}, reads.start's ``keys``): a key it holds needs no lookup here, so a
    read that folds a few rows runs no statement of its own for their keys. START
    looked them up in graph._nodes for the fold: they count towards the index as
    RESOLVE's keys do (nodes.index_due), so a backend that folds a few rows a read
    builds it too and START then looks up no key (reads.start.keys_in_start: its
    lookup of one row's keys cost a read under 200 commits/s some 0.2 ms of 2.4)."""
    ids, dups = {}, {}
    if onto is not None:
        held = onto.extra_ids
        ids = {k: held[k] for k in keys if k in held}
        keys = [k for k in keys if k not in held]
    keys = list(keys)
    ask = keys
    if known:
        ask = []
        for k in keys:
            hit = known.get(k, False)
            if hit is False:
                ask.append(k)
            elif hit is not None and hit[0] < v.node_count:
                graph_view.check_node_ids([hit[0]], "graph._nodes")
                ids[k], dups[k] = hit
        nodes.note_resolved(v, len(keys) - len(ask))
    rest = ask
    index = nodes.key_index(plpy, v, build=len(ask) > KEYS_BY_INDEX) if ask else None
    if index is not None:
        from graphsync.sync import packed  # (see fold)

        by_table = {}
        for k in ask:
            of_table = by_table.get(k[0])
            if of_table is None:
                of_table = by_table[k[0]] = []
            of_table.append(k)
        rest = []
        for table, of_table in by_table.items():
            if table not in visible or table not in index:
                rest.extend(of_table)
                continue
            at = packed.find_keys(index[table], [k[1].encode() for k in of_table]).tolist()
            found = {k: (i if i >= 0 else None) for k, i in zip(of_table, at, strict=True)}
            if counted:  # their extra_rows come from graph._nodes (RESOLVE)
                found.update(dict.fromkeys([k for k in found if k in counted]))
            rest.extend(k for k, i in found.items() if i is None)
            ids.update(found)
        for k in rest:
            ids.pop(k, None)
    if rest:
        rows = run(plpy, RESOLVE, ["oid[]", "text[]"], [[k[0] for k in rest], [k[1] for k in rest]])
        nodes.note_resolved(v, len(rest))
        for r in rows:
            graph_view.same_generation(v.key[0], r)
            # An id past the end of v was given by an apply that committed after v was
            # loaded (each statement has its own snapshot): v does not know it yet.
            if r["node_id"] < v.node_count:
                graph_view.check_node_ids([r["node_id"]], "graph._nodes")
                ids[rest[r["i"] - 1]] = r["node_id"]
                dups[rest[r["i"] - 1]] = r["extra_rows"]
    extra = {}
    top = v.node_count if onto is None else onto.node_count
    for k in keys:
        if k not in ids:
            ids[k] = top
            extra[top] = k
            top += 1
    return ids, extra, dups


def _resolve_ends(plpy, v, ec, visible, node_changes, onto, known=None):
    """(from ids, to ids) of the edge changes ``ec`` (columns.EdgeColumns), and
    _resolve's (ids, new keys by id, extra rows) of the keys of ``node_changes``
    and of the ends not found below. Many ends (a fold of many rows, from the
    applied view or onto a kept one; or after many looked up by statement:
    nodes.index_due), or any number when the backend holds the index already
    (KEYS_BY_INDEX), are looked up in the backend's index of the
    base's keys table by table, as _resolve would look up their keys: only in
    tables the caller may SELECT, and not the keys of ``node_changes`` (whose
    extra_rows come from graph._nodes). An end read as an integer
    (``ec.from_ints``) is looked up among the table's integer keys in
    nodes.key_index with NumPy (packed.resolve), no string made; the others among
    its keys as bytes (packed.find_keys; a key longer than packed.TEXT_WIDTH bytes is
    not there, and goes to _resolve). A key a kept
    view ``onto`` holds under a temporary id is never found there: a base key
    keeps its row in graph._nodes for the generation, so _resolve found it, unless
    its table is one the caller may not SELECT, which is not looked up here."""
    m = len(ec)
    # build the index for many ends or many lookups so far; else use it when held
    many = nodes.index_due(v, 2 * m, KEYS_BY_INDEX)
    index = nodes.key_index(plpy, v, build=many)
    counted = {}  # {table oid: key texts} whose extra_rows come from graph._nodes
    if index is not None:
        for k in node_changes:
            counted.setdefault(k[0], set()).add(k[1])
    if 2 * m <= FEW_ENDS:
        return _few_ends(plpy, v, ec, visible, node_changes, onto, known, index, counted)
    from graphsync.sync import imagetext  # (see fold)

    tables = np.concatenate([ec.from_tables, ec.to_tables])
    pks = np.concatenate([ec.from_pks, ec.to_pks])  # None where ints holds the key
    ints = None if ec.from_ints is None else np.concatenate([ec.from_ints, ec.to_ints])
    if index is None:
        got = np.full(2 * m, -1, dtype=np.int64)
    else:
        got = ends_by_table(index, visible, counted, tables, pks, ints)
    miss = np.flatnonzero(got < 0)
    missed = list(zip(tables[miss].tolist(), imagetext.key_texts(pks, ints, miss).tolist(), strict=True))
    ids, extra, dups = _resolve(plpy, v, set(node_changes).union(missed), visible, node_changes, onto, known)
    if len(miss):
        got[miss] = list(map(ids.__getitem__, missed))
    return got[:m], got[m:], ids, extra, dups


def _few_ends(plpy, v, ec, visible, node_changes, onto, known, index, counted):
    """_resolve_ends of a few ends (FEW_ENDS), in Python lists, one array made at the
    end: a read under writes folds the row or two committed since its last read,
    where the arrays' way costs a dozen NumPy calls whatever their size (issue 9)."""
    from graphsync.sync import imagetext  # (see fold)

    m = len(ec)
    tables = ec.from_tables.tolist() + ec.to_tables.tolist()
    pks = ec.from_pks.tolist() + ec.to_pks.tolist()  # None where values holds the key
    values = [imagetext.NOT_INT] * (2 * m) if ec.from_ints is None else ec.from_ints.tolist() + ec.to_ints.tolist()
    got = [-1] * (2 * m) if index is None else ends_one_by_one(index, visible, counted, tables, pks, values)
    keys = [(t, pk if value == imagetext.NOT_INT else str(value)) for t, pk, value in zip(tables, pks, values,
                                                                                          strict=True)]
    missed = [k for k, g in zip(keys, got, strict=True) if g < 0]
    ids, extra, dups = _resolve(plpy, v, set(node_changes).union(missed), visible, node_changes, onto, known)
    ends = np.array([g if g >= 0 else ids[k] for k, g in zip(keys, got, strict=True)], dtype=np.int64)
    return ends[:m], ends[m:], ids, extra, dups


def ends_by_table(index, visible, counted, tables, pks, ints):
    """int64 node ids of the ends (``tables``: their table oids, int64; ``pks``: their
    key texts, object, None where ``ints`` holds the key as an integer, else
    imagetext.NOT_INT; ``ints`` None: none does) found in the key index ``index``
    ({table oid: packed.key_index}), table by table in NumPy; -1 where an end is not
    found there, or its table is not in ``visible``, or its key is among
    ``counted``'s ({table oid: key texts} whose extra_rows come from graph._nodes)."""
    from graphsync.sync import imagetext, packed  # (see fold)

    got = np.full(len(tables), -1, dtype=np.int64)
    every = np.unique(tables).tolist()
    for table in every:
        if table not in visible:
            continue
        at = np.arange(len(tables)) if len(every) == 1 else np.flatnonzero(tables == table)
        skip = counted.get(table)
        of_table = index.get(table)
        if of_table is None:
            continue
        if ints is not None and not skip:
            is_int = ints[at] != imagetext.NOT_INT
            if is_int.any():
                got[at[is_int]] = packed.resolve(ints[at[is_int]], of_table[0], of_table[1])
                at = at[~is_int]
                if not len(at):
                    continue
        asked = imagetext.key_texts(pks, ints, at).tolist()
        found = packed.find_keys(of_table, [pk.encode() for pk in asked])
        if skip:
            found[[pk in skip for pk in asked]] = -1
        got[at] = found
    return got


def ends_one_by_one(index, visible, counted, tables, pks, values):
    """ends_by_table of a few ends (FEW_ENDS) as lists, one by one (``values``: the
    integer each key is, imagetext.NOT_INT where ``pks`` holds its text), a list
    out: ends_by_table's NumPy operations cost some 45 us whatever the number of
    ends, where a read under 200 commits/s folds a row or two, four ends (13 us
    here; issue 9)."""
    from graphsync.sync import imagetext, packed  # (see fold)

    got = []
    for table, pk, value in zip(tables, pks, values, strict=True):
        of_table = index.get(table) if table in visible else None
        skip = counted.get(table)
        if of_table is None:
            got.append(-1)
        elif value != imagetext.NOT_INT and not skip:
            got.append(packed.find_int(of_table, value))
        else:
            text = pk if value == imagetext.NOT_INT else str(value)
            got.append(-1 if skip and text in skip else packed.find_key(of_table, text.encode()))
    return got


def _held_arrays(overlay):
    """(float64[h, 5] keys, int64[h] counts) of ``overlay.net`` (adjacency.Overlay):
    Overlay.net_arrays(), kept on the overlay and extended by each add() (the rows a
    backend follows after an apply), so a backend folds each new backlog onto held
    keys made into arrays once, not once per fold after every apply."""
    return overlay.net_arrays()


def _net(held, ops, e, arrays=None):
    """(Edges, counts): the net count of every edge key of ``held`` (an
    adjacency.Overlay.net: NET keys (src, dst, weight, label, source), in order of
    first appearance) and of the rows ``ops``/``e`` after it, keys with a count
    other than 0, in order of first appearance -- what adding the rows to it gives,
    by sorting. ``arrays``: _held_arrays() of the overlay whose net ``held`` is, when made."""
    if arrays is None:
        arrays = adjacency.net_table(held)
    table, held_counts = arrays
    all_ = csr.Edges(*(np.concatenate([table[:, j].astype(x.dtype), x]) for j, x in enumerate(e)))
    count = np.concatenate([held_counts, ops])
    if not len(count):
        return all_, count
    # The five fields as three int64 keys that are equal exactly when the fields are:
    # (src, dst) as one number, the weight's bits (-0.0 as 0.0; a NaN is keyed as
    # +Infinity already: weights.key, changes.weight_of), (label, source) as one.
    span = int(max(all_.src.max(), all_.dst.max())) + 1
    pair = all_.src.astype(np.int64) * span + all_.dst.astype(np.int64)
    w = all_.weights.astype(np.float64) + 0.0
    bits = np.where(np.isnan(w), np.inf, w).view(np.int64)
    kind = (all_.labels.astype(np.int64) << 32) | (all_.sources.astype(np.int64) & 0xFFFFFFFF)
    order = np.lexsort((kind, bits, pair))  # stable: a key's first appearance comes first
    step = np.ones(len(order), dtype=bool)
    for c in (pair, bits, kind):
        c = c[order]
        step[1:] &= c[1:] == c[:-1]
    starts = np.flatnonzero(~step | (np.arange(len(order)) == 0))
    sums = np.add.reduceat(count[order], starts)
    first = order[starts]  # the first appearance of each key
    keep = sums != 0
    # the kept keys in order of first appearance: their first positions are distinct, so
    # marked in an array of all positions they come out sorted, no sort
    net = np.zeros(len(order), dtype=np.int64)
    net[first[keep]] = sums[keep]
    at = np.flatnonzero(net)
    return csr.Edges(*(c[at] for c in all_)), net[at]


def _folded_overlay(overlay, ops, e, n):
    """A new adjacency.Overlay over ``n`` nodes: ``overlay`` (what the view holds)
    with the edge changes ``ops``/``e`` folded in, as full arrays per direction,
    made the first time a read asks for a direction. For a fold of many rows:
    O(edges) once, where relocating each node changed costs more.

    The same graph, in the same order, as folding the changes in node by node:
    the net count of every edge key since the base, in order of first appearance
    (Overlay.net, then these), folded by csr.fold_overlay's rule -- a negative
    count removes that many matching base edges in base order, a positive one
    appends the edge that many times -- with the additions appended in one go."""
    changed, counts = _net(overlay.net, ops, e, _held_arrays(overlay))
    bases = overlay.bases

    def folded(direction):
        s, d, w, lab, es = changed
        if direction == "in":
            s, d = d, s
        elif direction == "any":  # each key gives (s -> d), then (d -> s) with -1 - source
            s, d = np.stack([s, d], axis=1).ravel(), np.stack([d, s], axis=1).ravel()
            w, lab = np.repeat(w, 2), np.repeat(lab, 2)
            es = np.stack([es, -1 - es], axis=1).ravel()
        c = counts if direction != "any" else np.repeat(counts, 2)
        directed = csr.Edges(s, d, w, lab, es)
        removed = c < 0
        added = np.repeat(np.flatnonzero(c > 0), c[c > 0])
        more = csr.Edges(*(a[added] for a in directed))
        if not removed.any():  # only additions: appended to the base's arrays as they are
            return csr.appended(n, bases[direction](), more)
        base = csr.edge_list(bases[direction]())
        # (keeps the base's order: sorted by src)
        base = csr.fold_overlay(base, (c[removed], csr.Edges(*(a[removed] for a in directed))), set())
        return csr.build_appended(n, base, more)

    o = adjacency.Overlay({d: (lambda d=d: folded(d)) for d in ("out", "in", "any")}, n)
    o.stats = graph_view.STATS_PROXY
    return o


def fold(plpy, v, rows, visible, onto=None, known=None):
    """A new View: ``v`` with pending log ``rows`` (reads.start.Pending: columns, in
    id order, read by sync/columns.py) applied in memory, on a copy of
    its Live graph (O(nodes) to copy, O(rows) to fold; a pending TRUNCATE, or many
    edge changes (see FOLD_IN_ARRAYS), folds the edges into full arrays).
    ``visible``: the tables the caller may SELECT.

    ``onto``: a view that fold made from ``v`` earlier (``foldable``), whose rows
    come before ``rows`` (none a TRUNCATE): ``rows`` are folded onto it, in place
    (it is not read again) -- O(rows), no copy. Folding rows in two goes gives
    what folding them in one does: node changes go on from the row count the
    first go left (``node_counts``), edge changes add up."""
    # here: a read with nothing to fold never imports them (first-read cost)
    from graphsync.sync import changes, columns

    STATS["folds"] += 1
    STATS["rows_folded"] += len(rows)
    if len(rows) <= FOLD_BY_ROW:
        node_changes, edges, truncated, cuts = changes.fold_rows(v.registry, rows.rows())
        ec = columns.edge_columns(edges)
    else:
        node_changes, ec, truncated, cuts = columns.fold_columns(v.registry, rows.cols)
    if onto is not None and (truncated or cuts):
        raise ValueError("graphsync: a TRUNCATE is folded from the applied view, never onto a folded one")
    e_from, e_to, ids, extra, dups = _resolve_ends(plpy, v, ec, visible, node_changes, onto, known)
    prior = v if onto is None else onto
    n = prior.node_count + len(extra)
    ops = ec.ops
    # many edge changes from the applied view: full arrays (_folded_overlay), which read
    # the applied overlay's counts and replace the copy's overlay (not copied then)
    in_arrays = not cuts and onto is None and len(ops) > in_arrays_above(v)
    if onto is None:
        live = v.live.copy(overlay=not in_arrays)
        counts = {}
    else:
        STATS["incremental_folds"] += 1
        live = onto.live
        counts = onto.node_counts
    live._grow(n)
    edge_labels = ec.labels.tolist()
    prior.know_labels(plpy, names=edge_labels)
    book = prior.book.copy()
    top = prior.label_top  # above every label id, those the caller may not see included
    own_labels = onto is not None and onto.own_labels
    for label in dict.fromkeys(edge_labels):
        if label not in book.by_name:
            top = max(max(book.by_id, default=0), top) + 1
            book.add(top, label)
            own_labels = True
    live.book, live.label_top = book, top
    label_ids = book.by_name
    alive = live.alive
    if truncated or live.tables is not None:
        tables = live.node_tables(plpy)
        for i, k in {**prior.extra_keys, **extra}.items():
            tables[i] = k[0]
        for t in truncated:
            alive[tables == t] = False
    values = dict(prior.node_values)
    for k, change in node_changes.items():  # rows holding each key (changes.NodeChange)
        i = ids[k]
        before = counts[i] if i in counts else (1 + dups.get(k, 0) if alive[i] else 0)
        is_alive, _, state = change.result(before)
        counts[i] = change.count(before)
        alive[i] = is_alive
        if state is not None:
            values[i] = state
    extra_edges = csr.edges(e_from, e_to, ec.weights, list(map(label_ids.__getitem__, edge_labels)), ec.sources)
    foldable = onto is not None or not truncated
    if cuts:
        out = csr.build(n, csr.fold_overlay(csr.edge_list(v.csr("out")), (ops, extra_edges), cuts))
        live.overlay = adjacency.Overlay({"out": lambda: out, "in": lambda: csr.reverse(out),
                                          "any": lambda: adjacency.both_ways(out)}, n)
        live.overlay.stats = graph_view.STATS_PROXY
        foldable = False
    elif in_arrays:  # the applied graph's overlay: its net counts and the arrays made of them (_held_arrays)
        live.overlay = _folded_overlay(v.live.overlay, ops, extra_edges, n)
        foldable = False
    elif len(ops):
        live.overlay.add(ops, *extra_edges)
    f = graph_view.View(v.key, live)
    f.cuts = v.cuts | cuts
    f.extra_keys = {**prior.extra_keys, **extra}
    f.extra_ids = {**(onto.extra_ids if onto is not None else {}), **{k: i for i, k in extra.items()}}
    f.node_values = values
    f.node_counts = counts
    f.rows_folded = len(rows) + (onto.rows_folded if onto is not None else 0)
    f.foldable = foldable
    # What view.Live.adopt checks against the overlay rows an apply wrote: the applied
    # graph this view was folded from, as it was then, and the edges it added, in
    # order (None: it did more than add edges and change node flags)
    f.applied = (v.live, v.live.last_overlay, v.live.last_change) if onto is None else onto.applied
    chunk = [(ops, extra_edges)] if len(ops) else []
    if not foldable or (onto is not None and onto.edge_log is None):
        f.edge_log = None
    else:
        f.edge_log = (onto.edge_log if onto is not None else []) + chunk
    f.own_labels = own_labels  # labels it numbered itself (no graph._labels row seen)
    # kept across an apply (rekeyed): edge changes and node flags only, on the applied
    # graph's node ids and labels
    f.rekeyable = foldable and not f.extra_keys and not own_labels
    f.lineage = onto.lineage if onto is not None else None
    f.applied_bound = onto.applied_bound if onto is not None else None
    f.applied_nodes = onto.applied_nodes if onto is not None else None
    f.pending = True
    return f
