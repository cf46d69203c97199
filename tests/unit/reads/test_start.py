"""reads/start.py's reading of graph._pending_columns' row: the texts joined by
newlines, and the columns put back in id order."""

import json

from graphsync.reads import start


def _joined(texts):
    """What graph._pending_columns makes of ``texts``: string_agg(coalesce(t, ''), E'\\n')."""
    return "\n".join("" if t is None else t for t in texts) if texts else None


def test_joined_texts_give_back_every_text_and_null():
    images = [json.dumps({"a": "x\ny", "b": None}), None, "{}", json.dumps({"k": "\\"}), None]
    for texts in ([], [None], ["{}"], [None, None], [None, "{}"], ["{}", None], images, [None] * 5):
        assert start.joined_texts(_joined(texts), len(texts)) == texts, texts


def test_joined_texts_refuse_a_count_they_do_not_hold():
    try:
        start.joined_texts("{}\n{}", 3)
    except ValueError:
        return
    raise AssertionError("no error")


def test_pending_puts_the_rows_back_in_id_order():
    rows = [(5, "I", 11, None, "5", None, None, '{"id": "5"}'),
            (7, "D", 12, "7", None, '{"p": "q"}', '{"id": "7"}', None),
            (2, "U", 11, "2", "2", None, '{"id": "2"}', '{"id": "3"}')]
    r = {"fetched": True, "ids": [x[0] for x in rows], "ops": "".join(x[1] for x in rows),
         "table_oids": [x[2] for x in rows], "old_pks": [x[3] for x in rows], "new_pks": [x[4] for x in rows],
         "properties": _joined([x[5] for x in rows]), "old_rows": _joined([x[6] for x in rows]),
         "new_rows": _joined([x[7] for x in rows])}
    p = start._pending(r)
    assert len(p) == 3 and p.ops == ["U", "I", "D"]
    assert [tuple(d.values()) for d in p.rows()] == sorted(rows)
    assert start._pending(dict(r, fetched=False)) is None
    assert len(start._pending(dict(r, ids=None))) == 0
