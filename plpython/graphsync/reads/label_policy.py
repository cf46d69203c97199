"""What graph._labels' row-level security (migration 240) asks: the labels a reader can see.

A label column's values are row values, so graph._labels shows a role that is not
an admin a label only when the role could read it from the sources: the fixed
label of an edge source (registry text, public in graph._edge_sources), or a
value of a label column in a row of the carrying table that the role may SELECT
and can see under that table's row-level security. The policy asks about each
label row it checks (graph._label_visible, migration 425): a fixed label is
seen at once; a label column of text or varchar leading an index is asked for the
label through that index (``probe``), as the caller; the other label columns are
read here as the caller (each value as capture renders it, graph._captured_expr:
the text build and replay store), a range of each table's pages at a time
(FIRST_PAGES, then GROWTH times the last range, by a TID range scan), until the
label is among the values found or every page was read. What was read is kept under the reader, the snapshot and the
statement's start (reads.statement_cache, as reads.row_policy keeps its rows):
a later statement, a commit a new snapshot sees, or a SET ROLE reads the tables
again. A label found in the first pages costs a read a few pages of the table;
before migration 425 every statement that read graph._labels read the distinct
values of every row the reader could see (43-50 ms of a 50 ms depth-2 read
under a join table's policy, at 500,000 links). A label no row the reader sees
holds still costs every page, as before.

A read narrows what it asks (``narrowed``): of the label columns whose table's
row-level security applies to the caller, it asks only those of the carrying
tables it can reach (reads/access.py ``label_carriers``), so no policy of a table
a read never reaches runs as its reader; label columns of tables without
row-level security for the caller run no owner code and are always read. A
direct SELECT on graph._labels, outside a read, asks every column as before.
"""

from graphsync.db import (
    OUTPUT_PINNED,
    SAYS_PINNED,
    as_captured,
    as_captured_text,
    may_select,
    run,
    run_in_output,
    still_named,
)

# The edge sources with a label column whose carrying table the caller may SELECT,
# each with the statement that reads that column's values in a range of the
# table's pages ($1 <= ctid < $2: a TID range scan, whose conditions are
# leakproof, so the table's policy filters what it reads) and the role it ran as,
# and the table's pages now: the table's name quoted by format('%I'), the
# column's expression graph._captured_expr's (identifiers quoted there, no value
# in the text). And, for a column of text or varchar (under any domains) with a
# deterministic collation that leads an index, the statement that asks whether a
# row the caller can see holds one label ($1), through that index (texteq is
# leakproof, so the planner may use the index under the table's policy; such a
# column's captured text is its value): ``probe``. Its plan follows the column's
# statistics (a read keeps generic plans, sql/plan-settings.sql): statistics of a
# few common values, taken before the column got thousands of rare ones, give a
# plan that scans the table until it meets a row holding the label (a depth-2
# read 23 against 3 ms at 20,000 labels until ANALYZE, benchmarks/LABEL_NAMES.md).
# Neither an ordered LIMIT 1 (the planner drops an order the condition fixes) nor
# enable_seqscan off (whose cost penalty made the policy's catalog statement
# JIT-compile, 0.4 s) does better. Both statements read no row once the table's
# name no longer means it (db.still_named): a query's Labels keeps them while a
# SECURITY DEFINER function the query calls may rename the table, and a table of
# the reader's own take the name; nor once the label column's name no longer means
# the column capture was generated for (db.as_captured: renamed, and another column
# given its name, where the rename could not be followed), and such a column is not
# asked at all: its labels are found in no row until graph.reconcile() follows the
# rename (a new column of the old name, holding a label only hidden rows held,
# showed that label: tests/test_reads_rls_rekeyed.py).
LABELLED = """
SELECT e.carrier, CASE WHEN pg_catalog.row_security_active(e.carrier) THEN true ELSE false END AS secured,
       pg_catalog.format('SELECT current_user::text AS me, ARRAY(SELECT DISTINCT %s FROM %I.%I AS t'
                         ' WHERE t.ctid >= $1 AND t.ctid < $2 AND %s) AS vs',
                         graph._captured_expr(e.carrier, e.label_column, 't'), ns.nspname, c.relname,
                         {here}) AS sql,
       CASE WHEN graph._base_type(a.atttypid) IN ('pg_catalog.text'::pg_catalog.regtype,
                                                  'pg_catalog.varchar'::pg_catalog.regtype)
                 AND coalesce((SELECT l.collisdeterministic FROM pg_catalog.pg_collation AS l
                               WHERE l.oid = a.attcollation), true)
                 AND graph._leads_index(e.carrier, a.attnum)
            THEN pg_catalog.format('SELECT current_user::text AS me, EXISTS (SELECT FROM %I.%I AS t'
                                   ' WHERE t.%I = $1 AND %s) AS hit', ns.nspname, c.relname, e.label_column,
                                   {here})
       END AS probe,
       pg_catalog.pg_relation_size(e.carrier) / pg_catalog.current_setting('block_size')::bigint AS pages,
       current_user::text AS me, {pinned} AS pinned
FROM (SELECT CASE WHEN s.kind = 'join' THEN s.via_table ELSE s.from_table END AS carrier, s.label_column
      FROM graph._edge_sources AS s WHERE s.label_column IS NOT NULL) AS e
JOIN pg_catalog.pg_class AS c ON c.oid = e.carrier
JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = e.carrier AND a.attname = e.label_column AND a.attnum > 0
                                 AND NOT a.attisdropped
WHERE {may} IS true  -- NULL for a table dropped since
  AND c.relkind IN ('r', 'p')  -- a table made a view is not read (graph._source_name)
  AND {captured}  -- the name still means the column capture reads (db.as_captured)
ORDER BY e.carrier, e.label_column
""".replace("{pinned}", OUTPUT_PINNED).replace("{captured}", as_captured("e.carrier", "ARRAY[e.label_column]")) \
    .replace("{may}", may_select("e.carrier", "c.relnamespace")) \
    .replace("{here}", "pg_catalog.concat(%s, ' AND ', %s)" % (
        still_named("ns.nspname", "c.relname", "e.carrier"), as_captured_text("e.carrier", "ARRAY[e.label_column]")))

