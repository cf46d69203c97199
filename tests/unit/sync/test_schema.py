"""sync/schema.plan: what add_schema registers, from catalog facts alone."""

from graphsync.sync.schema import ForeignKey, Table, plan


def table(oid, name, key, columns=None, ancestors=(), may=True):
    return Table(oid, name, name.split(".")[-1], tuple(key), tuple(columns or key), tuple(ancestors), may)


def steps(tables, fks, registered=None, edges=frozenset(), exclude=()):
    names = {t.oid: t.name for t in tables}
    names.update({oid: "x.t%d" % oid for oid in [*(registered or {}), *(f.to_oid for f in fks)]
                  if oid not in names})
    return plan(tables, fks, registered or {}, set(edges), names, set(exclude))


A = table(1, "s.a", ["id"], ["id", "b_id", "self_id"])
B = table(2, "s.b", ["id"], ["id", "name"])
AB = table(3, "s.ab", ["a_id", "b_id"])
AB_EXTRA = table(4, "s.ab2", ["a_id", "b_id"], ["a_id", "b_id", "role"])
FKS = [ForeignKey("a_b", 1, ("b_id",), 2, ("id",)), ForeignKey("a_self", 1, ("self_id",), 1, ("id",)),
       ForeignKey("ab_a", 3, ("a_id",), 1, ("id",)), ForeignKey("ab_b", 3, ("b_id",), 2, ("id",)),
       ForeignKey("ab2_b", 4, ("b_id",), 2, ("id",)), ForeignKey("ab2_a", 4, ("a_id",), 1, ("id",))]


def test_nodes_fk_edges_and_join_tables():
    out = steps([A, B, AB, AB_EXTRA], FKS)
    got = {(s.kind, s.table, s.edge, s.action) for s in out}
    assert got == {
        ("node_table", 1, None, "register"), ("node_table", 2, None, "register"),
        ("node_table", 4, None, "register"),  # a join table with a column of its own
        ("fk_edge", 1, "b_id -> s.b", "register"), ("fk_edge", 1, "self_id -> s.a", "register"),
        ("join_edge", 3, "a_id -> s.a, b_id -> s.b", "register"),
        ("join_edge", 4, "a_id -> s.a, b_id -> s.b", "register"),  # key order, not constraint order
    }
    join = next(s for s in out if s.kind == "join_edge" and s.table == 3)
    assert join.call[1] == {"from_table": 1, "from_columns": ["a_id"], "to_table": 2, "to_columns": ["b_id"],
                            "via_table": 3}
    assert join.label == "ab"
    # nodes come before the edges that need them
    assert [s.kind for s in out].index("fk_edge") > max(i for i, s in enumerate(out) if s.kind == "node_table")


def test_a_referenced_join_table_is_a_node_too():
    ref = table(5, "s.ref", ["id"], ["id", "a_id", "b_id"])
    fks = FKS + [ForeignKey("ref_ab", 5, ("a_id", "b_id"), 3, ("a_id", "b_id"))]
    out = steps([A, B, AB, ref], fks)
    assert ("node_table", 3, "register") in {(s.kind, s.table, s.action) for s in out}
    composite = next(s for s in out if s.table == 5 and s.kind == "fk_edge")
    assert composite.action == "register"
    assert composite.call[1]["from_columns"] == ["a_id", "b_id"]


def test_composite_columns_follow_the_target_key_order():
    p = table(6, "s.p", ["ws", "id"])
    t = table(7, "s.t", ["id"], ["id", "pid", "w"])
    out = steps([p, t], [ForeignKey("t_p", 7, ("pid", "w"), 6, ("id", "ws"))])
    e = next(s for s in out if s.kind == "fk_edge")
    assert e.call[1]["from_columns"] == ["w", "pid"]
    assert e.label == "pid,w"


