-- 001-core: the registry, the capture log, replay state, the graph tables.
-- Run once per database by install.py and recorded in graph._migrations.

-- The registry --------------------------------------------------------------

-- Table graph._node_tables: the registered node tables (graph.add_table); each
-- row of such a table is a node.
--   table_oid       the table
--   table_name      its name as registered (regclass text), kept for reports
--                   when the table is gone
--   id_columns      the columns that key a row (one, or several: composite key)
--   columns         property columns, copied into graph._nodes.properties
--   tenant_column   the column holding a row's tenant (NULL: no tenant)
--   filter_columns  columns kept with each node for traversal filters
--                   (graph.add_filter_column), also in properties
--   registered_at   when graph.add_table registered it
CREATE TABLE graph._node_tables (
    table_oid oid PRIMARY KEY,
    table_name text NOT NULL,
    id_columns text[] NOT NULL,
    columns text[] NOT NULL DEFAULT '{}',
    tenant_column text,
    filter_columns text[] NOT NULL DEFAULT '{}',
    registered_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE graph._node_tables IS
'Registered node tables: each row of such a table is a graph node.';

-- Table graph._edge_sources: the registered edge sources (graph.add_edge).
-- One row per edge source. kind 'fk': rows of from_table reference to_table
-- through from_column. kind 'join': rows of via_table link from_table (via
-- from_column) to to_table (via to_column).
--   edge_source_id  its id (graph.add_edge returns it; edges carry it)
--   kind            'fk' or 'join', as above
--   from_table      the table whose node an edge starts from
--   from_column     'fk': the referencing column of from_table; 'join': the
--                   column of via_table holding the from_table key
--   to_table        the table whose node an edge ends at
--   to_column       'join': the column of via_table holding the to_table key;
--                   'fk': NULL or to_table's key column (what is referenced)
--   via_table       'join': the join table whose rows are the edges; 'fk': NULL
--   via_id_columns  'join': the key columns of via_table, which key its log rows
--   label           the edges' label (default: from_column or the join table name)
--   bidirectional   each edge also stands in the reverse direction
--   weight_column   numeric column of the carrying row giving the weight
--                   (NULL column or NULL value: weight 1)
--   label_column    column of the carrying row giving a per-edge label (NULL
--                   value: label)
--   registered_at   when graph.add_edge registered it
-- The carrying table (whose rows are the edges, and whose capture triggers see
-- them) is via_table for 'join', from_table for 'fk'.
CREATE TABLE graph._edge_sources (
    edge_source_id serial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('fk', 'join')),
    from_table oid NOT NULL,
    from_column text NOT NULL,
    to_table oid NOT NULL,
    to_column text,
    via_table oid,
    via_id_columns text[],
    label text NOT NULL,
    bidirectional boolean NOT NULL DEFAULT false,
    weight_column text,
    label_column text,
    registered_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'join') = (via_table IS NOT null))
);

COMMENT ON TABLE graph._edge_sources IS
'Registered edge sources: foreign-key columns and join tables.';

-- The capture log -----------------------------------------------------------

