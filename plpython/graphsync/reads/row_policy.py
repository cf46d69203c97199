"""The row check of graph._nodes' row-level security (migration 180).

Where a source table's row-level security applies to a reader, graph._nodes shows
that reader a node of the table only when the reader can see its row. The policy
calls graph._row_visible for each such node; here the rows the reader can see are
read once (the table as the caller, each row's key as graph._key_expr renders it:
the same query reads.access makes) and kept for the rest of the statement, keyed
by the reader, the snapshot and the statement's start, so a later statement, a
commit seen by a new snapshot, or a SET ROLE reads them again. Only one scope is
kept; a call whose role argument is not the caller's own answers without keeping
anything.
"""

from graphsync.db import run

ROW_SQL = """
SELECT $1::pg_catalog.regclass::text AS tbl, graph._key_expr($1, n.id_columns, 't') AS key_expr,
       current_user::text AS me
FROM graph._node_tables AS n WHERE n.table_oid = $1
"""

_scope = None  # (role, snapshot, statement start) the kept sets belong to
_keys = {}  # table oid -> frozenset of the keys the role can see


def visible(plpy, table_oid, pk, scope):
    global _scope, _keys
    if scope != _scope:
        _scope, _keys = None, {}
    keys = _keys.get(table_oid)
    if keys is None:
        r = run(plpy, ROW_SQL, ["oid"], [table_oid])
        if not r:
            return False  # not a registered node table (any more)
        rows = plpy.execute("SELECT %s AS pk FROM %s AS t" % (r[0]["key_expr"], r[0]["tbl"]))
        keys = frozenset(x["pk"] for x in rows)
        if r[0]["me"] != scope[0]:
            return pk in keys
        _scope = scope
        _keys[table_oid] = keys
    return pk in keys
