"""graphsync.sync.notify: what applying log rows records, and the notification's payload."""

import json
from types import SimpleNamespace

from graphsync.sync import notify

NODES, JOIN, FILTERED = 100, 300, 400
REGISTERED = {NODES: SimpleNamespace(row_filter=None), FILTERED: SimpleNamespace(row_filter="active")}


def log(i, op, table, old=None, new=None, old_row=None, new_row=None):
    """A log row; ``old_row``/``new_row``: whether that image passes the row filter."""
    def image(passes):
        return None if passes is None else json.dumps({"": {"n": passes}})
    return {"id": i, "op": op, "table_oid": table, "old_pk": old, "new_pk": new,
            "old_row": image(old_row), "new_row": image(new_row)}


def test_each_node_row_is_a_node_change_and_other_tables_are_counted_after_them():
    rows = [log(1, "I", NODES, new="1"), log(2, "I", JOIN, new="(1,2)"), log(3, "U", NODES, "1", "1"),
            log(4, "I", JOIN, new="(1,3)"), log(5, "D", JOIN, old="(1,2)"), log(6, "D", NODES, old="1")]
    assert notify.entries(REGISTERED, rows) == [
        (1, NODES, "1", "I", True, 1), (3, NODES, "1", "U", True, 1), (6, NODES, "1", "D", True, 1),
        (None, JOIN, None, "I", False, 2), (None, JOIN, None, "D", False, 1)]


def test_an_update_that_moves_the_key_is_a_delete_and_an_insert_and_a_truncate_is_one_entry():
    rows = [log(7, "U", NODES, "1", "2"), log(8, "T", NODES), log(9, "T", JOIN)]
    assert notify.entries(REGISTERED, rows) == [
        (7, NODES, "1", "D", True, 1), (7, NODES, "2", "I", True, 1),
        (8, NODES, None, "T", True, 1), (9, JOIN, None, "T", False, 1)]


def test_rows_the_row_filter_keeps_out_are_no_node_changes():
    rows = [log(1, "I", FILTERED, new="1", new_row=True), log(2, "I", FILTERED, new="2", new_row=False),
            log(3, "U", FILTERED, "1", "1", old_row=True, new_row=False),
            log(4, "U", FILTERED, "2", "2", old_row=False, new_row=True),
            log(5, "U", FILTERED, "2", "2", old_row=True, new_row=True),
            log(6, "U", FILTERED, "1", "1", old_row=False, new_row=False), log(7, "D", FILTERED, old="2", old_row=True)]
    assert notify.entries(REGISTERED, rows) == [
        (1, FILTERED, "1", "I", True, 1), (3, FILTERED, "1", "D", True, 1), (4, FILTERED, "2", "I", True, 1),
        (5, FILTERED, "2", "U", True, 1), (7, FILTERED, "2", "D", True, 1),
        (None, FILTERED, None, "I", False, 1), (None, FILTERED, None, "U", False, 1)]


def summary(tbl, op, n, first, last):
    return {"tbl": tbl, "op": op, "n": n, "first": first, "last": last}


def test_the_payload_sums_each_table_and_spans_the_call():
    text = notify.payload(3, 41, [summary("public.people", "I", 2, 11, 14), summary("public.people", "D", 1, 12, 12),
                                  summary("public.knows", "I", 5, 13, 13)])
    assert json.loads(text) == {
        "generation": 3, "version": 41, "from_sync_id": 11, "to_sync_id": 14,
        "tables": {"public.knows": {"inserted": 5, "updated": 0, "deleted": 0},
                   "public.people": {"inserted": 2, "updated": 0, "deleted": 1}}}


def test_a_rebuild_and_a_truncate_say_so():
    body = json.loads(notify.payload(4, 50, [summary(None, "B", 0, 20, 20), summary("public.t", "T", 1, 21, 21)]))
    assert body["rebuilt"] is True
    assert body["tables"] == {"public.t": {"inserted": 0, "updated": 0, "deleted": 0, "truncated": 1}}
    assert (body["from_sync_id"], body["to_sync_id"]) == (20, 21)


def test_nothing_recorded_is_no_notification():
    assert notify.payload(1, 1, []) is None


def test_many_tables_are_summed_past_the_limit():
    names = ['public."%s"' % ("t\u00e9ble %04d " % i * 5) for i in range(2000)]
    rows = [summary(name, "U", i + 1, i + 1, i + 1) for i, name in enumerate(names)]
    text = notify.payload(1, 2, rows)
    assert len(text.encode()) <= notify.MAX_PAYLOAD
    body = json.loads(text)
    shown = body["tables"]
    assert 0 < len(shown) < len(names)
    assert set(shown) == set(sorted(names)[:len(shown)])
    rest = body["other_tables"]
    assert rest["tables"] == len(names) - len(shown)
    assert rest["updated"] + sum(t["updated"] for t in shown.values()) == sum(range(1, 2001))
    assert (body["from_sync_id"], body["to_sync_id"]) == (1, 2000)
