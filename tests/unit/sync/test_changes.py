"""graphsync.sync.changes: log rows -> graph changes, with a hand-built registry.

Log rows are written the way the capture triggers write them (graph._install_capture):
``old_pk``/``new_pk`` the key's text form, ``properties`` JSON text of the registered
columns, ``old_row``/``new_row`` JSON text of the captured columns (tenant, edge
endpoints, weight, label) with every value as text or null.
"""

import json
import math
from collections import Counter

import numpy as np
import pytest

from graphsync.sync import changes
from graphsync.sync.registry import EdgeSource, NodeTable, Registry

COMPANIES, CONTACTS, PAIRS, RELATIONS, ADVICE, OTHER = 100, 200, 300, 400, 500, 900

NODES = {
    COMPANIES: NodeTable(COMPANIES, "app.companies", ("id",), ("name",), None, ()),
    CONTACTS: NodeTable(CONTACTS, "app.contacts", ("id",), ("name", "status"), "workspace_id",
                        ("status", "score")),
    PAIRS: NodeTable(PAIRS, "app.pairs", ("a", "b"), (), None, ()),
}
WORKS_AT = EdgeSource(1, "fk", CONTACTS, "company_id", COMPANIES, None, None, "works_at", False, None, None)
REPORTS_TO = EdgeSource(2, "fk", CONTACTS, "manager_id", CONTACTS, None, None, "reports_to", False,
                        "trust", "kind")
RELATED = EdgeSource(3, "join", CONTACTS, "source_id", CONTACTS, "target_id", RELATIONS, "relations", True,
                     "weight", "type")
OWNED_BY = EdgeSource(4, "fk", PAIRS, "owner_id", CONTACTS, None, None, "owned_by", False, None, None)
ADVISES = EdgeSource(5, "join", CONTACTS, "contact_id", COMPANIES, "company_id", ADVICE, "advises", False,
                     None, None)


def registry():
    return Registry(dict(NODES), (WORKS_AT, REPORTS_TO, RELATED, OWNED_BY, ADVISES))


REG = registry()


def log(op, table, old_pk=None, new_pk=None, properties=None, old=None, new=None, row_id=1):
    """A log row as graph._sync_log holds it (the JSON columns as text)."""
    return {"id": row_id, "op": op, "table_oid": table, "old_pk": old_pk, "new_pk": new_pk,
            "properties": None if properties is None else json.dumps(properties),
            "old_row": None if old is None else json.dumps(old),
            "new_row": None if new is None else json.dumps(new)}


def contact(company=None, manager=None, trust=None, kind=None, workspace="7"):
    return {"workspace_id": workspace, "company_id": company, "manager_id": manager, "trust": trust,
            "kind": kind}


def gather(*rows):
    c = changes.Changes()
    for row in rows:
        changes.add_row(REG, row, c)
    return c


def final(nodes, before=0):
    """Each key's node after its NodeChange as (alive, tenant, properties), from
    ``before`` rows holding the key (0: a key no row held; a state the change
    keeps shows as "kept")."""
    out = {}
    for key, change in nodes.items():
        alive, _, state = change.result(before)
        out[key] = (alive,) + (state if state is not None else ("kept", "kept"))
    return out


def c_(pk):
    return (CONTACTS, pk)


def co(pk):
    return (COMPANIES, pk)


# registry

def test_registry_groups_edge_sources_by_the_table_carrying_them():
    assert REG.edges_carried_by(CONTACTS) == [WORKS_AT, REPORTS_TO]
    assert REG.edges_carried_by(RELATIONS) == [RELATED]
    assert REG.edges_carried_by(PAIRS) == [OWNED_BY]
    assert REG.edges_carried_by(COMPANIES) == [] and REG.edges_carried_by(OTHER) == []
    assert (WORKS_AT.carrier, RELATED.carrier, ADVISES.carrier) == (CONTACTS, RELATIONS, ADVICE)


def test_registries_do_not_share_their_carried_map():
    """carried is filled in __post_init__: a default dict shared between instances would
    mix two registries' edge sources."""
    one = Registry({}, (WORKS_AT,))
    two = Registry({}, (RELATED,))
    assert one.edges_carried_by(CONTACTS) == [WORKS_AT] and one.edges_carried_by(RELATIONS) == []
    assert two.edges_carried_by(RELATIONS) == [RELATED] and two.edges_carried_by(CONTACTS) == []


def test_property_columns_are_registered_then_filter_columns_once_each():
    assert NODES[CONTACTS].property_columns == ("name", "status", "score")


# edges_of_row

def test_fk_edges_start_at_the_row_key_with_default_weight_and_label():
    assert changes.edges_of_row(REG, CONTACTS, "1", contact(company="3", manager="2")) == [
        (1, c_("1"), co("3"), 1.0, "works_at"), (2, c_("1"), c_("2"), 1.0, "reports_to")]


def test_weight_and_label_columns():
    row = contact(manager="2", trust="0.25", kind="mentor")
    assert changes.edges_of_row(REG, CONTACTS, "1", row) == [(2, c_("1"), c_("2"), 0.25, "mentor")]
    for text, value in (("3", 3.0), ("-1.5", -1.5), ("1e3", 1000.0), ("Infinity", float("inf"))):
        row = contact(manager="2", trust=text)
        assert changes.edges_of_row(REG, CONTACTS, "1", row)[0][3] == value


