"""graph.verify(): compare the applied graph with a fresh read of the sources."""

import json
import math

import numpy as np

from graphsync.algorithms import csr
from graphsync.ops import drift
from graphsync.reads import view as graph_view
from graphsync.sync import registry, sources

NODE_DIFFERENCES = """
SELECT 'missing_node' AS difference, s.table_oid, s.pk, NULL::text AS detail
FROM pg_temp._gs_src_nodes AS s
LEFT JOIN graph._nodes AS n ON n.table_oid = s.table_oid AND n.pk = s.pk AND n.alive
WHERE n.node_id IS NULL
UNION ALL
SELECT 'extra_node', n.table_oid, n.pk, NULL
FROM graph._nodes AS n
LEFT JOIN pg_temp._gs_src_nodes AS s ON s.table_oid = n.table_oid AND s.pk = n.pk
WHERE n.alive AND s.pk IS NULL
UNION ALL
SELECT 'stale_property', s.table_oid, s.pk,
       jsonb_build_object('graph', jsonb_build_object('tenant', n.tenant, 'properties', n.properties),
                          'source', jsonb_build_object('tenant', s.tenant, 'properties', s.properties))::text
FROM pg_temp._gs_src_nodes AS s
JOIN graph._nodes AS n ON n.table_oid = s.table_oid AND n.pk = s.pk AND n.alive
WHERE (n.tenant, n.properties) IS DISTINCT FROM (s.tenant, s.properties)
"""

# Edges in the sources whose both ends are source rows, against the graph's.
GRAPH_EDGES_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS _gs_graph_edges (
    edge_source_id int, src_oid oid, src_pk text, dst_oid oid, dst_pk text,
    weight float8, label text) ON COMMIT DROP;
TRUNCATE pg_temp._gs_graph_edges;
"""

GRAPH_EDGES = """
INSERT INTO pg_temp._gs_graph_edges
SELECT e.es, s.table_oid, s.pk, d.table_oid, d.pk, e.w, l.label
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::int[], $5::int[]) AS e (s, d, w, lab, es)
JOIN graph._nodes AS s ON s.node_id = e.s
JOIN graph._nodes AS d ON d.node_id = e.d
JOIN graph._labels AS l ON l.label_id = e.lab;
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


def _json_number(x):
    """x, or its text when JSON cannot hold it (NaN, infinities)."""
    return x if math.isfinite(x) else str(x)


def verify(plpy):
    """Rows (difference, table_name, id, detail) for each difference; none when in sync."""
    plpy.execute("SELECT FROM graph._sync_state FOR SHARE")
    # Schema drift first: a dropped table or column leaves the sources unreadable.
    drifted = drift.verify_rows(plpy)
    if drift.blocks_source_read(drifted):
        return drifted
    reg = registry.load(plpy)
    sources.read_into_temp(plpy, reg, "graph.verify()")
    names = {oid: n.table_name for oid, n in reg.nodes.items()}
    out = list(drifted)
    for r in plpy.execute(NODE_DIFFERENCES):
        out.append((r["difference"], names.get(int(r["table_oid"]), str(r["table_oid"])),
                    r["pk"], r["detail"]))
    # The graph exactly as reads see it (overlay and cuts folded, dead nodes dropped).
    v = graph_view.current(plpy)
    e = csr.drop_dead(csr.edge_list(v.csr("out")), v.alive)
    known = plpy.execute("SELECT count(*) AS n FROM graph._nodes")[0]["n"]
    dangling = (e.src >= known) | (e.dst >= known)
    for i in np.flatnonzero(dangling):
        out.append(("dangling_edge", None, str(int(e.src[i])), json.dumps({"dst_node": int(e.dst[i])})))
    plpy.execute(GRAPH_EDGES_TABLE)
    plpy.execute(plpy.prepare(GRAPH_EDGES, ["bigint[]", "bigint[]", "float8[]", "int[]",
                                                  "int[]"]),
                 [e.src.tolist(), e.dst.tolist(), e.weights.tolist(), e.labels.tolist(),
                  e.sources.tolist()])
    for r in plpy.execute(EDGE_COMPARE):
        out.append((r["difference"], names.get(int(r["src_oid"]), str(r["src_oid"])),
                    r["src_pk"], json.dumps({
                        "to_table": names.get(int(r["dst_oid"]), str(r["dst_oid"])),
                        "to_id": r["dst_pk"], "label": r["label"], "weight": _json_number(r["weight"]),
                        "edge_source_id": r["edge_source_id"]})))
    return out
