-- graph._import_package(): make the graphsync Python package, stored in
-- graph._py_modules, importable in this backend's interpreter (a meta-path
-- finder; no file on the server), and import it again when the installed code
-- is not the code this backend loaded. Returns whether the caller may take the
-- answer as settled for this backend (see below).
-- Each PL/Python function calls it on its first call in a backend (its SD, the
-- function's own dictionary, has no "graphsync" yet). Every install replays
-- every function (CREATE OR REPLACE), and PL/Python compiles a function again,
-- with an empty SD, when its catalog row changed: so the first call of each
-- function after an install asks here, and a pooled backend runs the upgraded
-- code from its first call after the upgrade commits.
-- The installed code is told by the row versions (xmin) of graph._py_modules,
-- which install.py rewrites in one transaction when the package changed: one
-- short read, no source fetched unless it changed. GD keeps what was loaded;
-- when it differs, every graphsync module leaves sys.modules and the next import
-- runs the installed code. A REPEATABLE READ or SERIALIZABLE transaction sees
-- the package as its snapshot does, possibly older than the functions it runs:
-- there the answer is not settled (false), and the caller asks again next call.
CREATE OR REPLACE FUNCTION graph._import_package()
RETURNS boolean
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
import importlib.abc
import importlib.util
import sys

r = plpy.execute(
    "SELECT (SELECT pg_catalog.string_agg(m.xmin::text, ',' ORDER BY m.name) FROM graph._py_modules AS m) AS f,"
    " pg_catalog.current_setting('transaction_isolation') = 'read committed' AS settled")[0]
fingerprint, settled = r["f"], r["settled"]
if GD.get("graphsync") == fingerprint and "graphsync" in sys.modules:
    return settled
rows = plpy.execute("SELECT name, is_package, source FROM graph._py_modules")
sources = {r["name"]: (r["is_package"], r["source"]) for r in rows}


class GraphsyncFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in sources:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=sources[name][0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(sources[module.__name__][1], "<graphsync %s>" % module.__name__, "exec")
        exec(code, module.__dict__)


for name in [m for m in sys.modules if m == "graphsync" or m.startswith("graphsync.")]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "GraphsyncFinder"]
sys.meta_path.insert(0, GraphsyncFinder())
GD["graphsync"] = fingerprint
return settled
$$;

COMMENT ON FUNCTION graph._import_package() IS
'Internal: make the graphsync package stored in graph._py_modules importable; import it again when the installed code changed.';