def test_an_update_leaving_a_nan_weight_alone_changes_no_edge():
    """add_row pairs old and new edges by equality, and NaN equals nothing: a NaN
    weight is taken as +Infinity (weight_of), so such an update emits no '-' and '+'
    that csr.fold_overlay could never match (see tests/unit/algorithms/test_csr.py)."""
    row = contact(manager="2", trust="NaN")
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="1", properties={"name": "new"}, old=row, new=row))
    assert c.edges == []


@pytest.mark.parametrize(("text", "weight"), [
    (None, 1.0), ("2", 2.0), ("-2.5", -2.5), ("0", 0.0), ("NaN", math.inf), ("Infinity", math.inf),
    ("-Infinity", -math.inf), ("1e400", math.inf), ("-1e400", -math.inf), ("1e-400", 0.0),
    ("5e-324", 5e-324), ("1.7976931348623157e+308", 1.7976931348623157e308),
    ("1" + "0" * 309, math.inf), ("0." + "0" * 323 + "5", 5e-324),
])
def test_weight_of_a_weight_column_text(text, weight):
    assert changes.weight_of(text) == weight


def test_a_null_endpoint_carries_no_edge():
    assert changes.edges_of_row(REG, CONTACTS, "1", contact()) == []
    assert changes.edges_of_row(REG, CONTACTS, "1", {}) == []  # columns not captured at all
    assert changes.edges_of_row(REG, RELATIONS, "r1", {"source_id": "1", "target_id": None}) == []
    assert changes.edges_of_row(REG, RELATIONS, "r1", {"source_id": None, "target_id": "2"}) == []


def test_join_rows_carry_edges_between_their_endpoint_columns():
    row = {"source_id": "1", "target_id": "2", "weight": "2.5", "type": "friend"}
    assert changes.edges_of_row(REG, RELATIONS, "r1", row) == [  # bidirectional: both ways
        (3, c_("1"), c_("2"), 2.5, "friend"), (3, c_("2"), c_("1"), 2.5, "friend")]
    row = {"contact_id": "1", "company_id": "3"}
    assert changes.edges_of_row(REG, ADVICE, "a1", row) == [(5, c_("1"), co("3"), 1.0, "advises")]


def test_a_composite_key_is_the_edge_start_as_given():
    assert changes.edges_of_row(REG, PAIRS, '(1,"a b")', {"owner_id": "5"}) == [
        (4, (PAIRS, '(1,"a b")'), c_("5"), 1.0, "owned_by")]


def test_a_table_carrying_nothing_has_no_edges():
    assert changes.edges_of_row(REG, COMPANIES, "3", {"company_id": "3"}) == []
    assert changes.edges_of_row(REG, OTHER, "3", {"company_id": "3"}) == []


def test_a_weight_that_is_not_a_number_raises():
    with pytest.raises(ValueError):
        changes.edges_of_row(REG, CONTACTS, "1", contact(manager="2", trust="heavy"))


# add_row

def test_a_row_of_an_op_other_than_insert_update_delete_raises():
    """The log keeps no CHECK on op (migration 175): a row of another op fails, as a
    row without its key does, instead of being read as an insert or a delete."""
    for op in ("X", "T", "i", None):
        with pytest.raises(ValueError, match="op"):
            gather(log(op, CONTACTS, new_pk="1", properties={"name": "Ann"}, new=contact(company="3")))


def test_insert_of_a_node_row():
    c = gather(log("I", CONTACTS, new_pk="1", properties={"name": "Ann"}, new=contact(company="3")))
    assert final(c.nodes) == {c_("1"): (True, "7", '{"name": "Ann"}')}
    assert c.edges == [("+", 1, c_("1"), co("3"), 1.0, "works_at")]


def test_insert_without_tenant_column_or_edges():
    c = gather(log("I", COMPANIES, new_pk="3", properties={"name": "Acme"}, new={}))
    assert final(c.nodes) == {co("3"): (True, None, '{"name": "Acme"}')} and c.edges == []


def test_insert_into_a_join_table_changes_edges_only():
    c = gather(log("I", RELATIONS, new_pk="r1", new={"source_id": "1", "target_id": "2", "weight": None,
                                                     "type": None}))
    assert final(c.nodes) == {}
    assert c.edges == [("+", 3, c_("1"), c_("2"), 1.0, "relations"), ("+", 3, c_("2"), c_("1"), 1.0, "relations")]


def test_update_of_properties_keeps_unchanged_edges_out():
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="1", properties={"name": "Bea"},
                   old=contact(company="3", manager="2"), new=contact(company="3", manager="2", workspace="8")))
    assert final(c.nodes) == {c_("1"): (True, "8", '{"name": "Bea"}')}
    assert c.edges == []


def test_update_that_moves_an_edge():
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="1", properties={},
                   old=contact(company="3"), new=contact(company="4")))
    assert final(c.nodes) == {c_("1"): (True, "7", "{}")}
    assert c.edges == [("-", 1, c_("1"), co("3"), 1.0, "works_at"), ("+", 1, c_("1"), co("4"), 1.0, "works_at")]


