"""A traversal under a source table's row-level security asks about the rows of
the nodes it reaches, not every row the reader can see (reads.access.Unresolved,
reads/row_policy.py): it reads a few rows of a large secured table, through the
table's key index, and answers what a breadth-first search over the rows the
reader sees answers, in every direction, at every depth, with every restriction.

Real roles, each reading through its own connection; the reference is computed
here from the tables as the reader's own SELECT shows them."""

import random
import re
from collections import Counter

import pytest

from conftest import apply, connect, rows_read
from rls_helpers import bfs, reader, with_schema

READER = "gs_rr_reader"
ITEMS, DOCS, TAGS = 12000, 3000, 40
SEED = 20261205


def _schema():
    rnd = random.Random(SEED)
    items = [(i, rnd.randrange(3), rnd.randrange(1, i) if i > 1 and rnd.random() < 0.9 else None,
              rnd.randrange(1, TAGS + 1) if rnd.random() < 0.3 else None) for i in range(1, ITEMS + 1)]
    links = {(rnd.randrange(1, ITEMS + 1), rnd.randrange(1, ITEMS + 1)) for _ in range(2 * ITEMS)}
    docs = [(("t%d" % rnd.randrange(3)), "d%04d" % i, rnd.randrange(1, ITEMS + 1)) for i in range(DOCS)]
    values = ", ".join("(%d, %d, %s, %s)" % (i, team, "NULL" if p is None else p, "NULL" if t is None else t)
                       for i, team, p, t in items)
    return f"""
DROP SCHEMA IF EXISTS rr CASCADE;
CREATE SCHEMA rr;
CREATE TABLE rr.tags (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rr.items (id int PRIMARY KEY, team int NOT NULL, parent_id int, tag_id int);
CREATE TABLE rr.links (src int NOT NULL, dst int NOT NULL, PRIMARY KEY (src, dst));
CREATE TABLE rr.docs (team text NOT NULL, code text NOT NULL, item_id int NOT NULL, PRIMARY KEY (team, code));
INSERT INTO rr.tags SELECT g, 'tag ' || g FROM generate_series(1, {TAGS}) AS g;
INSERT INTO rr.items VALUES {values};
INSERT INTO rr.links VALUES {", ".join("(%d, %d)" % link for link in sorted(links))};
INSERT INTO rr.docs VALUES {", ".join("('%s', '%s', %d)" % d for d in docs)};
ANALYZE rr.items, rr.docs;
SELECT graph.add_table('rr.tags');
SELECT graph.add_table('rr.items');
SELECT graph.add_table('rr.docs');
SELECT graph.add_edge('rr.items', 'parent_id', 'rr.items', label => 'parent');
SELECT graph.add_edge('rr.items', 'tag_id', 'rr.tags', label => 'tagged');
SELECT graph.add_edge('rr.docs', 'item_id', 'rr.items', label => 'about');
SELECT graph.add_edge('rr.items', 'src', 'rr.items', to_column => 'dst', via_table => 'rr.links', label => 'link');
SELECT graph.build();
DROP ROLE IF EXISTS {READER};
CREATE ROLE {READER};
GRANT USAGE ON SCHEMA rr TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA rr TO {READER};
ALTER TABLE rr.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE rr.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_team ON rr.items FOR SELECT USING (team::text = current_setting('rr.team', true));
CREATE POLICY by_team ON rr.docs FOR SELECT USING (team = 't' || current_setting('rr.team', true));
"""


@pytest.fixture(scope="module")
def rr_db(db):
    return with_schema(db, _schema())


def as_reader(dsn, team="1"):
    return reader(dsn, READER, {"rr.team": team})


