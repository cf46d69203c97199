"""The one cache of what graph tables' row-level security policies ask, per statement.

The policies of graph._nodes (migration 251: reads/row_policy.py) and graph._labels
(migration 240: reads/label_policy.py) call a function for every row they check,
passing the scope of the answer: (role, snapshot, statement start), which a policy
may extend. The answer is read from the sources as the caller once per kind and
scope and kept, so a later statement, a commit a new snapshot sees, or a SET ROLE
reads the sources again.

Only the current statement's answers are held: the statement is the scope's
snapshot (a token's snapshot part) and start (scope[1:3]); the first call of another statement drops every
answer kept before it, whatever it asks about, so the keys of a table an earlier
statement read are not held until that table is asked about again. Answers of
several roles in one statement are kept side by side.

The scope's role is the caller's own, whatever role the
call names: a caller passing another role's scope (the role, snapshot and start a
SECURITY DEFINER function of that role read under earlier in the same statement)
would otherwise be handed that role's kept answer; now it is looked up, read and
kept as the caller. An answer read as a role that is not the caller's (it could
not tell) is returned without being kept. Pure Python: no database access.

What a scope's answer is kept for: one query, or one graphsync read. The queries of
one top-level statement share its snapshot text and start, but a setting a source's
policy reads (set_config in a SECURITY DEFINER function: a common multi-tenant
pattern), the caller's own writes, a GRANT or a policy may change between them: an
answer kept for the statement gave a second query the first one's rows (a role's
function that set the tenant to another's, called first in the same statement, made
its function that returns the caller's own tenant's nodes return the other's:
tests/test_reads_rls_scope.py). So each token names an epoch (``epoch``): a new one
for every graph._row_scope() call -- one per execution of a query that reads
graph._nodes or graph._labels under their policy -- but while a graphsync read runs
in this backend (db.begin_read: reads.api.stable), the read's own for the role it
reads as (db.read_by, from its START), so that its queries share what they asked. Code of
another role inside a read (a SECURITY DEFINER function a policy calls) gets an
epoch per query still. Answers of several epochs of one statement are kept side by
side (a statement that alternates between two of them reads each once), at most
KEPT_MOST of them (the oldest go first): a loop of queries in one statement holds
a bounded number.

Scope tokens (graph._row_scope, migration 295): graph._nodes' policy calls its
function once per node, and looking the caller up each time (one SELECT
current_user) costs each call more than the lookup of a kept key. So the policy
passes, instead of the bare snapshot, a token ``issue`` makes once per statement
for the role running it: the snapshot and statement start with a MAC of them and
the role under a random secret of this backend (it never leaves this module).
``issued_to`` tells whether a scope's token was issued to the scope's role: only
such a scope may use kept answers without looking the caller up; no caller can
make one for a role it does not run as.
"""

import os

from graphsync import db

_statement = None  # (snapshot, statement start) of the answers kept
_kept = {}  # (kind, scope) -> answer, all of _statement
# What secrets.token_bytes(32) returns; the secrets module imports base64, random and
# re (some 5 ms of a first read, which loads this module whether or not a policy asks).
_SECRET = os.urandom(32)
_checked = set()  # (token, role) pairs issued_to found true: a MAC is computed once per statement
# (kind, scope, answer) of the last answer kept() gave from _kept to a scope issued to
# its own role (see recent); None after _kept is cleared.
_recent = None
# Answers kept at most, the oldest dropped first (see above).
KEPT_MOST = 64
# Epochs handed out in this backend to queries outside a read.
_epochs = 0


def epoch(role):
    """The epoch a scope token issued now to ``role`` names: the running graphsync
    read's (db.running_read) when it reads as ``role``, else a new one (see above)."""
    global _epochs
    read = db.running_read
    if read is not None and read[0] == role:
        return "r%d" % read[1]
    _epochs += 1
    return "q%d" % _epochs


def _mac(role, snapshot, at):
    import hashlib  # here, not at the top: only a policy's call needs them (first-read cost)
    import hmac

    text = "\0".join((str(role), str(snapshot), str(at))).encode()
    return hmac.new(_SECRET, text, hashlib.sha256).hexdigest()


def issue(role, snapshot, at):
    """A scope token for ``role`` (current_user), ``snapshot`` and statement start ``at``."""
    return "%s|%s|%s" % (snapshot, at, _mac(role, snapshot, at))


def issued_to(token, role):
    """Whether ``token`` was issued (by ``issue``, in this backend) to ``role``."""
    if (token, role) in _checked:
        return True
    if not isinstance(token, str) or token.count("|") != 2:
        return False
    snapshot, at, mac = token.split("|")
    import hmac  # (see _mac)

    if not hmac.compare_digest(mac, _mac(role, snapshot, at)):
        return False
    if len(_checked) >= 64:
        _checked.clear()
    _checked.add((token, role))
    return True


def _snapshot(snapshot):
    """The snapshot a scope names: a token's (see issue), which holds its role's MAC
    too, so that two roles' tokens of one statement are one statement, not two that
    drop each other's answers at every switch."""
    if isinstance(snapshot, str) and snapshot.count("|") == 2:
        return snapshot.split("|", 1)[0].split("#", 1)[0]  # (without its epoch: one statement)
    return snapshot


def statement_scope(scope, caller):
    """``scope`` as its statement's, for what a statement's queries may share
    whatever their epochs: (caller, the snapshot without its epoch, the start)."""
    return (caller, _snapshot(scope[1]), scope[2])


def kept(kind, scope, read, caller):
    """The answer of ``kind`` for ``scope`` with its role replaced by ``caller`` (the
    role running the call, current_user): the one kept for it, else ``read()``'s.
    ``read`` returns (answer, the role it read as: current_user, or None when it
    could not tell); the answer is kept only when that role is ``caller``."""
    global _statement, _recent
    given = scope
    scope = (caller,) + tuple(scope[1:])
    statement = (_snapshot(scope[1]), scope[2])
    if statement != _statement:
        _kept.clear()
        _recent = None
        _statement = statement
    key = (kind, scope)
    if key in _kept:
        answer = _kept[key]
    else:
        answer, role = read()
        if role is None or role != caller:
            return answer
        if len(_kept) >= KEPT_MOST:
            del _kept[next(iter(_kept))]
        _kept[key] = answer
    if given[0] == caller and issued_to(given[1], caller):
        _recent = (kind, tuple(given), answer)
    return answer


def recent(kind, scope):
    """What kept() would answer for ``kind`` and ``scope`` when it is the last call
    kept() answered from what it keeps, for a scope whose token was issued to its
    own role: that answer; else None. graph._nodes' policy asks about every node of
    a table with the same scope, and this one comparison of it (its role, token and
    start) replaces the token check, the statement test and the key's lookup (some
    2.5 of 4.5 us a node). Equal to kept()'s answer: the token is that role's, so
    the caller is the scope's role; the statement is the one _kept holds (_recent
    goes when _kept is cleared); and kept() never replaces what it keeps."""
    r = _recent
    if r is not None and r[0] == kind and r[1] == scope:
        return r[2]
    return None


def forget():
    """Drop every kept answer."""
    global _statement, _recent
    _kept.clear()
    _recent = None
    _statement = None
