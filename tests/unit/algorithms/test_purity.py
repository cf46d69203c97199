"""Algorithms stay pure, checked at run time: importing every module of
graphsync.algorithms in a fresh interpreter never imports (nor tries to import) plpy
or another graphsync area. ruff's TID251 rule (pyproject.toml) checks the source;
this catches what a linter cannot see, such as an import the package's own
__init__.py would pull in, or one made through importlib."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

PLPYTHON = Path(__file__).resolve().parents[3] / "plpython"

BANNED = ("plpy", "graphsync.db", "graphsync.settings", "graphsync.errors",
          "graphsync.sync", "graphsync.reads", "graphsync.ops")

# Runs in the subprocess: records every module name an import looks for (found or
# not, so ``try: import plpy`` counts) and which graphsync module asked for it.
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
asked = []

class Recorder:
    def find_spec(self, name, path=None, target=None):
        frame = sys._getframe(1)
        while frame is not None and not str(frame.f_globals.get("__name__", "")).startswith("graphsync"):
            frame = frame.f_back
        asked.append([name, frame.f_globals["__name__"] if frame is not None else None])
        return None

sys.meta_path.insert(0, Recorder())
for name in sys.argv[2:]:
    importlib.import_module(name)
print(json.dumps({"asked": asked, "loaded": sorted(sys.modules)}))
"""


def algorithm_modules(root):
    return sorted("graphsync.algorithms." + p.stem
                  for p in (root / "graphsync" / "algorithms").glob("*.py") if p.stem != "__init__")


def banned(name):
    return any(name == b or name.startswith(b + ".") for b in BANNED)


def impure_imports(root, modules):
    """(modules imported, 'importer -> banned module' for each banned import asked for)
    when ``modules`` are imported from ``root`` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, str(root), *modules],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    bad = sorted({"%s -> %s" % (by, name) for name, by in seen["asked"] if banned(name)}
                 | {"loaded %s" % name for name in seen["loaded"] if banned(name)})
    return seen["loaded"], bad


def test_importing_every_algorithm_module_imports_nothing_impure():
    modules = algorithm_modules(PLPYTHON)
    loaded, bad = impure_imports(PLPYTHON, modules)
    assert len(modules) >= 6 and set(modules) <= set(loaded)
    assert bad == []


def test_the_probe_sees_a_guarded_import_and_names_its_importer(tmp_path):
    """The check can fail: a copy of the package whose algorithms module tries plpy
    (inside try/except, as code that 'works outside the server' might) and reaches
    sync through importlib."""
    shutil.copytree(PLPYTHON / "graphsync", tmp_path / "graphsync",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "graphsync" / "algorithms" / "sneaky.py").write_text(
        "import importlib\n"
        "try:\n    import plpy\nexcept ImportError:\n    plpy = None\n"
        "changes = importlib.import_module('graphsync.sync.changes')\n")
    assert "graphsync.algorithms.sneaky" in algorithm_modules(tmp_path)
    loaded, bad = impure_imports(tmp_path, ["graphsync.algorithms.sneaky"])
    assert "graphsync.sync.changes" in loaded
    assert "graphsync.algorithms.sneaky -> plpy" in bad
    assert "graphsync.algorithms.sneaky -> graphsync.sync.changes" in bad
