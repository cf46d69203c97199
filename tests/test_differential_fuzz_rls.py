"""Randomized differential test of graphsync's reads under row-level security, per role.

Source tables (schema rz) with policies that differ per role:
  rz.items   RLS: a tenant policy (app.tenant, for every command) OR owner_role = current_user
  rz.groups  owned by gs_fz_own, FORCE ROW LEVEL SECURITY: public OR owner_role = current_user
  rz.tags    no row-level security
  rz.secrets no row-level security; gs_fz_b may not SELECT it
  rz.links   join table items -> items (label column, weight, row filter NOT hidden, indexed ends),
             RLS: tenant = app.tenant OR rel = 'x'
  rz.member  join table groups <-> items (bidirectional, no index on its ends: read whole),
             RLS: role_name IS NULL OR role_name = current_user
Three LOGIN roles read (gs_fz_a, gs_fz_b, gs_fz_own) plus gs_fz_sw, which SET ROLEs
between gs_fz_a and gs_fz_b in one session. After random writes (superuser), graphsync's
answers (traverse in every direction, several depths and edge types, multi-seed
traverse, shortest_path, weighted_shortest_path, connected_components, component_of,
export_graphml nodes and edges) are compared with the truth computed BY THE SAME ROLE
IN THE SAME SESSION from the rows its own SELECTs return:
  (1) pending, read-only readers: tables whose row-level security applies to the reader
      are shown as last applied (README "Freshness", Row-level security), restricted to
      the rows the reader sees now; other tables folded;
  (2) pending, a read-write reader (applies first);
  (3) after apply_sync(); (4) after build().
Also: app.tenant changed between reads in one session; SET ROLE between reads; GRANT/REVOKE
between reads; reads inside a transaction of gs_fz_a that also writes."""

import io
import os
import random
from collections import Counter, defaultdict

import networkx as nx
import psycopg
import pytest

import graph_truth
from conftest import apply, as_role, connect, pending_count, verify
from graph_truth import adjacency

ITERATIONS = int(os.environ.get("RLSFUZZ_ITERATIONS", "25"))
SEED = int(os.environ.get("RLSFUZZ_SEED", "12"))

A, B, OWN, SW = "gs_fz_a", "gs_fz_b", "gs_fz_own", "gs_fz_sw"
TEN = "nullif(current_setting('app.tenant', true), '')::int"

SCHEMA = f"""
DROP SCHEMA IF EXISTS rz CASCADE;
CREATE SCHEMA rz;
CREATE TABLE rz.tags (id int PRIMARY KEY, name text);
CREATE TABLE rz.groups (id int PRIMARY KEY, owner_role text, public boolean NOT NULL DEFAULT false);
CREATE TABLE rz.items (id int PRIMARY KEY, tenant int NOT NULL, owner_role text,
                       parent_id int, grp_id int, tag_id int);
CREATE TABLE rz.secrets (id int PRIMARY KEY, item_id int);
CREATE TABLE rz.links (id serial PRIMARY KEY, tenant int, src int, dst int, rel text, w float8, hidden boolean);
CREATE INDEX ON rz.links (src);
CREATE INDEX ON rz.links (dst);
CREATE TABLE rz.member (id serial PRIMARY KEY, gid int, iid int, role_name text);
DO $$ BEGIN
  CREATE ROLE {A} LOGIN; CREATE ROLE {B} LOGIN; CREATE ROLE {OWN} LOGIN;
  CREATE ROLE {SW} LOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT {A}, {B} TO {SW};
GRANT USAGE ON SCHEMA rz TO {A}, {B}, {OWN};
GRANT SELECT ON rz.tags, rz.groups, rz.items, rz.links, rz.member TO {A}, {B}, {OWN};
GRANT SELECT ON rz.secrets TO {A}, {OWN};
GRANT INSERT, UPDATE, DELETE ON rz.items, rz.links TO {A};
GRANT USAGE ON SEQUENCE rz.links_id_seq TO {A};
ALTER TABLE rz.groups OWNER TO {OWN};
ALTER TABLE rz.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_tenant ON rz.items USING (tenant = {TEN});
CREATE POLICY p_owner ON rz.items FOR SELECT USING (owner_role = current_user);
ALTER TABLE rz.groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE rz.groups FORCE ROW LEVEL SECURITY;
CREATE POLICY p_grp ON rz.groups FOR SELECT USING (public OR owner_role = current_user);
ALTER TABLE rz.links ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_link ON rz.links USING (tenant = {TEN} OR rel = 'x');
ALTER TABLE rz.member ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_mem ON rz.member FOR SELECT USING (role_name IS NULL OR role_name = current_user);
CREATE POLICY p_link_w ON rz.links AS RESTRICTIVE FOR SELECT
    USING (coalesce(w, 1) < 3 OR current_user = '{OWN}');
ALTER TABLE rz.tags OWNER TO {B};
ALTER TABLE rz.tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_tag ON rz.tags FOR SELECT USING (id <= 2);
"""

