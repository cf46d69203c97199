"""graph.export_dot / graph.export_mermaid / graph.export_graphml: a traversal as
text a person can look at (Graphviz, Mermaid) or load elsewhere (GraphML, e.g.
``networkx.read_graphml``).

An export draws graph.traverse's answer: its nodes, each labelled with its table
and key (and, given ``label_property``, that property's value), and every edge
between them, with its label and weight. A traversal returns a tree (each node
with the one edge it was reached by); the picture shows all the edges among the
nodes it returns. It is built in three steps:

1. ``graph.traverse`` runs with the export's arguments, through SQL, as the
   caller: the same argument checks, freshness, privileges, tenant, filters and
   bounds as any traversal, and its nodes in visit order. With
   ``label_property`` it hydrates (the value is read from the source row as the
   caller; as with ``hydrate => true``, a row the caller cannot read is neither
   shown nor passed through).
2. The view this read sees (``api.Read``: the same freshness policy, the same
   caller) maps the returned (table, key) pairs to node ids, and
   ``algorithms.induced`` finds the edges among them in the graph's own
   direction (tail -> head as stored, whatever ``direction`` the walk took),
   keeping only the labels ``edge_types`` names. A node a concurrent change
   removed between the two steps is still drawn, without edges.
3. A renderer below writes the text. The renderers are pure functions of a
   ``Picture`` and escape every text for their format:

   - DOT: node ids are quoted positional names ("n0", "n1", ...); labels are
     HTML-like labels (``label=<...>``) whose text is XML-escaped, each line
     break a ``<BR/>``, a tab a space (Graphviz drops tabs there): Graphviz
     applies no backslash escapes to them.
   - Mermaid: node ids are positional names (``n0``, ...); labels are quoted
     strings in which every character but letters, digits, space and ``_-.,:/()+=``
     is written as Mermaid's numeric entity code (``#34;``), each line break a
     ``<br>``.
   - GraphML: written with xml.etree. A node's id is ``<table>:<key>`` (the
     table's name as regclass prints it, so the first ':' outside double quotes
     ends it), its data ``table``, ``key``, ``depth``, ``label`` and the chosen
     property (under its own name, or ``property_<name>`` when that is one of
     the others); an edge's data ``label`` and ``weight`` (a double: 1 for a NULL
     weight, ``INF``/``-INF``/``NaN`` as XML Schema writes them); the graph's
     ``capped``.

   Characters XML 1.0 cannot carry (control characters other than tab, line feed
   and carriage return) are written as U+FFFD in DOT labels and GraphML; a
   GraphML id that this would make equal to another gets a ``#<n>`` suffix.

Bad arguments: those of graph.traverse, with its SQLSTATEs; ``label_property``
that no registered node table has as a key or property column, 42703.
"""

import html
import math
import re
import xml.etree.ElementTree as ET
from typing import NamedTuple

from graphsync import errors
from graphsync.algorithms import induced
from graphsync.db import run
from graphsync.reads import access, api, nodes
from graphsync.sync import registry

FORMATS = ("dot", "mermaid", "graphml")

# value: the label property's text, taken in SQL (a string as it is, another value
# as its JSON text, NULL where the node has none): parsing each node's JSON in
# Python failed every export reaching a row a writer gave a jsonb nested deeper than
# json's recursion limit or a numeric of more digits than int() takes.
TRAVERSE = """
SELECT t.node_table::pg_catalog.oid AS table_oid, t.node_table::pg_catalog.text AS table_name,
       t.node_id, t.depth, t.capped,
       CASE pg_catalog.jsonb_typeof(t.node -> $13) WHEN 'string' THEN t.node ->> $13
            WHEN 'null' THEN NULL ELSE (t.node -> $13)::pg_catalog.text END AS value
FROM graph.traverse(seed_table => $1, seed_id => $2, max_depth => $3, direction => $4, edge_types => $5,
                    node_tables => $6, filter => $7, tenant => $8, max_nodes => $9, hydrate => $10,
                    seed_tables => $11, seed_ids => $12) AS t
"""
TRAVERSE_TYPES = ["regclass", "text", "int4", "text", "text[]", "regclass[]", "jsonb", "text", "int4", "bool",
                  "regclass[]", "text[]", "text"]


