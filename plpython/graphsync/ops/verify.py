"""graph.verify(): compare the applied graph with a fresh read of the sources.

The check is per table: a registered table whose read raises (a row filter that
raises on one of its rows, a row-level security policy that refuses the caller;
sources.read_each_table) is reported as one 'check_failed' row (its name, the
error's SQLSTATE and message) and left out of the comparison -- its nodes, the
edges it carries and the edges with an end in it are neither missing nor extra --
while every other table is compared as before. It is never reported as clean: its
row says it was not checked. A table's error blinded the whole check before (the
read raised), so one table's owner could hide every other table's drift.
"""

import json
import math

from graphsync import db, errors
from graphsync.algorithms import csr
from graphsync.algorithms.lazy_numpy import np
from graphsync.ops import drift
from graphsync.reads import nodes
from graphsync.reads import view as graph_view
from graphsync.sync import build, registry, sources

# $1: the node tables whose read failed (their graph nodes are not compared).
NODE_DIFFERENCES = """
SELECT 'missing_node' AS difference, s.table_oid, s.pk, NULL::text AS detail
FROM pg_temp._gs_src_nodes AS s
LEFT JOIN graph._node_rows AS n ON n.table_oid = s.table_oid AND n.pk = s.pk AND n.alive
WHERE n.node_id IS NULL
UNION ALL
SELECT 'extra_node', n.table_oid, n.pk, NULL
FROM graph._node_rows AS n
LEFT JOIN pg_temp._gs_src_nodes AS s ON s.table_oid = n.table_oid AND s.pk = n.pk
WHERE n.alive AND s.pk IS NULL AND n.table_oid <> ALL ($1::oid[])
UNION ALL
SELECT 'stale_property', s.table_oid, s.pk,
       jsonb_build_object('graph', jsonb_build_object('tenant', n.tenant, 'properties', n.properties),
                          'source', jsonb_build_object('tenant', s.tenant, 'properties', s.properties))::text
FROM pg_temp._gs_src_nodes AS s
JOIN graph._node_rows AS n ON n.table_oid = s.table_oid AND n.pk = s.pk AND n.alive
WHERE (n.tenant, n.properties) IS DISTINCT FROM (s.tenant, s.properties)
"""

# Edges in the sources whose both ends are source rows, against the graph's
# (pg_temp._gs_graph_edges: the graph's edges, in the columns of _gs_src_edges).
GRAPH_EDGES = """
INSERT INTO pg_temp._gs_graph_edges
SELECT e.es, s.table_oid, s.pk, d.table_oid, d.pk, e.w, l.label
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::int[], $5::int[]) AS e (s, d, w, lab, es)
JOIN graph._node_rows AS s ON s.node_id = e.s
JOIN graph._node_rows AS d ON d.node_id = e.d
JOIN graph._label_rows AS l ON l.label_id = e.lab;
"""

# The graph's edges of what was not read: of edge sources whose carrying table's
# read failed ($2), or with an end in a node table whose read failed ($1).
DROP_UNREAD_EDGES = """
DELETE FROM pg_temp._gs_graph_edges AS e
WHERE e.edge_source_id = ANY ($2::int[]) OR e.src_oid = ANY ($1::oid[]) OR e.dst_oid = ANY ($1::oid[])
"""

EDGE_COMPARE = """
WITH expected AS (
    SELECT e.edge_source_id, e.src_oid, e.src_pk, e.dst_oid, e.dst_pk, e.weight, e.label
    FROM pg_temp._gs_src_edges AS e
    WHERE EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n
                  WHERE n.table_oid = e.src_oid AND n.pk = e.src_pk)
      AND EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n
                  WHERE n.table_oid = e.dst_oid AND n.pk = e.dst_pk)
), actual AS (
    SELECT edge_source_id, src_oid, src_pk, dst_oid, dst_pk, weight, label
    FROM pg_temp._gs_graph_edges
)
SELECT 'missing_edge' AS difference, * FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM actual) AS m
UNION ALL
SELECT 'extra_edge', * FROM (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected) AS x
"""


