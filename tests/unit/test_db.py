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