class Reference:
    """The graph as the reader sees it, from the tables: nodes of rows it can
    SELECT (every tag), edges of the visible rows (links: every row), and a
    breadth-first search over them."""

    def __init__(self, c):
        self.nodes = {("rr.tags", str(i)) for (i,) in c.execute("SELECT id FROM rr.tags")}
        self.out = {}
        for i, parent, tag in c.execute("SELECT id, parent_id, tag_id FROM rr.items"):
            self.nodes.add(("rr.items", str(i)))
            if parent is not None:
                self._edge(("rr.items", str(i)), ("rr.items", str(parent)), "parent")
            if tag is not None:
                self._edge(("rr.items", str(i)), ("rr.tags", str(tag)), "tagged")
        for team, code, item in c.execute("SELECT team, code, item_id FROM rr.docs"):
            doc = ("rr.docs", "(%s,%s)" % (team, code))
            self.nodes.add(doc)
            self._edge(doc, ("rr.items", str(item)), "about")
        for src, dst in c.execute("SELECT src, dst FROM rr.links"):
            self._edge(("rr.items", str(src)), ("rr.items", str(dst)), "link")

    def _edge(self, a, b, label):
        self.out.setdefault(("out", a), []).append((b, label))
        self.out.setdefault(("in", b), []).append((a, label))

    def bfs(self, seed, depth, direction, labels=None, tables=None):
        """{(table, id): depth} of the nodes a breadth-first search reaches."""
        return bfs(self.nodes, self.out, seed, depth, direction, labels, tables)


def seq_scans(c, table):
    return c.execute("SELECT coalesce(seq_scan, 0) FROM pg_stat_xact_all_tables WHERE relid = %s::regclass",
                     (table,)).fetchone()[0]


def index_scans(c, table):
    return c.execute("SELECT coalesce(idx_scan, 0) FROM pg_stat_xact_all_tables WHERE relid = %s::regclass",
                     (table,)).fetchone()[0]


TRAVERSE = ("SELECT node_table::text, node_id, depth FROM graph.traverse(%s::regclass, %s, max_depth => %s,"
            " direction => %s, edge_types => %s, node_tables => %s::regclass[], strategy => %s)")


def test_a_traversal_reads_only_the_rows_it_reaches_of_a_secured_table(rr_db):
    """A depth-2 traversal from one item under the items' policy reads some tens of
    rows of rr.items through its key index, not the 12,000 rows (nor the 4,000 the
    reader sees) that every read asked before; a read of every node (components)
    reads the table whole, as before, without asking a key alone first."""
    with as_reader(rr_db) as c:
        ref = Reference(c)
        seed = next(n for n in sorted(ref.nodes) if n[0] == "rr.items" and 8 <= len(ref.bfs(n, 2, "any")) <= 20)[1]
        with c.transaction():  # (the counts of the backend's transactions not yet reported: a difference)
            before = rows_read(c, "rr.items"), seq_scans(c, "rr.items")
            got = c.execute(TRAVERSE, ("rr.items", seed, 2, "any", None, None, "bfs")).fetchall()
            read = rows_read(c, "rr.items") - before[0]
            scans = seq_scans(c, "rr.items") - before[1]
        assert {(t, i): d for t, i, d in got} == ref.bfs(("rr.items", seed), 2, "any")
        assert len(got) > 5
        assert scans == 0
        assert read < 200, read
        with c.transaction():  # every row, as before, and no key asked alone first (row_policy.WHOLE)
            before = rows_read(c, "rr.items"), index_scans(c, "rr.items")
            c.execute("SELECT count(*) FROM graph.connected_components()").fetchone()
            assert rows_read(c, "rr.items") - before[0] >= ITEMS
            assert index_scans(c, "rr.items") - before[1] == 0


@pytest.mark.parametrize("team", ["1", "2"])
def test_traversals_under_row_level_security_answer_as_a_search_over_the_visible_rows(rr_db, team):
    """Every direction, depths 0-6, both strategies' node sets (bfs: each node at its
    least depth), edge_types and node_tables, from visible seeds of every secured
    table and from a tag (no row-level security) that links both teams' items."""
    with as_reader(rr_db, team) as c:
        check_traversals(c, random.Random(SEED + int(team)))


