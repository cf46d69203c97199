"""graphsync.reads.statement_cache: the one per-statement cache of the policies' answers."""

import pytest

from graphsync import db
from graphsync.reads import statement_cache


@pytest.fixture(autouse=True)
def empty():
    statement_cache.forget()
    yield
    statement_cache.forget()


def reader(answer, role):
    calls = []

    def read():
        calls.append(1)
        return answer, role
    return read, calls


def test_an_answer_is_read_once_per_scope_and_kind():
    scope = ("alice", "10:20:", "t0")
    read, calls = reader(["a"], "alice")
    assert statement_cache.kept("rows", scope, read, scope[0]) == ["a"]
    assert statement_cache.kept("rows", scope, read, scope[0]) == ["a"] and len(calls) == 1
    other, other_calls = reader(["L"], "alice")
    assert statement_cache.kept("labels", scope, other, scope[0]) == ["L"] and len(other_calls) == 1  # another kind
    assert statement_cache.kept("rows", scope, read, scope[0]) == ["a"] and len(calls) == 1  # kept beside it


@pytest.mark.parametrize("changed", [("bob", "10:20:", "t0"), ("alice", "10:21:", "t0"), ("alice", "10:20:", "t1")])
def test_another_role_snapshot_or_statement_reads_again(changed):
    read, calls = reader(["a"], "alice")
    statement_cache.kept("rows", ("alice", "10:20:", "t0"), read, "alice")
    again, again_calls = reader(["b"], changed[0])
    assert statement_cache.kept("rows", changed, again, changed[0]) == ["b"] and len(again_calls) == 1
    assert statement_cache.kept("rows", changed, again, changed[0]) == ["b"] and len(again_calls) == 1  # kept now
    statement_cache.kept("rows", ("alice", "10:20:", "t0"), read, "alice")
    # Another role in the same statement (snapshot and start) is kept beside the
    # first; another snapshot or statement start is another statement: the first
    # statement's answers went when it came.
    assert len(calls) == (1 if changed[0] == "bob" else 2)


class Keys(set):
    """An answer whose release a weak reference can see."""


def test_a_new_statement_drops_the_answers_of_the_earlier_ones():
    """Memory is held for the current statement only: the keys of a table read by
    an earlier statement go when a later statement (another snapshot or start)
    asks anything, even about another table, rather than when the same table
    is asked again."""
    import gc
    import weakref

    first = ("alice", "10:20:", "t0")
    box = [Keys({"1", "2"})]
    held = weakref.ref(box[0])
    assert statement_cache.kept(("rows", 101), first, lambda: (box.pop(), "alice"), "alice") == {"1", "2"}
    assert box == []  # the cache holds the only reference
    gc.collect()
    assert held() is not None  # kept for the statement
    later = ("alice", "10:20:", "t1")
    statement_cache.kept(("rows", 202), later, lambda: (Keys({"9"}), "alice"), "alice")
    gc.collect()
    assert held() is None  # the table of the earlier statement is not held any more
    read, calls = reader(Keys({"1"}), "alice")
    statement_cache.kept(("rows", 101), first, read, "alice")
    assert len(calls) == 1  # asked again, it is read again


@pytest.mark.parametrize("role", ["bob", None])
def test_an_answer_read_as_another_role_than_the_scope_s_is_not_kept(role):
    scope = ("alice", "10:20:", "t0")
    read, calls = reader(["a"], role)
    assert statement_cache.kept("rows", scope, read, scope[0]) == ["a"]
    assert statement_cache.kept("rows", scope, read, scope[0]) == ["a"] and len(calls) == 2


