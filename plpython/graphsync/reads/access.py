"""Which nodes a read may enter: the caller's tables, tenant, and restrictions.

Two masks over the node ids of a View:

- the *security* mask: alive nodes of registered tables the caller may SELECT,
  within the tenant when one is given (nodes of tables without a tenant column
  stay allowed). Seeds, path ends and components obey it like every node.
- the *restriction* mask: ``node_tables`` and ``filter`` of a traversal. Seeds
  are exempt, as traverse.bfs exempts them from its node_mask.

Keys, tenants and properties are read from graph._nodes as the caller, so
row-level security there (migration 002) hides what the caller may not see even
if a mask were wrong.
"""

import json

import numpy as np

from graphsync import errors
from graphsync.db import run
from graphsync.reads.view import GENERATION, same_generation

TENANT_NODES = ("SELECT coalesce(array_agg(node_id), '{}') AS ids, %s FROM graph._nodes WHERE tenant = $1"
                % GENERATION)

FILTER_NODES = """
SELECT coalesce(array_agg(node_id), '{}') AS ids, %s FROM graph._nodes
WHERE table_oid = ANY ($1) AND properties -> $2 = ANY ($3::jsonb[])
""" % GENERATION


class Access:
    """The caller's view of the registry for one read, from its reads.start.Start:
    the registered tables it may SELECT (has_table_privilege as the caller), who
    it is, and the tenant it keeps to (the argument, else graph.tenant)."""

    def __init__(self, st, tenant=None):
        self.visible = st.visible
        self.me = st.me
        # Until a build, the graph may still hold nodes of tables no longer registered.
        self.all_visible = len(self.visible) == st.registered and not st.build_required
        self.tenant = st.tenant if tenant is None else tenant
        # What the security mask depends on, to key what a view derives from it: the
        # tables the caller may SELECT now (a GRANT or REVOKE changes no graph version),
        # whether they are all of them, the tenant.
        self.scope = (self.visible, self.all_visible, self.tenant)

    def check_table(self, plpy, v, table_oid, name=None):
        """Raise unless ``table_oid`` is a registered node table the caller may read
        (``name``: how the caller named it; by default its regclass text)."""
        if table_oid in v.registry.nodes and table_oid in self.visible:
            return
        if name is None:
            name = run(plpy, "SELECT $1::pg_catalog.regclass::text AS t", ["oid"], [table_oid])[0]["t"]
        if table_oid not in v.registry.nodes:
            raise errors.ObjectNotInPrerequisiteState(
                "%s is not a registered node table" % name,
                hint="Register it with graph.add_table and run graph.build().")
        raise errors.InsufficientPrivilege("permission denied for table %s" % name)


def security_mask(plpy, v, acc):
    """bool[n]: the nodes the caller may see and enter (see the module docstring)."""
    def make():
        mask = v.alive.copy()
        if not acc.all_visible:
            mask &= np.isin(v.tables(plpy), np.fromiter(acc.visible, dtype=np.int64))
        if acc.tenant is not None:
            mask &= _tenant_ok(plpy, v, acc.tenant)
        return mask
    if acc.all_visible and acc.tenant is None:
        return v.alive
    return v.derived(("security",) + acc.scope, make)


def _tenant_ok(plpy, v, tenant):
    tenant_tables = [oid for oid, nt in v.registry.nodes.items() if nt.tenant_column]
    tables = v.tables(plpy)
    has_tenant = np.isin(tables, np.asarray(tenant_tables, dtype=np.int64))
    ok = ~has_tenant
    r = run(plpy, TENANT_NODES, ["text"], [tenant])[0]
    same_generation(v.key[0], r)
    ids = np.asarray(r["ids"], dtype=np.int64)
    ok[ids[ids < len(ok)]] = True
    for i, (value, _) in v.node_values.items():
        if has_tenant[i]:
            ok[i] = value == tenant
    return ok


def restriction_mask(plpy, v, acc, node_tables=None, filter_json=None):
    """None (no restriction) or bool[n] of the nodes ``node_tables`` and ``filter`` allow."""
    if node_tables is None and not filter_json:
        return None
    tables = v.tables(plpy)
    mask = np.ones(v.node_count, dtype=bool)
    if node_tables is not None:
        mask &= np.isin(tables, np.asarray(node_tables, dtype=np.int64))
    if filter_json:
        try:
            wanted = json.loads(filter_json)
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict):
            raise errors.InvalidArgument("filter must be a JSON object of filter column: value")
        for column, value in wanted.items():
            mask &= _filter_ok(plpy, v, acc, tables, column, value)
    return mask


def _filter_ok(plpy, v, acc, tables, column, value):
    holders = [oid for oid, nt in v.registry.nodes.items() if column in nt.filter_columns]
    if not holders:
        raise errors.InvalidArgument("%s is not a registered filter column of any node table"
                                     % json.dumps(column), hint="Register it with graph.add_filter_column.")
    values = value if isinstance(value, list) else [value]

    def make():
        has_column = np.isin(tables, np.asarray(holders, dtype=np.int64))
        ok = ~has_column
        r = run(plpy, FILTER_NODES, ["oid[]", "text", "text[]"], [holders, column, [json.dumps(x) for x in values]])[0]
        same_generation(v.key[0], r)
        ids = np.asarray(r["ids"], dtype=np.int64)
        ok[ids[ids < len(ok)]] = True
        for i, (_, props) in v.node_values.items():
            if has_column[i]:
                ok[i] = (json.loads(props) if props else {}).get(column) in values
        return ok
    return v.derived(("filter",) + acc.scope + (column, json.dumps(values, sort_keys=True)), make)
