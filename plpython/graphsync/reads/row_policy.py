"""What graph._nodes' row-level security (migration 251) asks: whether a reader can see a row.

Where a source table's row-level security applies to a reader, graph._nodes shows
that reader a node of the table only when the reader can see its row: the policy
asks graph._row_visible(table, key, ...) for each such node. The first question
about a table in a statement reads that table's keys as the caller (each row's
key as graph._key_expr renders it: the query reads.access makes too), and the
answer is kept under the reader, the snapshot, the statement's start and the epoch
(reads.statement_cache, one scope per table), so a later statement, a commit a new
snapshot sees, or a SET ROLE reads the table again; the table's key statements
(TABLE: the catalog's text) are kept for the reader and the statement whatever
the epoch, and what TABLE says of the reader asked again under each
(TABLE_STATE), with what TABLE's statements name: a table renamed or re-keyed
between two queries has TABLE made again (and those statements read no row once
the table's name means another table: db.still_named). A statement reads only the
tables whose nodes it reads: the policy of a table it does not touch never runs
(before migration 251 the first such node made the statement read every such
table). That holds whatever plan PostgreSQL makes of a statement only where the
statement's own tests pick the nodes before the policy runs (leakproof, they do):
the statements that look keys up in graph._nodes as the caller look each key up
by itself (reads.nodes.BY_KEY); joined to the keys, a hash join read every node.
The policy passes as the snapshot a scope token (graph._row_scope, once
per query: reads.statement_cache.issue, with the query's epoch: reads.statement_cache.epoch,
one for every query of a graphsync read) made for the role running it; only a
scope whose token names its role may use and keep keys without looking the caller
up. Any other call (a direct one, or one naming another role than its token's)
has its role replaced by the caller's own (current_user, one kept-plan query): it
answers as its caller, never with another role's kept keys.

A statement that reads a few nodes of a large table does not read every key the
reader can see there: the first questions of a statement about a table are asked
one key at a time (TABLE's probe: the row with that key, by the key columns' own
types, so the table's key index finds it, read as the caller like every read of
the table), and past ``limit`` of them (a share of the table's rows, PROBE_SHARE)
the statement reads every visible key once, as before. A depth-2 traversal under
a policy asked every row the reader could see (some 400 ms at 100,000 rows); now
it asks about the nodes it reaches, a walk at a time (reads.access.Unresolved). A
table whose key has a type of a role's own (an enum, a composite, or a domain
over such a type: its casts and operators may be its owner's code) is read whole
at once; a domain over a built-in type, however deeply nested, is probed by that
type (graph._base_type).

The key columns are asked by the registry's names only while each still means the
column capture was generated for (db.as_captured, graph._column_map): a table's
owner renaming the key column and adding another of its name, in a session whose
rename the follower could not follow, made the policy ask the new column for the
nodes' keys, and a row the reader sees holding a hidden row's key showed that row's
node (tests/test_reads_rls_rekeyed.py). Such a table shows the reader no node until
graph.reconcile() follows the rename.
"""

from graphsync import errors
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
from graphsync.reads import statement_cache

CALLER = "SELECT current_user::text AS me"
SCOPE = "SELECT current_user::text AS me, pg_catalog.pg_current_snapshot()::text AS snapshot," \
        " pg_catalog.statement_timestamp()::text AS at"

# What TABLE's statements name (the table's schema and name, its key columns' names),
# as TABLE and TABLE_STATE render it: n, c and ns the registry's, pg_class's and
# pg_namespace's rows of the table.
SHAPE = "pg_catalog.format('%I.%I %s', ns.nspname, c.relname, n.id_columns)"

