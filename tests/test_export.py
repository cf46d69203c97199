"""graph.export_dot / export_mermaid / export_graphml on a real server, with names
full of quotes, angle brackets, ampersands, backslashes, newlines and unicode:

- GraphML loaded by networkx.read_graphml has exactly the nodes of graph.traverse
  (same arguments) and, as edges, every edge of the sources among those nodes
  (an oracle computed here from the source tables), with labels and weights;
- DOT is parsed and laid out by Graphviz's ``dot`` (Debian package graphviz), and
  the SVG it draws shows every label's text exactly;
- Mermaid passes a grammar check of the flowchart subset the export writes, and
  its labels decode back to the exact texts;
- privileges: a caller who cannot read a table gets no node of it; the source's
  row-level security with label_property; pending rows folded by a read-only
  transaction show in the export as in traverse;
- bad arguments: traverse's SQLSTATEs as one clear line, and 42703.
"""

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter

import networkx as nx
import psycopg
import pytest

from conftest import connect
from test_errors import assert_clean, error_of

PEOPLE = 'x."pe""ople <&>"'
THINGS = 'x."Ünïcode ✓ things"'
LINKS = 'x."li""nks"'

# Keys and names a renderer could trip on.
KEYS = ["ada", 'b"ob', "c<h>&n", "line1\nline2", "ünï✓😀", "back\\slash\\", "x:y", "<BR/>", "#35;", "tab\there",
        "%% end", "a]b[c|d`e"]

SCHEMA = f"""
CREATE SCHEMA x;
CREATE TABLE {PEOPLE} (id text PRIMARY KEY, name text, kind text NOT NULL DEFAULT 'p');
CREATE TABLE {THINGS} (id int PRIMARY KEY, title text, owner text REFERENCES {PEOPLE});
CREATE TABLE {LINKS} (id int PRIMARY KEY, a text NOT NULL, b text NOT NULL, w numeric, kind text NOT NULL);
"""

REGISTER = f"""
SELECT graph.add_table('{PEOPLE}', columns => '{{name}}');
SELECT graph.add_filter_column('{PEOPLE}', 'kind');
SELECT graph.add_table('{THINGS}', columns => '{{title}}');
SELECT graph.add_edge('{PEOPLE}', 'a', '{PEOPLE}', to_column => 'b', via_table => '{LINKS}',
                      weight_column => 'w', label_column => 'kind');
SELECT graph.add_edge('{THINGS}', 'owner', '{PEOPLE}', label => 'owned by "<you & me>"');
SELECT graph.build();
"""

# (a, b, weight, label) of the join-table edges: parallel edges, a self loop, NULL,
# fractional and zero weights, labels with every awkward character.
EDGES = [
    (0, 1, None, 'knows "well"'), (0, 1, 2.5, "a<b>&c"), (1, 2, 0, "knows \"well\""), (2, 3, 1, "ünï ✓"),
    (3, 4, 7, "line\nbreak"), (4, 4, 1, "self"), (4, 5, 3, "back\\"), (5, 6, 1, "knows \"well\""),
    (6, 7, 1, "x:y"), (7, 8, 1, "#quot;"), (8, 9, 1, "%% c"), (9, 10, 1, "a|b"), (10, 11, 1, "end"),
    (11, 0, 2, "knows \"well\""), (2, 0, 1, "a<b>&c"), (5, 1, 4, "back\\"),
]
OWNED = 'owned by "<you & me>"'
COLUMNS = {PEOPLE: ("id", "name", "kind"), THINGS: ("id", "title")}  # key and registered columns
THING_ROWS = [(1, 'Thing "one" <&>', 0), (2, "zwei\nzwo", 3), (3, "drei ✓", None), (4, "vier", 7)]


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        with c.cursor() as cur:
            cur.executemany(f"INSERT INTO {PEOPLE} (id, name, kind) VALUES (%s, %s, %s)",
                            [(k, f"name of {k}", "q" if i % 4 == 3 else "p") for i, k in enumerate(KEYS)])
            cur.executemany(f"INSERT INTO {LINKS} VALUES (%s, %s, %s, %s, %s)",
                            [(i, KEYS[a], KEYS[b], w, lab) for i, (a, b, w, lab) in enumerate(EDGES)])
            cur.executemany(f"INSERT INTO {THINGS} VALUES (%s, %s, %s)",
                            [(i, t, None if o is None else KEYS[o]) for i, t, o in THING_ROWS])
        c.execute(REGISTER)
        c.execute("DROP ROLE IF EXISTS gs_export_reader; CREATE ROLE gs_export_reader")
        c.execute("GRANT USAGE ON SCHEMA x TO gs_export_reader")
        c.execute(f"GRANT SELECT ON {THINGS} TO gs_export_reader")
    yield db
    with connect(db) as c:
        c.execute("DROP OWNED BY gs_export_reader")
        c.execute("DROP ROLE gs_export_reader")


