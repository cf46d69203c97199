"""The registry as plain Python values: node tables and edge sources.

Immutable named tuples, not dataclasses: importing dataclasses (and inspect, which
it imports) is a good part of what a new backend's first read pays for modules."""

from graphsync.db import run
from graphsync.records import record


class NodeTable(record("NodeTable", ("table_oid", "table_name", "id_columns", "columns", "tenant_column",
                                         "filter_columns", "row_filter"), defaults=(None,))):
    """A registered node table. ``row_filter``: only rows passing it are nodes
    (capture logs the result)."""

    __slots__ = ()

    @property
    def property_columns(self):
        """Columns kept as node properties: registered then filter columns."""
        return tuple(dict.fromkeys(self.columns + self.filter_columns))


class EdgeSource(record("EdgeSource", (
        "edge_source_id", "kind", "from_table", "from_column", "to_table", "to_column", "via_table", "label",
        "bidirectional", "weight_column", "label_column", "from_columns", "to_columns", "json_path", "row_filter"),
        defaults=(None, None, None, None))):
    """A registered edge source. ``kind``: 'fk' or 'join'; ``from_columns``: several
    columns, or a JSON reference (then from_column is None); ``to_columns``: join
    tables' several columns (then to_column is None)."""

    __slots__ = ()

    @property
    def computed(self):
        """Whether capture logs this source's endpoints or filter result under the
        row image's key "" (graph._carried_expr) rather than as plain columns."""
        return self.from_columns is not None or self.to_columns is not None or self.row_filter is not None

    @property
    def carrier(self):
        """The table whose rows carry the edges."""
        return self.via_table if self.kind == "join" else self.from_table


class Registry:
    """``nodes``: table_oid -> NodeTable; ``edges``: EdgeSource, by id; ``carried``:
    table_oid -> [EdgeSource] its rows carry (made from ``edges``)."""

    __slots__ = ("nodes", "edges", "carried")

    def __init__(self, nodes, edges):
        self.nodes, self.edges, self.carried = nodes, edges, {}
        for e in edges:
            self.carried.setdefault(e.carrier, []).append(e)

    def edges_carried_by(self, table_oid):
        return self.carried.get(table_oid, [])


def _tuple(value):
    return tuple(value) if value is not None else None


NODE_TABLES = ("SELECT table_oid, table_name, id_columns, columns, tenant_column, filter_columns, row_filter"
               " FROM graph._node_tables ORDER BY table_oid")
EDGE_SOURCES = ("SELECT edge_source_id, kind, from_table, from_column, to_table, to_column,"
                " via_table, label, bidirectional, weight_column, label_column,"
                " from_columns, to_columns, json_path, row_filter"
                " FROM graph._edge_sources ORDER BY edge_source_id")


def load(plpy):
    """Read the registry tables (through kept plans: a read that refreshes its graph
    reads them again, and planning the two took some 0.1 ms of each such read)."""
    nodes = {
        int(r["table_oid"]): NodeTable(
            int(r["table_oid"]), r["table_name"], tuple(r["id_columns"]),
            tuple(r["columns"]), r["tenant_column"], tuple(r["filter_columns"]), r["row_filter"],
        )
        for r in run(plpy, NODE_TABLES)
    }
    edges = tuple(
        EdgeSource(
            r["edge_source_id"], r["kind"], int(r["from_table"]), r["from_column"],
            int(r["to_table"]), r["to_column"],
            int(r["via_table"]) if r["via_table"] is not None else None,
            r["label"], r["bidirectional"], r["weight_column"], r["label_column"],
            _tuple(r["from_columns"]), _tuple(r["to_columns"]), _tuple(r["json_path"]), r["row_filter"],
        )
        for r in run(plpy, EDGE_SOURCES)
    )
    return Registry(nodes, edges)
