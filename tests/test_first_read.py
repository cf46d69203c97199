"""The first read in a fresh backend pays for what it needs only: a traversal, an
unweighted path or an export never imports SciPy (only weighted paths and components
do), and loading the package does not import importlib.abc (which drags in
importlib.resources, tempfile, pathlib...). The package's stored compiled code is
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