REGISTER = """
SELECT graph.add_table('rz.tags');
SELECT graph.add_table('rz.groups', columns => '{owner_role}');
SELECT graph.add_table('rz.items', columns => '{owner_role}', tenant_column => 'tenant');
SELECT graph.add_table('rz.secrets');
SELECT graph.add_edge('rz.items', 'parent_id', 'rz.items', label => 'parent');
SELECT graph.add_edge('rz.items', 'grp_id', 'rz.groups', label => 'in_group');
SELECT graph.add_edge('rz.items', 'tag_id', 'rz.tags', label => 'tagged');
SELECT graph.add_edge('rz.secrets', 'item_id', 'rz.items', label => 'about', bidirectional => true);
SELECT graph.add_edge('rz.items', 'src', 'rz.items', to_column => 'dst', via_table => 'rz.links',
                      label => 'link', label_column => 'rel', weight_column => 'w', row_filter => 'NOT hidden');
SELECT graph.add_edge('rz.groups', 'gid', 'rz.items', to_column => 'iid', via_table => 'rz.member',
                      label => 'member', bidirectional => true);
"""

NODE_TABLES = ("rz.items", "rz.groups", "rz.tags", "rz.secrets")
ALL_TABLES = NODE_TABLES + ("rz.links", "rz.member")
LABELS = ["parent", "in_group", "tagged", "about", "link", "x", "y", "member"]
ROLES = [A, B, OWN, None]

ROW_SQL = {
    "rz.items": "SELECT id, tenant, parent_id, grp_id, tag_id, owner_role FROM rz.items",
    "rz.groups": "SELECT id, owner_role FROM rz.groups",
    "rz.tags": "SELECT id FROM rz.tags",
    "rz.secrets": "SELECT id, item_id FROM rz.secrets",
    "rz.links": "SELECT src, dst, coalesce(rel, 'link'), coalesce(w, 1)::float8, (NOT hidden) IS TRUE FROM rz.links",
    "rz.member": "SELECT gid, iid FROM rz.member",
}


def read_rows(c):
    """{table: rows} of every table ``c``'s current role may SELECT (its policies apply),
    plus the sets of tables it may SELECT and whose row-level security applies to it."""
    can, rls = set(), set()
    for t in ALL_TABLES:
        sel, active = c.execute("SELECT has_table_privilege(%s, 'SELECT'), row_security_active(%s)",
                                (t, t)).fetchone()
        if sel:
            can.add(t)
        if active:
            rls.add(t)
    rows = {t: [tuple(r) for r in c.execute(ROW_SQL[t])] if t in can else [] for t in ALL_TABLES}
    return rows, can, rls


def join_edges(table, rows):
    """Counter of the (u, v, label, w) edges a join table's rows carry (before end checks)."""
    out = Counter()
    for r in rows:
        if table == "rz.links":
            src, dst, label, w, passes = r
            if passes and src is not None and dst is not None:
                out[(("rz.items", str(src)), ("rz.items", str(dst)), label, float(w))] += 1
        else:
            gid, iid = r
            if gid is not None and iid is not None:
                u, v = ("rz.groups", str(gid)), ("rz.items", str(iid))
                out[(u, v, "member", 1.0)] += 1
                out[(v, u, "member", 1.0)] += 1
    return out