def test_a_scope_naming_another_role_is_answered_as_the_caller():
    """A call passing alice's scope while bob runs it gets bob's answer, read as bob,
    never alice's kept one; and what it read is kept under bob, not alice."""
    alice = ("alice", "10:20:", "t0")
    read, calls = reader(["secret"], "alice")
    assert statement_cache.kept("rows", alice, read, "alice") == ["secret"]
    mine, my_calls = reader(["public"], "bob")
    assert statement_cache.kept("rows", alice, mine, "bob") == ["public"] and len(my_calls) == 1
    assert statement_cache.kept("rows", ("bob", "10:20:", "t0"), mine, "bob") == ["public"] and len(my_calls) == 1
    assert statement_cache.kept("rows", alice, read, "alice") == ["secret"] and len(calls) == 1  # kept beside bob's


def test_a_scope_token_names_the_role_it_was_issued_to_and_no_other():
    token = statement_cache.issue("alice", "10:20:", "2026-01-01 00:00:00+00")
    assert statement_cache.issued_to(token, "alice")
    assert statement_cache.issued_to(token, "alice")  # checked once, then remembered
    assert not statement_cache.issued_to(token, "bob")
    assert statement_cache.issue("alice", "10:21:", "2026-01-01 00:00:00+00") != token  # another snapshot
    snapshot, at, mac = token.split("|")
    assert not statement_cache.issued_to("|".join(("10:21:", at, mac)), "alice")  # the MAC covers the snapshot
    assert not statement_cache.issued_to("|".join((snapshot, "2026-01-01 00:00:01+00", mac)), "alice")
    for forged in ("10:20:", None, "a|b", "10:20:|x|" + "0" * 64, token + "|"):
        assert not statement_cache.issued_to(forged, "alice"), forged


def test_two_roles_tokens_in_one_statement_keep_each_other_s_answers():
    """graph._nodes' policy passes a scope token per role (issue): a statement in which
    a SECURITY DEFINER function reads as its owner between the caller's rows holds
    two tokens of one snapshot and start. They are one statement: alternating
    between them reads each role's answer once, not once per switch."""
    at = "2026-01-01 00:00:00+00"
    alice = ("alice", statement_cache.issue("alice", "10:20:", at), at)
    bob = ("bob", statement_cache.issue("bob", "10:20:", at), at)
    read_a, calls_a = reader(["a"], "alice")
    read_b, calls_b = reader(["b"], "bob")
    for _ in range(3):
        assert statement_cache.kept("rows", alice, read_a, "alice") == ["a"]
        assert statement_cache.kept("rows", bob, read_b, "bob") == ["b"]
    assert (len(calls_a), len(calls_b)) == (1, 1)
    later = ("alice", statement_cache.issue("alice", "10:21:", at), at)  # another snapshot: another statement
    assert statement_cache.kept("rows", later, read_a, "alice") == ["a"] and len(calls_a) == 2
    assert statement_cache.kept("rows", bob, read_b, "bob") == ["b"] and len(calls_b) == 2


def test_recent_is_kept_s_last_answer_for_a_scope_issued_to_its_role():
    """recent() answers, without the token check or the key's lookup, only what
    kept() just answered for the very same kind and scope, when the scope's token
    was issued to its role; anything else asks kept() again."""
    at = "2026-01-01 00:00:00+00"
    alice = ("alice", statement_cache.issue("alice", "10:20:", at), at)
    read, calls = reader(["a"], "alice")
    assert statement_cache.recent(("rows", 1), alice) is None  # nothing kept yet
    assert statement_cache.kept(("rows", 1), alice, read, "alice") == ["a"]
    assert statement_cache.recent(("rows", 1), alice) == ["a"] and len(calls) == 1
    assert statement_cache.recent(("rows", 2), alice) is None  # another table
    assert statement_cache.recent(("rows", 1), ("bob",) + alice[1:]) is None  # another role
    assert statement_cache.recent(("rows", 1), (alice[0], alice[1] + "0", at)) is None  # another token
    # Another statement's first call clears what is kept, and the recent answer with it.
    later = ("alice", statement_cache.issue("alice", "10:21:", at), at)
    statement_cache.kept(("rows", 2), later, lambda: (["b"], "alice"), "alice")
    assert statement_cache.recent(("rows", 1), alice) is None
    statement_cache.forget()
    assert statement_cache.recent(("rows", 2), later) is None