# A registered node table, whether the caller may SELECT it, and the statements
# that read its keys: every key (sql), or the key of one row found by its key
# columns (probe: $1.. the key's fields as text, cast to each column's base type;
# NULL when a column's type is not a base type PostgreSQL defines, whose casts and
# operators could be its owner's functions). The table's name quoted by
# format('%I'), the key expression graph._key_expr's (catalog identifiers quoted
# there, no value in the text); the probe returns the key texts it found, compared
# with the one asked for in Python, as the whole read's keys are. Both read no row
# once the name no longer means the table (db.still_named: a query's Rows keeps them
# while a SECURITY DEFINER function it calls may rename the table), nor once a key
# column's name no longer means the column capture was generated for (db.as_captured:
# renamed, and another column given its name, where the rename could not be
# followed); nor is the table ``readable`` then (no key statement runs, TABLE_STATE
# too): every node of it is hidden from the readers its row-level security applies
# to until graph.reconcile() follows the rename. reltuples bounds the probes (limit_of).
TABLE = """
SELECT pg_catalog.format('SELECT %s AS pk FROM %I.%I AS t WHERE %s AND %s', k.e, ns.nspname, c.relname,
                         g.here, g.captured) AS sql,
       CASE WHEN p.typed THEN pg_catalog.format(
           'SELECT current_user::text AS me, ARRAY(SELECT %s FROM %I.%I AS t WHERE %s AND %s AND %s) AS pks',
           k.e, ns.nspname, c.relname, p.cond, g.here, g.captured) END AS probe,
       p.width, c.reltuples,
       {may} IS true AND {keyed} AS readable,
       current_user::text AS me,
       {pinned} AS pinned, {shape} AS shape
FROM graph._node_tables AS n
JOIN pg_catalog.pg_class AS c ON c.oid = n.table_oid
JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT graph._key_expr(n.table_oid, n.id_columns, 't') AS e) AS k
CROSS JOIN LATERAL (SELECT {here} AS here, {captured} AS captured) AS g
CROSS JOIN LATERAL (
    SELECT pg_catalog.count(*)::int AS width,
           pg_catalog.count(*) = pg_catalog.cardinality(n.id_columns)
           AND pg_catalog.bool_and(b.oid < 16384 AND b.typtype = 'b') AS typed,
           pg_catalog.string_agg(pg_catalog.format('t.%I = $%s::%s', a.attname, u.o,
                                                   pg_catalog.format_type(b.oid, a.atttypmod)),
                                 ' AND ' ORDER BY u.o) AS cond
    FROM pg_catalog.unnest(n.id_columns) WITH ORDINALITY AS u (name, o)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = n.table_oid AND a.attname = u.name
                                     AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_catalog.pg_type AS b ON b.oid = graph._base_type(a.atttypid)
) AS p
WHERE n.table_oid = $1 AND c.relkind IN ('r', 'p')  -- a table made a view: no row of it (graph._source_name)
""".replace("{pinned}", OUTPUT_PINNED).replace("{here}", still_named("ns.nspname", "c.relname", "n.table_oid")) \
    .replace("{may}", may_select("n.table_oid", "c.relnamespace")) \
    .replace("{shape}", SHAPE).replace("{keyed}", as_captured("n.table_oid", "n.id_columns")) \
    .replace("{captured}", as_captured_text("n.table_oid", "n.id_columns"))

# What TABLE says of the caller rather than of the table, asked again for every
# scope that finds TABLE's row kept by an earlier query of its statement (see _rows):
# a GRANT or a setting may change between a statement's queries. And what TABLE's
# statements name now (SHAPE): a table renamed, moved or re-keyed between two queries
# of the statement (a SECURITY DEFINER function of its owner's) has TABLE asked again.
TABLE_STATE = ("SELECT (SELECT {may} FROM pg_catalog.pg_class AS c WHERE c.oid = $1) IS true"
               " AND coalesce((SELECT {keyed} FROM graph._node_tables AS n WHERE n.table_oid = $1), false)"
               " AS readable, current_user::text AS me, {pinned} AS pinned,"
               " (SELECT {shape} FROM graph._node_tables AS n"
               " JOIN pg_catalog.pg_class AS c ON c.oid = n.table_oid"
               " JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace"
               " WHERE n.table_oid = $1) AS shape").replace("{pinned}", OUTPUT_PINNED).replace("{shape}", SHAPE) \
    .replace("{may}", may_select("c.oid", "c.relnamespace")) \
    .replace("{keyed}", as_captured("n.table_oid", "n.id_columns"))

# Keys asked one at a time before a statement reads every visible key of the
# table: at least PROBES_MIN, else one per PROBE_SHARE rows the table holds (a
# probe costs some 20 us; reading a key of the whole table some 1-2 us, and the
# whole read is paid once: a statement that asks about most of a table pays for
# at most 1/PROBE_SHARE of it in probes first).
PROBES_MIN = 64
PROBE_SHARE = 128

# Tables whose every visible row a read is about to ask for (reads.access.row_security:
# ROW_VISIBLE, whose join with graph._nodes runs the policy for each of them): read
# whole at the first question, not after probes. Set and emptied around that query
# (by access.row_security), in this backend's one thread; it changes how, never what,
# is answered.
WHOLE = set()

# TABLE statements run in this backend (tests read it).
STATS = {"tables": 0}


