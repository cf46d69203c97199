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
-- short read, nothing fetched unless it changed. GD keeps what was loaded;
-- when it differs, every graphsync module leaves sys.modules and the next import
-- runs the installed code. A REPEATABLE READ or SERIALIZABLE transaction sees
-- the package as its snapshot does, possibly older than the functions it runs:
-- there the answer is not settled (false), and the caller asks again next call.
-- A module runs from the code object install.py stored beside its source
-- (graph._compile_package) when that code was compiled from this very source
-- (SHA-256, checked by PostgreSQL) by a Python of this bytecode magic number;
-- otherwise from its source, compiled here. Both are written only by the table's
-- owner, the installing role. Loading code objects instead of compiling some 25
-- modules is most of what a fresh backend's first read paid beyond NumPy.
-- The package is listed here (names, row versions: no source, no code); each
-- module's code (or source) is fetched when it is imported, by one kept plan, from
-- the very row version listed (an ImportError if another install replaced it
-- since: no mix of two packages), so a first traversal reads about half of the
-- rows. The SHA-256 is not computed again while the row's xmin is the install
-- transaction that checked it and stamped code_xid (migration 320): a row written
-- since has its source hashed here, as before.
CREATE OR REPLACE FUNCTION graph._import_package()
RETURNS boolean
LANGUAGE plpython3u
SET search_path = pg_catalog, pg_temp
AS $$
import marshal
import sys

# ModuleSpec and the bytecode magic number from the import system's own frozen
# modules, loaded with every interpreter: importlib.util (what they are public
# under) imports contextlib, types and functools, some 3 ms of a first read.
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import MAGIC_NUMBER

# The package's modules: names and row versions (no source, no code), in one
# statement with the answer's fingerprint, the row versions in name order: a
# backend's first read plans no second statement for the listing. Each module's
# code or source is fetched when it is imported, by one kept plan, from the very
# row version listed here: a first traversal runs about half of the modules, and
# neither the others' code nor the SHA-256 of their source is read.
r = plpy.execute(
    "SELECT pg_catalog.array_agg(m.name ORDER BY m.name) AS names,"
    " pg_catalog.array_agg(m.is_package ORDER BY m.name) AS packages,"
    " pg_catalog.array_agg(m.xmin::text ORDER BY m.name) AS versions,"
    " pg_catalog.current_setting('transaction_isolation') = 'read committed' AS settled"
    " FROM graph._py_modules AS m")[0]
fingerprint, settled = ",".join(r["versions"] or ()), r["settled"]
if GD.get("graphsync") == fingerprint and "graphsync" in sys.modules:
    return settled
modules = {name: {"is_package": p, "v": v} for name, p, v in zip(r["names"] or (), r["packages"] or (), r["versions"] or ())}
# A module's compiled code when it was compiled from this source by this Python
# (graph._compile_package), else its source.
# The key's SHA-256 is that of the source while the row's xmin is still the
# install transaction that checked it (code_xid, migration 320): only the magic
# number is compared then; a row written since has its source hashed here.
fetch = plpy.prepare(
    "SELECT CASE WHEN k.ok THEN m.code END AS code, CASE WHEN k.ok THEN NULL ELSE m.source END AS source"
    " FROM graph._py_modules AS m, LATERAL (SELECT CASE WHEN m.code_xid = m.xmin"
    " THEN pg_catalog.starts_with(m.code_key, $1 || ':')"
    " ELSE m.code_key = $1 || ':' || pg_catalog.encode("
    "pg_catalog.sha256(pg_catalog.convert_to(m.source, 'UTF8')), 'hex') END AS ok) AS k"
    " WHERE m.name = $2 AND m.xmin = $3::pg_catalog.xid",
    ["text", "text", "text"])
magic = MAGIC_NUMBER.hex()


class GraphsyncFinder:
    """A meta-path finder and loader of graph._py_modules (the protocol needs no base
    class: importlib.abc alone costs a first read tens of milliseconds)."""

    def find_spec(self, name, path=None, target=None):
        if name not in modules:
            return None
        return ModuleSpec(name, self, is_package=modules[name]["is_package"])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        found = plpy.execute(fetch, [magic, name, modules[name]["v"]])
        if not found:  # the package was installed again since it was listed: no mix of the two
            raise ImportError("graphsync: the installed package changed while %s was imported; call again" % name,
                              name=name)
        m = found[0]
        if m["code"] is not None:
            code = marshal.loads(m["code"])
        else:
            code = compile(m["source"], "<graphsync %s>" % name, "exec", dont_inherit=True)
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