-- Table graph._sync_log: the capture log. The generated capture triggers
-- (graph._install_capture) write one row per changed row of a registered table,
-- one per TRUNCATE, in the writer's transaction; replay reads them in id order
-- within batches decided by xid visibility (graph._sync_state).
--   id             the order of capture (bigserial: not a safe cursor alone)
--   op             'I' insert, 'U' update, 'D' delete, 'T' truncate
--   table_oid      the table the change is to
--   table_name     its name (regclass text) when the capture function was made
--   pk             the row's key text: the new key for 'I' and 'U', the old key
--                  for 'D', NULL for 'T'
--   old_pk         'U', 'D': the key before the change (NULL otherwise)
--   new_pk         'I', 'U': the key after the change (NULL otherwise)
--   properties     'I', 'U' of a node table: the new row's property and filter
--                  columns as a JSON object (NULL otherwise)
--   old_row        'U', 'D': the old row's columns the graph needs besides the
--                  key (tenant, edge endpoints, weight, label) as a JSON object
--                  of text values
--   new_row        'I', 'U': the same of the new row
--   xid            the writing transaction's id (xid8 as bigint); which batch
--                  the row belongs to is decided by its visibility
--   needs_vacuum   'T': set until a build folds the truncation into the base
--   error_message  why applying the row failed (NULL: not failed); shown by
--                  graph.sync_health(), cleared by a retry or a build that folds it
--   created_at     when the row was captured (log pruning goes by it)
CREATE TABLE graph._sync_log (
    id bigserial PRIMARY KEY,
    op char(1) NOT NULL CHECK (op IN ('I', 'U', 'D', 'T')),
    table_oid oid NOT NULL,
    table_name text NOT NULL,
    pk text,
    old_pk text,
    new_pk text,
    properties jsonb,
    old_row jsonb,
    new_row jsonb,
    xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    needs_vacuum boolean NOT NULL DEFAULT false,
    error_message text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- xid grows with the physical order of the log, so BRIN answers "xid >= x"
-- (where a replay pass starts, pending rows) at a fraction of a btree's cost
-- on every captured row.
CREATE INDEX _sync_log_xid_brin ON graph._sync_log USING brin (xid);

COMMENT ON TABLE graph._sync_log IS
'Every captured change of a registered table, written in the writer''s transaction.';

-- Table graph._sync_state: replay state, one row. A log row is applied when its
-- transaction is visible in done_snapshot, or visible in target_snapshot with
-- id <= target_position.
--   singleton         always true: keeps the table to one row
--   done_snapshot     every log row whose transaction is visible in it is applied
--   target_snapshot   while a replay pass is under way: the snapshot it applies
--                     up to (NULL between passes)
--   target_position   the id up to which target_snapshot's rows are applied
--   applied_sync_id   the highest log id applied (health's replay position)
--   read_only         the graph stopped applying (e.g. the edge buffer is full);
--                     the log is kept and maintenance recovers it
--   read_only_reason  why it is read-only
--   generation        the generation of the current base (graph._csr)
--   build_required    the registration changed since the last build
--   last_apply_at     when replay last moved the cursor
--   last_build_at     when the base was last built
CREATE TABLE graph._sync_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    done_snapshot pg_snapshot NOT NULL,
    target_snapshot pg_snapshot,
    target_position bigint NOT NULL DEFAULT 0,
    applied_sync_id bigint NOT NULL DEFAULT 0,
    read_only boolean NOT NULL DEFAULT false,
    read_only_reason text,
    generation bigint NOT NULL DEFAULT 0,
    build_required boolean NOT NULL DEFAULT false,
    last_apply_at timestamptz,
    last_build_at timestamptz
);

INSERT INTO graph._sync_state (done_snapshot) VALUES (pg_current_snapshot());

-- The graph -----------------------------------------------------------------

-- Table graph._nodes: node resolution, dense ids. A node id is also given to a
-- key that an edge references before (or without) its row existing; such a
-- node is not alive. touched marks nodes changed since the base was built (the
-- read delta). Row-level security (migration 002) shows a reader the nodes of
-- the tables it may SELECT.
--   node_id     the dense id: the index of the node in the base CSR arrays
--   table_oid   the node table
--   pk          the row's key text (graph._key_expr)
--   alive       the row exists; false for a deleted row (a tombstone) or a key
--               only an edge names
--   tenant      the row's tenant column value, as text
--   properties  its property and filter columns, as in the log's properties
--   touched     changed by replay since the base was built
CREATE TABLE graph._nodes (
    node_id bigint PRIMARY KEY,
    table_oid oid NOT NULL,
    pk text NOT NULL,
    alive boolean NOT NULL,
    tenant text,
    properties jsonb,
    touched boolean NOT NULL DEFAULT false,
    UNIQUE (table_oid, pk)
);

CREATE INDEX _nodes_touched_idx ON graph._nodes (node_id) WHERE touched;


-- Table graph._labels: edge label names, numbered.
--   label_id  the number the CSR labels array and the edge overlay use
--   label     the label text
CREATE TABLE graph._labels (
    label_id serial PRIMARY KEY,
    label text NOT NULL UNIQUE
);

-- Table graph._csr: the immutable base, CSR arrays per direction, tagged with a
-- generation. Arrays are little-endian NumPy buffers: offsets int64, targets
-- int64, weights float64, labels int32, sources int32 (edge_source_id).
--   generation  the build that wrote it (graph._sync_state.generation is current)
--   direction   'out': edges by their start node; 'in': by their end node
--   node_count  nodes in the base (node ids 0 .. node_count - 1)
--   edge_count  edges in the base
--   offsets     node_count + 1 offsets: node i's edges are entries
--               offsets[i] .. offsets[i+1] - 1 of the arrays below
--   targets     the node at the other end of each edge
--   weights     each edge's weight
--   labels      each edge's label_id (graph._labels)
--   sources     each edge's edge_source_id
--   alive       one byte (bool) per node: alive when the base was built
--   built_at    when it was written
CREATE TABLE graph._csr (
    generation bigint NOT NULL,
    direction text NOT NULL CHECK (direction IN ('out', 'in')),
    node_count bigint NOT NULL,
    edge_count bigint NOT NULL,
    offsets bytea NOT NULL,
    targets bytea NOT NULL,
    weights bytea NOT NULL,
    labels bytea NOT NULL,
    sources bytea NOT NULL,
    alive bytea NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (generation, direction)
);

-- Table graph._edge_overlay: edge changes applied since the base was built.
-- op '+' adds one edge, '-' removes one matching edge. Bounded by
-- graph.edge_buffer_size; a build empties it.
--   id              the order of the changes
--   op              '+' or '-'
--   edge_source_id  the edge source of the edge
--   src, dst        its start and end node ids (graph._nodes)
--   weight          its weight
--   label_id        its label (graph._labels)
CREATE TABLE graph._edge_overlay (
    id bigserial PRIMARY KEY,
    op char(1) NOT NULL CHECK (op IN ('+', '-')),
    edge_source_id int NOT NULL,
    src bigint NOT NULL,
    dst bigint NOT NULL,
    weight float8 NOT NULL,
    label_id int NOT NULL
);

-- Table graph._edge_cuts: TRUNCATE of an edge source's table: every base edge
-- of that source, and every overlay row of it with id <= overlay_id, is gone.
-- A build empties it.
--   edge_source_id  the edge source whose carrying table was truncated
--   overlay_id      the last overlay id at the truncation
CREATE TABLE graph._edge_cuts (
    edge_source_id int PRIMARY KEY,
    overlay_id bigint NOT NULL
);

-- Table graph._py_modules: the PL/Python package, stored in the database (no
-- file on the server); install.py rewrites it, graph._import_package() imports
-- from it.
--   name        the dotted module name, e.g. graphsync.sync.apply
--   is_package  it is a package (its source is the package's __init__.py)
--   source      the module's Python source
CREATE TABLE graph._py_modules (
    name text PRIMARY KEY,
    is_package boolean NOT NULL,
    source text NOT NULL
);