# A source row's key graph._nodes' index cannot hold (build.unfit_keys: what every
# build leaves out, graph._sync_state.unfit_keys) is no difference a rebuild repairs:
# reported as 'unfit_key', with the edges between source rows that end there (which
# the build leaves out too, and which are not compared), not as missing_node and
# missing_edge. Maintenance counted them, so every run whose source check was due
# rebuilt for them, and the rebuild could not add them (tests/test_writer_poison.py).
UNFIT_KEY_EDGES = """
SELECT u.table_oid, u.pk, pg_catalog.count(e.*) AS edges
FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[])) AS u (table_oid, pk)
LEFT JOIN pg_temp._gs_src_edges AS e
    ON (e.src_oid = u.table_oid AND e.src_pk = u.pk) OR (e.dst_oid = u.table_oid AND e.dst_pk = u.pk)
GROUP BY u.table_oid, u.pk
ORDER BY u.table_oid, u.pk
"""
DROP_UNFIT_EDGES = """
DELETE FROM pg_temp._gs_src_edges AS e
USING ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[])) AS u (table_oid, pk)
WHERE (e.src_oid = u.table_oid AND e.src_pk = u.pk) OR (e.dst_oid = u.table_oid AND e.dst_pk = u.pk)
"""
UNFIT_KEY_DETAIL = ("a key too long to index in graph._nodes (a btree entry holds some 2.7 kB that compression"
                    " does not shorten): no build adds the node, nor the edges that end there")
UNFIT_KEY_REPAIR = "shorten the key (or remove the row), then run graph.build()"


def unfit_missing(plpy, differences):
    """{(table_oid, pk)} of the missing_node rows of ``differences`` whose key
    graph._nodes' index cannot hold (build.unfit_keys, as a build finds them)."""
    missing = [(r["table_oid"], r["pk"]) for r in differences if r["difference"] == "missing_node"]
    if not missing:
        return set()
    return build.unfit_keys(plpy, build.KEY_ARRAYS, ([m[0] for m in missing], [m[1] for m in missing]))


def unfit_rows(plpy, unfit, names):
    """verify() rows ('unfit_key', table, key, detail) of the keys ``unfit``."""
    if not unfit:
        return []
    keys = sorted(unfit)
    return [("unfit_key", names.get(int(r["table_oid"]), str(r["table_oid"])), r["pk"], json.dumps({
        "detail": UNFIT_KEY_DETAIL, "edges": r["edges"], "repair": UNFIT_KEY_REPAIR}))
        for r in db.run(plpy, UNFIT_KEY_EDGES, ["oid[]", "text[]"], [[k[0] for k in keys], [k[1] for k in keys]])]


NODE_IDS = "SELECT pg_catalog.string_agg(pg_catalog.int8send(n.node_id), ''::bytea) AS b FROM graph._node_rows AS n"


def _json_number(x):
    """x, or its text when JSON cannot hold it (NaN, infinities)."""
    return x if math.isfinite(x) else str(x)


@errors.entry_point
def verify(plpy):
    """Rows (difference, table_name, id, detail) for each difference; none when in sync."""
    return rows(plpy)