def check_traversals(c, rnd, seeds=14):
    """Traversals from a few seeds ``c``'s reader sees (two tags and ``seeds`` others)
    answer as Reference does (see above)."""
    ref = Reference(c)
    chosen = [("rr.tags", "1"), ("rr.tags", "2")] + rnd.sample(sorted(n for n in ref.nodes if n[0] != "rr.tags"), seeds)
    for k, seed in enumerate(chosen):
        direction = ("out", "in", "any")[k % 3]
        for depth in (0, 1, 2, 3, 6) if k < 6 else (rnd.choice((2, 3, 4)),):
            want = ref.bfs(seed, depth, direction)
            got = c.execute(TRAVERSE, (seed[0], seed[1], depth, direction, None, None, "bfs")).fetchall()
            assert {(t, i): d for t, i, d in got} == want, (seed, depth, direction)
            assert len(got) == len(want)
            dfs = c.execute(TRAVERSE, (seed[0], seed[1], depth, direction, None, None, "dfs")).fetchall()
            assert {(t, i) for t, i, _ in dfs} <= set(want)
            assert {(t, i) for t, i, _ in dfs} >= {n for n, d in want.items() if d <= 1}  # (any depth: DFS)
        labels, tables = ["link", "about"], ["rr.items", "rr.docs"]
        got = c.execute(TRAVERSE, (seed[0], seed[1], 3, "any", labels, tables, "bfs")).fetchall()
        want = ref.bfs(seed, 3, "any", set(labels), set(tables))
        assert {(t, i): d for t, i, d in got} == want, seed
        check_paths(c, ref, seed, direction, rnd)


def check_paths(c, ref, seed, direction, rnd):
    """shortest_path from ``seed`` to a few nodes: as long as Reference's search says,
    each step an edge of a row the reader sees; none to a node out of reach."""
    near = ref.bfs(seed, 4, direction)
    ends = rnd.sample(sorted(near), min(3, len(near)))
    ends.append(next(n for n in sorted(ref.nodes) if n not in ref.bfs(seed, 4, direction)))
    for end in ends:
        path = [(t, i) for t, i in c.execute(
            "SELECT node_table::text, node_id FROM graph.shortest_path(%s::regclass, %s, %s::regclass, %s,"
            " max_depth => 4, direction => %s) ORDER BY step", (*seed, *end, direction))]
        if end not in near:
            assert path == [], (seed, end)
            continue
        assert len(path) == near[end] + 1 and path[0] == seed and path[-1] == end, (seed, end, path)
        ways = {"out": ("out",), "in": ("in",), "any": ("out", "in")}[direction]
        for a, b in zip(path[:-1], path[1:], strict=True):
            assert b in {v for way in ways for v, _ in ref.out.get((way, a), ())}, (seed, end, path)


@pytest.fixture
def secured_links(rr_db):
    """rr.links under row-level security too: each reader sees the links whose
    ends' sum is not its team number modulo 3 (two in three), with an index on
    each end column (``indexed``) or on its key's first column only."""
    def secure(indexed):
        with connect(rr_db) as admin:
            if indexed:
                admin.execute("CREATE INDEX links_dst ON rr.links (dst)")
            admin.execute("ALTER TABLE rr.links ENABLE ROW LEVEL SECURITY")
            admin.execute("CREATE POLICY by_team ON rr.links FOR SELECT"
                          " USING ((src + dst) % 3 <> current_setting('rr.team', true)::int)")
        return rr_db
    yield secure
    with connect(rr_db) as admin:
        admin.execute("DROP POLICY IF EXISTS by_team ON rr.links")
        admin.execute("ALTER TABLE rr.links DISABLE ROW LEVEL SECURITY")
        admin.execute("DROP INDEX IF EXISTS rr.links_dst")