# -- the oracle --------------------------------------------------------------------

def source_edges(conn):
    """Every edge of the sources: (tail (table, key), head (table, key), label, weight)."""
    out = []
    for a, b, w, kind in conn.execute(f"SELECT a, b, w, kind FROM {LINKS}"):
        out.append(((PEOPLE, a), (PEOPLE, b), kind, 1.0 if w is None else float(w)))
    for thing, owner in conn.execute(f"SELECT id, owner FROM {THINGS} WHERE owner IS NOT NULL"):
        out.append(((THINGS, str(thing)), (PEOPLE, owner), OWNED, 1.0))
    return out


def expected_edges(conn, nodes, edge_types=None):
    """Counter of (tail id, head id, label, weight) among ``nodes`` ((table, key) pairs)."""
    inside = set(nodes)
    return Counter((gid(t), gid(h), lab, w) for t, h, lab, w in source_edges(conn)
                   if t in inside and h in inside and (edge_types is None or lab in edge_types))


def gid(node):
    return "%s:%s" % node


def call(fn, args):
    """SQL calling graph.<fn> with named arguments ``args`` (values bound)."""
    return "SELECT graph.%s(%s)" % (fn, ", ".join("%s => %%s" % name for name in args)), list(args.values())


def traversal(conn, args):
    """{(table, key): depth} and the tree edges of graph.traverse with ``args`` (no label_property)."""
    args = {k: v for k, v in args.items() if k != "label_property"}
    sql = ("SELECT node_table::text, node_id, depth, parent_table::text, parent_id, edge_label FROM graph.traverse(%s)"
           % ", ".join("%s => %%s" % name for name in args))
    rows = conn.execute(sql, list(args.values())).fetchall()
    nodes = {(t, k): d for t, k, d, _, _, _ in rows}
    tree = [((pt, pk), (t, k), lab) for t, k, _, pt, pk, lab in rows if pt is not None]
    return nodes, tree


def export(conn, fmt, args):
    sql, params = call("export_" + fmt, args)
    return conn.execute(sql, params).fetchone()[0]


def read_graphml(text):
    return nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)


CASES = [
    {"seed_table": PEOPLE, "seed_id": "ada", "max_depth": 3},
    {"seed_table": PEOPLE, "seed_id": "ada", "max_depth": 2, "direction": "in", "label_property": "name"},
    {"seed_table": PEOPLE, "seed_id": "line1\nline2", "direction": "any", "max_depth": 2},
    {"seed_table": THINGS, "seed_id": "2", "max_depth": 10, "label_property": "title"},
    {"seed_table": PEOPLE, "seed_id": 'b"ob', "max_depth": 6, "direction": "any",
     "edge_types": ['knows "well"', "a<b>&c"]},
    {"seed_tables": [PEOPLE, THINGS], "seed_ids": ["ünï✓😀", "3"], "max_depth": 2, "direction": "any",
     "node_tables": [PEOPLE], "label_property": "id"},
    {"seed_table": PEOPLE, "seed_id": "ada", "direction": "any", "filter": '{"kind": "p"}', "max_depth": 4},
]


