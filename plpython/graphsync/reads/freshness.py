"""graph.query_freshness: what a read does about log rows not yet applied.

- ``'apply_pending_sync'`` (default): apply the committed pending rows first
  (graph._read_sync, in the reader's transaction). When that cannot happen
  without blocking or writing -- a read-only transaction, a hot standby, an
  apply or build running elsewhere, a read-only graph, a failed row -- the
  pending rows are folded into this one read in memory instead (fold()).
- ``'off'``: read what has been applied.
- ``'error_on_pending'``: raise SQLSTATE 55000 when committed rows are pending.

In every mode but 'off' the caller's own uncommitted writes are folded in, so
a transaction reads its own writes. Folding uses sync/changes.py, the same code
replay uses, so a folded read and an applied one agree. A fold is bounded by
MAX_FOLD_ROWS rows (SQLSTATE 54000 past it) and its view is cached for as long
as the pending rows and the applied graph stay the same.
"""

import numpy as np

from graphsync import errors
from graphsync.algorithms import adjacency, csr
from graphsync.db import run
from graphsync.reads import view as graph_view
from graphsync.sync import base, changes

MAX_FOLD_ROWS = 200_000

PENDING_IDS = """
SELECT coalesce(array_agg(p.id), '{}') AS ids
FROM graph._pending_rows(current_user::regrole, $1) AS p
"""

PENDING = "SELECT * FROM graph._pending_rows(current_user::regrole, $1)"

RESOLVE = """
SELECT k.i, n.node_id, n.extra_rows, %s
FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS k (table_oid, pk, i)
JOIN graph._nodes AS n ON n.table_oid = k.table_oid AND n.pk = k.pk
""" % graph_view.GENERATION


def fresh_view(plpy, st):
    """The View a read runs on, after applying the freshness policy. ``st``: the
    read's reads.start.Start, whose freshness step has run (and applied what it
    could, in 'apply_pending_sync')."""
    if st.freshness == "error_on_pending" and st.committed_rows:
        raise errors.ObjectNotInPrerequisiteState(
            "%d committed log rows are not applied yet" % st.committed_rows,
            hint="graph.query_freshness is 'error_on_pending'; run graph.apply_sync().")
    v = graph_view.current(plpy, st.key)
    if st.freshness != "off" and (st.committed_rows or st.own_rows):
        v = folded(plpy, v, st.me)
    return v


def folded(plpy, v, me):
    """``v`` with the pending rows the caller (current_user ``me``) may read folded in (cached)."""
    ids = run(plpy, PENDING_IDS, ["int"], [MAX_FOLD_ROWS + 1])[0]["ids"]
    if len(ids) > MAX_FOLD_ROWS:
        raise errors.ProgramLimitExceeded(
            "more than %d log rows are pending; a read cannot fold them in memory" % MAX_FOLD_ROWS,
            hint="Run graph.apply_sync(), or read the applied graph with SET graph.query_freshness = 'off'.")
    if not ids:
        return v
    signature = (v.key, hash(tuple(ids)), len(ids), me)
    cached = base._cache.get("folded")
    if cached is not None and cached[0] == signature:
        return cached[1]
    rows = run(plpy, PENDING, ["int"], [MAX_FOLD_ROWS])
    f = fold(plpy, v, rows)
    base._cache["folded"] = (signature, f)
    return f


def _resolve(plpy, v, keys):
    """Node id of each (oid, pk) key: its id in graph._nodes when the caller can see
    it and ``v`` knows it, else a temporary id past the end of ``v``. Returns (ids, new keys by id,
    extra rows holding each known key: graph._nodes.extra_rows)."""
    keys = list(keys)
    ids, dups = {}, {}
    if keys:
        rows = run(plpy, RESOLVE, ["oid[]", "text[]"], [[k[0] for k in keys], [k[1] for k in keys]])
        for r in rows:
            graph_view.same_generation(v.key[0], r)
            # An id past the end of v was given by an apply that committed after v was
            # loaded (each statement has its own snapshot): v does not know it yet.
            if r["node_id"] < v.node_count:
                ids[keys[r["i"] - 1]] = r["node_id"]
                dups[keys[r["i"] - 1]] = r["extra_rows"]
    extra = {}
    top = v.node_count
    for k in keys:
        if k not in ids:
            ids[k] = top
            extra[top] = k
            top += 1
    return ids, extra, dups


def fold(plpy, v, rows):
    """A new View: ``v`` with pending log ``rows`` applied in memory, on a copy of
    its Live graph (O(nodes) to copy, O(rows) to fold; a pending TRUNCATE folds
    the edges into full arrays)."""
    nodes, edges, truncated, cuts = changes.fold_rows(v.registry, rows)
    keys = set(nodes)
    for c in edges:
        keys.update((c[2], c[3]))
    ids, extra, dups = _resolve(plpy, v, keys)
    n = v.node_count + len(extra)
    live = v.live.copy()
    live._grow(n)
    labels = dict(v.labels)
    label_ids = dict(v.label_ids)
    for c in edges:
        if c[5] not in label_ids:
            label_ids[c[5]] = max(labels, default=0) + 1
            labels[label_ids[c[5]]] = c[5]
    live.labels = labels
    alive = live.alive
    if truncated or live.tables is not None:
        tables = live.node_tables(plpy)
        for i, k in {**v.extra_keys, **extra}.items():
            tables[i] = k[0]
        for t in truncated:
            alive[tables == t] = False
    values = dict(v.node_values)
    for k, change in nodes.items():  # rows holding each key (changes.NodeChange)
        i = ids[k]
        is_alive, _, state = change.result(1 + dups.get(k, 0) if alive[i] else 0)
        alive[i] = is_alive
        if state is not None:
            values[i] = state
    ops = np.array([1 if c[0] == "+" else -1 for c in edges], dtype=np.int64)
    extra_edges = csr.edges([ids[c[2]] for c in edges], [ids[c[3]] for c in edges],
                            [c[4] for c in edges], [label_ids[c[5]] for c in edges],
                            [c[1] for c in edges])
    if cuts:
        out = csr.build(n, csr.fold_overlay(csr.edge_list(v.csr("out")), (ops, extra_edges), cuts))
        live.overlay = adjacency.Overlay({"out": lambda: out, "in": lambda: csr.reverse(out),
                                          "any": lambda: adjacency.both_ways(out)}, n)
        live.overlay.stats = graph_view.STATS_PROXY
    elif len(ops):
        live.overlay.add(ops, *extra_edges)
    f = graph_view.View(v.key, live)
    f.cuts = v.cuts | cuts
    f.extra_keys = {**v.extra_keys, **extra}
    f.node_values = values
    f.pending = True
    return f
