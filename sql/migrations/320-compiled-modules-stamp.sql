-- 320-compiled-modules-stamp: the transaction that last checked each module's
-- code key against its source, so that a backend's first import need not hash
-- the source again (install.py, sql/functions/graph._import_package.sql).
--
-- graph._py_modules (written only by its owner, the installing role):
--   code_xid  the install transaction that checked, in a statement of its own
--             and after graph._compile_package, that the SHA-256 in code_key is
--             that of the row's source, and wrote this column. While the row's
--             xmin is still that transaction, the row was not written since: a
--             backend then compares only the key's bytecode magic number. A row
--             written since (a source or code changed by hand, a restored dump)
--             has another xmin: the backend hashes its source, as before. NULL
--             when not stamped (graph._compile_package clears it).
ALTER TABLE graph._py_modules
ADD COLUMN code_xid xid;

COMMENT ON COLUMN graph._py_modules.code_xid IS
'The install transaction that checked code_key against source; while it is the row''s xmin the source need not be hashed again.';
