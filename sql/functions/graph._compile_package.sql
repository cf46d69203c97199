-- graph._compile_package(): compile every module of the package stored in
-- graph._py_modules whose code is missing or was compiled from another source or
-- by another Python, and store the marshal'ed code object beside the source
-- (columns code and code_key, migration 190). Returns how many modules it compiled.
-- install.py calls it, as the installing role (the table's owner), after writing
-- the package; nobody else may: whoever writes graph._py_modules runs Python as
-- the server's OS user, and a reader's backend loads this code
-- (graph._import_package), so it is written only where the source is written and
-- by the same role. The key is computed by PostgreSQL from the row's source in
-- the same statement that stores the code, exactly as graph._import_package
-- checks it; code_xid is cleared (install.py stamps it after, migration 320).
-- Idempotent: an install that changed no module compiles nothing and
-- writes no row (so backends keep what they loaded).
CREATE OR REPLACE FUNCTION graph._compile_package()
RETURNS integer
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
import importlib.util
import marshal

magic = importlib.util.MAGIC_NUMBER.hex()
key = ("$1 || ':' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(m.source, 'UTF8')), 'hex')")
stale = plpy.execute(plpy.prepare(
    "SELECT m.name, m.source FROM graph._py_modules AS m"
    " WHERE m.code IS NULL OR m.code_key IS DISTINCT FROM " + key + " ORDER BY m.name", ["text"]), [magic])
store = plpy.prepare(
    "UPDATE graph._py_modules AS m SET code = $2, code_key = " + key + ", code_xid = NULL WHERE m.name = $3",
    ["text", "bytea", "text"])
for row in stale:
    code = compile(row["source"], "<graphsync %s>" % row["name"], "exec", dont_inherit=True)
    plpy.execute(store, [magic, marshal.dumps(code), row["name"]])
return len(stale)
$$;

COMMENT ON FUNCTION graph._compile_package() IS
'Internal (install only): store the compiled code of each module of graph._py_modules whose code is missing or stale.';
