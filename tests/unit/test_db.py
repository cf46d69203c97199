"""graphsync.db's pure snapshot helpers (pg_snapshot text: xmin:xmax:xip)."""

import pytest

from graphsync import db


def visible(snapshot, xid):
    """pg_visible_in_snapshot of a pg_snapshot's text form."""
    low, high, xip = snapshot.split(":")
    return xid < int(low) or (xid < int(high) and str(xid) not in xip.split(","))


@pytest.mark.parametrize(("snapshot", "fresh", "named", "want"), [
    ("815:815:", 818, (815, 816, 817), "815:818:815,816,817"),  # transactions above xmax, running: named now
    ("810:815:812", 817, (816,), "810:817:812,816"),  # one that can hold no log row is left out
    ("810:815:812", 815, (), "810:815:812"),  # nothing assigned between: unchanged
    ("810:815:812,814", 816, (815, 820, 800), "810:816:812,814,815"),  # only those from xmax to fresh
])
def test_listing_running_names_the_xids_from_xmax_to_the_fresh_one(snapshot, fresh, named, want):
    assert db.listing_running(snapshot, fresh, named) == want


@pytest.mark.parametrize("snapshot", ["815:815:", "810:815:812", "800:830:801,805,829"])
def test_listing_running_keeps_what_the_snapshot_sees(snapshot):
    """Only names what it did not see: visibility is the same for every xid but those
    left unnamed between xmax and fresh (which hold no log row)."""
    high = int(snapshot.split(":")[1])
    named = [x for x in range(high, 840) if x != 833]
    got = db.listing_running(snapshot, 840, named)
    for xid in range(790, 860):
        if xid != 833:
            assert visible(got, xid) == visible(snapshot, xid), xid


def random_snapshot(rng, low, high):
    xmin = rng.randint(low, high)
    xmax = rng.randint(xmin, high)
    xip = sorted(x for x in range(xmin, xmax) if rng.random() < 0.4)
    if xip:
        xmin = xip[0]
    return "%d:%d:%s" % (xmin, xmax, ",".join(map(str, xip)))


def test_snapshot_within_is_containment_of_what_the_snapshots_see():
    """Random pairs of snapshots: snapshot_within says whether every xid the first
    sees is one the second sees, as pg_visible_in_snapshot of each xid says."""
    import random

    rng = random.Random(9)
    agreed = {True: 0, False: 0}
    for _ in range(3000):
        a, b = random_snapshot(rng, 800, 830), random_snapshot(rng, 800, 830)
        if rng.random() < 0.3:  # b taken later than a: a's running ones still running or ended since
            low, high, xip = a.split(":")
            more = int(high) + rng.randint(0, 4)
            still = [x for x in xip.split(",") if x and rng.random() < 0.5]
            still += [str(x) for x in range(int(high), more) if rng.random() < 0.3]
            b = "%s:%d:%s" % (min([int(low), *map(int, still)]), more, ",".join(still))
        want = all(visible(b, x) for x in range(790, 850) if visible(a, x))
        assert db.snapshot_within(a, b) == want, (a, b)
        agreed[want] += 1
    assert min(agreed.values()) > 300  # both answers were tried


@pytest.mark.parametrize(("inner", "outer", "want"), [
    ("810:815:812", "810:815:812", True),  # itself
    ("810:815:812", "812:818:812,816", True),  # taken later, 812 still running
    ("810:815:812", "813:818:816", True),  # taken later, 812 ended
    ("810:815:", "810:818:812", False),  # outer does not see 812, which inner does
    ("810:818:815,816,817", "810:815:", True),  # inner's xids from 815 on are all in its xip
    ("810:818:815,817", "810:815:", False),  # 816: inner sees it, outer does not
])
def test_snapshot_within(inner, outer, want):
    assert db.snapshot_within(inner, outer) == want


@pytest.mark.parametrize(("done", "below", "seen", "now", "want"), [
    ("800:810:805", None, "805:812:805", "806:815:", True),  # sees all done sees, now sees all it sees
    ("800:812:805", None, "805:812:805,811", "806:815:", False),  # done saw 811, the read's snapshot did not
    ("800:820:805,812,813", 812, "805:812:805,806", "806:820:", False),  # done as taken (xmax 812) saw 806
    ("800:820:805,806,812,813", 812, "805:812:805,806", "806:820:", True),  # cut at 812: no xid more
    ("800:810:805", None, "805:812:805", "805:815:805,811", False),  # now does not see 811, the read did
    ("800:810:805", None, "805:812:805", "806:%d:" % (812 + 512), True),  # READ_BOUND_XIDS handed out since
    ("800:810:805", None, "805:812:805", "806:%d:" % (812 + 513), False),  # one more
])
def test_a_reads_apply_stops_at_its_views_snapshot_only_within_reach(done, below, seen, now, want):
    """sync/apply.py's _bound_within: the kept view's snapshot ``seen`` must see every
    transaction the applied snapshot sees (cut at its xmax as taken), only ones this
    moment's snapshot sees, and lie at most READ_BOUND_XIDS xids back."""
    from graphsync.sync import apply

    assert apply.READ_BOUND_XIDS == 512
    assert apply._bound_within(done, below, seen, now) is want


@pytest.mark.parametrize(("snapshot", "low", "high", "running"), [
    ("10:10:", 10, 10, []),
    ("10:15:10,12", 10, 15, [10, 12]),
    ("4294968128:4294968132:4294968128", 4294968128, 4294968132, [4294968128]),
])
def test_a_snapshots_text_parts(snapshot, low, high, running):
    assert (db.xmin(snapshot), db.xmax(snapshot), db.xip(snapshot)) == (low, high, running)
