-- graph._import_package(): make the graphsync Python package, stored in
-- graph._py_modules, importable in this backend's interpreter (a meta-path
-- finder; no file on the server). Each PL/Python wrapper calls it once per
-- backend; a backend started before an upgrade keeps the code it loaded.
CREATE OR REPLACE FUNCTION graph._import_package()
RETURNS void
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
import importlib.abc
import importlib.util
import sys

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
GD["graphsync"] = True
$$;
