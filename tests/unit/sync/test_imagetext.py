"""graphsync.sync.imagetext: the fields read from image texts without parsing are what
json.loads reads, on random jsonb-shaped images; texts of any other shape give None
(never a wrong value); ints() takes exactly the decimal texts integer output writes."""

import json

import numpy as np
import pytest

from graphsync.sync import imagetext

NAMES = ("dst", "src", "kind", "weight", "a", "")


def jsonb_text(obj):
    """What PostgreSQL's jsonb output gives for a flat object (keys by length, then bytes)."""
    return json.dumps(dict(sorted(obj.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))),
                      separators=(", ", ": "))


def values_of(rng):
    pool = ["1", "0", "-7", "42", "007", "+3", " 5", "1e3", "", "a", "b c", "{x}", "[1]", ":", ",", "null",
            "123456789012345678", "-123456789012345678", "1234567890123456789", "-0", "9" * 25, None]
    return pool[int(rng.integers(0, len(pool)))]


def random_images(rng, k, names=("dst", "src", "kind", "weight")):
    return [jsonb_text({n: values_of(rng) for n in names}) for _ in range(k)]


def expected_int(text):
    if text is None:
        return imagetext.NOT_INT
    body = text[1:] if text.startswith("-") else text
    if body.isdigit() and body.isascii() and len(body) <= 18 and (body == "0" and text == "0" or body[0] != "0"):
        return int(text)
    return imagetext.NOT_INT


@pytest.mark.parametrize("seed", range(20))
def test_fields_equal_json(seed):
    rng = np.random.default_rng(seed)
    texts = random_images(rng, int(rng.integers(1, 60)))
    parsed = [json.loads(t) for t in texts]
    got = imagetext.fields(texts, ("dst", "src", "kind", "weight"))
    assert got is not None
    for name, f in got.items():
        want = [p[name] for p in parsed]
        assert imagetext.texts(f).tolist() == want
        assert imagetext.texts_at(f, list(range(len(texts)))) == want
        assert imagetext.ints(f).tolist() == [expected_int(w) for w in want]
        back = imagetext.ints(f)
        ok = back != imagetext.NOT_INT
        assert imagetext.texts_of_ints(back[ok]).tolist() == [w for w, o in zip(want, ok, strict=True) if o]


def test_other_keys_and_orders():
    texts = [jsonb_text({"a": "1", "src": "2"}), json.dumps({"src": "3", "a": None, "zz": "src"})]
    got = imagetext.fields(texts, ("src", "a"))
    assert imagetext.texts(got["src"]).tolist() == ["2", "3"]
    assert imagetext.texts(got["a"]).tolist() == ["1", None]


@pytest.mark.parametrize("texts", [
    ['{"a": "x\\"y"}'],  # an escape
    ['{"a": "é"}'],  # beyond ASCII
    ['{"a": 1}'],  # a number
    ['{"a": true}'],
    ['{"a": {"b": "1"}}'],  # nested
    ['{"a": ["1"]}'],
    ['{"b": "1"}'],  # no such key
    ['{"a": "1"}', '{}'],
    ['{"a": "1", "a": "2"}'],  # twice
    ['{"a": "1" "b": "2"}'],
    ['{"a" : "1"}'],
    ['{"a":"1"}'],
    ['{"a": "1"'],
    ['"a": "1"}'],
    ['{"a": nul}'],
    ['{"a": "1}', '{"a": "2"}'],  # a string across two texts
    ['{"a": "1", "b"}'],
    [''],
])
def test_other_shapes_give_none(texts):
    assert imagetext.fields(texts, ("a",)) is None


def test_empty():
    got = imagetext.fields([], ("a",))
    assert imagetext.texts(got["a"]).tolist() == [] and imagetext.ints(got["a"]).tolist() == []


def test_long_values_one_by_one():
    texts = [jsonb_text({"a": "x" * 100}), jsonb_text({"a": "y"})]
    assert imagetext.texts(imagetext.fields(texts, ("a",))["a"]).tolist() == ["x" * 100, "y"]


def test_control_characters_give_none():
    # jsonb escapes them; json.loads refuses them raw: so do fields()
    assert imagetext.fields(['{"a": "x\ty"}'], ("a",)) is None


def test_distinct():
    texts = [jsonb_text({"a": v}) for v in ("b", None, "b", "", "c", None)]
    values, inverse = imagetext.distinct(imagetext.fields(texts, ("a",))["a"])
    assert [values[i] for i in inverse] == ["b", None, "b", "", "c", None]
    assert len(values) == 4


def test_key_texts_gives_integer_keys_their_decimal_text_and_leaves_the_keys_unwritten():
    pks = np.array(["a", None, "c", None], dtype=object)
    ints = np.array([imagetext.NOT_INT, 42, imagetext.NOT_INT, -7], dtype=np.int64)
    assert imagetext.key_texts(pks, ints).tolist() == ["a", "42", "c", "-7"]
    assert imagetext.key_texts(pks, ints, np.array([3, 0])).tolist() == ["-7", "a"]
    assert pks.tolist() == ["a", None, "c", None]
    assert imagetext.key_texts(pks, None) is pks

