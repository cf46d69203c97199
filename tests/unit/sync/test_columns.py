"""graphsync.sync.columns: log rows read as columns give exactly what changes.fold_rows
gives row by row -- the same node changes, the same edge changes in the same order,
the same truncated tables and cuts -- on random histories of node and join tables,
with rows it cannot gather, computed and filtered tables, TRUNCATEs and values that
are not text."""

import json

import numpy as np
import pytest
from test_changes import (
    ADVICE,
    COMPANIES,
    COMPUTED,
    CONTACTS,
    ENTITIES,
    LINKS,
    REG,
    RELATIONS,
    contact,
    final,
    log,
    random_history,
)
from test_imagetext import expected_int, random_images

from graphsync.sync import changes, columns, imagetext
from graphsync.sync.registry import EdgeSource, Registry


def as_columns(rows):
    return {c: [r.get(c) for r in rows] for c in columns.COLUMNS}


def both(reg, rows):
    nodes, edges, truncated, cuts = changes.fold_rows(reg, rows)
    c_nodes, c_edges, c_truncated, c_cuts = columns.fold_columns(reg, as_columns(rows))
    assert final(c_nodes) == final(nodes)
    for k, change in c_nodes.items():
        assert (change.add, change.floor, change.absolute) == (
            nodes[k].add, nodes[k].floor, nodes[k].absolute)
    assert c_edges.tuples() == edges
    assert (c_truncated, c_cuts) == (truncated, cuts)
    assert c_edges.ops.dtype == np.int64 and c_edges.weights.dtype == np.float64
    return c_edges


def relation(rng):
    def pick(choices):
        return choices[int(rng.integers(0, len(choices)))]
    return {"source_id": pick(["1", "2", "3", None]), "target_id": pick(["1", "2", "3", None]),
            "weight": pick(["1", "2.5", None, "NaN", "1e400", "heavy"]), "type": pick(["friend", None])}


def join_history(rng, steps, start=0):
    """Inserts and deletes of join rows (RELATIONS: bidirectional, weight and label
    columns; ADVICE: neither), some that cannot be gathered, with their ids."""
    rows = []
    held = {RELATIONS: {}, ADVICE: {}}
    for i in range(start, start + steps):
        table = RELATIONS if rng.random() < 0.7 else ADVICE
        kind = rng.random()
        if kind < 0.55 or not held[table]:
            pk = "r%d" % i
            new = relation(rng) if table == RELATIONS else {
                "contact_id": str(rng.integers(1, 4)), "company_id": str(rng.integers(1, 4))}
            if kind < 0.03:
                rows.append(log("I", table, new_pk=None, new=new, row_id=i))  # no key: skipped
                continue
            rows.append(log("I", table, new_pk=pk, new=new, row_id=i))
            held[table][pk] = new
        else:
            pk = sorted(held[table])[int(rng.integers(0, len(held[table])))]
            rows.append(log("D", table, old_pk=pk, old=held[table].pop(pk), row_id=i))
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_join_rows_read_as_columns_are_fold_rows(seed):
    rng = np.random.default_rng(seed)
    both(REG, join_history(rng, int(rng.integers(1, 200))))


@pytest.mark.parametrize("seed", range(40))
def test_mixed_histories_read_as_columns_are_fold_rows(seed):
    """Node rows (contacts, with FK edges), updates, TRUNCATEs and join rows in between."""
    rng = np.random.default_rng(seed)
    rows, _ = random_history(rng, int(rng.integers(1, 60)))
    if seed % 2:
        rows = [r for r in rows if r["op"] != "T"]  # the column reading, not the fallback
    mixed = []
    for r in rows:
        mixed.append(r)
        mixed += join_history(rng, int(rng.integers(0, 4)), start=1000 * len(mixed))
    both(REG, mixed)


def test_rows_it_cannot_gather_are_skipped_as_fold_rows_skips_them():
    good = {"source_id": "1", "target_id": "2", "weight": "2", "type": "x"}
    rows = [log("I", RELATIONS, new_pk="a", new=good),
            log("I", RELATIONS, new_pk="b", new=dict(good, weight="heavy")),  # skipped whole
            log("I", RELATIONS, new_pk="c", new=dict(good, source_id=None)),  # no edge
            log("I", RELATIONS, new_pk="d", new=None),  # no image: skipped
            log("D", RELATIONS, old_pk="e", old={}),  # an empty image: add_rows' reading
            log("I", RELATIONS, old_pk="f", new_pk="f", old=good, new=good),  # an image of each: the diff
            log("D", RELATIONS, old_pk="a", old=good)]
    edges = both(REG, rows)
    assert len(edges) == 4


