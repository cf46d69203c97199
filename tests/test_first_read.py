"""The first read in a fresh backend pays for what it needs only: a traversal, an
unweighted path or an export never imports SciPy (only weighted paths and components
do), a small breadth-first traversal of the graph at rest imports no NumPy at all (it
reads the mapped base file through memoryviews), and loading the package does not
import importlib.abc (which drags in importlib.resources, tempfile, pathlib...). The package's stored compiled code is
tested in test_install.py; figures are in benchmarks/SIZES.md."""


import psycopg
import pytest

from conftest import connect

SCHEMA = """
CREATE SCHEMA fr;
CREATE TABLE fr.nodes (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE fr.links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, weight float8 NOT NULL);
INSERT INTO fr.nodes SELECT i, 'n' || i FROM generate_series(1, 200) AS i;
INSERT INTO fr.links SELECT i, 1 + (i * 7) % 200, 1 + (i * 13) % 200, 1 + i % 5 FROM generate_series(1, 800) AS i;
SELECT graph.add_table('fr.nodes', columns => '{name}');
SELECT graph.add_edge('fr.nodes', 'src', 'fr.nodes', to_column => 'dst', via_table => 'fr.links',
                      weight_column => 'weight');
CREATE TABLE fr.dense (id int PRIMARY KEY);
CREATE TABLE fr.dense_links (id int PRIMARY KEY, src int NOT NULL, dst int NOT NULL, kind text NOT NULL);
INSERT INTO fr.dense SELECT i FROM generate_series(1, 300) AS i;
INSERT INTO fr.dense_links SELECT i, 1 + abs(hashint4(i)) % 300, 1 + abs(hashint4(i + 100000)) % 300,
                                  (ARRAY['a', 'b'])[1 + i % 2]
FROM generate_series(1, 1200) AS i;
SELECT graph.add_table('fr.dense');
SELECT graph.add_edge('fr.dense', 'src', 'fr.dense', to_column => 'dst', via_table => 'fr.dense_links',
                      label_column => 'kind');
SELECT graph.build();
CREATE FUNCTION fr.loaded(name text) RETURNS boolean LANGUAGE plpython3u AS $$
import sys
return name in sys.modules
$$;
"""

WITHOUT_SCIPY = [
    "SELECT count(*) FROM graph.traverse('fr.nodes', '1', max_depth => 3)",
    "SELECT count(*) FROM graph.traverse('fr.nodes', '1', max_depth => 2, direction => 'any', strategy => 'dfs')",
    "SELECT count(*) FROM graph.shortest_path('fr.nodes', '1', 'fr.nodes', '50')",
    "SELECT length(graph.export_dot('fr.nodes', '1', max_depth => 1))",
    "SELECT count(*) FROM graph.traverse_search('name', 'n1', max_depth => 2)",
]
WITH_SCIPY = [
    "SELECT count(*) FROM graph.weighted_shortest_path('fr.nodes', '1', 'fr.nodes', '50')",
    "SELECT count(*) FROM graph.connected_components()",
]


@pytest.fixture(scope="module")
def graph_db(db):
    with connect(db) as c:
        c.execute(SCHEMA)
    return db


def loaded_after(dsn, read):
    """Whether scipy and importlib.abc are loaded in a fresh backend after ``read``."""
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute(read).fetchone()[0] is not None
        return c.execute("SELECT fr.loaded('scipy'), fr.loaded('importlib.abc'), fr.loaded('graphsync.reads.api')"
                         ).fetchone()


@pytest.mark.parametrize("read", WITHOUT_SCIPY)
def test_a_first_read_that_needs_no_scipy_does_not_import_it(graph_db, read):
    assert loaded_after(graph_db, read) == (False, False, True)


@pytest.mark.parametrize("read", WITH_SCIPY)
def test_weighted_paths_and_components_import_scipy(graph_db, read):
    """Control: the check above sees SciPy where a read uses it."""
    assert loaded_after(graph_db, read) == (True, False, True)


