"""What graph._nodes' row-level security (migration 180) asks: the rows a reader can see.

Where a source table's row-level security applies to a reader, graph._nodes shows
that reader a node of the table only when the reader can see its row: the policy
looks the node's (table, key) up among graph._visible_rows(), computed once per
statement. Here each such table is read as the caller (each row's key as
graph._key_expr renders it: the query reads.access makes too) and the answer is
kept under the reader, the snapshot and the statement's start, so a later
statement, a commit a new snapshot sees, or a SET ROLE reads the tables again.
Only one scope is kept; a call whose role argument is not the caller's own
answers without keeping anything.
"""

from graphsync.db import run

# The registered node tables whose row-level security applies to the caller and
# that it may SELECT, with how to read their keys.
SECURED = """
SELECT n.table_oid, n.table_oid::pg_catalog.regclass::text AS tbl,
       graph._key_expr(n.table_oid, n.id_columns, 't') AS key_expr, current_user::text AS me
FROM graph._node_tables AS n
WHERE CASE WHEN pg_catalog.has_table_privilege(n.table_oid, 'SELECT')  -- NULL for a table dropped since
           THEN pg_catalog.row_security_active(n.table_oid) ELSE false END
ORDER BY n.table_oid
"""

_scope = None  # (role, snapshot, statement start) the kept rows belong to
_rows = None  # [(table oid, key)]


def visible_rows(plpy, scope):
    global _scope, _rows
    if scope == _scope:
        return _rows
    tables = run(plpy, SECURED)
    rows = []
    for t in tables:
        oid = t["table_oid"]
        rows.extend((oid, r["pk"]) for r in plpy.execute("SELECT %s AS pk FROM %s AS t" % (t["key_expr"], t["tbl"])))
    if tables and tables[0]["me"] == scope[0]:
        _scope, _rows = scope, rows
    return rows
