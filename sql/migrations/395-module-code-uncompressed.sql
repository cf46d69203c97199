-- 395-module-code-uncompressed: the compiled code of the package's modules is
-- stored out of line but not compressed, so a backend's first read does not
-- decompress the code of each module it imports (graph._import_package fetches
-- some 27 of them; pglz decompression was about a quarter of that fetch).
--
-- graph._py_modules.code: storage EXTERNAL (TOAST without compression: some
-- 850 kB for the whole package instead of some 490 kB). The code stored before is
-- cleared, so that graph._compile_package, later in the same install, writes every
-- module's code again, uncompressed (and install.py stamps it, migration 320).
ALTER TABLE graph._py_modules
ALTER COLUMN code SET STORAGE EXTERNAL;

UPDATE graph._py_modules SET code = NULL, code_key = NULL, code_xid = NULL;
