-- 407-apply-for-read-bounded: graph._apply_for_read() gains ``bounded`` (apply at most
-- apply.READ_APPLY_ROWS log rows; graph._read_sync passes true). Its signature
-- changes, which CREATE OR REPLACE cannot do: the old one goes here, and the
-- install creates the new one right after the migrations.
DROP FUNCTION IF EXISTS graph._apply_for_read();
