"""Talking SQL from PL/Python: kept plans, the admin check, and the snapshot text
helpers replay uses.

Every area runs its statements through ``run`` (a plan prepared once per backend
and kept) or ``plpy.execute`` directly for one-off statements. Nothing here
imports another graphsync module but errors.
"""

from graphsync import errors

_plans = {}

# Statements run and plans prepared through run/plan in this backend: tests read
# them to show what a read costs in round trips to the executor (a repeated small
# read: one statement, no plan prepared).
COUNTS = {"statements": 0, "plans": 0}

ADMIN = """
SELECT pg_catalog.pg_has_role(current_user, 'graph_admin', 'MEMBER') AS ok, current_user::text AS me,
       pg_catalog.pg_is_in_recovery() AS standby,
       pg_catalog.current_setting('transaction_read_only')::boolean AS read_only
"""

# What graph._require_admin says too (as 'graphsync: ...'), when an admin function cannot write.
STANDBY = "cannot change the graph on a hot standby"
STANDBY_HINT = ("Run graphsync's admin functions (apply_sync, build, maintenance, registration) on the primary:"
                " the standby's graph follows the primary's by replication, and reads here fold pending log"
                " rows in memory.")
READ_ONLY = "cannot change the graph in a read-only transaction"
READ_ONLY_HINT = "Run it in a read-write transaction."


def plan(plpy, sql, types=()):
    """A prepared plan of ``sql``, kept for the life of the backend."""
    key = (sql, tuple(types))
    p = _plans.get(key)
    if p is None:
        p = _plans[key] = plpy.prepare(sql, list(types))
        COUNTS["plans"] += 1
    return p


def run(plpy, sql, types=(), args=()):
    """Execute ``sql`` through a kept plan."""
    COUNTS["statements"] += 1
    return plpy.execute(plan(plpy, sql, types), list(args))


def require_admin(plpy):
    """Raise 42501 unless the caller is a superuser or a member of graph_admin, then
    25006 on a hot standby or in a read-only transaction (every admin function
    writes the graph, the log or its job rows): the check graph._require_admin
    makes for the SQL functions, for the Python ones."""
    r = run(plpy, ADMIN)[0]
    if not r["ok"]:
        raise errors.InsufficientPrivilege("permission denied: %s is not a member of graph_admin" % r["me"])
    if r["standby"]:
        raise errors.ReadOnlySqlTransaction(STANDBY, hint=STANDBY_HINT)
    if r["read_only"]:
        raise errors.ReadOnlySqlTransaction(READ_ONLY, hint=READ_ONLY_HINT)


def xmin(snapshot):
    """The xmin of a pg_snapshot's text form (xmin:xmax:xip)."""
    return int(snapshot.split(":", 1)[0])


def exclude_xid(snapshot, xid):
    """``snapshot`` (xmin:xmax:xip text) with ``xid`` counted as in progress."""
    low, high, xip = snapshot.split(":")
    if xid >= int(high):
        return snapshot
    xips = sorted({int(x) for x in xip.split(",") if x} | {xid})
    return "%d:%s:%s" % (min(int(low), xid), high, ",".join(map(str, xips)))


def snapshot_excluding_self(plpy, snapshot):
    """``snapshot`` with the calling transaction's own xid (when it has one) counted
    as in progress, so the caller's later writes are still replayed."""
    me = plpy.execute("SELECT pg_current_xact_id_if_assigned()::text AS x")[0]["x"]
    return exclude_xid(snapshot, int(me)) if me is not None else snapshot
