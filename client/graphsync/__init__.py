"""graphsync, the client: installs graphsync into a PostgreSQL database from Python.

    import graphsync
    graphsync.install("postgresql://postgres@db/app")   # or a psycopg 3 connection
    graphsync.upgrade(conn)
    graphsync.uninstall(dsn)
    graphsync.health(dsn)                                # graph.sync_health() as (column, value) pairs

This is the package of the wheel (pip install graphsync-<version>-py3-none-any.whl)
and of the ``graphsync`` command (cli.py). It is not the package that runs inside
PostgreSQL: that one, plpython/graphsync/ in the repository, ships in the wheel as
data files under ``_bundle/`` (never importable from here) and is stored by the
installer in graph._py_modules, where the server imports it. In the repository this
package lives in client/graphsync/, which is on no sys.path: install.py loads it
under its own module name, so tests that import the in-database package see only
that one.
"""

from ._version import VERSION
from .installer import InstallError, bundle_root, health, install, uninstall, upgrade

__version__ = VERSION
__all__ = ["VERSION", "InstallError", "bundle_root", "health", "install", "uninstall", "upgrade"]
