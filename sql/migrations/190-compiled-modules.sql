-- 190-compiled-modules: the compiled code of each module of the PL/Python package,
-- beside its source, so that a new backend loads code objects instead of
-- compiling every module's source on its first read
-- (sql/functions/graph._compile_package.sql, graph._import_package.sql).
--
-- graph._py_modules (written only by its owner, the installing role; see
-- sql/privileges.sql: whoever writes it runs Python as the server's OS user):
--   code      the module's code object, marshal'ed by the server's Python at
--             install time (graph._compile_package)
--   code_key  what the code was compiled from: '<the server Python's bytecode
--             magic number, hex>:<SHA-256 of the source, hex>'. A backend uses
--             the code only when the key matches the row's source and its own
--             Python; otherwise it compiles the source, as before.
ALTER TABLE graph._py_modules
ADD COLUMN code bytea,
ADD COLUMN code_key text;

COMMENT ON COLUMN graph._py_modules.code IS
'The module''s code object, marshal''ed by the server''s Python at install time (graph._compile_package).';
COMMENT ON COLUMN graph._py_modules.code_key IS
'What code was compiled from: <bytecode magic number, hex>:<SHA-256 of source, hex>; code is used only when both match.';
