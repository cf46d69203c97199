"""graphsync: the Python that runs inside PostgreSQL (plpython3u). Code map.

The package is installed into graph._py_modules by install.py, each module beside
its code compiled by the server's Python (graph._compile_package), and imported from
there (graph._import_package: the stored code when it was compiled from that source by
that Python, else the source); every SQL wrapper in sql/functions/ is a few lines
that import one module below and call it with the ``plpy`` handle. Layers run one
way: ops -> reads -> sync -> algorithms, with db, settings and errors below all
(and records.py below those, algorithms included).
A read never imports the replay module; verification never imports the repair
module; algorithms never touch the database (lint and tests enforce it).

Top level
  errors.py             the SQLSTATEs graphsync raises, one exception type per kind, raised one way
  settings.py           every graph.* setting: default, allowed values, meaning, scope; read once
  db.py                 kept plans (plan/run), the admin check, the snapshot text helpers replay uses
  records.py            named tuples without collections (a first read's cost); below every layer, algorithms too

algorithms/             pure NumPy/SciPy over CSR arrays; no plpy, no SQL
  csr.py                the CSR contract: build, reverse, edge lists, overlay folding, bytes
  adjacency.py          a base CSR with changed nodes relocated; the overlay folded in node by node
  traverse.py           BFS/DFS by levels with masks and bounds
  bibfs.py              meet-in-the-middle BFS for shortest_path; the Path type
  paths.py              reference shortest paths (BFS, Dijkstra) and the WeightedPath type
  bidijkstra.py         meet-in-the-middle Dijkstra for weighted_shortest_path
  components.py         weakly connected components and their sizes
  induced.py            the edges among a set of nodes (what an export draws besides the walk's tree)
  carried.py            keep the edges of secured sources that the rows a reader can see carry
  weights.py            when two edge weights are the same weight (NaN as +Infinity): every match of an edge uses it
  lazy_numpy.py         NumPy imported on first use: every module takes np from here, so a small first read imports none
  __init__.py           NumPy (and SciPy) imported with one BLAS thread: OpenBLAS spins a thread per core otherwise

sync/                   the write path: log rows -> graph tables -> base
  registry.py           node tables and edge sources as plain values
  schema.py             add_schema(): a whole schema's registrations planned from its catalog
  sources.py            one-snapshot read of every registered source into temp tables (per table on error)
  packed.py             integer-keyed edge sources read as packed int8, resolved to node ids in NumPy
  changes.py            log rows -> graph changes (used by replay AND by reads that fold)
  columns.py            many pending log rows -> changes.fold_rows' changes as arrays, for reads that fold
  imagetext.py          fields of many captured JSON images read from their text in NumPy; integer ends as int64
  apply.py              apply_sync(): two-snapshot batches, replay into nodes and overlay
  base_keys.py          the node ids of the base's integer keys a replaying backend holds: edge ends without NODES
  build.py              build(): graph._nodes brought to the sources (ids kept), a new base and its file
  retry.py              retry_failed(): apply failed log rows again
  notify.py             what replay applied, numbered (changed_nodes); one NOTIFY graphsync per top-level call
  base.py               the stored base of a generation and how a backend gets it (mapped, or its own copy)
  basefile.py           the shared, memory-mapped base file of a generation: format, checks, atomic writes
  background.py         a thread of the backend for the build's GIL-free work (sorts, fsync, hashing)

reads/                  the read path: the graph a caller sees, and the read functions
  start.py              a read's first statement: freshness step, generation, the caller's tables, settings
  view.py               the applied graph a backend keeps, brought up to date in O(change)
  freshness.py          graph.query_freshness: apply or fold pending rows before a read
  access.py             which nodes a caller may see and enter (tables, source rows, tenant, filters)
  row_policy.py         graph._nodes' row-level security: the source rows a reader can see, key by key, then whole
  edge_rows.py          which edges a read may walk: a join table's row-level security, as the caller, a walk's by node
  label_policy.py       graph._labels' row-level security: the label column values a reader can see, label by label
  statement_cache.py    the one per-statement cache of those two policies' answers, the current statement's only
  nodes.py              (table, id text) <-> node ids; hydration from the source tables
  arguments.py          argument checks of the read functions (bounds, choices, seeds)
  literals.py           answers as array literals (how thousands of values reach SQL)
  search.py             search(): find nodes by property through SQL on the sources
  export.py             export_dot/_mermaid/_graphml(): a traversal and the edges among its nodes, as text
  api.py                the entry points the SQL read functions call

ops/                    operations: maintenance, drift, verification, health
  jobs.py               maintenance lock, job rows, phases
  drift.py              reading schema drift (graph._schema_drift) for the others
  maintenance.py        run_scheduled_maintenance() and vacuum()
  reconcile.py          reconcile(): repair drift, make the graph equal its sources
  follow.py             following DDL (the event trigger): renames, drops, partitions, from the catalog
  verify.py             verify(): compare the applied graph with the sources, table by table
  integrity.py          dangling_references(), duplicate_edges(): integrity reports read from the sources
  status.py             status(): sizes, generation, this backend's cache

See the README ("How sync works", "Code map") for the design these modules implement.
"""