# fr.dense: 300 nodes, 1,200 edges: some 4 out-edges a node, so that depth 2 walks a few
# levels in lists to an answer of up to api.FEW (64) nodes, which is written out node by
# node; a larger answer (depth 3 and more) is written from NumPy arrays.
WITHOUT_NUMPY = [
    "SELECT count(*) FROM graph.traverse('fr.dense', '7', max_depth => 2)",
    "SELECT count(*) FROM graph.traverse('fr.dense', '7', max_depth => 2, direction => 'in')",
    "SELECT count(*) FROM graph.traverse('fr.dense', '7', max_depth => 1, direction => 'any')",
    "SELECT count(*) FROM graph.traverse_search('name', 'n1', max_depth => 2)",
]
WITH_NUMPY = [  # whole arrays: a label mask, a depth-first walk, paths, an export's induced edges, components
    "SELECT count(*) FROM graph.traverse('fr.dense', '7', max_depth => 2, edge_types => '{a}')",
    "SELECT count(*) FROM graph.traverse('fr.dense', '7', max_depth => 2, strategy => 'dfs')",
    "SELECT count(*) FROM graph.shortest_path('fr.dense', '7', 'fr.dense', '50')",
    "SELECT length(graph.export_dot('fr.dense', '7', max_depth => 1))",
    "SELECT count(*) FROM graph.connected_components()",
]


def numpy_after(dsn, read):
    """Whether NumPy is loaded in a fresh backend after ``read`` (its first statement)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute(read).fetchone()[0] is not None
        return c.execute("SELECT fr.loaded('numpy'), fr.loaded('graphsync.reads.api')").fetchone()


def test_the_traversals_below_walk_real_levels(graph_db):
    with psycopg.connect(graph_db, autocommit=True) as c:
        assert c.execute(WITHOUT_NUMPY[0]).fetchone()[0] > 10


@pytest.mark.parametrize("read", WITHOUT_NUMPY)
def test_a_first_small_traversal_of_the_graph_at_rest_imports_no_numpy(graph_db, read):
    assert numpy_after(graph_db, read) == (False, True)


@pytest.mark.parametrize("read", WITH_NUMPY)
def test_reads_over_whole_arrays_import_numpy(graph_db, read):
    """Control: the check above sees NumPy where a read uses it."""
    assert numpy_after(graph_db, read) == (True, True)


@pytest.mark.parametrize("read", WITH_NUMPY)
def test_numpy_in_a_backend_starts_no_blas_threads(graph_db, read):
    """OpenBLAS (NumPy's and SciPy's BLAS) starts a thread per core when NumPy is
    imported, and they spin for some 100 ms of CPU before they sleep: half of what a
    first NumPy read cost in all, for BLAS graphsync never calls. A backend that imported
    NumPy for graphsync runs one thread (OPENBLAS_NUM_THREADS=1 set before the import;
    the server's own setting of it, GOTO_ or OMP_NUM_THREADS is kept:
    tests/unit/algorithms/test_lazy_numpy.py)."""
    with psycopg.connect(graph_db, autocommit=True) as c:
        assert c.execute(read).fetchone()[0] is not None
        assert c.execute("SELECT fr.loaded('numpy')").fetchone()[0]
        # Read by the backend itself: the server may run in a container, whose
        # processes the tests' /proc does not show.
        threads = c.execute("SELECT count(*) FROM pg_ls_dir('/proc/self/task')").fetchone()[0]
        assert threads == 1


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_a_first_traversal_answers_what_a_backend_with_numpy_does(graph_db, depth):
    """Depth 2 walks lists to a small answer; 3 and 4 give larger answers, written from
    NumPy arrays (imported then): the answers are those of a backend that had imported
    NumPy and made whole arrays before."""
    read = ("SELECT array_agg(t ORDER BY t::text) FROM graph.traverse('fr.dense', '7', max_depth => %d) AS t"
            % depth)
    with psycopg.connect(graph_db, autocommit=True) as c:
        first = c.execute(read).fetchone()[0]
        assert c.execute("SELECT fr.loaded('numpy')").fetchone()[0] == (depth > 2)
    with psycopg.connect(graph_db, autocommit=True) as c:
        c.execute("DO $$ import numpy $$ LANGUAGE plpython3u")
        c.execute("SELECT count(*) FROM graph.connected_components()")  # whole arrays made first
        assert c.execute(read).fetchone()[0] == first


# What a bare PL/Python interpreter holds is the server's (site, sitecustomize...); a
# first small traversal adds the graphsync modules it runs and no more of the standard
# library than these. Each of the modules named below cost that first read ~0.5-5 ms of
# CPU to import: secrets (base64, random, hmac, hashlib, re, enum: statement_cache's
# secret is os.urandom, its MAC imports hashlib and hmac when a policy computes one),
# importlib.util (contextlib, which label_policy used too: graph._import_package takes
# ModuleSpec and the magic number from the frozen import system), functools (errors.wraps),
# collections (with operator, keyword, reprlib: graphsync.records makes the named tuples),
# weakref (adjacency takes ref from _weakref).
NOT_ON_A_FIRST_TRAVERSAL = ["secrets", "base64", "random", "hmac", "hashlib", "re", "enum", "contextlib",
                            "importlib.util", "importlib.machinery", "importlib.abc", "functools", "collections",
                            "keyword", "reprlib", "weakref", "types", "json", "numpy"]


def modules_after(dsn, read):
    """The modules ``read``, a fresh backend's first statement, adds to sys.modules
    beyond what starting PL/Python loads: (standard library, graphsync's)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE FUNCTION pg_temp.modules() RETURNS text[] LANGUAGE plpython3u AS $$\n"
                  "import sys\nreturn sorted(sys.modules)\n$$")
        bare = set(c.execute("SELECT pg_temp.modules()").fetchone()[0])
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute(read).fetchone()[0] is not None
        c.execute("CREATE FUNCTION pg_temp.modules() RETURNS text[] LANGUAGE plpython3u AS $$\n"
                  "import sys\nreturn sorted(sys.modules)\n$$")
        added = set(c.execute("SELECT pg_temp.modules()").fetchone()[0]) - bare
    ours = {m for m in added if m == "graphsync" or m.startswith("graphsync.")}
    return added - ours, ours


