"""graph.status(): the size of the graph and of what keeps it, for psql and monitors."""

from graphsync import errors
from graphsync.sync import base

SIZES = """
SELECT s.generation, s.last_build_at, s.last_apply_at,
       (SELECT count(*) FROM graph._node_rows WHERE alive) AS node_count,
       (SELECT count(*) FROM graph._node_rows) AS node_ids,
       (SELECT count(*) FROM graph._node_rows WHERE touched AND NOT alive) AS tombstones,
       coalesce((SELECT c.edge_count FROM graph._csr AS c
                 WHERE c.generation = s.generation AND c.direction = 'out'), 0) AS base_edges,
       (SELECT count(*) FROM graph._edge_overlay) AS overlay_edges,
       (SELECT count(*) FROM graph._label_rows) AS labels,
       (SELECT count(*) FROM graph._node_tables) AS node_tables,
       (SELECT count(*) FROM graph._edge_sources) AS edge_sources,
       pg_catalog.pg_total_relation_size('graph._csr') AS base_bytes,
       pg_catalog.pg_total_relation_size('graph._node_rows')
         + pg_catalog.pg_total_relation_size('graph._edge_overlay') AS delta_bytes,
       pg_catalog.pg_total_relation_size('graph._sync_log') AS log_bytes,
       (SELECT count(*) FROM graph._sync_log) AS log_rows,
       (SELECT max(j.finished_at) FROM graph._maintenance_jobs AS j
        WHERE j.rebuilt AND j.status = 'succeeded') AS last_rebuild_by_maintenance_at
FROM graph._sync_state AS s
"""


@errors.entry_point
def status(plpy):
    """One row: generation, sizes, this backend's cache, last build."""
    row = dict(plpy.execute(SIZES)[0])
    row["cache_bytes"] = base.cache_nbytes()
    return row
