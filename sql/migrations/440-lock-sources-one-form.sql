-- 440-lock-sources-one-form: graph._lock_sources(tables) was a one-line SQL form of
-- graph._lock_sources(tables, false); its one caller (reads/edge_rows.py) passes
-- false itself now. Dropped; the two-argument form stays.
DROP FUNCTION IF EXISTS graph._lock_sources(oid[]);
