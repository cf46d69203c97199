"""graphsync.algorithms.lazy_numpy: importing the package imports no NumPy (a first
read that never uses it never pays for it), and ``np`` is NumPy once used. Also the
Adjacency over a base given as memoryviews (the mapped base file's arrays): it walks
small lists without making NumPy arrays, and answers as one over NumPy arrays does."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphsync import algorithms
from graphsync.algorithms import csr
from graphsync.algorithms.adjacency import Adjacency
from graphsync.algorithms.lazy_numpy import np as lazy_np

PLPYTHON = Path(__file__).resolve().parents[3] / "plpython"

PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import graphsync.reads.api, graphsync.reads.export, graphsync.ops.status, graphsync.sync.base
print("numpy" in sys.modules)
from graphsync.algorithms.lazy_numpy import np
np.zeros(1)
print("numpy" in sys.modules)
"""


def test_importing_the_read_path_imports_no_numpy_until_np_is_used():
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, str(PLPYTHON)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_np_is_numpy_once_used():
    assert lazy_np.int64 is np.int64 and lazy_np.asarray is np.asarray
    assert "asarray" in vars(lazy_np)  # copied on first use: later lookups are plain attribute reads


def memoryviews(c):
    """Csr ``c`` as the mapped file gives it: read-only memoryviews of its bytes."""
    return csr.Csr(*(memoryview(np.ascontiguousarray(a, dtype=csr.DTYPES[f]).tobytes()).cast(
        {"<i8": "q", "<f8": "d", "<i4": "i"}[csr.DTYPES[f]]) for f, a in zip(csr.Csr._fields, c, strict=True)))


def graph(n=40, m=160, seed=5):
    rng = np.random.default_rng(seed)
    return csr.build(n, csr.edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m),
                                  rng.integers(0, 3, m), rng.integers(1, 3, m)))


def test_an_adjacency_of_memoryviews_walks_small_lists_without_numpy_arrays():
    c = graph()
    a = Adjacency.of(memoryviews(c), node_count=45)  # five nodes past the base: no edges
    lists = a.edge_lists([0, 3, 7, 44], limit=1000)
    assert not {"offsets", "targets", "labels", "weights", "sources"} & set(vars(a))  # none made
    want = Adjacency.of(c, node_count=45).edge_lists([0, 3, 7, 44], limit=1000)
    assert lists == want and lists[-1] == ([], [])
    assert all(isinstance(x, int) for t, lab in lists for x in t + lab)


def test_an_adjacency_of_memoryviews_makes_numpy_arrays_on_first_use_and_answers_the_same():
    c = graph()
    a, b = Adjacency.of(memoryviews(c)), Adjacency.of(c)
    frontier = np.arange(0, 40, 3)
    for x, y in zip(a.frontier_edges(frontier), b.frontier_edges(frontier), strict=True):
        assert np.array_equal(x, y)
    assert isinstance(a.targets, np.ndarray) and a.targets.dtype == np.int64 and not a.targets.flags.writeable
    for f in csr.Csr._fields:
        assert np.array_equal(getattr(a.compact(), f), getattr(c, f))
    a.set_node(2, [5, 6], [1.0, 2.0], [0, 1], [1, 1])  # relocated: the tail arrays are made then
    assert a.edge_lists([2], limit=10) == [([5, 6], [0, 1])]
    assert csr.edge_list(memoryviews(c)).dst.tolist() == csr.edge_list(c).dst.tolist()


@pytest.mark.parametrize(("environ", "after"), [
    ({}, {"OPENBLAS_NUM_THREADS": "1"}),
    ({"OPENBLAS_NUM_THREADS": ""}, {"OPENBLAS_NUM_THREADS": "1"}),
    ({"OPENBLAS_NUM_THREADS": "4"}, {"OPENBLAS_NUM_THREADS": "4"}),
    ({"GOTO_NUM_THREADS": "2"}, {"GOTO_NUM_THREADS": "2"}),
    ({"OMP_NUM_THREADS": "3", "PATH": "/bin"}, {"OMP_NUM_THREADS": "3", "PATH": "/bin"}),
])
def test_numpy_is_imported_with_one_blas_thread_unless_the_server_says_otherwise(environ, after):
    """The package sets OPENBLAS_NUM_THREADS=1 before any NumPy import (a thread per
    core spins some 100 ms of CPU otherwise; tests/test_first_read.py); a count the
    server's environment gives, by any of OpenBLAS's three names, is kept."""
    algorithms.one_blas_thread(environ)
    assert environ == after


def test_numpy_and_scipy_are_imported_only_in_the_algorithms_package():
    """What makes the one-BLAS-thread setting of graphsync.algorithms hold: it runs
    before any NumPy or SciPy import of the package because no module outside it
    imports either (the others take ``np`` from lazy_numpy)."""
    pattern = re.compile(r"^\s*(import|from)\s+(numpy|scipy)\b", re.M)
    outside = [str(path.relative_to(PLPYTHON)) for path in (PLPYTHON / "graphsync").rglob("*.py")
               if "algorithms" not in path.relative_to(PLPYTHON).parts and pattern.search(path.read_text())]
    assert outside == []
