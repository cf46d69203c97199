"""Named tuples without the collections module: the package's records (the registry,
the settings, a read's start and walk, CSR arrays, a traversal's answer).

A backend's first read runs every module it imports in a new interpreter; importing
``collections`` (with operator, keyword, reprlib, itertools) cost it some 2 ms of CPU
and each ``collections.namedtuple`` class some 0.1 ms more (its ``__new__`` is
compiled by ``eval`` from generated source), where these records need only a tuple
with named fields. ``record`` builds such a class from plain functions: a tuple
subclass with ``__slots__ = ()``, a read-only property per field, ``_fields``,
``_field_defaults``, ``_make``, ``_replace``, ``_asdict``, the same ``repr`` and
equality as ``collections.namedtuple`` (a tuple's). Construction by position is one
``tuple.__new__``; keywords and defaults take a slower path. Pure Python; imports
nothing but ``sys`` and ``_operator`` (builtin modules) and no other graphsync module.
"""

import sys
from _operator import itemgetter

_MISSING = object()


def record(typename, field_names, *, defaults=(), module=None):
    """A tuple subclass named ``typename`` with fields ``field_names`` (a sequence, or
    a string of names separated by spaces or commas), the last ``len(defaults)`` of
    which default to ``defaults``, as ``collections.namedtuple(typename,
    field_names, defaults=defaults)``."""
    if isinstance(field_names, str):
        field_names = field_names.replace(",", " ").split()
    fields = tuple(map(str, field_names))
    for name in fields:
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError("record field names must be identifiers not starting with '_': %r" % name)
    if len(set(fields)) != len(fields):
        raise ValueError("record field names repeat: %r" % (fields,))
    defaults = tuple(defaults)
    if len(defaults) > len(fields):
        raise TypeError("got more default values than field names")
    count = len(fields)
    index = {name: i for i, name in enumerate(fields)}
    field_defaults = dict(zip(fields[count - len(defaults):], defaults, strict=True))
    tuple_new = tuple.__new__

    def __new__(cls, *args, **kwargs):
        if not kwargs and len(args) == count:
            return tuple_new(cls, args)
        if len(args) > count:
            raise TypeError("%s() takes %d positional arguments but %d were given" % (typename, count, len(args)))
        values = list(args) + [_MISSING] * (count - len(args))
        for name, value in kwargs.items():
            i = index.get(name)
            if i is None:
                raise TypeError("%s() got an unexpected keyword argument %r" % (typename, name))
            if values[i] is not _MISSING:
                raise TypeError("%s() got multiple values for argument %r" % (typename, name))
            values[i] = value
        for i, value in enumerate(values):
            if value is _MISSING:
                if fields[i] not in field_defaults:
                    raise TypeError("%s() missing required argument: %r" % (typename, fields[i]))
                values[i] = field_defaults[fields[i]]
        return tuple_new(cls, values)

    def _make(cls, iterable):
        made = tuple_new(cls, iterable)
        if len(made) != count:
            raise TypeError("expected %d arguments, got %d" % (count, len(made)))
        return made

    def _replace(self, **kwargs):
        made = self._make(map(kwargs.pop, fields, self))
        if kwargs:
            raise ValueError("got unexpected field names: %r" % list(kwargs))
        return made

    def __repr__(self):
        return self.__class__.__name__ + "(" + ", ".join(
            "%s=%r" % pair for pair in zip(fields, self, strict=True)) + ")"

    def _asdict(self):
        return dict(zip(self._fields, self, strict=True))

    def __getnewargs__(self):
        return tuple(self)

    namespace = {
        "__doc__": "%s(%s)" % (typename, ", ".join(fields)),
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": field_defaults,
        "__new__": __new__,
        "_make": classmethod(_make),
        "_replace": _replace,
        "__repr__": __repr__,
        "_asdict": _asdict,
        "__getnewargs__": __getnewargs__,
        "__match_args__": fields,
    }
    for i, name in enumerate(fields):
        namespace[name] = property(itemgetter(i), doc="Alias for field number %d" % i)
    cls = type(typename, (tuple,), namespace)
    cls.__new__.__qualname__ = typename + ".__new__"
    # the caller's module, as namedtuple sets it (pickling finds the class there)
    cls.__module__ = module if module is not None else sys._getframe(1).f_globals.get("__name__", "__main__")
    return cls