def test_computed_and_filtered_tables_go_row_by_row():
    alive = {"": {"n": True, "11": {"t": ["(1,2)"]}, "13": True}, "owner_id": "(1,9)"}
    link = {"type": "blocks", "": {"12": {"f": ["(1,1)"], "t": ["(1,2)"]}}}
    rows = [log("I", ENTITIES, new_pk="(1,1)", properties={}, new=alive),
            log("I", LINKS, new_pk="r", new=link),
            log("D", LINKS, old_pk="r", old=link)]
    assert len(both(COMPUTED, rows)) == 6


@pytest.mark.parametrize("odd", [
    {"source_id": 1, "target_id": "2", "weight": None, "type": None},  # a number, not a text
    {"source_id": "1", "target_id": "2", "weight": None, "type": ["x"]},
    {"source_id": "1", "target_id": "2", "weight": 2, "type": None},
], ids=["number-end", "list-label", "number-weight"])
def test_values_that_are_not_text_fold_row_by_row(odd):
    rows = [log("I", RELATIONS, new_pk="a", new={"source_id": "1", "target_id": "2", "weight": "1", "type": "x"}),
            log("I", RELATIONS, new_pk="b", new=odd)]
    try:
        expected = changes.fold_rows(REG, rows)
    except TypeError:  # an unhashable label: fold_rows' callers fail on it too
        return
    nodes, edges, _, _ = columns.fold_columns(REG, as_columns(rows))
    assert edges.tuples() == expected[1]


def test_json_that_does_not_parse_folds_row_by_row():
    rows = [log("I", CONTACTS, new_pk="1", properties={}, new=contact(company="3")),
            dict(log("I", RELATIONS, new_pk="x"), new_row='{"source_id": '),
            log("I", RELATIONS, new_pk="y", new={"source_id": "1", "target_id": "2", "weight": None, "type": None})]
    both(REG, rows)


def test_no_rows():
    nodes, edges, truncated, cuts = columns.fold_columns(REG, as_columns([]))
    assert (nodes, edges.tuples(), truncated, cuts) == ({}, [], set(), set())


def test_rows_of_gives_the_rows_back():
    rows = [log("I", COMPANIES, new_pk="3", properties={"a": 1}, new={}, row_id=5)]
    assert columns.rows_of(as_columns(rows)) == rows
    assert json.loads(columns.rows_of(as_columns(rows))[0]["properties"]) == {"a": 1}


@pytest.mark.parametrize("seed", range(20))
def test_a_backlog_of_join_inserts_reads_integer_ends_as_integers(seed):
    """Only inserts of join rows (read without object arrays): the same changes as
    fold_rows; every end that is an integer's decimal text is held as that integer
    (EdgeColumns.from_ints / to_ints, its text None), the others as text."""
    rng = np.random.default_rng(seed)
    rows = [r for r in join_history(rng, int(rng.integers(1, 200))) if r["op"] == "I" and r["new_pk"]]
    edges = both(REG, rows)
    if not len(edges):
        return
    assert edges.from_ints is not None and edges.to_ints is not None
    for pks, ints, texts in ((edges.from_pks, edges.from_ints, edges.key_texts(0)),
                             (edges.to_pks, edges.to_ints, edges.key_texts(1))):
        for pk, i, text in zip(pks.tolist(), ints.tolist(), texts.tolist(), strict=True):
            if text.isdigit() and (text == "0" or text[0] != "0"):
                assert (pk, i) == (None, int(text))
            else:
                assert (pk, i) == (text, columns.imagetext.NOT_INT)


@pytest.mark.parametrize("seed", range(10))
def test_edges_folded_row_by_row_hold_integer_ends_as_integers(seed):
    """edge_columns (a fold of a few rows, row by row) holds an end that is an
    integer's decimal text as that integer, as the columns do, so that the fold
    resolves it among the base's integer keys; the changes are fold_rows' all the same."""
    rng = np.random.default_rng(seed)
    _, edges, _, _ = changes.fold_rows(REG, join_history(rng, int(rng.integers(1, 100))))
    e = columns.edge_columns(edges)
    assert e.tuples() == edges
    if not edges:
        return
    for pks, ints, texts in ((e.from_pks, e.from_ints, e.key_texts(0)), (e.to_pks, e.to_ints, e.key_texts(1))):
        for pk, i, text in zip(pks.tolist(), ints.tolist(), texts.tolist(), strict=True):
            if text.isdigit() and (text == "0" or text[0] != "0"):
                assert (pk, i) == (None, int(text))
            else:
                assert (pk, i) == (text, columns.imagetext.NOT_INT)


