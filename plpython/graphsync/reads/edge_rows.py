"""Which edges a read may walk: those whose carrying row the caller can see.

A foreign-key or JSONB-reference edge is carried by a row of a node table, whose
node is the edge's from end: where the caller cannot see that row, the node is
out of the security mask (access.py), so no walk enters it or leaves it, in any
direction, and the edge is never used. A join table's row carries an edge
between two other nodes, which the caller may both see; the CSR and the
overlay keep the edge's source but not its row. So where a join table's
row-level security applies to the caller (reads.start says which: one
``row_security_active`` per registered join table, in the read's first
statement), a read asks, as the caller, which edges the rows it can see carry:
one statement over every such table (each source read as build reads it,
sync.sources.edge_selects, by the caller's privileges, so the caller's
policies decide, and nothing runs with more privileges than the caller), its
ends joined to graph._nodes. algorithms.carried then keeps, of those sources'
edges, as many of each exact (source, from, to, weight, label) as the visible
rows carry: a hidden row lends neither its edge nor its weight nor its label,
even between two nodes a visible row links. A visible row that fails the edge
source's registered ``row_filter`` carries no edge (graph._edge_filter_expr: the
filter as registration checked and stored it, checked again against the catalog
only, as a read makes no temporary table). The edges of a join table with
row-level security that the caller may not SELECT at all are all dropped (no
row of it is visible to the caller); a join table without row-level security
keeps its edges for every reader, as before (the graph's structure is readable
by everyone; a read needs SELECT on the node tables only). Reads of tables
without row-level security run no statement here, and a read asks only the join
tables whose edges it can follow (access.reach): the edges of the others are
dropped without asking, as the read never walks them.

The answer depends on the rows, the caller and any setting its policies read:
asked again by every read, never kept; what is derived from it (the filtered
CSR of each direction, components) is kept with the view under a digest of it.
"""


from graphsync.algorithms import csr
from graphsync.algorithms.adjacency import Adjacency, both_ways
from graphsync.algorithms.lazy_numpy import np
from graphsync.db import run
from graphsync.reads.view import GENERATION, same_generation

# The edges the rows the caller can see carry, their ends as node ids below $1 (the
# view's node count); ends with no such node come back as keys, for the nodes
# pending rows a read folds in (View.extra_keys). %s: a UNION ALL of the sources'
# selects (edge source, from table, from key, to table, to key, weight, label).
# The nodes of the end tables ($2) are read from graph._nodes once, as the caller
# (its policy runs once per node, and once per statement for a table whose
# row-level security applies: row_policy.py), and both ends are hash-joined to
# them: the planner cannot estimate the rows of the sources' selects (it takes a
# few for many thousands) and would otherwise probe graph._nodes, and run its
# policy, once per end of every row; EDGES_PLAN turns nested loops off for this
# statement (and JIT, as access.py does).
VISIBLE_EDGES = """
WITH r (es, a_oid, a_pk, b_oid, b_pk, w, label) AS MATERIALIZED (%s),
ids AS MATERIALIZED (
    SELECT n.table_oid, n.pk, n.node_id FROM graph._nodes AS n WHERE n.table_oid = ANY ($2) AND n.node_id < $1
)
SELECT coalesce(pg_catalog.array_agg(r.es) FILTER (WHERE k.ok), '{}') AS es,
       coalesce(pg_catalog.array_agg(a.node_id) FILTER (WHERE k.ok), '{}') AS src,
       coalesce(pg_catalog.array_agg(b.node_id) FILTER (WHERE k.ok), '{}') AS dst,
       coalesce(pg_catalog.array_agg(r.w) FILTER (WHERE k.ok), '{}') AS w,
       coalesce(pg_catalog.array_agg(r.label) FILTER (WHERE k.ok), '{}') AS label,
       coalesce(pg_catalog.array_agg(pg_catalog.json_build_array(r.es, a.node_id, r.a_oid, r.a_pk, b.node_id,
                                                                 r.b_oid, r.b_pk, r.w, r.label))
                FILTER (WHERE NOT k.ok), '{}') AS other, %s
FROM r
LEFT JOIN ids AS a ON a.table_oid = r.a_oid AND a.pk = r.a_pk
LEFT JOIN ids AS b ON b.table_oid = r.b_oid AND b.pk = r.b_pk
CROSS JOIN LATERAL (SELECT a.node_id IS NOT NULL AND b.node_id IS NOT NULL AS ok) AS k
""" % ("%s", GENERATION)