def test_update_that_changes_weight_or_label_replaces_the_edge():
    c = gather(log("U", RELATIONS, old_pk="r1", new_pk="r1",
                   old={"source_id": "1", "target_id": "2", "weight": "1", "type": "friend"},
                   new={"source_id": "1", "target_id": "2", "weight": "2", "type": "friend"}))
    assert c.edges == [("-", 3, c_("1"), c_("2"), 1.0, "friend"), ("-", 3, c_("2"), c_("1"), 1.0, "friend"),
                       ("+", 3, c_("1"), c_("2"), 2.0, "friend"), ("+", 3, c_("2"), c_("1"), 2.0, "friend")]
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="1", properties={},
                   old=contact(manager="2", kind="a"), new=contact(manager="2", kind="b")))
    assert c.edges == [("-", 2, c_("1"), c_("2"), 1.0, "a"), ("+", 2, c_("1"), c_("2"), 1.0, "b")]


def test_update_that_changes_the_key_kills_the_old_node_and_moves_its_edges():
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="9", properties={"name": "Ann"},
                   old=contact(company="3"), new=contact(company="3")))
    assert final(c.nodes) == {c_("1"): (False, None, None), c_("9"): (True, "7", '{"name": "Ann"}')}
    assert c.edges == [("-", 1, c_("1"), co("3"), 1.0, "works_at"), ("+", 1, c_("9"), co("3"), 1.0, "works_at")]


def test_update_of_a_join_row_key_alone_changes_nothing():
    row = {"source_id": "1", "target_id": "2", "weight": "1", "type": "t"}
    c = gather(log("U", RELATIONS, old_pk="r1", new_pk="r2", old=row, new=row))
    assert final(c.nodes) == {} and c.edges == []


def test_delete_kills_the_node_and_removes_its_edges():
    c = gather(log("D", CONTACTS, old_pk="1", old=contact(company="3", manager="2", trust="5")))
    assert final(c.nodes) == {c_("1"): (False, None, None)}
    assert c.edges == [("-", 1, c_("1"), co("3"), 1.0, "works_at"), ("-", 2, c_("1"), c_("2"), 5.0, "reports_to")]


def test_delete_of_a_join_row():
    c = gather(log("D", RELATIONS, old_pk="r1", old={"source_id": "1", "target_id": "2", "weight": "3",
                                                     "type": None}))
    assert final(c.nodes) == {}
    assert c.edges == [("-", 3, c_("1"), c_("2"), 3.0, "relations"), ("-", 3, c_("2"), c_("1"), 3.0, "relations")]


def test_a_bidirectional_self_loop_is_two_parallel_edges():
    loop = {"source_id": "1", "target_id": "1", "weight": None, "type": None}
    edge = (3, c_("1"), c_("1"), 1.0, "relations")
    assert gather(log("I", RELATIONS, new_pk="r", new=loop)).edges == [("+",) + edge] * 2
    assert gather(log("U", RELATIONS, old_pk="r", new_pk="r", old=loop, new=loop)).edges == []
    assert gather(log("D", RELATIONS, old_pk="r", old=loop)).edges == [("-",) + edge] * 2
    moved = dict(loop, target_id="2")
    assert gather(log("U", RELATIONS, old_pk="r", new_pk="r", old=loop, new=moved)).edges == [
        ("-",) + edge, ("-",) + edge,
        ("+", 3, c_("1"), c_("2"), 1.0, "relations"), ("+", 3, c_("2"), c_("1"), 1.0, "relations")]


def test_rows_accumulate_and_a_later_row_decides_a_node():
    c = gather(log("I", CONTACTS, new_pk="1", properties={"v": 1}, new=contact(company="3")),
               log("U", CONTACTS, old_pk="1", new_pk="1", properties={"v": 2},
                   old=contact(company="3"), new=contact(company="3", workspace="8")),
               log("D", CONTACTS, old_pk="1", old=contact(company="3")),
               log("I", CONTACTS, new_pk="1", properties={"v": 3}, new=contact()))
    assert final(c.nodes) == {c_("1"): (True, "7", '{"v": 3}')}
    assert c.edges == [("+", 1, c_("1"), co("3"), 1.0, "works_at"), ("-", 1, c_("1"), co("3"), 1.0, "works_at")]


# A key two rows hold for a moment (a deferrable unique key, inside a transaction)

def test_a_new_version_inserted_before_the_old_one_is_deleted_keeps_the_node():
    c = gather(log("I", CONTACTS, new_pk="1", properties={"v": "new"}, new=contact()),
               log("D", CONTACTS, old_pk="1", old=contact()))
    assert final(c.nodes, before=1) == {c_("1"): (True, "7", '{"v": "new"}')}
    assert final(c.nodes, before=0) == {c_("1"): (False, None, None)}


def test_two_keys_swapped_in_two_statements_keep_both_nodes():
    c = gather(log("U", CONTACTS, old_pk="1", new_pk="2", properties={"v": "a"}, old=contact(), new=contact()),
               log("U", CONTACTS, old_pk="2", new_pk="1", properties={"v": "b"}, old=contact(), new=contact()))
    # Key 2: row a came in, row b left: a holds it (the last row in gives the state).
    assert final(c.nodes, before=1) == {c_("1"): (True, "7", '{"v": "b"}'), c_("2"): (True, "7", '{"v": "a"}')}


def test_a_row_leaving_a_key_another_row_holds_keeps_its_state():
    c = gather(log("D", CONTACTS, old_pk="1", old=contact()))
    assert final(c.nodes, before=2) == {c_("1"): (True, "kept", "kept")}
    assert c.nodes[c_("1")].result(2)[1] == 0  # one row holds it now: no extra rows


