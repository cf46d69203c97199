-- 161-read-sync-as-role: graph._read_sync() takes a second argument, as_role (the
-- reading role, NULL by default): a read folds a few pending rows instead of
-- applying them, but not rows of tables that role may not SELECT, which a fold
-- leaves out (graph._pending_rows). A function's arguments cannot be changed in
-- place: the old one is dropped here, and the install creates the new one.
DROP FUNCTION IF EXISTS graph._read_sync(boolean);
