"""graphsync.reads.export's renderers, apart from the database: every text escaped
for its format and read back exactly (GraphML by NetworkX, Mermaid by decoding
its entity codes, DOT labels by an XML parser, as Graphviz reads HTML-like
labels); carriage returns kept; ids unique even when XML cannot carry a character of a key."""

import io
import math
import re
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from graphsync.reads.export import (
    Edge,
    Node,
    Picture,
    dot_html,
    graphml_ids,
    mermaid_text,
    to_dot,
    to_graphml,
    to_mermaid,
    weight_text,
)

AWKWARD = ['a"b', "<&>", "x\ny", "ü✓😀", "back\\", "#35;", "`md`", "%% c", "a|b]", "end", "t\tab", "c\r\nd"]


def picture(label_property="name"):
    nodes = [Node('s."t""b <&>"', key, i % 3, None if i % 4 == 0 else "v" + key) for i, key in enumerate(AWKWARD)]
    edges = [Edge(i, (i + 1) % len(nodes), lab, w)
             for i, (lab, w) in enumerate(zip(AWKWARD, [1.0, 2.5, 0.0, -3.0, math.inf, 1e20, 0.1, 7.0, 1.0, 1.0,
                                                        2.0, 3.0], strict=True))]
    edges.append(Edge(0, 1, 'a"b', 1.0))  # a parallel edge
    edges.append(Edge(3, 3, "loop", 1.0))
    return Picture(nodes, edges, True, label_property)


@pytest.mark.parametrize(("weight", "text"), [(1.0, "1"), (0.0, "0"), (-3.0, "-3"), (2.5, "2.5"), (0.1, "0.1"),
                                              (1e20, "1e+20"), (math.inf, "INF"), (-math.inf, "-INF"),
                                              (math.nan, "NaN")])
def test_weight_text(weight, text):
    assert weight_text(weight) == text
    assert math.isnan(float(text)) if math.isnan(weight) else float(text) == weight


def test_graphml_reads_back_every_text_and_weight():
    p = picture()
    g = nx.read_graphml(io.BytesIO(to_graphml(p).encode()), force_multigraph=True)
    ids = ["%s:%s" % (n.table, n.key) for n in p.nodes]
    assert list(g.nodes) == ids
    for node, node_id in zip(p.nodes, ids, strict=True):
        data = g.nodes[node_id]
        assert (data["table"], data["key"], data["depth"]) == (node.table, node.key, node.depth)
        assert data.get("name") == node.value
    got = sorted((u, v, d["label"], d["weight"]) for u, v, d in g.edges(data=True))
    want = sorted((ids[e.tail], ids[e.head], e.label, e.weight) for e in p.edges)
    assert got == want
    assert g.graph["capped"] is True


def test_a_property_named_like_a_node_attribute_gets_a_prefix():
    p = picture("key")
    g = nx.read_graphml(io.BytesIO(to_graphml(p).encode()))
    node = g.nodes["%s:%s" % (p.nodes[1].table, p.nodes[1].key)]
    assert node["key"] == p.nodes[1].key and node["property_key"] == p.nodes[1].value


def test_characters_xml_cannot_carry_become_a_replacement_and_ids_stay_unique():
    nodes = [Node("t", "a\x01", 0, "\x02"), Node("t", "a\ufffd", 1, None), Node("t", "a\x03", 1, None)]
    p = Picture(nodes, [Edge(0, 1, "l\x04", 1.0), Edge(2, 0, "m", 1.0)], False, "name")
    assert graphml_ids(p) == ["t:a\ufffd#2", "t:a\ufffd", "t:a\ufffd#3"]  # the clean id keeps its text
    g = nx.read_graphml(io.BytesIO(to_graphml(p).encode()), force_multigraph=True)
    assert list(g.nodes) == graphml_ids(p)
    assert g.nodes["t:a\ufffd#2"]["key"] == "a\ufffd" and g.nodes["t:a\ufffd#2"]["name"] == "\ufffd"
    assert sorted((u, v, d["label"]) for u, v, d in g.edges(data=True)) == [
        ("t:a\ufffd#2", "t:a\ufffd", "l\ufffd"), ("t:a\ufffd#3", "t:a\ufffd#2", "m")]
    ET.fromstring("<l>%s</l>" % dot_html(["a\x01b"]))  # DOT's HTML-like labels are XML too


def test_dot_labels_are_xml_that_reads_back_to_the_lines():
    for text in AWKWARD:
        label = dot_html(["table", text])
        root = ET.fromstring("<l>%s</l>" % label)
        parts = [root.text or ""] + [br.tail or "" for br in root.findall("BR")]
        assert parts == ["table"] + re.split(r"\r\n|\r|\n", text.replace("\t", " "))
        assert '"' not in label and "\\" not in label.replace("back\\", "")


def test_dot_document_shape():
    text = to_dot(picture())
    lines = text.splitlines()
    assert lines[1] == "digraph graphsync {" and lines[-1] == "}"
    assert "capped by max_nodes" in lines[2]
    node_lines = [line for line in lines if re.match(r'^  "n\d+" \[label=<', line)]
    edge_lines = [line for line in lines if re.match(r'^  "n\d+" -> "n\d+" \[label=<', line)]
    assert len(node_lines) == len(AWKWARD) and len(edge_lines) == len(AWKWARD) + 2
    assert sum("penwidth" in line for line in node_lines) == sum(n.depth == 0 for n in picture().nodes)


def test_mermaid_labels_decode_to_the_lines_and_hold_nothing_mermaid_reads():
    for text in AWKWARD + ["plain text: a-b_c.d,e/f(g)+h=i"]:
        inside = mermaid_text(["table", text])
        assert re.fullmatch(r'(?:[^"#<>`|\[\]{}%\n\r\t;]|#\d+;|<br>)*', inside), inside
        decoded = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), inside.replace("<br>", "\n"))
        assert decoded == "table\n" + re.sub(r"\r\n|\r", "\n", text)
    assert mermaid_text(["plain text: a-b_c.d,e/f(g)+h=i ü"]) == "plain text: a-b_c.d,e/f(g)+h=i ü"


def test_mermaid_document_shape():
    text = to_mermaid(picture())
    lines = text.splitlines()
    assert lines[0] == "flowchart LR" and lines[1].startswith("  %% graphsync export: 12 nodes, 14 edges, capped")
    assert sum(bool(re.match(r'^  n\d+\["', line)) for line in lines) == len(AWKWARD)
    assert sum(bool(re.match(r'^  n\d+ -->\|"', line)) for line in lines) == len(AWKWARD) + 2
    assert "  class n0,n3,n6,n9 seed" in lines
