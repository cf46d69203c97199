-- 215-sync-log-xid-default: graph._sync_log.xid defaults to txid_current(), the
-- writer's transaction id as a bigint (the same value as migration 001's
-- pg_current_xact_id()::text::bigint: both give the epoch-extended id), without
-- rendering it as text and parsing the text back, two conversions that every
-- statement inserting log rows set up and every log row ran (each captured write
-- of a registered table).
ALTER TABLE graph._sync_log ALTER COLUMN xid SET DEFAULT pg_catalog.txid_current();