def test_a_join_table_with_composite_ends_sharing_a_column():
    entities = table(1, "s.entities", ["ws", "id"])
    relations = table(2, "s.relations", ["ws", "src", "dst"], ["ws", "src", "dst", "kind"])
    fks = [ForeignKey("r_src", 2, ("ws", "src"), 1, ("ws", "id")),
           ForeignKey("r_dst", 2, ("dst", "ws"), 1, ("id", "ws"))]
    out = steps([entities, relations], fks)
    join = next(s for s in out if s.kind == "join_edge")
    assert join.action == "register"
    assert join.call[1] == {"from_table": 1, "from_columns": ["ws", "src"], "to_table": 1,
                            "to_columns": ["ws", "dst"], "via_table": 2}
    assert ("node_table", 2, "register") in {(s.kind, s.table, s.action) for s in out}  # it has a column of its own
    assert not [s for s in out if s.kind == "fk_edge"]


def test_skips_with_reasons():
    nokey = table(8, "s.nokey", [], ["x", "a_id"])
    part = table(9, "s.a_1", ["id"], ["id", "b_id", "self_id"], ancestors=(1,))
    uniq = table(10, "s.u", ["id"], ["id", "code"])
    c = table(11, "s.c", ["id"], ["id", "code", "b_id", "nk"])
    fks = FKS + [ForeignKey("n_a", 8, ("a_id",), 1, ("id",)), ForeignKey("c_code", 11, ("code",), 10, ("code",)),
                 ForeignKey("c_b", 11, ("b_id",), 2, ("id",)), ForeignKey("c_nk", 11, ("nk",), 8, ("x",)),
                 ForeignKey("c_out", 11, ("code",), 99, ("id",))]
    out = steps([A, B, AB, nokey, part, uniq, c], fks, exclude={2})
    why = {(s.kind, s.table, s.edge): (s.action, s.reason) for s in out}
    assert why[("node_table", 8, None)] == ("skipped", "no primary key and no unique key on NOT NULL columns")
    assert "partition or inheritance child of s.a" in why[("node_table", 9, None)][1]
    assert why[("node_table", 2, None)] == ("skipped", "excluded")
    assert why[("fk_edge", 1, "b_id -> s.b")] == ("skipped", "references s.b, which is excluded")
    assert why[("join_edge", 3, "a_id -> s.a, b_id -> s.b")] == ("skipped", "references s.b, which is excluded")
    assert "not its key" in why[("fk_edge", 11, "code -> s.u")][1]
    assert "not registered (no primary key" in why[("fk_edge", 11, "nk -> s.nokey")][1]
    assert "not in the schema and not registered" in why[("fk_edge", 11, "code -> x.t99")][1]
    # no foreign key of an unkeyed table or a partition is planned
    assert not [s for s in out if s.table in (8, 9) and s.kind != "node_table"]


def test_what_is_registered_is_reported_so():
    edges = {("fk", 1, ("b_id",), 2), ("join", 3, ("a_id",), ("b_id",))}
    out = steps([A, B, AB], FKS[:4], registered={1: ("id",), 2: ("id",)}, edges=edges)
    got = {(s.kind, s.table, s.edge): s.action for s in out}
    assert got == {("node_table", 1, None): "already registered", ("node_table", 2, None): "already registered",
                   ("fk_edge", 1, "b_id -> s.b"): "already registered",
                   ("fk_edge", 1, "self_id -> s.a"): "register",
                   ("join_edge", 3, "a_id -> s.a, b_id -> s.b"): "already registered"}


def test_an_unprivileged_table_is_skipped():
    out = steps([table(1, "s.a", ["id"], may=False)], [])
    assert out[0].action == "skipped" and "TRIGGER" in out[0].reason



def test_a_catalog_or_temporary_table_is_skipped_and_so_are_the_edges_it_would_end():
    from graphsync.sync.schema import CATALOG, TEMPORARY
    cat = Table(1, "s.a", "a", ("id",), ("id", "b_id", "self_id"), (), True, CATALOG)
    tmp = Table(2, "s.b", "b", ("id",), ("id", "name"), (), True, TEMPORARY)
    out = steps([cat, tmp, AB], FKS[:4])
    assert {(s.kind, s.table, s.action, s.reason) for s in out if s.kind == "node_table"} == {
        ("node_table", 1, "skipped", CATALOG), ("node_table", 2, "skipped", TEMPORARY)}
    join = next(s for s in out if s.kind == "join_edge")
    assert join.action == "skipped" and CATALOG in join.reason
    assert not [s for s in out if s.action == "register"]
