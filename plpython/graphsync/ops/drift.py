"""Reading schema drift: what graph._schema_drift() finds, as rows for
maintenance, verify() and reconcile(). Reading only; repairs are in
ops/reconcile.py.
"""

import json

# Differences graph.verify() reports between the graph and its sources.
CONTENT_DIFFERENCES = ("missing_node", "extra_node", "stale_property", "missing_edge",
                       "extra_edge", "dangling_edge")
# Drift that blocks a rebuild until reconcile() repairs it.
BLOCKING = ("table_dropped", "column_dropped", "key_changed")
# Drift that keeps build and verify from reading the sources at all.
UNREADABLE = ("table_dropped", "column_dropped")


def rows(plpy):
    """Every drift finding: dicts of kind, table_oid, table_name, column_name, detail, repair."""
    return [dict(r) for r in plpy.execute(
        "SELECT kind, table_oid, table_name, column_name, detail, repair"
        " FROM graph._schema_drift() ORDER BY table_name, kind, column_name")]


def describe(found):
    """One line naming each finding: kind table[.column], ..."""
    return ", ".join("%s %s%s" % (d["kind"], d["table_name"],
                                  "." + d["column_name"] if d["column_name"] else "")
                     for d in found)


def verify_rows(plpy):
    """Schema drift as graph.verify() rows: (difference, table_name, id, detail)."""
    return [(d["kind"], d["table_name"], d["column_name"],
             json.dumps({"detail": d["detail"], "repair": d["repair"]})) for d in rows(plpy)]


def blocks_source_read(verify_out):
    return any(r[0] in UNREADABLE for r in verify_out)