def model(current, can, rls, applied=None):
    """(nodes {node: tenant}, edges [(u, v, label, w)]) of the graph the role should see.
    ``current``: the rows the role's SELECTs return now; ``applied``: every row as last
    applied (superuser), or None when nothing is pending. With ``applied``, the tables
    whose row-level security applies to the role are shown as last applied, restricted
    to the rows the role sees now (README: such pending rows are never folded)."""
    stale = set(rls) if applied is not None else set()
    node_rows = {}
    for t in NODE_TABLES:
        if t not in can:
            node_rows[t] = []
        elif t in stale:
            seen = {r[0] for r in current[t]}
            node_rows[t] = [r for r in applied[t] if r[0] in seen]
        else:
            node_rows[t] = current[t]
    nodes = {}
    for t in NODE_TABLES:
        for r in node_rows[t]:
            # a stale node's tenant is the applied one (graph._nodes, asked by node id)
            nodes[(t, str(r[0]))] = str(r[1]) if t == "rz.items" else None
    edges = []

    def add(u, v, label, w=1.0):
        if u in nodes and v in nodes:
            edges.append((u, v, label, w))

    for i, _ten, parent, grp, tag, _owner in node_rows["rz.items"]:
        u = ("rz.items", str(i))
        if parent is not None:
            add(u, ("rz.items", str(parent)), "parent")
        if grp is not None:
            add(u, ("rz.groups", str(grp)), "in_group")
        if tag is not None:
            add(u, ("rz.tags", str(tag)), "tagged")
    for i, item in node_rows["rz.secrets"]:
        if item is not None:
            add(("rz.secrets", str(i)), ("rz.items", str(item)), "about")
            add(("rz.items", str(item)), ("rz.secrets", str(i)), "about")
    for t in ("rz.links", "rz.member"):
        if t not in can:
            continue  # with row-level security and no SELECT: no edge at all
        carried = join_edges(t, current[t])
        if t in stale:
            carried = carried & join_edges(t, applied[t])
        for (u, v, label, w), n in carried.items():
            for _ in range(n):
                add(u, v, label, w)
    return nodes, edges


def bfs(nodes, edges, seed, direction, labels=None, max_depth=6, tenant=None, node_tables=None):
    def ok(n):
        return n in nodes and (tenant is None or n[0] != "rz.items" or nodes[n] == tenant)
    return graph_truth.bfs(edges, seed, direction, ok,
                           None if node_tables is None else lambda v: v[0] in node_tables, labels, max_depth)


def dijkstra(nodes, edges, src, dst, direction):
    return graph_truth.dijkstra(edges, src, dst, direction, lambda n: n in nodes)


def components(nodes, edges, tenant=None):
    return graph_truth.components(nodes, edges,
                                  lambda n: tenant is None or n[0] != "rz.items" or nodes[n] == tenant)


class Mismatch(AssertionError):
    pass


