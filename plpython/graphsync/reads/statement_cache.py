"""The one cache of what graph tables' row-level security policies ask, per statement.

The policies of graph._nodes (migration 251: reads/row_policy.py) and graph._labels
(migration 240: reads/label_policy.py) call a function for every row they check,
passing the scope of the answer: (role, snapshot, statement start). The answer is
read from the sources as the caller once per scope and kept, so a later statement,
a commit a new snapshot sees, or a SET ROLE reads the sources again. One scope is
kept per kind of answer. The scope's role is the caller's own, whatever role the
call names: a caller passing another role's scope (the role, snapshot and start a
SECURITY DEFINER function of that role read under earlier in the same statement)
would otherwise be handed that role's kept answer; now it is looked up, read and
kept as the caller. An answer read as a role that is not the caller's (it could
not tell) is returned without being kept. Pure Python: no database access.
"""

_kept = {}  # kind -> (scope, answer)


def kept(kind, scope, read, caller):
    """The answer of ``kind`` for ``scope`` with its role replaced by ``caller`` (the
    role running the call, current_user): the one kept for it, else ``read()``'s.
    ``read`` returns (answer, the role it read as: current_user, or None when it
    could not tell); the answer is kept only when that role is ``caller``."""
    scope = (caller,) + tuple(scope[1:])
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