@pytest.mark.parametrize("args", CASES, ids=[str(i) for i in range(len(CASES))])
def test_graphml_loads_into_networkx_with_the_traversals_nodes_and_every_edge_among_them(world, args):
    with connect(world) as c:
        nodes, tree = traversal(c, args)
        g = read_graphml(export(c, "graphml", args))
        assert len(nodes) >= 2
        assert {gid(n) for n in nodes} == set(g.nodes)
        for n, depth in nodes.items():
            data = g.nodes[gid(n)]
            assert (data["table"], data["key"], data["depth"]) == (n[0], n[1], depth)
            assert data["label"].split("\n")[0] == n[0]
        got = Counter((u, v, d["label"], d["weight"]) for u, v, d in g.edges(data=True))
        assert got == expected_edges(c, nodes, args.get("edge_types"))
        # every edge the walk took is among them, in its own direction
        for parent, child, label in tree:
            ends = [(gid(parent), gid(child))] if args.get("direction", "out") == "out" else \
                   [(gid(child), gid(parent))] if args["direction"] == "in" else \
                   [(gid(parent), gid(child)), (gid(child), gid(parent))]
            assert any((u, v, label) == (a, b, lab) for a, b in ends for u, v, lab, _ in got), (parent, child)
        prop = args.get("label_property")
        if prop is not None:
            for table, key in nodes:
                data = g.nodes[gid((table, key))]
                expected = None
                if prop in COLUMNS[table]:  # the value as its JSON renders it: text as is, a number as digits
                    value = c.execute(f"SELECT to_jsonb({prop}) FROM {table} WHERE id::text = %s", [key]).fetchone()[0]
                    expected = None if value is None else value if isinstance(value, str) else str(value)
                assert data.get(prop) == expected
                if expected is not None:
                    assert data["label"].endswith("\n%s: %s" % (prop, expected))
                else:
                    assert data["label"] == "%s\n%s" % (table, key)
        assert g.graph["capped"] is False


def test_the_three_formats_show_the_same_picture(world):
    args = CASES[4]
    with connect(world) as c:
        g = read_graphml(export(c, "graphml", args))
        dot = export(c, "dot", args)
        mermaid = export(c, "mermaid", args)
    assert len(re.findall(r'^  "n\d+" \[label=', dot, re.M)) == g.number_of_nodes()
    assert len(re.findall(r'^  "n\d+" -> "n\d+"', dot, re.M)) == g.number_of_edges()
    m = parse_mermaid(mermaid)
    assert len(m["nodes"]) == g.number_of_nodes() and len(m["edges"]) == g.number_of_edges()
    assert sorted(lab for lab, _ in m["nodes"].values()) == sorted(d["label"] for _, d in g.nodes(data=True))


def test_capped_traversals_say_so(world):
    args = {"seed_table": PEOPLE, "seed_id": "ada", "max_nodes": 3, "direction": "any"}
    with connect(world) as c:
        nodes, _ = traversal(c, args)
        g = read_graphml(export(c, "graphml", args))
        assert len(nodes) == 3 and set(g.nodes) == {gid(n) for n in nodes}
        assert g.graph["capped"] is True
        assert "capped by max_nodes" in export(c, "dot", args)
        assert "capped by max_nodes" in export(c, "mermaid", args).splitlines()[1]


# -- DOT through Graphviz ------------------------------------------------------------

DOT = shutil.which("dot")