def entries_read(c, table):
    """The entries of ``table``'s indexes this transaction read: a read planned without
    sequential scans (sql/plan-settings.sql) may read a table whole by an index-only
    scan, which fetches no row of a table autovacuum has marked all-visible."""
    return c.execute("SELECT coalesce(sum(pg_catalog.pg_stat_get_xact_tuples_returned(i.indexrelid)), 0)"
                     " FROM pg_catalog.pg_index AS i WHERE i.indrelid = %s::regclass", (table,)).fetchone()[0]


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "key-index-only"])
def test_traversals_under_a_join_tables_row_level_security_too(secured_links, indexed):
    """With the join table secured as well, a traversal asks it for the rows of the
    nodes it expands through the indexes on its end columns (a depth-2 read reads
    some tens of its 24,000 rows), and answers as a search over the rows the
    reader sees; without an index on an end column it reads the visible rows
    whole, as before, and answers the same."""
    dsn = secured_links(indexed)
    for team in ("1", "2"):
        with as_reader(dsn, team) as c:
            assert c.execute("SELECT count(*) FROM rr.links").fetchone()[0] < 2 * ITEMS
            check_traversals(c, random.Random(SEED + 7 * int(team)), seeds=8)
    with as_reader(dsn, "1") as c:
        ref = Reference(c)
        seed = next(n for n in sorted(ref.nodes) if n[0] == "rr.items" and 8 <= len(ref.bfs(n, 2, "any")) <= 20)
        with c.transaction():
            before = rows_read(c, "rr.links") + entries_read(c, "rr.links")
            got = c.execute(TRAVERSE, (*seed, 2, "any", None, None, "bfs")).fetchall()
            read = rows_read(c, "rr.links") + entries_read(c, "rr.links") - before
        assert {(t, i): d for t, i, d in got} == ref.bfs(seed, 2, "any")
        if indexed:
            assert read < 300, read
        else:
            assert read >= 2 * ITEMS * 0.9, read
        # an export draws every edge among the nodes found whose row the reader sees, and
        # no other: of the links among them, some are hidden from it
        with connect(dsn) as admin:
            every = Reference(admin)
        hidden = 0
        for tag in ("1", "2", "3"):
            graphml = c.execute("SELECT graph.export_graphml('rr.tags', %s, max_depth => 3, direction => 'any')",
                                (tag,)).fetchone()[0]
            shown = {tuple(n.split(":", 1)) for n in re.findall(r'<node id="([^"]+)"', graphml)}
            assert shown == set(ref.bfs(("rr.tags", tag), 3, "any"))
            drawn = Counter((tuple(a.split(":", 1)), tuple(b.split(":", 1)), label) for a, b, label in re.findall(
                r'<edge id="e[0-9]+" source="([^"]+)" target="([^"]+)">\s*<data key="d5">([^<]*)</data>', graphml))
            assert drawn == among(ref, shown)
            hidden += sum((among(every, shown) - drawn).values())
        assert hidden > 0


def among(ref, shown):
    """Counter of the (from, to, label) edges of Reference ``ref`` between nodes of ``shown``."""
    return Counter((a, b, label) for (way, a), ends in ref.out.items() if way == "out" and a in shown
                   for b, label in ends if b in shown)


def test_a_hidden_seed_a_capped_walk_and_a_change_of_setting(rr_db):
    """A seed the reader cannot see gives nothing; a walk stopped by max_nodes
    returns only visible nodes; the policy's setting changed between two reads of
    one backend changes the answer (nothing of the earlier read is kept)."""
    with connect(rr_db) as admin:
        hidden = admin.execute("SELECT min(id)::text FROM rr.items WHERE team <> 1").fetchone()[0]
    with as_reader(rr_db, "1") as c:
        assert c.execute("SELECT count(*) FROM rr.items WHERE id = %s::int", (hidden,)).fetchone() == (0,)
        assert c.execute(TRAVERSE, ("rr.items", hidden, 3, "any", None, None, "bfs")).fetchall() == []
        ref = Reference(c)
        capped = c.execute("SELECT node_table::text, node_id, capped FROM graph.traverse('rr.tags', '1',"
                           " max_depth => 6, direction => 'any', max_nodes => 25)").fetchall()
        assert len(capped) == 25 and capped[-1][2]
        assert {(t, i) for t, i, _ in capped} <= ref.nodes
        first = {(t, i) for t, i, _ in c.execute(TRAVERSE, ("rr.tags", "1", 4, "any", None, None, "bfs"))}
        c.execute("SELECT set_config('rr.team', '2', false)")
        second = {(t, i) for t, i, _ in c.execute(TRAVERSE, ("rr.tags", "1", 4, "any", None, None, "bfs"))}
        assert second == set(Reference(c).bfs(("rr.tags", "1"), 4, "any"))
        assert first != second


