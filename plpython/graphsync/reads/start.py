"""How a read starts: one statement for everything a read needs before it runs.

Every read function needs the same things first -- the freshness step
(graph._read_sync), the generation and version its view is keyed on, the tables
the caller may SELECT (and which of them have row-level security that applies
to the caller), who the caller is, the two session settings that shape a
read, and the node ids of the one or two nodes it names (a seed, path ends).
Asked one by one they cost a read about nine round trips, more than a small
traversal itself; START asks them together, through a plan kept for the
session, in one snapshot, so what it returns is consistent: the node ids are
numbered by the generation it returns.

The freshness step runs inside START. When it applied pending rows, START's own
snapshot (taken before) does not see them: the read runs START again, without
applying, and takes that answer (rare: only the first read after writes).

Settings are read here as settings.py reads a session setting (the value the
session has; unset or empty is the default) and checked by settings.parse.
"""

from typing import NamedTuple

from graphsync import settings
from graphsync.db import run

FRESHNESS = settings.declared("graph.query_freshness")
TENANT = settings.declared("graph.tenant")
# Both govern only the caller's own reads, so the session's value is the one in
# force (settings.CURRENT); a shared setting would need settings.SHARED's rule.
if FRESHNESS.scope != "session" or TENANT.scope != "session":
    raise RuntimeError("reads.start reads graph.query_freshness and graph.tenant as session settings")

# $1 the default freshness mode, $2 whether the freshness step may apply, $3/$4
# and $5/$6 up to two (table, id text) keys to look up (NULL: none, and no index
# probe). Tables come as regclass text: a name, or an oid's digits (no catalog
# lookup). The plan is kept: after its first few calls PostgreSQL keeps one plan
# for all values, as long as that plan does not look much dearer than one made
# for the given values. graph._sync_state and graph._graph_version hold one row;
# LIMIT 1 tells the planner, which would otherwise cost the select list for
# thousands of rows, and plan anew on every call.
START = """
SELECT s.generation, v.version, s.build_required,
       r.committed_rows, r.own_rows, r.applied, r.pending_mark,
       t.visible, t.row_secured, t.registered,
       current_user::text AS me,
       m.freshness,
       pg_catalog.current_setting('graph.tenant', true) AS tenant,
       pg_catalog.regclassin($3::pg_catalog.cstring)::pg_catalog.oid AS table1,
       pg_catalog.regclassin($5::pg_catalog.cstring)::pg_catalog.oid AS table2,
       CASE WHEN $4 IS NOT NULL THEN
           (SELECT n.node_id FROM graph._nodes AS n
            WHERE n.table_oid = pg_catalog.regclassin($3::pg_catalog.cstring)::pg_catalog.oid AND n.pk = $4)
       END AS node1,
       CASE WHEN $6 IS NOT NULL THEN
           (SELECT n.node_id FROM graph._nodes AS n
            WHERE n.table_oid = pg_catalog.regclassin($5::pg_catalog.cstring)::pg_catalog.oid AND n.pk = $6)
       END AS node2
FROM (SELECT pg_catalog.current_setting('graph.query_freshness', true) AS raw) AS f
CROSS JOIN LATERAL (SELECT coalesce(nullif(f.raw, ''), $1) AS mode, f.raw AS freshness) AS m
LEFT JOIN LATERAL (
    SELECT x.committed_rows, x.own_rows, x.applied, x.pending_mark
    FROM graph._read_sync(m.mode = 'apply_pending_sync' AND $2, current_user::regrole) AS x
    WHERE m.mode <> 'off'
) AS r ON true
CROSS JOIN (SELECT s.generation, s.build_required FROM graph._sync_state AS s LIMIT 1) AS s
CROSS JOIN (SELECT v.version FROM graph._graph_version AS v LIMIT 1) AS v
CROSS JOIN (
    SELECT coalesce(pg_catalog.array_agg(n.table_oid) FILTER (
               WHERE pg_catalog.has_table_privilege(n.table_oid, 'SELECT')), '{}') AS visible,
           coalesce(pg_catalog.array_agg(n.table_oid) FILTER (
               WHERE pg_catalog.has_table_privilege(n.table_oid, 'SELECT')
                 AND pg_catalog.row_security_active(n.table_oid)), '{}') AS row_secured,
           pg_catalog.count(*) AS registered
    FROM graph._node_tables AS n
) AS t
"""

TYPES = ["text", "boolean", "text", "text", "text", "text"]


class Start(NamedTuple):
    """What START returned, typed."""

    key: tuple  # (generation, version): the view this read runs on
    freshness: str  # graph.query_freshness in force
    committed_rows: int  # pending committed log rows (0 when freshness is 'off')
    own_rows: int  # the caller's own uncommitted log rows (0 when 'off')
    pending_mark: object  # names the pending rows (graph._read_sync); None when none
    visible: frozenset  # registered tables the caller may SELECT
    row_secured: frozenset  # of those, the ones whose row-level security applies to the caller
    registered: int  # registered node tables
    build_required: bool
    me: str  # current_user
    tenant: object  # graph.tenant in force (None: no tenant)
    tables: tuple  # the table oid of each key asked
    nodes: tuple  # its node id, as given (None: no node the caller can see)


def _setting(plpy, s, raw):
    """The typed value of session setting ``s`` whose text is ``raw`` (settings.get's rule)."""
    if raw is None or raw == "":
        return None if s.default is None else settings.parse(plpy, s, s.default)
    return settings.parse(plpy, s, raw)


def start(plpy, keys=()):
    """Run START, with the freshness step; ``keys``: up to two (table, id text)
    pairs, table as an oid or its regclass text, whose node ids to look up as given."""
    keys = list(keys) + [(None, None)] * (2 - len(keys))
    args = [FRESHNESS.default, True]
    for table, pk in keys:
        args += [None if table is None else str(table), pk]
    r = run(plpy, START, TYPES, args)[0]
    if r["applied"]:
        args[1] = False
        r = run(plpy, START, TYPES, args)[0]
    return Start(
        key=(r["generation"], r["version"]),
        freshness=_setting(plpy, FRESHNESS, r["freshness"]),
        committed_rows=r["committed_rows"] or 0,
        own_rows=r["own_rows"] or 0,
        pending_mark=r["pending_mark"],
        visible=frozenset(int(t) for t in r["visible"]),
        row_secured=frozenset(int(t) for t in r["row_secured"]),
        registered=r["registered"],
        build_required=r["build_required"],
        me=r["me"],
        tenant=_setting(plpy, TENANT, r["tenant"]),
        tables=tuple(None if t is None else int(t) for t in (r["table1"], r["table2"])),
        nodes=(r["node1"], r["node2"]),
    )