def limit_of(reltuples):
    """The probes a statement asks before reading the whole table (PROBES_MIN, PROBE_SHARE)."""
    return max(PROBES_MIN, int(reltuples or 0) // PROBE_SHARE)


class Rows:
    """What one statement knows of one table's rows for one reader (kept by
    statement_cache under the reader's scope): the keys probed so far, or, past
    ``limit`` probes (or at once, without a probe), every key the reader can see."""

    def __init__(self, table, row):
        self.table = table
        self.row = row  # TABLE's row
        self.me = row["me"] if row else None
        self.keys = None if row and row["readable"] else frozenset()
        self.probed = {}  # key text -> seen
        self.limit = limit_of(row["reltuples"]) if row and row["probe"] else 0
        # Whether the caller's settings were capture's when TABLE or TABLE_STATE asked,
        # and TABLE's statements, each saying whether it ran in them (see _run).
        self.pinned = row["pinned"] if row else True
        self.sql = self.probe = None
        if row:
            self.sql = "SELECT %s AS pinned, ARRAY(%s) AS pks" % (OUTPUT_PINNED, row["sql"])
            if row["probe"]:
                self.probe = SAYS_PINNED % row["probe"]

    def has(self, plpy, pk):
        if self.keys is not None:
            return pk in self.keys
        seen = self.probed.get(pk)
        if seen is not None:
            return seen
        if len(self.probed) >= self.limit or self.table in WHOLE:
            self.keys = frozenset(self._run(plpy, self.sql)["pks"])
            self.probed = {}
            return pk in self.keys
        return self._probe(plpy, pk)

    def _run(self, plpy, sql, types=(), args=()):
        """The one row of ``sql`` (self.sql or self.probe), its keys rendered as
        capture renders them (db.run_in_output)."""
        r, self.pinned = run_in_output(plpy, self.pinned, sql, types, args)
        return r

    def _probe(self, plpy, pk):
        width = self.row["width"]
        if width == 1:
            fields = [pk]
        else:
            from graphsync.reads.nodes import parse_record  # here: only composite keys need it

            try:
                fields = parse_record(pk)
            except ValueError:
                fields = None
            if fields is None or len(fields) != width or None in fields:
                return False  # no row has such a key: graph._key_expr never writes it
        try:  # (plpy.execute runs in a subtransaction of its own: a failure is caught here)
            r = self._run(plpy, self.probe, ["text"] * width, fields)
        except plpy.SPIError as exc:
            # A key its columns' types refuse now (a column's type changed since the key
            # was captured): never its text in an error to the reader; the table whole.
            if errors.is_cancel(exc):
                raise
            self.limit = 0
            return self.has(plpy, pk)
        seen = pk in r["pks"]
        if r["me"] == self.me:  # (a scope is one role's: a call as another keeps nothing)
            self.probed[pk] = seen
        return seen


def _rows(plpy, table, scope, caller):
    """(a Rows of ``table`` for the caller, the role ``current_user`` names): no key
    for a table that is not registered or that the caller may not SELECT. TABLE's
    row is kept for the caller and the statement, not the scope's epoch: its
    statements' text is the catalog's (some hundreds of microseconds to make, where
    a read's first query, its START, asks under an epoch of its own), and what it
    says of the caller (TABLE_STATE) is asked again under each epoch."""
    made = []

    def read():
        t = run(plpy, TABLE, ["oid"], [table])
        STATS["tables"] += 1
        made.append(True)
        return (t[0], t[0]["me"]) if t else (None, None)

    row = statement_cache.kept(("table", table), statement_cache.statement_scope(scope, caller), read, caller)
    if row is not None and not made:
        state = run(plpy, TABLE_STATE, ["oid"], [table])[0]
        # (renamed or re-keyed since it was kept: made again for this query, not kept)
        row = dict(row, **state) if state["shape"] == row["shape"] else read()[0]
    rows = Rows(table, row)
    return rows, rows.me


def caller(plpy, scope):
    """The role a policy's call of ``scope`` answers as: the scope's role when its
    token was issued to that role in this backend (no lookup), else current_user."""
    if statement_cache.issued_to(scope[1], scope[0]):
        return scope[0]
    return run(plpy, CALLER)[0]["me"]


def row_visible(plpy, table, pk, scope):
    """Whether the caller can see the row of ``table`` keyed ``pk`` (see the module
    docstring), the table's keys kept for ``scope``."""
    rows = statement_cache.recent(("rows", table), scope)
    if rows is None:
        me = caller(plpy, scope)
        rows = statement_cache.kept(("rows", table), scope, lambda: _rows(plpy, table, scope, me), me)
    return rows.has(plpy, pk)


def scope(plpy):
    """graph._row_scope(): a scope token for the role running it (see above)."""
    r = run(plpy, SCOPE)[0]
    return statement_cache.issue(r["me"], "%s#%s" % (r["snapshot"], statement_cache.epoch(r["me"])), r["at"])
