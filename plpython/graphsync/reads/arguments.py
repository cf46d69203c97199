"""Checking the arguments of the read functions: bounds, choices, seeds, table names.

Bad input raises errors.InvalidArgument (22023, a bad value) or errors.NullValue
(22004, NULL where a value is needed, also inside an array); an unknown table is
42P01, raised by the regclass cast itself.
"""

from graphsync import errors
from graphsync.db import run

DEFAULT_DEPTH = 6
DEFAULT_PATH_DEPTH = 32
MAX_DEPTH = 1000
DEFAULT_NODES = 10_000
MAX_NODES = 1_000_000
HYDRATE_ROUNDS = 8

DIRECTIONS = ("out", "in", "any")
STRATEGIES = ("bfs", "dfs")
INVALID_WEIGHTS = ("error", "skip")  # weighted_shortest_path's invalid_weights


def check_bound(plpy, name, value, default, low, high):
    """``value``, or ``default`` when NULL; 22023 outside low..high."""
    if value is None:
        return default
    if value < low:
        raise errors.InvalidArgument("%s must be >= %d, not %d" % (name, low, value))
    if value > high:
        raise errors.InvalidArgument("%s %d is above the limit of %d" % (name, value, high))
    return value


def check_depth(plpy, max_depth, default):
    return check_bound(plpy, "max_depth", max_depth, default, 0, MAX_DEPTH)


def check_nodes(plpy, max_nodes):
    return check_bound(plpy, "max_nodes", max_nodes, DEFAULT_NODES, 1, MAX_NODES)


def check_choice(plpy, name, value, choices, default, hint=None):
    if value is None:
        return default
    if value not in choices:
        raise errors.InvalidArgument("%s must be one of %s, not %r" % (name, ", ".join(choices), value), hint=hint)
    return value


def check_tenant(tenant):
    """``tenant``; 22023 when it is '': graph.tenant = '' means no tenant (a setting
    cannot tell '' from unset), so an argument '' would keep the read to a tenant
    the same text in the setting does not."""
    if tenant == "":
        raise errors.InvalidArgument(
            "tenant must not be empty",
            hint="Pass NULL (or leave tenant out) to read under the graph.tenant setting; '' there means no tenant.")
    return tenant


def no_nulls(name, values):
    """``values`` (an array argument, or None); 22004 when it holds a NULL."""
    if values is not None and any(v is None for v in values):
        raise errors.NullValue("%s must not contain NULL" % name)
    return values


def not_null(**arguments):
    """22004 naming the first of ``arguments`` (name=value, in the order the
    function declares them) that is NULL."""
    for name, value in arguments.items():
        if value is None:
            raise errors.NullValue("%s must not be NULL" % name)


def table_oids(plpy, names, what="tables"):
    """Oids of regclass text values (the cast raises 42P01 for an unknown table);
    int values are taken as oids already. 22004 for a NULL element."""
    if names is None:
        return None
    no_nulls(what, names)
    if all(isinstance(n, int) for n in names):
        return list(names)
    rows = run(plpy, "SELECT array_agg(t::regclass::oid ORDER BY o) AS oids"
               " FROM unnest($1::text[]) WITH ORDINALITY AS u (t, o)", ["text[]"], [list(names)])
    return [int(o) for o in rows[0]["oids"] or []]


def seeds(plpy, seed_table, seed_id, seed_tables, seed_ids):
    """The seeds of graph.traverse: (seed_table, seed_id), or the arrays seed_tables
    and seed_ids, not both."""
    one = seed_table is not None or seed_id is not None
    many = seed_tables is not None or seed_ids is not None
    if one == many:
        message = "give either seed_table and seed_id, or seed_tables and seed_ids"
        raise errors.InvalidArgument(message) if one else errors.NullValue(message)
    if one:
        not_null(seed_table=seed_table, seed_id=seed_id)  # as the caller named them, not as the arrays
        return [seed_table], [seed_id]
    return seed_tables, seed_ids