@pytest.mark.parametrize("seed", range(30))
def test_node_changes_compose_like_the_rows_one_by_one(seed):
    """then() of changes gathered apart equals gathering the rows together, and a
    change's count equals counting the rows in and out one by one from any start."""
    rng = np.random.default_rng(seed)
    steps = [("in", "out", "exactly")[int(rng.integers(0, 3))] for _ in range(int(rng.integers(0, 12)))]

    def apply_step(change, step, i):
        if step == "in":
            change.row_in("t%d" % i, "p%d" % i)
        elif step == "out":
            change.row_out()
        else:
            change = change.then(changes.NodeChange.exactly(i % 3, ("x", "y") if i % 3 else None))
        return change

    whole = changes.NodeChange()
    parts = []
    for i, step in enumerate(steps):
        whole = apply_step(whole, step, i)
        parts.append(apply_step(changes.NodeChange(), step, i))
    folded = changes.NodeChange()
    for part in parts:
        folded = folded.then(part)
    for before in range(4):
        count = before
        for i, step in enumerate(steps):
            count = count + 1 if step == "in" else max(count - 1, 0) if step == "out" else i % 3
        assert whole.count(before) == folded.count(before) == count
        assert whole.result(before) == folded.result(before)


@pytest.mark.parametrize("row", [
    log("I", CONTACTS, new_pk=None, properties={}, new=contact(), row_id=41),
    log("I", CONTACTS, new_pk="1", properties={}, new=None, row_id=41),
    log("U", CONTACTS, old_pk=None, new_pk="1", properties={}, old=contact(), new=contact(), row_id=41),
    log("U", CONTACTS, old_pk="1", new_pk="1", properties={}, old=None, new=contact(), row_id=41),
    log("U", RELATIONS, old_pk="r", new_pk=None, old={}, new={}, row_id=41),
    log("D", CONTACTS, old_pk=None, old=contact(), row_id=41),
    log("D", CONTACTS, old_pk="1", old=None, row_id=41),
], ids=["I-no-key", "I-no-row", "U-no-old-key", "U-no-old-row", "U-no-new-key", "D-no-key", "D-no-row"])
def test_a_row_without_its_key_or_captured_row_raises_and_adds_nothing(row):
    c = gather(log("I", CONTACTS, new_pk="5", properties={}, new=contact(company="3")))
    before = (final(c.nodes), list(c.edges))
    with pytest.raises(ValueError, match="log row 41"):
        changes.add_row(REG, row, c)
    assert (final(c.nodes), c.edges) == before


# fold_rows

def test_fold_rows_of_plain_rows_is_add_row_in_order():
    rows = [log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            log("I", RELATIONS, new_pk="r", new={"source_id": "1", "target_id": "2", "weight": "2", "type": "x"}),
            log("U", CONTACTS, old_pk="1", new_pk="2", properties={}, old=contact(company="3"),
                new=contact(company="4")),
            log("D", RELATIONS, old_pk="r", old={"source_id": "1", "target_id": "2", "weight": "2", "type": "x"})]
    c = gather(*rows)
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    assert (final(nodes), edges, truncated, cuts) == (final(c.nodes), c.edges, set(), set())


def test_truncate_of_a_node_table_cuts_what_it_carries_and_kills_its_nodes():
    rows = [log("I", COMPANIES, new_pk="3", properties={}, new={}),
            log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3", manager="2")),
            log("I", RELATIONS, new_pk="r", new={"source_id": "1", "target_id": "2", "weight": None, "type": None}),
            log("T", CONTACTS),
            log("I", CONTACTS, new_pk="5", properties={"after": True}, new=contact(company="3"))]
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    assert truncated == {CONTACTS}
    assert cuts == {WORKS_AT.edge_source_id, REPORTS_TO.edge_source_id}
    assert final(nodes) == {co("3"): (True, None, "{}"), c_("1"): (False, None, None),
                     c_("5"): (True, "7", '{"after": true}')}
    assert edges == [  # the join table's rows still stand; the contacts' edges before the cut are gone
        ("+", 3, c_("1"), c_("2"), 1.0, "relations"), ("+", 3, c_("2"), c_("1"), 1.0, "relations"),
        ("+", 1, c_("5"), co("3"), 1.0, "works_at")]


def test_truncate_of_a_join_table_cuts_its_edges_only():
    rows = [log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            log("I", RELATIONS, new_pk="r", new={"source_id": "1", "target_id": "2", "weight": None, "type": None}),
            log("T", RELATIONS),
            log("I", RELATIONS, new_pk="s", new={"source_id": "2", "target_id": "3", "weight": None, "type": None})]
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    assert (truncated, cuts) == (set(), {RELATED.edge_source_id})
    assert final(nodes) == {c_("1"): (True, "7", "{}")}
    assert edges == [("+", 1, c_("1"), co("3"), 1.0, "works_at"),
                     ("+", 3, c_("2"), c_("3"), 1.0, "relations"), ("+", 3, c_("3"), c_("2"), 1.0, "relations")]