class Node(NamedTuple):
    table: str  # the table's name as regclass prints it
    key: str  # the key's text form, as graph.traverse returns it
    depth: int
    value: object  # the label property's text, None when the row has none (or it is NULL)


class Edge(NamedTuple):
    tail: int  # positions in Picture.nodes
    head: int
    label: str
    weight: float


class Picture(NamedTuple):
    nodes: list
    edges: list
    capped: bool
    label_property: object = None  # str or None


# -- reading -------------------------------------------------------------------

class _Passed(errors.GraphsyncError):
    """An error of graph.traverse, raised again with its own SQLSTATE (set per
    instance), message, detail and hint: as one clear line, not wrapped in
    PL/Python's report of an error inside a query."""


def _traverse(plpy, args):
    try:
        return run(plpy, TRAVERSE, TRAVERSE_TYPES, args)
    except plpy.SPIError as exc:
        if errors.is_cancel(exc) or not getattr(exc, "sqlstate", None):
            raise  # cancel means stop: never turned into anything else
        message = errors.spi_message(exc)
        if message.startswith("graphsync: "):
            message = message[len("graphsync: "):]
        passed = _Passed(message, *errors.spi_detail_hint(exc))
        passed.sqlstate = exc.sqlstate
        raise passed from None


def _check_label_property(plpy, label_property):
    if label_property is None:
        return
    reg = registry.load(plpy)
    if not any(label_property in n.id_columns or label_property in n.property_columns for n in reg.nodes.values()):
        raise errors.UndefinedColumn("no registered node table has a key or property column %s"
                                     % plpy.quote_ident(label_property),
                                     hint="Property columns are the columns and filter columns given to"
                                          " graph.add_table / graph.add_filter_column.")


def picture(plpy, seed_table, seed_id, seed_tables, seed_ids, max_depth=None, direction=None, edge_types=None,
            node_tables=None, filter_json=None, tenant=None, max_nodes=None, label_property=None):
    """The Picture of a traversal (see the module docstring): nodes in visit order,
    the edges among them grouped by tail in that order."""
    _check_label_property(plpy, label_property)
    hydrate = label_property is not None
    rows = _traverse(plpy, [seed_table, seed_id, max_depth, direction, edge_types, node_tables, filter_json,
                            tenant, max_nodes, hydrate, seed_tables, seed_ids, label_property])
    found = [Node(r["table_name"], r["node_id"], r["depth"], r["value"]) for r in rows]
    capped = bool(rows[0]["capped"]) if len(rows) else False
    if not found:
        return Picture([], [], capped, label_property)
    # The edges among the nodes found: the tables of those nodes, and the join
    # tables linking two of them, are all this read reaches (reads/access.py). Its
    # security mask is not used (the nodes are the traversal's), so it asks no
    # secured table which rows the caller sees (by_node, and no node asked about),
    # and a secured join table only for the rows of the nodes found (walk_edges).
    shown = tuple(sorted({int(r["table_oid"]) for r in rows}))
    read = api.Read(plpy, tenant, walk=access.Walk(shown, "out", 1, shown), by_node=True, walk_edges=True)
    v = read.v
    ids = nodes.lookup(plpy, v, [(int(r["table_oid"]), r["node_id"]) for r in rows])
    position = {node_id: i for i, node_id in enumerate(ids) if node_id is not None}
    out = read.adjacency("out")
    read.resolve_edges("out", list(position))
    e = induced.induced_edges(out, list(position), v.label_mask(plpy, edge_types))
    v.know_labels(plpy, e.labels)
    edges = [Edge(position[t], position[h], v.labels.get(lab, str(lab)), w)
             for t, h, lab, w in zip(e.src.tolist(), e.dst.tolist(), e.labels.tolist(), e.weights.tolist(),
                                     strict=True)]
    return Picture(found, edges, capped, label_property)