@pytest.mark.parametrize("read", WITHOUT_NUMPY[:2])
def test_a_first_small_traversal_imports_none_of_the_costly_standard_modules(graph_db, read):
    stdlib, ours = modules_after(graph_db, read)
    assert sorted(stdlib & set(NOT_ON_A_FIRST_TRAVERSAL)) == []
    # mmap, struct, math, fcntl, errno, itertools, _operator...: 8 on Debian's Python
    # 3.11 (46 before secrets, importlib.util, functools, collections and weakref went)
    assert len(stdlib) <= 10, sorted(stdlib)
    # 26 of the package's modules (27 before label_policy's imports were deferred; one
    # more since: graphsync.records)
    assert "graphsync.reads.api" in ours and len(ours) <= 26, sorted(ours)
    # graph._labels' policy modules: label_policy is loaded (a read narrows what it
    # asks), what it reads with only when a policy runs
    assert {"graphsync.reads.row_policy", "graphsync.reads.statement_cache"}.isdisjoint(ours)


def test_the_module_check_sees_a_costly_module_a_read_imports(graph_db):
    """Control: an export imports json and re, and the check sees them."""
    stdlib, _ = modules_after(graph_db, "SELECT length(graph.export_dot('fr.dense', '7', max_depth => 1))")
    assert {"json", "re"} <= stdlib


# Every statement a backend's first graphsync call runs through plpy, counted by a
# wrapper a DO block installs first (the DO block starts the interpreter; the package
# is not loaded until the read).
COUNT_STATEMENTS = """DO LANGUAGE plpython3u $$
import builtins
log = builtins.fr_statements = []
plans = {}
execute, prepare = plpy.execute, plpy.prepare
def counted_prepare(sql, *args):
    p = prepare(sql, *args)
    plans[id(p)] = sql
    return p
def counted_execute(query, *args):
    log.append(plans.get(id(query), query))
    return execute(query, *args)
plpy.execute, plpy.prepare = counted_execute, counted_prepare
$$"""


def statements_of_a_first_read(dsn, read):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(COUNT_STATEMENTS)
        assert c.execute(read).fetchone()[0] is not None
        c.execute("CREATE FUNCTION pg_temp.statements() RETURNS text[] LANGUAGE plpython3u AS $$\n"
                  "import builtins\nreturn builtins.fr_statements\n$$")
        return c.execute("SELECT pg_temp.statements()").fetchone()[0]


def test_loading_the_package_lists_its_modules_in_one_statement(graph_db):
    """graph._import_package lists the modules and tells the installed package's
    fingerprint in one statement (two before), then fetches each module it imports."""
    done = statements_of_a_first_read(graph_db, WITHOUT_NUMPY[0])
    listing = [s for s in done if "graph._py_modules" in s and "m.code" not in s]
    fetches = [s for s in done if "graph._py_modules" in s and "m.code" in s]
    assert len(listing) == 1, listing
    assert 20 <= len(fetches) <= 27, len(fetches)  # one a module the traversal imports


def test_the_package_code_is_stored_uncompressed(graph_db):
    """Migration 395: a first read fetches some 27 modules' code; none needs decompressing."""
    with psycopg.connect(graph_db, autocommit=True) as c:
        rows, with_code, compressed = c.execute(
            "SELECT count(*), count(m.code), count(pg_catalog.pg_column_compression(m.code))"
            " FROM graph._py_modules AS m").fetchone()
        assert rows > 20 and with_code == rows and compressed == 0