def test_truncate_of_a_table_carrying_nothing_cuts_nothing():
    """Edges pointing at the truncated table's nodes are carried by other tables: they stay."""
    rows = [log("I", COMPANIES, new_pk="3", properties={}, new={}),
            log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            log("T", COMPANIES),
            log("T", OTHER)]
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    assert (truncated, cuts) == ({COMPANIES}, set())
    assert final(nodes) == {co("3"): (False, None, None), c_("1"): (True, "7", "{}")}
    assert edges == [("+", 1, c_("1"), co("3"), 1.0, "works_at")]


@pytest.mark.parametrize("bad", [
    log("I", CONTACTS, new_pk="x", properties={}, new=None),
    log("U", CONTACTS, old_pk=None, new_pk="x", properties={}, old=contact(), new=contact()),
    log("D", CONTACTS, old_pk="x", old=None),
    dict(log("I", CONTACTS, new_pk="x", properties={}), new_row='{"company_id": '),  # not JSON
    log("I", CONTACTS, new_pk="x", properties={}, new=contact(manager="2", trust="heavy")),  # weight
    {k: v for k, v in log("I", CONTACTS, new_pk="x", new=contact()).items() if k != "properties"},
    {k: v for k, v in log("D", CONTACTS, old_pk="x", old=contact()).items() if k != "new_row"},
], ids=["I-no-row", "U-no-old-key", "D-no-row", "bad-json", "bad-weight", "no-properties", "no-new_row"])
def test_fold_rows_skips_a_row_it_cannot_gather_whole(bad):
    """Nothing of a skipped row is kept (not its node change made before its edges
    failed), and the rows around it are folded."""
    rows = [log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            dict(bad, id=2),
            log("D", CONTACTS, old_pk="1", old=contact(company="3"), row_id=3)]
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    assert final(nodes) == {c_("1"): (False, None, None)}
    assert edges == [("+", 1, c_("1"), co("3"), 1.0, "works_at"), ("-", 1, c_("1"), co("3"), 1.0, "works_at")]
    assert (truncated, cuts) == (set(), set())


def test_a_key_a_truncate_left_counts_its_rows_from_none_in_every_field():
    """A key first met after its table's TRUNCATE: exactly 0 rows, then each row in and out."""
    rows = [log("T", CONTACTS),
            log("I", CONTACTS, new_pk="1", properties={}, new=contact(), row_id=2),
            log("D", CONTACTS, old_pk="2", old=contact(), row_id=3)]
    nodes, _, _, _ = changes.fold_rows(REG, rows)
    came, went = changes.NodeChange.exactly(0), changes.NodeChange.exactly(0)
    came.row_in("7", "{}")
    went.row_out()
    assert nodes == {c_("1"): came, c_("2"): went}


def test_an_update_keeping_or_moving_its_edges_diffs_them_as_multisets():
    a, b = _e("+", "3")[1:], _e("+", "4")[1:]
    assert changes.edge_diff([a, b], [a, b]) == ([], [])
    assert changes.edge_diff([a, a, b], [b, a]) == ([a], [])
    assert changes.edge_diff([a], [b, a]) == ([], [b])


def test_fold_rows_takes_the_table_oid_as_text_too():
    nodes, _, _, _ = changes.fold_rows(REG, [dict(log("I", CONTACTS, new_pk="1", properties={}, new=contact()),
                                                  table_oid=str(CONTACTS))])
    assert final(nodes) == {c_("1"): (True, "7", "{}")}


# fold_rows against the source tables: a random history of contacts and relations rows,
# folded, leaves the nodes and edges a fresh read of the final tables gives.

def source_edges(contacts, relations):
    """The edges of the tables' rows, written out from the registry's meaning."""
    found = Counter()
    for pk, r in contacts.items():
        if r["company_id"] is not None:
            found[(1, c_(pk), co(r["company_id"]), 1.0, "works_at")] += 1
        if r["manager_id"] is not None:
            w = 1.0 if r["trust"] is None else float(r["trust"])
            found[(2, c_(pk), c_(r["manager_id"]), w, r["kind"] or "reports_to")] += 1
    for r in relations.values():
        if r["source_id"] is not None and r["target_id"] is not None:
            w = 1.0 if r["weight"] is None else float(r["weight"])
            label = r["type"] if r["type"] is not None else "relations"
            found[(3, c_(r["source_id"]), c_(r["target_id"]), w, label)] += 1
            found[(3, c_(r["target_id"]), c_(r["source_id"]), w, label)] += 1
    return found


def random_history(rng, steps):
    """Log rows of random writes, and the tables they leave (pk -> captured row)."""
    tables = {CONTACTS: {}, RELATIONS: {}}
    rows = []

    def pick(choices):
        return choices[int(rng.integers(0, len(choices)))]

    def value(table):
        if table == CONTACTS:
            return {"workspace_id": pick(["7", "8", None]), "company_id": pick(["3", "4", None]),
                    "manager_id": pick(["1", "2", "3", None]), "trust": pick(["0.5", "2", None]),
                    "kind": pick(["mentor", None])}
        return {"source_id": pick(["1", "2", "3", None]), "target_id": pick(["1", "2", "3"]),
                "weight": pick(["1", "2.5", None]), "type": pick(["friend", None])}

    for i in range(steps):
        table = pick([CONTACTS, RELATIONS])
        rows_of = tables[table]
        free = [str(k) for k in range(1, 7) if str(k) not in rows_of]
        kind = rng.random()
        if kind < 0.05:
            rows.append(log("T", table, row_id=i))
            rows_of.clear()
        elif kind < 0.45 and free:
            pk, new = pick(free), value(table)
            rows.append(log("I", table, new_pk=pk, properties={"v": i}, new=new, row_id=i))
            rows_of[pk] = new
        elif kind < 0.8 and rows_of:
            old_pk = pick(sorted(rows_of))
            new_pk = pick(free) if free and rng.random() < 0.3 else old_pk
            old = rows_of.pop(old_pk)
            new = value(table) if rng.random() < 0.7 else old
            rows.append(log("U", table, old_pk=old_pk, new_pk=new_pk, properties={"v": i}, old=old, new=new,
                            row_id=i))
            rows_of[new_pk] = new
        elif rows_of:
            pk = pick(sorted(rows_of))
            rows.append(log("D", table, old_pk=pk, old=rows_of.pop(pk), row_id=i))
    return rows, tables


