"""What graph._labels' row-level security (migration 240) asks: the labels a reader can see.

A label column's values are row values, so graph._labels shows a role that is not
an admin a label only when the role could read it from the sources: the fixed
label of an edge source (registry text, public in graph._edge_sources), or a
value of a label column in a row of the carrying table that the role may SELECT
and can see under that table's row-level security. Each such column is read
here as the caller (each value as capture renders it, graph._captured_expr: the
text build and replay store) and the answer is kept under the reader, the
snapshot and the statement's start (reads.statement_cache, as reads.row_policy
keeps its rows): a later statement, a commit a new snapshot sees, or a SET ROLE
reads the tables again.

A read narrows what it asks (``narrowed``): of the label columns whose table's
row-level security applies to the caller, it asks only those of the carrying
tables it can reach (reads/access.py ``label_carriers``), so no policy of a table
a read never reaches runs as its reader; label columns of tables without
row-level security for the caller run no owner code and are always read. A
direct SELECT on graph._labels, outside a read, asks every column as before.
"""

from graphsync.db import run

# The edge sources with a label column whose carrying table the caller may SELECT,
# each with the statement that reads that column's values: the table's name quoted
# by format('%I'), the column's expression graph._captured_expr's (identifiers
# quoted there, no value in the text).
LABELLED = """
SELECT e.carrier, CASE WHEN pg_catalog.row_security_active(e.carrier) THEN true ELSE false END AS secured,
       pg_catalog.format('SELECT DISTINCT %s AS v FROM %I.%I AS t',
                         graph._captured_expr(e.carrier, e.label_column, 't'), ns.nspname, c.relname) AS sql,
       current_user::text AS me
FROM (SELECT CASE WHEN s.kind = 'join' THEN s.via_table ELSE s.from_table END AS carrier, s.label_column
      FROM graph._edge_sources AS s WHERE s.label_column IS NOT NULL) AS e
JOIN pg_catalog.pg_class AS c ON c.oid = e.carrier
JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
WHERE pg_catalog.has_table_privilege(e.carrier, 'SELECT') IS true  -- NULL for a table dropped since
ORDER BY e.carrier, e.label_column
"""

FIXED = "SELECT DISTINCT s.label, current_user::text AS me FROM graph._edge_sources AS s WHERE s.label IS NOT NULL"


# None: every label column; else the carrying tables (oids) whose secured label
# columns a read may ask (``narrowed``).
_narrow = None


class narrowed:
    """Within the block, ask only the secured label columns of ``carriers`` (table
    oids; None: every one); the columns of other tables are read as before. A class,
    not contextlib.contextmanager: a first read loads this module, and contextlib
    would cost it an import."""

    def __init__(self, carriers):
        self.carriers = None if carriers is None else frozenset(carriers)

    def __enter__(self):
        global _narrow
        self.was, _narrow = _narrow, self.carriers

    def __exit__(self, *exc):
        global _narrow
        _narrow = self.was


def asked(columns, narrow):
    """The rows of LABELLED a policy reads under ``narrow`` (see ``narrowed``)."""
    return [c for c in columns if narrow is None or not c["secured"] or c["carrier"] in narrow]


def _read(plpy, narrow):
    fixed = run(plpy, FIXED)
    columns = run(plpy, LABELLED)
    labels = {r["label"] for r in fixed}
    for c in asked(columns, narrow):
        labels.update(r["v"] for r in plpy.execute(c["sql"]) if r["v"] is not None)
    me = (fixed or columns)[0]["me"] if (fixed or columns) else None
    return sorted(labels), me


def visible_labels(plpy, scope):
    """The labels the caller can see (see the module docstring), kept for ``scope``."""
    # here, not at the top: every read loads this module (view.with_labels narrows
    # the policy), only a policy's call needs these two (a first read's cost)
    from graphsync.reads import row_policy, statement_cache

    narrow = _narrow
    caller = run(plpy, row_policy.CALLER)[0]["me"]  # answered as the caller, whatever role scope names
    return statement_cache.kept("labels", tuple(scope) + (narrow,), lambda: _read(plpy, narrow), caller)
