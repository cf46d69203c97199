"""The motivating schema of README "Modelling your schema" end to end: entities under a
(workspace_id, id) key with JSONB references (a scalar projectId, an assignees array),
a soft-deleted relations join table, soft-deleted entities, two workspaces. Random churn
-- deleting referenced entities, moving references, soft-deleting and restoring
relations and entities, racing duplicate relation inserts from concurrent connections
-- with replays in between; then verify() is empty, and every node's out-edges,
traversals and shortest paths equal a NetworkX oracle built from the tables with the
same rules, before and after a rebuild."""

import io
import json
import random
import re
import threading
import uuid

import networkx as nx
import pytest

from conftest import apply, connect, verify

WORKSPACES = [str(uuid.UUID(int=i)) for i in (1, 2)]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TYPES = ["blocks", "relates", "duplicates"]

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.entities (
    workspace_id uuid, id uuid, type text, properties jsonb, deleted_at timestamptz,
    PRIMARY KEY (workspace_id, id));
CREATE TABLE app.relations (
    workspace_id uuid, id uuid PRIMARY KEY, source_entity_id uuid, target_entity_id uuid,
    type text, deleted_at timestamptz);
"""

REGISTER = """
SELECT graph.add_table('app.entities', columns => '{type}', tenant_column => 'workspace_id',
                       row_filter => 'deleted_at IS NULL');
SELECT graph.add_edge('app.entities', NULL, 'app.entities', via_table => 'app.relations',
                      from_columns => '{workspace_id,source_entity_id}',
                      to_columns => '{workspace_id,target_entity_id}',
                      label_column => 'type', row_filter => 'deleted_at IS NULL');
SELECT graph.add_edge('app.entities', NULL, 'app.entities',
                      from_columns => '{workspace_id,properties}', json_path => '{projectId}');
SELECT graph.add_edge('app.entities', NULL, 'app.entities',
                      from_columns => '{workspace_id,properties}', json_path => '{assignees}');
