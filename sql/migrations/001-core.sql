-- 001-core: the registry, the capture log, replay state, the graph tables.
-- Run once per database by install.py and recorded in graph._migrations.

-- The registry --------------------------------------------------------------

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

-- One row per edge source. kind 'fk': rows of from_table reference to_table
-- through from_column. kind 'join': rows of via_table link from_table (via
-- from_column) to to_table (via to_column).
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

-- Replay state: one row. A log row is applied when its transaction is visible
-- in done_snapshot, or visible in target_snapshot with id <= target_position.
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

-- Node resolution: dense ids. A node id is also given to a key that an edge
-- references before (or without) its row existing; such a node is not alive.
-- touched marks nodes changed since the base was built (the read delta).
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


CREATE TABLE graph._labels (
    label_id serial PRIMARY KEY,
    label text NOT NULL UNIQUE
);

-- The immutable base: CSR arrays per direction, tagged with a generation.
-- Arrays are little-endian NumPy buffers: offsets int64, targets int64,
-- weights float64, labels int32, sources int32 (edge_source_id).
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

-- Edge changes applied since the base was built. op '+' adds one edge, '-'
-- removes one matching edge.
CREATE TABLE graph._edge_overlay (
    id bigserial PRIMARY KEY,
    op char(1) NOT NULL CHECK (op IN ('+', '-')),
    edge_source_id int NOT NULL,
    src bigint NOT NULL,
    dst bigint NOT NULL,
    weight float8 NOT NULL,
    label_id int NOT NULL
);

-- TRUNCATE of an edge source's table: every base edge of that source, and every
-- overlay row of it with id <= overlay_id, is gone.
CREATE TABLE graph._edge_cuts (
    edge_source_id int PRIMARY KEY,
    overlay_id bigint NOT NULL
);

-- The PL/Python package, stored in the database (no file on the server).
CREATE TABLE graph._py_modules (
    name text PRIMARY KEY,
    is_package boolean NOT NULL,
    source text NOT NULL
);