@errors.entry_point
@api.stable
def export_text(plpy, fmt, seed_table, seed_id, seed_tables, seed_ids, max_depth=None, direction=None,
                edge_types=None, node_tables=None, filter_json=None, tenant=None, max_nodes=None,
                label_property=None):
    """The text of graph.export_<fmt> (fmt one of FORMATS; the three public
    functions call one internal one, graph._export, with their format)."""
    if fmt not in RENDER:
        raise errors.InvalidArgument("unknown export format %s: expected one of %s" % (fmt, ", ".join(FORMATS)))
    p = picture(plpy, seed_table, seed_id, seed_tables, seed_ids, max_depth, direction, edge_types, node_tables,
                filter_json, tenant, max_nodes, label_property)
    return RENDER[fmt](p)


# -- text common to the formats -------------------------------------------------

# What XML 1.0 can carry (its Char production); the rest becomes U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# Fill and border colours, one pair per table in order of first appearance.
PALETTE = [("#dbe9f6", "#4a78a8"), ("#fde2c8", "#c0772b"), ("#d9f0d3", "#4d8a3f"), ("#eadcf2", "#7f5a9b"),
           ("#f9d6d5", "#b24a47"), ("#fff3bf", "#a8891c"), ("#d3f0ef", "#3a8c88"), ("#e6e6e6", "#6b6b6b")]


def xml_text(text):
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def weight_text(weight):
    """An edge weight as text: integral values without a fraction, the rest as
    Python's shortest round-tripping form; INF, -INF and NaN as XML Schema writes
    them."""
    if math.isnan(weight):
        return "NaN"
    if math.isinf(weight):
        return "INF" if weight > 0 else "-INF"
    if weight == int(weight) and abs(weight) < 2 ** 53:
        return str(int(weight))
    return repr(weight)


def node_lines(p, node):
    """The lines of a node's label: table, key, and the chosen property."""
    lines = [node.table, node.key]
    if p.label_property is not None and node.value is not None:
        lines.append("%s: %s" % (p.label_property, node.value))
    return lines


def edge_text(edge):
    return "%s (%s)" % (edge.label, weight_text(edge.weight))


def _table_colours(p):
    """Palette index of each node, by its table's first appearance."""
    order = {}
    return [order.setdefault(n.table, len(order)) % len(PALETTE) for n in p.nodes]


def _summary(p):
    text = "graphsync export: %d nodes, %d edges" % (len(p.nodes), len(p.edges))
    return text + ", capped by max_nodes" if p.capped else text


# -- DOT -------------------------------------------------------------------------

def dot_html(lines):
    """An HTML-like DOT label (without its angle brackets) showing ``lines``."""
    out = []
    for line in lines:
        out.extend(_LINE_BREAK.split(xml_text(line)))
    return "<BR/>".join(html.escape(part.replace("\t", " "), quote=True) for part in out)


def to_dot(p):
    """A Graphviz digraph of ``p``."""
    out = ["// " + _summary(p), "digraph graphsync {",
           '  graph [rankdir=LR, fontname="Helvetica", fontsize=10%s];'
           % (", labelloc=t, label=<capped by max_nodes>" if p.capped else ""),
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9];']
    for i, (node, colour) in enumerate(zip(p.nodes, _table_colours(p), strict=True)):
        fill, border = PALETTE[colour]
        out.append('  "n%d" [label=<%s>, fillcolor="%s", color="%s"%s];'
                   % (i, dot_html(node_lines(p, node)), fill, border, ", penwidth=2.5" if node.depth == 0 else ""))
    for edge in p.edges:
        out.append('  "n%d" -> "n%d" [label=<%s>];' % (edge.tail, edge.head, dot_html([edge_text(edge)])))
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid ---------------------------------------------------------------------

_MERMAID_PLAIN = frozenset(" _-.,:/()+=")


def mermaid_text(lines):
    """The inside of a quoted Mermaid label showing ``lines``: letters, digits and
    _MERMAID_PLAIN as they are, every other character as an entity code ``#<n>;``,
    line breaks as ``<br>``."""
    out = []
    for line in lines:
        for part in _LINE_BREAK.split(line):
            out.append("".join(c if c.isalnum() or c in _MERMAID_PLAIN else "#%d;" % ord(c) for c in part))
    return "<br>".join(out)


