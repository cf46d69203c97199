"""graph.dangling_references() and graph.duplicate_edges(): integrity reports.

Both are computed from a fresh read of the source tables (sources.read_into_temp,
the read build and verify make: one snapshot, row-level security never filtering
it but refusing with 42501, values rendered by type output functions, no code of
a table owner run), not from the graph: the answer is about the data as it is
now, whatever is still pending, and a bidirectional edge source is read in its
registered direction only (the graph keeps both directions of each edge and
cannot tell them apart on a self-referencing table).

* A reference is dangling when an end of an edge has no row: the target of a
  foreign-key edge (a deleted row, a typo'd id), either end of a join-table row.
  A key equal to a row's under the key's type but not rendering as it (verify's
  phantom_edge) counts as dangling too: the graph links it to no row.
* Duplicate edges are edges of one edge source with the same ends and label, more
  than once: two join-table rows linking the same pair (a race between inserts).

Each call counts both and records the counts in graph._integrity (migration 120),
which sync_health() shows; maintenance's periodic source check records them too,
over the tables it could read (a table whose read raises is left out there, as the
source check leaves it out; the two reports raise).
Rows are bounded by max_rows; the counts are not.
"""


from graphsync import db, errors
from graphsync.sync import registry, sources

DANGLING = """
SELECT e.edge_source_id, e.src_oid::int8 AS src_oid, e.src_pk, e.dst_oid::int8 AS dst_oid, e.dst_pk
FROM pg_temp._gs_src_edges AS e
WHERE NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n WHERE n.table_oid = e.dst_oid AND n.pk = e.dst_pk)
   OR NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n WHERE n.table_oid = e.src_oid AND n.pk = e.src_pk)
ORDER BY e.edge_source_id, e.src_pk, e.dst_pk
LIMIT $1
"""

DUPLICATES = """
SELECT d.*
FROM (SELECT e.edge_source_id, e.src_oid::int8 AS src_oid, e.src_pk, e.dst_oid::int8 AS dst_oid, e.dst_pk,
             e.label, pg_catalog.count(*) AS copies
      FROM pg_temp._gs_src_edges AS e
      GROUP BY e.edge_source_id, e.src_oid, e.src_pk, e.dst_oid, e.dst_pk, e.label
      HAVING pg_catalog.count(*) > 1) AS d
ORDER BY d.copies DESC, d.edge_source_id, d.src_pk, d.dst_pk, d.label
LIMIT $1
"""

COUNTS = """
SELECT (SELECT pg_catalog.count(*) FROM pg_temp._gs_src_edges AS e
        WHERE NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n WHERE n.table_oid = e.dst_oid AND n.pk = e.dst_pk)
           OR NOT EXISTS (SELECT FROM pg_temp._gs_src_nodes AS n WHERE n.table_oid = e.src_oid AND n.pk = e.src_pk)
       ) AS dangling,
       (SELECT pg_catalog.count(*) FROM (
            SELECT FROM pg_temp._gs_src_edges AS e
            GROUP BY e.edge_source_id, e.src_oid, e.src_pk, e.dst_oid, e.dst_pk, e.label
            HAVING pg_catalog.count(*) > 1) AS d) AS duplicates
"""

# A hot standby or a read-only transaction cannot record the counts: the report
# still answers.
RECORD = """
UPDATE graph._integrity SET checked_at = pg_catalog.now(), dangling_references = $1, duplicate_edges = $2
WHERE NOT pg_catalog.pg_is_in_recovery() AND pg_catalog.current_setting('transaction_read_only') = 'off'
"""

def _forward(plpy):
    """The registry, every edge source in its registered direction only."""
    reg = registry.load(plpy)
    return registry.Registry(reg.nodes, tuple(e._replace(bidirectional=False) for e in reg.edges))


def _read(plpy, purpose):
    """The sources read into pg_temp._gs_src_nodes/_gs_src_edges, every edge source
    in its registered direction only."""
    sources.read_into_temp(plpy, _forward(plpy), purpose)


def _run(plpy, sql, types=(), args=()):
    # Not a kept plan: the temp tables are new in each transaction.
    return plpy.execute(plpy.prepare(sql, list(types)), list(args))


def record_counts(plpy):
    """Count dangling references and duplicate edges in the source read now in the
    temp tables, and record them; returns (dangling, duplicates)."""
    r = _run(plpy, COUNTS)[0]
    db.run(plpy, RECORD, ["int8", "int8"], [r["dangling"], r["duplicates"]])
    return r["dangling"], r["duplicates"]


def check(plpy):
    """Maintenance's integrity check: read the sources, record the counts. A table
    whose read raises is left out (sources.read_each_table: the source check
    names it), and so are the references to its rows: the counts are those of the
    tables read."""
    sources.read_each_table(plpy, _forward(plpy), "graph.run_scheduled_maintenance()")
    return record_counts(plpy)


def _bound(max_rows):
    if max_rows is None:
        raise errors.NullValue("max_rows must not be NULL")
    if max_rows < 0:
        raise errors.InvalidArgument("max_rows must be >= 0, not %d" % max_rows)
    return max_rows


@errors.entry_point
def dangling_references(plpy, max_rows):
    """Rows (edge_source, from_table, from_id, to_table, to_id), at most max_rows."""
    db.require_admin(plpy)
    limit = _bound(max_rows)
    _read(plpy, "graph.dangling_references()")
    record_counts(plpy)
    return [(r["edge_source_id"], r["src_oid"], r["src_pk"], r["dst_oid"], r["dst_pk"])
            for r in _run(plpy, DANGLING, ["int8"], [limit])]


@errors.entry_point
def duplicate_edges(plpy, max_rows):
    """Rows (edge_source, from_table, from_id, to_table, to_id, label, copies)."""
    db.require_admin(plpy)
    limit = _bound(max_rows)
    _read(plpy, "graph.duplicate_edges()")
    record_counts(plpy)
    return [(r["edge_source_id"], r["src_oid"], r["src_pk"], r["dst_oid"], r["dst_pk"], r["label"], r["copies"])
            for r in _run(plpy, DUPLICATES, ["int8"], [limit])]
