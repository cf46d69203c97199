"""The registry as plain Python values: node tables and edge sources."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeTable:
    table_oid: int
    table_name: str
    id_columns: tuple
    columns: tuple
    tenant_column: str
    filter_columns: tuple
    row_filter: str = None  # only rows passing it are nodes (capture logs the result)

    @property
    def property_columns(self):
        """Columns kept as node properties: registered then filter columns."""
        return tuple(dict.fromkeys(self.columns + self.filter_columns))


@dataclass(frozen=True)
class EdgeSource:
    edge_source_id: int
    kind: str  # 'fk' or 'join'
    from_table: int
    from_column: str
    to_table: int
    to_column: str
    via_table: int
    label: str
    bidirectional: bool
    weight_column: str
    label_column: str
    from_columns: tuple = None  # several columns, or a JSON reference (then from_column is None)
    to_columns: tuple = None  # join tables: several columns (then to_column is None)
    json_path: tuple = None
    row_filter: str = None

    @property
    def computed(self):
        """Whether capture logs this source's endpoints or filter result under the
        row image's key "" (graph._carried_expr) rather than as plain columns."""
        return self.from_columns is not None or self.to_columns is not None or self.row_filter is not None

    @property
    def carrier(self):
        """The table whose rows carry the edges."""
        return self.via_table if self.kind == "join" else self.from_table


@dataclass(frozen=True)
class Registry:
    nodes: dict  # table_oid -> NodeTable
    edges: tuple  # EdgeSource, by id
    carried: dict = field(default_factory=dict)  # table_oid -> [EdgeSource] its rows carry

    def __post_init__(self):
        for e in self.edges:
            self.carried.setdefault(e.carrier, []).append(e)

    def edges_carried_by(self, table_oid):
        return self.carried.get(table_oid, [])


def _tuple(value):
    return tuple(value) if value is not None else None


def load(plpy):
    """Read the registry tables."""
    nodes = {
        int(r["table_oid"]): NodeTable(
            int(r["table_oid"]), r["table_name"], tuple(r["id_columns"]),
            tuple(r["columns"]), r["tenant_column"], tuple(r["filter_columns"]), r["row_filter"],
        )
        for r in plpy.execute(
            "SELECT table_oid, table_name, id_columns, columns, tenant_column, filter_columns, row_filter"
            " FROM graph._node_tables ORDER BY table_oid"
        )
    }
    edges = tuple(
        EdgeSource(
            r["edge_source_id"], r["kind"], int(r["from_table"]), r["from_column"],
            int(r["to_table"]), r["to_column"],
            int(r["via_table"]) if r["via_table"] is not None else None,
            r["label"], r["bidirectional"], r["weight_column"], r["label_column"],
            _tuple(r["from_columns"]), _tuple(r["to_columns"]), _tuple(r["json_path"]), r["row_filter"],
        )
        for r in plpy.execute(
            "SELECT edge_source_id, kind, from_table, from_column, to_table, to_column,"
            " via_table, label, bidirectional, weight_column, label_column,"
            " from_columns, to_columns, json_path, row_filter"
            " FROM graph._edge_sources ORDER BY edge_source_id"
        )
    )
    return Registry(nodes, edges)