def svg_texts(svg):
    """The text of every <text> element of an SVG Graphviz drew."""
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.skipif(DOT is None, reason="needs Graphviz (make setup installs the Debian package graphviz)")
@pytest.mark.parametrize("args", CASES, ids=[str(i) for i in range(len(CASES))])
def test_dot_is_parsed_and_drawn_by_graphviz_with_every_text_exact(world, args):
    with connect(world) as c:
        text = export(c, "dot", args)
        g = read_graphml(export(c, "graphml", args))
    done = subprocess.run([DOT, "-Tsvg"], input=text.encode(), capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    texts = Counter(svg_texts(done.stdout.decode()))
    expected = Counter()
    for _, d in g.nodes(data=True):
        expected.update(d["label"].split("\n"))
    for _, _, d in g.edges(data=True):
        w = d["weight"]
        expected.update(("%s (%s)" % (d["label"], int(w) if w == int(w) else w)).split("\n"))
    # Graphviz draws each label line as one <text>: every line appears exactly as
    # the graph holds it (a tab as a space).
    assert texts == Counter({k.replace("\t", " "): n for k, n in expected.items()})
    # the canonical form reads back the same number of nodes and edges
    canon = subprocess.run([DOT, "-Tcanon"], input=text.encode(), capture_output=True, timeout=120)
    assert canon.returncode == 0
    assert len(re.findall(r"^\s+n\d+\s+\[", canon.stdout.decode(), re.M)) == g.number_of_nodes()
    assert len(re.findall(r"^\s+n\d+ -> n\d+", canon.stdout.decode(), re.M)) == g.number_of_edges()


# -- Mermaid grammar ---------------------------------------------------------------

# The flowchart subset the export writes, after Mermaid's flowchart grammar
# (flow.jison): a header; %% comment lines; node statements id["string"]; links
# id -->|"string"| id; classDef and class statements. A quoted string (STR) may
# not hold a double quote or a line break; Mermaid decodes #<n>; entity codes
# anywhere in the text (so a literal '#' must be written #35;) and renders <br>
# as a line break; the text must not open HTML (a '<' other than <br>) or a
# markdown string (a backtick). Node ids: letters, digits, underscore, not a
# keyword such as 'end'.
MERMAID_ID = r"[A-Za-z][A-Za-z0-9_]*"
MERMAID_STRING = r'"((?:[^"#<>`\n\r]|#\d+;|<br>)*)"'
MERMAID_LINES = {
    "comment": re.compile(r"^  %%[^\n]*$"),
    "node": re.compile(rf"^  ({MERMAID_ID})\[{MERMAID_STRING}\]$"),
    "edge": re.compile(rf"^  ({MERMAID_ID}) -->\|{MERMAID_STRING}\| ({MERMAID_ID})$"),
    "classDef": re.compile(r"^  classDef ([A-Za-z][A-Za-z0-9_]*) ([a-z-]+:[#0-9a-z]+)(,[a-z-]+:[#0-9a-z]+)*$"),
    "class": re.compile(rf"^  class ({MERMAID_ID}(?:,{MERMAID_ID})*) ([A-Za-z][A-Za-z0-9_]*)$"),
}
MERMAID_KEYWORDS = {"end", "graph", "flowchart", "subgraph", "class", "classDef", "click", "style", "linkStyle",
                    "direction", "default"}


def mermaid_decode(text):
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text.replace("<br>", "\n"))


def parse_mermaid(text):
    """Check ``text`` against the grammar above; its nodes {id: (label, classes)}
    and edges [(tail, label, head)], labels decoded."""
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    assert lines[0] == "flowchart LR"
    nodes, edges, class_defs = {}, [], set()
    for line in lines[1:]:
        kind, m = next(((k, r.match(line)) for k, r in MERMAID_LINES.items() if r.match(line)), (None, None))
        assert kind is not None, "not in the grammar: %r" % line
        if kind == "node":
            assert m.group(1) not in nodes and m.group(1) not in MERMAID_KEYWORDS
            nodes[m.group(1)] = (mermaid_decode(m.group(2)), [])
        elif kind == "edge":
            assert m.group(1) in nodes and m.group(3) in nodes, line
            edges.append((m.group(1), mermaid_decode(m.group(2)), m.group(3)))
        elif kind == "classDef":
            class_defs.add(m.group(1))
        elif kind == "class":
            assert m.group(2) in class_defs
            for n in m.group(1).split(","):
                assert n in nodes
                nodes[n][1].append(m.group(2))
    return {"nodes": nodes, "edges": edges}


