"""Graph changes from log rows: the one reading of the captured-row format.

Replay (sync/apply.py) and reads that fold pending rows in memory
(reads/freshness.py) both turn log rows into graph changes here, so a folded
read and an applied one agree. Pure Python over dicts: no database access.

A log row (see the capture generator, graph._install_capture) carries the key
(``old_pk``/``new_pk``: one column's text form, or a composite key's record
text form), ``properties`` (JSON text of the registered columns) and
``old_row``/``new_row`` (JSON text of the captured columns: tenant, edge
endpoints, weight, label, as text).
"""

import json
from dataclasses import dataclass, field


@dataclass
class Changes:
    """Graph changes gathered from log rows, written by flush()."""

    nodes: dict = field(default_factory=dict)  # (oid, pk) -> (alive, tenant, props json)
    edges: list = field(default_factory=list)  # (op, source, (oid, pk), (oid, pk), w, label)


def edges_of_row(reg, table_oid, pk, row):
    """The edges a row (text values of captured columns) carries:
    [(source_id, (oid, pk), (oid, pk), weight, label)]."""
    found = []
    for e in reg.edges_carried_by(table_oid):
        if e.kind == "fk":
            a, b = pk, row.get(e.from_column)
        else:
            a, b = row.get(e.from_column), row.get(e.to_column)
        if a is None or b is None:
            continue
        w = row.get(e.weight_column) if e.weight_column else None
        weight = float(w) if w is not None else 1.0
        label = row.get(e.label_column) if e.label_column else None
        if label is None:
            label = e.label
        found.append((e.edge_source_id, (e.from_table, a), (e.to_table, b), weight, label))
        if e.bidirectional:
            found.append((e.edge_source_id, (e.to_table, b), (e.from_table, a), weight, label))
    return found


def add_row(reg, row, changes):
    """Add the graph changes of one I/U/D log row to ``changes``."""
    op, table_oid = row["op"], int(row["table_oid"])
    old_row = json.loads(row["old_row"]) if row["old_row"] else None
    new_row = json.loads(row["new_row"]) if row["new_row"] else None
    if op in ("I", "U") and (row["new_pk"] is None or new_row is None):
        raise ValueError("log row %d (%s) has no new key or new_row" % (row["id"], op))
    if op in ("U", "D") and (row["old_pk"] is None or old_row is None):
        raise ValueError("log row %d (%s) has no old key or old_row" % (row["id"], op))
    node = reg.nodes.get(table_oid)
    if node is not None:
        if op == "D" or (op == "U" and row["old_pk"] != row["new_pk"]):
            changes.nodes[(table_oid, row["old_pk"])] = (False, None, None)
        if op in ("I", "U"):
            tenant = new_row.get(node.tenant_column) if node.tenant_column else None
            changes.nodes[(table_oid, row["new_pk"])] = (True, tenant, row["properties"])
    old = edges_of_row(reg, table_oid, row["old_pk"], old_row) if old_row else []
    new = edges_of_row(reg, table_oid, row["new_pk"], new_row) if new_row else []
    for edge in old:
        if edge in new:
            new.remove(edge)
        else:
            changes.edges.append(("-",) + edge)
    changes.edges.extend(("+",) + edge for edge in new)


def fold_rows(reg, rows):
    """Replay ``rows`` (log rows in id order) in memory: (node changes {(oid, pk):
    (alive, tenant, properties)}, edge changes [(op, source, key, key, weight,
    label)], truncated table oids, cut edge sources). A row that cannot be
    gathered is skipped (replay records its error)."""
    nodes, edges, truncated, cuts = {}, [], set(), set()
    for row in rows:
        table_oid = int(row["table_oid"])
        if row["op"] == "T":
            carried = {e.edge_source_id for e in reg.edges_carried_by(table_oid)}
            edges = [c for c in edges if c[1] not in carried]
            cuts |= carried
            if table_oid in reg.nodes:
                truncated.add(table_oid)
                for k in nodes:
                    if k[0] == table_oid:
                        nodes[k] = (False, None, None)
            continue
        one = Changes()
        try:
            add_row(reg, row, one)
        except (ValueError, TypeError, KeyError):
            continue
        nodes.update(one.nodes)
        edges.extend(one.edges)
    return nodes, edges, truncated, cuts
