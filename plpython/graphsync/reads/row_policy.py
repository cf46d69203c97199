"""What graph._nodes' row-level security (migration 251) asks: whether a reader can see a row.

Where a source table's row-level security applies to a reader, graph._nodes shows
that reader a node of the table only when the reader can see its row: the policy
asks graph._row_visible(table, key, ...) for each such node. The first question
about a table in a statement reads that table's keys as the caller (each row's
key as graph._key_expr renders it: the query reads.access makes too), and the
answer is kept under the reader, the snapshot and the statement's start
(reads.statement_cache, one scope per table), so a later statement, a commit a new
snapshot sees, or a SET ROLE reads the table again. A statement reads only the
tables whose nodes it reads: the policy of a table it does not touch never runs
(before migration 251 the first such node made the statement read every such
table). The policy passes as the snapshot a scope token (graph._row_scope, once
per statement: reads.statement_cache.issue) made for the role running it; only a
scope whose token names its role may use and keep keys without looking the caller
up. Any other call (a direct one, or one naming another role than its token's)
has its role replaced by the caller's own (current_user, one kept-plan query): it
answers as its caller, never with another role's kept keys.
"""

from graphsync.db import run
from graphsync.reads import statement_cache

CALLER = "SELECT current_user::text AS me"
SCOPE = "SELECT current_user::text AS me, pg_catalog.pg_current_snapshot()::text AS snapshot," \
        " pg_catalog.statement_timestamp()::text AS at"

# A registered node table, whether the caller may SELECT it, and the statement that
# reads its keys: the table's name quoted by format('%I'), the key expression
# graph._key_expr's (catalog identifiers quoted there, no value in the text).
TABLE = """
SELECT pg_catalog.format('SELECT %s AS pk FROM %I.%I AS t', graph._key_expr(n.table_oid, n.id_columns, 't'),
                         ns.nspname, c.relname) AS sql,
       pg_catalog.has_table_privilege(n.table_oid, 'SELECT') IS true AS readable, current_user::text AS me
FROM graph._node_tables AS n
JOIN pg_catalog.pg_class AS c ON c.oid = n.table_oid
JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
WHERE n.table_oid = $1
"""


def _read(plpy, table):
    """(the keys of the rows of ``table`` the caller can see, the role ``current_user``
    names); no key for a table that is not registered or that the caller may not
    SELECT."""
    t = run(plpy, TABLE, ["oid"], [table])
    if not t or not t[0]["readable"]:
        return frozenset(), t[0]["me"] if t else None
    return frozenset(r["pk"] for r in plpy.execute(t[0]["sql"])), t[0]["me"]


def row_visible(plpy, table, pk, scope):
    """Whether the caller can see the row of ``table`` keyed ``pk`` (see the module
    docstring), the table's keys kept for ``scope``."""
    if statement_cache.issued_to(scope[1], scope[0]):
        caller = scope[0]  # the token was made for this role, in this backend: no lookup
    else:
        caller = run(plpy, CALLER)[0]["me"]
    return pk in statement_cache.kept(("rows", table), scope, lambda: _read(plpy, table), caller)


def scope(plpy):
    """graph._row_scope(): a scope token for the role running it (see above)."""
    r = run(plpy, SCOPE)[0]
    return statement_cache.issue(r["me"], r["snapshot"], r["at"])
