"""graph.build(): write a fresh immutable base from the source tables.

Reads every registered source in one snapshot (sources.read_into_temp),
numbers the nodes densely, writes the CSR of each direction under a new
generation, clears the overlay and the node delta, and sets the replay
cursor to that snapshot: log rows of transactions the read saw are applied
by the base itself, the others are replayed later. A build inside a
transaction that wrote to registered tables reads those writes too, but its
snapshot counts that transaction as in progress (what it writes after the
build must still be replayed); so the build also records that transaction and
its last log id before the read, and replay skips those rows (OWN_ROWS).
"""

import time

import numpy as np

from graphsync import db, errors
from graphsync.algorithms import csr
from graphsync.sync import base, notify, registry, sources

RENUMBER_NODES = """
DELETE FROM graph._nodes;
INSERT INTO graph._labels (label)
SELECT DISTINCT label FROM pg_temp._gs_src_edges ON CONFLICT (label) DO NOTHING;
INSERT INTO graph._nodes (node_id, table_oid, pk, alive, tenant, properties)
SELECT row_number() OVER (ORDER BY table_oid, pk) - 1, table_oid, pk, true, tenant, properties
FROM pg_temp._gs_src_nodes;
INSERT INTO graph._nodes (node_id, table_oid, pk, alive)
SELECT (SELECT count(*) FROM pg_temp._gs_src_nodes) + row_number() OVER (ORDER BY table_oid, pk) - 1,
       table_oid, pk, false
FROM (
    SELECT DISTINCT e.table_oid, e.pk
    FROM (SELECT src_oid AS table_oid, src_pk AS pk FROM pg_temp._gs_src_edges
          UNION ALL SELECT dst_oid, dst_pk FROM pg_temp._gs_src_edges) AS e
    WHERE NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n
                      WHERE n.table_oid = e.table_oid AND n.pk = e.pk)
) AS ghosts;
"""

EDGE_ARRAYS = """
SELECT array_agg(s.node_id) AS src, array_agg(d.node_id) AS dst, array_agg(e.weight) AS w,
       array_agg(l.label_id) AS lab, array_agg(e.edge_source_id) AS es
FROM pg_temp._gs_src_edges AS e
JOIN graph._nodes AS s ON s.table_oid = e.src_oid AND s.pk = e.src_pk
JOIN graph._nodes AS d ON d.table_oid = e.dst_oid AND d.pk = e.dst_pk
JOIN graph._labels AS l ON l.label = e.label
"""


NODE_RUNS = "SELECT r.table_oid, r.first_id, r.last_id FROM graph._node_runs($1) AS r"

RESOLVE_EVENTS = """
UPDATE graph._schema_events SET resolved_at = now()
WHERE resolved_at IS NULL AND repair = 'rebuild'
  AND (pg_visible_in_snapshot(xid::text::xid8, $1::pg_snapshot)
       OR xid::text::xid8 = pg_current_xact_id_if_assigned())
"""


# The log rows this transaction wrote before the read (its own writes, which the
# read sees although the snapshot counts the transaction as in progress): they
# are in the base, and replay must skip them (graph._sync_state.build_xid and
# build_position, migration 040).
OWN_ROWS = """
SELECT x.xid, coalesce((SELECT max(l.id) FROM graph._sync_log AS l WHERE l.xid = x.xid), 0) AS position
FROM (SELECT coalesce(pg_current_xact_id_if_assigned()::text::bigint, 0) AS xid) AS x
"""


@errors.entry_point
@notify.top_level
def build(plpy):
    """Rebuild the base; returns (generation, node_count, edge_count, seconds)."""
    started = time.monotonic()
    db.require_admin(plpy)
    generation = plpy.execute(
        "SELECT generation FROM graph._sync_state FOR UPDATE")[0]["generation"] + 1
    reg = registry.load(plpy)
    plpy.notice("graphsync build: reading %d node tables and %d edge sources"
                % (len(reg.nodes), len(reg.edges)))
    snapshot = sources.read_into_temp(plpy, reg)
    own = plpy.execute(OWN_ROWS)[0]
    base.note_own_write(plpy, rebuilt=True)
    notify.rebuilt(plpy, reg)  # the nodes it changes, for changed_nodes(): before they are renumbered
    plpy.execute(RENUMBER_NODES)
    node_count = plpy.execute("SELECT count(*) AS n FROM graph._nodes")[0]["n"]
    alive_count = plpy.execute(
        "SELECT count(*) AS n FROM graph._nodes WHERE alive")[0]["n"]
    row = plpy.execute(EDGE_ARRAYS)[0]
    e = csr.edges(row["src"] or [], row["dst"] or [], row["w"] or [], row["lab"] or [],
                  row["es"] or [])
    plpy.notice("graphsync build: %d nodes, %d edges read; writing generation %d"
                % (alive_count, len(e.src), generation))
    alive = np.zeros(node_count, dtype=bool)
    alive[:alive_count] = True
    out = csr.build(node_count, e)
    tables = np.zeros(node_count, dtype=np.uint32)
    for r in plpy.execute(plpy.prepare(NODE_RUNS, ["bigint"]), [node_count]):
        tables[r["first_id"]:r["last_id"] + 1] = int(r["table_oid"])
    base.write_base(plpy, generation, {"out": out, "in": csr.reverse(out)}, alive, tables)
    plpy.execute("DELETE FROM graph._edge_overlay")
    plpy.execute("DELETE FROM graph._edge_cuts")
    plpy.execute(plpy.prepare(
        """UPDATE graph._sync_state SET done_snapshot = $1::pg_snapshot,
               target_snapshot = NULL, target_position = 0, generation = $2, overlay_count = 0,
               read_only = false, read_only_reason = NULL, build_required = false,
               last_build_at = now(), build_xid = $3, build_position = $4,
               applied_sync_id = greatest(applied_sync_id, coalesce((
                   SELECT max(id) FROM graph._sync_log
                   WHERE pg_visible_in_snapshot(xid::text::xid8, $1::pg_snapshot)), 0))""",
        ["text", "bigint", "bigint", "bigint"]), [snapshot, generation, own["xid"], own["position"]])
    # Record column types (drift), clear folded TRUNCATE markers and failed rows.
    plpy.execute(plpy.prepare("SELECT graph._after_build($1::pg_snapshot)", ["text"]), [snapshot])
    plpy.execute(plpy.prepare(
        """UPDATE graph._sync_log SET needs_vacuum = false
           WHERE needs_vacuum AND xid = $1 AND id <= $2""", ["bigint", "bigint"]),
        [own["xid"], own["position"]])
    # The schema changes this read saw (graph._schema_events a rebuild catches up
    # with: columns unregistered or renamed, partitions attached or detached) are.
    plpy.execute(plpy.prepare(RESOLVE_EVENTS, ["text"]), [snapshot])
    return generation, alive_count, len(e.src), time.monotonic() - started