def test_rows_written_since_the_build_are_seen_as_the_policy_says(rr_db):
    """Items and links written after the build (applied by the reader's read, which
    a secured table's reader does first) are reached when the reader sees them."""
    with connect(rr_db) as admin:
        admin.execute("INSERT INTO rr.items VALUES (90001, 1, 1, NULL), (90002, 2, 90001, NULL),"
                      " (90003, 1, 90002, NULL)")
        admin.execute("INSERT INTO rr.links VALUES (90003, 90001)")
        try:
            with as_reader(rr_db, "1") as c:
                got = {(t, i): d for t, i, d in c.execute(TRAVERSE, ("rr.items", "90003", 3, "any", None, None, "bfs"))}
                assert got == Reference(c).bfs(("rr.items", "90003"), 3, "any")
                assert ("rr.items", "90001") in got and ("rr.items", "90002") not in got
        finally:
            admin.execute("DELETE FROM rr.links WHERE src = 90003; DELETE FROM rr.items WHERE id > 90000")
            apply(admin)


def test_graph_nodes_policy_answers_key_by_key_then_reads_the_table_once(rr_db):
    """graph._nodes' policy asks a few keys of a table one at a time, through the
    key index, and past its limit reads every key the reader sees, once per
    statement: a count of every node of the table is right either way, and a look
    at a few nodes reads a few rows."""
    with as_reader(rr_db, "1") as c:
        visible = c.execute("SELECT count(*) FROM rr.items").fetchone()[0]
        with c.transaction():
            assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'rr.items'::regclass"
                             ).fetchone() == (visible,)
        docs = c.execute("SELECT count(*) FROM rr.docs").fetchone()[0]
        assert c.execute("SELECT count(*) FROM graph._nodes WHERE table_oid = 'rr.docs'::regclass"
                         ).fetchone() == (docs,)
        with connect(rr_db) as admin:
            ids, keys = zip(*admin.execute("SELECT node_id, pk FROM graph._nodes WHERE table_oid = 'rr.items'::regclass"
                                           " ORDER BY node_id LIMIT 40").fetchall(), strict=True)
        with c.transaction():  # (by node id: the key index of graph._nodes, the policy on those rows only)
            before = rows_read(c, "rr.items")
            few = c.execute("SELECT pk FROM graph._nodes WHERE node_id = ANY (%s)", (list(ids),)).fetchall()
            assert rows_read(c, "rr.items") - before <= 40
        want = c.execute("SELECT id::text FROM rr.items WHERE id::text = ANY (%s)", (list(keys),)).fetchall()
        assert 0 < len(want) < len(keys)
        assert sorted(few) == sorted(want)


def test_a_key_its_columns_type_now_refuses_is_no_error(rr_db):
    """A node whose key the key column's type refuses now (the row deleted, the
    delete not applied, the column's type changed) is asked about key by key too:
    the probe's cast fails, and the policy reads the table whole instead of
    failing the reader's statement with the key's text in its message."""
    with connect(rr_db) as admin:
        admin.execute("CREATE TABLE rr.codes (code text PRIMARY KEY, team int NOT NULL)")
        admin.execute("INSERT INTO rr.codes VALUES ('a secret code', 1), ('12', 1), ('13', 2)")
        admin.execute(f"GRANT SELECT ON rr.codes TO {READER}")
        admin.execute("SELECT graph.add_table('rr.codes')")
        admin.execute("SELECT graph.build()")
        admin.execute("ALTER TABLE rr.codes ENABLE ROW LEVEL SECURITY")
        admin.execute("CREATE POLICY by_team ON rr.codes FOR SELECT"
                      " USING (team::text = current_setting('rr.team', true))")
        admin.execute("DELETE FROM rr.codes WHERE code = 'a secret code'")
        admin.execute("ALTER TABLE rr.codes ALTER code TYPE int USING code::int")
        ids = dict(admin.execute("SELECT pk, node_id FROM graph._nodes WHERE table_oid = 'rr.codes'::regclass"))
        try:
            assert set(ids) == {"a secret code", "12", "13"}
            with as_reader(rr_db, "1") as c:
                got = c.execute("SELECT pk FROM graph._nodes WHERE node_id = ANY (%s)",
                                ([ids["a secret code"], ids["12"], ids["13"]],)).fetchall()
                assert got == [("12",)]
        finally:
            admin.execute("SELECT graph.remove_table('rr.codes', cascade => true)")
            admin.execute("DROP TABLE rr.codes")
            admin.execute("SELECT graph.build()")