@pytest.mark.parametrize("case", ["bare scope", "another role's token", "read as another role"])
def test_recent_never_answers_what_kept_would_look_the_caller_up_for(case):
    """A scope without a token of its role (a direct call, or a token issued to
    another role) is answered by kept() as the caller kept() is given, which
    row_policy looks up: recent() holds nothing for it. Nor for an answer read
    as another role than the caller (not kept)."""
    at = "2026-01-01 00:00:00+00"
    if case == "bare scope":
        scope, read = ("alice", "10:20:", at), lambda: (["a"], "alice")
    elif case == "another role's token":
        scope, read = ("alice", statement_cache.issue("bob", "10:20:", at), at), lambda: (["a"], "alice")
    else:
        scope, read = ("alice", statement_cache.issue("alice", "10:20:", at), at), lambda: (["a"], "bob")
    assert statement_cache.kept(("rows", 1), scope, read, "alice") == ["a"]
    assert statement_cache.recent(("rows", 1), scope) is None


def token_of(role, snapshot="10:20:", at="2026-01-01 00:00:00+00"):
    """A scope as graph._row_scope() makes it now (row_policy.scope): the snapshot with an epoch."""
    return (role, statement_cache.issue(role, "%s#%s" % (snapshot, statement_cache.epoch(role)), at), at)


def test_each_query_outside_a_read_asks_again_in_one_statement():
    """Two queries of one statement (one snapshot, one start) each get a token of their
    own epoch: the second asks the sources again (a setting its policy reads may have
    changed between them), and what the first kept stays beside it (one statement)."""
    first, second = token_of("alice"), token_of("alice")
    assert first[1] != second[1]
    read, calls = reader(["a"], "alice")
    assert statement_cache.kept(("rows", 1), first, read, "alice") == ["a"]
    assert statement_cache.kept(("rows", 1), second, read, "alice") == ["a"] and len(calls) == 2
    assert statement_cache.kept(("rows", 1), first, read, "alice") == ["a"] and len(calls) == 2  # side by side


def test_a_reads_queries_share_one_epoch_for_the_role_it_reads_as_only():
    before = db.begin_read()
    try:
        assert token_of("alice")[1] != token_of("alice")[1]  # before START names the read's role
        db.read_by("alice")
        db.read_by("bob")  # (only the first, START's, names it)
        assert token_of("alice")[1] == token_of("alice")[1]
        assert token_of("bob")[1] != token_of("bob")[1]  # another role's code inside the read: per query
        inner = db.begin_read()  # a read within the read (a policy's) has its own
        db.read_by("alice")
        nested = token_of("alice")[1]
        db.end_read(inner)
        assert token_of("alice")[1] != nested and token_of("alice")[1] == token_of("alice")[1]
    finally:
        db.end_read(before)
    assert token_of("alice")[1] != token_of("alice")[1]  # the read ended


def test_at_most_kept_most_answers_are_kept_the_oldest_going_first():
    scopes = [token_of("alice") for _ in range(statement_cache.KEPT_MOST + 1)]
    reads = [reader([i], "alice") for i in range(len(scopes))]
    for scope, (read, _) in zip(scopes, reads, strict=True):
        statement_cache.kept(("rows", 1), scope, read, "alice")
    statement_cache.kept(("rows", 1), scopes[-1], reads[-1][0], "alice")
    statement_cache.kept(("rows", 1), scopes[1], reads[1][0], "alice")
    assert [len(calls) for _, calls in reads[1:]] == [1] * statement_cache.KEPT_MOST  # kept
    statement_cache.kept(("rows", 1), scopes[0], reads[0][0], "alice")
    assert len(reads[0][1]) == 2  # the oldest went
