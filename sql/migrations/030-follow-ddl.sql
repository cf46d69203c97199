-- 030-follow-ddl: what keeps capture in step with the application's schema
-- changes (graph._follow_ddl, the event trigger graphsync_follow_ddl), and
-- the record health reads of what it did and could not do.
-- Run once per database by install.py and recorded in graph._migrations.

-- The registered columns of each captured table by attribute number, as capture
-- was last generated: a column found under another name at the same attnum was
-- renamed (the registry follows it), one found dropped was dropped (its role is
-- unregistered), one found with another type was retyped (capture regenerated).
--   table_oid    the captured table (node table or join table)
--   attnum       the column's attribute number
--   column_name  the name the registry knows it by
--   type_name    format_type() of its type then
CREATE TABLE graph._column_map (
    table_oid oid NOT NULL,
    attnum smallint NOT NULL,
    column_name text NOT NULL,
    type_name text NOT NULL,
    PRIMARY KEY (table_oid, attnum)
);

COMMENT ON TABLE graph._column_map IS
'Registered columns of each captured table by attnum when capture was last generated; graph._follow_ddl tells renames, drops and retypes by it.';

-- The partitions and inheritance children (at any depth) of each captured table
-- that carry its capture triggers. A member that is gone from the tree (dropped,
-- detached, NO INHERIT) took its rows with it without a DELETE: the registered
-- table is then marked for a rebuild.
--   member_oid   the partition or child table
--   table_oid    the registered table it belongs to
--   member_name  its name when it was recorded (kept when it is dropped)
CREATE TABLE graph._capture_members (
    member_oid oid NOT NULL,
    table_oid oid NOT NULL,
    member_name text NOT NULL,
    PRIMARY KEY (member_oid, table_oid)
);

COMMENT ON TABLE graph._capture_members IS
'Partitions and inheritance children of captured tables that carry their capture triggers.';

-- What following a schema change did that the graph has yet to catch up with,
-- or could not do. graph._schema_drift() shows every unresolved row (so do
-- sync_health() and verify()); a build whose read saw the change resolves a
-- 'rebuild' row, graph.reconcile() a 'reconcile' row once it followed the table
-- again.
--   event_id     order of recording
--   occurred_at  when
--   xid          the transaction of the schema change (a build resolves the rows
--                its snapshot sees)
--   table_oid    the registered table concerned; table_name its name then
--   column_name  the column concerned, if one
--   kind         column_unregistered, column_renamed, table_unregistered,
--                members_changed, follow_failed
--   detail       what happened, for a person
--   repair       what catches the graph up: 'rebuild' or 'reconcile'
--   resolved_at  when that happened (NULL: still open)
CREATE TABLE graph._schema_events (
    event_id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    table_oid oid NOT NULL,
    table_name text NOT NULL,
    column_name text,
    kind text NOT NULL,
    detail text NOT NULL,
    repair text NOT NULL CHECK (repair IN ('rebuild', 'reconcile')),
    resolved_at timestamptz
);

CREATE INDEX _schema_events_open_idx ON graph._schema_events (event_id) WHERE resolved_at IS NULL;

COMMENT ON TABLE graph._schema_events IS
'Schema changes of registered tables that graphsync followed (or failed to) and the graph has yet to catch up with; open rows show in sync_health().schema_drift.';
