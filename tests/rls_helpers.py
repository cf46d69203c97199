"""What the row-level security read tests share (test_reads_rls.py: node tables'
policies; test_reads_rls_edges.py: the policies of tables that carry edges).

Real roles, each reading through its own connection; nothing here is mocked."""

import contextlib
from collections import deque

import psycopg
import pytest

from conftest import connect


def with_schema(db, sql):
    """``db`` after running ``sql`` in it as the superuser (a module fixture's setup)."""
    with connect(db) as c:
        c.execute(sql)
    return db


def by_role(workspaces):
    """The CASE a per-workspace policy compares its column with: the workspace of
    each role in ``workspaces`` ({role: number}), NULL for any other role."""
    return "CASE current_user %s END" % " ".join(f"WHEN '{role}' THEN {ws}" for role, ws in workspaces.items())


def reader(dsn, role, settings=None):
    """A connection that reads as ``role`` (None: the connecting superuser), after
    setting each of ``settings`` ({name: value}) for the session."""
    c = connect(dsn)
    for name, value in (settings or {}).items():
        c.execute("SELECT set_config(%s, %s, false)", (name, value))
    if role is not None:
        c.execute(f"SET ROLE {role}")
    return c


def node_keys(rows):
    """{(table, id)} of rows whose first two columns are a node's table and id."""
    return {(str(r[0]), r[1]) for r in rows}


def notices(conn):
    """A list that collects 'SEVERITY: message' of every notice ``conn`` gets from now on."""
    got = []
    conn.add_notice_handler(lambda d: got.append(d.severity_nonlocalized + ": " + d.message_primary))
    return got


@contextlib.contextmanager
def row_security_disabled(dsn, table):
    """``table``'s row-level security off for the block, on again afterwards."""
    with connect(dsn) as admin:
        admin.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        try:
            yield
        finally:
            admin.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")


def assert_row_security_off_is_refused(c, read, table):
    """A role a policy would filter that turns row_security off gets PostgreSQL's
    error (42501) from ``read``, as from a SELECT on ``table``."""
    c.execute("SET row_security = off")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        c.execute(read)
    c.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        c.execute(f"SELECT * FROM {table}")  # as in SQL
    c.rollback()


def bfs(nodes, out, seed, depth, direction, labels=None, tables=None):
    """{(table, id): depth} of the nodes a breadth-first search from ``seed`` reaches
    within ``depth`` edges over the reference graph ``nodes`` (the nodes the reader
    may enter) and ``out`` ({(way, node): [(other end, label)]}, way 'out' or 'in'),
    following only ``labels`` and entering only ``tables`` (None: any)."""
    if seed not in nodes:
        return {}
    got = {seed: 0}
    todo = deque([seed])
    while todo:
        u = todo.popleft()
        if got[u] == depth:
            continue
        for way in (("out", "in") if direction == "any" else (direction,)):
            for v, label in out.get((way, u), ()):
                if (v in got or v not in nodes or (labels is not None and label not in labels)
                        or (tables is not None and v[0] not in tables)):
                    continue
                got[v] = got[u] + 1
                todo.append(v)
    return got