@pytest.mark.parametrize("args", CASES, ids=[str(i) for i in range(len(CASES))])
def test_mermaid_follows_the_flowchart_grammar_and_decodes_to_the_exact_texts(world, args):
    with connect(world) as c:
        text = export(c, "mermaid", args)
        g = read_graphml(export(c, "graphml", args))
    m = parse_mermaid(text)
    labels = sorted(lab for lab, _ in m["nodes"].values())
    assert labels == sorted(d["label"] for _, d in g.nodes(data=True))
    by_label = {d["label"]: n for n, d in g.nodes(data=True)}
    got = Counter((by_label[m["nodes"][t][0]], lab, by_label[m["nodes"][h][0]]) for t, lab, h in m["edges"])
    want = Counter()
    for u, v, d in g.edges(data=True):
        w = d["weight"]
        want[(u, "%s (%s)" % (d["label"], int(w) if w == int(w) else w), v)] += 1
    assert got == want
    seeds = {n for n, (_, classes) in m["nodes"].items() if "seed" in classes}
    assert len(seeds) == len(args.get("seed_ids", [None]))
    assert all(any(c.startswith("t") for c in classes) for _, classes in m["nodes"].values())


def test_the_mermaid_grammar_check_can_fail():
    good = 'flowchart LR\n  n0["a#35;b"]\n  n1["c"]\n  n0 -->|"x (1)"| n1\n'
    assert len(parse_mermaid(good)["edges"]) == 1
    for bad in ('flowchart LR\n  n0["a"b"]\n', 'flowchart LR\n  n0["a#b"]\n', 'flowchart LR\n  n0["a<b"]\n',
                'flowchart LR\n  end["a"]\n', 'flowchart LR\n  n0["a"]\n  n0 -->|"x"| n9\n',
                'flowchart LR\n  n0["a\nb"]\n', 'flowchart LR\n  n0["`md`"]\n'):
        with pytest.raises(AssertionError):
            parse_mermaid(bad)


# -- freshness, privileges -----------------------------------------------------------

def test_pending_rows_folded_by_a_read_only_transaction_show_as_in_traverse(world):
    args = {"seed_table": PEOPLE, "seed_id": "ada", "max_depth": 1}
    with connect(world) as c, connect(world) as w:
        w.execute(f"INSERT INTO {PEOPLE} (id, name) VALUES ('new <one>', 'fresh')")
        w.execute(f"INSERT INTO {LINKS} VALUES (100, 'ada', 'new <one>', 9, 'fresh \"edge\"')")
        w.execute(f"INSERT INTO {LINKS} VALUES (101, 'new <one>', 'ada', NULL, 'back')")
        with c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            nodes, _ = traversal(c, args)
            g = read_graphml(export(c, "graphml", args))
        assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 3  # nothing applied
        assert (PEOPLE, "new <one>") in nodes and {gid(n) for n in nodes} == set(g.nodes)
        edges = Counter((u, v, d["label"], d["weight"]) for u, v, d in g.edges(data=True))
        assert edges == expected_edges(c, nodes)
        assert edges[(gid((PEOPLE, "ada")), gid((PEOPLE, "new <one>")), 'fresh "edge"', 9.0)] == 1
        assert edges[(gid((PEOPLE, "new <one>")), gid((PEOPLE, "ada")), "back", 1.0)] == 1
        w.execute(f"DELETE FROM {LINKS} WHERE id IN (100, 101)")
        w.execute(f"DELETE FROM {PEOPLE} WHERE id = 'new <one>'")
        w.execute("SELECT graph.apply_sync()")