class Checker:
    def __init__(self, rng):
        self.rng = rng
        self.checks = 0
        self.by_state = Counter()
        self.errors_expected = 0
        self.sizes = defaultdict(list)

    def plan(self, keys, stale):
        """Reads of one round. ``keys``: every node key (superuser), so seeds include rows
        the role cannot see. The tenant argument only where nothing is pending."""
        rng = self.rng
        keys = sorted(keys) + [("rz.items", "99"), ("rz.secrets", "1"), ("rz.groups", "2")]
        reads = []
        for _ in range(6):
            reads.append(("traverse", dict(
                seed=rng.choice(keys), direction=rng.choice(["out", "in", "any"]),
                labels=rng.choice([None, None, sorted(rng.sample(LABELS, rng.randrange(1, 4)))]),
                max_depth=rng.randrange(1, 5),
                node_tables=rng.choice([None, None, None, ["rz.items"], ["rz.items", "rz.groups"],
                                        ["rz.tags", "rz.secrets"]]),
                hydrate=rng.random() < 0.3,
                tenant=rng.choice([None, None, None, "1", "2"]))))
        for _ in range(3):
            reads.append(("path", dict(src=rng.choice(keys), dst=rng.choice(keys),
                                       direction=rng.choice(["out", "in", "any"]),
                                       labels=rng.choice([None, None, ["link", "x", "y", "parent"]]))))
        reads.append(("wpath", dict(src=rng.choice(keys), dst=rng.choice(keys), direction=rng.choice(["out", "any"]))))
        reads.append(("multi", dict(seeds=[rng.choice(keys) for _ in range(3)], direction=rng.choice(["out", "any"]),
                                    max_depth=rng.randrange(1, 4))))
        reads.append(("component_of", dict(seed=rng.choice(keys))))
        reads.append(("export", dict(seed=rng.choice(keys))))
        reads.append(("components", dict(tenant=rng.choice([None, "1", "3"]))))
        reads.append(("stats", dict()))
        return reads

    def run(self, c, reads, nodes, edges, can, where, props=None):
        self.props = props or {}
        self.sizes[where[0]].append((len(nodes), len(edges)))
        for kind, a in reads:
            self.checks += 1
            self.by_state[where[0]] += 1
            tables = {a[k][0] for k in ("seed", "src", "dst") if k in a} | {s[0] for s in a.get("seeds", ())}
            denied = not tables <= can
            if kind == "stats":
                denied = False
            try:
                with c.transaction():
                    self.one(c, kind, a, nodes, edges, (where, kind, a))
                if denied and kind not in ("components", "stats"):
                    raise Mismatch(f"no 42501 for a read of a table the role may not SELECT: {(where, kind, a)}")
            except psycopg.errors.InsufficientPrivilege as e:
                if not denied:
                    raise Mismatch(f"42501 {e} for {(where, kind, a)}") from e
                self.errors_expected += 1

    def one(self, c, kind, a, nodes, edges, ctx):
        if kind == "traverse":
            rows = c.execute(
                "SELECT node_table::text, node_id, depth, parent_table::text, parent_id, edge_label, node"
                " FROM graph.traverse(%s, %s, max_depth => %s, direction => %s, edge_types => %s, tenant => %s,"
                " node_tables => %s::regclass[], hydrate => %s)",
                (a["seed"][0], a["seed"][1], a["max_depth"], a["direction"], a["labels"], a["tenant"],
                 a["node_tables"], a["hydrate"])).fetchall()
            got = {(r[0], r[1]): r[2] for r in rows}
            want = bfs(nodes, edges, a["seed"], a["direction"], a["labels"], a["max_depth"], a["tenant"],
                       a["node_tables"])
            if got != want:
                raise Mismatch(f"{ctx}\n leaked {sorted(set(got) - set(want))}\n lost {sorted(set(want) - set(got))}"
                               f"\n depth differs {sorted(k for k in set(got) & set(want) if got[k] != want[k])}")
            assert len(rows) == len(got), ctx
            adj = adjacency(edges, a["direction"], a["labels"])
            if a["hydrate"]:
                for t, k, *_rest, node in rows:
                    if (t, k) in self.props:
                        assert node is not None and node.get("owner_role") == self.props[(t, k)], (ctx, t, k, node)
            for t, k, d, pt, pk, label, _node in rows:
                if d:
                    assert got.get((pt, pk)) == d - 1, (ctx, t, k)
                    assert ((t, k), label) in {(v, lb) for v, lb, _ in adj[(pt, pk)]}, (ctx, t, k, pt, pk, label)
        elif kind == "multi":
            got = {(r[0], r[1]): r[2] for r in c.execute(
                "SELECT node_table::text, node_id, depth FROM graph.traverse(seed_tables => %s::regclass[],"
                " seed_ids => %s, max_depth => %s, direction => %s)",
                ([s[0] for s in a["seeds"]], [s[1] for s in a["seeds"]], a["max_depth"], a["direction"]))}
            want = {}
            for s in a["seeds"]:
                for n, d in bfs(nodes, edges, s, a["direction"], max_depth=a["max_depth"]).items():
                    want[n] = min(d, want.get(n, d))
            if got != want:
                raise Mismatch(f"{ctx}\n leaked {sorted(set(got) - set(want))}\n lost {sorted(set(want) - set(got))}")
        elif kind == "path":
            rows = c.execute(
                "SELECT step, node_table::text, node_id, edge_label FROM graph.shortest_path(%s, %s, %s, %s,"
                " direction => %s, edge_types => %s)",
                (a["src"][0], a["src"][1], a["dst"][0], a["dst"][1], a["direction"], a["labels"])).fetchall()
            want = bfs(nodes, edges, a["src"], a["direction"], a["labels"], 32).get(a["dst"])
            if (rows[-1][0] if rows else None) != want:
                raise Mismatch(f"{ctx}\n got {rows}\n want length {want}")
            adj = adjacency(edges, a["direction"], a["labels"])
            for prev, cur in zip(rows, rows[1:], strict=False):
                assert ((cur[1], cur[2]), cur[3]) in {(v, lb) for v, lb, _ in adj[(prev[1], prev[2])]}, (ctx, rows)
        elif kind == "wpath":
            rows = c.execute(
                "SELECT step, node_table::text, node_id, total_cost FROM graph.weighted_shortest_path("
                "%s, %s, %s, %s, direction => %s)",
                (a["src"][0], a["src"][1], a["dst"][0], a["dst"][1], a["direction"])).fetchall()
            want = dijkstra(nodes, edges, a["src"], a["dst"], a["direction"])
            got = rows[0][3] if rows else None
            if (got is None) != (want is None) or (got is not None and abs(got - want) > 1e-9):
                raise Mismatch(f"{ctx}\n got {rows}\n want cost {want}")
        elif kind == "component_of":
            got = sorted((r[0], r[1]) for r in c.execute(
                "SELECT node_table::text, node_id FROM graph.component_of(%s, %s)", a["seed"]))
            want = next((comp for comp in components(nodes, edges) if a["seed"] in comp), [])
            if got != want:
                raise Mismatch(f"{ctx}\n leaked {sorted(set(got) - set(want))}\n lost {sorted(set(want) - set(got))}")
        elif kind == "stats":
            got = sorted(r[0] for r in c.execute("SELECT size FROM graph.component_stats()"))
            want = sorted(len(x) for x in components(nodes, edges))
            if got != want:
                raise Mismatch(f"{ctx}\n got sizes {got}\n want {want}")
        elif kind == "components":
            comp = defaultdict(list)
            for t, k, cid in c.execute("SELECT node_table::text, node_id, component"
                                       " FROM graph.connected_components(%s)", (a["tenant"],)):
                comp[cid].append((t, k))
            got = sorted(sorted(v) for v in comp.values())
            want = components(nodes, edges, a["tenant"])
            if got != want:
                gn, wn = {n for x in got for n in x}, {n for x in want for n in x}
                raise Mismatch(f"{ctx}\n leaked nodes {sorted(gn - wn)}\n lost nodes {sorted(wn - gn)}"
                               f"\n got {got}\n want {want}")
        elif kind == "export":
            text = c.execute("SELECT graph.export_graphml(%s, %s, max_depth => 30, direction => 'any',"
                             " max_nodes => 100000, label_property => 'owner_role')", a["seed"]).fetchone()[0]
            g = nx.read_graphml(io.StringIO(text), force_multigraph=True)
            got_nodes = {(d["table"], d["key"]) for _, d in g.nodes(data=True)}
            for _, d in g.nodes(data=True):
                n = (d["table"], d["key"])
                if self.props.get(n) is not None:
                    assert d.get("owner_role") == self.props[n], (ctx, n, d)
                elif n in self.props:
                    assert d.get("owner_role") in (None, ""), (ctx, n, d)
            want_nodes = set(bfs(nodes, edges, a["seed"], "any", max_depth=30))
            if got_nodes != want_nodes:
                raise Mismatch(f"{ctx}\n leaked {sorted(got_nodes - want_nodes)}"
                               f"\n lost {sorted(want_nodes - got_nodes)}")
            got_edges = Counter((g.nodes[u]["table"], g.nodes[u]["key"], g.nodes[v]["table"], g.nodes[v]["key"],
                                 d["label"], float(d["weight"])) for u, v, d in g.edges(data=True))
            want_edges = Counter(u + v + (label, w) for u, v, label, w in edges
                                 if u in want_nodes and v in want_nodes)
            if got_edges != want_edges:
                raise Mismatch(f"{ctx}\n leaked edges {sorted((got_edges - want_edges).items())}"
                               f"\n lost edges {sorted((want_edges - got_edges).items())}")


