"""What graph._nodes' row-level security (migration 251) asks: whether a reader can see a row.

Where a source table's row-level security applies to a reader, graph._nodes shows
that reader a node of the table only when the reader can see its row: the policy
asks graph._row_visible(table, key, ...) for each such node. The first question
about a table in a statement reads that table's keys as the caller (each row's
key as graph._key_expr renders it: the query reads.access makes too), and the
answer is kept as a set under the reader, the snapshot and the statement's start,
so a later statement, a commit a new snapshot sees, or a SET ROLE reads the table
again. A statement reads only the tables whose nodes it reads: the policy of a
table it does not touch never runs (before migration 251 the first such node made
the statement read every such table). Only one scope is kept; a call whose role
argument is not the caller's own answers without keeping anything.
"""

from graphsync.db import run

# A registered node table, whether the caller may SELECT it, and how to read its keys.
TABLE = """
SELECT n.table_oid::pg_catalog.regclass::text AS tbl, graph._key_expr(n.table_oid, n.id_columns, 't') AS key_expr,
       pg_catalog.has_table_privilege(n.table_oid, 'SELECT') IS true AS readable, current_user::text AS me
FROM graph._node_tables AS n
WHERE n.table_oid = $1
"""

_scope = None  # (role, snapshot, statement start) the kept keys belong to
_keys = {}  # table oid -> frozenset of the keys of the rows the caller can see


def _read(plpy, table):
    """(the keys of the rows of ``table`` the caller can see, whether the caller is the
    role ``current_user`` names); no key for a table that is not registered or
    that the caller may not SELECT."""
    t = run(plpy, TABLE, ["oid"], [table])
    if not t or not t[0]["readable"]:
        return frozenset(), t[0]["me"] if t else None
    t = t[0]
    # the table and the expression are the catalog's (regclass output,
    # graph._key_expr): identifiers quoted there, no value in the text
    keys = frozenset(r["pk"] for r in plpy.execute("SELECT %s AS pk FROM %s AS t" % (t["key_expr"], t["tbl"])))
    return keys, t["me"]


def row_visible(plpy, table, pk, scope):
    """Whether the caller can see the row of ``table`` keyed ``pk`` (see the module
    docstring), the table's keys kept for ``scope``."""
    global _scope, _keys
    if scope != _scope:
        _scope, _keys = None, {}
    keys = _keys.get(table)
    if keys is None:
        keys, me = _read(plpy, table)
        if me == scope[0]:
            _scope = scope
            _keys[table] = keys
    return pk in keys