def test_ends_folded_row_by_row_are_integers_as_ints_reads_them():
    """edge_columns takes an end as an integer exactly where imagetext.ints() takes the
    same value read from images; a value that is not a str is no integer."""
    rng = np.random.default_rng(7)
    texts = random_images(rng, 200, names=("dst",))
    want = imagetext.ints(imagetext.fields(texts, ("dst",))["dst"]).tolist()
    values = [json.loads(t)["dst"] for t in texts]
    assert want == [expected_int(v) for v in values]
    odd = [1, 2.0, "٣", "²", "-0", "0", "-12"]
    e = columns.edge_columns([("+", 1, (10, v), (20, v), 1.0, "x") for v in values + odd])
    not_int = imagetext.NOT_INT
    assert e.from_ints.tolist() == e.to_ints.tolist() == want + [not_int] * 5 + [0, -12]
    assert e.from_pks.tolist() == [v if i == not_int else None
                                   for v, i in zip(values + odd, e.from_ints.tolist(), strict=True)]
    assert columns.edge_columns([]).from_ints is None


@pytest.mark.parametrize("value", ["é", 'a"b', "a\\b", "tab\there", "12345678901234567890"])
def test_images_read_by_the_json_parser_are_the_same(value):
    """Images the text reading leaves to json (beyond ASCII, escapes) and ends too
    long to be integers give what fold_rows gives."""
    good = {"source_id": "1", "target_id": "2", "weight": None, "type": None}
    rows = [log("I", RELATIONS, new_pk="a", new=good, row_id=1),
            log("I", RELATIONS, new_pk="b", new=dict(good, source_id=value, type=value), row_id=2),
            log("D", RELATIONS, old_pk="a", old=good, row_id=3)]
    assert len(both(REG, rows)) == 6


def update_history(rng, steps):
    """Join rows inserted, updated (often to a value they had, to their ends swapped,
    or to an image the text reading leaves to json) and deleted."""
    rows = []
    held = {RELATIONS: {}, ADVICE: {}}

    def image(table):
        if table == RELATIONS:
            new = relation(rng)
            if rng.random() < 0.05:
                new["type"] = "é"
            return new
        return {"contact_id": str(rng.integers(1, 4)), "company_id": str(rng.integers(1, 3))}

    for i in range(steps):
        table = RELATIONS if rng.random() < 0.7 else ADVICE
        kind = rng.random()
        if kind < 0.3 or not held[table]:
            pk = "r%d" % i
            held[table][pk] = image(table)
            rows.append(log("I", table, new_pk=pk, new=held[table][pk], row_id=i))
            continue
        pk = sorted(held[table])[int(rng.integers(0, len(held[table])))]
        old = held[table][pk]
        if kind < 0.85:
            new = dict(old)
            change = rng.random()
            if change < 0.25 and table == RELATIONS:  # the ends swapped
                new["source_id"], new["target_id"] = old["target_id"], old["source_id"]
            elif change < 0.4:
                pass  # the same image
            else:
                field = sorted(new)[int(rng.integers(0, len(new)))]
                new[field] = image(table)[field]
            new_pk = pk if rng.random() < 0.9 else "k%d" % i
            rows.append(log("U", table, old_pk=pk, new_pk=new_pk, old=old, new=new, row_id=i))
            del held[table][pk]
            held[table][new_pk] = new
        else:
            rows.append(log("D", table, old_pk=pk, old=held[table].pop(pk), row_id=i))
    return rows


@pytest.mark.parametrize("seed", range(60))
def test_join_row_updates_read_as_columns_are_fold_rows(seed):
    """Updates of join rows are read column by column (an edge in both images changes
    nothing; a bidirectional source between rows of one table also when its ends
    swapped), and give fold_rows' changes in its order: removals of every source,
    then additions, rows that cannot be gathered skipped."""
    rng = np.random.default_rng(seed)
    rows = update_history(rng, int(rng.integers(1, 120)))
    both(REG, rows)
    both(TWO, rows)  # a join table carrying two sources: every removal comes before the additions


# RELATIONS carrying a second source, its ends the other way round, with neither weight nor label
MIRRORS = EdgeSource(6, "join", CONTACTS, "target_id", CONTACTS, "source_id", RELATIONS, "mirrors", False, None, None)
TWO = Registry(REG.nodes, (*REG.edges, MIRRORS))


def test_join_row_updates_go_column_by_column():
    """The updates of a backlog under writes (the benchmark's: one join table, its
    ends changed) take the column reading, not add_rows, row by row."""
    row = {"source_id": "1", "target_id": "2", "weight": "2", "type": "x"}
    rows = [log("U", RELATIONS, old_pk="a", new_pk="a", old=row, new=dict(row, target_id=str(t)), row_id=t)
            for t in range(3, 300)]
    called = []
    original = changes.add_rows
    changes.add_rows = lambda *a, **k: called.append(a) or original(*a, **k)
    try:
        columns.fold_columns(REG, as_columns(rows))
    finally:
        changes.add_rows = original
    assert called == []
    assert len(both(REG, rows)) == 4 * len(rows)
    swapped = [log("U", RELATIONS, old_pk="a", new_pk="a", old=row, new=dict(row, source_id="2", target_id="1"))]
    assert len(both(REG, swapped)) == 0