HISTORY = []  # (who, sql, params) of every write, apply and build, for minimizing a failure


class Recorder:
    def __init__(self, c, who="admin"):
        self.c, self.who = c, who

    def execute(self, sql, params=None):
        if not sql.lstrip().upper().startswith("SELECT"):
            HISTORY.append((self.who, sql, list(params) if params is not None else None))
        return self.c.execute(sql, params)

    def transaction(self):
        return self.c.transaction()


class ReadRecorder:
    """A connection whose every statement (and outer transaction) goes to HISTORY."""

    def __init__(self, c, who):
        self.c, self.who, self.depth = c, who, 0

    def execute(self, sql, params=None):
        HISTORY.append((self.who, sql, list(params) if params is not None else None))
        return self.c.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.c, name)

    def transaction(self, *args, **kwargs):
        import contextlib

        @contextlib.contextmanager
        def tx():
            outer = self.depth == 0
            if outer:
                HISTORY.append((self.who, "BEGIN", None))
            self.depth += 1
            try:
                with self.c.transaction(*args, **kwargs) as t:
                    yield t
            finally:
                self.depth -= 1
                if outer:
                    HISTORY.append((self.who, "END", None))
        return tx()


class Writer:
    def __init__(self, c, rng):
        self.c, self.rng = Recorder(c), rng
        self.kinds = Counter()

    def op(self, kind=None):
        c, r = self.c, self.rng
        kind = kind or r.choice(["ins_item", "ins_item", "item_secret", "ins_link", "upd_item", "upd_item",
                                 "key_item", "del_item",
                                 "ins_grp", "upd_grp", "del_grp", "ins_tag", "del_tag", "ins_link", "ins_link",
                                 "upd_link", "del_link", "ins_mem", "upd_mem", "del_mem", "ins_sec", "upd_sec",
                                 "del_sec"])
        self.kinds[kind] += 1
        iid = lambda: r.randrange(1, 21)  # noqa: E731
        owner = lambda: r.choice([None, None, A, B, OWN])  # noqa: E731
        if kind == "ins_item":
            c.execute("INSERT INTO rz.items VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                      (iid(), r.choice([1, 1, 2, 2, 3]), owner(), r.choice([None, iid()]),
                       r.choice([None, r.randrange(1, 7)]), r.choice([None, r.randrange(1, 5)])))
        elif kind == "item_secret":  # a new item and a secret about it
            new = r.randrange(21, 26)
            c.execute("INSERT INTO rz.items VALUES (%s, %s, %s, %s, NULL, NULL) ON CONFLICT DO NOTHING",
                      (new, r.choice([1, 2, 3]), owner(), iid()))
            c.execute("INSERT INTO rz.secrets VALUES (%s, %s)"
                      " ON CONFLICT (id) DO UPDATE SET item_id = excluded.item_id",
                      (r.randrange(1, 6), new))
        elif kind == "upd_item":
            col, val = r.choice([("tenant", r.choice([1, 2, 3])), ("owner_role", owner()), ("parent_id", iid()),
                                 ("parent_id", None), ("grp_id", r.randrange(1, 7)), ("tag_id", r.randrange(1, 5))])
            c.execute(f"UPDATE rz.items SET {col} = %s WHERE id = %s", (val, iid()))
        elif kind == "key_item":
            new, old = iid(), iid()
            c.execute("UPDATE rz.items SET id = %s WHERE id = %s AND NOT EXISTS (SELECT FROM rz.items WHERE id = %s)",
                      (new, old, new))
        elif kind == "del_item":
            c.execute("DELETE FROM rz.items WHERE id = %s", (iid(),))
        elif kind == "ins_grp":
            c.execute("INSERT INTO rz.groups VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                      (r.randrange(1, 7), owner(), r.random() < 0.5))
        elif kind == "upd_grp":
            c.execute("UPDATE rz.groups SET public = NOT public, owner_role = %s WHERE id = %s",
                      (owner(), r.randrange(1, 7)))
        elif kind == "del_grp":
            c.execute("DELETE FROM rz.groups WHERE id = %s", (r.randrange(1, 7),))
        elif kind == "ins_tag":
            c.execute("INSERT INTO rz.tags VALUES (%s, 't') ON CONFLICT DO NOTHING", (r.randrange(1, 5),))
        elif kind == "del_tag":
            c.execute("DELETE FROM rz.tags WHERE id = %s", (r.randrange(1, 5),))
        elif kind == "ins_link":
            c.execute("INSERT INTO rz.links (tenant, src, dst, rel, w, hidden) VALUES (%s, %s, %s, %s, %s, %s)",
                      (r.choice([1, 1, 2, 2, 3, None]), iid(), iid(), r.choice(["x", "y", "y", None]),
                       r.choice([None, 0.5, 1, 2, 3.5]), r.choice([False, False, False, True, None])))
        elif kind == "upd_link":
            col, val = r.choice([("tenant", r.choice([1, 2, 3])), ("src", iid()), ("dst", iid()),
                                 ("rel", r.choice(["x", "y", None])), ("w", r.choice([None, 0.5, 4])),
                                 ("hidden", r.choice([False, True]))])
            c.execute(f"UPDATE rz.links SET {col} = %s WHERE id = %s", (val, self.pick("rz.links")))
        elif kind == "del_link":
            c.execute("DELETE FROM rz.links WHERE id = %s", (self.pick("rz.links"),))
        elif kind == "ins_mem":
            c.execute("INSERT INTO rz.member (gid, iid, role_name) VALUES (%s, %s, %s)",
                      (r.randrange(1, 7), iid(), r.choice([None, A, B, OWN])))
        elif kind == "upd_mem":
            c.execute("UPDATE rz.member SET role_name = %s, iid = %s"
                      " WHERE id = %s", (r.choice([None, A, B, OWN]), iid(), self.pick("rz.member")))
        elif kind == "del_mem":
            c.execute("DELETE FROM rz.member WHERE id = %s", (self.pick("rz.member"),))
        elif kind == "ins_sec":
            c.execute("INSERT INTO rz.secrets VALUES (%s, %s) ON CONFLICT DO NOTHING", (r.randrange(1, 6), iid()))
        elif kind == "upd_sec":
            c.execute("UPDATE rz.secrets SET item_id = %s WHERE id = %s", (iid(), r.randrange(1, 6)))
        elif kind == "del_sec":
            c.execute("DELETE FROM rz.secrets WHERE id = %s", (r.randrange(1, 6),))

    def pick(self, table):
        ids = [r[0] for r in self.c.execute(f"SELECT id FROM {table} ORDER BY id")]
        return self.rng.choice(ids) if ids else 0

    def batch(self, n):
        HISTORY.append(("admin", "BEGIN", None))
        with self.c.transaction():
            for _ in range(n):
                self.op()
        HISTORY.append(("admin", "COMMIT", None))


def all_keys(admin):
    rows, _can, _rls = read_rows(admin)
    nodes, _ = model(rows, set(ALL_TABLES), set())
    return set(nodes)


def props(current):
    """{node: owner_role} of the rows the role sees now (hydrate and label_property read them)."""
    out = {("rz.items", str(r[0])): r[5] for r in current["rz.items"]}
    out.update({("rz.groups", str(r[0])): r[1] for r in current["rz.groups"]})
    return out


def set_tenant(c, tenant):
    c.execute("SELECT set_config('app.tenant', %s, false)", (tenant,))


@pytest.mark.parametrize("seed", [SEED])
def test_rls_reads_match_each_roles_own_sql(db, seed):
    rng = random.Random(seed)
    # the rng of the random() in the writer's SQL
    with connect(db) as admin:
        admin.execute(SCHEMA)
        admin.execute("SELECT setseed(0.42)")
        w = Writer(admin, rng)
        for n in range(1, 21):
            w.c.execute("INSERT INTO rz.items VALUES (%s, %s, %s, %s, %s, %s)",
                          (n, rng.choice([1, 1, 2, 2, 3]), rng.choice([None, None, A, B, OWN]),
                           rng.choice([None, rng.randrange(1, 21)]), rng.choice([None, rng.randrange(1, 7)]),
                           rng.choice([None, rng.randrange(1, 5)])))
        for n in range(1, 7):
            w.c.execute("INSERT INTO rz.groups VALUES (%s, %s, %s)",
                        (n, rng.choice([None, A, B, OWN]), rng.random() < 0.5))
        w.c.execute("INSERT INTO rz.tags SELECT g, 't' FROM generate_series(1, 4) g")
        for n in range(1, 6):
            w.c.execute("INSERT INTO rz.secrets VALUES (%s, %s)", (n, rng.randrange(1, 21)))
        for _ in range(50):
            w.op("ins_link")
        for _ in range(15):
            w.op("ins_mem")
        for _ in range(3):
            w.batch(10)
        admin.execute(REGISTER)
        admin.execute("SELECT graph.build()")
        HISTORY.append(("admin", "REGISTER", None))
        applied = read_rows(admin)[0]
        conns = {A: as_role(db, A), B: ReadRecorder(as_role(db, B), "B"), OWN: as_role(db, OWN), SW: as_role(db, SW)}
        set_tenant(conns[A], "1")
        set_tenant(conns[B], "2")
        set_tenant(conns[SW], "2")
        checker = Checker(rng)
        sw_role = A
        conns[SW].execute(f"SET ROLE {sw_role}")
        revoked = None

        def check_role(c, where, stale_from=None, read_only=False):
            with c.transaction():
                if read_only:
                    c.execute("SET TRANSACTION READ ONLY")
                current, can, rls = read_rows(c)
                if os.environ.get("RLSFUZZ_BROKEN"):  # sensitivity check: the truth ignoring the policies
                    current = read_rows(admin)[0]
                nodes, edges = model(current, can, rls, stale_from)
                reads = checker.plan(keys, stale_from is not None)
                checker.run(c, reads, nodes, edges, can, where, props(current))

        def check_all(where, stale_from=None, read_only=False):
            for name in (A, B, OWN, SW):
                check_role(conns[name], (where, i, name if name != SW else f"{SW} as {sw_role}"),
                           stale_from, read_only)

        i = -1
        keys = all_keys(admin)
        check_all("built")
        try:
            for i in range(ITERATIONS):
                w.batch(rng.randrange(2, 8))
                keys = all_keys(admin)
                # session changes between reads: tenant, SET ROLE, a GRANT or REVOKE
                if rng.random() < 0.5:
                    set_tenant(conns[A], rng.choice(["1", "2", "3", ""]))
                if rng.random() < 0.5:
                    sw_role = B if sw_role == A else A
                    conns[SW].execute(f"SET ROLE {sw_role}")
                if revoked is None and rng.random() < 0.35:
                    revoked = rng.choice([("rz.secrets", A), ("rz.links", B), ("rz.member", A), ("rz.secrets", OWN),
                                          ("rz.groups", B)])
                    admin.execute(f"REVOKE SELECT ON {revoked[0]} FROM {revoked[1]}")
                    HISTORY.append(("admin", f"REVOKE SELECT ON {revoked[0]} FROM {revoked[1]}", None))
                elif revoked is not None and rng.random() < 0.5:
                    admin.execute(f"GRANT SELECT ON {revoked[0]} TO {revoked[1]}")
                    HISTORY.append(("admin", f"GRANT SELECT ON {revoked[0]} TO {revoked[1]}", None))
                    revoked = None
                # (1) pending, read-only readers: RLS tables as last applied, the rest folded
                check_all("pending-ro", stale_from=applied, read_only=True)
                # the tenant changed again, read again in the same session (read-only)
                set_tenant(conns[A], rng.choice(["1", "2", "3"]))
                check_role(conns[A], ("pending-ro-retenant", i, A), applied, True)
                if rng.random() < 0.25:
                    continue  # pending rows accumulate into the next batch; nobody applied them
                # (2) a read inside gs_fz_a's own writing transaction, or a read-write read
                ca = conns[A]
                ten = ca.execute(f"SELECT {TEN}").fetchone()[0]
                if ten is not None and rng.random() < 0.5:
                    rec = Recorder(ca, A)
                    HISTORY.append((A, "BEGIN", None))
                    HISTORY.append((A, "SET app.tenant = '%d'" % ten, None))
                    with ca.transaction():
                        rec.execute("INSERT INTO rz.items VALUES (%s, %s, NULL, %s, NULL, NULL) ON CONFLICT DO NOTHING",
                                   (rng.randrange(1, 31), ten, rng.randrange(1, 31)))
                        rec.execute("INSERT INTO rz.links (tenant, src, dst, rel, w, hidden)"
                                    " VALUES (%s, %s, %s, 'y', 2, false)",
                                   (ten, rng.randrange(1, 31), rng.randrange(1, 31)))
                        current, can, rls = read_rows(ca)
                        # README: the reader's own uncommitted writes to tables whose row-level
                        # security applies to it are not folded (shown as last applied, with a
                        # WARNING); the committed rows are applied by the read first
                        nodes, edges = model(current, can, rls, applied=read_rows(admin)[0])
                        own_keys = keys | {("rz.items", str(r[0])) for r in current["rz.items"]}
                        checker.run(ca, checker.plan(own_keys, False), nodes, edges, can, ("own-write", i, A),
                                    props(current))
                        HISTORY.append((A, "READ", None))
                        if rng.random() < 0.5:
                            HISTORY.append((A, "ROLLBACK", None))
                            raise psycopg.Rollback()
                        HISTORY.append((A, "COMMIT", None))
                    keys = all_keys(admin)
                else:
                    who = rng.choice([A, B, OWN])
                    HISTORY.append((who, "READ", None))
                    check_role(conns[who], ("pending-rw", i, who))
                # (3) applied
                result = apply(admin)
                HISTORY.append(("admin", "APPLY", None))
                assert result["failed"] == 0 and not result["stopped"], result
                assert pending_count(admin) == 0
                applied = read_rows(admin)[0]
                check_all("applied")
                assert verify(admin) == [], ("applied", i)
                # (4) rebuilt
                if rng.random() < 0.4:
                    admin.execute("SELECT graph.build()")
                    HISTORY.append(("admin", "BUILD", None))
                    check_all("built")
        finally:
            if revoked is not None:
                admin.execute(f"GRANT SELECT ON {revoked[0]} TO {revoked[1]}")
            for c in conns.values():
                c.close()
        print("mean nodes/edges seen", {k: (sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v))
                                         for k, v in checker.sizes.items()})
        print("checks", checker.checks, dict(checker.by_state), "expected 42501", checker.errors_expected,
              "ops", dict(w.kinds))
