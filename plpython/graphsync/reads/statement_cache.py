"""The one cache of what graph tables' row-level security policies ask, per statement.

The policies of graph._nodes (migration 251: reads/row_policy.py) and graph._labels
(migration 240: reads/label_policy.py) call a function for every row they check,
passing the scope of the answer: (role, snapshot, statement start). The answer is
read from the sources as the caller once per scope and kept, so a later statement,
a commit a new snapshot sees, or a SET ROLE reads the sources again. One scope is
kept per kind of answer; an answer read while the scope's role is not the caller's
own (the role argument of a direct call, say) is returned without being kept.
Pure Python: no database access.
"""

_kept = {}  # kind -> (scope, answer)


def kept(kind, scope, read):
    """The answer of ``kind`` for ``scope``: the one kept for it, else ``read()``'s.
    ``read`` returns (answer, the role it read as: current_user, or None when it
    could not tell); the answer is kept only when that role is ``scope[0]``."""
    hit = _kept.get(kind)
    if hit is not None and hit[0] == scope:
        return hit[1]
    answer, role = read()
    if role is not None and role == scope[0]:
        _kept[kind] = (scope, answer)
    return answer


def forget():
    """Drop every kept answer."""
    _kept.clear()