def rows(plpy, why="graph.verify()"):
    """verify()'s rows. ``why``: the call the check is part of, as what its read raises
    names it (a lock not granted, a table dropped, row-level security, a lost lock
    race): graph.verify(), or maintenance's or reconcile's source check (differences),
    which named graph.verify(), a call nobody made (tests/test_maintenance_locks.py)."""
    db.require_admin(plpy)
    # Schema drift first: a dropped table or column leaves the sources unreadable.
    drifted = drift.verify_rows(plpy)
    if drift.blocks_source_read(drifted):
        return drifted
    # The sources' locks (bounded), then graph._sync_state's row: the row held while a
    # writer's LOCK TABLE ... IN SHARE MODE kept the check waiting held every other
    # session's replay (sources.lock_sources); the row's wait bounded too, the sources
    # given back past it (sources.lock_sources_then_state).
    sources.lock_sources_then_state(plpy, why, "SELECT FROM graph._sync_state FOR SHARE")
    reg = registry.load(plpy)
    unread = sources.read_each_table(plpy, reg, why)
    names = {oid: n.table_name for oid, n in reg.nodes.items()}
    out = list(drifted)
    # A row filter that raised: which, and the key of a row it raised on (read as the
    # caller: sources.filter_raised_on), what helps in the hint.
    out.extend(("check_failed", f["table"], None, json.dumps(dict({
        "sqlstate": f["sqlstate"], "message": f["message"], "hint": f["hint"], "edge_sources": f["edge_sources"]},
        **{k: f[k] for k in ("row_filter", "key") if k in f})))
        for f in unread.failures)
    # Hash joins only for the comparisons (build.no_nested_loops): with graph._node_rows'
    # statistics from when it was small, a nested loop over a sequential scan compared
    # 260,000 rows with 260,000 for over ten minutes (seen once in tests/test_replay_plans.py).
    with build.no_nested_loops(plpy):
        differences = plpy.execute(plpy.prepare(NODE_DIFFERENCES, ["oid[]"]), [unread.node_tables])
    unfit = unfit_missing(plpy, differences)
    for r in differences:
        if r["difference"] == "missing_node" and (int(r["table_oid"]), r["pk"]) in unfit:
            continue  # (unfit_key, below)
        out.append((r["difference"], names.get(int(r["table_oid"]), str(r["table_oid"])),
                    r["pk"], r["detail"]))
    out.extend(unfit_rows(plpy, unfit, names))
    # The graph exactly as reads see it (overlay and cuts folded, dead nodes dropped).
    v = graph_view.current(plpy)
    e = csr.drop_dead(csr.edge_list(v.csr("out")), v.alive)
    # An edge end no graph._nodes row holds (node ids need not be dense: a rebuild
    # frees the ids of nodes gone, sync/build.py).
    ids = np.frombuffer(plpy.execute(NODE_IDS)[0]["b"] or b"", dtype=">i8")
    held = np.zeros(max(int(ids.max()) + 1 if len(ids) else 0, len(v.alive)), dtype=bool)
    held[ids] = True
    dangling = ~held[e.src] | ~held[e.dst]
    for i in np.flatnonzero(dangling):
        out.append(("dangling_edge", None, str(int(e.src[i])), json.dumps({"dst_node": int(e.dst[i])})))
    db.empty_temp_table(plpy, "_gs_graph_edges", sources.EDGE_COLUMNS)
    plpy.execute(plpy.prepare(GRAPH_EDGES, ["bigint[]", "bigint[]", "float8[]", "int[]",
                                                  "int[]"]),
                 [e.src.tolist(), e.dst.tolist(), e.weights.tolist(), e.labels.tolist(),
                  e.sources.tolist()])
    if unfit:  # the edges that end at a key left out are left out with it
        db.run(plpy, DROP_UNFIT_EDGES, ["oid[]", "text[]"], [[k[0] for k in unfit], [k[1] for k in unfit]])
    if unread:
        plpy.execute(plpy.prepare(DROP_UNREAD_EDGES, ["oid[]", "int[]"]), [unread.node_tables, unread.edge_sources])
    with build.no_nested_loops(plpy):
        differences = plpy.execute(EDGE_COMPARE)
    for r in differences:
        out.append((r["difference"], names.get(int(r["src_oid"]), str(r["src_oid"])),
                    r["src_pk"], json.dumps({
                        "to_table": names.get(int(r["dst_oid"]), str(r["dst_oid"])),
                        "to_id": r["dst_pk"], "label": r["label"], "weight": _json_number(r["weight"]),
                        "edge_source_id": r["edge_source_id"]})))
    out.extend(phantom_edges(plpy, reg, names, why))
    return out


# Phantom edges: an edge endpoint (text) that no row's key renders as, while a row
# whose key equals it under the key column's type exists: numeric 1.50 against an
# unconstrained numeric key 1.5, 'ABC' against a citext key 'abc'. Capture and
# build render endpoints as the target key type renders them where a built-in
# conversion does it (graph._captured_expr); what is left is found here.
GHOST_ENDS = """
SELECT x.table_oid, pg_catalog.array_agg(DISTINCT x.pk) AS pks
FROM pg_temp._gs_src_edges AS e
CROSS JOIN LATERAL (VALUES (e.src_oid, e.src_pk), (e.dst_oid, e.dst_pk)) AS x (table_oid, pk)
WHERE NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n WHERE n.table_oid = x.table_oid AND n.pk = x.pk)
GROUP BY x.table_oid
"""

