"""graphsync.reads.access.reach: which node tables and join edge sources a read
bounded by a walk can enter or follow, by the registry alone (the tables a read
asks which rows the caller can see; README Read security)."""

from graphsync.reads.access import Walk, label_carriers, reach
from graphsync.sync.registry import EdgeSource

# tables 1..6: 1 -fk-> 2 -join(via 9)-> 3 -fk-> 4;  5 <-fk- 1 (label 'x');  6 alone;
# 2 <-> 6 only through a bidirectional fk of 6 (label 'b').
EDGES = (
    EdgeSource(1, "fk", 1, "a", 2, "id", None, "r", False, None, None),
    EdgeSource(2, "join", 2, "a", 3, "b", 9, None, False, None, "kind"),
    EdgeSource(3, "fk", 3, "a", 4, "id", None, None, False, None, None),
    EdgeSource(4, "fk", 1, "c", 5, "id", None, "x", False, None, None),
    EdgeSource(5, "fk", 6, "a", 2, "id", None, "b", True, None, None),
)


class Reg:
    edges = EDGES


def test_no_walk_is_no_bound():
    assert reach(Reg, None) == (None, None)


def test_depth_zero_reaches_the_seed_tables_only():
    assert reach(Reg, Walk((1,), "out", 0)) == ({1}, set())
    assert reach(Reg, Walk((), "any", 0), ends=(3, 4)) == ({3, 4}, set())


def test_depth_counts_edges_and_a_join_is_followed_only_from_a_reached_table():
    assert reach(Reg, Walk((1,), "out", 1)) == ({1, 2, 5}, set())
    # 6 through the bidirectional edge, at depth 2 from 1
    assert reach(Reg, Walk((1,), "out", 2)) == ({1, 2, 3, 5, 6}, {2})
    assert reach(Reg, Walk((1,), "out", None)) == ({1, 2, 3, 4, 5, 6}, {2})


def test_direction():
    assert reach(Reg, Walk((3,), "out", None)) == ({3, 4}, set())
    assert reach(Reg, Walk((3,), "in", None)) == ({1, 2, 3, 6}, {2})
    assert reach(Reg, Walk((4,), "in", 1)) == ({3, 4}, set())
    assert reach(Reg, Walk((4,), "any", None))[0] == {1, 2, 3, 4, 5, 6}


def test_node_tables_and_fixed_labels_bound_the_walk():
    assert reach(Reg, Walk((1,), "out", None, node_tables=(2,))) == ({1, 2}, set())
    # a join source is followed only into a table the walk may enter
    assert reach(Reg, Walk((2,), "out", None, node_tables=(4,))) == ({2}, set())
    # edge_types: fixed labels not named are not followed; label columns may carry any
    assert reach(Reg, Walk((1,), "out", None, edge_types=["x"])) == ({1, 5}, set())
    assert reach(Reg, Walk((2,), "out", None, edge_types=["x"])) == ({2, 3, 4}, {2})


def test_path_ends_past_the_first_are_reached_not_walked_from():
    assert reach(Reg, Walk((), "out", 1, from_ends=1), ends=(3, 1)) == ({1, 3, 4}, set())


# label columns: the join of source 2 (carrier 9) and a foreign key 3 -> 4 carried by 3
LABELLED = EDGES + (EdgeSource(6, "fk", 3, "t", 4, "id", None, None, False, None, "tag"),)


class Labelled:
    edges = LABELLED


def test_label_carriers_are_those_of_the_sources_a_walk_can_follow():
    assert label_carriers(Labelled, None) is None
    assert label_carriers(Labelled, Walk((1,), "out", 1)) == set()
    assert label_carriers(Labelled, Walk((1,), "out", 2)) == {9}
    # a foreign key's label column only when the walk reaches both of its tables
    assert label_carriers(Labelled, Walk((3,), "out", 0)) == set()
    assert label_carriers(Labelled, Walk((3,), "out", 1)) == {3}
    assert label_carriers(Labelled, Walk((1,), "out", None)) == {3, 9}
    assert label_carriers(Labelled, Walk((4,), "in", 1)) == {3}
    assert label_carriers(Labelled, Walk((2,), "out", None, node_tables=(4,))) == set()


def test_label_carriers_kept_for_a_registry_are_never_another_registry_s():
    """label_carriers keeps its answers by the registry's identity, the walk and the
    ends: the same question of another registry (a backend loads a new one when the
    registry changes) is answered from that registry, and a walk given lists (a
    read's node_tables and edge_types arguments) is kept too."""
    walk = Walk((1,), "out", None, node_tables=[1, 2, 3, 4], edge_types=["kind", "r"])
    assert label_carriers(Labelled, walk) == {3, 9}
    assert label_carriers(Labelled, walk) == {3, 9}

    class Unlabelled:
        edges = EDGES[:1]

    assert label_carriers(Unlabelled, walk) == set()
    assert label_carriers(Labelled, walk) == {3, 9}
    assert label_carriers(Labelled, walk._replace(node_tables=[1, 2, 3])) == {9}
    assert label_carriers(Labelled, Walk((), "out", 1), ends=(3,)) == {3}
    assert label_carriers(Labelled, Walk((), "out", 1), ends=(1,)) == set()