def test_a_caller_who_cannot_read_a_table_gets_no_node_of_it(world):
    args = {"seed_table": THINGS, "seed_id": "1", "direction": "any", "max_depth": 5, "label_property": "title"}
    with connect(world) as c:
        everything = read_graphml(export(c, "graphml", args))
        assert any(d["table"] == PEOPLE for _, d in everything.nodes(data=True))
        c.execute("SET ROLE gs_export_reader")
        for fmt in ("dot", "mermaid"):
            text = export(c, fmt, args)
            assert "ada" not in text and "ople" not in text
        g = read_graphml(export(c, "graphml", args))
        nodes, _ = traversal(c, args)
        assert set(g.nodes) == {gid(n) for n in nodes} == {gid((THINGS, "1"))}
        assert g.number_of_edges() == 0
        assert_clean(error_of(c, *call("export_graphml", {"seed_table": PEOPLE, "seed_id": "ada"})),
                     "42501", "permission denied for table")
        c.execute("RESET ROLE")


def test_with_label_property_the_sources_row_level_security_applies(world):
    args = {"seed_table": PEOPLE, "seed_id": "ada", "max_depth": 2, "direction": "any"}
    with connect(world) as c:
        c.execute(f"GRANT SELECT ON {PEOPLE} TO gs_export_reader")
        c.execute(f"ALTER TABLE {PEOPLE} ENABLE ROW LEVEL SECURITY")
        c.execute(f"CREATE POLICY hide_bob ON {PEOPLE} USING (id <> 'b\"ob')")
        try:
            c.execute("SET ROLE gs_export_reader")
            plain = read_graphml(export(c, "graphml", args))
            named = read_graphml(export(c, "graphml", dict(args, label_property="name")))
            nodes, _ = traversal(c, dict(args, hydrate=True))
            c.execute("RESET ROLE")
            assert gid((PEOPLE, 'b"ob')) not in plain  # row-level security applies to every read
            assert set(named.nodes) == set(plain.nodes) == {gid(n) for n in nodes}
            assert gid((PEOPLE, 'b"ob')) not in named
            assert named.nodes[gid((PEOPLE, "ada"))]["name"] == "name of ada"
        finally:
            c.execute("RESET ROLE")
            c.execute(f"DROP POLICY hide_bob ON {PEOPLE}")
            c.execute(f"ALTER TABLE {PEOPLE} DISABLE ROW LEVEL SECURITY")
            c.execute(f"REVOKE SELECT ON {PEOPLE} FROM gs_export_reader")


# -- bad arguments -----------------------------------------------------------------

BAD = [
    ({"seed_table": PEOPLE, "seed_id": "ada", "label_property": "nope"}, "42703", "nope"),
    ({"seed_table": PEOPLE, "seed_id": "ada", "max_depth": -1}, "22023", "max_depth"),
    ({"seed_table": PEOPLE, "seed_id": "ada", "direction": "up"}, "22023", "out, in, any"),
    ({"seed_table": PEOPLE, "seed_id": "ada", "max_nodes": 0}, "22023", "max_nodes"),
    ({"seed_table": PEOPLE, "seed_id": None}, "22004", "NULL"),
    ({"seed_table": PEOPLE, "seed_id": "ada", "edge_types": [None]}, "22004", "edge_types"),
    ({"seed_table": PEOPLE, "seed_id": "ada", "filter": '{"nope": 1}'}, "22023", "graph.add_filter_column"),
    ({"seed_tables": [PEOPLE], "seed_ids": ["ada", "b\"ob"]}, "22023", "same length"),
    ({"seed_table": THINGS, "seed_id": "abc"}, "22P02", "invalid input syntax for type integer"),
    ({"seed_table": LINKS, "seed_id": "1"}, "55000", "li"),
]


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "graphml"])
def test_bad_arguments_are_refused_with_one_clear_line(world, fmt):
    with connect(world) as c:  # one session for all the cases: a new one loads the package again
        for args, sqlstate, fragment in BAD:
            assert_clean(error_of(c, *call("export_" + fmt, args)), sqlstate, fragment)