# How to compare a text with a key column in the key's own type, without code a
# table owner wrote: the base type (a domain's CHECK is the owner's), its equality
# operator -- '=' for a built-in type or an enum (pinned search_path: PostgreSQL's),
# else the default btree operator class's, written schema-qualified, when a
# superuser's C function implements it (citext) -- and no cast from text other
# than a superuser's C function (else input through the type's input function).
KEY_EQUALITY = """
SELECT a.attname::text AS col, pg_catalog.format_type(b.oid, NULL) AS base,
       CASE WHEN graph._builtin_type(a.atttypid) OR b.typtype = 'e' THEN '='
            ELSE (SELECT pg_catalog.format('OPERATOR(%I.%s)', ns.nspname, o.oprname)
                  FROM pg_catalog.pg_opclass AS c
                  JOIN pg_catalog.pg_am AS am ON am.oid = c.opcmethod AND am.amname = 'btree'
                  JOIN pg_catalog.pg_amop AS ao
                      ON ao.amopfamily = c.opcfamily AND ao.amopstrategy = 3
                     AND ao.amoplefttype = b.oid AND ao.amoprighttype = b.oid
                  JOIN pg_catalog.pg_operator AS o ON o.oid = ao.amopopr
                  JOIN pg_catalog.pg_namespace AS ns ON ns.oid = o.oprnamespace
                  JOIN pg_catalog.pg_proc AS p ON p.oid = o.oprcode
                  JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
                  JOIN pg_catalog.pg_roles AS r ON r.oid = p.proowner
                  WHERE c.opcintype = b.oid AND c.opcdefault AND r.rolsuper AND l.lanname IN ('c', 'internal')
                  LIMIT 1)
       END AS op,
       NOT EXISTS (SELECT FROM pg_catalog.pg_cast AS k
                   JOIN pg_catalog.pg_proc AS p ON p.oid = k.castfunc
                   JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
                   JOIN pg_catalog.pg_roles AS r ON r.oid = p.proowner
                   WHERE k.castsource = 'pg_catalog.text'::pg_catalog.regtype AND k.casttarget = b.oid
                     AND NOT (r.rolsuper AND l.lanname IN ('c', 'internal'))) AS cast_ok,
       graph._key_expr($1, $2, 't') AS key_expr, graph._source_name($1) AS tbl
FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS k (name, i)
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = $1 AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type AS b ON b.oid = graph._base_type(a.atttypid)
ORDER BY k.i
"""

PHANTOMS = """
SELECT e.edge_source_id, e.src_oid, e.src_pk, e.dst_oid, e.dst_pk, e.label, m.table_oid, m.pk, m.key
FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[]))
    AS m (table_oid, pk, key)
JOIN pg_temp._gs_src_edges AS e
    ON (e.src_oid = m.table_oid AND e.src_pk = m.pk) OR (e.dst_oid = m.table_oid AND e.dst_pk = m.pk)
ORDER BY e.edge_source_id, e.src_pk, e.dst_pk
"""

MAX_GHOST_PROBES = 1000  # ends probed one by one when their batch has one the type refuses


def _fields(pk, arity):
    """The key column texts of end ``pk`` (a record's text for a composite key), or
    None when it is no key of that many columns: it cannot equal any row's key."""
    if arity == 1:
        return [pk]
    try:
        fields = nodes.parse_record(pk)
    except ValueError:
        return None
    return fields if len(fields) == arity and None not in fields else None


def _equal_keys(plpy, table_oid, pks, how, why="graph.verify()"):
    """{ghost pk: the key of a row equal to it under the key's type}; ``how`` holds
    one KEY_EQUALITY row per key column, in key order."""
    arity = len(how)
    args = ", ".join("pg_catalog.unnest($%d::text[])" % (i + 1) for i in range(arity + 1))
    fields = ", ".join("f%d" % i for i in range(arity))
    equal = " AND ".join("t.%s %s (g.f%d)::%s" % (plpy.quote_ident(h["col"]), h["op"], i, h["base"])
                         for i, h in enumerate(how))
    sql = ("SELECT g.pk, %s AS key FROM ROWS FROM (%s) AS g (pk, %s) JOIN %s AS t ON %s"
           % (how[0]["key_expr"], args, fields, how[0]["tbl"], equal))
    plan = plpy.prepare(sql, ["text[]"] * (arity + 1))
    split = {pk: f for pk, f in ((pk, _fields(pk, arity)) for pk in pks) if f is not None}

    def probe(batch):
        with plpy.subtransaction():
            return {r["pk"]: r["key"] for r in plpy.execute(
                plan, [batch] + [[split[pk][i] for pk in batch] for i in range(arity)])}

    # A batch the key type refused an end's text in (a data exception, SQLSTATE class
    # 22) is probed end by end; anything else -- a cancel, a timeout -- is raised.
    pks = list(split)
    with sources.unfiltered(plpy, [table_oid], why):
        try:
            return probe(pks)
        except plpy.SPIError as exc:
            if not errors.is_data_exception(exc):
                raise
        found = {}
        for pk in pks[:MAX_GHOST_PROBES]:  # some end is no valid key of this type
            try:
                found.update(probe([pk]))
            except plpy.SPIError as exc:
                if not errors.is_data_exception(exc):
                    raise
        return found