def to_mermaid(p):
    """A Mermaid flowchart of ``p``."""
    out = ["flowchart LR", "  %% " + _summary(p)]
    for i, node in enumerate(p.nodes):
        out.append('  n%d["%s"]' % (i, mermaid_text(node_lines(p, node))))
    for edge in p.edges:
        out.append('  n%d -->|"%s"| n%d' % (edge.tail, mermaid_text([edge_text(edge)]), edge.head))
    by_colour = {}
    for i, colour in enumerate(_table_colours(p)):
        by_colour.setdefault(colour, []).append("n%d" % i)
    for colour, members in sorted(by_colour.items()):
        fill, border = PALETTE[colour]
        out.append("  classDef t%d fill:%s,stroke:%s" % (colour, fill, border))
        out.append("  class %s t%d" % (",".join(members), colour))
    seeds = ["n%d" % i for i, node in enumerate(p.nodes) if node.depth == 0]
    if seeds:
        out.append("  classDef seed stroke-width:3px")
        out.append("  class %s seed" % ",".join(seeds))
    return "\n".join(out) + "\n"


# -- GraphML ---------------------------------------------------------------------

GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
NODE_KEYS = ("table", "key", "depth", "label")


def graphml_ids(p):
    """The GraphML id of each node: ``<table>:<key>``, unique (see the module docstring)."""
    wanted = ["%s:%s" % (n.table, n.key) for n in p.nodes]
    clean = [xml_text(w) for w in wanted]
    ids = [None] * len(wanted)
    taken = set()
    # ids that needed no replacement first: they are distinct, and keep their text
    for i in sorted(range(len(wanted)), key=lambda i: clean[i] != wanted[i]):
        candidate, n = clean[i], 2
        while candidate in taken:
            candidate, n = "%s#%d" % (clean[i], n), n + 1
        taken.add(candidate)
        ids[i] = candidate
    return ids


def property_key(p):
    """The GraphML attribute name of the chosen property."""
    name = p.label_property
    return "property_" + name if name in NODE_KEYS else name


def to_graphml(p):
    """A GraphML document of ``p`` (directed; parallel edges kept)."""
    root = ET.Element("graphml", xmlns=GRAPHML_NS)
    keys = [("d0", "node", "table", "string"), ("d1", "node", "key", "string"), ("d2", "node", "depth", "int"),
            ("d3", "node", "label", "string")]
    if p.label_property is not None:
        keys.append(("d4", "node", xml_text(property_key(p)), "string"))
    keys += [("d5", "edge", "label", "string"), ("d6", "edge", "weight", "double"),
             ("d7", "graph", "capped", "boolean")]
    for key_id, kind, name, kind_of_value in keys:
        ET.SubElement(root, "key", {"id": key_id, "for": kind, "attr.name": name, "attr.type": kind_of_value})
    graph = ET.SubElement(root, "graph", id="graphsync", edgedefault="directed")

    def data(parent, key_id, text):
        ET.SubElement(parent, "data", key=key_id).text = xml_text(text)

    data(graph, "d7", "true" if p.capped else "false")
    ids = graphml_ids(p)
    for node, node_id in zip(p.nodes, ids, strict=True):
        element = ET.SubElement(graph, "node", id=node_id)
        data(element, "d0", node.table)
        data(element, "d1", node.key)
        data(element, "d2", str(node.depth))
        data(element, "d3", "\n".join(node_lines(p, node)))
        if p.label_property is not None and node.value is not None:
            data(element, "d4", node.value)
    for i, edge in enumerate(p.edges):
        element = ET.SubElement(graph, "edge", id="e%d" % i, source=ids[edge.tail], target=ids[edge.head])
        data(element, "d5", edge.label)
        data(element, "d6", weight_text(edge.weight))
    ET.indent(root)
    # ElementTree escapes a carriage return in attributes, not in text, where a
    # parser would read it as a line feed: only text holds a raw one, so write it
    # as a character reference there.
    body = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")
    return "<?xml version='1.0' encoding='utf-8'?>\n<!-- %s -->\n%s\n" % (_summary(p), body)


RENDER = {"dot": to_dot, "mermaid": to_mermaid, "graphml": to_graphml}