@pytest.mark.parametrize("seed", range(40))
def test_a_history_with_briefly_shared_keys_keeps_every_held_key_alive(seed):
    """Rows of a table whose key is deferrable: an insert or a key change may land on
    a key another row holds. A node is alive exactly when some row holds its key."""
    rng = np.random.default_rng(seed)
    held = Counter()  # key -> rows holding it
    rows = []
    for i in range(int(rng.integers(1, 80))):
        kind = rng.random()
        pk = str(int(rng.integers(1, 5)))
        if kind < 0.4:
            rows.append(log("I", CONTACTS, new_pk=pk, properties={"v": i}, new=contact(), row_id=i))
            held[pk] += 1
        elif kind < 0.45 and held:
            rows.append(log("T", CONTACTS, row_id=i))
            held.clear()
        elif +held:
            old = sorted(+held)[int(rng.integers(0, len(+held)))]
            held[old] -= 1
            if kind < 0.7:
                rows.append(log("U", CONTACTS, old_pk=old, new_pk=pk, properties={"v": i}, old=contact(),
                                new=contact(), row_id=i))
                held[pk] += 1
            else:
                rows.append(log("D", CONTACTS, old_pk=old, old=contact(), row_id=i))
    nodes, _, _, _ = changes.fold_rows(REG, rows)
    assert {k[1] for k, v in final(nodes).items() if v[0]} == set(+held)
    for k, change in nodes.items():
        assert change.result(0)[1] == max(held[k[1]] - 1, 0)


@pytest.mark.parametrize("seed", range(40))
def test_folded_history_equals_the_final_tables(seed):
    rng = np.random.default_rng(seed)
    rows, tables = random_history(rng, int(rng.integers(1, 60)))
    nodes, edges, truncated, cuts = changes.fold_rows(REG, rows)
    contacts = tables[CONTACTS]
    nodes = final(nodes)
    alive = {k[1] for k, v in nodes.items() if v[0]}
    assert alive == set(contacts)
    for pk, r in contacts.items():
        assert nodes[c_(pk)][1] == r["workspace_id"]
    # The fold's edge changes, replayed in order from an empty graph with the cuts
    # applied there too (nothing to cut), never remove an edge that is not there ...
    graph = Counter()
    for op, *edge in edges:
        edge = tuple(edge)
        if op == "+":
            graph[edge] += 1
        else:
            assert graph[edge] > 0, edge
            graph[edge] -= 1
    # ... and leave exactly the edges of the final tables.
    assert +graph == source_edges(contacts, tables[RELATIONS])
    assert truncated <= {CONTACTS} and cuts <= {1, 2, 3}


# computed endpoints and row filters (the row image's "" entry, graph._carried_expr)

ENTITIES, LINKS = 600, 700
ENTITY = NodeTable(ENTITIES, "app.entities", ("workspace_id", "id"), (), None, (), "(deleted_at IS NULL)")
PROJECT = EdgeSource(11, "fk", ENTITIES, None, ENTITIES, None, None, "projectId", False, None, None,
                     ("workspace_id", "properties"), None, ("projectId",))
LINKED = EdgeSource(12, "join", ENTITIES, None, ENTITIES, None, LINKS, "links", True, None, "type",
                    ("workspace_id", "source_id"), ("workspace_id", "target_id"), None, "(deleted_at IS NULL)")
FILTERED_FK = EdgeSource(13, "fk", ENTITIES, "owner_id", ENTITIES, None, None, "owner", False, None, None,
                         None, None, None, "(kind <> 'x'::text)")
COMPUTED = Registry({ENTITIES: ENTITY}, (PROJECT, LINKED, FILTERED_FK))


def e_(pk):
    return (ENTITIES, pk)


def test_computed_endpoints_give_one_edge_per_logged_key():
    row = {"owner_id": "(1,9)", "": {"11": {"t": ["(1,2)", "(1,3)", "(1,2)"]}, "13": True, "n": True}}
    assert changes.edges_of_row(COMPUTED, ENTITIES, "(1,1)", row) == [
        (11, e_("(1,1)"), e_("(1,2)"), 1.0, "projectId"), (11, e_("(1,1)"), e_("(1,3)"), 1.0, "projectId"),
        (11, e_("(1,1)"), e_("(1,2)"), 1.0, "projectId"), (13, e_("(1,1)"), e_("(1,9)"), 1.0, "owner")]
    assert changes.edges_of_row(COMPUTED, ENTITIES, "(1,1)", {"": {"11": {"t": []}, "13": True}}) == []


