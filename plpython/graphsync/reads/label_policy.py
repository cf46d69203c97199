"""What graph._labels' row-level security (migration 240) asks: the labels a reader can see.

A label column's values are row values, so graph._labels shows a role that is not
an admin a label only when the role could read it from the sources: the fixed
label of an edge source (registry text, public in graph._edge_sources), or a
value of a label column in a row of the carrying table that the role may SELECT
and can see under that table's row-level security. Each such column is read
here as the caller (each value as capture renders it, graph._captured_expr: the
text build and replay store) and the answer is kept under the reader, the
snapshot and the statement's start, as reads.row_policy keeps its rows: a later
statement, a commit a new snapshot sees, or a SET ROLE reads the tables again.
Only one scope is kept; a call whose role argument is not the caller's own
answers without keeping anything.
"""

from graphsync.db import run

# The edge sources with a label column whose carrying table the caller may SELECT,
# with how to read that column's values.
LABELLED = """
SELECT e.carrier::pg_catalog.regclass::text AS tbl,
       graph._captured_expr(e.carrier, e.label_column, 't') AS expr, current_user::text AS me
FROM (SELECT CASE WHEN s.kind = 'join' THEN s.via_table ELSE s.from_table END AS carrier, s.label_column
      FROM graph._edge_sources AS s WHERE s.label_column IS NOT NULL) AS e
WHERE pg_catalog.has_table_privilege(e.carrier, 'SELECT') IS true  -- NULL for a table dropped since
ORDER BY e.carrier, e.label_column
"""

FIXED = "SELECT DISTINCT s.label, current_user::text AS me FROM graph._edge_sources AS s WHERE s.label IS NOT NULL"

_scope = None  # (role, snapshot, statement start) the kept labels belong to
_labels = None  # [label]


def visible_labels(plpy, scope):
    """The labels the caller can see (see the module docstring), kept for ``scope``."""
    global _scope, _labels
    if scope == _scope:
        return _labels
    labels = {r["label"] for r in run(plpy, FIXED)}
    columns = run(plpy, LABELLED)
    for c in columns:
        # the table and the expression are the catalog's (regclass output,
        # graph._captured_expr): identifiers quoted there, no value in the text
        labels.update(r["v"] for r in plpy.execute(
            "SELECT DISTINCT %s AS v FROM %s AS t" % (c["expr"], c["tbl"])) if r["v"] is not None)
    labels = sorted(labels)
    if columns and columns[0]["me"] == scope[0]:
        _scope, _labels = scope, labels
    return labels