def test_graph_labels_policy_reads_a_label_column_until_it_finds_the_label(rr_db):
    """graph._labels shows a reader the labels of the rows it can see (and the fixed
    labels), as a SELECT DISTINCT of the label column as the reader says; it finds
    the labels every team's rows hold in the table's first pages, so a read of
    graph._labels reads a few of its 20,000 rows, while a label only hidden rows hold
    is not shown (finding that out reads every page)."""
    with connect(rr_db) as admin:
        admin.execute("CREATE TABLE rr.tagged (id int PRIMARY KEY, item_id int NOT NULL, tag_id int NOT NULL,"
                      " kind text NOT NULL)")
        admin.execute("INSERT INTO rr.tagged SELECT g, 1 + g % 3000, 1 + g % 40,"
                      " (ARRAY['likes', 'wrote', 'saw'])[1 + g % 3] FROM generate_series(1, 20000) AS g")
        admin.execute("INSERT INTO rr.tagged VALUES (20001, 2, 2, 'team two only'), (20002, 3, 3, 'team one only')")
        admin.execute("CREATE INDEX ON rr.tagged (item_id); CREATE INDEX ON rr.tagged (tag_id)")
        admin.execute(f"GRANT SELECT ON rr.tagged TO {READER}")
        admin.execute("ALTER TABLE rr.tagged ENABLE ROW LEVEL SECURITY")
        admin.execute("CREATE POLICY by_team ON rr.tagged FOR SELECT USING (kind <> 'team two only'"
                      " AND (kind <> 'team one only' OR current_setting('rr.team', true) = '1'))")
        admin.execute("SELECT graph.add_edge('rr.items', 'item_id', 'rr.tags', to_column => 'tag_id',"
                      " via_table => 'rr.tagged', label_column => 'kind')")
        admin.execute("SELECT graph.build()")
        try:
            every = {r[0] for r in admin.execute("SELECT label FROM graph._labels")}
            assert {"team two only", "team one only"} <= every
            for team in ("1", "2"):
                with as_reader(rr_db, team) as c:
                    fixed = {r[0] for r in c.execute("SELECT label FROM graph._edge_sources WHERE label IS NOT NULL")}
                    want = fixed | {r[0] for r in c.execute("SELECT DISTINCT kind FROM rr.tagged")}
                    assert {r[0] for r in c.execute("SELECT label FROM graph._labels")} == want
                    assert "team two only" not in want and ("team one only" in want) == (team == "1")
            with as_reader(rr_db, "1") as c, c.transaction():
                before = rows_read(c, "rr.tagged")
                got = c.execute("SELECT label FROM graph._labels WHERE label IN ('likes', 'wrote', 'saw')").fetchall()
                assert len(got) == 3
                assert rows_read(c, "rr.tagged") - before < 2000
        finally:
            admin.execute("SELECT graph.remove_edge('rr.items', 'item_id', 'rr.tags', via_table => 'rr.tagged')")
            admin.execute("DROP TABLE rr.tagged")
            admin.execute("SELECT graph.build()")


def test_a_cancel_while_asking_about_a_row_stops_the_read(rr_db):
    """A statement timeout that fires while graph._nodes' policy asks the table about
    one row (its policy sleeps on that row) stops the read with 57014: the probe's
    failure is not caught and answered by reading the table whole instead (which
    would have run on without the timeout, the interrupt spent, and returned)."""
    import psycopg

    with connect(rr_db) as admin:
        slow = admin.execute("SELECT id FROM rr.items WHERE team = 1 AND parent_id IS NOT NULL ORDER BY id LIMIT 1"
                             ).fetchone()[0]
        admin.execute("CREATE POLICY slow ON rr.items AS RESTRICTIVE FOR SELECT"
                      f" USING (CASE WHEN id = {slow} THEN pg_sleep(1.5) IS NOT NULL ELSE true END)")
        try:
            with as_reader(rr_db, "1") as c:
                c.execute("SET statement_timeout = '300ms'")
                with pytest.raises(psycopg.errors.QueryCanceled):
                    c.execute(TRAVERSE, ("rr.items", str(slow), 1, "any", None, None, "bfs")).fetchall()
        finally:
            admin.execute("DROP POLICY slow ON rr.items")