"""


def key(ws, eid):
    return "(%s,%s)" % (ws, eid)


def referenced(value):
    """The entity ids a JSON value at a path references, by the rules of json_path."""
    values = value if isinstance(value, list) else [value]
    return [v.lower() for v in values if isinstance(v, str) and UUID.match(v)]


def oracle(c):
    """MultiDiGraph of the visible graph, from the tables by the registered rules."""
    g = nx.MultiDiGraph()
    rows = c.execute("SELECT workspace_id::text, id::text, properties, deleted_at IS NULL FROM app.entities").fetchall()
    for ws, eid, _props, alive in rows:
        if alive:
            g.add_node(key(ws, eid))
    edges = []
    for ws, eid, props, _alive in rows:
        for path in ("projectId", "assignees"):
            if isinstance(props, dict) and path in props:
                edges += [(key(ws, eid), key(ws, t), path) for t in referenced(props[path])]
    for ws, src, dst, typ in c.execute(
            "SELECT workspace_id::text, source_entity_id::text, target_entity_id::text, type FROM app.relations"
            " WHERE deleted_at IS NULL AND workspace_id IS NOT NULL AND source_entity_id IS NOT NULL"
            " AND target_entity_id IS NOT NULL").fetchall():
        edges.append((key(ws, src), key(ws, dst), typ if typ is not None else "relations"))
    for a, b, label in edges:
        if a in g and b in g:
            g.add_edge(a, b, label=label)
    return g


def graph_out_edges(c, node):
    text = c.execute("SELECT graph.export_graphml(seed_table => 'app.entities', seed_id => %s, max_depth => 1)",
                     (node,)).fetchone()[0]
    g = nx.read_graphml(io.BytesIO(text.encode()), force_multigraph=True)
    seed = next(n for n, d in g.nodes(data=True) if d["depth"] == 0)
    return sorted((g.nodes[v]["key"], d["label"]) for u, v, d in g.edges(data=True) if u == seed)


def check_against_oracle(c, rng):
    assert verify(c) == []
    g = oracle(c)
    alive = sorted(r[0] for r in c.execute(
        "SELECT pk FROM graph._nodes WHERE alive AND table_oid = 'app.entities'::regclass"))
    assert alive == sorted(g.nodes)
    labels = {d["label"] for _, _, d in g.edges(data=True)}
    assert len(g) > 10 and {"projectId", "assignees"} <= labels and labels & set(TYPES)  # not a trivial graph
    for node in g.nodes:
        assert graph_out_edges(c, node) == sorted((v, d["label"]) for _, v, d in g.out_edges(node, data=True)), node
        reached = {r[0]: r[1] for r in c.execute(
            "SELECT node_id, depth FROM graph.traverse(seed_table => 'app.entities', seed_id => %s, max_depth => 3)",
            (node,))}
        assert reached == nx.single_source_shortest_path_length(g, node, cutoff=3), node
    nodes = sorted(g.nodes)
    for _ in range(30):
        a, b = rng.choice(nodes), rng.choice(nodes)
        steps = [r[0] for r in c.execute(
            "SELECT step FROM graph.shortest_path('app.entities', %s, 'app.entities', %s)", (a, b))]
        expected = nx.shortest_path_length(g, a, b) if nx.has_path(g, a, b) else None
        assert (max(steps) if steps else None) == expected, (a, b)


class World:
    """The entities and relations a seeded random churn works on, written through SQL."""

    def __init__(self, c, rng):
        self.c, self.rng = c, rng
        self.entities = {ws: [] for ws in WORKSPACES}

    def some_id(self, ws):
        ids = self.entities[ws]
        return self.rng.choice(ids) if ids else str(uuid.uuid4())

    def reference(self, ws):
        """A JSON value where an entity id may be: mostly ids, some that are no key."""
        r = self.rng.random()
        if r < 0.55:
            return self.some_id(ws)
        if r < 0.65:
            return self.some_id(ws).upper()
        if r < 0.72:
            return self.some_id(self.rng.choice(WORKSPACES))  # maybe the other workspace's
        if r < 0.8:
            return str(uuid.uuid4())  # an entity that never existed
        return self.rng.choice(["n/a", 7, None, {"id": self.some_id(ws)}, ""])

    def properties(self, ws):
        props = {"title": "t%d" % self.rng.randrange(1000)}
        if self.rng.random() < 0.8:
            props["projectId"] = self.reference(ws)
        r = self.rng.random()
        if r < 0.6:
            props["assignees"] = [self.reference(ws) for _ in range(self.rng.randrange(4))]
        elif r < 0.8:
            props["assignees"] = self.reference(ws)
        return props

    def insert_entity(self, ws=None):
        ws = ws or self.rng.choice(WORKSPACES)
        eid = str(uuid.uuid4())
        self.c.execute("INSERT INTO app.entities VALUES (%s, %s, %s, %s::jsonb, NULL)",
                       (ws, eid, self.rng.choice(["task", "project", "person"]), _json(self.properties(ws))))
        self.entities[ws].append(eid)

    def insert_relation(self, ws=None):
        ws = ws or self.rng.choice(WORKSPACES)
        self.c.execute("INSERT INTO app.relations VALUES (%s, %s, %s, %s, %s, NULL)",
                       (ws, str(uuid.uuid4()), self.some_id(ws), self.some_id(ws), self.rng.choice(TYPES)))

    def step(self):
        ws = self.rng.choice(WORKSPACES)
        op = self.rng.choice(["insert_entity", "insert_relation", "delete_entity", "soft_delete_entity",
                              "restore_entity", "move_reference", "edit_title", "soft_delete_relation",
                              "restore_relation", "move_relation", "delete_relation"])
        c = self.c
        if op in ("insert_entity", "insert_relation"):
            getattr(self, op)(ws)
        elif op == "delete_entity" and self.entities[ws]:
            eid = self.entities[ws].pop(self.rng.randrange(len(self.entities[ws])))
            c.execute("DELETE FROM app.entities WHERE workspace_id = %s AND id = %s", (ws, eid))
        elif op == "soft_delete_entity":
            c.execute("UPDATE app.entities SET deleted_at = now() WHERE workspace_id = %s AND id = %s",
                      (ws, self.some_id(ws)))
        elif op == "restore_entity":
            c.execute("UPDATE app.entities SET deleted_at = NULL WHERE workspace_id = %s AND id = %s",
                      (ws, self.some_id(ws)))
        elif op == "move_reference":
            path = self.rng.choice(["projectId", "assignees"])
            c.execute("UPDATE app.entities SET properties = jsonb_set(coalesce(properties, '{}'), %s, %s::jsonb)"
                      " WHERE workspace_id = %s AND id = %s",
                      ([path], _json(self.properties(ws).get(path)), ws, self.some_id(ws)))
        elif op == "edit_title":
            c.execute("UPDATE app.entities SET properties = properties || '{\"title\": \"x\"}'"
                      " WHERE workspace_id = %s", (ws,))
        elif op in ("soft_delete_relation", "restore_relation", "move_relation", "delete_relation"):
            rel = c.execute("SELECT id FROM app.relations WHERE workspace_id = %s ORDER BY random() LIMIT 1",
                            (ws,)).fetchone()
            if rel is None:
                return
            if op == "soft_delete_relation":
                c.execute("UPDATE app.relations SET deleted_at = now() WHERE id = %s", rel)
            elif op == "restore_relation":
                c.execute("UPDATE app.relations SET deleted_at = NULL WHERE id = %s", rel)
            elif op == "move_relation":
                c.execute("UPDATE app.relations SET target_entity_id = %s WHERE id = %s", (self.some_id(ws), rel[0]))
            else:
                c.execute("DELETE FROM app.relations WHERE id = %s", rel)


def _json(value):
    return json.dumps(value)


def race_duplicate_relations(dsn, ws, src, dst):
    """Two sessions insert the same relation 'if it is not there yet': B checks while A's
    insert is uncommitted, so both insert, and B commits first (A holds the lower log id)."""
    insert = ("INSERT INTO app.relations SELECT %s, %s, %s, %s, 'blocks', NULL WHERE NOT EXISTS ("
              " SELECT FROM app.relations WHERE workspace_id = %s AND source_entity_id = %s"
              " AND target_entity_id = %s AND deleted_at IS NULL)")
    a_inserted, b_committed = threading.Event(), threading.Event()
    inserted = []

    def a():
        with connect(dsn) as c, c.transaction():
            inserted.append(c.execute(insert, (ws, str(uuid.uuid4()), src, dst, ws, src, dst)).rowcount)
            a_inserted.set()
            assert b_committed.wait(timeout=60)

    def b():
        assert a_inserted.wait(timeout=60)
        with connect(dsn) as c, c.transaction():
            inserted.append(c.execute(insert, (ws, str(uuid.uuid4()), src, dst, ws, src, dst)).rowcount)
        b_committed.set()

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return inserted


@pytest.fixture(scope="module")
def world(db):
    with connect(db) as c:
        c.execute(SCHEMA)
        rng = random.Random(20261130)
        w = World(c, rng)
        for ws in WORKSPACES:
            for _ in range(12):
                w.insert_entity(ws)
        for _ in range(20):
            w.insert_relation()
        c.execute(REGISTER)
        c.execute("SELECT graph.build()")
    return db, w


def test_churn_replays_to_the_oracle_and_a_rebuild_agrees(world):
    dsn, w = world
    rng = random.Random(7)
    with connect(dsn) as c, connect(dsn) as applier:
        w.c = c
        check_against_oracle(c, rng)
        raced = 0
        for i in range(400):
            w.step()
            if i % 40 == 39:
                ws = rng.choice(WORKSPACES)
                raced += sum(race_duplicate_relations(dsn, ws, w.some_id(ws), w.some_id(ws)))
            if i % 70 == 69:
                apply(applier)
        apply(applier)
        duplicates = c.execute("""SELECT count(*) FROM (SELECT FROM app.relations WHERE deleted_at IS NULL
                                  GROUP BY workspace_id, source_entity_id, target_entity_id, type
                                  HAVING count(*) > 1) AS d""").fetchone()[0]
        assert raced > 0 and duplicates > 0  # the races left duplicate relations, each an edge
        check_against_oracle(c, rng)
        before = {n: graph_out_edges(c, n) for n in oracle(c).nodes}
        c.execute("SELECT graph.build()")
        assert {n: graph_out_edges(c, n) for n in oracle(c).nodes} == before
        check_against_oracle(c, rng)
