"""graphsync.sync.apply.by_halves: a failing batch applied again by halves, against
row by row (what each row alone does), with the runs counted."""

import random

import pytest

from graphsync.sync.apply import EdgeBufferFull, by_halves


class Cancel(Exception):
    sqlstate = "57014"


def rows_of(n):
    return [{"id": 10 + i} for i in range(n)]


class Runs:
    """run(part) of by_halves: refuses a part holding a row of ``bad``, fills the buffer
    once ``room`` rows are applied, records what it applied."""

    def __init__(self, bad=(), room=None, cancel=None):
        self.bad, self.room, self.cancel = set(bad), room, cancel
        self.applied, self.calls = [], 0

    def __call__(self, part):
        self.calls += 1
        ids = [r["id"] for r in part]
        if self.cancel in ids:
            raise Cancel("canceling statement due to user request")
        refused = [i for i in ids if i in self.bad]
        if refused:
            raise ValueError("row %d refused\nsecond line" % refused[0])
        if self.room is not None and len(self.applied) + len(ids) > self.room:
            raise EdgeBufferFull()
        self.applied += ids


def row_by_row(rows, bad, room, stop):
    """(done, applied, failed ids, stop) as one row at a time gives them."""
    applied, failed = [], []
    for i, r in enumerate(rows):
        if r["id"] in bad:
            failed.append(r["id"])
            if stop:
                return i, applied, failed, "failed_row"
            continue
        if room is not None and len(applied) + 1 > room:
            return i, applied, failed, "edge_buffer_full"
        applied.append(r["id"])
    return len(rows), applied, failed, None


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("stop", [False, True])
def test_the_same_outcome_as_row_by_row(seed, stop):
    rng = random.Random(seed)
    rows = rows_of(rng.randint(1, 300))
    bad = {r["id"] for r in rows if rng.random() < rng.choice([0, 0.01, 0.1, 1])}
    room = rng.choice([None, None, rng.randint(0, len(rows))])
    run = Runs(bad, room)
    done, applied, failures, why = by_halves(rows, run, stop_at_failure=stop)
    assert (done, [r["id"] for r in applied], [r["id"] for r, _ in failures], why) == \
        row_by_row(rows, bad, room, stop)
    assert run.applied == [r["id"] for r in applied]
    assert all(message == "row %d refused" % r["id"] for r, message in failures)  # its own error, first line


@pytest.mark.parametrize("n", [2, 100, 10_000])
def test_k_failing_rows_cost_about_2k_log2_n_runs(n):
    rows = rows_of(n)
    for k in (1, 2, 5):
        bad = {rows[i]["id"] for i in random.Random(k).sample(range(n), min(k, n))}
        run = Runs(bad)
        by_halves(rows, run)
        assert run.calls <= 2 * len(bad) * max(1, n.bit_length()) + 1, (n, k, run.calls)


def test_a_batch_that_already_failed_is_not_run_again():
    rows = rows_of(8)
    run = Runs({13})
    done, applied, failures, why = by_halves(rows, run, exc=ValueError("row 13 refused"))
    assert (done, len(applied), [r["id"] for r, _ in failures], why) == (8, 7, [13], None)
    assert run.calls == 6  # 10-13 (fails), 10-11, 12-13 (fails), 12, 13 (fails), 14-17


def test_a_single_row_that_failed_keeps_the_error_it_failed_with():
    done, applied, failures, why = by_halves(rows_of(1), Runs(), exc=ValueError("first\nsecond"))
    assert (done, applied, failures, why) == (1, [], [({"id": 10}, "first")], None)


def test_a_cancel_stops_at_once():
    run = Runs({12}, cancel=11)
    with pytest.raises(Cancel):
        by_halves(rows_of(4), run)


def test_no_rows():
    run = Runs()
    assert by_halves([], run) == (0, [], [], None) and run.calls == 0


class LimitExceeded(Exception):
    """A plpy.SPIError of SQLSTATE 54000 as PL/Python raises it: spidata holds
    (sqlerrcode, detail, hint, query, position, schema, table, column, datatype,
    constraint)."""

    sqlstate = "54000"

    def __init__(self, message, schema=None, table=None, constraint=None):
        super().__init__(message)
        self.spidata = (0, None, None, None, 0, schema, table, None, None, constraint)


@pytest.mark.parametrize("where, passed", [
    (("graph", "_node_rows", "_nodes_table_oid_pk_key"), True),  # graph._nodes' key index
    (("public", "tags", "tags_pkey"), False),                    # another table's index
    (("graph", "_node_rows", "_nodes_tenant_idx"), False),        # another index of graph._nodes
    ((None, None, None), False),                                 # a 54000 from anywhere else
])
def test_only_a_key_too_long_for_the_node_index_never_stops(where, passed):
    """Under stop, a row whose key graph._nodes' unique index cannot hold is recorded,
    saying so, and passed (no apply of it can succeed); any other 54000 stops."""
    def run(part):
        if 12 in [r["id"] for r in part]:
            raise LimitExceeded('index row size 3216 exceeds btree version 4 maximum 2704 for index "x"', *where)
    done, applied, failures, why = by_halves(rows_of(4), run, stop_at_failure=True)
    assert [r["id"] for r, _ in failures] == [12]
    assert (done, why) == ((4, None) if passed else (2, "failed_row"))
    assert failures[0][1].startswith("a key this row names is too long to index") == passed, failures
    assert failures[0][1].endswith('maximum 2704 for index "x"'), failures
