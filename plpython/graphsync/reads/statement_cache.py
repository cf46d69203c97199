"""The one cache of what graph tables' row-level security policies ask, per statement.

The policies of graph._nodes (migration 251: reads/row_policy.py) and graph._labels
(migration 240: reads/label_policy.py) call a function for every row they check,
passing the scope of the answer: (role, snapshot, statement start), which a policy
may extend. The answer is read from the sources as the caller once per kind and
scope and kept, so a later statement, a commit a new snapshot sees, or a SET ROLE
reads the sources again. An answer read while the scope's role is not the caller's
own (the role argument of a direct call, say) is returned without being kept.

Only the current statement's answers are held: the statement is the scope's
snapshot and start (scope[1:3]); the first call of another statement drops every
answer kept before it, whatever it asks about, so the keys of a table an earlier
statement read are not held until that table is asked about again. Answers of
several roles in one statement are kept side by side.
Pure Python: no database access.
"""

_statement = None  # (snapshot, statement start) of the answers kept
_kept = {}  # (kind, scope) -> answer, all of _statement


def kept(kind, scope, read):
    """The answer of ``kind`` for ``scope``: the one kept for it, else ``read()``'s.
    ``read`` returns (answer, the role it read as: current_user, or None when it
    could not tell); the answer is kept only when that role is ``scope[0]``."""
    global _statement
    statement = tuple(scope[1:3])
    if statement != _statement:
        _kept.clear()
        _statement = statement
    key = (kind, scope)
    if key in _kept:
        return _kept[key]
    answer, role = read()
    if role is not None and role == scope[0]:
        _kept[key] = answer
    return answer


def forget():
    """Drop every kept answer."""
    global _statement
    _kept.clear()
    _statement = None