def test_a_join_row_links_every_from_key_to_every_to_key_both_ways():
    row = {"type": "blocks", "": {"12": {"f": ["(1,1)"], "t": ["(1,2)"]}}}
    assert changes.edges_of_row(COMPUTED, LINKS, "r", row) == [
        (12, e_("(1,1)"), e_("(1,2)"), 1.0, "blocks"), (12, e_("(1,2)"), e_("(1,1)"), 1.0, "blocks")]


def test_a_row_failing_an_edge_filter_carries_no_edge_and_moving_in_adds_it():
    out = {"type": None, "": {"12": False}}
    back = {"type": None, "": {"12": {"f": ["(1,1)"], "t": ["(1,2)"]}}}
    assert changes.edges_of_row(COMPUTED, LINKS, "r", out) == []
    c = gather_in(COMPUTED, log("U", LINKS, old_pk="r", new_pk="r", old=out, new=back))
    assert c.edges == [("+", 12, e_("(1,1)"), e_("(1,2)"), 1.0, "links"),
                       ("+", 12, e_("(1,2)"), e_("(1,1)"), 1.0, "links")]
    c = gather_in(COMPUTED, log("U", LINKS, old_pk="r", new_pk="r", old=back, new=out))
    assert [e[0] for e in c.edges] == ["-", "-"]


def test_a_row_failing_the_node_filter_is_no_node():
    alive, gone = {"": {"n": True, "11": {"t": []}, "13": True}}, {"": {"n": False, "11": {"t": []}, "13": True}}
    c = gather_in(COMPUTED, log("I", ENTITIES, new_pk="(1,1)", properties={}, new=gone))
    assert c.nodes == {}
    c = gather_in(COMPUTED, log("U", ENTITIES, old_pk="(1,1)", new_pk="(1,1)", properties={}, old=gone, new=alive))
    assert final(c.nodes) == {e_("(1,1)"): (True, None, "{}")}  # soft-deleted row restored: a node insert
    c = gather_in(COMPUTED, log("U", ENTITIES, old_pk="(1,1)", new_pk="(1,1)", properties={}, old=alive, new=gone))
    assert final(c.nodes, before=1) == {e_("(1,1)"): (False, None, None)}  # soft delete: a node delete


def test_a_filter_that_raised_at_capture_raises_at_replay():
    failed = {"": {"n": {"error": "division by zero", "row": "n"}, "11": {"t": []}, "13": True}}
    with pytest.raises(ValueError, match="division by zero"):
        gather_in(COMPUTED, log("I", ENTITIES, new_pk="(1,1)", properties={}, new=failed))
    with pytest.raises(ValueError, match="division by zero"):
        changes.edges_of_row(COMPUTED, LINKS, "r", {"": {"12": {"error": "division by zero", "row": "o"}}})


def gather_in(reg, *rows):
    c = changes.Changes()
    for row in rows:
        changes.add_row(reg, row, c)
    return c


# add_rows: the batch reading replay and folds use, against add_row row by row

def _one_by_one(reg, rows):
    c = changes.Changes()
    for row in rows:
        changes.add_row(reg, row, c)
    return c


@pytest.mark.parametrize("seed", range(40))
def test_add_rows_of_a_batch_equals_add_row_one_by_one(seed):
    rng = np.random.default_rng(seed)
    rows, _ = random_history(rng, int(rng.integers(1, 60)))
    rows = [r for r in rows if r["op"] != "T"]
    one_by_one = _one_by_one(REG, rows)
    batch = changes.Changes()
    assert changes.add_rows(REG, rows, batch) == 0
    assert (final(batch.nodes), batch.edges) == (final(one_by_one.nodes), one_by_one.edges)
    for k, change in batch.nodes.items():
        assert (change.add, change.floor, change.absolute) == (
            one_by_one.nodes[k].add, one_by_one.nodes[k].floor, one_by_one.nodes[k].absolute)


def test_add_rows_reads_filtered_and_computed_tables_as_add_row_does():
    alive = {"": {"n": True, "11": {"t": ["(1,2)"]}, "13": True}, "owner_id": "(1,9)"}
    gone = {"": {"n": False, "11": {"t": []}, "13": True}, "owner_id": None}
    link = {"type": "blocks", "": {"12": {"f": ["(1,1)"], "t": ["(1,2)"]}}}
    rows = [log("I", ENTITIES, new_pk="(1,1)", properties={}, new=alive),
            log("I", LINKS, new_pk="r", new=link),
            log("U", ENTITIES, old_pk="(1,1)", new_pk="(1,1)", properties={"x": 1}, old=alive, new=gone),
            log("D", LINKS, old_pk="r", old=link)]
    one_by_one, batch = _one_by_one(COMPUTED, rows), changes.Changes()
    changes.add_rows(COMPUTED, rows, batch)
    assert (final(batch.nodes), batch.edges) == (final(one_by_one.nodes), one_by_one.edges)


