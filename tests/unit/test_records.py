"""graphsync.records.record against collections.namedtuple: the same fields, defaults,
construction (by position, by keyword, with defaults, the same errors), _replace,
_make, _asdict, repr, equality and hashing, and no import of collections."""

import collections
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from graphsync.records import record

FIELDS = ("a", "b", "c")
Mine = record("Point", FIELDS, defaults=(3,))
Theirs = collections.namedtuple("Point", FIELDS, defaults=(3,))
Pickled = record("Pickled", FIELDS, defaults=(3,))


@pytest.mark.parametrize("args, kwargs", [
    ((1, 2, 3), {}), ((1, 2), {}), ((1,), {"b": 2}), ((), {"a": 1, "b": 2, "c": 4}), ((1, 2), {"c": None}),
])
def test_construction_matches_namedtuple(args, kwargs):
    mine, theirs = Mine(*args, **kwargs), Theirs(*args, **kwargs)
    assert tuple(mine) == tuple(theirs)
    assert (mine.a, mine.b, mine.c) == (theirs.a, theirs.b, theirs.c)
    assert mine == theirs and hash(mine) == hash(theirs)
    assert repr(mine) == repr(theirs)
    assert mine._asdict() == theirs._asdict()
    assert mine._replace(b=9) == theirs._replace(b=9) and type(mine._replace(b=9)) is Mine
    assert Mine._make(list(theirs)) == mine


@pytest.mark.parametrize("args, kwargs", [
    ((), {}), ((1,), {}), ((1, 2, 3, 4), {}), ((1,), {"a": 2}), ((1, 2), {"d": 1}),
])
def test_bad_construction_raises_typeerror_like_namedtuple(args, kwargs):
    with pytest.raises(TypeError):
        Theirs(*args, **kwargs)
    with pytest.raises(TypeError):
        Mine(*args, **kwargs)


def test_class_attributes_and_subclassing():
    assert Mine._fields == Theirs._fields and Mine._field_defaults == Theirs._field_defaults
    assert record("P", "x y, z")._fields == ("x", "y", "z")

    class Sub(record("Sub", ("x", "y"))):
        __slots__ = ()

        def total(self):
            return self.x + self.y

    s = Sub(1, y=2)
    assert s.total() == 3 and isinstance(s, tuple) and not hasattr(s, "__dict__")
    assert repr(s) == "Sub(x=1, y=2)"
    x, y = s
    assert (x, y) == (1, 2)
    with pytest.raises(AttributeError):
        s.x = 5
    with pytest.raises(ValueError):
        s._replace(z=1)
    with pytest.raises(TypeError):
        Sub._make([1])
    assert pickle.loads(pickle.dumps(Pickled(1, 2))) == Pickled(1, 2, 3)


@pytest.mark.parametrize("names", [("a", "a"), ("_a",), ("1a",), ("a b",)])
def test_bad_field_names(names):
    with pytest.raises(ValueError):
        record("Bad", names)


def test_importing_records_imports_no_collections():
    root = Path(__file__).resolve().parents[2] / "plpython"
    code = ("import sys; sys.path.insert(0, %r); before = set(sys.modules); import graphsync.records;"
            " print(sorted(set(sys.modules) - before))" % str(root))
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True).stdout
    assert "collections" not in out and "functools" not in out, out
