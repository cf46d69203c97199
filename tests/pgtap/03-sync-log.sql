-- The capture log has exactly the documented columns and types.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(18);

SELECT columns_are('graph', '_sync_log', ARRAY[
    'id', 'op', 'table_oid', 'table_name', 'pk', 'old_pk', 'new_pk', 'properties', 'old_row', 'new_row',
    'xid', 'needs_vacuum', 'error_message', 'created_at'
]);
SELECT col_type_is('graph', '_sync_log', 'id', 'bigint', 'id is bigint');
SELECT col_type_is('graph', '_sync_log', 'op', 'character(1)', 'op is character(1)');
SELECT col_type_is('graph', '_sync_log', 'table_oid', 'oid', 'table_oid is oid');
SELECT col_type_is('graph', '_sync_log', 'table_name', 'text', 'table_name is text');
SELECT col_type_is('graph', '_sync_log', 'pk', 'text', 'pk is text');
SELECT col_type_is('graph', '_sync_log', 'old_pk', 'text', 'old_pk is text');
SELECT col_type_is('graph', '_sync_log', 'new_pk', 'text', 'new_pk is text');
SELECT col_type_is('graph', '_sync_log', 'properties', 'jsonb', 'properties is jsonb');
SELECT col_type_is('graph', '_sync_log', 'old_row', 'jsonb', 'old_row is jsonb');
SELECT col_type_is('graph', '_sync_log', 'new_row', 'jsonb', 'new_row is jsonb');
SELECT col_type_is('graph', '_sync_log', 'xid', 'bigint', 'xid is bigint');
SELECT col_type_is('graph', '_sync_log', 'needs_vacuum', 'boolean', 'needs_vacuum is boolean');
SELECT col_type_is('graph', '_sync_log', 'error_message', 'text', 'error_message is text');
SELECT col_type_is('graph', '_sync_log', 'created_at', 'timestamp with time zone', 'created_at is timestamp with time zone');
SELECT col_is_pk('graph', '_sync_log', 'id', 'id is the primary key');
SELECT col_not_null('graph', '_sync_log', 'xid', 'xid is NOT NULL');
-- op carries no CHECK (migration 175: a CHECK is planned again by every
-- statement that inserts a log row); replay refuses an op it does not know.
SELECT is_empty($$
    SELECT c.conname FROM pg_constraint AS c
    WHERE c.conrelid = 'graph._sync_log'::regclass AND c.contype = 'c'
$$, 'the log carries no CHECK constraint (op is written by capture only)');

SELECT * FROM finish();
ROLLBACK;