@pytest.mark.parametrize("bad", [
    log("I", CONTACTS, new_pk="x", properties={}, new=None),
    log("D", CONTACTS, old_pk=None, old=contact()),
    dict(log("I", CONTACTS, new_pk="x", properties={}), new_row='{"company_id": '),  # not JSON
    log("I", CONTACTS, new_pk="x", properties={}, new=contact(manager="2", trust="heavy")),  # weight
    log("I", CONTACTS, new_pk="x", properties={}, new=contact(trust="heavy")),  # weight of no edge
    {k: v for k, v in log("I", CONTACTS, new_pk="x", new=contact()).items() if k != "properties"},
], ids=["I-no-row", "D-no-key", "bad-json", "bad-weight", "bad-weight-no-end", "no-properties"])
def test_add_rows_raises_on_a_row_it_cannot_gather_or_skips_it_whole(bad):
    rows = [log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            dict(bad, id=2),
            log("D", RELATIONS, old_pk="r", old={"source_id": "1", "target_id": "2", "weight": None, "type": None})]
    with pytest.raises((ValueError, KeyError)):
        changes.add_rows(REG, rows, changes.Changes())
    c = changes.Changes()
    assert changes.add_rows(REG, rows, c, skip=True) == 1
    expected = _one_by_one(REG, [rows[0], rows[2]])
    assert (final(c.nodes), c.edges) == (final(expected.nodes), expected.edges)


def _e(op, dst, weight=1.0, source=1):
    return (op, source, (CONTACTS, "1"), (COMPANIES, dst), weight, "works_at")


def test_cancel_edges_drops_an_addition_that_a_later_removal_undoes():
    a, b = _e("+", "1"), _e("+", "2")
    assert changes.cancel_edges([a, b, _e("-", "1")]) == [b]
    # Two additions, one removal: one addition stays, the first (the later one is taken).
    assert changes.cancel_edges([a, b, a, _e("-", "1")]) == [a, b]


def test_cancel_edges_keeps_a_removal_before_any_addition_and_other_edges():
    minus, plus = _e("-", "1"), _e("+", "1")
    # The removal may take an edge of the base; the addition comes after it.
    assert changes.cancel_edges([minus, plus]) == [minus, plus]
    # Another weight or source is another edge.
    edges = [plus, _e("-", "1", weight=2.0), _e("-", "1", source=2)]
    assert changes.cancel_edges(edges) is edges


def test_cancel_edges_matches_nan_weights_by_weights_key():
    """nan != nan: cancel_edges keys edges with weights.key (NaN as +Infinity), so a
    removal of a NaN-weighted edge takes the addition before it, whatever NaN objects
    the two hold, and an infinite weight is the same weight."""
    plus, minus = _e("+", "1", weight=float("nan")), _e("-", "1", weight=-float("nan"))
    assert changes.cancel_edges([plus, minus]) == []
    assert changes.cancel_edges([_e("+", "1", weight=float("inf")), minus]) == []
    assert changes.cancel_edges([plus, _e("-", "1", weight=1.0)]) == [plus, _e("-", "1", weight=1.0)]


@pytest.mark.parametrize("seed", range(20))
def test_cancel_edges_leaves_every_reading_of_the_overlay_unchanged(seed):
    rng = np.random.default_rng(seed)
    edges = [_e("+" if rng.random() < 0.55 else "-", str(rng.integers(3)), float(rng.integers(2)))
             for _ in range(int(rng.integers(0, 40)))]
    kept = changes.cancel_edges(edges)
    assert len(kept) <= len(edges)
    for before in range(3):
        for key in {c[1:] for c in edges}:
            # Summed, as csr.fold_overlay and adjacency.Overlay count; and in order,
            # a removal never taking the count below 0.
            def summed(cs, key=key):
                return sum(1 if c[0] == "+" else -1 for c in cs if c[1:] == key)

            def ordered(cs, key=key, before=before):
                n = before
                for c in cs:
                    if c[1:] == key:
                        n = n + 1 if c[0] == "+" else max(n - 1, 0)
                return n

            assert summed(kept) == summed(edges)
            assert ordered(kept) == ordered(edges)


def _edge_diff_by_remove(old, new):
    """edge_diff's answer as list.remove gave it (the reference: quadratic)."""
    new = list(new)
    gone = []
    for edge in old:
        if edge in new:
            new.remove(edge)
        else:
            gone.append(edge)
    return gone, new


def test_edge_diff_is_the_multiset_difference_list_remove_gave():
    import random

    rng = random.Random(11)
    for _ in range(300):
        pool = [(1, "k%d" % i, 2, "t%d" % (i % 3), 1.0, None) for i in range(rng.randint(1, 6))]
        old = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        new = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        assert changes.edge_diff(old, new) == _edge_diff_by_remove(old, new)


def test_edge_diff_compares_each_edge_a_bounded_number_of_times():
    """References updated in reverse order: each old edge is in new, found at once.
    list.remove scanned new for each (quadratic: 20,000 references took 14 s to
    replay, as long in every read that folded them); counted, not timed."""
    compared = [0]

    class Edge(tuple):
        def __eq__(self, other):
            compared[0] += 1
            return tuple.__eq__(self, other)

        __hash__ = tuple.__hash__

    n = 2000
    old = [Edge((1, "1", 2, "t%d" % i, 1.0, "tagged")) for i in range(n)]
    assert changes.edge_diff(old, old[::-1]) == ([], [])
    assert compared[0] <= 4 * n  # list.remove: some n * n / 2
    compared[0] = 0
    assert _edge_diff_by_remove(old, old[::-1]) == ([], [])
    assert compared[0] > n * n // 4  # (the reference is quadratic: the count tells them apart)
