"""The package's layering, read from its source with ast (imports inside functions count).

Layers run one way: ops -> reads -> sync -> algorithms, with db, settings and errors
below everything, and graphsync.records (named tuples without collections, pure
Python) below those too, algorithms included; algorithms import no other area at all (ruff's TID251 says the same
at lint time, tests/unit/algorithms/test_purity.py at run time). A read never reaches
the replay module (graphsync.sync.apply), verification never reaches the repair module
(graphsync.ops.reconcile), and no module imports plpy: it is passed in as an argument.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plpython" / "graphsync"

BASE = {"graphsync.db", "graphsync.settings", "graphsync.errors"}
RECORDS = {"graphsync.records"}
# What each area may import (its own modules included).
ALLOWED = {
    "records": {"records"},
    "base": {"base", "records"},
    "algorithms": {"algorithms", "records"},
    "sync": {"sync", "algorithms", "base", "records"},
    "reads": {"reads", "sync", "algorithms", "base", "records"},
    "ops": {"ops", "reads", "sync", "algorithms", "base", "records"},
}


def package_modules(root=PACKAGE):
    """{dotted name: path} of every module of the package under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(source, name, is_package, known):
    """Every module ``source`` (module ``name``) imports, with relative imports resolved
    and ``from pkg import mod`` read as importing ``pkg.mod`` when that is a module
    in ``known``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                full = "%s.%s" % (module, alias.name)
                found.add(full if full in known else module)
    return found


def import_graph(root=PACKAGE):
    """{module: set of modules it imports} over the package under ``root``."""
    modules = package_modules(root)
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py", modules)
            for name, path in modules.items()}


def area(name):
    """The layer a graphsync module belongs to: base, algorithms, sync, reads, ops, or
    None for the package itself and for a module no layer claims."""
    if name in BASE:
        return "base"
    if name in RECORDS:
        return "records"
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in ALLOWED:
        return parts[1]
    return None


def reachable(graph, start):
    """Every graphsync module importing ``start`` runs, parent packages included."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(t for t in graph.get(name, ()) if t.split(".")[0] == "graphsync")
    return seen


def layering_violations(graph):
    """'importer -> imported' for every graphsync import the layers forbid."""
    bad = []
    for name, targets in sorted(graph.items()):
        for target in sorted(t for t in targets if t.split(".")[0] == "graphsync"):
            if name == "graphsync" or area(target) not in ALLOWED.get(area(name), ()):
                bad.append("%s -> %s" % (name, target))
    return bad


GRAPH = import_graph()


def test_the_package_is_where_we_look():
    assert {"graphsync.algorithms.csr", "graphsync.sync.apply", "graphsync.reads.api",
            "graphsync.ops.verify", "graphsync.db"} <= set(GRAPH)


def test_every_module_belongs_to_a_layer():
    """A new top-level module must be placed in the layering here, not slip past it."""
    assert [m for m in GRAPH if m != "graphsync" and area(m) is None] == []


def test_every_graphsync_import_names_an_existing_module():
    """A stale import (a module renamed in the move, e.g. graphsync.state) fails here."""
    stale = sorted("%s -> %s" % (m, t) for m, ts in GRAPH.items() for t in ts
                   if t.split(".")[0] == "graphsync" and t not in GRAPH)
    assert stale == []


def test_no_module_imports_plpy():
    assert sorted(m for m, ts in GRAPH.items() if "plpy" in ts) == []


def test_layers_point_down():
    assert layering_violations(GRAPH) == []


@pytest.mark.parametrize("name", sorted(m for m in GRAPH if area(m) == "reads"))
def test_reads_never_reach_the_replay_module(name):
    assert "graphsync.sync.apply" not in reachable(GRAPH, name)


def test_verify_never_reaches_the_repair_module():
    assert "graphsync.ops.reconcile" not in reachable(GRAPH, "graphsync.ops.verify")


# The checker itself: each rule above fails on a package that breaks it.

def _package(tmp_path, files):
    root = tmp_path / "graphsync"
    for rel, text in {"__init__.py": "", "db.py": "", "algorithms/__init__.py": "",
                      "algorithms/csr.py": "", "sync/__init__.py": "", "sync/apply.py": "",
                      "reads/__init__.py": "", "reads/view.py": "", "ops/__init__.py": "",
                      **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return import_graph(root)


def test_relative_and_lazy_imports_are_resolved(tmp_path):
    graph = _package(tmp_path, {"algorithms/bad.py": (
        "from . import csr\n"
        "def f():\n    from ..sync import apply\n    from .. import db\n    import plpy\n")})
    assert graph["graphsync.algorithms.bad"] == {
        "graphsync.algorithms.csr", "graphsync.sync.apply", "graphsync.db", "plpy"}


def test_the_checker_catches_an_upward_or_sideways_import(tmp_path):
    graph = _package(tmp_path, {
        "algorithms/bad.py": "from graphsync.db import run\n",
        "sync/bad.py": "def f():\n    from graphsync.reads import view\n",
        "__init__.py": "from graphsync.algorithms import csr\n",
    })
    assert layering_violations(graph) == [
        "graphsync -> graphsync.algorithms.csr",
        "graphsync.algorithms.bad -> graphsync.db",
        "graphsync.sync.bad -> graphsync.reads.view",
    ]


def test_the_checker_follows_imports_transitively(tmp_path):
    graph = _package(tmp_path, {
        "reads/view.py": "from graphsync.sync import retry\n",
        "sync/retry.py": "from graphsync.sync import apply\n",
    })
    assert "graphsync.sync.apply" in reachable(graph, "graphsync.reads.view")
    assert "graphsync.sync.apply" not in reachable(graph, "graphsync.algorithms.csr")


def test_the_checker_follows_parent_packages(tmp_path):
    """Importing graphsync.reads.view runs graphsync/reads/__init__.py first."""
    graph = _package(tmp_path, {"reads/__init__.py": "from graphsync.sync import apply\n"})
    assert "graphsync.sync.apply" in reachable(graph, "graphsync.reads.view")