# The first range of a table's pages a label column is read in, and how much larger
# each next one is; the last range has no end (a table may have grown since).
FIRST_PAGES = 8
GROWTH = 4
# The labels a statement asks of the indexed label columns one by one before it
# reads them a range of pages at a time too (a probe costs some 20 us, a label read
# in a page range well under 1 us: a statement asking about thousands of labels, a
# SELECT of graph._labels, reads the columns instead).
PROBES = 256
NO_END = "(4294967295,0)"

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


class Labels:
    """What one statement knows of the labels one reader can see (kept by
    statement_cache under the reader's scope and the narrowing): the fixed labels,
    the values found so far, the labels no indexed column asked holds, and of each
    other label column asked the pages not read yet."""

    def __init__(self, plpy, narrow):
        fixed = run(plpy, FIXED)
        columns = run(plpy, LABELLED)
        self.found = {r["label"] for r in fixed}
        self.me = (fixed or columns)[0]["me"] if (fixed or columns) else None
        columns = asked(columns, narrow)
        self.probes = [c["probe"] for c in columns if c["probe"]]
        self.missed = set()  # labels no row the probes can find holds
        # [statement, next page, pages in the next range, pages of the table] of each column asked
        # (the indexed ones only once PROBES labels were asked of them: see has); each
        # statement says whether it ran in capture's settings (see _read)
        self.todo = [[SAYS_PINNED % c["sql"], 0, FIRST_PAGES, int(c["pages"] or 0)] for c in columns if not c["probe"]]
        self.later = [[SAYS_PINNED % c["sql"], 0, FIRST_PAGES, int(c["pages"] or 0)] for c in columns if c["probe"]]
        self.asked = 0
        self.pinned = all(c["pinned"] for c in columns)  # the output settings (db.output_pinned)

    def has(self, plpy, label):
        """Whether ``label`` is a fixed label or a value some asked column holds in a
        row the caller can see: asked of each indexed column, then found by reading
        the other columns' next ranges, in turn."""
        if label not in self.found and label not in self.missed and self.probes and self.asked >= PROBES:
            # a statement asking about many labels (a SELECT of graph._labels): reading the
            # indexed columns too, a range of pages at a time, costs less than a probe a label
            self.todo += self.later
            self.probes = self.later = []
            self.missed.clear()
        if label not in self.found and label not in self.missed and self.probes:
            self.asked += 1
            mine = True
            for probe in self.probes:
                r = run(plpy, probe, ["text"], [label])[0]
                mine = mine and r["me"] == self.me  # (a scope is one role's: a call as another records nothing)
                if r["hit"]:
                    if mine:
                        self.found.add(label)
                    return True
            if mine:
                self.missed.add(label)
        while label not in self.found and self.todo:
            for column in list(self.todo):
                sql, first, size, pages = column
                end = first + size
                last = end >= pages
                r = self._read(plpy, sql, ["(%d,0)" % first, NO_END if last else "(%d,0)" % end])
                values = {v for v in r["vs"] if v is not None}
                if r["me"] != self.me:  # (a scope is one role's: a call as another records nothing)
                    return label in self.found or label in values
                self.found |= values
                if last:
                    self.todo.remove(column)
                else:
                    column[1], column[2] = end, size * GROWTH
        return label in self.found


    def _read(self, plpy, sql, pages):
        """The one row of a column's statement for a range of ``pages``, the values
        rendered as capture renders them (db.run_in_output)."""
        r, self.pinned = run_in_output(plpy, self.pinned, sql, ["tid", "tid"], pages)
        return r


def label_visible(plpy, label, scope):
    """Whether the caller can see ``label`` (see the module docstring), what was read
    kept for ``scope``."""
    # here, not at the top: every read loads this module (view.LabelNames narrows
    # the policy), only a policy's call needs these two (a first read's cost)
    from graphsync.reads import row_policy, statement_cache

    narrow = _narrow
    scope = tuple(scope) + (narrow,)
    labels = statement_cache.recent("labels", scope)
    if labels is None:
        labels = statement_cache.kept("labels", scope, lambda: _labels(plpy, narrow), row_policy.caller(plpy, scope))
    return labels.has(plpy, label)


def _labels(plpy, narrow):
    labels = Labels(plpy, narrow)
    return labels, labels.me