def test_an_unknown_table_is_postgresql_s_own_error(world):
    with connect(world) as c:
        assert_clean(error_of(c, "SELECT graph.export_dot('x.nope', '1')"), "42P01", "x.nope")


def test_an_unknown_seed_exports_an_empty_graph(world):
    with connect(world) as c:
        g = read_graphml(export(c, "graphml", {"seed_table": PEOPLE, "seed_id": "nobody"}))
        assert g.number_of_nodes() == 0 and g.graph["capped"] is False
        assert parse_mermaid(export(c, "mermaid", {"seed_table": PEOPLE, "seed_id": "nobody"}))["nodes"] == {}
        dot = export(c, "dot", {"seed_table": PEOPLE, "seed_id": "nobody"})
        if DOT is not None:
            assert subprocess.run([DOT, "-Tsvg"], input=dot.encode(), capture_output=True).returncode == 0


def test_exports_run_as_the_caller_with_a_pinned_search_path(world):
    with connect(world) as c:
        rows = c.execute("SELECT p.proname::text, p.prosecdef, p.proconfig FROM pg_proc AS p"
                         " WHERE p.pronamespace = 'graph'::regnamespace AND p.proname LIKE 'export\\_%'"
                         " ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == ["export_dot", "export_graphml", "export_mermaid"]
        for _, definer, config in rows:
            assert definer is False and config == ["search_path=pg_catalog, pg_temp"]


def test_the_three_exports_share_one_internal_function(world):
    """graph.export_dot/_mermaid/_graphml call graph._export with their format; it
    is the one internal export function, runs as the caller with its search_path and
    output settings pinned, one plan per statement, planned without sequential scans
    or JIT (a read function: sql/plan-settings.sql), and
    refuses a format it has no renderer for."""
    with connect(world) as c:
        rows = c.execute("SELECT p.proname::text, p.prosecdef, p.proconfig FROM pg_proc AS p"
                         " WHERE p.pronamespace = 'graph'::regnamespace AND p.proname LIKE '\\_export%'"
                         " ORDER BY 1").fetchall()
        assert rows == [("_export", False, ["search_path=pg_catalog, pg_temp", "DateStyle=ISO, YMD", "TimeZone=UTC",
                                            "IntervalStyle=postgres", "extra_float_digits=3", "bytea_output=hex",
                                            "lc_monetary=C", "standard_conforming_strings=on", "array_nulls=on",
                                            "plan_cache_mode=force_generic_plan", "enable_seqscan=off",
                                            "jit=off"])]  # (sql/output-settings.sql, sql/plan-settings.sql)
        for fmt in ("dot", "mermaid", "graphml"):
            public = c.execute(f"SELECT graph.export_{fmt}(%s, 'ada', direction => 'any', label_property => 'name')",
                               (PEOPLE,)).fetchone()[0]
            internal = c.execute("SELECT graph._export(%s, %s, 'ada', 6, 'any', NULL, NULL, NULL, NULL,"
                                 " 10000, 'name', NULL, NULL)", (fmt, PEOPLE)).fetchone()[0]
            assert internal == public and public
        with pytest.raises(psycopg.errors.InvalidParameterValue) as err:
            c.execute("SELECT graph._export('svg', %s, 'ada', 6, 'any', NULL, NULL, NULL, NULL, 10000,"
                      " NULL, NULL, NULL)", (PEOPLE,))
        assert err.value.diag.message_primary == ("graphsync: unknown export format svg: expected one of dot, mermaid,"
                                                  " graphml")