EDGES_PLAN = """
SELECT pg_catalog.current_setting('jit') AS jit, pg_catalog.current_setting('enable_nestloop') AS nestloop,
       pg_catalog.set_config('jit', 'off', true), pg_catalog.set_config('enable_nestloop', 'off', true)
"""
EDGES_PLAN_BACK = "SELECT pg_catalog.set_config('jit', $1, true), pg_catalog.set_config('enable_nestloop', $2, true)"

_sql = {}  # (registry edge sources secured, their node tables) -> (VISIBLE_EDGES of them, end tables)


def _statement(plpy, reg, secured):
    edges = tuple(e for e in reg.edges if e.edge_source_id in secured)
    key = (edges, tuple(reg.nodes.get(e.from_table) for e in edges))
    made = _sql.get(key)
    if made is None:
        from graphsync.sync import sources  # only for secured edges: not a first read's cost

        selects = [s for e in edges for s in sources.edge_selects(plpy, reg, e, reader=True)]
        ends = sorted({t for e in edges for t in (e.from_table, e.to_table)})
        made = _sql[key] = (VISIBLE_EDGES % " UNION ALL ".join(selects), ends)
    return made


def _label_ids(v, names):
    return np.fromiter((v.label_ids.get(name, -1) for name in names), dtype=np.int32, count=len(names))


def edge_security(plpy, v, acc):
    """Set acc.carried to (secured edge sources, csr.Edges the caller's visible rows
    carry) and add a digest of it to acc.scope; nothing when no join table's
    row-level security applies to the caller and it may SELECT every join table
    (see the module docstring). One statement, as the caller."""
    live = {e.edge_source_id for e in v.registry.edges if e.kind == "join"}
    secured = sorted({s for s in acc.edges_secured if s in live} | {s for s in acc.edges_hidden if s in live})
    # Only the join tables whose edges the read can follow (access.reach) are
    # asked; the edges of the others are dropped unasked (the read never walks them).
    queried = sorted(s for s in acc.edges_secured
                     if s in live and (acc.reach_joins is None or s in acc.reach_joins))
    if not secured:
        return
    n = v.node_count
    visible = csr.edges([], [], [], [], [])
    if queried:
        sql, ends = _statement(plpy, v.registry, set(queried))
        was = run(plpy, EDGES_PLAN)[0]
        try:
            r = run(plpy, sql, ["bigint", "oid[]"], [n, ends])[0]
        finally:
            run(plpy, EDGES_PLAN_BACK, ["text", "text"], [was["jit"], was["nestloop"]])
        same_generation(v.key[0], r)
        es, src, dst, w, label = r["es"], r["src"], r["dst"], r["w"], r["label"]
        if r["other"] and v.extra_keys:  # ends that are nodes pending rows folded in?
            import json  # here, not at the top: json imports re (a first read's cost)

            node_of = {key: i for i, key in v.extra_keys.items()}
            for text in r["other"]:
                e, a_id, a_oid, a_pk, b_id, b_oid, b_pk, weight, name = json.loads(text)
                a = a_id if a_id is not None and a_id < n else node_of.get((int(a_oid), a_pk))
                b = b_id if b_id is not None and b_id < n else node_of.get((int(b_oid), b_pk))
                if a is not None and b is not None:
                    # (json renders an infinite weight as the string "Infinity": float() reads it)
                    es, src, dst, w, label = es + [e], src + [a], dst + [b], w + [float(weight)], label + [name]
        visible = csr.edges(src, dst, [np.inf if x is None else x for x in w], _label_ids(v, label), es)
    import hashlib  # here, not at the top: loading it is a first read's cost
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(secured, dtype=np.int64).tobytes())
    for a in visible:
        digest.update(a.tobytes())
    acc.carried = (np.asarray(secured, dtype=np.int32), visible)
    acc.scope = acc.scope + ("edges", digest.hexdigest())


def walked_csr(v, acc, direction):
    """The CSR of ``direction`` the caller may walk: the view's, less the edges
    acc.carried drops (kept with the view under acc.scope)."""
    if acc.carried is None:
        return v.csr(direction)
    secured, visible = acc.carried
    from graphsync.algorithms import carried  # only for secured edges: not a first read's cost

    out = v.derived(("carried", "out") + acc.scope, lambda: carried.visible_csr(v.csr("out"), secured, visible))
    if direction == "out":
        return out
    if direction == "in":
        return v.derived(("carried", "in") + acc.scope, lambda: csr.reverse(out))
    return v.derived(("carried", "any") + acc.scope, lambda: both_ways(out))


def walked_adjacency(v, acc, direction):
    """The Adjacency of ``direction`` the caller may walk (see walked_csr)."""
    if acc.carried is None:
        return v.adjacency(direction)
    return v.derived(("carried adjacency", direction) + acc.scope,
                     lambda: Adjacency.of(walked_csr(v, acc, direction), v.node_count))