def phantom_edges(plpy, reg, names, why="graph.verify()"):
    """verify() rows for edges of the source read whose end has no row by its key
    text while a row with a key equal to it under the key's type exists."""
    matched = []
    for g in plpy.execute(GHOST_ENDS):
        node = reg.nodes.get(int(g["table_oid"]))
        if node is None:
            continue
        how = plpy.execute(plpy.prepare(KEY_EQUALITY, ["oid", "text[]"]), [node.table_oid, list(node.id_columns)])
        if len(how) != len(node.id_columns) or any(h["op"] is None or not h["cast_ok"] for h in how):
            continue  # no equality graphsync may run: such an edge stays a plain ghost
        for pk, key in _equal_keys(plpy, node.table_oid, list(g["pks"]), list(how), why).items():
            if key != pk:
                matched.append((node.table_oid, pk, key))
    if not matched:
        return []
    out = []
    rows = plpy.execute(plpy.prepare(PHANTOMS, ["oid[]", "text[]", "text[]"]),
                        [[m[0] for m in matched], [m[1] for m in matched], [m[2] for m in matched]])
    for r in rows:
        out.append(("phantom_edge", names.get(int(r["src_oid"]), str(r["src_oid"])), r["src_pk"], json.dumps({
            "to_table": names.get(int(r["dst_oid"]), str(r["dst_oid"])), "to_id": r["dst_pk"],
            "label": r["label"], "edge_source_id": r["edge_source_id"],
            "no_row_has_id": r["pk"], "of_table": names.get(int(r["table_oid"]), str(r["table_oid"])),
            "equal_row_id": r["key"]})))
    return out


def differences(plpy, why):
    """One source check, for maintenance and reconcile (``why``: theirs, as in
    "graph.reconcile()'s source check", which what its read raises names; it ran
    graph.verify() through SQL, and so named graph.verify()): (the differences a
    rebuild repairs, as dicts of difference, table_name, n and ids -- ten of them --
    by difference, in the order verify() first gives each; the tables it could not
    check ('check_failed': one each, in the order it read them), as dicts of table,
    sqlstate, message and row_filter: the registered row filter that raised a data
    exception on one of its rows, None when the read failed otherwise). Run in a
    subtransaction, as the SQL call of graph.verify() was: an error rolls back what
    the check did."""
    wanted = set(drift.CONTENT_DIFFERENCES)
    groups = {}  # (difference, table_name) -> [n, ids], in the order verify() gave them
    unread = []
    with plpy.subtransaction():
        found = rows(plpy, why)
    for difference, table_name, key, detail in found:
        if difference == "check_failed":
            d = json.loads(detail)
            unread.append({"table": table_name, "sqlstate": d.get("sqlstate"), "message": d.get("message"),
                           "row_filter": d.get("row_filter")})
        elif difference in wanted:
            group = groups.setdefault((difference, table_name), [0, []])
            group[0] += 1
            if len(group[1]) < 10:
                group[1].append(key)
    ordered = sorted(groups.items(), key=lambda g: g[0][0])  # (stable: first given first)
    return [{"difference": d, "table_name": t, "n": n, "ids": ids} for (d, t), (n, ids) in ordered], unread


def read_past(unread):
    """Whether a rebuild reads every table of ``unread`` (the tables a source check
    could not read: differences, in maintenance and reconcile alike): each failed only
    on a row its row filter raised a data exception on (SQLSTATE class 22, the filter
    named: sources.filter_raised_on),
    which a build takes as failing the filter (sources.retry_raising). Any other failure
    (row-level security that applies to the admin, a filter that no longer checks)
    fails the rebuild the same way, which is not tried then."""
    return all(u.get("row_filter") and errors.is_data_exception_state(u.get("sqlstate")) for u in unread)
